"""Clients (`--client NAME`): a physiotherapist rolling several people keeps each one's profile, recordings,
history and trends apart, as subprocess CLI calls on real files. The config directory is private to each test
(tests/conftest.py) and inherited by the subprocesses."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense.io.recording import read_recording
from cli_run import virtual_roller_cli

REPO = Path(__file__).resolve().parents[2]
QUADS = REPO / "recordings" / "demo-standard.csv"  # its header names a region (quads) and no client
CALVES = REPO / "recordings" / "demo-force-only.csv"

pytestmark = pytest.mark.e2e


def hs(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in ("HOLDSENSE_HISTORY", "HOLDSENSE_CLIENT"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, p.stderr + p.stdout
    return p


def _answers(tmp_path: Path, name: str, region: str, pain: tuple[int, int]) -> Path:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"region": region, "before": {"pain": pain[0], "ease": 4},
                             "after": {"pain": pain[1], "ease": 6}}))
    return p


def _replay(tmp_path: Path, src: Path, name: str, region: str, pain: tuple[int, int], db: Path,
            *client: str, env: dict | None = None) -> Path:
    """A stored session of `src` (copied to its own file: one recording per session, as live sessions have)."""
    rec = tmp_path / f"{name}.csv"
    rec.write_bytes(src.read_bytes())
    ok(hs("session", "--replay", rec, "--speed", "max", "--save-history", "--sound", "off", "--db", db,
          "--answers", _answers(tmp_path, name, region, pain), *client, env=env))
    return rec


def _history(db: Path, *args: str, env: dict | None = None) -> dict:
    return json.loads(ok(hs("history", "--db", db, "--json", *args, env=env)).stdout)


def test_two_clients_sessions_and_trends_kept_apart(tmp_path: Path) -> None:
    """Anna's and Ben's quads sessions, in the same week, and one of your own: each history shows one person,
    trends never average two people, --all-clients says whose each session is, and the plot names its person."""
    db = tmp_path / "history.sqlite3"
    ok(hs("profile", "--name", "Pat Physio"))
    ok(hs("profile", "--client", "Anna Berg", "--body-mass", "61"))
    ok(hs("profile", "--client", "Ben", "--body-mass", "90"))
    _replay(tmp_path, QUADS, "anna", "quads", (5, 3), db, "--client", "anna  BERG")  # matched as her name
    _replay(tmp_path, QUADS, "ben", "quads", (7, 6), db, env={"HOLDSENSE_CLIENT": "Ben"})
    _replay(tmp_path, CALVES, "own", "calves", (4, 4), db)

    anna = _history(db, "--client", "Anna Berg")
    assert anna["client"] == "Anna Berg" and [s["client"] for s in anna["sessions"]] == ["Anna Berg"]
    (trend,) = anna["trends"]
    assert (trend["client"], trend["region"], trend["sessions"], trend["mean_pain_change"]) == \
        ("Anna Berg", "quads", 1, -2.0)
    ben = _history(db, env={"HOLDSENSE_CLIENT": "ben"})
    assert [(s["client"], s["change"]["pain_delta"]) for s in ben["sessions"]] == [("Ben", -1)]
    own = _history(db)  # no option: your own sessions, as before clients existed
    assert own["client"] is None and [(s["client"], s["region"]) for s in own["sessions"]] == [(None, "calves")]
    text = ok(hs("history", "--db", db)).stdout
    assert "Anna" not in text.split("\n\n", 1)[1] and "not shown, other people's sessions" in text

    everyone = _history(db, "--all-clients")
    assert sorted(str(s["client"]) for s in everyone["sessions"]) == ["Anna Berg", "Ben", "None"]
    quads = sorted((t["client"], t["sessions"], t["mean_pain_change"]) for t in everyone["trends"]
                   if t["region"] == "quads")
    assert quads == [("Anna Berg", 1, -2.0), ("Ben", 1, -1.0)]  # the same week, not one mean of -1.5
    listing = ok(hs("history", "--db", db, "--all-clients")).stdout
    assert re.search(r"Anna Berg\s+quads", listing) and re.search(r"Ben\s+quads", listing)

    svg = tmp_path / "anna.svg"
    ok(hs("history", "--db", db, "--client", "Anna Berg", "--plot", svg))
    title = re.search(r"<!-- (holdsense history[^>]*) -->", svg.read_text(encoding="utf-8")).group(1)
    assert title == "holdsense history: Anna Berg — 1 session"
    ok(hs("history", "--db", db, "--plot", svg))
    assert "holdsense history: Pat Physio — 1 session" in svg.read_text(encoding="utf-8")
    p = hs("history", "--db", db, "--all-clients", "--plot", svg)
    assert p.returncode == 2 and "one person's sessions" in p.stderr


def test_report_names_the_recordings_person_not_the_current_one(tmp_path: Path) -> None:
    """Anna's session, reported while Ben is the current client (and your own profile has a name): the heading
    names Anna, her body mass and units are used; a recording that names nobody is named for nobody."""
    db = tmp_path / "history.sqlite3"
    ok(hs("profile", "--name", "Pat Physio", "--units", "N"))
    ok(hs("profile", "--client", "Anna Berg", "--body-mass", "61", "--units", "kg"))
    ok(hs("profile", "--client", "Ben", "--body-mass", "95"))
    # her header names nobody (a replay records nothing new): the history's session says whose it is
    no_mass = tmp_path / "src.csv"
    no_mass.write_text("".join(ln for ln in QUADS.read_text(encoding="utf-8").splitlines(keepends=True)
                               if not ln.startswith("# body_mass_kg")), encoding="utf-8")
    rec = _replay(tmp_path, no_mass, "anna", "quads", (5, 3), db, "--client", "Anna Berg")
    out = tmp_path / "r.html"
    ok(hs("report", rec, "-o", out, "--db", db, env={"HOLDSENSE_CLIENT": "Ben"}))
    page = out.read_text(encoding="utf-8")
    assert 'Client <b class="client">Anna Berg</b>' in page and page.count('class="client"') == 1
    assert "Pat Physio" not in page
    bw = [(float(kg), int(pct)) for kg, pct in re.findall(r"(\d+\.\d) kg \((\d+) % BW\)", page)]
    assert bw and all(abs(100 * kg / 61 - pct) <= 1 for kg, pct in bw)  # % of her 61 kg, shown in her kg

    # a recording whose header names her, with no history: still hers, whoever is current
    named = tmp_path / "anna-named.csv"
    named.write_text(no_mass.read_text(encoding="utf-8").replace("# region:", "# client: Anna Berg\n# region:", 1),
                     encoding="utf-8")
    ok(hs("report", named, "-o", tmp_path / "n.html", "--db", tmp_path / "none.sqlite3",
          env={"HOLDSENSE_CLIENT": "Ben"}))
    assert 'Client <b class="client">Anna Berg</b>' in (tmp_path / "n.html").read_text(encoding="utf-8")

    # an old recording that names nobody: no name at all, not the current profile's
    ok(hs("report", QUADS, "-o", tmp_path / "old.html", "--db", tmp_path / "none.sqlite3"))
    assert 'class="client"' not in (tmp_path / "old.html").read_text(encoding="utf-8")


def test_unknown_client_is_refused_before_anything_starts(tmp_path: Path) -> None:
    ok(hs("profile", "--client", "Anna Berg"))
    db = tmp_path / "history.sqlite3"
    rec = tmp_path / "s.csv"
    rec.write_bytes(QUADS.read_bytes())
    p = hs("session", "--replay", rec, "--speed", "max", "--save-history", "--sound", "off", "--db", db,
           "--answers", _answers(tmp_path, "a", "quads", (5, 3)), "--client", "Ana Berg")
    assert p.returncode == 2 and "no client 'Ana Berg' (known: Anna Berg)" in p.stderr
    assert "Safety" not in p.stdout and not db.exists()
    listing = ok(hs("profile", "--list")).stdout
    assert "Anna Berg" in listing and "Ana Berg" not in listing


def test_a_replay_naming_someone_else_is_not_stored_as_yours(tmp_path: Path) -> None:
    ok(hs("profile", "--client", "Anna Berg"))
    named = tmp_path / "anna.csv"
    named.write_text(QUADS.read_text(encoding="utf-8").replace("# region:", "# client: Anna Berg\n# region:", 1),
                     encoding="utf-8")
    db = tmp_path / "history.sqlite3"
    args = ["session", "--replay", named, "--speed", "max", "--save-history", "--sound", "off", "--db", db,
            "--answers", _answers(tmp_path, "a", "quads", (5, 3))]
    p = hs(*args)
    assert p.returncode == 2 and "the recording is Anna Berg's" in p.stderr and "--client" in p.stderr
    ok(hs(*args, "--client", "Anna Berg"))
    assert [s["client"] for s in _history(db, "--all-clients")["sessions"]] == ["Anna Berg"]


# --- with a roller: the header of what is recorded -----------------------------------------------------

@pytest.fixture
def virtual_roller(tmp_path: Path):
    """`holdsense virtual-device` (standard scenario, 10x device time); yields its port."""
    with virtual_roller_cli(tmp_path, speed=10.0) as (link, _):
        yield link


@pytest.mark.skipif(os.name != "posix", reason="needs a pty")
def test_recordings_name_the_client_and_the_default_path_is_unchanged(virtual_roller, tmp_path: Path) -> None:
    """record/session with --client write `client:` into the header and store the session under the client;
    without --client nothing names a client: no header key without a profile name, sessions stored as yours."""
    port = virtual_roller
    data = tmp_path / "data"
    data.mkdir()
    db = data / "history.sqlite3"
    plain = tmp_path / "plain.csv"
    ok(hs("record", "--port", port, "--duration", "5", "--quiet", "-o", plain))
    assert "client" not in read_recording(plain).metadata  # as before: nobody named, no new key
    ok(hs("session", "--port", port, "--duration", "20", "--sound", "off", "--db", db,
          "--answers", _answers(tmp_path, "own", "quads", (4, 3))))
    (own,) = _history(db)["sessions"]
    assert own["client"] is None

    ok(hs("profile", "--client", "Anna Berg", "--body-mass", "61"))
    rec = tmp_path / "anna.csv"
    ok(hs("record", "--port", port, "--duration", "5", "--quiet", "-o", rec, "--client", "anna berg"))
    r = read_recording(rec)
    assert r.client == "Anna Berg" and r.metadata["client"] == "Anna Berg"
    ok(hs("session", "--port", port, "--duration", "20", "--sound", "off", "--db", db, "--client", "Anna Berg",
          "--answers", _answers(tmp_path, "anna", "quads", (6, 2))))
    (anna,) = _history(db, "--client", "Anna Berg")["sessions"]
    assert anna["client"] == "Anna Berg" and read_recording(anna["recording_path"]).client == "Anna Berg"
    assert anna["scored_with"]["body_mass_kg"] == 61  # her profile's body mass
    assert [s["id"] for s in _history(db)["sessions"]] == [own["id"]]  # yours still shows only yours

    ok(hs("profile", "--name", "Pat Physio"))  # your own name, once set, names your recordings too
    mine = tmp_path / "mine.csv"
    ok(hs("record", "--port", port, "--duration", "5", "--quiet", "-o", mine))
    assert read_recording(mine).client == "Pat Physio"
