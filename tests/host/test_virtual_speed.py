"""The virtual roller's speed changed at run time through its control socket ({"speed": S}): tests run the
stretches they only wait through faster than real time and time the rest at 1× (tests/web/test_live_page.py).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("holdsense.sim", reason="holdsense.sim (simulator) not merged yet")
from holdsense.virtual import spawn  # noqa: E402

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs a pty and a Unix socket")


def _rates(dev, real_s: float) -> tuple[float, float, float]:
    """(device s, world s, chip conversions) per host second over `real_s`, and continuity is the caller's."""
    q0, t0 = dev.control({"query": True}), time.monotonic()
    time.sleep(real_s)
    q1, t1 = dev.control({"query": True}), time.monotonic()
    dt = t1 - t0
    return ((q1["device_s"] - q0["device_s"]) / dt, (q1["world_s"] - q0["world_s"]) / dt,
            (q1["conversions"] - q0["conversions"]) / dt)


def test_speed_changes_at_run_time_and_the_clock_carries_on(tmp_path: Path) -> None:
    scen = tmp_path / "idle.json"
    scen.write_text(json.dumps({"format": "holdsense-scenario/1", "name": "idle", "description": "idle roller",
                                "encoder": True, "phases": [{"kind": "off", "duration_s": 60.0}]}))
    with spawn(str(scen), speed=1.0) as dev:
        dev_s, world_s, conv = _rates(dev, 0.5)
        assert 0.8 < dev_s < 1.2 and 0.8 < world_s < 1.2, (dev_s, world_s)
        q0 = dev.control({"query": True})
        before = q0["device_s"]
        assert dev.control({"speed": 4})["ok"]
        after = dev.control({"query": True})["device_s"]
        assert 0 <= after - before < 0.5, (before, after)  # no jump: the clock is re-anchored, not rescaled
        dev_s, world_s, conv4 = _rates(dev, 0.5)
        assert 3.2 < dev_s < 4.8 and 3.2 < world_s < 4.8, (dev_s, world_s)
        # the chip converts (and the firmware samples) on the device clock: 4 × as many a host second
        assert conv4 > 2.5 * conv, (conv, conv4)
        # a speed needing a longer tick period than the firmware booted with is refused, and changes nothing
        r = dev.control({"speed": 64})
        assert not r["ok"] and "tick period" in r["error"], r
        assert 3.2 < _rates(dev, 0.3)[0] < 4.8
        assert dev.control({"speed": 1})["ok"]
        dev_s, _, conv1 = _rates(dev, 0.5)
        assert 0.8 < dev_s < 1.2 and conv1 < 0.5 * conv4, (dev_s, conv1, conv4)
        q = dev.control({"query": True})
        # no conversion lost to the changes (one may be overwritten at power-up, before the firmware reads)
        assert q["sampler"]["missed"] == 0 and q["overwritten"] == q0["overwritten"], (q0, q)
