"""`holdsense live --ble NAME` as a subprocess against `holdsense virtual-device --ble` (its own private bus),
exactly as a user would run the demo: export the bus address the virtual device prints, then go live."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.io.recording import read_recording

pytestmark = pytest.mark.ble


def test_live_over_ble_against_the_virtual_device(tmp_path: Path, demo_env, first_lines):
    env = dict(demo_env)
    # --wait-for-start: the scenario (roll from 8 s, first hold from 34 s) begins when live starts streaming,
    # so a slow BLE connect on a loaded machine cannot move the window past the hold
    vd = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "virtual-device", "--ble", "--speed", "4",
                           "--wait-for-start"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        ble_line, bus_line = first_lines(vd, 2, 60.0)
        assert ble_line.startswith("ble: holdsense-") and bus_line.startswith("DBUS_SYSTEM_BUS_ADDRESS=unix:path=")
        name = ble_line.split()[1]
        key, _, value = bus_line.partition("=")
        env[key] = value
        out = tmp_path / "live.csv"
        res = subprocess.run([sys.executable, "-m", "holdsense.cli", "live", "--ble", name, "--plain",
                              "--duration", "48", "--body-mass", "72", "-o", str(out)],
                             capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    finally:
        vd.terminate()
        try:
            vd.wait(10)
        except subprocess.TimeoutExpired:
            vd.kill()
            vd.wait()
        for f in (vd.stdout, vd.stderr):
            if f:
                f.close()
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    # the same plain view as over serial: state changes, a status line each second, the hold, the end summary
    assert any("now rolling" in x for x in lines)
    assert any("hold started" in x for x in lines)
    assert any("state holding" in x and "battery" in x for x in lines)
    assert lines[-1].split("]", 1)[1].strip().startswith("end: session")
    rec = read_recording(str(out))
    assert rec.metadata["port"] == f"ble {name}" and rec.metadata["device"].startswith("holdsense-roller fw=")
    t = rec.samples.t_s
    assert t[-1] == pytest.approx(48.0, abs=0.05) and len(t) > 48 * 40 and np.all(np.diff(t) > 0)
    assert not np.any(rec.samples.flags & 2)  # no gap
    assert f"saved {len(t)} samples" in res.stderr
