"""Stand-ins for MicroPython's `machine` and `micropython` modules, placed *below* the
firmware drivers: the drivers bit-bang fake pins and read a fake I2C bus exactly
as on the board. Fake chips (hardware.py) attach to pin numbers and I2C addresses
of a `FakeBoard`; `install(board)` puts the modules into sys.modules.
"""
from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class FakeBoard:
    """Pins, I2C devices, ADC voltages and a clock for one simulated board.

    `clock_us()` is the device clock (µs); `freeze(t_us)` makes it read an exact
    instant while an IRQ handler runs.

    Pin IRQs: `soft_irq=False` runs a handler at the edge with the clock frozen there
    (an ideal hard IRQ: unit tests). `soft_irq=True` is what ESP32 MicroPython does
    (pin IRQs are scheduled even when `hard=True` is asked): the handler runs later,
    from the event loop, with the clock reading the edge plus a scheduling delay
    (`irq_latency_us()`: default 60 µs + exponential 250 µs mean, 1 % of calls
    2-6 ms for a GC pause or flash-cache miss), or the end of a firmware freeze
    (`busy_until_us`, set when the firmware sat in a blocking call: the scheduler
    runs only after it); edges that arrive while a call is still pending collapse
    into that one call (`irq_coalesced`). The host's own scheduling delays are not
    the board's and do not show in the stamps.
    """

    def __init__(self, clock_us: Callable[[], int], uid: bytes = b"\x7c\xdf\xa1\x00\x11\x22", *,
                 soft_irq: bool = False, irq_latency_us: Callable[[], int] | None = None, seed: int = 0) -> None:
        import random

        self.soft_irq = soft_irq
        rng = random.Random(seed)

        def latency() -> int:
            d = 60 + int(rng.expovariate(1 / 250.0))
            if rng.random() < 0.01:
                d += rng.randint(2000, 6000)
            return d

        self.irq_latency_us = irq_latency_us or latency
        self._irq_pending: dict[int, int] = {}
        self.soft_queue: list[tuple[int, int]] = []  # soft IRQs due when no event loop runs (unit tests)
        self.irq_coalesced = 0
        self.irq_delivered = 0
        self.busy_until_us = -1
        self._clock = clock_us
        self._frozen: int | None = None
        self.pin_devices: dict[int, Any] = {}
        self.levels: dict[int, int] = {}
        self.irq_handlers: dict[int, Callable[[Any], None] | None] = {}
        self.pin_objects: dict[int, Any] = {}
        self.i2c_devices: dict[int, Any] = {}
        self.adc_uv: dict[int, Callable[[], int]] = {}
        self.pwm_log: list[tuple[int, str, int]] = []
        self.irq_disabled = 0
        self.uid = uid
        self.kbd_intr = 3

    def clock_us(self) -> int:
        return self._frozen if self._frozen is not None else int(self._clock())

    @contextmanager
    def freeze(self, t_us: int) -> Iterator[None]:
        self._frozen = int(t_us)
        try:
            yield
        finally:
            self._frozen = None

    def attach(self, pin: int, device: Any) -> None:
        self.pin_devices[pin] = device

    def read(self, pin: int) -> int:
        dev = self.pin_devices.get(pin)
        return dev.pin_read(pin) if dev is not None else self.levels.get(pin, 1)

    def write(self, pin: int, level: int) -> None:
        self.levels[pin] = 1 if level else 0
        dev = self.pin_devices.get(pin)
        if dev is not None:
            dev.pin_write(pin, self.levels[pin])

    def fire_irq(self, pin: int, t_us: int) -> None:
        """An edge on `pin` at device time t_us: run its handler now (hard) or schedule it (soft)."""
        h = self.irq_handlers.get(pin)
        if h is None:
            return
        if not self.soft_irq:
            with self.freeze(t_us):
                h(self.pin_objects.get(pin))
            return
        if pin in self._irq_pending:
            self.irq_coalesced += 1  # the scheduler has not run the last call yet: the edges collapse
            self._irq_pending[pin] = t_us + self.irq_latency_us()
            return
        due = t_us + self.irq_latency_us()
        self._irq_pending[pin] = due
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.soft_queue.append((pin, due))
            return
        loop.call_soon(self._deliver, pin, due)

    def run_soft_irqs(self) -> int:
        """Unit tests without an event loop: run the scheduled soft IRQs now."""
        q, self.soft_queue = self.soft_queue, []
        for pin, due in q:
            self._deliver(pin, due)
        return len(q)

    def _deliver(self, pin: int, due_us: int) -> None:
        due = self._irq_pending.pop(pin, None)
        if due is None:
            return
        h = self.irq_handlers.get(pin)
        if h is None:
            return
        self.irq_delivered += 1
        with self.freeze(max(due, self.busy_until_us)):
            h(self.pin_objects.get(pin))


_BOARD: list[FakeBoard] = []


def board() -> FakeBoard:
    if not _BOARD:
        raise RuntimeError("no FakeBoard installed (holdsense.virtual.shims.install)")
    return _BOARD[-1]


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id: int, mode: int = -1, pull: int = -1, *, value: int | None = None) -> None:
        self.id = id
        self.board = board()
        self.board.pin_objects[id] = self
        if value is not None:
            self.board.write(id, value)

    def init(self, *args: Any, **kw: Any) -> None:
        if kw.get("value") is not None:
            self.board.write(self.id, kw["value"])

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self.board.read(self.id)
        self.board.write(self.id, v)
        return None

    __call__ = value

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def irq(self, handler: Callable[[Any], None] | None = None, trigger: int = 3, **kw: Any) -> None:
        self.board.irq_handlers[self.id] = handler


class I2C:
    def __init__(self, id: int = 0, *, scl: Pin | None = None, sda: Pin | None = None, freq: int = 400000) -> None:
        self.board = board()

    def scan(self) -> list[int]:
        return sorted(self.board.i2c_devices)

    def _dev(self, addr: int) -> Any:
        dev = self.board.i2c_devices.get(addr)
        if dev is None or getattr(dev, "fail", False):
            raise OSError(19, "ENODEV")
        return dev

    def readfrom_mem(self, addr: int, reg: int, n: int) -> bytes:
        return bytes(self._dev(addr).read_regs(reg, n))

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray) -> None:
        """machine.I2C.readfrom_mem_into: len(buf) registers from `reg` into buf."""
        buf[:] = bytes(self._dev(addr).read_regs(reg, len(buf)))

    def writeto_mem(self, addr: int, reg: int, data: bytes) -> None:
        self._dev(addr).write_regs(reg, bytes(data))


class PWM:
    def __init__(self, pin: Pin, freq: int = 1000, duty_u16: int = 0) -> None:
        self.pin = pin
        self._freq = freq
        self._duty = duty_u16

    def freq(self, hz: int | None = None) -> int | None:
        if hz is None:
            return self._freq
        self._freq = hz
        return None

    def duty_u16(self, d: int | None = None) -> int | None:
        if d is None:
            return self._duty
        if bool(d) != bool(self._duty):
            self.pin.board.pwm_log.append((self.pin.board.clock_us(), "on" if d else "off", self._freq))
        self._duty = d
        return None

    def deinit(self) -> None:
        self._duty = 0


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin: Pin) -> None:
        self.pin = pin

    def atten(self, a: int) -> None:
        pass

    def read_uv(self) -> int:
        fn = self.pin.board.adc_uv.get(self.pin.id)
        if fn is None:
            raise OSError(5, "EIO")
        return int(fn())


class WDT:
    """machine.WDT: cannot be stopped; the board resets when it is not fed within `timeout` ms.
    Here the feeds are recorded on the board (`wdt_feeds`: device µs) for tests to check."""

    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.board = board()
        self.timeout_ms = timeout
        self.board.wdt = self
        self.board.wdt_feeds = []

    def feed(self) -> None:
        self.board.wdt_feeds.append(self.board.clock_us())


class Timer:
    """machine.Timer: records its configuration (the callback is not run: no board timer here)."""
    PERIODIC = 1
    ONE_SHOT = 0

    def __init__(self, id: int = 0) -> None:
        self.board = board()
        self.board.timers = getattr(self.board, "timers", [])
        self.board.timers.append(self)
        self.config: dict[str, Any] = {}

    def init(self, **kw: Any) -> None:
        self.config = kw

    def deinit(self) -> None:
        self.config = {}


def disable_irq() -> int:
    b = board()
    b.irq_disabled += 1
    return b.irq_disabled - 1


def enable_irq(state: int) -> None:
    board().irq_disabled = state


def unique_id() -> bytes:
    return board().uid


def _kbd_intr(c: int) -> None:
    board().kbd_intr = c


def _make_modules() -> tuple[types.ModuleType, types.ModuleType]:
    m = types.ModuleType("machine")
    m.__doc__ = "holdsense.virtual.shims: fake machine module (CPython)"
    for name, obj in (("Pin", Pin), ("I2C", I2C), ("PWM", PWM), ("ADC", ADC), ("WDT", WDT), ("Timer", Timer),
                      ("disable_irq", disable_irq),
                      ("enable_irq", enable_irq), ("unique_id", unique_id)):
        setattr(m, name, obj)
    mp = types.ModuleType("micropython")
    mp.const = lambda x: x
    mp.kbd_intr = _kbd_intr
    mp.schedule = lambda fn, arg: fn(arg)
    mp.alloc_emergency_exception_buf = lambda n: None
    mp.native = mp.viper = lambda f: f
    return m, mp


def install(b: FakeBoard) -> FakeBoard:
    """Make `b` the current board and install the fake modules and the firmware clock."""
    from holdsense_fw import compat

    if "machine" not in sys.modules or (getattr(sys.modules["machine"], "__doc__", "") or "").startswith("holdsense"):
        m, mp = _make_modules()
        sys.modules["machine"] = m
        sys.modules["micropython"] = mp
    _BOARD.append(b)
    compat.set_clock(b.clock_us, getattr(b, "speed", 1.0))
    return b


def uninstall(b: FakeBoard) -> None:
    if b in _BOARD:
        _BOARD.remove(b)
