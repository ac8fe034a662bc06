"""The emulated ticks period grows with the virtual device's speed, so a host stall cannot fold time."""
from __future__ import annotations

import time

from holdsense_fw import compat


def test_wide_clock_survives_a_long_stall_at_high_speed() -> None:
    now = {"us": 0}
    try:
        compat.set_clock(lambda: now["us"], 100.0)
        assert compat.TICKS_PERIOD >= (1 << 30) * 25
        clock = compat.WideClock()
        seen = []
        # 20 s of device time per step (a 0.2 s host stall at 100x), then one 6 s stall (600 s device)
        for step_us in [20_000_000] * 60 + [600_000_000] + [20_000_000] * 60:
            now["us"] += step_us
            seen.append(clock.wide(compat.ticks_us()))
        assert seen == sorted(seen)
        assert seen[-1] == now["us"]  # no period lost or gained across the wraps
    finally:
        _restore()
    assert compat.TICKS_PERIOD == 1 << 30  # at real speed the board's 2^30 wrap is emulated exactly


def _restore() -> None:
    compat.set_clock(lambda: time.monotonic_ns() // 1000, 1.0)


def test_real_speed_wrap_is_still_exercised() -> None:
    now = {"us": (1 << 30) - 5_000}
    compat.set_clock(lambda: now["us"], 1.0)
    try:
        clock = compat.WideClock()
        now["us"] += 10_000  # crosses the 2^30 wrap
        assert compat.ticks_us() < 10_000
        assert clock.wide() == 10_000
    finally:
        _restore()
