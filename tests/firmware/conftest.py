"""Fixtures: a FakeBoard with a manual clock and the shims installed below the firmware drivers."""
from __future__ import annotations

import sys
from typing import Iterator

import numpy as np
import pytest

from holdsense.virtual import shims
from holdsense.virtual.hardware import FakeAS5600, FakeHX711


class ManualClock:
    """Device clock for unit tests: µs, advanced by hand (and by `step_per_read` on each read)."""

    def __init__(self, t_us: int = 0, step_per_read: int = 0) -> None:
        self.t_us = t_us
        self.step = step_per_read

    def __call__(self) -> int:
        self.t_us += self.step
        return self.t_us


class Rig:
    """A fake board with an HX711 (and optionally an AS5600) whose codes come from `codes`."""

    def __init__(self, clock: ManualClock, rate_wired: bool = False, encoder: bool = True) -> None:
        self.clock = clock
        self.board = shims.install(shims.FakeBoard(clock))
        self.value = 84210
        self.angle_raw = 100
        self.hx = FakeHX711(self.board, 4, 5, 6 if rate_wired else None,
                            lambda t: np.full(len(t), self.value), wander=False, enforce_power_down=True)
        self.hx.schedule_from(clock.t_us)
        self.as5600 = None
        if encoder:
            self.as5600 = FakeAS5600(lambda t: self.angle_raw)
            self.board.i2c_devices[0x36] = self.as5600
        self.board.adc_uv[1] = lambda: 1_950_000

    def edge(self) -> int:
        """Advance the clock to the next conversion and complete it (DOUT falls, IRQ fires)."""
        self.hx.invalidate()  # re-read self.value
        self.clock.t_us = max(self.clock.t_us, self.hx.next_edge_us)
        return self.hx.convert()


@pytest.fixture
def rig_factory() -> Iterator:
    rigs: list[Rig] = []

    def make(t0_us: int = 0, rate_wired: bool = False, encoder: bool = True, step_per_read: int = 0) -> Rig:
        r = Rig(ManualClock(t0_us, step_per_read), rate_wired, encoder)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        shims.uninstall(r.board)
    from holdsense_fw import compat
    import time
    compat.set_clock(lambda: time.monotonic_ns() // 1000, 1.0)


@pytest.fixture(autouse=True)
def _no_real_machine() -> None:
    # the shims must be what the drivers import: never a real `machine` module
    if "machine" in sys.modules:
        assert (sys.modules["machine"].__doc__ or "").startswith("holdsense")
