"""Batch analysis of many sessions: one CSV row per hold (`--table`), one per session (`--sessions`).

Used by `holdsense analyze DIR_OR_FILES... --table OUT.csv --sessions OUT.csv`.
Column meanings are in docs/lab.md. A file that fails gets no hold rows and
a session row with its `error`, so the sessions table lists every input.
Both files are written atomically at the end (a temporary file renamed into
place), so an interrupted batch never leaves a half-written table behind.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import UserError
from ..fmt import plural
from ..verdict import mean_hold_score

HOLD_COLUMNS = ["file", "hold", "start_s", "end_s", "duration_s", "mean_force_n", "force_cv", "travel_cm",
                "spot_cm", "score", "grade", "region"]
SESSION_COLUMNS = ["file", "region", "started_utc", "device", "body_mass_kg", "duration_s", "hold_s", "roll_s",
                   "off_s", "lost_s", "holds", "holds_over_30s", "longest_hold_s", "mean_hold_score", "session_score",
                   "sample_rate_hz", "gaps", "saturated_samples", "marker_holds", "marker_matched", "warnings", "error"]
# A progress bar is worth drawing from this many files on (fewer finish before it would be read).
PROGRESS_MIN_FILES = 3


def _num(x: Any, nd: int) -> Any:
    if x is None:
        return ""
    try:
        return round(float(x), nd)
    except (TypeError, ValueError):
        return x


def hold_rows(source: str, analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The `--table` rows of one analysed session (one per hold, in time order)."""
    region = analysis.get("region") or ""
    rows = []
    for k, h in enumerate(analysis.get("holds", []), 1):
        rows.append({"file": source, "hold": k, "start_s": _num(h.get("start_s"), 3),
                     "end_s": _num(h.get("end_s"), 3), "duration_s": _num(h.get("duration_s"), 3),
                     "mean_force_n": _num(h.get("mean_force_n"), 2), "force_cv": _num(h.get("force_cv"), 4),
                     "travel_cm": _num(h.get("travel_cm"), 2), "spot_cm": _num(h.get("spot_cm"), 2),
                     "score": h.get("score", ""), "grade": h.get("grade", ""), "region": region})
    return rows


def session_row(source: str, analysis: dict[str, Any] | None, metadata: dict[str, Any] | None = None,
                error: str | None = None, reader_warnings: str = "") -> dict[str, Any]:
    """The `--sessions` row of one input: its summary, or its error. `warnings` holds the reader's warnings
    (`reader_warnings`, the lines the command printed on stderr for this file: a cut-short file, an ignored
    header value) and the analysis' `quality.warnings`, joined by " | ": a batch table must show that a
    session was read in part, not only the terminal that scrolled past."""
    row: dict[str, Any] = {c: "" for c in SESSION_COLUMNS}
    row["file"] = source
    said = [ln.removeprefix("holdsense: ").removeprefix("warning: ") for ln in reader_warnings.splitlines()
            if ln.strip()]
    row["warnings"] = " | ".join(said)
    meta = metadata or {}
    for key in ("started_utc", "device", "body_mass_kg"):
        v = meta.get(key)
        row[key] = "" if v is None else v
    if error is not None or analysis is None:
        row["error"] = error or "not analysed"
        row["region"] = meta.get("region") or ""
        return row
    s = analysis.get("summary", {})
    q = analysis.get("quality", {})
    holds = analysis.get("holds", [])
    row.update({
        "region": analysis.get("region") or meta.get("region") or "",
        "duration_s": _num(s.get("duration_s"), 3), "hold_s": _num(s.get("hold_s"), 3),
        "roll_s": _num(s.get("roll_s"), 3), "off_s": _num(s.get("off_s"), 3),
        "lost_s": _num(s.get("lost_s"), 3),  # (absent from analyses made before it existed: empty)
        "holds": s.get("holds", len(holds)), "holds_over_30s": s.get("holds_over_30s", ""),
        "longest_hold_s": _num(max((h.get("duration_s", 0) for h in holds), default=None), 3),
        "mean_hold_score": _num(mean_hold_score(holds), 1),  # holds cut off short left out, as the session score
        "session_score": s.get("session_score", ""),
        "sample_rate_hz": _num(q.get("sample_rate_hz"), 2), "gaps": q.get("gaps", ""),
        "saturated_samples": q.get("saturated_samples", ""),
    })
    # (the analysis often carries the reader's warnings too: each once)
    row["warnings"] = " | ".join(dict.fromkeys(said + [str(w) for w in q.get("warnings", [])]))
    m = analysis.get("markers")
    if m:
        row["marker_holds"] = m.get("recorded_holds", "")
        row["marker_matched"] = m.get("matched", "")
    return row


def check_output_path(path: str, option: str) -> None:
    """Fail before the batch (not after an hour of it) when an output file cannot be written."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UserError(f"{option} {path}: is a directory")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{option} {path}: not writable")


def _same_file(a: str, b: str) -> bool:
    """The two paths name one file (an existing one by inode: links and `./x` too; else the same absolute path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def write_csv(path: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV (UTF-8, header row) atomically: temporary file, then rename."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path} ({exc.strerror or exc})") from None


class BatchTables:
    """Collects hold and session rows over a batch and writes `--table` / `--sessions` at the end."""

    def __init__(self, table_path: str | None, sessions_path: str | None) -> None:
        self.table_path = table_path
        self.sessions_path = sessions_path
        if table_path:
            check_output_path(table_path, "--table")
        if sessions_path:
            check_output_path(sessions_path, "--sessions")
        if table_path and sessions_path and _same_file(table_path, sessions_path):
            raise UserError(f"--table and --sessions both name {sessions_path}: the second table would replace "
                            "the first; give each its own file")
        self.holds: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return bool(self.table_path or self.sessions_path)

    def check_inputs(self, files: list[str]) -> None:
        """Refuse (before the first file is read) a table path that is one of the batch's own inputs, or an
        existing recording: the table would replace it at the end of the batch, and the data would be gone."""
        from ..io.registry import is_readable

        for option, path in (("--table", self.table_path), ("--sessions", self.sessions_path)):
            if not path or not os.path.isfile(path):
                continue
            if any(_same_file(path, f) for f in files):
                raise UserError(f"{option} {path}: is one of the files being analysed; refusing to overwrite it "
                                "with the table")
            try:
                recording = is_readable(path)
            except Exception:  # noqa: BLE001 - unreadable or odd content: not known to be a recording
                recording = False
            if recording:
                raise UserError(f"{option} {path}: is a recording, not a table; refusing to overwrite it")

    def add(self, source: str, analysis: dict[str, Any], metadata: dict[str, Any] | None = None,
            reader_warnings: str = "") -> None:
        self.holds.extend(hold_rows(source, analysis))
        self.sessions.append(session_row(source, analysis, metadata, reader_warnings=reader_warnings))

    def add_failure(self, source: str, error: str, reader_warnings: str = "") -> None:
        self.sessions.append(session_row(source, None, None, error=error, reader_warnings=reader_warnings))

    def write(self) -> list[str]:
        """Write the tables; returns one line per file written (for the command's summary)."""
        out = []
        if self.table_path:
            write_csv(self.table_path, HOLD_COLUMNS, self.holds)
            out.append(f"{self.table_path}: {plural(len(self.holds), 'hold')}")
        if self.sessions_path:
            write_csv(self.sessions_path, SESSION_COLUMNS, self.sessions)
            out.append(f"{self.sessions_path}: {plural(len(self.sessions), 'session')}")
        return out


class _NoProgress:
    def advance(self, label: str = "") -> None:
        pass


@contextmanager
def progress(total: int, *, enabled: bool | None = None, stream: Any = None) -> Iterator[Any]:
    """A rich progress bar on stderr for a batch of `total` files, only on a terminal.

    `enabled=None` decides by itself: a TTY on stderr and at least
    PROGRESS_MIN_FILES files. Messages printed to stderr meanwhile appear
    above the bar (rich redirects them), so per-file errors stay readable.
    """
    stream = stream or sys.stderr
    if enabled is None:
        enabled = total >= PROGRESS_MIN_FILES and hasattr(stream, "isatty") and stream.isatty()
    if not enabled:
        yield _NoProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    console = Console(file=stream, force_terminal=True)
    with Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"),
                  console=console, transient=True, redirect_stdout=False, redirect_stderr=True) as prog:
        task = prog.add_task("", total=total)

        class _Bar:
            def advance(self, label: str = "") -> None:
                prog.update(task, advance=1, description=label)

        yield _Bar()
