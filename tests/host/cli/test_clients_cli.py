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


def test_rename_client_carries_profile_and_history(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    client("Anna Berg", 61, "kg")
    client("Ben", 90)
    _store(db, "Anna Berg", "anna  berg", "Ben", None)  # her sessions, however spelt when stored

    p = ok(hs("profile", "--rename-client", "ANNA berg", "Anna Lind", "--db", db))
    assert "renamed client 'Anna Berg' to 'Anna Lind'" in p.stdout and "2 sessions" in p.stdout
    assert "keep the name 'Anna Berg'" in p.stderr  # her recordings are not rewritten, and it says so
    assert _clients(db) == [(None, 1), ("Anna Lind", 2), ("Ben", 1)]
    anna = json.loads(ok(hs("history", "--db", db, "--client", "anna lind", "--json")).stdout)
    assert [s["client"] for s in anna["sessions"]] == ["Anna Lind", "Anna Lind"]
    listing = _listing()
    assert re.search(r"Anna Lind\s+61 kg, forces in kg", listing) and "Berg" not in listing
    assert len(list((Path(os.environ["HOLDSENSE_CONFIG_DIR"]) / "clients").glob("*.json"))) == 2
    # the old name points to the new one (it said "no sessions of client Anna Berg", as if they were lost)
    refused(hs_in("history", "--db", db, "--client", "Anna Berg"), "renamed to 'Anna Lind'")

    # a new spelling of the same name is a rename too (the same file, rewritten)
    ok(hs_in("profile", "--rename-client", "anna lind", "Anna LIND", "--db", db))
    assert _clients(db) == [(None, 1), ("Anna LIND", 2), ("Ben", 1)]

    # clashes, unknown and bad names: one line, exit 2, nothing changed
    before = (_listing(), _clients(db))
    refused(hs("profile", "--rename-client", "Anna Lind", "ben", "--db", db), "there is a client 'Ben' already")
    refused(hs_in("profile", "--rename-client", "Nobody", "X", "--db", db), "no client 'Nobody'", "Anna LIND, Ben")
    refused(hs_in("profile", "--rename-client", "Ben", "  ", "--db", db), "--rename-client", "non-empty")
    refused(hs_in("profile", "--rename-client", "Ben", "x" * 81, "--db", db), "at most 80 characters")
    refused(hs_in("profile", "--rename-client", "Ben", "Ben", "--db", db), "the new name is the old one")
    refused(hs_in("profile", "--rename-client", "Ben", "Bo", "--with-history", "--db", db), "--with-history")
    assert (_listing(), _clients(db)) == before


def test_rename_onto_a_removed_clients_sessions_is_refused(tmp_path: Path) -> None:
    """Sessions left by a removed client are still a person: renaming someone onto their name would merge two
    histories. The removed client's sessions can themselves be renamed (no profile needed)."""
    db = tmp_path / "history.sqlite3"
    client("Ben", 90)
    client("Carl")
    _store(db, "Ben", "Carl")
    ok(hs_in("profile", "--remove-client", "carl", "--db", db))
    refused(hs_in("profile", "--rename-client", "Ben", "Carl", "--db", db), "1 session of 'Carl' already")
    p = ok(hs("profile", "--rename-client", "carl", "Carl Old", "--db", db))
    assert "no profile" in p.stdout and _clients(db) == [("Ben", 1), ("Carl Old", 1)]


def test_rename_is_undone_when_the_history_cannot_be_changed(tmp_path: Path, monkeypatch, capsys) -> None:
    """The profile is written first, the history second: if the history fails (locked by a running session),
    the new profile file goes again and the old one stays, so nothing is half renamed. (In-process: the
    failure is injected.)"""
    from holdsense.coaching.history import HistoryError

    db = tmp_path / "history.sqlite3"
    client("Anna Berg", 61)
    _store(db, "Anna Berg")

    def locked(self, old, new):
        raise HistoryError(f"{self.path}: history database is locked by another program")

    monkeypatch.setattr(History, "rename_client", locked)
    assert cli.main(["profile", "--rename-client", "Anna Berg", "Anna Lind", "--db", str(db)]) == 2
    assert "locked" in capsys.readouterr().err
    files = list((Path(os.environ["HOLDSENSE_CONFIG_DIR"]) / "clients").glob("*.json"))
    assert [json.loads(f.read_text())["name"] for f in files] == ["Anna Berg"]
    assert _clients(db) == [("Anna Berg", 1)]


def test_remove_client_note_says_one_session_stays(tmp_path: Path) -> None:
    """The note agrees with its number: "their 1 session stays", "their 2 sessions stay"."""
    db = tmp_path / "history.sqlite3"
    client("Ben", 90)
    _store(db, "Ben")
    p = hs_in("profile", "--remove-client", "Ben", "--db", db)
    assert p.returncode == 0, p.stderr
    assert "their 1 session stays in the history" in p.stderr


def test_remove_client_keeps_history_unless_told(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    client("Anna Berg", 61)
    client("Ben", 90)
    _store(db, "Ben", "ben", "Anna Berg", None)

    p = ok(hs("profile", "--remove-client", "BEN", "--db", db))
    assert "removed client 'Ben'" in p.stdout
    assert "2 sessions stay in the history" in p.stderr and "--with-history" in p.stderr
    assert "Ben" not in _listing()
    assert _clients(db) == [(None, 1), ("Anna Berg", 1), ("Ben", 2)]  # his recorded sessions are all there
    ben = json.loads(ok(hs_in("history", "--db", db, "--client", "Ben", "--json")).stdout)
    assert len(ben["sessions"]) == 2

    # only sessions left: removing them needs the flag; with it they go, holds and tests too
    refused(hs_in("profile", "--remove-client", "Ben", "--db", db), "no profile", "2 sessions", "--with-history")
    p = ok(hs("profile", "--remove-client", "Ben", "--with-history", "--db", db))
    assert "2 sessions from the history" in p.stdout and "recordings" in p.stderr
    assert _clients(db) == [(None, 1), ("Anna Berg", 1)]
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM holds").fetchone()[0] == 2  # hers and yours
    assert con.execute("SELECT COUNT(*) FROM tests").fetchone()[0] == 4
    con.close()

    # a profile and sessions removed together
    p = ok(hs_in("profile", "--remove-client", "anna berg", "--with-history", "--db", db))
    assert "profile" in p.stdout and "1 session from the history" in p.stdout
    assert _clients(db) == [(None, 1)] and "no clients yet" in hs_in("profile", "--list").stdout

    refused(hs_in("profile", "--remove-client", "Ben", "--with-history", "--db", db), "no client 'Ben'")
    refused(hs_in("profile", "--with-history"), "--with-history goes with")
    refused(hs_in("profile", "--remove-client", "Ben", "--body-mass", "70"), "takes no other option")
    refused(hs_in("profile", "--remove-client", ""), "--remove-client", "non-empty")


def test_remove_says_when_holdsense_client_still_names_them(tmp_path: Path) -> None:
    client("Ben")
    p = ok(hs("profile", "--remove-client", "Ben", "--db", tmp_path / "none.sqlite3", env={"HOLDSENSE_CLIENT": "ben"}))
    assert "$HOLDSENSE_CLIENT still names 'Ben'" in p.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # a history is never created to remove a client


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


# --- analyze, replay, report: whose recording it is ----------------------------------------------------------

@pytest.fixture
def recordings(tmp_path: Path) -> tuple[Path, Path]:
    """(anna.csv: its header names Anna Berg, nobody.csv: names nobody), both without a body mass and cut after
    the first hold (31-108 s), so each run is short."""
    head, rows = [], []
    for ln in DEMO.read_text(encoding="utf-8").splitlines(keepends=True):
        if ln.startswith("#"):
            if not ln.startswith("# body_mass_kg"):
                head.append(ln)
        elif not rows or float(ln.split(",", 1)[0]) < 118.0:
            rows.append(ln)
        else:
            break
    nobody, anna = tmp_path / "nobody.csv", tmp_path / "anna.csv"
    nobody.write_text("".join(head + rows), encoding="utf-8")
    anna.write_text("".join(head + ["# client: Anna Berg\n"] + rows), encoding="utf-8")
    up.save(up.UserProfile(body_mass_kg=80, name="Pat Physio"))
    client("Anna Berg", 61)
    client("Ben", 90)
    return anna, nobody


def _body_mass_kg(text: str) -> float:
    """The body mass a run scored with, from a hold's mean force and its '% of your body weight'."""
    m = re.search(r"mean (\d+) N.*?(\d+) % of your body weight", text) or \
        re.search(r'"mean_force_n": ([\d.]+).*?(\d+) % of your body weight', text)
    assert m, text[:2000]
    return float(m.group(1)) / G / (int(m.group(2)) / 100)


def _analysed(p: subprocess.CompletedProcess) -> dict[str, float]:
    """{file name: body mass used} of an `analyze --json` run (several files: JSON Lines)."""
    out = {}
    for ln in p.stdout.splitlines():
        d = json.loads(ln)
        if "error" not in d:
            out[Path(d["source"]).name] = _body_mass_kg(json.dumps(d))
    return out


def _mass_of_one(p: subprocess.CompletedProcess) -> float:
    """The body mass an `analyze --json` run of one file (an indented JSON object) scored with."""
    return _body_mass_kg(json.dumps(json.loads(ok(p).stdout)))


def _near(mass_kg: float, expected_kg: float) -> bool:
    return abs(mass_kg - expected_kg) / expected_kg < 0.05  # from a whole-percent share; 61, 80, 90 kg apart


def test_analyze_takes_client_and_never_mixes_people(recordings) -> None:
    anna, nobody = recordings
    # --client: for the recording that names nobody; Anna's recording named for Ben is that file's error
    p = hs("analyze", anna, nobody, "--json", "--client", "ben")  # in worker processes (two files, default -j)
    err = refused(p, "anna.csv is Anna Berg's recording", "not Ben's", "leave out --client")
    assert "error" in json.loads(p.stdout.splitlines()[0])
    masses = _analysed(p)
    assert list(masses) == ["nobody.csv"] and _near(masses["nobody.csv"], 90), (masses, err)
    # the current client ($HOLDSENSE_CLIENT) never clashes: Anna's recording is scored as hers, with her mass
    masses = _analysed(ok(hs("analyze", anna, nobody, "--json", "-j", "1", env={"HOLDSENSE_CLIENT": "Ben"})))
    assert _near(masses["anna.csv"], 61) and _near(masses["nobody.csv"], 90), masses
    # nobody current: her recording is still hers (it was scored with the physio's own 80 kg before)
    masses = _analysed(ok(hs("analyze", anna, nobody, "--json", "-j", "1")))
    assert _near(masses["anna.csv"], 61) and _near(masses["nobody.csv"], 80), masses
    refused(hs_in("analyze", nobody, "--client", "Bem"), "no client 'Bem'", "Anna Berg, Ben")


def test_replay_takes_client_and_never_mixes_people(recordings) -> None:
    anna, nobody = recordings
    run = ("--speed", "max", "--plain")
    p = hs("replay", anna, *run, "--client", "Ben")
    refused(p, "anna.csv is Anna Berg's recording", "not Ben's")
    assert "hold ended" not in p.stdout  # refused before anything was replayed
    assert _near(_body_mass_kg(ok(hs("replay", nobody, *run, "--client", "Ben")).stdout), 90)
    assert _near(_body_mass_kg(ok(hs("replay", anna, *run, env={"HOLDSENSE_CLIENT": "Ben"})).stdout), 61)
    refused(hs_in("replay", nobody, *run, "--client", "Bem"), "no client 'Bem'")


def test_report_refuses_a_client_other_than_the_recordings(recordings, tmp_path: Path) -> None:
    """It used to name Ben over Anna's holds (and score them with the body mass in her header) with a note."""
    anna, _ = recordings
    out = tmp_path / "r.html"
    refused(hs_in("report", anna, "-o", out, "--client", "Ben", "--db", tmp_path / "none.sqlite3"),
            "anna.csv is Anna Berg's recording", "not Ben's")
    assert not out.exists()


def test_report_refuses_an_unknown_client(recordings, tmp_path: Path) -> None:
    """As analyze and replay do (one line, exit 2): it headed the report of a recording that names nobody with
    the typo ('Bem') and scored it with no body mass."""
    _, nobody = recordings
    out = tmp_path / "r.html"
    refused(hs_in("report", nobody, "-o", out, "--client", "Bem", "--db", tmp_path / "none.sqlite3"),
            "no client 'Bem'", "Anna Berg, Ben")
    assert not out.exists()


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


def test_removed_history_is_erased_from_the_file(tmp_path: Path) -> None:
    """--with-history is what a client who asks to be forgotten gets: their rows must not linger in the
    database file's free pages, where any hex viewer finds them."""
    db = tmp_path / "history.sqlite3"
    _store(db, "Quillon Zyxwvut", None, "Quillon Zyxwvut")
    assert b"Quillon Zyxwvut" in db.read_bytes()
    with History.open(db) as h:
        # Debian's SQLite zeroes deleted rows by default; python.org's and macOS's builds do not
        h._con.execute("PRAGMA secure_delete = OFF")
        assert h.delete_client("quillon zyxwvut") == 2
    assert b"Quillon Zyxwvut" not in db.read_bytes()
    assert _clients(db) == [(None, 1)]


def test_a_renamed_clients_recordings_stay_theirs(recordings, tmp_path: Path) -> None:
    """Recordings made before `profile --rename-client` keep the old name in their `client:` header. They were
    refused for `--client NEW` as another person's, and without --client no profile was found (your units,
    no body mass). The profile keeps the old name (`former_names`), so they are the client's; a former name
    is taken by no other client, and a command line names the client as they are called now."""
    anna, nobody = recordings  # anna.csv: its header names Anna Berg (61 kg)
    db = tmp_path / "history.sqlite3"
    ok(hs_in("profile", "--rename-client", "Anna Berg", "Anna Lind", "--db", db))
    assert up.load_client("Anna Lind").former_names == ("Anna Berg",)
    for extra in (("--client", "anna lind"), ()):
        mass = _mass_of_one(hs_in("analyze", anna, "--json", "-j", "1", *extra))
        assert _near(mass, 61), (extra, mass)  # her body mass, with or without --client
    out = tmp_path / "r.html"
    ok(hs_in("report", anna, "-o", out, "--client", "Anna Lind", "--db", db))
    assert 'class="client">Anna Lind<' in out.read_text(encoding="utf-8")  # headed with her name now
    # someone else's --client is still a clash, and the message names her as she is called now
    refused(hs_in("analyze", anna, "--client", "Ben", "-j", "1"), "Anna Berg's recording", "Anna Lind since a rename",
            "not Ben's")
    # the former name on a command line is refused with her name now; no new client may take it
    refused(hs_in("analyze", nobody, "--client", "Anna Berg"), "no client 'Anna Berg': renamed to 'Anna Lind'")
    refused(hs_in("profile", "--client", "anna berg", "--body-mass", "70"),
            "'Anna Berg' is a former name of client 'Anna Lind'")
    refused(hs_in("profile", "--rename-client", "Ben", "Anna Berg", "--db", db), "a former name of client 'Anna Lind'")
    assert [prof.name for _, prof, _ in up.list_clients()] == ["Anna Lind", "Ben"]  # nothing added or renamed
    # a guided session replaying her old recording goes into her history under her name now
    from argparse import Namespace

    from holdsense.commands.session import _check_replay_person

    rec = Namespace(client="Anna Berg")
    _check_replay_person(Namespace(client="Anna Lind", replay=str(anna)), rec)
    with pytest.raises(cli.UserError, match="now Anna Lind, renamed.*give --client \"Anna Lind\""):
        _check_replay_person(Namespace(client="Ben", replay=str(anna)), rec)
    # renamed back, she takes her old name back (and keeps the other as a former one)
    ok(hs_in("profile", "--rename-client", "Anna Lind", "Anna Berg", "--db", db))
    assert up.load_client("Anna Berg").former_names == ("Anna Lind",)
    assert _near(_mass_of_one(hs_in("analyze", anna, "--json", "-j", "1")), 61)
