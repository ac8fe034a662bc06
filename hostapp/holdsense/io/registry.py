"""The one table of file formats: which module reads or writes a path, by suffix and by its first bytes.

`open_reader(path)` returns the `Recording` (samples + metadata) of any file
holdsense can analyse or replay; `open_writer(path, metadata)` the writer
for a path; `is_readable(path)` says whether a file in a folder is one of
ours (`holdsense analyze FOLDER`). Used by analyze, replay, session, report
and the pytest plugin, so a new format is one row here (python-can's
`can/io/logger.py` / `player.py` suffix tables).

Readers and writers are named as "module:attribute" and imported only when a
file of that format is opened: reading a CSV never imports the XDF or capture
code, and the capture reader — which replays the wire bytes through the
host's own device client, so it lives in `holdsense.virtual.capture` above
both io and link — is plugged in without io importing link (the way
python-can's interface table names bus classes).
"""
from __future__ import annotations

import importlib
import os
import stat
import sys
from dataclasses import dataclass
from typing import IO, Any

from ..errors import UserError


@dataclass(frozen=True)
class FileFormat:
    """One row of the table: `sniff(path, strict=...) -> bool` recognises a file (strict: by content
    only, for picking files out of a folder); `reader(path, **options)` returns a Recording."""

    name: str
    suffixes: tuple[str, ...]
    sniff: str
    reader: str
    writer: str | None = None


#: In the order they are asked: a file is the first format whose sniffer says so (the recording CSV,
#: the default, last).
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("xdf", (".xdf", ".xdfz"), "holdsense.io.xdf:is_xdf", "holdsense.io.xdf:read_xdf"),
    FileFormat("capture", (".hscap",), "holdsense.io.registry:_sniff_capture",
               "holdsense.virtual.capture:load_capture_for_analysis", "holdsense.io.capture:CaptureFileWriter"),
    FileFormat("recording", (".csv", ".csv.gz"), "holdsense.io.registry:_sniff_recording",
               "holdsense.io.recording:read_recording", "holdsense.io.recording:RecordingWriter"),
)
DEFAULT = FORMATS[-1]


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _sniff_capture(path: str, *, strict: bool = False) -> bool:
    from .capture import is_capture

    if path.endswith(".hscap"):
        return is_capture(path) if strict else True
    return False if strict else is_capture(path)  # by content: a capture under another name


def _sniff_recording(path: str, *, strict: bool = False) -> bool:
    from .recording import FORMAT, sniff_format

    fmt = sniff_format(path)
    return fmt is not None and fmt.split(".")[0] == FORMAT


def detect(path: str | os.PathLike[str], *, strict: bool = False) -> FileFormat | None:
    """The format of `path`: by name or content (`strict`: by content only); None if no format claims it."""
    p = os.fspath(path)
    for fmt in FORMATS:
        if _load(fmt.sniff)(p, strict=strict):
            return fmt
    return None


def is_readable(path: str | os.PathLike[str]) -> bool:
    """True for a file `open_reader` reads, judged by its content (folder expansion)."""
    return detect(path, strict=True) is not None


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True for "-" (standard input) and for paths that are not regular files or folders (FIFOs,
    pipes such as /dev/stdin or a shell's <(...), character devices): they can be read only once."""
    p = os.fspath(path)
    if p == "-":
        return True
    try:
        mode = os.stat(p).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class _Prefixed:
    """A byte stream whose first bytes were already read (to sniff the format), put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._rest.read(n)


def _stream_format(head: bytes, name: str) -> FileFormat:
    """The format of a stream from its first bytes (it cannot be opened again to ask each sniffer)."""
    import zlib

    if head[:4] == b"XDF:" or (name.lower().endswith(".xdfz") and head[:2] == b"\x1f\x8b"):
        return FORMATS[0]
    if head[:2] == b"\x1f\x8b":
        try:
            if zlib.decompressobj(wbits=31).decompress(head, 16)[:5] == b"HSCAP":
                return FORMATS[1]
        except zlib.error:
            pass
    return DEFAULT


def _open_stream(p: str, stream: str | None, warn: IO[str] | None):
    """Read "-", a pipe or a FIFO once: a recording is parsed as it streams in; an XDF file or a
    capture (whose readers need the whole file) is spooled to a temporary file first."""
    from .recording import RecordingReader, _open_binary

    fh, close = _open_binary(p)
    try:
        head = fh.read(4096)
        fmt = _stream_format(head, p)
        source = "<stdin>" if p == "-" else p
        data = _Prefixed(head, fh)
        if fmt is DEFAULT:
            return RecordingReader(data, source, warn=warn).read_all()
        import shutil  # (a stream read through a temporary file: not needed for ordinary files)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="holdsense-stream-") as tmp:
            spooled = os.path.join(tmp, "input" + fmt.suffixes[-1])
            with open(spooled, "wb") as out:
                shutil.copyfileobj(data, out)
            reader = _load(fmt.reader)
            try:
                rec = reader(spooled, stream) if fmt.name == "xdf" else reader(spooled)
            except UserError as exc:
                # its message names the temporary copy, gone by now: name what the user gave instead
                exc.args = (str(exc).replace(spooled, source),) + exc.args[1:]
                raise
        rec.source = source
        if fmt.name == "capture":
            rec.warnings = [w.replace(spooled, source) for w in rec.warnings]
            _say_warnings(rec, warn)  # a capture cut short warns as the same file read from disk does
        return rec
    finally:
        if close:
            fh.close()


def _say_warnings(rec: Any, warn: IO[str] | None) -> None:
    """Print a capture's warnings (a truncated capture) on `warn`, as the CSV reader prints its own:
    the capture reader only collects them, and without a word `replay` of a cut capture would show the
    hold the cut ended as a finished one."""
    if warn is not None:
        for msg in getattr(rec, "warnings", None) or []:
            print(f"holdsense: warning: {msg}", file=warn)


def open_reader(path: str | os.PathLike[str], *, stream: str | None = None, warn: IO[str] | None = sys.stderr):
    """The `Recording` in `path`: holdsense CSV (plain or gzip), an XDF file's force stream (`stream`
    picks one by name or source id), or a raw wire capture (`.hscap`, decoded through the host's own
    device client). Anything else is read as a recording CSV, whose reader names what is wrong
    (one `UserError` line). "-" (standard input), pipes and FIFOs are read once (`is_stream`)."""
    p = os.fspath(path)
    if is_stream(p):
        return _open_stream(p, stream, warn)
    fmt = next((f for f in FORMATS[:-1] if _load(f.sniff)(p)), DEFAULT)
    reader = _load(fmt.reader)
    if fmt.name == "xdf":
        return reader(p, stream)
    if fmt.name == "recording":
        return reader(p, warn=warn)
    rec = reader(p)
    _say_warnings(rec, warn)
    return rec


def open_writer(path: str | os.PathLike[str], metadata: dict[str, Any] | None = None, **options: Any):
    """A writer for `path` by suffix: `.hscap` a capture file, anything else a recording CSV
    (`metadata` and `options` go to `RecordingWriter`). XDF is LabRecorder's to write."""
    p = os.fspath(path)
    for fmt in FORMATS:
        if p.lower().endswith(fmt.suffixes) and fmt.writer is None:
            from ..errors import UserError

            raise UserError(f"{p}: holdsense does not write {fmt.name.upper()} files "
                            f"(record with LabRecorder, or write .csv)")
    if p.endswith(".hscap"):
        return _load(FORMATS[1].writer)(p, session=metadata, **options)
    return _load(DEFAULT.writer)(p, metadata, **options)
