"""Markers while rolling, end to end: `holdsense record` on the REAL virtual roller in a pseudo-terminal,
the marker keys typed into that terminal (the real key path: cbreak mode, select, os.read), then the
recording read back, labelled from its markers, and evaluated.

The virtual roller runs SPEED times faster than real time with --wait-for-start; keys are pressed when
the growing file shows the session has reached the scripted holds, so each marker must land in a
window after that moment (the file lags the device by at most its flush interval).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from holdsense.io.markers import markers_of
from holdsense.io.recording import read_recording
from holdsense.sim import Body
from holdsense.virtual import spawn

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name != "posix", reason="needs a pty")]

SPEED = 5.0
PHASES = [{"kind": "off", "duration_s": 2}, {"kind": "roll", "duration_s": 6},
          {"kind": "hold", "duration_s": 16, "force_frac": 0.18}, {"kind": "roll", "duration_s": 6},
          {"kind": "hold", "duration_s": 12, "force_frac": 0.15}, {"kind": "roll", "duration_s": 4},
          {"kind": "off", "duration_s": 2}]


def hs_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "holdsense.cli", *map(str, args)]


def last_row_t(path: Path) -> float:
    try:
        lines = path.read_text().split("\n")[:-1]
    except FileNotFoundError:
        return -1.0
    rows = [ln for ln in lines if ln and ln[0].isdigit()]
    return float(rows[-1].split(",", 1)[0]) if rows else -1.0


def _drain(master: int, screen: list[bytes]) -> None:
    """Everything the pty's program writes, appended to `screen` until the pty closes."""
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            return
        if not b:
            return
        screen.append(b)


def test_marker_keys_in_a_terminal_go_into_the_recording(tmp_path: Path) -> None:
    import pty

    scen = tmp_path / "two-holds.json"
    scen.write_text(json.dumps({"format": "holdsense-scenario/1", "name": "two-holds", "body_mass_kg": 70,
                                "region": "quads", "encoder": True, "phases": PHASES}))
    truth = Body(str(scen), 0)
    (h1, h2) = truth.holds()
    link, out = tmp_path / "roller", tmp_path / "session.csv"
    master, slave = pty.openpty()
    screen: list[bytes] = []

    # (press when the file reaches t_s, keys): hold 1 by h/], a note, hold 2 by [/e
    plan = [(h1["start_s"] + 1.0, b"h"), (h1["end_s"] - 1.0, b"]"), (h1["end_s"] + 1.0, b"nfelt it, let go\r"),
            (h2["start_s"] + 1.0, b"["), (h2["end_s"] - 1.0, b"e")]
    pressed: list[float] = []
    with spawn(str(scen), speed=SPEED, wait_for_start=True, link=str(link)):
        proc = subprocess.Popen(hs_cmd("record", "--port", link, "-o", out, "--duration", truth.duration_s + 1,
                                       "--body-mass", 70),
                                stdin=slave, stdout=slave, stderr=slave, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        os.close(slave)
        reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            for at_s, keys in plan:
                while last_row_t(out) < at_s:
                    assert proc.poll() is None, b"".join(screen).decode(errors="replace")
                    assert time.monotonic() < deadline, "timed out waiting for the session"
                    time.sleep(0.02)
                pressed.append(last_row_t(out))
                os.write(master, keys)
            rc = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reader.join(5)
    os.close(master)
    text = b"".join(screen).decode(errors="replace")
    assert rc == 0, text
    assert "keys: h/[ hold starts" in text and "5 markers" in text, text
    assert "marker at" in text and "note: felt it, let go" in text

    rec = read_recording(out)
    assert rec.columns[-1] == "marker"
    marks = markers_of(rec)
    assert [m.kind for m in marks] == ["hold_start", "hold_end", "note", "hold_start", "hold_end"], marks
    assert marks[2].text == "felt it, let go"
    lag_s = 1.0 * SPEED + 1.0  # file flush interval (0.5 s) + polling, in session time, with margin
    for m, at in zip(marks, pressed):
        assert at <= m.t_s <= at + lag_s, (m, at)
    assert marks[0].t_s > h1["start_s"] and marks[1].t_s < h1["end_s"] + lag_s

    # label the recording from its markers (non-interactive), then evaluate the detector against them
    p = subprocess.run(hs_cmd("label", out, "--from-markers", "--who", "test"), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode == 0, p.stderr
    labels = json.loads((tmp_path / "session.labels.json").read_text())
    assert labels["labeller"]["how"] == "markers" and labels["labelled_kinds"] == ["hold"]
    spans = [x for s in labels["segments"] for x in (s["start_s"], s["end_s"])]
    assert spans == pytest.approx([marks[0].t_s, marks[1].t_s, marks[3].t_s, marks[4].t_s], abs=1e-4)
    (note,) = labels["notes"]
    assert note["text"] == "felt it, let go" and note["t_s"] == pytest.approx(marks[2].t_s, abs=1e-4)


def test_marker_keys_in_live_show_in_the_panel_and_the_file(tmp_path: Path) -> None:
    """`live -o` on a terminal (the rich panel): keys typed into the pty land in the file and on screen."""
    import pty

    scen = tmp_path / "short.json"
    scen.write_text(json.dumps({"format": "holdsense-scenario/1", "name": "short", "body_mass_kg": 70,
                                "encoder": True, "phases": PHASES[:4]}))
    truth = Body(str(scen), 0)
    (h1,) = truth.holds()
    link, out = tmp_path / "roller", tmp_path / "live.csv"
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))  # a 110-column terminal
    screen: list[bytes] = []

    with spawn(str(scen), speed=SPEED, wait_for_start=True, link=str(link)):
        proc = subprocess.Popen(hs_cmd("live", "--port", link, "-o", out, "--duration", truth.duration_s),
                                stdin=slave, stdout=slave, stderr=slave,
                                env=dict(os.environ, PYTHONUNBUFFERED="1", TERM="xterm-256color", COLUMNS="110"))
        os.close(slave)
        reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            for at_s, keys in ((h1["start_s"] + 1.0, b"["), (h1["start_s"] + 3.0, b"nok\r"),
                               (h1["end_s"] - 1.0, b"]")):
                while last_row_t(out) < at_s:
                    assert proc.poll() is None, b"".join(screen).decode(errors="replace")
                    assert time.monotonic() < deadline, "timed out waiting for the session"
                    time.sleep(0.02)
                os.write(master, keys)
            rc = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reader.join(5)
    os.close(master)
    text = b"".join(screen).decode(errors="replace")
    assert rc == 0, text[-3000:]
    assert "keys: h/[ hold starts" in text and "hold starts" in text and "note: ok" in text
    marks = markers_of(read_recording(out))
    assert [(m.kind, m.text) for m in marks] == [("hold_start", ""), ("note", "ok"), ("hold_end", "")]
