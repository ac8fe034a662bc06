"""Reader and writer for `holdsense-recording/1` (contracts.md §1).

CSV, UTF-8, optionally gzip-compressed (`.csv.gz`). Metadata lines `# key: value`
precede a header row; `t_s` and `force_n` are required, `angle_deg`,
`raw_counts` and `flags` optional, unknown columns kept and ignored.

The reader has a fast path (numpy's C parser) for well-formed files and falls
back to a careful line-by-line parse that names the first bad line, so a 2-hour
80 Hz file loads in a fraction of a second and a broken one gets a precise error.
"""
from __future__ import annotations

import gzip
import io
import itertools
import json
import math
import os
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from rollsignal import SampleChunk, flags_to_text, text_to_flags

from ..errors import UserError
from ..messages import Listener

FORMAT_PREFIX = "holdsense-recording/"
FORMAT = "holdsense-recording/1"
SUPPORTED_MAJOR = 1
REQUIRED_COLUMNS = ("t_s", "force_n")
KNOWN_NUMERIC = ("t_s", "force_n", "angle_deg", "raw_counts")


class RecordingError(UserError):
    """A recording that cannot be read; the message names the file and, where it applies, the line."""


@dataclass
class Recording:
    """A recording in memory: metadata (JSON-decoded where a value parses as JSON), samples, extras."""

    source: str
    metadata: dict[str, Any]
    samples: SampleChunk
    columns: list[str]
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def body_mass_kg(self) -> float | None:
        v = self.metadata.get("body_mass_kg")
        try:
            return None if v in (None, "") else float(v)
        except (TypeError, ValueError):
            return None

    @property
    def region(self) -> str | None:
        v = self.metadata.get("region")
        return str(v) if v not in (None, "") else None

    @property
    def duration_s(self) -> float:
        t = self.samples.t_s
        return float(t[-1] - t[0]) if len(t) else 0.0


def parse_meta_value(text: str) -> Any:
    """A metadata value: JSON when it parses as JSON (numbers, objects), else the text."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def format_meta_value(value: Any) -> str:
    if isinstance(value, (dict, list, bool)) or value is None:
        return json.dumps(value, separators=(", ", ": "))
    if isinstance(value, str) and parse_meta_value(value) != value:
        return json.dumps(value)  # text that reads as JSON ("1.10", "true", "72"): quoted, so it reads back as text
    return str(value)


def _open_text(path: Path) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gunzip_tolerant(raw)[0]
        except OSError as exc:
            raise RecordingError(f"{path}: not a readable gzip file ({exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def gunzip_tolerant(raw: bytes) -> tuple[bytes, bool]:
    """(decompressed bytes, truncated?) of gzip members; keeps what a killed writer left.

    Shared by recordings, captures and recalibration: a recorder killed mid-write
    leaves a stream without its trailer, and everything flushed before still counts.
    """
    out = bytearray()
    truncated = False
    while raw:
        d = zlib.decompressobj(wbits=31)
        try:
            out += d.decompress(raw)
        except zlib.error as exc:
            if not out:
                raise OSError(str(exc)) from None
            truncated = True
            break
        if not d.eof:
            truncated = True  # the stream stops without its trailer: keep what decoded
            break
        raw = d.unused_data
        while raw[:1] == b"\x00":  # padding some tools leave between members
            raw = raw[1:]
    return bytes(out), truncated


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """The `format:` value of a file's first line, or None (for picking recordings out of a folder)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                head = gz.read(256)
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    except OSError:
        return None
    if line.startswith("#") and ":" in line:
        key, _, value = line[1:].partition(":")
        if key.strip() == "format":
            return value.strip()
    return None


def read_recording(path: str | os.PathLike[str], *, warn: IO[str] | None = sys.stderr) -> Recording:
    """Read a `holdsense-recording/1` file (CSV or CSV.gz).

    Raises RecordingError with one clear line for: missing or empty file, no
    format line or header, unknown format version, missing `t_s`/`force_n`,
    non-numeric cell (line named), decreasing `t_s`, no samples. A half-written
    last line (no newline at the end: a killed recorder) is skipped with a
    warning on `warn`.
    """
    p = Path(path)
    if not p.exists():
        raise RecordingError(f"{p}: no such file")
    if p.is_dir():
        raise RecordingError(f"{p}: is a directory")
    try:
        text = _open_text(p)
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not text.strip():
        raise RecordingError(f"{p}: empty file")
    return parse_recording_text(text, str(p), warn=warn)


def parse_recording_text(text: str, source: str, *, warn: IO[str] | None = sys.stderr) -> Recording:
    """Parse recording text (see `read_recording`); `source` names it in errors."""
    warnings: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # text ended with a newline: every line is complete
    elif lines:
        last = lines.pop()
        msg = f"{source}: line {len(lines) + 1}: half-written last line skipped"
        warnings.append(msg)
        if warn is not None:
            print(f"holdsense: warning: {msg}", file=warn)

    metadata: dict[str, Any] = {}
    header_idx = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, sep, value = s[1:].partition(":")
            if sep:
                metadata[key.strip()] = parse_meta_value(value)
            continue
        header_idx = i
        break

    fmt = metadata.get("format")
    if fmt is None:
        raise RecordingError(f"{source}: not a holdsense recording (no '# format: {FORMAT}' line)")
    fmt = str(fmt)
    if not fmt.startswith(FORMAT_PREFIX):
        raise RecordingError(f"{source}: unknown format '{fmt}' (this version reads {FORMAT})")
    version = fmt[len(FORMAT_PREFIX):]
    major = version.split(".")[0]
    if not major.isdigit() or int(major) != SUPPORTED_MAJOR:
        raise RecordingError(f"{source}: unknown format version '{fmt}' (this version reads {FORMAT})")
    if header_idx is None:
        raise RecordingError(f"{source}: no header row (expected 't_s,force_n,...' after the metadata)")

    columns = [c.strip() for c in lines[header_idx].split(",")]
    for req in REQUIRED_COLUMNS:
        if req not in columns:
            raise RecordingError(f"{source}: line {header_idx + 1}: header lacks required column '{req}'")
    if len(set(columns)) != len(columns):
        raise RecordingError(f"{source}: line {header_idx + 1}: duplicate column names in header")

    first_data = header_idx + 1
    data_lines = lines[first_data:]
    # Blank lines are tolerated; keep their absolute line numbers for errors.
    if any(not ln.strip() for ln in data_lines):
        numbered = [(first_data + k + 1, ln) for k, ln in enumerate(data_lines) if ln.strip()]
    else:
        numbered = None
    rows_text = [ln for _, ln in numbered] if numbered is not None else data_lines
    if not rows_text:
        raise RecordingError(f"{source}: no samples")

    def lineno(k: int) -> int:
        return numbered[k][0] if numbered is not None else first_data + k + 1

    ncol = len(columns)
    numeric_idx = [columns.index(c) for c in KNOWN_NUMERIC if c in columns]
    values = _parse_fast(rows_text, ncol, numeric_idx)
    if values is None:
        values = _parse_slow(rows_text, columns, numeric_idx, source, lineno)
    cols = {columns[j]: values[:, k] for k, j in enumerate(numeric_idx)}

    t = cols["t_s"]
    bad_t = np.flatnonzero(~np.isfinite(t))
    if len(bad_t):
        k = int(bad_t[0])
        raise RecordingError(f"{source}: line {lineno(k)}: t_s is missing")
    dec = np.flatnonzero(np.diff(t) < 0)
    if len(dec):
        k = int(dec[0]) + 1
        raise RecordingError(f"{source}: line {lineno(k)}: t_s decreases ({t[k]:g} after {t[k - 1]:g})")

    flags = np.zeros(len(rows_text), dtype=np.uint8)
    extra: dict[str, list[str]] = {}
    text_idx = [j for j, c in enumerate(columns) if c not in KNOWN_NUMERIC]
    if text_idx:
        if "flags" in columns and columns[-1] == "flags" and len(text_idx) == 1:
            # Most rows have no flags: only split the ones that do (found by a C-level endswith map).
            no_flags = np.fromiter(map(str.endswith, rows_text, itertools.repeat(",")), dtype=bool,
                                   count=len(rows_text))
            for k in np.flatnonzero(~no_flags).tolist():
                flags[k] = text_to_flags(rows_text[k].rsplit(",", 1)[1].strip())
        else:
            split_rows = [ln.split(",") for ln in rows_text]
            for j in text_idx:
                col = [r[j].strip() if j < len(r) else "" for r in split_rows]
                if columns[j] == "flags":
                    flags = np.fromiter((text_to_flags(x) for x in col), dtype=np.uint8, count=len(col))
                else:
                    extra[columns[j]] = col

    samples = SampleChunk(
        t_s=t,
        force_n=cols["force_n"],
        angle_deg=cols.get("angle_deg"),
        flags=flags,
        raw_counts=cols.get("raw_counts"),
    )
    return Recording(source=source, metadata=metadata, samples=samples, columns=columns,
                     extra_columns=extra, warnings=warnings)


def _parse_fast(rows: list[str], ncol: int, numeric_idx: list[int]) -> np.ndarray | None:
    """numpy's C parser for the common, well-formed case; None means 'use the careful path'."""
    try:
        arr = np.loadtxt(rows, delimiter=",", usecols=numeric_idx, dtype=np.float64, ndmin=2,
                         comments=None, quotechar=None)
    except (ValueError, IndexError):
        return None
    if arr.shape != (len(rows), len(numeric_idx)):
        return None
    # loadtxt tolerates extra fields beyond usecols; the contract does not.
    if ncol > 1 and rows[0].count(",") != ncol - 1 or rows[-1].count(",") != ncol - 1:
        return None
    return arr


def _parse_slow(rows: list[str], columns: list[str], numeric_idx: list[int], source: str, lineno) -> np.ndarray:
    ncol = len(columns)
    out = np.empty((len(rows), len(numeric_idx)), dtype=np.float64)
    for k, ln in enumerate(rows):
        fields = ln.split(",")
        if len(fields) != ncol:
            raise RecordingError(f"{source}: line {lineno(k)}: expected {ncol} fields, found {len(fields)}")
        for m, j in enumerate(numeric_idx):
            cell = fields[j].strip()
            if cell == "":
                out[k, m] = math.nan
                continue
            try:
                v = float(cell)
            except ValueError:
                raise RecordingError(
                    f"{source}: line {lineno(k)}: column {columns[j]}: {cell!r} is not a number") from None
            if math.isinf(v):
                raise RecordingError(f"{source}: line {lineno(k)}: column {columns[j]}: {cell!r} is not finite")
            out[k, m] = v
    return out


class RecordingWriter(Listener):
    """Writes `holdsense-recording/1` as samples arrive; a Listener, so it plugs into any receive loop.

    Metadata and header go out first and are flushed immediately; rows are
    flushed at least every `flush_interval_s` (default 0.5 s) and fsync'd about
    once a second, so a killed recorder loses at most the last second and the
    file stays valid. `.gz` paths are written gzip-compressed.

    `has_markers` adds the optional `marker` column (holdsense.io.markers):
    `add_marker()` (any thread) puts a marker on the next sample written.
    """

    def __init__(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None, *,
                 has_angle: bool = False, has_raw: bool = False, flush_interval_s: float = 0.5,
                 has_markers: bool = False) -> None:
        self.path = Path(path)
        self.has_markers = has_markers
        self.markers_written = 0
        self._pending_markers: list[tuple[str, str]] = []
        self._marker_lock = threading.Lock()
        self.has_angle = has_angle
        self.has_raw = has_raw
        self.flush_interval_s = flush_interval_s
        self.rows_written = 0
        self._gz = self.path.suffix == ".gz"
        self._raw_fh = open(self.path, "wb")
        # SOURCE_DATE_EPOCH (reproducible builds) fixes the gzip header's time: a rebuilt file is byte-identical
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
        self._fh: IO[bytes] = (gzip.GzipFile(fileobj=self._raw_fh, mode="wb", mtime=int(epoch) if epoch.isdigit()
                                             else None) if self._gz else self._raw_fh)
        meta = {"format": FORMAT}
        for k, v in (metadata or {}).items():
            if k != "format" and v is not None:
                meta[k] = v
        head = [f"# {k}: {format_meta_value(v)}" for k, v in meta.items()]
        cols = ["t_s", "force_n"] + (["angle_deg"] if has_angle else []) + (["raw_counts"] if has_raw else []) + ["flags"]
        if has_markers:
            cols.append("marker")  # after flags: appended, so column positions old tools use stay put
        head.append(",".join(cols))
        self._write("\n".join(head) + "\n")
        self._last_flush = time.monotonic()
        self._last_sync = self._last_flush
        self.flush(sync=True)

    def _write(self, s: str) -> None:
        self._fh.write(s.encode("utf-8"))

    def on_samples(self, chunk: SampleChunk) -> None:
        self.write(chunk)

    def write(self, chunk: SampleChunk) -> None:
        """Append a chunk of samples (t_s as given: seconds since the recording started)."""
        n = len(chunk)
        if n == 0:
            return
        cols: list[list] = [chunk.t_s.tolist(), chunk.force_n.tolist()]
        fmt = "%.6f,%.3f"
        if self.has_angle:
            cols.append(chunk.angle_deg.tolist() if chunk.angle_deg is not None else [math.nan] * n)
            fmt += ",%.3f"
        if self.has_raw:
            cols.append(chunk.raw_counts.tolist() if chunk.raw_counts is not None else [math.nan] * n)
            fmt += ",%.0f"
        fl = chunk.flags
        flag_text = [""] * n
        for k in np.flatnonzero(fl):
            flag_text[k] = flags_to_text(int(fl[k]))
        cols.append(flag_text)
        fmt += ",%s"
        # NaN renders as "nan": an empty cell is the format's missing value (no flag token contains "nan").
        rows = "\n".join(map(fmt.__mod__, zip(*cols))).replace("nan", "")
        if self.has_markers:  # appended after the NaN clean-up: a note may well contain "nan"
            from .markers import encode_cell

            with self._marker_lock:
                pending, self._pending_markers = self._pending_markers, []
            first, nl, rest = rows.partition("\n")
            rows = first + "," + (encode_cell(pending) if pending else "") + (
                nl + rest.replace("\n", ",\n") + "," if nl else "")
            self.markers_written += len(pending)
        self._write(rows + "\n")
        self.rows_written += n
        now = time.monotonic()
        if now - self._last_flush >= self.flush_interval_s:
            self.flush(sync=now - self._last_sync >= 1.0)

    def add_marker(self, kind: str, text: str = "") -> None:
        """Queue a marker (`hold_start`, `hold_end`, `note`) for the next sample written (thread-safe)."""
        if not self.has_markers:
            raise ValueError("this recording was opened without a marker column (has_markers=False)")
        from .markers import marker_token

        marker_token(kind, text)  # validates the kind now, in the caller's thread
        with self._marker_lock:
            self._pending_markers.append((kind, text))

    def flush(self, sync: bool = False) -> None:
        if self._gz:
            self._fh.flush()  # gzip: emits a sync-flush block, so the stream so far is decodable
        self._raw_fh.flush()
        if sync:
            try:
                os.fsync(self._raw_fh.fileno())
            except OSError:
                pass
            self._last_sync = time.monotonic()
        self._last_flush = time.monotonic()

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        if self._raw_fh.closed:
            return
        if self._gz:
            self._fh.close()
        self._raw_fh.flush()
        try:
            os.fsync(self._raw_fh.fileno())
        except OSError:
            pass
        self._raw_fh.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_recording(path: str | os.PathLike[str], samples: SampleChunk, metadata: dict[str, Any] | None = None) -> None:
    """Write a whole recording at once (simulator, recalibration, tests)."""
    with RecordingWriter(path, metadata, has_angle=samples.angle_deg is not None,
                         has_raw=samples.raw_counts is not None, flush_interval_s=1e9) as w:
        w.write(samples)
