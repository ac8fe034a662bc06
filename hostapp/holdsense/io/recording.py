"""Reader and writer for `holdsense-recording/1` (contracts.md §1).

CSV, UTF-8, optionally gzip-compressed (`.csv.gz`). Metadata lines `# key: value`
precede a header row; `t_s` and `force_n` are required, `angle_deg`,
`raw_counts` and `flags` optional, unknown columns kept and ignored.

The reader streams (`RecordingReader`): it parses a couple of megabytes of
text at a time with a C parser for well-formed blocks (pyarrow's CSV reader
when it is installed, the `lab` extra; else numpy's loadtxt) and falls back to
a careful line-by-line parse that names the first bad line, so a 2-hour 80 Hz
file loads in a fraction of a second (0.2 s CPU with pyarrow, 0.33 s without:
bench/throughput.py), a broken one gets a precise error, and memory beyond the
samples does not grow with the file. The parsers read every number alike
(tests/host/files/test_recording_parsers.py). "-" reads standard input; pipes
and FIFOs are read once, front to back.
"""
from __future__ import annotations

import errno
import gzip
import io
import itertools
import json
import math
import os
import select
import stat
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import numpy as np

from rollsignal import SampleChunk, flags_to_text, text_to_flags

from ..errors import UserError
from ..messages import Listener

FORMAT_PREFIX = "holdsense-recording/"
FORMAT = "holdsense-recording/1"
SUPPORTED_MAJOR = 1
REQUIRED_COLUMNS = ("t_s", "force_n")
KNOWN_NUMERIC = ("t_s", "force_n", "angle_deg", "raw_counts")
#: Limits of the time column (docs/contracts.md §1): t_s counts seconds since the recording started, so a value
#: beyond MAX_T_S (about 11.6 days) or a pause longer than MAX_GAP_S between two rows is damage, not a session;
#: the analysis would spend memory and time in proportion to the empty stretch.
MAX_T_S = 1e6
MAX_GAP_S = 6 * 3600.0


class RecordingError(UserError):
    """A recording that cannot be read; the message names the file and, where it applies, the line."""


class RecordingWriteError(UserError):
    """A recording that cannot be written any further (disk full, file size limit, I/O error): the session
    must end, and the message says how much of it is on disk."""


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
        """The `body_mass_kg` metadata in kg, or None when absent or not a plausible body mass (10-400 kg,
        as `--body-mass` checks; the reader warns about such a value)."""
        from ..userprofile import plausible_body_mass_kg

        return plausible_body_mass_kg(self.metadata.get("body_mass_kg"))

    @property
    def region(self) -> str | None:
        v = self.metadata.get("region")
        return str(v) if v not in (None, "") else None

    @property
    def client(self) -> str | None:
        """Whose session (the `client` metadata: contracts.md §1), or None when the recording names nobody
        (older recordings, or no name in the profile)."""
        v = self.metadata.get("client")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            return None
        text = " ".join(str(v).split())
        return text[:80] or None

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
    """The whole decoded text of a recording file (gzip undone, BOM dropped); for tools that rewrite files."""
    with open(path, "rb") as fh:
        return "".join(block for block, _ in _text_blocks(fh, str(path), 1 << 30))


def gunzip_tolerant(raw: bytes) -> tuple[bytes, bool]:
    """(decompressed bytes, truncated?) of gzip members; keeps what a killed writer left.

    Shared by recordings, captures and recalibration: a recorder killed mid-write
    leaves a stream without its trailer, and everything flushed before still counts.
    """
    gz = _Gunzip()
    out = gz.feed(raw)
    return out, gz.finish(bool(out))


class _Gunzip:
    """Incremental, tolerant gunzip of concatenated gzip members (the streaming form of `gunzip_tolerant`)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""      # input after a member's end, before the next member starts
        self.produced = 0
        self.truncated = False
        self.stopped = False      # damaged data after good data: the rest is ignored (a killed writer)

    def feed(self, raw: bytes) -> bytes:
        if self.stopped:
            return b""
        out = bytearray()
        data = self._pending + raw
        self._pending = b""
        while data:
            if self._d is None:
                data = data.lstrip(b"\x00")  # padding some tools leave between members
                if not data:
                    break
                self._d = zlib.decompressobj(wbits=31)
            try:
                out += self._d.decompress(data)
            except zlib.error as exc:
                if not (self.produced or out):
                    raise OSError(str(exc)) from None
                self.truncated = self.stopped = True
                break
            if not self._d.eof:
                break
            data = self._d.unused_data
            self._d = None
        self.produced += len(out)
        return bytes(out)

    def finish(self, produced: bool) -> bool:
        """End of input: True if the stream stopped early (no trailer, or damaged after good data)."""
        if self._d is not None and not self._d.eof:
            self.truncated = True
        return self.truncated


BOM = b"\xef\xbb\xbf"


FIFO_WAIT_S = 3.0  # how long a named pipe may stay silent before "no writer"
MAX_LINE_BYTES = 16 << 20  # no recording line comes near this; a file without newlines is not a recording


def _text_blocks(fh: IO[bytes], source: str, block_bytes: int,
                 damage: list[str] | None = None) -> Iterator[tuple[str, bool]]:
    """Decoded text of a (maybe gzip) byte stream in blocks of whole lines: (text, final).

    Every block but the last ends with a newline; the last (`final`) holds what
    follows the last newline (a half-written line, or ""). Blocks split at
    newlines, which never fall inside a UTF-8 character, so each decodes alone;
    a decoding error names its byte offset in the whole (decompressed) text. A
    leading UTF-8 byte-order mark is dropped. Reads `fh` once, front to back:
    pipes and FIFOs work. A gzip stream that stops early (no trailer: a file
    cut short; or damaged after good data) still gives all the text before the
    damage, and what happened is appended to `damage` before the final block.
    """
    raw = fh.read(max(block_bytes, 64))  # enough to see the gzip magic whatever the block size
    gz = _Gunzip() if raw[:2] == b"\x1f\x8b" else None
    carry = b""
    offset = 0  # bytes of text before `carry`
    at_start = True

    def decode(b: bytes) -> str:
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordingError(f"{source}: not UTF-8 text (byte {offset + exc.start})") from None

    while raw:
        if gz is not None:
            try:
                data = gz.feed(raw)
            except OSError as exc:
                raise RecordingError(f"{source}: not a readable gzip file ({exc})") from None
        else:
            data = raw
        buf = carry + data if carry else data
        if at_start and len(buf) >= 3:
            at_start = False
            if buf[:3] == BOM:  # some editors write one; it is not part of the text
                buf = buf[3:]
                offset = 3
        end = buf.rfind(b"\n") + 1
        if end:
            text = decode(buf[:end])
            offset += end
            yield text, False
        carry = buf[end:]
        if len(carry) > MAX_LINE_BYTES:
            decode(carry)
            raise RecordingError(f"{source}: not a holdsense recording (a line longer than "
                                 f"{MAX_LINE_BYTES >> 20} MB)")
        raw = fh.read(block_bytes)
    if at_start and carry[:3] == BOM:
        carry = carry[3:]
        offset = 3
    if gz is not None and gz.finish(bool(gz.produced)) and damage is not None:
        damage.append("gzip stream damaged, the rest of the file unreadable" if gz.stopped
                      else "gzip stream ends early (file cut short?)")
    yield decode(carry), True


def _open_binary(path: str) -> tuple[IO[bytes], bool]:
    """Open `path` for reading once: "-" is standard input; a FIFO opens without waiting for a writer.
    Returns (file, close it?). Errors are one RecordingError line naming the cause."""
    if path == "-":
        return sys.stdin.buffer, False
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RecordingError(_os_error_text(path, exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise RecordingError(f"{path}: is a directory")
    try:
        if stat.S_ISFIFO(st.st_mode):
            # open() of a FIFO waits forever for a writer: open without waiting, then give a writer
            # FIFO_WAIT_S to send something (or to close) before saying there is none
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            if not select.select([fd], [], [], FIFO_WAIT_S)[0]:
                os.close(fd)
                raise RecordingError(f"{path}: a FIFO with no writer (nothing arrived in {FIFO_WAIT_S:g} s)")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb"), True
        return open(path, "rb"), True
    except OSError as exc:
        raise RecordingError(_os_error_text(path, exc)) from None


def _os_error_text(path: str, exc: OSError) -> str:
    """One line naming why a path cannot be opened (a symlink loop is not "no such file")."""
    if exc.errno == errno.ELOOP:
        return f"{path}: symbolic link loop (the link points, through other links, back to itself)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied (cannot read it as this user)"
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            return f"{path}: broken symbolic link (it points to {os.readlink(path)!r}, which does not exist)"
        return f"{path}: no such file"
    if exc.errno == errno.EISDIR:
        return f"{path}: is a directory"
    return f"{path}: cannot read ({exc.strerror or exc})"


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """The `format:` value of a file's first line, or None (for picking recordings out of a folder)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                head = gz.read(256)
        if head[:3] == BOM:
            head = head[3:]
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    except (OSError, EOFError, zlib.error):  # a corrupt gzip start: not recognisable, the reader names it
        return None
    if line.startswith("#") and ":" in line:
        key, _, value = line[1:].partition(":")
        if key.strip() == "format":
            return value.strip()
    return None


def read_recording(path: str | os.PathLike[str], *, warn: IO[str] | None = sys.stderr) -> Recording:
    """Read a `holdsense-recording/1` file (CSV or CSV.gz; "-" reads standard input once).

    Raises RecordingError with one clear line for: missing, unreadable (permission,
    symbolic link loop) or empty file, no format line or header, unknown format
    version, missing `t_s`/`force_n`, non-numeric cell (line named), `t_s`
    missing, not finite, negative, beyond `MAX_T_S`, jumping by more than
    `MAX_GAP_S` or decreasing, no samples. A half-written last line (no newline
    at the end: a killed recorder) is skipped with a warning on `warn`.

    Streams the file (`RecordingReader`): memory beyond the samples themselves
    stays constant in the file's length.
    """
    with RecordingReader.open(path, warn=warn) as reader:
        return reader.read_all()


def parse_recording_text(text: str, source: str, *, warn: IO[str] | None = sys.stderr) -> Recording:
    """Parse recording text (see `read_recording`); `source` names it in errors."""
    return RecordingReader(io.BytesIO(text.encode("utf-8")), source, warn=warn).read_all()


class RecordingReader:
    """A recording read as a stream: `metadata` and `columns` at once, then `chunks()` of samples.

    Parses about `block_bytes` of text at a time (pyarrow's or numpy's C parser
    for well-formed blocks, a careful line-by-line parse naming the first bad
    line otherwise), checking the time column as it goes, so memory stays constant
    in the file's length and `holdsense analyze` can feed the detector while
    reading (streaming equals batch). Errors are `RecordingError` lines naming
    the file and line, the same as `read_recording`'s.
    """

    BLOCK_BYTES = 1 << 21  # ~2 MB of text per parse (~40k rows): big enough for numpy, small in memory

    def __init__(self, fh: IO[bytes], source: str, *, warn: IO[str] | None = sys.stderr,
                 block_bytes: int | None = None, close: bool = False) -> None:
        self.source = source
        self.warnings: list[str] = []
        self._fh = fh
        self._close = close
        self._warn = warn
        self._damage: list[str] = []  # a compressed stream that stopped early (said with the last line)
        # warnings met while reading the head wait for it to parse: a file that is refused gets its one
        # error line, not a "half-written last line" warning about the only line it has first
        self._head_warnings: list[str] | None = []
        self._half_text = ""
        self._blocks = _text_blocks(fh, source, block_bytes or self.BLOCK_BYTES, self._damage)
        try:  # a file of several blocks: worth pyarrow's import from its first block on (see chunks())
            self._several_blocks = os.fstat(fh.fileno()).st_size > (block_bytes or self.BLOCK_BYTES)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self._several_blocks = False  # (a pipe, an in-memory text)
        self._line = 0          # lines consumed before the current block
        self._last_t: float | None = None
        self._rows = 0
        self._pending = ""   # data lines that came in the header's block (text)
        self._pending_first = 0
        self._done = False
        self.metadata: dict[str, Any] = {}
        self.columns: list[str] = []
        try:
            self._read_head()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, warn: IO[str] | None = sys.stderr,
             block_bytes: int | None = None) -> "RecordingReader":
        p = os.fspath(path)
        fh, close = _open_binary(p)
        try:
            return cls(fh, "<stdin>" if p == "-" else str(Path(p)), warn=warn, block_bytes=block_bytes,
                       close=close)
        except BaseException:
            if close:
                fh.close()
            raise

    def close(self) -> None:
        if self._close:
            self._fh.close()

    def __enter__(self) -> "RecordingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the head: metadata lines and the header row --
    def _lines(self) -> Iterator[tuple[str, int, bool]]:
        """(text of a block of complete lines, number of its first line, final block?); the half-written
        last line is dropped here with its warning. (Text, not split lines: a block parsed by pyarrow is
        never split into Python strings.) The consumer adds each block's lines to `self._line` before it
        takes the next block (`_block` counts them with the parse, not with a scan of the text here)."""
        for text, final in self._blocks:
            if final:
                half = bool(text.strip() or (text and self._line))
                msg = f"{self.source}: line {self._line + 1}: half-written last line skipped" if half else None
                if self._damage:  # the one warning says the data ends early because the file does
                    msg = (f"{self.source}: {self._damage[0]}; "
                           + (f"line {self._line + 1}: half-written last line skipped" if half
                              else (f"the {self._line} complete lines before it are used" if self._line != 1
                                    else "the 1 complete line before it is used")))
                self._half_text = text
                if msg:
                    if self._head_warnings is not None:
                        self._head_warnings.append(msg)
                    else:
                        self._say(msg)
                yield "", self._line + 1, True
                return
            yield text, self._line + 1, False

    def _say(self, msg: str) -> None:
        self.warnings.append(msg)
        if self._warn is not None:
            print(f"holdsense: warning: {msg}", file=self._warn)

    def _read_head(self) -> None:
        try:
            self._parse_head()
        except RecordingError as exc:
            if self._damage:  # the head itself was cut off: that is the news, not only what is missing
                raise RecordingError(f"{exc} ({self._damage[0]})") from None
            raise
        deferred, self._head_warnings = self._head_warnings or [], None
        for msg in deferred:
            self._say(msg)
        mass = self.metadata.get("body_mass_kg")
        if mass not in (None, ""):
            from ..userprofile import BODY_MASS_RANGE_KG, plausible_body_mass_kg

            if plausible_body_mass_kg(mass) is None:
                lo, hi = BODY_MASS_RANGE_KG
                self._say(f"{self.source}: body_mass_kg {format_meta_value(mass)} is not a plausible body mass "
                          f"({lo:g}-{hi:g} kg): ignored, pressure is judged against the rolling load")

    def _parse_head(self) -> None:
        self._iter = self._lines()
        source = self.source
        header: str | None = None
        header_line = 0
        seen_text = False
        for text, first, final in self._iter:
            # line by line up to the header only: the rest of this block is data, parsed as a block
            pos, k = 0, -1
            while pos < len(text):
                end = text.index("\n", pos)  # (a block's text ends with "\n")
                line, pos, k = text[pos:end], end + 1, k + 1
                s = line.strip()
                if not s:
                    continue
                seen_text = True
                if s.startswith("#"):
                    key, sep, value = s[1:].partition(":")
                    if sep:
                        self.metadata[key.strip()] = parse_meta_value(value)
                    continue
                header, header_line = line, first + k
                self._pending, self._pending_first = text[pos:], first + k + 1
                self._line = header_line  # (the rows after it: counted by _block)
                break
            if header is not None or final:
                seen_text = seen_text or bool(self._head_warnings)
                break
            self._line += text.count("\n")  # a block of metadata only
        if not seen_text and header is None:
            raise RecordingError(f"{source}: empty file")
        fmt = self.metadata.get("format")
        if fmt is None and header is None and "\r" in self._half_text:
            raise RecordingError(f"{source}: lines end in CR alone (old Mac line endings): save it with LF or CRLF "
                                 "line endings")
        if fmt is None:
            raise RecordingError(f"{source}: not a holdsense recording (no '# format: {FORMAT}' line)")
        fmt = str(fmt)
        if not fmt.startswith(FORMAT_PREFIX):
            raise RecordingError(f"{source}: unknown format '{fmt}' (this version reads {FORMAT})")
        major = fmt[len(FORMAT_PREFIX):].split(".")[0]
        if not major.isdigit() or int(major) != SUPPORTED_MAJOR:
            raise RecordingError(f"{source}: unknown format version '{fmt}' (this version reads {FORMAT})")
        if header is None:
            raise RecordingError(f"{source}: no header row (expected 't_s,force_n,...' after the metadata)")
        columns = [c.strip() for c in header.split(",")]
        for req in REQUIRED_COLUMNS:
            if req not in columns:
                raise RecordingError(f"{source}: line {header_line}: header lacks required column '{req}'")
        if len(set(columns)) != len(columns):
            raise RecordingError(f"{source}: line {header_line}: duplicate column names in header")
        self.columns = columns
        self._numeric_idx = [columns.index(c) for c in KNOWN_NUMERIC if c in columns]
        self._text_idx = [j for j, c in enumerate(columns) if c not in KNOWN_NUMERIC]

    # -- the samples --
    def chunks(self) -> Iterator[tuple[SampleChunk, dict[str, list[str]]]]:
        """(samples, unknown text columns) of each block of rows, in order; RecordingError at the first
        bad row. Raises "no samples" for a file whose header has no rows after it."""
        if self._done:
            return
        self._done = True
        if self._pending:
            # (the rows after the header, in the first block: numpy's parser unless the file is known to have
            # more blocks. pyarrow's import, ~55 ms, pays only from the second block on, so a recording of one
            # block, up to ~15 minutes, never loads it)
            out = self._block(self._pending, self._pending_first, arrow=self._several_blocks)
            self._pending = ""
            if out is not None:
                yield out
        for text, first, final in self._iter:
            if final:
                break
            out = self._block(text, first)
            if out is not None:
                yield out
        if not self._rows:
            raise RecordingError(f"{self.source}: no samples")

    def _block(self, block_text: str, first_line: int, *,
               arrow: bool = True) -> tuple[SampleChunk, dict[str, list[str]]] | None:
        """Parse one block of complete lines (`block_text` ends with a newline; its first line is number
        `first_line` of the file; its lines are added to `self._line`). Three parsers, fastest first, each
        taking the block only when it is sure: pyarrow's CSV reader (when installed), numpy's, then a careful
        line-by-line parse that names the first bad line. Where the first two accept a cell they read the same
        value as Python's float() (correctly rounded), so which one parsed a block never changes a sample."""
        source, columns = self.source, self.columns
        numeric_idx = self._numeric_idx
        numbered: list[tuple[int, str]] | None = None
        rows: list[str] | None = None  # the block split into lines, only when a parser needs them
        arrow = arrow and _arrow() is not None
        if arrow:
            # the bytes pyarrow parses; their newlines found by numpy, mostly outside the GIL (a str scan of
            # the 2 MB text held it, in the reader thread analyze runs beside the detector)
            data = block_text.encode("utf-8")
            b = np.frombuffer(data, np.uint8)
            newlines = np.flatnonzero(b == 10)  # (b"\n")
            n_lines = len(newlines)
        else:
            rows = block_text.split("\n")
            rows.pop()  # (the text ends with "\n")
            n_lines = len(rows)
        self._line += n_lines
        if not n_lines:
            return None
        values = _parse_arrow(data, n_lines, len(columns), numeric_idx) if arrow else None
        if values is None:
            if rows is None:
                rows = block_text.split("\n")
                rows.pop()
            data_lines = rows
            # numpy's parser next, on the lines as they are (the usual block: no blank line). It skips or rejects
            # a blank line, so a block with one comes back short (or None) and takes the careful path below.
            # (With a non-blank first and last line it always has a row to parse: no "empty input" warning.)
            values = _parse_fast(rows, len(columns), numeric_idx) if rows[0].strip() and rows[-1].strip() else None
        if values is None:
            # Blank lines are tolerated; keep their absolute line numbers for errors. (all(map(...)) runs in C:
            # a Python-level test per row cost more than numpy's parse of the block.)
            if not all(map(str.strip, data_lines)):
                numbered = [(first_line + k, ln) for k, ln in enumerate(data_lines) if ln.strip()]
                rows = [ln for _, ln in numbered]
                if not rows:
                    return None
                values = _parse_fast(rows, len(columns), numeric_idx)

        def lineno(k: int) -> int:
            return numbered[k][0] if numbered is not None else first_line + k

        if values is None:
            values = _parse_slow(rows, columns, numeric_idx, source, lineno)
        cols = {columns[j]: values[:, k] for k, j in enumerate(numeric_idx)}
        t = np.ascontiguousarray(cols["t_s"])
        self._check_time(t, lineno)
        n_rows = len(t)
        self._rows += n_rows

        flags = np.zeros(n_rows, dtype=np.uint8)
        extra: dict[str, list[str]] = {}
        text_idx = self._text_idx
        if text_idx:
            if "flags" in columns and columns[-1] == "flags" and len(text_idx) == 1:
                # Most rows have no flags: only split the ones that do, the rows not ending with ",".
                if rows is None:
                    # pyarrow parsed it (no blank lines: row k is line k): the byte before each newline, with
                    # numpy on the bytes (a 2 MB str.count(",\n") held the GIL as long as the parse)
                    with_flags = np.flatnonzero(b[newlines - 1] != 44)  # (b",")
                    if len(with_flags):
                        rows = block_text.split("\n")[:-1]
                else:  # (a C-level endswith map)
                    with_flags = np.flatnonzero(~np.fromiter(map(str.endswith, rows, itertools.repeat(",")),
                                                             dtype=bool, count=len(rows)))
                for k in with_flags.tolist():
                    flags[k] = text_to_flags(rows[k].rsplit(",", 1)[1].strip())
            else:
                if rows is None:
                    rows = block_text.split("\n")[:-1]
                split_rows = [ln.split(",") for ln in rows]
                for j in text_idx:
                    col = [r[j].strip() if j < len(r) else "" for r in split_rows]
                    if columns[j] == "flags":
                        flags = np.fromiter((text_to_flags(x) for x in col), dtype=np.uint8, count=len(col))
                    else:
                        extra[columns[j]] = col
        angle = cols.get("angle_deg")
        raw = cols.get("raw_counts")
        chunk = SampleChunk(t_s=t, force_n=np.ascontiguousarray(cols["force_n"]),
                            angle_deg=None if angle is None else np.ascontiguousarray(angle), flags=flags,
                            raw_counts=None if raw is None else np.ascontiguousarray(raw))
        return chunk, extra

    def _check_time(self, t: np.ndarray, lineno: Callable[[int], int]) -> None:
        """Device time sanity: every t_s finite, >= 0, <= MAX_T_S, never decreasing, never jumping by more
        than MAX_GAP_S (the detector would spend memory and time on the empty stretch)."""
        source = self.source
        bad = np.flatnonzero(~np.isfinite(t))
        if len(bad):
            k = int(bad[0])
            if np.isnan(t[k]):
                raise RecordingError(f"{source}: line {lineno(k)}: t_s is missing")
            raise RecordingError(f"{source}: line {lineno(k)}: t_s is not finite ({t[k]:g})")
        out = np.flatnonzero((t < 0) | (t > MAX_T_S))
        if len(out):
            k = int(out[0])
            if t[k] < 0:
                raise RecordingError(f"{source}: line {lineno(k)}: t_s is negative ({t[k]:g}); it counts seconds "
                                     f"since the recording started")
            raise RecordingError(f"{source}: line {lineno(k)}: t_s {t[k]:g} s is beyond {MAX_T_S:g} s, the "
                                 f"longest a recording may span")
        prev = self._last_t
        d = np.diff(t) if prev is None else np.diff(t, prepend=prev)
        off = 1 if prev is None else 0  # index in t of the sample each difference ends at
        dec = np.flatnonzero(d < 0)
        if len(dec):
            k = int(dec[0]) + off
            before = t[k - 1] if k > 0 else prev
            raise RecordingError(f"{source}: line {lineno(k)}: t_s decreases ({t[k]:g} after {before:g})")
        jump = np.flatnonzero(d > MAX_GAP_S)
        if len(jump):
            k = int(jump[0]) + off
            raise RecordingError(f"{source}: line {lineno(k)}: t_s jumps by {float(d[k - off]):g} s, more than "
                                 f"the {MAX_GAP_S:g} s a recording may pause (split it into two files)")
        self._last_t = float(t[-1])

    def chunks_ahead(self, depth: int = 1) -> Iterator[tuple[SampleChunk, dict[str, list[str]]]]:
        """`chunks()`, parsed by a thread `depth` blocks ahead of the consumer: pyarrow's parser releases the
        GIL, so on a second core the next block is parsed while the caller (the detector) works on this one
        (a 2-hour file: ~0.1 s of ~0.8 s wall, bench/throughput.py). The same chunks in the same order, and
        the same RecordingError at the same place in the stream (raised when the consumer reaches it);
        memory grows by `depth` blocks. Closing the generator early stops the thread."""
        import queue

        q: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        end = object()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for item in self.chunks():
                    if not put((item, None)):
                        return
                put((end, None))
            except BaseException as exc:  # re-raised in the consumer's thread, in stream order
                put((end, exc))

        thread = threading.Thread(target=work, name="holdsense-reader", daemon=True)
        thread.start()
        try:
            while True:
                item, exc = q.get()
                if item is end:
                    if exc is not None:
                        raise exc
                    return
                yield item
        finally:
            stop.set()
            thread.join()

    def read_all(self) -> Recording:
        """Every sample in one `Recording` (the chunks concatenated)."""
        parts: list[SampleChunk] = []
        extras: dict[str, list[str]] = {}
        for chunk, extra in self.chunks():
            parts.append(chunk)
            for k, v in extra.items():
                extras.setdefault(k, []).extend(v)
        samples = parts[0] if len(parts) == 1 else SampleChunk.concat(parts)
        return Recording(source=self.source, metadata=self.metadata, samples=samples, columns=self.columns,
                         extra_columns=extras, warnings=self.warnings)


#: pyarrow's CSV reader, looked up on first use: (pyarrow, pyarrow.csv, options) or False when it is not installed
#: or HOLDSENSE_CSV_PARSER=numpy (tests run the readers both ways).
_ARROW: Any = None


def _arrow() -> Any:
    global _ARROW
    if _ARROW is None:
        _ARROW = False
        if os.environ.get("HOLDSENSE_CSV_PARSER", "").strip().lower() != "numpy":
            try:
                import pyarrow
                import pyarrow.csv
            except ImportError:
                pass
            else:
                # No quoting, no nulls (an empty numeric cell fails here and is read by the careful path), empty
                # lines are rows (so they fail the field count): any doubt is a refusal, never a guess.
                parse = pyarrow.csv.ParseOptions(delimiter=",", quote_char=False, escape_char=False,
                                                 newlines_in_values=False, ignore_empty_lines=False)
                _ARROW = (pyarrow, pyarrow.csv, parse)
    return _ARROW or None


def _parse_arrow(text: str | bytes, n_lines: int, ncol: int, numeric_idx: list[int]) -> np.ndarray | None:
    """pyarrow's C++ CSV parser for a well-formed block (about twice numpy's speed: bench/throughput.py);
    None means "use the numpy / careful path" (pyarrow not installed, or any field count, empty cell or
    number it does not take). Every number it takes, it reads as numpy's parser and Python's float() do
    (tests/host/files/test_recording_parsers.py compares them)."""
    arrow = _arrow()
    if arrow is None:
        return None
    pa, csv, parse = arrow
    names = [f"c{j}" for j in range(ncol)]
    use = [names[j] for j in numeric_idx]
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        table = csv.read_csv(
            io.BytesIO(data),
            read_options=csv.ReadOptions(column_names=names, use_threads=False, block_size=len(data) + 1024),
            parse_options=parse,
            convert_options=csv.ConvertOptions(column_types={c: pa.float64() for c in use}, include_columns=use,
                                               null_values=[], strings_can_be_null=False,
                                               quoted_strings_can_be_null=False))
    except (ValueError, pa.ArrowException):
        return None
    if table.num_rows != n_lines:
        return None
    out = np.empty((n_lines, len(use)), dtype=np.float64)
    for k, c in enumerate(use):
        out[:, k] = table.column(c).to_numpy()
    return out


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
            raise RecordingError(_comment_row(ln, source, lineno(k))
                                 or f"{source}: line {lineno(k)}: expected {ncol} fields, found {len(fields)}")
        for m, j in enumerate(numeric_idx):
            cell = fields[j].strip()
            if cell == "":
                out[k, m] = math.nan
                continue
            try:
                v = float(cell)
            except ValueError:
                raise RecordingError(_comment_row(ln, source, lineno(k)) or
                                     f"{source}: line {lineno(k)}: column {columns[j]}: {cell!r} is not a number"
                                     ) from None
            out[k, m] = v  # ±inf as numpy's and pyarrow's parsers read it: the time checks and the analysis's
            # impossible-value check (inputcheck) judge it, whichever parser read the block
    return out


def _comment_row(line: str, source: str, lineno: int) -> str | None:
    """The error for a row that cannot be read because it is a `#` line after the header (contracts.md §1 puts
    metadata and comments before it); None for any other row."""
    if not line.lstrip().startswith("#"):
        return None
    return (f"{source}: line {lineno}: a '#' line after the header row: metadata and comments go before the "
            f"header (contracts.md §1)")


class RecordingWriter(Listener):
    """Writes `holdsense-recording/1` as samples arrive; a Listener, so it plugs into any receive loop.

    Metadata and header go out first and are flushed immediately; rows are
    flushed at least every `flush_interval_s` (default 0.5 s) and fsync'd about
    once a second, so a killed recorder loses at most the last second and the
    file stays valid. `.gz` paths are written gzip-compressed.

    `has_markers` adds the optional `marker` column (holdsense.io.markers):
    `add_marker()` (any thread) puts a marker on the next sample written.

    A write that fails (disk full, ...) raises `RecordingWriteError`, and so does every later write:
    `essential` tells the session runner (holdsense.listeners.recorder.Until) to end the session then,
    since going on would only drop samples unseen.
    """

    essential = True

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
        self.flushed_t_s: float | None = None  # t_s of the last row known to be handed to the OS
        self._last_t_s: float | None = None
        self.failed: RecordingWriteError | None = None
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
        if self.failed is not None:
            raise self.failed
        try:
            self._fh.write(s.encode("utf-8"))
        except OSError as exc:
            raise self._fail(exc) from None

    def _fail(self, exc: OSError) -> RecordingWriteError:
        """Remember the first write error as the one clear message every later call repeats."""
        if self.failed is None:
            why = exc.strerror or str(exc)
            kept = (f"; recording stopped, at least the first {self.flushed_t_s:.1f} s of samples are kept"
                    if self.flushed_t_s is not None else "")
            self.failed = RecordingWriteError(f"{self.path}: cannot write the recording: {why}{kept}")
        return self.failed

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
        self._last_t_s = float(chunk.t_s[-1])
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
        """Hand what was written to the OS (gzip: a sync-flush block); `sync` also fsyncs."""
        if self.failed is not None:
            raise self.failed
        try:
            if self._gz:
                self._fh.flush()  # gzip: emits a sync-flush block, so the stream so far is decodable
            self._raw_fh.flush()
        except OSError as exc:
            raise self._fail(exc) from None
        self.flushed_t_s = self._last_t_s
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
        """Flush, fsync and close; a failure to write the rest raises `RecordingWriteError` (file closed)."""
        if self._raw_fh.closed:
            return
        try:
            if self.failed is None:
                try:
                    if self._gz:
                        self._fh.close()
                    self._raw_fh.flush()
                except OSError as exc:
                    raise self._fail(exc) from None
                try:
                    os.fsync(self._raw_fh.fileno())
                except OSError:
                    pass
        finally:
            try:
                self._raw_fh.close()  # after a failed write its buffer cannot be flushed: the fd is closed anyway
            except OSError:
                pass

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_recording(path: str | os.PathLike[str], samples: SampleChunk, metadata: dict[str, Any] | None = None) -> None:
    """Write a whole recording at once (simulator, recalibration, tests)."""
    with RecordingWriter(path, metadata, has_angle=samples.angle_deg is not None,
                         has_raw=samples.raw_counts is not None, flush_interval_s=1e9) as w:
        w.write(samples)
