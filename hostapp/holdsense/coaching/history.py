"""Session history in SQLite (standard library `sqlite3`): sessions, holds, before/after tests, trends.

Where: `--db PATH`, else `$HOLDSENSE_HISTORY`, else `history.sqlite3` in the
user's data directory (platformdirs: ~/.local/share/holdsense on Linux).

Safety of existing data, the rule every path here follows:
- a file that is not a SQLite database, a damaged one, or a database of some
  other program → `HistoryError` (a UserError: one line, exit 2), file untouched;
- a database locked by another program → `HistoryError` after a short wait;
- a schema newer than this version knows → `HistoryError`, untouched;
- an older schema is migrated in one transaction (all or nothing) after a copy
  of the file is saved beside it (`<name>.v<N>.bak`), never overwriting a copy;
- reading commands open the file read-only and never create it.

Schema versions (PRAGMA user_version; PRAGMA application_id marks the file as ours):
- v1: sessions with the before/after answers as columns, holds with feedback as
  newline-joined text.
- v2: before/after tests in their own table (pain, range of motion in
  degrees or words, ease, the movement tested), the whole analysis JSON kept,
  the recording's SHA-256 so a moved recording is still recognised, hold
  travel/spot. The analysis JSON of sessions stored since the report reuses
  them also carries `scored_with` (body mass and guidance profile the scores
  came from); older ones lack it, so v2 needed no new version.
- v3 (current): `sessions.client`, whose session it was (`--client NAME`; NULL for
  the default profile, as every session stored before v3). A v2 file is read
  as it is by read-only opens (`report`): no session names a client.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .flow import MovementTest, compare_tests, parse_rom, session_score
from ..errors import UserError
from ..verdict import mean_hold_score

APP_ID = 0x486F6C64  # "Hold": marks a holdsense history database
SCHEMA_VERSION = 3
#: The oldest schema a read-only open reads without migrating (v2 lacks only `sessions.client`).
READABLE_FROM = 2
DB_FILENAME = "history.sqlite3"
ENV_VAR = "HOLDSENSE_HISTORY"
LOCK_TIMEOUT_S = 2.0  # how long to wait for another writer before saying "locked"
#: Key, in the stored analysis JSON, of the inputs the session was scored with (SessionRecord.scored_with).
#: Inside the JSON rather than new columns: two optional values, and no schema migration for every history.
SCORED_WITH = "scored_with"
#: Key, in the stored analysis JSON, of a live session whose recording could not be written to its end (disk
#: full): {"reason": the error, "kept_s": seconds of session in the recording}. The analysis is then that of
#: the samples the recording kept. Inside the JSON, as SCORED_WITH: no schema migration for one optional value.
RECORDING_STOPPED = "recording_stopped"


class HistoryError(UserError):
    """The history database cannot be used (corrupt, locked, foreign, too new); it was left untouched."""


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The history file: `explicit` (--db), else $HOLDSENSE_HISTORY, else the user's data directory."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs  # only here: tests and --db never touch the user's real data dir

    return Path(platformdirs.user_data_dir("holdsense", appauthor=False)) / DB_FILENAME


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a file's bytes (to recognise a recording after it was moved), None if unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


@dataclass
class SessionRecord:
    """One stored session. `analysis` is the holdsense-analysis/1 object (contracts.md §3)."""

    started_utc: str
    region: str | None
    analysis: dict[str, Any]
    recording_path: str | None = None
    recording_sha256: str | None = None
    before: MovementTest | None = None
    after: MovementTest | None = None
    source: str = "session"  # "session" (live), "replay" or "migrated"
    id: int | None = None
    stored_utc: str | None = None
    client: str | None = None  # whose session (--client NAME); None: the default profile's

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.analysis.get("summary") or {})

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.analysis.get("holds") or [])

    @property
    def session_score(self) -> int | None:
        """The session's score: the same number the session summary and the report show (coaching.session_score)."""
        return session_score(self.analysis)

    @property
    def scored_with(self) -> dict[str, Any] | None:
        """The inputs the session's scores came from: {"body_mass_kg": kg or None, "profile": guidance
        profile name or None (the default)}; None for sessions stored before this was kept.

        Kept so `holdsense report` can score the recording again exactly as the session did: the body mass
        may have come from --body-mass or the answers file, not from the recording's header.
        """
        inputs = self.analysis.get(SCORED_WITH)
        return dict(inputs) if isinstance(inputs, dict) else None

    @property
    def recording_stopped(self) -> dict[str, Any] | None:
        """{"reason": ..., "kept_s": ...} when the session's recording stopped early (it could not be written
        any further) and the session holds only what it kept; None for a recording written to its end."""
        v = self.analysis.get(RECORDING_STOPPED)
        return dict(v) if isinstance(v, dict) else None

    @property
    def mean_hold_score(self) -> float | None:
        """Mean of the hold scores (a detail: the session's own score is `session_score`), without the holds
        cut off short as the session score leaves them out (holdsense.verdict.mean_hold_score)."""
        return mean_hold_score(self.holds)

    @property
    def started(self) -> dt.datetime:
        return parse_utc(self.started_utc)


def parse_utc(text: str) -> dt.datetime:
    """ISO 8601 → aware UTC datetime (accepts a trailing Z)."""
    s = str(text).strip().replace("Z", "+00:00")
    try:
        d = dt.datetime.fromisoformat(s)
    except ValueError:
        raise HistoryError(f"bad timestamp in history: {text!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.astimezone(dt.timezone.utc)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- schema ----------------------------------------------------------------------

SCHEMA_V2 = """
CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    started_utc      TEXT NOT NULL,
    stored_utc       TEXT NOT NULL,
    source           TEXT NOT NULL DEFAULT 'session',
    recording_path   TEXT,
    recording_sha256 TEXT,
    region           TEXT,
    duration_s       REAL,
    hold_s           REAL,
    roll_s           REAL,
    off_s            REAL,
    holds            INTEGER,
    holds_over_30s   INTEGER,
    session_score    INTEGER,
    analysis_json    TEXT NOT NULL
);
CREATE INDEX sessions_region_time ON sessions(region, started_utc);
CREATE INDEX sessions_path ON sessions(recording_path);
CREATE INDEX sessions_sha ON sessions(recording_sha256);
CREATE TABLE holds (
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    start_s       REAL NOT NULL,
    end_s         REAL NOT NULL,
    duration_s    REAL NOT NULL,
    mean_force_n  REAL,
    travel_cm     REAL,
    spot_cm       REAL,
    score         INTEGER,
    grade         TEXT,
    feedback_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE tests (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    phase      TEXT NOT NULL CHECK (phase IN ('before', 'after')),
    movement   TEXT,
    pain_0_10  INTEGER CHECK (pain_0_10 BETWEEN 0 AND 10),
    rom_deg    REAL,
    rom_text   TEXT,
    ease_0_10  INTEGER CHECK (ease_0_10 BETWEEN 0 AND 10),
    PRIMARY KEY (session_id, phase)
);
"""


def _migrate_v1_to_v2(con: sqlite3.Connection) -> None:
    """v1 kept the tests as sessions columns and feedback as text; move both into the v2 shape."""
    con.execute("ALTER TABLE sessions RENAME TO sessions_v1")
    con.execute("ALTER TABLE holds RENAME TO holds_v1")
    con.execute("DROP INDEX IF EXISTS v1_sessions_region")
    for stmt in SCHEMA_V2.split(";"):
        if stmt.strip():
            con.execute(stmt)
    rows = con.execute("SELECT id, started_utc, recording_path, region, duration_s, hold_s, roll_s, holds, "
                       "session_score, before_pain, before_rom, before_ease, after_pain, after_rom, after_ease "
                       "FROM sessions_v1 ORDER BY id").fetchall()
    for (sid, started, path, region, dur, hold_s, roll_s, nholds, score,
         b_pain, b_rom, b_ease, a_pain, a_rom, a_ease) in rows:
        holds = []
        for (idx, start_s, end_s, d_s, force, h_score, grade, feedback) in con.execute(
                "SELECT idx, start_s, end_s, duration_s, mean_force_n, score, grade, feedback FROM holds_v1 "
                "WHERE session_id = ? ORDER BY idx", (sid,)):
            holds.append({"start_s": start_s, "end_s": end_s, "duration_s": d_s, "mean_force_n": force,
                          "force_cv": None, "travel_cm": None, "spot_cm": None, "score": h_score, "grade": grade,
                          "feedback": [ln for ln in (feedback or "").split("\n") if ln.strip()]})
        off_s = None if dur is None or hold_s is None or roll_s is None else max(0.0, dur - hold_s - roll_s)
        analysis = {
            "format": "holdsense-analysis/1", "source": path, "segments": [],
            "holds": holds,
            "summary": {"duration_s": dur, "hold_s": hold_s, "roll_s": roll_s, "off_s": off_s,
                        "holds": nholds if nholds is not None else len(holds),
                        "holds_over_30s": sum(1 for h in holds if (h["duration_s"] or 0) >= 30),
                        "session_score": score, "advice": []},
            "quality": {"warnings": ["migrated from history schema v1: segments not kept"]},
        }
        before = MovementTest(b_pain, *parse_rom(b_rom), b_ease)
        after = MovementTest(a_pain, *parse_rom(a_rom), a_ease)
        rec = SessionRecord(started_utc=started, region=region, analysis=analysis, recording_path=path,
                            before=None if before.is_empty() else before,
                            after=None if after.is_empty() else after, source="migrated",
                            stored_utc=started, id=sid)
        _insert(con, rec, v2=True)
    con.execute("DROP TABLE holds_v1")
    con.execute("DROP TABLE sessions_v1")


def _migrate_v2_to_v3(con: sqlite3.Connection) -> None:
    """v3 names whose session it was: a nullable `client` column (NULL: the default profile's, which every
    session stored before v3 is taken to be)."""
    con.execute("ALTER TABLE sessions ADD COLUMN client TEXT")
    con.execute("CREATE INDEX sessions_client_time ON sessions(client, started_utc)")


MIGRATIONS = {1: _migrate_v1_to_v2, 2: _migrate_v2_to_v3}  # from version N to N+1


def _insert(con: sqlite3.Connection, rec: SessionRecord, *, v2: bool = False) -> int:
    """Insert one session; `v2`: into the v2 layout (no client column), for the v1 -> v2 migration."""
    s = rec.summary
    client_col, client_val = ((), ()) if v2 else ((", client",), (rec.client,))
    cur = con.execute(
        "INSERT INTO sessions (id, started_utc, stored_utc, source, recording_path, recording_sha256, region, "
        "duration_s, hold_s, roll_s, off_s, holds, holds_over_30s, session_score, analysis_json"
        + "".join(client_col) + ") VALUES (" + ",".join("?" * (15 + len(client_val))) + ")",
        (rec.id, rec.started_utc, rec.stored_utc or utc_now_iso(), rec.source, rec.recording_path,
         rec.recording_sha256, rec.region, s.get("duration_s"), s.get("hold_s"), s.get("roll_s"), s.get("off_s"),
         s.get("holds", len(rec.holds)), s.get("holds_over_30s"), s.get("session_score"),
         json.dumps(rec.analysis, separators=(",", ":")), *client_val))
    sid = int(cur.lastrowid)
    for i, h in enumerate(rec.holds):
        con.execute("INSERT INTO holds VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (sid, i, h.get("start_s"), h.get("end_s"), h.get("duration_s"), h.get("mean_force_n"),
                     h.get("travel_cm"), h.get("spot_cm"), h.get("score"), h.get("grade"),
                     json.dumps(list(h.get("feedback") or []))))
    for phase, t in (("before", rec.before), ("after", rec.after)):
        if t is not None:
            con.execute("INSERT INTO tests VALUES (?,?,?,?,?,?,?)",
                        (sid, phase, t.movement, t.pain_0_10, t.rom_deg, t.rom_text, t.ease_0_10))
    return sid


# --- the database ------------------------------------------------------------------

#: `History.sessions(client=ALL_CLIENTS)`: everyone's sessions.
ALL_CLIENTS: Any = object()


def _same_client(stored: str | None, wanted: str) -> bool:
    from ..userprofile import same_person

    return same_person(stored, wanted)


def _client_key(name: str) -> str:
    """The key client names are matched by (userprofile.client_key), for a name read back from the file."""
    from ..userprofile import client_key
    from ..errors import UserError

    try:
        return client_key(name)
    except UserError:  # not a name --client takes (empty, too long): grouped by its own text
        return name


def _classify(exc: sqlite3.Error, path: Path) -> HistoryError:
    msg = str(exc)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return HistoryError(f"{path}: history database is locked by another program (another holdsense "
                            "session?); try again when it has finished")
    if "not a database" in low or "malformed" in low or "corrupt" in low or "disk image" in low:
        return HistoryError(f"{path}: not a readable history database ({msg}); it was left untouched: move it "
                            "aside or choose another file with --db")
    if "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low:
        return HistoryError(f"{path}: cannot open the history database ({msg})")
    return HistoryError(f"{path}: history database error: {msg}")


class History:
    """An open history database. Use `History.open(path)` (write) or `History.open(path, readonly=True)`."""

    def __init__(self, con: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self._con = con
        self.path = path
        self.readonly = readonly
        self.migrated_from: int | None = None
        self.backup_path: Path | None = None
        self._has_client = True  # False: a v2 file opened read-only (no session names a client)

    # -- opening
    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, readonly: bool = False,
             lock_timeout_s: float = LOCK_TIMEOUT_S) -> "History":
        """Open (and for writing, create or migrate) the history at `path` (None: default_db_path()).

        Read-only opens never create or change the file; a missing file raises
        FileNotFoundError so a caller can say "no sessions yet".
        """
        p = default_db_path(path)
        if p.is_dir():
            raise HistoryError(f"{p}: is a directory, not a history database file")
        exists = p.exists()
        if readonly and not exists:
            raise FileNotFoundError(str(p))
        if not exists:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(f"{p}: cannot create its folder ({exc.strerror or exc})") from None
        uri = f"{p.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=lock_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise _classify(exc, p) from None
        h = cls(con, p, readonly)
        try:
            h._prepare(new_file=not exists)
        except sqlite3.Error as exc:
            con.close()
            raise _classify(exc, p) from None
        except BaseException:
            con.close()
            raise
        return h

    def _prepare(self, new_file: bool) -> None:
        con = self._con
        con.execute("PRAGMA foreign_keys = ON")
        # Reading the header fails on a non-database file ("file is not a database") before anything is written.
        version = con.execute("PRAGMA user_version").fetchone()[0]
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id not in (0, APP_ID) or (app_id == 0 and tables):
            raise HistoryError(f"{self.path}: a SQLite database of another program, not a holdsense history; "
                               "left untouched (choose another file with --db)")
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path}: history schema v{version} is newer than this holdsense knows "
                               f"(v{SCHEMA_VERSION}); upgrade holdsense. The file was left untouched")
        check = con.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            check = " ".join(str(check).replace("*** in database main ***", "").split())  # one line
            raise HistoryError(f"{self.path}: history database is damaged ({check}); left untouched: move it aside "
                               "or choose another file with --db")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version == 0 and not tables:
                raise FileNotFoundError(str(self.path))  # an empty file: nothing stored yet
            if READABLE_FROM <= version:
                self._has_client = False  # read as it is: `report` never changes the file
                return
            raise HistoryError(f"{self.path}: history schema v{version} needs migrating to v{SCHEMA_VERSION}; "
                               "run `holdsense history` once to migrate it (a backup copy is kept)")
        self._migrate(version, new_file or not tables)

    def _migrate(self, version: int, empty: bool) -> None:
        con = self._con
        if not empty:
            self.backup_path = self._backup(version)
        con.execute("BEGIN IMMEDIATE")  # take the write lock first: a busy database fails here, unchanged
        try:
            # Re-read under the lock: another process may have migrated meanwhile.
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for stmt in SCHEMA_V2.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                for v in range(2, SCHEMA_VERSION):
                    MIGRATIONS[v](con)  # a new file: v2's tables, then each later change
                con.execute(f"PRAGMA application_id = {APP_ID}")
            else:
                start = version
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](con)
                    version += 1
                self.migrated_from = start
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _backup(self, version: int) -> Path:
        """Copy the database (SQLite's online backup: consistent even while others read) before migrating."""
        n = 0
        while True:
            dest = self.path.with_name(f"{self.path.name}.v{version}{'' if n == 0 else f'.{n}'}.bak")
            if not dest.exists():
                break
            n += 1
        out = sqlite3.connect(dest)
        try:
            self._con.backup(out)
        finally:
            out.close()
        return dest

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    # -- writing
    def add_session(self, rec: SessionRecord) -> int:
        """Store a session (analysis, holds, tests) in one transaction; returns its id."""
        sid = self._transaction(lambda: _insert(self._con, rec))
        rec.id = sid
        return sid

    def _transaction(self, work: Callable[[], Any]) -> Any:
        """Run `work` in one write transaction (the write lock first: a session stored meanwhile by another
        program comes before or after it, never inside); rolled back on any error. Returns what `work` does."""
        if self.readonly:
            raise HistoryError(f"{self.path}: opened read-only")
        try:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                out = work()
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        return out

    def rename_client(self, old: str, new: str) -> int:
        """Store client `old`'s sessions (matched as client names are) under the name `new`, in one transaction;
        returns how many. Why: `holdsense profile --rename-client` must carry a client's history along, so
        `history --client NEW` shows it."""
        return self._change_client(old, "UPDATE sessions SET client = ? WHERE id = ?", new)

    def delete_client(self, name: str) -> int:
        """Delete client `name`'s sessions (their holds and tests with them), in one transaction; returns how
        many. Only `holdsense profile --remove-client NAME --with-history` calls it: recorded history is never
        deleted by a command that was not told so. The deleted rows are erased from the file, not only unlinked
        (secure_delete zeroes them, VACUUM drops the freed pages): a client asked to be forgotten is."""
        if self.readonly:
            raise HistoryError(f"{self.path}: opened read-only")
        try:
            self._con.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        n = self._change_client(name, "DELETE FROM sessions WHERE id = ?")
        if n:
            try:
                self._con.execute("VACUUM")
            except sqlite3.Error as exc:
                raise _classify(exc, self.path) from None
        return n

    def _change_client(self, name: str, sql: str, *params: Any) -> int:
        def work() -> int:  # in the transaction: a session of theirs stored meanwhile is included
            ids = [sid for sid, who in self._con.execute("SELECT id, client FROM sessions WHERE client IS NOT NULL")
                   if _same_client(who, name)]
            for sid in ids:
                self._con.execute(sql, (*params, sid))
            return len(ids)

        return self._transaction(work)

    # -- reading
    def sessions(self, region: str | None = None, client: Any = ALL_CLIENTS) -> list[SessionRecord]:
        """Stored sessions, oldest first, optionally of one region and of one client: `client` None for the
        default profile's (stored without a client), a name for that client's (matched as client names are,
        without regard to case or spacing), ALL_CLIENTS (the default) for everyone's."""
        sql = ("SELECT id, started_utc, stored_utc, source, recording_path, recording_sha256, region, analysis_json, "
               + ("client" if self._has_client else "NULL") + " FROM sessions")
        where: list[str] = []
        params: list[Any] = []
        if region:
            where.append("region = ?")
            params.append(region)
        if client is None and self._has_client:
            where.append("client IS NULL")
        elif client is not None and client is not ALL_CLIENTS:
            if not self._has_client:
                return []
            where.append("client IS NOT NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_utc, id"
        try:
            rows = self._con.execute(sql, params).fetchall()
            tests = self._tests([r[0] for r in rows])
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        out = []
        for sid, started, stored, source, path, sha, reg, analysis_json, who in rows:
            if isinstance(client, str) and not _same_client(who, client):
                continue
            t = tests.get(sid, {})
            out.append(SessionRecord(started_utc=started, region=reg, analysis=json.loads(analysis_json),
                                     recording_path=path, recording_sha256=sha, before=t.get("before"),
                                     after=t.get("after"), source=source, id=sid, stored_utc=stored, client=who))
        return out

    def clients(self) -> list[tuple[str | None, int]]:
        """(client, number of sessions) for everyone with sessions stored, None (the default profile's) first."""
        if not self._has_client:
            n = self._con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            return [(None, int(n))] if n else []
        try:
            rows = self._con.execute("SELECT client, COUNT(*) FROM sessions GROUP BY client").fetchall()
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        merged: dict[str | None, list] = {}  # one entry per person, however their name was spelt
        for c, n in sorted(rows, key=lambda r: (r[0] is None, r[0] or "")):
            entry = merged.setdefault(None if c is None else _client_key(c), [c, 0])
            entry[1] += int(n)
        return sorted(((c, n) for c, n in merged.values()), key=lambda r: (r[0] is not None, (r[0] or "").casefold()))

    def _tests(self, ids: list[int]) -> dict[int, dict[str, MovementTest]]:
        out: dict[int, dict[str, MovementTest]] = {}
        if not ids:
            return out
        for sid, phase, movement, pain, rom_deg, rom_text, ease in self._con.execute(
                "SELECT session_id, phase, movement, pain_0_10, rom_deg, rom_text, ease_0_10 FROM tests"):
            out.setdefault(sid, {})[phase] = MovementTest(pain, rom_deg, rom_text, ease, movement)
        return out

    def find_by_recording(self, path: str | os.PathLike[str]) -> SessionRecord | None:
        """The latest session stored for this recording: same absolute path, else same file contents."""
        p = Path(path)
        absolute = str(p.resolve())
        sha = file_sha256(p)
        try:
            row = self._con.execute(
                "SELECT id FROM sessions WHERE recording_path = ? OR (recording_sha256 IS NOT NULL AND "
                "recording_sha256 = ?) ORDER BY (recording_sha256 = ?) DESC, id DESC LIMIT 1",
                (absolute, sha, sha)).fetchone()
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        if row is None:
            return None
        return next((s for s in self.sessions() if s.id == row[0]), None)


@dataclass
class WeekTrend:
    """One region in one ISO week (week_start = that Monday, UTC), of one client (None: the default profile)."""

    region: str
    week_start: dt.date
    sessions: int
    hold_s: float
    roll_s: float
    mean_hold_score: float | None
    mean_session_score: float | None
    mean_pain_change: float | None  # after - before, negative = less pain
    mean_ease_change: float | None
    mean_rom_change_deg: float | None
    holds_over_30s: int = 0
    client: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["week_start"] = self.week_start.isoformat()
        return d


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def weekly_trends(sessions: list[SessionRecord]) -> list[WeekTrend]:
    """Per client, region and ISO week: hold time, mean scores, mean before/after change. Sorted by client
    (the default profile's first), region, week: two people's sessions are never averaged together."""
    groups: dict[tuple[str, str, dt.date], list[SessionRecord]] = {}
    names: dict[str, str | None] = {}
    for s in sessions:
        d = s.started.date()
        monday = d - dt.timedelta(days=d.weekday())
        who = "" if s.client is None else "\x01" + _client_key(s.client)
        names.setdefault(who, s.client)
        groups.setdefault((who, s.region or "unknown", monday), []).append(s)
    out = []
    for (who, region, monday), ss in sorted(groups.items()):
        changes = [compare_tests(s.before, s.after) for s in ss if s.before and s.after]
        out.append(WeekTrend(
            region=region, week_start=monday, sessions=len(ss),
            hold_s=sum(float(s.summary.get("hold_s") or 0.0) for s in ss),
            roll_s=sum(float(s.summary.get("roll_s") or 0.0) for s in ss),
            mean_hold_score=mean_hold_score([h for s in ss for h in s.holds]),
            mean_session_score=_mean([float(s.session_score) for s in ss if s.session_score is not None]),
            mean_pain_change=_mean([c.pain_delta for c in changes if c.pain_delta is not None]),
            mean_ease_change=_mean([c.ease_delta for c in changes if c.ease_delta is not None]),
            mean_rom_change_deg=_mean([c.rom_delta_deg for c in changes if c.rom_delta_deg is not None]),
            holds_over_30s=sum(int(s.summary.get("holds_over_30s") or 0) for s in ss),
            client=names[who],
        ))
    return out


def iter_backups(path: Path) -> Iterator[Path]:
    """Backup copies made before migrations, oldest name first."""
    yield from sorted(path.parent.glob(f"{path.name}.v*.bak"))


__all__ = ["ALL_CLIENTS", "APP_ID", "SCHEMA_VERSION", "History", "HistoryError", "SessionRecord", "WeekTrend",
           "default_db_path", "file_sha256", "weekly_trends", "utc_now_iso", "parse_utc", "iter_backups"]
