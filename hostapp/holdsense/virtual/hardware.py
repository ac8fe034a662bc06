"""Fake chips that speak the real bus protocols, for the firmware's drivers to talk to.

- `FakeHX711`: DOUT/PD_SCK (and RATE) pins. Converts at the chip's own rate
  (a real "80 SPS" part runs 78–92 SPS, domain.md), pulls DOUT low when data is
  ready (firing the DOUT IRQ at that instant), shifts 24 bits out MSB first on
  PD_SCK rising edges, takes 1–3 extra pulses as the next gain, and powers down
  when PD_SCK stays high > 60 µs. It records pulses clocked with interrupts
  enabled, so tests can prove the driver disables them.
- `FakeAS5600`: I²C registers CONF (0x07/0x08), STATUS (0x0B), RAW ANGLE (0x0C/0x0D).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .shims import FakeBoard

ADC_MAX = (1 << 23) - 1
ADC_MIN = -(1 << 23)


class FakeHX711:
    def __init__(self, board: FakeBoard, dout: int, sck: int, rate: int | None,
                 counts_at: Callable[[np.ndarray], np.ndarray], *, base_rate_hz: float = 80.0,
                 wander: bool = True, seed: int = 0, enforce_power_down: bool = False) -> None:
        """counts_at(t_us array) -> signed 24-bit codes at those device times."""
        self.board = board
        self.dout_pin, self.sck_pin, self.rate_pin = dout, sck, rate
        board.attach(dout, self)
        board.attach(sck, self)
        if rate is not None and rate >= 0:
            board.attach(rate, self)
        self.counts_at = counts_at
        rng = np.random.default_rng(np.random.SeedSequence([seed, 77]))
        self.rng = rng
        # this part's real rate: 78..92 SPS for the 80 SPS setting
        self.rate_factor = float(rng.uniform(78.0, 92.0) / 80.0) if wander else 1.0
        self.wander = wander
        self.base_rate_hz = base_rate_hz
        self.rate_level = 1 if base_rate_hz >= 40 else 0  # RATE pin level when not wired
        self.enforce_power_down = enforce_power_down
        self.resets = 0
        self.dead = False                # tests: a chip that never converts (timeouts)
        self.ready = False
        self.value = 0
        self.bit = 0
        self.sck = 0
        self.sck_high_at = 0
        self.max_high_us = 0
        self.pulses_with_irq_on = 0
        self.gain_pulses = 1
        self.conversions = 0
        self.reads = 0
        self.overwritten = 0
        self.inject: list[int] = []      # tests: codes to return instead of the model's
        self.next_edge_us: int | None = None
        self._block_t: list[int] = []
        self._block_v: list[int] = []

    # --- rate / timing ---
    def nominal_rate_hz(self) -> float:
        if self.rate_pin is None or self.rate_pin < 0:
            return self.base_rate_hz
        return 80.0 if self.rate_level else 10.0

    def period_us(self, t_us: int) -> float:
        r = self.nominal_rate_hz() * self.rate_factor
        if self.wander:  # slow thermal wander of the internal oscillator, ±0.4 %
            r *= 1.0 + 0.004 * math.sin(t_us / 1e6 / 37.0)
        return 1e6 / r

    def schedule_from(self, t_us: int) -> int:
        """Time of the next conversion after t_us (first one: one period later)."""
        self.next_edge_us = int(t_us + self.period_us(t_us))
        self._block_t.clear()
        self._block_v.clear()
        return self.next_edge_us

    def _refill(self) -> None:
        # the model is vectorised: evaluate 16 conversions at once
        ts = []
        t = self.next_edge_us
        for _ in range(16):
            ts.append(t)
            jitter = float(self.rng.normal(0.0, 15.0)) if self.wander else 0.0
            t = int(t + self.period_us(t) + jitter)
        vals = self.counts_at(np.asarray(ts, dtype=np.int64))
        self._block_t = ts + [t]
        self._block_v = [int(v) for v in vals]

    def invalidate(self) -> None:
        """Model inputs changed (load placed, rate switched): re-evaluate from the next edge."""
        self._block_t.clear()
        self._block_v.clear()

    def convert(self) -> int:
        """The conversion due at next_edge_us completes: latch it, DOUT low, fire the IRQ."""
        if not self._block_v:
            self._refill()
        t = self._block_t.pop(0)
        v = self._block_v.pop(0)
        self.next_edge_us = self._block_t[0]
        if len(self._block_v) == 0:
            self._block_t.clear()
        if self.dead:
            return t
        if self.inject:
            v = self.inject.pop(0)
        v = max(ADC_MIN, min(ADC_MAX, int(v)))
        if self.ready and self.bit == 0:
            self.overwritten += 1  # previous result never read: the chip just overwrites it
        self.value = v & 0xFFFFFF
        self.ready = True
        self.bit = 0
        self.conversions += 1
        self.board.fire_irq(self.dout_pin, t)
        return t

    # --- pins ---
    def pin_read(self, pin: int) -> int:
        if pin != self.dout_pin:
            return self.board.levels.get(pin, 0)
        if not self.ready:
            return 1
        if self.bit == 0:
            return 0
        if self.bit <= 24:
            return (self.value >> (24 - self.bit)) & 1
        return 1

    def pin_write(self, pin: int, level: int) -> None:
        if pin == self.rate_pin:
            if level != self.rate_level:
                self.rate_level = level
                self.invalidate()
                if self.next_edge_us is not None:  # the chip restarts conversions at the new rate
                    self.schedule_from(self.board.clock_us())
            return
        if pin != self.sck_pin or level == self.sck:
            return
        now = self.board.clock_us()
        self.sck = level
        if level:
            self.sck_high_at = now
            if not self.board.irq_disabled:
                self.pulses_with_irq_on += 1
            if self.ready:
                self.bit += 1
                if self.bit > 24:
                    self.gain_pulses = self.bit - 24
                    if self.bit == 25:
                        self.reads += 1
            return
        high = now - self.sck_high_at
        self.max_high_us = max(self.max_high_us, high)
        if high > 60 and self.enforce_power_down:
            # PD_SCK high > 60 µs: the chip powered down; low again resets it (result lost)
            self.resets += 1
            self.ready = False
            self.bit = 0
        elif self.ready and self.bit >= 25:
            self.ready = False  # read complete: DOUT stays high until the next conversion
            self.bit = 0


class FakeAS5600:
    ADDR = 0x36

    def __init__(self, raw_at: Callable[[int], int], *, watchdog_on: bool = True) -> None:
        """raw_at(t_us) -> RAW ANGLE 0..4095 at device time t_us (the read instant)."""
        self.raw_at = raw_at
        self.clock_us: Callable[[], int] = lambda: 0
        self.regs = bytearray(0x100)
        self.regs[0x07] = 0x20 if watchdog_on else 0x00  # WD set: the firmware must clear it
        self.regs[0x08] = 0x00
        self.magnet = "ok"  # "ok", "none", "weak", "strong"
        self.fail = False   # tests: the chip stops answering (OSError)
        self.reads = 0

    def read_regs(self, reg: int, n: int) -> bytes:
        self.reads += 1
        if reg in (0x0C, 0x0E):
            raw = int(self.raw_at(self.clock_us())) & 0xFFF
            self.regs[0x0C], self.regs[0x0D] = raw >> 8, raw & 0xFF
            self.regs[0x0E], self.regs[0x0F] = raw >> 8, raw & 0xFF
        if reg == 0x0B:
            self.regs[0x0B] = {"ok": 0x20, "none": 0x00, "weak": 0x30, "strong": 0x28}[self.magnet]
        return bytes(self.regs[reg:reg + n])

    def write_regs(self, reg: int, data: bytes) -> None:
        for i, b in enumerate(data):
            if reg + i in (0x07, 0x08):
                self.regs[reg + i] = b

    @property
    def watchdog(self) -> bool:
        return bool(self.regs[0x07] & 0x20)
