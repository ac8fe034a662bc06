"""A raw wire capture over BLE (real bleak, fake BlueZ on a private D-Bus): one notification per RX record,
the link packetized, and the capture decodes to exactly the recording made at the same time."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.capture import K_RX, K_TX, decode_capture, read_capture
from holdsense.protocol import decode_raw
from holdsense.recording import read_recording

pytestmark = pytest.mark.ble


def test_record_ble_with_capture(roller_factory, ble_env, tmp_path: Path):
    roller = roller_factory(speed=4.0)
    out, cap_path = tmp_path / "ble.csv", tmp_path / "ble.hscap"
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "record", "--ble", roller.name, "-o", str(out),
                          "--capture", str(cap_path), "--duration", "12", "--quiet"], capture_output=True, text=True,
                         timeout=120, env=ble_env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    cap = read_capture(cap_path)
    assert cap.complete and len(cap.links) == 1
    link = cap.links[0]
    assert link.packetized and link.info["transport"] == "ble" and link.info["address"] == roller.address
    rx = [r for r in cap.records if r.kind == K_RX]
    assert len(rx) > 50
    for r in rx + [r for r in cap.records if r.kind == K_TX]:
        decode_raw(r.data)  # every chunk is exactly one raw frame (CRC checked)
    rec = read_recording(out, warn=None)
    dec = decode_capture(cap).to_recording()
    assert len(dec.samples) == len(rec.samples) > 100
    for col in ("t_s", "force_n", "angle_deg", "raw_counts", "flags"):
        a, b = getattr(dec.samples, col), getattr(rec.samples, col)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), col
