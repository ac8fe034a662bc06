"""A guided session against a roller on a real pty (the scripted roller speaking the firmware's framing):
the stream is recorded, the session stored, and the cues reach the roller as CUE commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from scripted_roller import roller  # noqa: E402,F401  (fixture)

from holdsense.recording import read_recording  # noqa: E402
from holdsense_fw import frame as fw  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name != "posix", reason="needs a pty")]


def hs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    e.pop("HOLDSENSE_HISTORY", None)
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def test_live_session_records_stores_and_cues_the_roller(roller, tmp_path: Path) -> None:
    r = roller(speed=10.0)
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"region": "calves", "before": {"pain": 4, "rom": "toe 6 cm from wall"},
                                   "after": {"pain": 2, "rom": "toe 9 cm from wall"}}))
    db = tmp_path / "data" / "history.sqlite3"
    p = hs("session", "--port", r.link, "--answers", str(answers), "--db", str(db), "--duration", "20",
           "--sound", "off", "--body-mass", "70")
    assert p.returncode == 0, p.stderr
    assert "Region: calves" in p.stdout and "Stored as session 1" in p.stdout
    # recorded beside the history (no -o given), a complete holdsense recording with the device header
    (rec_path,) = (tmp_path / "data" / "recordings").glob("holdsense-*.csv")
    rec = read_recording(rec_path)
    assert rec.region == "calves" and rec.body_mass_kg == 70 and "scripted" in str(rec.metadata.get("board"))
    assert 19.0 <= rec.duration_s <= 20.0
    # the roller was told to cue: the guide's start at least (pattern 1, a short beep and flash)
    assert fw.C_CUE in r.commands
    h = json.loads(hs("history", "--db", str(db), "--json").stdout)
    (s,) = h["sessions"]
    assert s["source"] == "session" and s["recording_path"] == str(rec_path.resolve())
    assert s["before"]["rom_text"] == "toe 6 cm from wall" and s["change"]["pain_delta"] == -2
    assert abs(s["summary"]["duration_s"] - rec.duration_s) < 0.5


def test_live_session_with_output_file_and_no_roller(tmp_path: Path) -> None:
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"region": "quads"}))
    p = hs("session", "--port", str(tmp_path / "nothing-here"), "--answers", str(answers),
           "--db", str(tmp_path / "h.sqlite3"), "--timeout", "0.5", "-o", str(tmp_path / "s.csv"))
    assert p.returncode == 2 and p.stderr.startswith("holdsense: error: ") and p.stderr.count("\n") == 1
    assert not (tmp_path / "s.csv").exists()
