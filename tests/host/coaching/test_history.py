"""History database: round trip, migration from the v1 schema, and every way it must refuse to touch data."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.coaching.flow import MovementTest
from holdsense.coaching.history import (APP_ID, SCHEMA_VERSION, History, HistoryError, SessionRecord, default_db_path,
                                        file_sha256, weekly_trends)

V1_SQL = Path(__file__).parents[1] / "data" / "history_v1.sql"
#: A v2 database made by holdsense before sessions named a client (tests/host/data/history_v2.sql says how).
V2_SQL = Path(__file__).parents[1] / "data" / "history_v2.sql"


def _analysis(hold_durations_s: list[float], scores: list[int], source: str = "x.csv") -> dict:
    holds, t = [], 10.0
    for d, sc in zip(hold_durations_s, scores):
        holds.append({"start_s": t, "end_s": t + d, "duration_s": d, "mean_force_n": 120.0, "force_cv": 0.05,
                      "travel_cm": None, "spot_cm": None, "score": sc, "grade": "g",
                      "feedback": [f"Held {d:.0f} s.", "Light pressure."]})
        t += d + 20
    hold_s = sum(hold_durations_s)
    return {"format": "holdsense-analysis/1", "source": source,
            "segments": [{"kind": "roll", "start_s": 0.0, "end_s": 10.0}],
            "holds": holds,
            "summary": {"duration_s": t, "hold_s": hold_s, "roll_s": t - hold_s, "off_s": 0.0,
                        "holds": len(holds), "holds_over_30s": sum(d >= 30 for d in hold_durations_s),
                        "session_score": 70, "advice": []},
            "quality": {"sample_rate_hz": 80.0, "gaps": 0, "saturated_samples": 0, "warnings": []}}


def _record(started: str, region: str = "quads", pain=(5, 3), rom=(40.0, 52.0), path: str | None = None) -> SessionRecord:
    return SessionRecord(started_utc=started, region=region, analysis=_analysis([35.0, 62.0], [74, 88]),
                         recording_path=path, before=MovementTest(pain[0], rom[0], None, 4, "heel to buttock"),
                         after=MovementTest(pain[1], rom[1], None, 7, "heel to buttock"), source="replay")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("HOLDSENSE_HISTORY", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          env=e, stdin=subprocess.DEVNULL, timeout=60)


def _make_v1(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(V1_SQL.read_text(encoding="utf-8"))
    con.close()


def _make_v2(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(V2_SQL.read_text(encoding="utf-8"))
    con.close()


def _dump(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump()) + [str(con.execute("PRAGMA user_version").fetchone()[0])]
    finally:
        con.close()


def test_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "h.sqlite3"  # folder created on first write
    rec_file = tmp_path / "s.csv"
    rec_file.write_text("# format: holdsense-recording/1\nt_s,force_n\n0,0\n")
    with History.open(db) as h:
        assert h.version == SCHEMA_VERSION
        r = _record("2026-11-24T10:00:00Z", path=str(rec_file.resolve()))
        r.recording_sha256 = file_sha256(rec_file)
        sid = h.add_session(r)
    with History.open(db, readonly=True) as h:
        (s,) = h.sessions()
    assert s.id == sid and s.region == "quads" and s.source == "replay"
    assert s.analysis == r.analysis  # the full analysis object survives
    assert s.before == r.before and s.after == r.after
    assert [x["score"] for x in s.holds] == [74, 88] and s.mean_hold_score == 81
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APP_ID
    assert con.execute("SELECT COUNT(*) FROM holds").fetchone()[0] == 2
    assert json.loads(con.execute("SELECT feedback_json FROM holds WHERE idx = 1").fetchone()[0])[0] == "Held 62 s."
    con.close()


def test_find_by_recording_path_then_contents(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    f = tmp_path / "a.csv"
    f.write_text("# format: holdsense-recording/1\nt_s,force_n\n0,1\n")
    with History.open(db) as h:
        r = _record("2026-11-24T10:00:00Z", path=str(f.resolve()))
        r.recording_sha256 = file_sha256(f)
        h.add_session(r)
        h.add_session(_record("2026-11-25T10:00:00Z", path=str(tmp_path / "other.csv")))
        assert h.find_by_recording(f).id == r.id
        moved = tmp_path / "moved.csv"
        f.rename(moved)
        assert h.find_by_recording(moved).id == r.id  # same bytes, new place
        unknown = tmp_path / "u.csv"
        unknown.write_text("# format: holdsense-recording/1\nt_s,force_n\n0,2\n")
        assert h.find_by_recording(unknown) is None


def test_default_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDSENSE_HISTORY", str(tmp_path / "env.sqlite3"))
    assert default_db_path(None) == tmp_path / "env.sqlite3"
    assert default_db_path(tmp_path / "cli.sqlite3") == tmp_path / "cli.sqlite3"
    monkeypatch.delenv("HOLDSENSE_HISTORY")
    import platformdirs
    assert default_db_path(None) == Path(platformdirs.user_data_dir("holdsense", appauthor=False)) / "history.sqlite3"


def test_migrates_v1_fixture_and_keeps_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _make_v1(db)
    original = _dump(db)
    with History.open(db) as h:
        assert h.migrated_from == 1 and h.version == SCHEMA_VERSION
        assert h.backup_path is not None and _dump(h.backup_path) == original  # same content, v1
        ss = h.sessions()
    assert [s.id for s in ss] == [1, 2, 3] and all(s.source == "migrated" for s in ss)
    s1, s2, s3 = ss
    assert (s1.before.pain_0_10, s1.before.rom_deg, s1.before.ease_0_10) == (5, 40.0, 4)
    assert (s2.before.rom_deg, s2.after.rom_deg) == (45.0, 60.0)  # "45°" and "60" became degrees
    assert s3.before.rom_text == "toe 4 cm from wall" and s3.before.rom_deg is None and s3.before.ease_0_10 is None
    assert s1.holds[0]["feedback"] == ["Held 35 s: past the 30 s release window.", "Pressure light: good."]
    assert s2.holds[2]["feedback"] == []
    assert s1.summary["holds_over_30s"] == 2 and s1.summary["off_s"] == 25.0
    # the backup is a real, readable v1 database
    con = sqlite3.connect(h.backup_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM holds").fetchone()[0] == 6
    con.close()
    # migrated once: a second open neither migrates nor backs up again
    with History.open(db) as h:
        assert h.migrated_from is None and h.backup_path is None
        h.add_session(_record("2026-11-24T10:00:00Z"))
        assert len(h.sessions()) == 4
    # a migration copies, never overwrites a backup: a second v1 file gets a new name
    db2 = tmp_path / "h2.sqlite3"
    _make_v1(db2)
    (tmp_path / "h2.sqlite3.v1.bak").write_text("an older backup")
    with History.open(db2) as h:
        assert h.backup_path.name == "h2.sqlite3.v1.1.bak"
    assert (tmp_path / "h2.sqlite3.v1.bak").read_text() == "an older backup"


def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _make_v1(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE sessions SET before_pain = 14 WHERE id = 2")  # v1 never checked the 0-10 range
    con.commit()
    con.close()
    original = db.read_bytes()
    with pytest.raises(HistoryError):
        History.open(db)
    assert db.read_bytes() == original  # rolled back: still v1, nothing lost
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 3
    con.close()


def test_readonly_open_never_creates_or_migrates(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        History.open(tmp_path / "none.sqlite3", readonly=True)
    assert not (tmp_path / "none.sqlite3").exists()
    db = tmp_path / "h.sqlite3"
    _make_v1(db)
    original = db.read_bytes()
    with pytest.raises(HistoryError, match="needs migrating"):
        History.open(db, readonly=True)
    assert db.read_bytes() == original


def _damaged_db(tmp_path: Path) -> Path:
    db = tmp_path / "damaged.sqlite3"
    with History.open(db) as h:
        for i in range(30):
            h.add_session(_record(f"2026-11-{1 + i % 28:02d}T10:00:00Z"))
    raw = bytearray(db.read_bytes())
    page = 4096
    assert len(raw) > 3 * page
    raw[2 * page:2 * page + 200] = b"\xff" * 200  # wreck a b-tree page header
    db.write_bytes(bytes(raw))
    return db


@pytest.mark.parametrize("kind", ["text", "damaged", "foreign", "newer"])
def test_unusable_database_is_refused_and_untouched(tmp_path: Path, kind: str) -> None:
    if kind == "text":
        db = tmp_path / "notes.txt"
        db.write_text("my training notes, not a database\n" * 50)
    elif kind == "damaged":
        db = _damaged_db(tmp_path)
    elif kind == "foreign":
        db = tmp_path / "other.sqlite3"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE recipes (name TEXT)")
        con.execute("INSERT INTO recipes VALUES ('soup')")
        con.commit()
        con.close()
    else:
        db = tmp_path / "newer.sqlite3"
        with History.open(db):
            pass
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.close()
    original = db.read_bytes()
    with pytest.raises(HistoryError) as ei:
        History.open(db)
    assert str(db) in str(ei.value)
    assert db.read_bytes() == original
    # the CLI: one clear line, exit 2, for listing and for storing a session
    p = _cli("history", "--db", str(db))
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("holdsense: error: ") and "Traceback" not in p.stderr
    assert db.read_bytes() == original
    assert list(tmp_path.glob("*.bak")) == []


def test_locked_database_gives_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with History.open(db) as h:
        h.add_session(_record("2026-11-24T10:00:00Z"))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing right now
    try:
        with pytest.raises(HistoryError, match="locked"):
            History.open(db, lock_timeout_s=0.2)
        p = _cli("history", "--db", str(db))
        assert p.returncode == 2 and "locked" in p.stderr and p.stderr.count("\n") == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # the lock taken after opening: storing fails cleanly, then works once it is free
    h = History.open(db, lock_timeout_s=0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(HistoryError, match="locked"):
        h.add_session(_record("2026-11-25T10:00:00Z"))
    holder.execute("ROLLBACK")
    holder.close()
    h.add_session(_record("2026-11-25T10:00:00Z"))
    assert len(h.sessions()) == 2
    h.close()


def test_weekly_trends() -> None:
    ss = [_record("2026-11-02T10:00:00Z", pain=(5, 3), rom=(40.0, 50.0)),   # Monday
          _record("2026-11-08T23:59:00Z", pain=(4, 4), rom=(42.0, 46.0)),   # Sunday, same week
          _record("2026-11-09T00:01:00Z", pain=(4, 1), rom=(45.0, 60.0)),   # next Monday
          _record("2026-11-03T10:00:00Z", region="calves")]
    ts = weekly_trends(ss)
    assert [(t.region, t.week_start.isoformat(), t.sessions) for t in ts] == [
        ("calves", "2026-11-02", 1), ("quads", "2026-11-02", 2), ("quads", "2026-11-09", 1)]
    q1 = ts[1]
    assert q1.hold_s == pytest.approx(2 * 97.0)
    assert q1.mean_pain_change == pytest.approx(-1.0)
    assert q1.mean_rom_change_deg == pytest.approx(7.0)
    assert q1.mean_ease_change == pytest.approx(3.0)
    assert q1.mean_hold_score == pytest.approx(81.0)
    assert q1.holds_over_30s == 4
    assert ts[2].mean_pain_change == pytest.approx(-3.0)


def test_history_cli_lists_trends_and_plots(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    p = _cli("history", env={"HOLDSENSE_HISTORY": str(db)})
    assert p.returncode == 0 and "no sessions stored yet" in p.stdout
    assert not db.exists()  # listing never creates the file
    with History.open(db) as h:
        h.add_session(_record("2026-11-02T10:00:00Z", path="/data/rec/one.csv"))
        h.add_session(_record("2026-11-09T10:00:00Z", pain=(4, 1), path="/data/rec/two.csv"))
        h.add_session(_record("2026-11-10T10:00:00Z", region="calves"))
    p = _cli("history", env={"HOLDSENSE_HISTORY": str(db)})
    assert p.returncode == 0, p.stderr
    assert "one.csv" in p.stdout and "two.csv" in p.stdout and "5 → 3" in p.stdout and "4 → 1" in p.stdout
    assert "quads       2026-11-09" in p.stdout and "-3.0" in p.stdout
    p = _cli("history", "--db", str(db), "--region", "calf", "--json")
    out = json.loads(p.stdout)
    assert [s["region"] for s in out["sessions"]] == ["calves"]
    assert out["sessions"][0]["change"]["pain_delta"] == -2 and out["trends"][0]["hold_s"] == 97.0
    png = tmp_path / "trend.png"
    p = _cli("history", "--db", str(db), "--plot", str(png))
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    p = _cli("history", "--db", str(db), "--region", "elbows")
    assert p.returncode == 2 and "unknown region" in p.stderr


def test_history_cli_migrates_v1(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _make_v1(db)
    p = _cli("history", "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "migrated from schema v1" in p.stderr and (tmp_path / "h.sqlite3.v1.bak").exists()
    assert "toe 4 cm" not in p.stdout  # words are kept in the DB, the table shows pain
    assert "5 → 3" in p.stdout and "calves" in p.stdout


def test_migrates_a_v2_database_made_before_clients(tmp_path: Path) -> None:
    """A history written by the holdsense before clients (schema v2): `report` reads it as it is, unchanged;
    the first writing open migrates it to v3 after a v2 backup, every session kept and taken as your own; a
    client's session stored next is kept apart from them."""
    db = tmp_path / "h.sqlite3"
    _make_v2(db)
    original, raw = _dump(db), db.read_bytes()
    with History.open(db, readonly=True) as h:  # what `report` does: no migration, no write
        old = h.sessions()
        assert h.version == 2 and h.clients() == [(None, 2)]
        assert h.sessions(client="Anna") == []
    assert db.read_bytes() == raw
    assert [(s.id, s.region, s.client, s.session_score) for s in old] == [(1, "quads", None, 87), (2, "calves", None, 93)]
    with History.open(db) as h:
        assert h.migrated_from == 2 and h.version == SCHEMA_VERSION == 3
        assert h.backup_path.name == "h.sqlite3.v2.bak" and _dump(h.backup_path) == original
        migrated = h.sessions()
        assert [(s.id, s.client, s.analysis, s.before, s.after) for s in migrated] == \
            [(s.id, None, s.analysis, s.before, s.after) for s in old]
        assert [s.id for s in h.sessions(client=None)] == [1, 2]  # your own: every session stored before
        h.add_session(SessionRecord(**{**_record("2026-11-24T10:00:00Z").__dict__, "client": "Anna Berg"}))
    with History.open(db, readonly=True) as h:
        assert [s.id for s in h.sessions(client=None)] == [1, 2]
        assert [(s.id, s.client) for s in h.sessions(client="anna berg")] == [(3, "Anna Berg")]
        assert h.clients() == [(None, 2), ("Anna Berg", 1)]
    # and through the CLI: a v2 file is migrated once, with a note, and lists what it held
    db2 = tmp_path / "cli.sqlite3"
    _make_v2(db2)
    p = _cli("history", "--db", str(db2))
    assert p.returncode == 0, p.stderr
    assert "migrated from schema v2 to v3" in p.stderr and (tmp_path / "cli.sqlite3.v2.bak").exists()
    assert "quads" in p.stdout and "calves" in p.stdout and "5 → 3" in p.stdout and "not shown" not in p.stdout


def test_trends_and_plot_keep_people_and_regions_apart() -> None:
    """Two people's quads sessions in one week are two trends, not one mean; the plot draws one score line per
    region (quads, calves, quads: the line joins the two quads sessions only) and refuses several people."""
    from holdsense.commands.history import sessions_figure
    from holdsense.errors import UserError

    a = _record("2026-11-24T10:00:00Z", pain=(5, 3))
    b = _record("2026-11-25T10:00:00Z", pain=(7, 6))
    a.client, b.client = "Anna", "Ben"
    ts = weekly_trends([a, b])
    assert [(t.client, t.region, t.sessions, t.mean_pain_change) for t in ts] == \
        [("Anna", "quads", 1, -2.0), ("Ben", "quads", 1, -1.0)]
    with pytest.raises(UserError, match="one person's sessions"):
        sessions_figure([a, b])
    import matplotlib.pyplot as plt

    ss = [_record("2026-11-24T10:00:00Z"), _record("2026-11-25T10:00:00Z", region="calves"),
          _record("2026-11-26T10:00:00Z")]
    for i, s in enumerate(ss, 1):
        s.id, s.analysis["summary"]["session_score"] = i, 60 + 10 * i
    fig = sessions_figure(ss, name="Anna")
    try:
        lines = {ln.get_gid(): ln for ln in fig.axes[1].get_lines() if ln.get_gid()}
        assert set(lines) == {"score-line-quads"}  # calves has one session: no line
        assert list(lines["score-line-quads"].get_xdata()) == [0, 2]
        assert list(lines["score-line-quads"].get_ydata()) == [70.0, 90.0]
        assert fig.axes[0].get_title(loc="left").startswith("holdsense history: Anna")
    finally:
        plt.close(fig)


def test_history_plot_reads_from_one_session_on(tmp_path: Path) -> None:
    """One session: one narrow bar, its session score (the same number the session and report show),
    its pain before -> after; the plot is not an empty weekly axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from holdsense.commands.history import sessions_figure

    rec = _record("2026-11-02T10:00:00Z")
    rec.id = 1
    fig = sessions_figure([rec], name="Alex")
    hold_ax, score_ax, pain_ax = fig.axes[:3]
    (bar,) = [p for p in hold_ax.patches if p.get_height() > 0]
    assert bar.get_height() == pytest.approx(97.0 / 60)
    x0, x1 = hold_ax.get_xlim()
    assert 0.1 < bar.get_width() / (x1 - x0) < 0.3  # a bar, not a page-wide slab or a sliver
    assert any(t.get_text() == "2 holds" for t in hold_ax.texts)
    (pts,) = [c for c in score_ax.collections if c.get_gid() == "session-scores"]
    assert pts.get_offsets()[0][1] == rec.session_score == rec.analysis["summary"]["session_score"]
    assert any(t.get_text() == str(rec.session_score) for t in score_ax.texts)
    assert [ln.get_ydata()[0] for ln in pain_ax.lines if ln.get_gid() == "pain-before"] == [5]
    assert [ln.get_ydata()[0] for ln in pain_ax.lines if ln.get_gid() == "pain-after"] == [3]
    assert "Alex" in hold_ax.get_title(loc="left") and "1 session" in hold_ax.get_title(loc="left")
    plt.close(fig)
    # through the CLI with one stored session: the bar's colour fills a good part of the picture
    db = tmp_path / "h.sqlite3"
    with History.open(db) as h:
        h.add_session(_record("2026-11-02T10:00:00Z"))
    png = tmp_path / "one.png"
    p = _cli("history", "--db", str(db), "--plot", str(png))
    assert p.returncode == 0, p.stderr
    import matplotlib.image as mpimg

    img = mpimg.imread(png)[..., :3]
    c0 = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's C0, the only region's colour
    share = (np.abs(img - c0).sum(axis=2) < 0.05).mean()
    assert 0.01 < share < 0.2


def test_history_lists_local_time_with_zone(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with History.open(db) as h:
        h.add_session(_record("2026-11-02T10:00:00Z"))
        h.add_session(_record("2026-07-02T10:00:00Z"))
    p = _cli("history", "--db", str(db), env={"TZ": "Europe/Berlin"})
    assert p.returncode == 0, p.stderr
    assert "2026-11-02 11:00 CET" in p.stdout and "2026-07-02 12:00 CEST" in p.stdout and "date (local time)" in p.stdout


def test_history_lengths_round_to_the_second_before_minutes(tmp_path: Path) -> None:
    """A session of 419.6 s lists as 7:00 (as the session summary and the report say), never as 6:60."""
    from holdsense.commands.history import format_history

    rec = _record("2026-11-02T10:00:00Z")
    rec.analysis["summary"].update(duration_s=419.6, hold_s=179.5)
    rec.id = 1
    text = format_history([rec], weekly_trends([rec]), "history: x")
    assert "6:60" not in text and "2:60" not in text
    row = next(ln for ln in text.splitlines() if ln.strip().startswith("1 "))
    assert " 7:00 " in row and " 3:00 " in row
