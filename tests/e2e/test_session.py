"""End to end: a guided session replayed from a bundled recording with --answers, then the history and the
report of it, all as subprocess CLI calls on real files."""
from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import threading
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from holdsense.coaching.history import History, SessionRecord

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo-standard.csv"
ANSWERS = {"region": "quads",
           "before": {"pain": 5, "rom": "40 deg", "ease": 4},
           "after": {"pain": 3, "rom": "52 deg", "ease": 7}}

pytestmark = pytest.mark.e2e


def hs(*args: str, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    e.pop("HOLDSENSE_HISTORY", None)
    e.update(env or {})
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, **kw)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    if not DEMO.exists():
        pytest.fail(f"bundled recording {DEMO} is missing")
    p = tmp_path / "quads-session.csv"
    p.write_bytes(DEMO.read_bytes())
    return p


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    p = tmp_path / "answers.json"
    p.write_text(json.dumps(ANSWERS))
    return p


class _Rows(HTMLParser):
    """Hold rows and before/after rows of the report, as cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.holds: list[list[str]] = []
        self.hold_scores: list[str] = []
        self.tests: dict[str, list[str]] = {}
        self._row: list[str] | None = None
        self._key: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and (a.get("class") == "hold" or "data-test" in a):
            self._row, self._key = [], a.get("data-test")
        elif tag == "td" and self._row is not None:
            self._cell = []
            self._is_score = a.get("class") == "score"

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            if self._is_score and self._key is None:
                self.hold_scores.append(self._row[-1])
            self._cell = None
        elif tag == "tr" and self._row is not None:
            (self.tests.__setitem__(self._key, self._row) if self._key else self.holds.append(self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_guided_replay_session_history_and_report(tmp_path: Path, demo: Path, answers: Path) -> None:
    db = tmp_path / "history.sqlite3"
    offline = json.loads(hs("analyze", str(demo), "--json").stdout)
    holds = offline["holds"]
    assert holds, "the bundled demo recording should contain holds"

    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
           "--sound", "off", "--save-history")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    # safety first: the two lines right after the title, before anything else is asked or cued
    assert lines[0] == "holdsense guided session"
    assert "consult a practitioner" in lines[1] and "joints or bones" in lines[2] and "sharp" in lines[2]
    assert lines[3].startswith("Region: quadriceps") and "heel" in lines[4]
    assert out.index("Roll slowly to find a tight") < out.index("Hold ended")
    # every hold the offline analysis finds is cued live with the same score (live == offline)
    for h in holds:
        assert f"Hold ended: {h['duration_s']:.0f} s, score {h['score']}" in out
    # once per hold that reached it; a hold the detector later ends (back-dated) just short of 30 s may
    # have had its cue live, at 30 s, before that end was known
    n_cued = out.count("30 s: release window reached")
    assert sum(h["duration_s"] >= 30 for h in holds) <= n_cued <= sum(h["duration_s"] >= 25 for h in holds)
    assert out.count("bend and straighten the knee") >= 1
    assert "Pain 5 → 3/10 (down 2)." in out and "Range of motion 40° → 52° (+12°)." in out
    assert "Stored as session 1 in" in out and str(db) in out

    # history: the session with its region, holds and scores, before/after
    h = json.loads(hs("history", "--db", str(db), "--json").stdout)
    (s,) = h["sessions"]
    assert s["region"] == "quads" and s["source"] == "replay"
    assert s["recording_path"] == str(demo.resolve())
    assert s["hold_scores"] == [x["score"] for x in holds]
    assert s["change"]["pain_delta"] == -2 and s["change"]["ease_delta"] == 3 and s["change"]["rom_delta_deg"] == 12
    assert s["summary"]["session_score"] == offline["summary"]["session_score"]
    # one session score everywhere: the session's summary, the history's listing and JSON, the report
    score = offline["summary"]["session_score"]
    assert f"session score {score}" in out and s["session_score"] == score
    assert round(s["mean_hold_score"]) != score  # (the demo's mean hold score differs: the test can fail)
    listing = hs("history", "--db", str(db)).stdout.splitlines()
    row = next(ln for ln in listing if ln.split()[:1] == ["1"])
    header = next(ln for ln in listing if ln.split()[:1] == ["id"])
    assert row[header.index("score"):header.index("score") + 5].strip() == str(score)
    con = sqlite3.connect(db)
    stored = json.loads(con.execute("SELECT analysis_json FROM sessions").fetchone()[0])
    con.close()
    assert stored["segments"] == offline["segments"] and stored["holds"] == holds
    # report: before/after pulled from the history for this recording
    html_out = tmp_path / "report.html"
    p = hs("report", str(demo), "-o", str(html_out), "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "before/after from history session 1" in p.stderr
    rows = _Rows()
    rows.feed(html_out.read_text(encoding="utf-8"))
    assert rows.hold_scores == [str(x["score"]) for x in holds] and len(rows.holds) == len(holds)
    assert rows.tests["Pain (0–10)"][1:] == ["5", "3", "-2"]
    assert rows.tests["Range of motion"][1:] == ["40°", "52°", "+12°"]
    assert rows.tests["Ease (0–10)"][1:] == ["4", "7", "+3"]
    # moved recording: still recognised by its contents
    moved = tmp_path / "moved.csv"
    demo.rename(moved)
    first = html_out.read_bytes()
    p = hs("report", str(moved), "-o", str(html_out), "--db", str(db))  # an existing report: refused, as record
    assert p.returncode == 2 and "exists already (use --overwrite to replace it)" in p.stderr
    assert html_out.read_bytes() == first
    p = hs("report", str(moved), "-o", str(html_out), "--db", str(db), "--overwrite")
    assert p.returncode == 0, p.stderr
    assert "before/after from history session 1" in p.stderr


class _Totals(HTMLParser):
    """The report's totals: label -> value text (`<div class="label">` then `<div class="value">`)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._in: str | None = None
        self._label = ""

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class")
        self._in = cls if tag == "div" and cls in ("label", "value") else None

    def handle_data(self, data):
        if self._in == "label":
            self._label = data.strip()
        elif self._in == "value" and self._label:
            self.values[self._label] = data.strip()
            self._label = ""

    def handle_endtag(self, tag):
        self._in = None


def test_report_shows_the_score_the_session_stored(tmp_path: Path, demo: Path) -> None:
    """The answers' body mass (72 kg) is not the header's (108.6 kg): the report of that recording, with
    before/after from the history session, must score it as the session did (one score wherever shown)."""
    a = tmp_path / "answers72.json"
    a.write_text(json.dumps(ANSWERS | {"body_mass_kg": 72}))
    db = tmp_path / "history.sqlite3"
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(a), "--db", str(db),
           "--sound", "off", "--save-history")
    assert p.returncode == 0, p.stderr
    (s,) = json.loads(hs("history", "--db", str(db), "--json").stdout)["sessions"]
    assert s["scored_with"] == {"body_mass_kg": 72.0, "profile": None}
    header_score = json.loads(hs("analyze", str(demo), "--json").stdout)["summary"]["session_score"]
    assert header_score != s["session_score"]  # (the two masses score the demo differently: the test can fail)
    html_out = tmp_path / "report.html"
    p = hs("report", str(demo), "-o", str(html_out), "--db", str(db))
    assert p.returncode == 0 and "before/after from history session 1" in p.stderr, p.stderr
    totals = _Totals()
    totals.feed(html_out.read_text(encoding="utf-8"))
    assert totals.values["Session score"] == str(s["session_score"])
    assert "body mass 72 kg" in html_out.read_text(encoding="utf-8")
    # --body-mass on the report still wins, and says the scores may then differ from the history's
    p = hs("report", str(demo), "-o", str(tmp_path / "r2.html"), "--db", str(db), "--body-mass", "108.6")
    assert p.returncode == 0 and "history session 1 was scored with 72 kg" in p.stderr, p.stderr
    totals = _Totals()
    totals.feed((tmp_path / "r2.html").read_text(encoding="utf-8"))
    assert totals.values["Session score"] == str(header_score)


def test_no_nudge_while_a_force_only_hold_waits_to_be_confirmed(tmp_path: Path, answers: Path) -> None:
    """sim's standard session 1 rolls from 5.9 s to 45.5 s, then holds; force only the detector confirms the
    hold at 58.6 s. Counting rolling up to 5.5 s ago (the encoder's lag) the guide would have told the
    athlete at 56.4 s that they rolled 45 s without holding, ten seconds into the hold."""
    from holdsense.io.recording import write_recording
    from holdsense.sim import simulate

    res = simulate("standard", 1, rate_hz=80, encoder=False, duration_s=100.0)
    rec = tmp_path / "force-only.csv"
    write_recording(rec, res.samples, {"sample_rate_hz": 80, "region": "quads"})
    p = hs("session", "--replay", str(rec), "--speed", "max", "--answers", str(answers), "--sound", "off")
    assert p.returncode == 0, p.stderr
    assert "Holding" in p.stdout and "Hold ended" in p.stdout
    assert "without holding" not in p.stdout and "nudged" not in p.stdout


def test_no_terminal_and_no_answers_is_a_clear_error(tmp_path: Path, demo: Path) -> None:
    """stdin is an open pipe nobody writes to: a command that read it would hang until the timeout."""
    db = tmp_path / "h.sqlite3"
    e = dict(os.environ)
    e.pop("HOLDSENSE_HISTORY", None)
    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "session", "--replay", str(demo), "--speed",
                             "max", "--db", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)
    try:
        rc = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert rc == 2
    assert err.startswith("holdsense: error: ") and err.count("\n") == 1 and "--answers" in err
    assert not db.exists()


@pytest.mark.parametrize("content, message", [
    ('{"region": "quads", "before": {"pain": 12}}', "before pain: '12'"),
    ('{"region": "quads",\n "before": {pain: 3}}', "line 2: not valid JSON"),
    ('{"region": "elbow"}', "unknown region 'elbow'"),
    ('{"regoin": "quads"}', "unknown key regoin"),
    ('{"before": {"pain": 3}}', "no region"),
])
def test_bad_answers_fail_before_anything_is_stored(tmp_path: Path, demo: Path, content: str, message: str) -> None:
    # the demo recording has a region in its header: drop it so a missing region is an error
    src = demo.read_text().replace("# region: quads\n", "")
    demo.write_text(src)
    a = tmp_path / "a.json"
    a.write_text(content)
    db = tmp_path / "h.sqlite3"
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(a), "--db", str(db))
    assert p.returncode == 2 and message in p.stderr and p.stderr.count("\n") == 1, p.stderr
    if "no region" not in message:
        assert not db.exists()
    else:
        assert "Roll slowly" not in p.stdout


def test_bad_region_or_db_folder_is_refused_before_anything_is_printed(tmp_path: Path, demo: Path,
                                                                         answers: Path) -> None:
    for extra, words in ((["--region", "elbow"], "unknown region 'elbow'"),
                         (["--db", str(tmp_path / "no" / "h.sqlite3"), "--save-history"], "does not exist")):
        args = ["--db", str(tmp_path / "h.sqlite3")] if "--db" not in extra else []
        p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), *args, *extra)
        assert p.returncode == 2 and words in p.stderr and p.stderr.count("\n") == 1, p.stderr
        assert p.stdout == "", p.stdout  # not even the header: nothing happened
    assert not (tmp_path / "no").exists() and not (tmp_path / "h.sqlite3").exists()


def test_replay_is_not_stored_unless_asked(tmp_path: Path, demo: Path, answers: Path) -> None:
    """A replayed demo is not a session the user rolled: it stays out of their history without --save-history."""
    db = tmp_path / "h.sqlite3"
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
           "--sound", "off")
    assert p.returncode == 0, p.stderr
    assert "Not stored in the history" in p.stdout and "--save-history" in p.stdout and "Stored as" not in p.stdout
    assert not db.exists()
    with History.open(db) as h:  # an existing history is not touched either
        h.add_session(SessionRecord(started_utc="2026-11-20T10:00:00Z", region="quads",
                                    analysis={"holds": [], "summary": {}}))
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
           "--sound", "off")
    assert p.returncode == 0, p.stderr
    with History.open(db, readonly=True) as h:
        assert len(h.sessions()) == 1
    p = hs("session", "--port", "/dev/null", "--answers", str(answers), "--db", str(db), "--save-history")
    assert p.returncode == 2 and "--save-history only applies with --replay" in p.stderr


def test_source_options(tmp_path: Path, demo: Path, answers: Path) -> None:
    p = hs("session", "--answers", str(answers), "--db", str(tmp_path / "h.sqlite3"))
    assert p.returncode == 2 and "--replay FILE" in p.stderr
    p = hs("session", "--replay", str(demo), "--port", "/dev/null", "--answers", str(answers))
    assert p.returncode == 2 and "exactly one" in p.stderr
    p = hs("session", "--replay", str(tmp_path / "missing.csv"), "--answers", str(answers),
           "--db", str(tmp_path / "h.sqlite3"))
    assert p.returncode == 2 and "no such file" in p.stderr and not (tmp_path / "h.sqlite3").exists()


def test_replay_refuses_output_options_instead_of_ignoring_them(tmp_path: Path, demo: Path, answers: Path) -> None:
    """A replay records nothing: -o (and --overwrite) would be silently ignored, so they are refused up front."""
    out = tmp_path / "out.csv"
    db = tmp_path / "h.sqlite3"
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
           "--sound", "off", "-o", str(out))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == (f"holdsense: error: -o {out}: --replay records nothing (the session's recording is {demo} "
                        "itself); leave out -o, or copy that file\n")
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
           "--sound", "off", "--overwrite")
    assert p.returncode == 2 and "--overwrite applies to the -o FILE of a live session" in p.stderr
    assert p.stderr.count("\n") == 1 and p.stdout == ""
    assert not out.exists() and not db.exists()


def test_locked_history_stops_before_guiding(tmp_path: Path, demo: Path, answers: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with History.open(db) as h:  # an earlier session
        h.add_session(SessionRecord(started_utc="2026-11-20T10:00:00Z", region="quads",
                                    analysis={"holds": [], "summary": {}}))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db", str(db),
               "--save-history")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == 2 and "locked" in p.stderr and "Roll slowly" not in p.stdout
    with History.open(db, readonly=True) as h:
        assert len(h.sessions()) == 1  # the earlier session is intact


class _PtySession:
    """`holdsense session --replay DEMO` with its stdin on a real pty: `lines` collects stdout as it comes and
    `after_asked` is set when the after-test's first question is printed (answers typed ahead could be taken
    as "Enter to finish")."""

    def __init__(self, db: Path, demo: Path) -> None:
        self.master, slave = pty.openpty()
        e = dict(os.environ, PYTHONUNBUFFERED="1")
        e.pop("HOLDSENSE_HISTORY", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "session", "--replay", str(demo),
                                      "--speed", "max", "--db", str(db), "--sound", "off", "--save-history"],
                                     stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        os.close(slave)
        self.lines: list[str] = []
        self.after_asked = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("After test:"):
                self.after_asked.set()

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the command; (exit code, stdout, stderr). Always cleans up."""
        try:
            self.proc.wait(120)
            self.reader.join(10)
            err = self.proc.stderr.read()
        finally:
            os.close(self.master)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode, "".join(self.lines), err


@pytest.mark.skipif(os.name != "posix", reason="uses a pseudo-terminal for the questions")
def test_interactive_questions_on_a_terminal(tmp_path: Path, demo: Path) -> None:
    """The questions path: stdin is a real pty; a wrong answer is asked again."""
    db = tmp_path / "h.sqlite3"
    # region is in the recording's header, so the questions are the before test, then the after test
    run = _PtySession(db, demo)
    run.type(b"11\n6\n35 deg\n3\n")
    assert run.after_asked.wait(120), "".join(run.lines)
    run.type(b"2\nheel to buttock\n8\n")
    rc, out, err = run.finish()
    assert rc == 0, err
    assert "not a whole number from 0 to 10" in out or "not a number" in out  # 11 was asked again
    assert "Pain 6 → 2/10 (down 4)." in out and "Ease of motion 3 → 8/10" in out
    assert 'before "35°", after "heel to buttock"' in out
    with History.open(db, readonly=True) as h:
        (s,) = h.sessions()
    assert (s.before.pain_0_10, s.before.rom_deg, s.after.rom_text) == (6, 35.0, "heel to buttock")


@pytest.mark.skipif(os.name != "posix", reason="uses a pseudo-terminal for the questions")
def test_ctrl_c_at_the_after_test_still_stores_the_session(tmp_path: Path, demo: Path) -> None:
    """Ctrl-C at the after-test questions (the client has already rolled): the session is stored without an
    after-test and the summary printed, exit 130; it used to be lost from the history without a word."""
    import signal
    import time

    db = tmp_path / "h.sqlite3"
    run = _PtySession(db, demo)
    run.type(b"6\n35 deg\n3\n")
    assert run.after_asked.wait(120), "".join(run.lines)
    time.sleep(0.5)  # waiting in input() for the pain rating
    run.proc.send_signal(signal.SIGINT)
    rc, out, err = run.finish()
    assert rc == 130, err + out
    assert "After-test skipped (Ctrl-C)" in out and "Stored as session 1" in out, out
    with History.open(db, readonly=True) as h:
        (s,) = h.sessions()
    assert s.before is not None and s.before.pain_0_10 == 6 and s.after is None and s.holds


def test_summary_line_parts_add_up_to_the_session(tmp_path: Path, demo: Path, answers: Path) -> None:
    """The summary's length is the whole session, off time included: it names the off time too, and the
    three parts match `analyze` (it used to call the whole length "on the roller" and leave the off time out)."""
    s = json.loads(hs("analyze", str(demo), "--json").stdout)["summary"]
    p = hs("session", "--replay", str(demo), "--speed", "max", "--answers", str(answers), "--db",
           str(tmp_path / "h.sqlite3"), "--sound", "off")
    assert p.returncode == 0, p.stderr

    def mmss(t_s: float) -> str:
        t = int(round(t_s))
        return f"{t // 60}:{t % 60:02d}"

    (line,) = [ln.strip() for ln in p.stdout.splitlines() if ln.strip().startswith(mmss(s["duration_s"]) + " ")]
    assert line.startswith(f"{mmss(s['duration_s'])} session: holding {mmss(s['hold_s'])} "), line
    assert f"rolling {mmss(s['roll_s'])} " in line and f"off the roller {mmss(s['off_s'])} " in line, line
    assert "on the roller:" not in line
