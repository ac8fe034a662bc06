"""Raw wire captures (`holdsense-capture/1`, `.hscap`): every byte a roller sent and every command the
host wrote, with host time and transport, so a session can be replayed byte for byte (docs/capture.md).

A recording (`holdsense-recording/1`) is what the host *made* of the stream;
a capture is what the device *sent*. Replaying a capture drives the host's
whole path again — transport, frame decoder, lost-frame counting, gap and
reboot handling, detector, recorder — which is what a regression test of
that path needs (python-can's log/replay, for holdsense's wire).

Format (docs/capture.md has the normative description):

    file    = gzip stream, sync-flushed about twice a second (a killed writer
              leaves a prefix that still decodes)
    content = magic b"HSCAP" + major u8 + minor u8 + reserved u8, then records
    record  = kind u8, dt_us zigzag-varint (host µs since the previous record),
              length varint, payload (length bytes)

Kinds: HEADER (JSON, first), LINK_OPEN (JSON: transport, name, packetized),
LINK_CLOSED (JSON), RX (bytes as received: one read on serial, one
notification on BLE), TX (bytes as written), DEVICE (JSON: the device's INFO
as the host understood it), NOTE (JSON: host events such as gaps), END
(JSON: clean close, host counters). Readers skip kinds they do not know.

Pieces:

- `CaptureFileWriter`: the format's writer (records, gzip sync flushes, END).
  The tap that feeds it from the link while recording is
  `holdsense.listeners.capture_tap.CaptureWriter`.
- `read_capture(path) -> Capture`: the reader (tolerant of a killed writer;
  one clear `CaptureError` line for anything else); `is_capture(path)` sniffs.
- Replaying a capture (the `ReplayEngine`, `decode_capture`, `capture-info`'s
  summary) drives the host's link code, so it is `holdsense.virtual.capture`.
"""
from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UserError
from .recording import gunzip_tolerant

FORMAT = "holdsense-capture/1"
MAGIC = b"HSCAP"
VERSION_MAJOR = 1
VERSION_MINOR = 0
SUFFIX = ".hscap"

# record kinds
K_HEADER = 0x01
K_LINK_OPEN = 0x02
K_LINK_CLOSED = 0x03
K_RX = 0x10
K_TX = 0x11
K_DEVICE = 0x20
K_NOTE = 0x21
K_END = 0x7F
KIND_NAMES = {K_HEADER: "header", K_LINK_OPEN: "link_open", K_LINK_CLOSED: "link_closed", K_RX: "rx",
              K_TX: "tx", K_DEVICE: "device", K_NOTE: "note", K_END: "end"}
JSON_KINDS = frozenset({K_HEADER, K_LINK_OPEN, K_LINK_CLOSED, K_DEVICE, K_NOTE, K_END})

#: Longest record payload a reader accepts (a serial read is at most a few kB; BLE 244 B).
MAX_PAYLOAD = 1 << 24


class CaptureError(UserError):
    """A capture file that cannot be read: one line naming the file and what is wrong."""


# ----------------------------------------------------------------------------------- varints
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _unzigzag(n: int) -> int:
    return (n >> 1) if not n & 1 else -((n + 1) >> 1)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """(value, next index); IndexError when the buffer ends inside the varint."""
    shift = 0
    value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def encode_record(kind: int, dt_us: int, payload: bytes) -> bytes:
    """One record's bytes (before compression)."""
    return bytes((kind,)) + _varint(_zigzag(dt_us)) + _varint(len(payload)) + payload


def file_magic() -> bytes:
    return MAGIC + bytes((VERSION_MAJOR, VERSION_MINOR, 0))


# ----------------------------------------------------------------------------------- writing
def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8")


def host_description(argv: list[str] | None = None) -> dict[str, Any]:
    """Who made the capture: holdsense version, Python, OS, command line."""
    from .. import __version__

    import platform  # (only a capture's writer needs it; readers and the format sniffer do not)

    return {"holdsense": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "argv": list(sys.argv if argv is None else argv)}


class CaptureFileWriter:
    """Appends `holdsense-capture/1` records to `path` (the format's writer; the link tap that feeds it
    while recording is `holdsense.listeners.capture_tap.CaptureWriter`).

    Thread-safe: taps fire on whichever thread reads or writes the transport,
    listener callbacks on the notifier's. A background thread sync-flushes the
    gzip stream every `flush_interval_s` (default 0.5 s) when something is
    pending and fsyncs about once a second, so a recorder killed with SIGKILL
    loses at most the last ~0.5 s of the capture and the file still decodes.
    `close(stats)` writes the END record and closes the gzip stream properly.

    `session` (body mass, region, client, duration, the recording file) goes into the
    header so `holdsense analyze` of the capture sees what the recording saw.
    """

    def __init__(self, path: str | os.PathLike[str], *, session: dict[str, Any] | None = None,
                 flush_interval_s: float = 0.5, compresslevel: int = 6,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()  # guards the queue of encoded records
        self._io_lock = threading.Lock()  # guards the compressor and the file
        self._pending: list[bytes] = []
        try:
            self._fh = open(self.path, "wb")
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write capture ({exc.strerror or exc})") from None
        self._z = zlib.compressobj(compresslevel, zlib.DEFLATED, 31)  # wbits 31: gzip container
        self._t0_s = clock()
        self._last_t_s = self._t0_s
        self._closed = False
        self._last_sync = time.monotonic()
        self._flushed_s: float | None = None  # host seconds since t0 surely handed to the OS
        self.failed: UserError | None = None  # the first write error, as the one line to report
        self.records = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.links = 0
        self._transport: Any = None
        header = {"format": FORMAT, "t0_unix_s": self._t0_s,
                  "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._t0_s)),
                  "host": host_description(), "session": {k: v for k, v in (session or {}).items() if v is not None}}
        self._emit(file_magic(), raw=True)
        self._record(K_HEADER, _json(header), self._t0_s)
        self.flush(sync=True)
        self._stop = threading.Event()
        self.flush_interval_s = flush_interval_s
        self._flusher = threading.Thread(target=self._flush_loop, name="holdsense-capture-flush", daemon=True)
        self._flusher.start()

    # -- low level --
    def _emit(self, data: bytes, raw: bool = False) -> None:
        self._pending.append(data)

    def _record(self, kind: int, payload: bytes, t_s: float | None = None) -> None:
        """Queue one record (caller holds `_lock`). Only memory here: the receive path never waits on disk."""
        if self._closed:
            return
        t = self._clock() if t_s is None else t_s
        dt_us = int(round((t - self._last_t_s) * 1e6))
        self._last_t_s += dt_us / 1e6  # keep the reader's sum exact: no drift from rounding
        self._pending.append(encode_record(kind, dt_us, payload))
        self.records += 1

    def write_record(self, kind: int, payload: bytes | dict[str, Any], t_s: float | None = None) -> None:
        """Append a record; a dict payload is JSON-encoded."""
        data = _json(payload) if isinstance(payload, dict) else bytes(payload)
        with self._lock:
            self._record(kind, data, t_s)

    def flush(self, sync: bool = False, finish: bool = False) -> None:
        """Compress what is queued and write it with a gzip sync flush (decodable on disk), optionally fsync.

        Runs on the flusher thread (and at close): taps only queue bytes, so a
        slow disk never stalls the receive loop. A write that fails (disk full)
        stops the capture: `failed` holds the error, nothing more is queued, and
        this raises it.
        """
        with self._io_lock:
            if self.failed is not None:
                raise self.failed
            if self._fh.closed:
                return
            with self._lock:
                pending, self._pending = self._pending, []
                upto_s = self._last_t_s - self._t0_s
            if pending or finish:
                out = self._z.compress(b"".join(pending))
                out += self._z.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
                try:
                    self._fh.write(out)
                    self._fh.flush()
                except OSError as exc:
                    raise self._fail(exc) from None
                self._flushed_s = upto_s
            if sync or finish:
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
                self._last_sync = time.monotonic()

    def _fail(self, exc: OSError) -> UserError:
        """Stop capturing after a write error (queueing on would only grow memory) and keep the message."""
        kept = (f"; capture stopped, at least its first {self._flushed_s:.1f} s are kept"
                if self._flushed_s is not None else "")
        self.failed = UserError(f"{self.path}: cannot write the capture: {exc.strerror or exc}{kept}")
        with self._lock:
            self._closed = True
            self._pending = []
        return self.failed

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush(sync=time.monotonic() - self._last_sync >= 1.0)
            except (UserError, OSError, ValueError):
                return

    def _before_end(self) -> None:
        """Hook run (holding `_lock`) just before the END record: the tap closes its open link there."""

    def close(self, stats: dict[str, Any] | None = None) -> None:
        """Write END (with the host's counters) and finish the gzip stream; safe to call twice.

        Raises `failed` (a UserError) if the capture could not be written, after closing the file."""
        self._stop.set()
        with self._lock:
            if self._closed and self.failed is None:
                return
            if not self._closed:
                self._before_end()
                self._record(K_END, _json({"records": self.records + 1, "rx_bytes": self.rx_bytes,
                                           "tx_bytes": self.tx_bytes, "stats": stats or {}}))
                self._closed = True  # later taps (a transport still closing) are ignored
        try:
            self.flush(finish=True)
        finally:
            with self._io_lock:
                try:
                    self._fh.close()
                except OSError:
                    pass  # its buffer could not be written: already in `failed`

    def __enter__(self) -> "CaptureFileWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------------- reading
@dataclass(slots=True)
class Record:
    """One capture record: `kind`, `t_s` (host seconds since the capture's t0), `data` (bytes), `obj` (JSON kinds)."""

    kind: int
    t_s: float
    data: bytes
    obj: Any = None
    link: int = -1  # index of the link the record belongs to (-1 before the first LINK_OPEN)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"0x{self.kind:02x}")


@dataclass
class LinkInfo:
    """One transport connection inside a capture (a reconnect opens a new one)."""

    index: int
    info: dict[str, Any]
    t_open_s: float
    t_close_s: float | None = None
    close_reason: str | None = None

    @property
    def packetized(self) -> bool:
        return bool(self.info.get("packetized"))


@dataclass
class Capture:
    """A capture in memory."""

    source: str
    version: tuple[int, int]
    header: dict[str, Any]
    records: list[Record]
    links: list[LinkInfo]
    complete: bool  # an END record was found (the writer closed it)
    truncated: bool  # the data ended inside a record or the gzip stream (a killed writer)
    warnings: list[str] = field(default_factory=list)
    compressed_bytes: int = 0
    raw_bytes: int = 0

    @property
    def t0_unix_s(self) -> float:
        return float(self.header.get("t0_unix_s", 0.0))

    @property
    def duration_s(self) -> float:
        return self.records[-1].t_s if self.records else 0.0

    @property
    def session(self) -> dict[str, Any]:
        s = self.header.get("session")
        return s if isinstance(s, dict) else {}

    def of_kind(self, *kinds: int) -> Iterator[Record]:
        return (r for r in self.records if r.kind in kinds)

    @property
    def end(self) -> dict[str, Any] | None:
        for r in reversed(self.records):
            if r.kind == K_END:
                return r.obj
        return None


def is_capture(path: str | os.PathLike[str]) -> bool:
    """True for a file that starts like a holdsense capture (gzip whose content begins with the magic)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head[:2] != b"\x1f\x8b":
        return False
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 16)[:5] == MAGIC
    except zlib.error:
        return False


def read_capture(path: str | os.PathLike[str]) -> Capture:
    """Read a capture. A killed writer's file reads up to its last flush (`truncated`, a warning);
    anything else wrong — not a capture, another major version, a damaged record — is one
    `CaptureError` line (exit 2 from the CLI)."""
    p = Path(path)
    if not p.exists():
        raise CaptureError(f"{p}: no such file")
    if p.is_dir():
        raise CaptureError(f"{p}: is a directory")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CaptureError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not raw:
        raise CaptureError(f"{p}: empty file")
    if raw[:2] != b"\x1f\x8b":
        raise CaptureError(f"{p}: not a holdsense capture (not gzip-compressed; expected {FORMAT})")
    try:
        data, truncated = gunzip_tolerant(raw)
    except OSError as exc:
        raise CaptureError(f"{p}: damaged capture (gzip data unreadable: {exc})") from None
    if len(data) < 8:
        if MAGIC.startswith(data[:5]) and truncated:
            raise CaptureError(f"{p}: capture ends before its header (the writer stopped at once)")
        raise CaptureError(f"{p}: not a holdsense capture (gzip file without the {FORMAT} magic)")
    if data[:5] != MAGIC:
        raise CaptureError(f"{p}: not a holdsense capture (gzip file without the {FORMAT} magic)")
    major, minor = data[5], data[6]
    if major != VERSION_MAJOR:
        raise CaptureError(f"{p}: capture format version {major}.{minor}, this holdsense reads "
                           f"{VERSION_MAJOR}.x: upgrade holdsense")
    records: list[Record] = []
    links: list[LinkInfo] = []
    warnings: list[str] = []
    i = 8
    t_us = 0
    n = len(data)
    link = -1
    cut_inside = False
    while i < n:
        start = i
        try:
            kind = data[i]
            dt, i = _read_varint(data, i + 1)
            length, i = _read_varint(data, i)
        except IndexError:
            cut_inside = True
            break
        except ValueError:
            raise CaptureError(f"{p}: damaged capture (bad record header at byte {start} of the content)") from None
        if length > MAX_PAYLOAD:
            raise CaptureError(f"{p}: damaged capture (record {len(records)} claims {length} bytes)")
        if i + length > n:
            cut_inside = True
            break
        payload = data[i:i + length]
        i += length
        t_us += _unzigzag(dt)
        obj = None
        if kind in JSON_KINDS:
            try:
                obj = json.loads(payload)
            except ValueError:
                raise CaptureError(f"{p}: damaged capture ({KIND_NAMES[kind]} record {len(records)} is not "
                                   f"valid JSON)") from None
        elif kind not in (K_RX, K_TX):
            continue  # a newer minor version's record kind: skip it
        rec = Record(kind, t_us / 1e6, payload, obj, link)
        if not records and kind != K_HEADER:
            raise CaptureError(f"{p}: damaged capture (first record is {rec.kind_name}, not the header)")
        if kind == K_LINK_OPEN:
            link = len(links)
            rec.link = link
            links.append(LinkInfo(link, obj if isinstance(obj, dict) else {}, rec.t_s))
        elif kind == K_LINK_CLOSED and 0 <= link < len(links) and links[link].t_close_s is None:
            links[link].t_close_s = rec.t_s
            links[link].close_reason = (obj or {}).get("reason") if isinstance(obj, dict) else None
        records.append(rec)
    if not records:
        raise CaptureError(f"{p}: capture ends before its header (the writer stopped at once)")
    header = records[0].obj if isinstance(records[0].obj, dict) else {}
    complete = any(r.kind == K_END for r in records[-1:])
    if complete and truncated and not cut_inside:
        # the writer finished properly; something appended bytes that are not a gzip stream
        warnings.append(f"{p}: bytes after the capture's end are not gzip data: ignored (the capture itself "
                        "is complete)")
        truncated = False
    elif cut_inside or truncated:
        warnings.append(f"{p}: capture ends abruptly after {records[-1].t_s:.1f} s "
                        f"(the recorder was killed?): using the {len(records)} complete records")
    return Capture(str(p), (major, minor), header, records, links, complete, cut_inside or truncated, warnings,
                   len(raw), len(data))
