"""Clients as a physiotherapist manages them, through the CLI (subprocesses, a private config dir per test from
tests/conftest.py, a history file in tmp_path): renaming a client carries their history along, removing one
never deletes recorded sessions unless told, `profile --list` lines up wide and very long names, and analyze,
replay and report take --client without mixing one person's profile into another's recording.

Set-up is in-process (profiles through holdsense.userprofile, sessions through the History API: a guided session
would take seconds each), and so are most one-line refusals (`cli.main`, the same code without a process start);
every change and every analysis under test runs as a real `holdsense` process."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense import cli
from holdsense import userprofile as up
from holdsense.coaching.history import History, SessionRecord

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "recordings" / "demo-standard.csv"  # its first hold: 31-108 s, mean 199 N
G = 9.80665


def display_width(text: str) -> int:
    """Terminal columns, the test's own count: wide/full-width characters two, combining marks none."""
    import unicodedata

    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def hs(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in ("HOLDSENSE_HISTORY", "HOLDSENSE_CLIENT"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=e, stdin=subprocess.DEVNULL)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, p.stderr + p.stdout
    return p


def hs_in(*args: object) -> subprocess.CompletedProcess:
    """`holdsense ARGS` in this process (for refusals: the same code as a subprocess, without its start-up)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def client(name: str, body_mass_kg: float | None = None, units: str = "N") -> None:
    """Add a client as `holdsense profile --client NAME --body-mass KG` does."""
    up.save(up.UserProfile(body_mass_kg=body_mass_kg, units=units, name=name), up.client_path(name))


def refused(p: subprocess.CompletedProcess, *words: str) -> str:
    """The one error line of a command refused with exit 2, which must contain `words`."""
    assert p.returncode == 2, p.stderr + p.stdout
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense: error:")]
    assert len(errors) == 1, p.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


def _session(client: str | None, day: int) -> SessionRecord:
    analysis = {"format": "holdsense-analysis/1", "source": "x.csv", "segments": [],
                "holds": [{"start_s": 10.0, "end_s": 45.0, "duration_s": 35.0, "mean_force_n": 120.0,
                           "force_cv": 0.05, "travel_cm": None, "spot_cm": None, "score": 80, "grade": "good",
                           "feedback": ["Held 35 s."]}],
                "summary": {"duration_s": 60.0, "hold_s": 35.0, "roll_s": 25.0, "off_s": 0.0, "holds": 1,
                            "holds_over_30s": 1, "session_score": 80, "advice": []},
                "quality": {"sample_rate_hz": 80.0, "gaps": 0, "saturated_samples": 0, "warnings": []}}
    from holdsense.coaching.flow import MovementTest

    return SessionRecord(started_utc=f"2026-11-{day:02d}T10:00:00Z", region="quads", analysis=analysis,
                         before=MovementTest(5, None, None, 4, "squat"), after=MovementTest(3, None, None, 6, "squat"),
                         source="replay", client=client)


def _store(db: Path, *clients: str | None) -> None:
    with History.open(db) as h:
        for day, c in enumerate(clients, start=1):
            h.add_session(_session(c, day))


def _clients(db: Path) -> list[tuple[str | None, int]]:
    with History.open(db, readonly=True) as h:
        return h.clients()


def _listing() -> str:
    return ok(hs("profile", "--list")).stdout


def test_list_lines_up_wide_combining_and_very_long_names() -> None:
    """CJK names take two terminal columns per character, a combining mark none; an 80-character name must not
    push every row's details off the screen."""
    long_name = "Maximiliane Alexandra von und zu Hohenberg-Schwarzenfels-Lichtenstein-Waldburg"
    for name in ("山田花子", "Zoe\u0308 Kim", long_name, "Al"):
        client(name, 60)
    lines = _listing().splitlines()
    rows = [ln for ln in lines if "60 kg, forces in N" in ln]
    assert len(rows) == 4
    columns = {display_width(ln[:ln.index("60 kg")]) for ln in rows}
    assert len(columns) == 1, rows  # the details start in one column, counted as the terminal shows them
    (col,) = columns
    assert col <= 40, rows
    assert f"  {long_name}" in lines and lines[lines.index(f"  {long_name}") + 1].strip() == "60 kg, forces in N"
    assert all(display_width(ln) <= 80 for ln in lines if "(stored in" not in ln), lines


def test_history_all_clients_lines_up_wide_names(tmp_path: Path) -> None:
    """`history --all-clients` pads and cuts its client column in terminal columns too."""
    db = tmp_path / "history.sqlite3"
    _store(db, "山田花子", "Al", "山田花子山田花子山田花子山田花子")  # the last is cut to the column's 20
    rows = [ln for ln in ok(hs_in("history", "--db", db, "--all-clients")).stdout.splitlines() if "quads" in ln]
    assert len(rows) == 6  # 3 sessions, 3 trends
    sessions, trends = rows[:3], rows[3:]
    for group in (sessions, trends):
        assert len({display_width(ln[:ln.index("quads")]) for ln in group}) == 1, group
    assert "山田花子山田花子山…" in sessions[2]
