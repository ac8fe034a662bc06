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

- `CaptureWriter`: the writer. `Device(on_transport=writer.attach_transport)`
  puts it on every transport the device opens (reconnects included); it is
  also a `Listener` (device info, gaps, link errors as notes).
- `read_capture(path) -> Capture`: the reader (tolerant of a killed writer;
  one clear `CaptureError` line for anything else).
- `ReplayEngine`: answers a live host's commands from the recorded replies and
  yields the recorded bytes in order; driven in real time by the virtual
  device (`holdsense virtual-device --replay-capture`) or instantly by
  `CaptureTransport` for offline decoding.
- `decode_capture(path) -> DecodedCapture`: the capture run through the
  host's own `Device` in-process (what `holdsense analyze` and `holdsense
  capture-info` use).
"""
from __future__ import annotations

import io
import json
import os
import platform
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import UserError
from .listener import Listener
from .recording import gunzip_tolerant
from .transport import LinkLost, Transport

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
    from . import __version__

    return {"holdsense": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "argv": list(sys.argv if argv is None else argv)}


class CaptureWriter(Listener):
    """Appends `holdsense-capture/1` records to `path` as bytes cross the link.

    Thread-safe: taps fire on whichever thread reads or writes the transport,
    listener callbacks on the notifier's. A background thread sync-flushes the
    gzip stream every `flush_interval_s` (default 0.5 s) when something is
    pending and fsyncs about once a second, so a recorder killed with SIGKILL
    loses at most the last ~0.5 s of the capture and the file still decodes.
    `close(stats)` writes the END record and closes the gzip stream properly.

    `session` (body mass, region, duration, the recording file) goes into the
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
        slow disk never stalls the receive loop.
        """
        with self._io_lock:
            if self._fh.closed:
                return
            with self._lock:
                pending, self._pending = self._pending, []
            if pending or finish:
                out = self._z.compress(b"".join(pending))
                out += self._z.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
                self._fh.write(out)
                self._fh.flush()
            if sync or finish:
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
                self._last_sync = time.monotonic()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush(sync=time.monotonic() - self._last_sync >= 1.0)
            except (OSError, ValueError):
                return

    # -- the link --
    def attach_transport(self, transport: Any) -> None:
        """A transport was opened (first connect or reconnect): note it and tap its bytes.

        Pass as `Device(on_transport=...)` / `open_device(args, on_transport=...)`,
        so the handshake is captured too.
        """
        packetized = bool(getattr(transport, "packetized", False))
        name = str(getattr(transport, "name", type(transport).__name__))
        info: dict[str, Any] = {"link": self.links, "transport": "ble" if name.startswith("ble") else "serial",
                                "name": name, "class": type(transport).__name__, "packetized": packetized}
        for attr in ("port", "address", "device_name", "mtu"):
            v = getattr(transport, attr, None)
            if isinstance(v, (str, int, float)):
                info[attr] = v
        with self._lock:
            if self._transport is not None:
                self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": "replaced"}))
            self._transport = transport
            self.links += 1
            self._record(K_LINK_OPEN, _json(info))
        transport.add_tap(self.tap)

    def tap(self, direction: str, data: bytes, host_time_s: float) -> None:
        """The transport tap: one RX record per chunk received, one TX record per write."""
        with self._lock:
            if direction == "rx":
                self.rx_bytes += len(data)
                self._record(K_RX, bytes(data), host_time_s)
            else:
                self.tx_bytes += len(data)
                self._record(K_TX, bytes(data), host_time_s)

    # -- Listener: what the host made of it (informative; replay uses the bytes) --
    def on_info(self, info: dict[str, Any]) -> None:
        self.write_record(K_DEVICE, info)

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        self.write_record(K_NOTE, {"event": "gap", "t_s": t_s, "reason": reason, "lost_samples": lost_samples})

    def on_status(self, status: dict[str, Any]) -> None:
        if status.get("link_error"):
            with self._lock:
                self._record(K_NOTE, _json({"event": "link_lost", "error": status["link_error"]}))
                if self._transport is not None:
                    self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": status["link_error"]}))
                    self._transport = None

    def stop(self) -> None:
        """Listener end of stream: nothing (the owner calls `close(stats)` after the device is closed)."""

    def close(self, stats: dict[str, Any] | None = None) -> None:
        """Write END (with the host's counters) and finish the gzip stream; safe to call twice."""
        self._stop.set()
        with self._lock:
            if self._closed:
                return
            if self._transport is not None:
                self._record(K_LINK_CLOSED, _json({"link": self.links - 1, "reason": "closed"}))
                self._transport = None
            self._record(K_END, _json({"records": self.records + 1, "rx_bytes": self.rx_bytes,
                                       "tx_bytes": self.tx_bytes, "stats": stats or {}}))
            self._closed = True  # later taps (a transport still closing) are ignored
        self.flush(finish=True)
        with self._io_lock:
            self._fh.close()

    def __enter__(self) -> "CaptureWriter":
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
    if cut_inside or truncated:
        warnings.append(f"{p}: capture ends abruptly after {records[-1].t_s:.1f} s "
                        f"(the recorder was killed?): using the {len(records)} complete records")
    return Capture(str(p), (major, minor), header, records, links, complete, cut_inside or truncated, warnings,
                   len(raw), len(data))


# ----------------------------------------------------------------------------------- replay engine
@dataclass
class _Item:
    kind: str  # "rx" or "tx"
    t_s: float
    data: bytes = b""
    a: int = 0  # rx on a stream link: offsets of the chunk in the link's rx stream
    b: int = 0
    cmd: int = -1  # tx: command code and seq of the CMD frame it carries
    seq: int = -1
    consumed: bool = False
    samples: bool = False  # rx: a SAMPLES frame is complete in (ends within) this chunk


@dataclass
class _ReplyFrame:
    a: int  # stream offsets of the encoded frame (without its delimiter) or the item index (packet links)
    b: int
    cmd_seq: int
    cmd: int
    raw: bytes  # raw frame (type, seq, payload, crc)


class _LinkScript:
    """One link of a capture, prepared for replay: items in order, reply frames located."""

    def __init__(self, info: LinkInfo, recs: list[Record]) -> None:
        from .protocol import FrameDecoder, FrameError, FrameType, decode_raw

        self.info = info
        self.packetized = info.packetized
        self.items: list[_Item] = []
        self.replies: list[_ReplyFrame] = []
        self.frame_bounds: list[tuple[int, int]] = []  # stream links: (end offset incl. delimiter, frame seq)
        self.frame_types: list[int] = []  # stream links: the type of each frame in frame_bounds
        self.max_frame = 0  # longest good raw frame received (bytes; a BLE notification must hold it)
        stream = bytearray()
        host_dec = FrameDecoder()
        for r in recs:
            if r.kind == K_RX:
                it = _Item("rx", r.t_s, r.data, len(stream), len(stream) + len(r.data))
                if self.packetized:
                    it.a = it.b = len(self.items)
                    try:
                        f = decode_raw(r.data)
                        it.samples = f.type == FrameType.SAMPLES
                        self.max_frame = max(self.max_frame, len(r.data))
                        if f.type in (FrameType.ACK, FrameType.ERROR) and len(f.payload) >= 3:
                            self.replies.append(_ReplyFrame(it.a, it.a, f.payload[0] | (f.payload[1] << 8),
                                                            f.payload[2], bytes(r.data)))
                    except FrameError:
                        pass
                else:
                    stream += r.data
                self.items.append(it)
            elif r.kind == K_TX:
                if self.packetized:
                    try:
                        frames = [decode_raw(r.data)]
                    except FrameError:
                        frames = []
                else:
                    frames = host_dec.feed(r.data)
                cmds = [f for f in frames if f.type == FrameType.CMD and f.payload]
                if not cmds:
                    continue
                for f in cmds:
                    self.items.append(_Item("tx", r.t_s, r.data, cmd=f.payload[0], seq=f.seq))
        self.stream = bytes(stream)
        if not self.packetized:
            self._locate_frames()
            import bisect

            ends = [e for e, _ in self.frame_bounds]
            for it in self.items:
                if it.kind == "rx":
                    k0, k1 = bisect.bisect_right(ends, it.a), bisect.bisect_right(ends, it.b)
                    it.samples = any(self.frame_types[k] == FrameType.SAMPLES for k in range(k0, k1))
        self.t_end_s = recs[-1].t_s if recs else info.t_open_s

    def _locate_frames(self) -> None:
        from cobs import cobs as _cobs

        from .protocol import FrameType, crc16

        s = self.stream
        pos = 0
        while True:
            z = s.find(b"\x00", pos)
            if z < 0:
                break
            enc = s[pos:z]
            if enc:
                try:
                    raw = _cobs.decode(enc)
                except _cobs.DecodeError:
                    raw = b""
                if len(raw) >= 5 and crc16(raw[:-2]) == raw[-2] | (raw[-1] << 8):
                    seq = raw[1] | (raw[2] << 8)
                    self.frame_bounds.append((z + 1, seq))
                    self.frame_types.append(raw[0])
                    self.max_frame = max(self.max_frame, len(raw))
                    if raw[0] in (FrameType.ACK, FrameType.ERROR) and len(raw) >= 8:
                        self.replies.append(_ReplyFrame(pos, z, raw[3] | (raw[4] << 8), raw[5], bytes(raw)))
            pos = z + 1


def _patch_reply(raw: bytes, cmd_seq: int, frame_seq: int | None = None) -> bytes:
    """A reply frame with its `cmd_seq` (and optionally its own seq) replaced, CRC recomputed."""
    from .protocol import crc16

    body = bytearray(raw[:-2])
    body[3] = cmd_seq & 0xFF
    body[4] = (cmd_seq >> 8) & 0xFF
    if frame_seq is not None:
        body[1] = frame_seq & 0xFF
        body[2] = (frame_seq >> 8) & 0xFF
    c = crc16(bytes(body))
    return bytes(body) + bytes((c & 0xFF, c >> 8))


@dataclass
class Emit:
    """Send `data` to the host; `t_s` is when it was received originally (capture time), None = now."""

    data: bytes
    t_s: float | None


@dataclass
class WaitHost:
    """The capture's host sent a command here: wait for the live host's (up to `timeout_s`; None = no limit)."""

    t_s: float
    cmd: int
    timeout_s: float | None


@dataclass
class LinkEnd:
    """The link dropped here; the next one opened `gap_s` later (capture time)."""

    t_s: float
    gap_s: float


@dataclass
class End:
    """Nothing more to play."""

    t_s: float


Action = Emit | WaitHost | LinkEnd | End


class ReplayEngine:
    """Plays a capture to a live host: the recorded bytes in order, the host's commands answered.

    The capture is a timeline of received chunks (RX) and commands the
    original host sent (TX). The engine walks it: an RX item is emitted as it
    was captured (byte-exact, garbage included); at a TX item it waits for the
    live host to send the same command, then goes on (the RX after it carries
    the recorded reply, with its command sequence number rewritten to the live
    host's so the host matches it). A command the capture does not have at that
    point is answered at once with a recorded reply to the same command (its
    frame seq chosen so the host's lost-frame count is untouched), or, if the
    capture never saw that command, a plain ACK (start/stop/cue) or ERROR
    "unsupported". A recorded command the live host never sends is skipped after
    `tx_wait_s` (the first of each link waits without limit: the host connects
    when it connects). A reconnect in the capture becomes a `LinkEnd`: the
    driver drops the link so the host reconnects, and its handshake is answered
    from the next link's records.

    `out_packetized`: the link the engine plays onto delivers one frame per
    chunk (BLE). Frames of a packet capture played onto a byte stream are COBS
    framed; a stream capture played onto packets is cut into frames.
    """

    def __init__(self, capture: Capture, *, out_packetized: bool = False, tx_wait_s: float = 5.0) -> None:
        self.capture = capture
        self.out_packetized = out_packetized
        self.tx_wait_s = tx_wait_s
        by_link: dict[int, list[Record]] = {}
        for r in capture.records:
            if r.link >= 0 and r.kind in (K_RX, K_TX):
                by_link.setdefault(r.link, []).append(r)
        self.links = [_LinkScript(li, by_link.get(li.index, [])) for li in capture.links]
        self.link_i = 0
        self.item_i = 0
        self.pos = 0  # stream links: offset in the rx stream emitted so far
        self._first_tx_pending = True
        self._seqmap: dict[int, int] = {}
        self._inject: list[bytes] = []
        self._host_dec: Any = None
        self._last_frame_seq: int | None = None
        self.commands_matched = 0
        self.commands_injected = 0
        self.commands_skipped = 0
        self.skipped: list[_Item] = []
        self.finished = False
        self.realtime_spans = self._reboot_spans()
        self._new_host_decoder()

    def _reboot_spans(self) -> list[tuple[float, float]]:
        """Capture-time spans around each reboot that a faster replay must still play in real time.

        After a reboot the host places the new device time base after the last
        sample by the *host* time that passed between the last samples of the old
        boot and the first of the new (SampleUnpacker). Played `speed` times
        faster, that interval shrinks and every later t_s moves. So from the
        last RX chunk with samples before the reboot (the DEVICE record with a
        new boot id marks it) to the first RX chunk with samples after it —
        boot banner, INFO, the host's START, a link drop if the reboot fell in
        one — the replay keeps the original timing.
        """
        import bisect

        sample_t = sorted(it.t_s for ln in self.links for it in ln.items if it.kind == "rx" and it.samples)
        spans: list[tuple[float, float]] = []
        prev = None
        for r in self.capture.records:
            if r.kind != K_DEVICE or not isinstance(r.obj, dict) or r.obj.get("boot_id") is None:
                continue
            boot = r.obj["boot_id"]
            if prev is not None and boot != prev and sample_t:
                i = bisect.bisect_right(sample_t, r.t_s)
                spans.append((sample_t[i - 1] if i > 0 else r.t_s, sample_t[i] if i < len(sample_t) else r.t_s))
            prev = boot
        return spans

    def replay_s(self, t0_s: float, t1_s: float, speed: float) -> float:
        """Host seconds a replay at `speed` takes from capture time t0_s to t1_s (reboot spans at 1×)."""
        total = (t1_s - t0_s) / speed
        if t1_s > t0_s and speed != 1.0:
            for a, b in self.realtime_spans:
                lo, hi = max(a, t0_s), min(b, t1_s)
                if hi > lo:
                    total += (hi - lo) * (1.0 - 1.0 / speed)
        return total

    # -- host side --
    def _new_host_decoder(self) -> None:
        from .protocol import FrameDecoder

        self._host_dec = FrameDecoder()

    @property
    def link(self) -> _LinkScript | None:
        return self.links[self.link_i] if self.link_i < len(self.links) else None

    def host_sent(self, data: bytes, packetized: bool | None = None) -> None:
        """Bytes the live host wrote (one write on a packet link). Matches or answers its commands."""
        from .protocol import FrameError, FrameType, decode_raw

        pk = self.out_packetized if packetized is None else packetized
        if pk:
            try:
                frames = [decode_raw(bytes(data))]
            except FrameError:
                return  # the firmware does not answer a command that fails its CRC either
        else:
            frames = self._host_dec.feed(bytes(data))
        for f in frames:
            if f.type == FrameType.CMD and f.payload:
                self._command(f.payload[0], f.seq)

    def _command(self, cmd: int, seq: int) -> None:
        ln = self.link
        if ln is not None:
            for j in range(self.item_i, len(ln.items)):
                it = ln.items[j]
                if it.kind != "tx" or it.consumed:
                    continue
                if it.cmd == cmd:
                    it.consumed = True
                    self.commands_matched += 1
                    if it.seq != seq:
                        self._seqmap[it.seq] = seq
                    return
                break  # strict order: only the next recorded command can match
        self._inject.append(self._answer(cmd, seq))
        self.commands_injected += 1

    def _answer(self, cmd: int, seq: int) -> bytes:
        """A raw reply frame for a command the capture has no slot for here."""
        from .protocol import Cmd, ErrorCode, FrameType, encode_frame

        fseq = self._last_frame_seq if self._last_frame_seq is not None else 0
        cur = self.link
        candidates = ([cur] if cur is not None else []) + [ln for ln in self.links if ln is not cur]
        for ln in candidates:
            for r in ln.replies:
                if r.cmd == cmd:
                    return _patch_reply(r.raw, seq, fseq)
        head = bytes((seq & 0xFF, seq >> 8 & 0xFF, cmd))
        if cmd in (Cmd.START, Cmd.STOP, Cmd.CUE):
            return encode_frame(FrameType.ACK, fseq, head)
        return encode_frame(FrameType.ERROR, fseq, head + bytes((ErrorCode.UNSUPPORTED,))
                            + b"not in this capture (replayed roller)")

    # -- device side --
    def _wrap_out(self, raw: bytes) -> bytes:
        from .protocol import serial_wrap

        return raw if self.out_packetized else serial_wrap(raw)

    def _at_frame_boundary(self) -> bool:
        """On a byte stream: nothing emitted yet on this link, or the last byte sent was a delimiter."""
        ln = self.link
        return ln is None or ln.packetized or self.pos == 0 or ln.stream[self.pos - 1] == 0

    def _note_frames_upto(self, ln: _LinkScript, pos: int) -> None:
        import bisect

        k = bisect.bisect_right(ln.frame_bounds, (pos, 1 << 17)) - 1
        if k >= 0:
            self._last_frame_seq = ln.frame_bounds[k][1]

    def _patched(self, ln: _LinkScript, a: int, b: int) -> bytes:
        """Stream bytes [a, b) with recorded replies re-addressed to the live host's sequence numbers."""
        from cobs import cobs as _cobs

        out = bytearray(ln.stream[a:b])
        if self._seqmap:
            for r in ln.replies:
                if r.b <= a or r.a >= b or r.cmd_seq not in self._seqmap:
                    continue
                enc = _cobs.encode(_patch_reply(r.raw, self._seqmap[r.cmd_seq]))
                if len(enc) != r.b - r.a:
                    continue  # cannot happen for frames < 254 bytes; leave the bytes as captured
                lo, hi = max(a, r.a), min(b, r.b)
                out[lo - a:hi - a] = enc[lo - r.a:hi - r.a]
        return bytes(out)

    def _emit_item(self, ln: _LinkScript, it: _Item) -> list[bytes]:
        """The chunks to send for an RX item (several when a packet capture meets a stream or vice versa)."""
        if ln.packetized:
            raw = it.data
            if raw and self._seqmap:
                for r in ln.replies:
                    if r.a == self.item_i and r.cmd_seq in self._seqmap:
                        raw = _patch_reply(r.raw, self._seqmap[r.cmd_seq])
            try:
                from .protocol import decode_raw

                self._last_frame_seq = decode_raw(raw).seq
            except ValueError:
                pass
            return [raw] if self.out_packetized else [self._wrap_out(raw)]
        if not self.out_packetized:
            a = max(it.a, self.pos)
            data = self._patched(ln, a, it.b)
            self.pos = it.b
            self._note_frames_upto(ln, self.pos)
            return [data]
        # A byte stream onto a packet link (a serial capture on BLE): one notification per delimited piece of
        # the stream, in order: each frame's raw bytes exactly as the roller built them (COBS and delimiter
        # taken off), and each run of garbage between delimiters one undecodable notification, which the host
        # counts as one corrupt frame, as its serial decoder counts that run. A frame the read cut in two
        # waits for the chunk that completes it (self.pos stays before it).
        from cobs import cobs as _cobs

        z = ln.stream.rfind(b"\x00", self.pos, it.b)
        if z < 0:
            return []
        data = self._patched(ln, self.pos, z + 1)
        self.pos = z + 1
        self._note_frames_upto(ln, self.pos)
        out = []
        for enc in data.split(b"\x00")[:-1]:
            if not enc:
                continue  # an empty piece (two delimiters): the serial decoder skips it too
            try:
                out.append(_cobs.decode(enc))
            except _cobs.DecodeError:
                out.append(enc)  # garbage stays garbage: the host counts it as a corrupt frame
        return out

    def step(self) -> Action | list[Emit]:
        """The next thing to do: a list of Emit, a WaitHost, a LinkEnd or End."""
        ln = self.link
        if self._inject:
            if ln is None or ln.packetized or self._at_frame_boundary():
                inj, self._inject = self._inject, []
                return [Emit(self._wrap_out(x), None) for x in inj]
            # mid-frame on a stream: finish the frame in progress first (an injected frame must not cut it)
            it = ln.items[self.item_i] if self.item_i < len(ln.items) else None
            if it is not None and it.kind == "rx":
                end = ln.stream.find(b"\x00", self.pos, it.b)
                if end >= 0:
                    data = self._patched(ln, self.pos, end + 1)
                    self.pos = end + 1
                    self._note_frames_upto(ln, self.pos)
                    return [Emit(data, it.t_s)]
            inj, self._inject = self._inject, []  # no delimiter left in sight: send anyway
            return [Emit(self._wrap_out(x), None) for x in inj]
        if ln is None:
            self.finished = True
            return End(self.capture.duration_s)
        if self.item_i >= len(ln.items):
            # end of this link: the next one (a reconnect) or the end of the capture
            t_end = ln.t_end_s
            self.link_i += 1
            self.item_i = 0
            self.pos = 0
            self._seqmap = {}
            self._first_tx_pending = True
            self._new_host_decoder()
            nxt = self.link
            if nxt is None:
                self.finished = True
                return End(t_end)
            return LinkEnd(t_end, max(0.0, nxt.info.t_open_s - t_end))
        it = ln.items[self.item_i]
        if it.kind == "tx":
            if it.consumed:
                self.item_i += 1
                self._first_tx_pending = False
                return self.step()
            return WaitHost(it.t_s, it.cmd, None if self._first_tx_pending else self.tx_wait_s)
        chunks = self._emit_item(ln, it)
        self.item_i += 1
        return [Emit(c, it.t_s) for c in chunks if c]

    def skip_wait(self) -> None:
        """The live host did not send the recorded command: go on without it."""
        ln = self.link
        if ln is not None and self.item_i < len(ln.items) and ln.items[self.item_i].kind == "tx":
            it = ln.items[self.item_i]
            it.consumed = True
            self.skipped.append(it)
            self.commands_skipped += 1
            self.item_i += 1
            self._first_tx_pending = False

    def progress(self) -> dict[str, Any]:
        return {"link": self.link_i, "links": len(self.links), "item": self.item_i,
                "items": len(self.link.items) if self.link else 0, "finished": self.finished,
                "commands_matched": self.commands_matched, "commands_injected": self.commands_injected,
                "commands_skipped": self.commands_skipped}


# ----------------------------------------------------------------------------------- offline decoding
class _VirtualClock:
    """The capture's host time, advanced by the replay (and a little by every read while waiting)."""

    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s

    def advance_to(self, t_s: float) -> None:
        if t_s > self.t_s:
            self.t_s = t_s


class CaptureTransport(Transport):
    """A `Transport` reading one link of a capture through a `ReplayEngine`, instantly (offline decoding).

    Built by `decode_capture`; a reconnect in the capture makes `recv` raise
    LinkLost, and the device's reconnect gets the next link's transport.
    """

    def __init__(self, engine: ReplayEngine, clock: _VirtualClock, link: _LinkScript,
                 on_skip: Callable[[_Item], None] | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.packetized = link.packetized
        self.name = str(link.info.info.get("name", "capture"))
        self._queue: list[bytes] = []
        self._waited_s = 0.0
        self._on_skip = on_skip
        self.ended = False

    def _recv_chunk(self, timeout_s: float | None) -> bytes | None:
        while not self._queue:
            act = self.engine.step()
            if isinstance(act, list):
                for e in act:
                    if e.t_s is not None:
                        self.clock.advance_to(e.t_s)
                    self._queue.append(e.data)
                self._waited_s = 0.0
            elif isinstance(act, WaitHost):
                self.clock.advance_to(act.t_s)
                wait = 0.05 if timeout_s is None else max(timeout_s, 0.01)
                self._waited_s += wait
                self.clock.t_s += wait
                if self._waited_s >= min(self.engine.tx_wait_s, 1.0):
                    ln = self.engine.link
                    it = ln.items[self.engine.item_i] if ln is not None else None
                    self.engine.skip_wait()
                    if it is not None and self._on_skip is not None:
                        self._on_skip(it)
                    self._waited_s = 0.0
                return None
            elif isinstance(act, LinkEnd):
                self.clock.advance_to(act.t_s)
                self.ended = True
                raise LinkLost(f"{self.name}: link closed in the capture")
            else:  # End
                self.ended = True
                self.engine.finished = True
                self.clock.t_s += 0.01 if timeout_s is None else max(timeout_s, 0.01)
                return None
        return self._queue.pop(0)

    def _write(self, data: bytes) -> None:
        self.engine.host_sent(data, packetized=self.packetized)


@dataclass
class DecodedCapture:
    """What the host makes of a capture: samples (as a recording would hold them), gaps, infos, counters."""

    capture: Capture
    metadata: dict[str, Any]
    samples: Any  # rollsignal.SampleChunk
    gaps: list[dict[str, Any]]
    infos: list[dict[str, Any]]
    stats: dict[str, Any]
    frames: dict[str, Any]
    has_angle: bool

    def to_recording(self):
        """A `holdsense.recording.Recording` identical to the one `holdsense record` wrote from these bytes:
        the samples go through `RecordingWriter` and are read back (same rounding, same flags)."""
        from .recording import RecordingWriter, read_recording

        with tempfile.TemporaryDirectory(prefix="holdsense-capture-") as tmp:
            path = Path(tmp) / "capture.csv"
            with RecordingWriter(path, self.metadata, has_angle=self.has_angle, has_raw=True,
                                 flush_interval_s=1e9) as w:
                if len(self.samples):
                    w.write(self.samples)
            if not len(self.samples):
                raise CaptureError(f"{self.capture.source}: the capture holds no samples")
            rec = read_recording(path, warn=None)
        rec.source = self.capture.source
        rec.warnings.extend(self.capture.warnings)
        return rec


def _frame_counts(cap: Capture) -> dict[str, Any]:
    """Frames found in the received bytes of every link (the decoder's own counters)."""
    from .protocol import FrameDecoder, FrameError, FrameType, decode_raw

    types = {int(t): t.name.lower() for t in FrameType}
    counts: dict[str, int] = {}
    good = crc = cobs_err = oversize = garbage = 0
    for li in cap.links:
        dec = FrameDecoder()
        for r in cap.records:
            if r.link != li.index or r.kind != K_RX:
                continue
            if li.packetized:
                try:
                    frames = [decode_raw(r.data)]
                except FrameError:
                    crc += 1
                    continue
            else:
                frames = dec.feed(r.data)
            for f in frames:
                good += 1
                name = types.get(f.type, f"0x{f.type:02x}")
                counts[name] = counts.get(name, 0) + 1
        crc += dec.crc_errors
        cobs_err += dec.cobs_errors
        oversize += dec.oversize
        garbage += dec.bytes_discarded
    return {"good": good, "by_type": counts, "crc_errors": crc, "cobs_errors": cobs_err, "oversize": oversize,
            "bytes_discarded": garbage}


def decode_capture(path_or_capture: str | os.PathLike[str] | Capture, *,
                   duration_s: float | None = None) -> DecodedCapture:
    """Run a capture through the host's own `Device` in-process, as fast as it goes.

    The device client handshakes, starts, counts lost/corrupt frames, handles
    gaps, reconnects and reboots exactly as on a live link (its host clock is
    the capture's host time), so the samples are the ones `holdsense record`
    made. The recording's duration cut (`--duration`, kept in the capture
    header) is applied the same way. Commands the recording host sent that
    change calibration mid-session (tare) are applied too.
    """
    import rollsignal

    from .device import Device
    from .errors import DeviceError
    from .notifier import Gap, Info, Samples, Status
    from .protocol import Cmd, FrameError, parse_reply
    from .recorder import Until

    cap = path_or_capture if isinstance(path_or_capture, Capture) else read_capture(path_or_capture)
    if not cap.links:
        raise CaptureError(f"{cap.source}: the capture has no link (no bytes were exchanged)")
    engine = ReplayEngine(cap, out_packetized=cap.links[0].packetized, tx_wait_s=1.0)
    clock = _VirtualClock()
    clock.t_s = cap.links[0].t_open_s
    state: dict[str, Any] = {"current": None}
    dev_ref: list[Any] = []

    def on_skip(it: _Item) -> None:
        # a calibration-changing command the recording host sent (e.g. tare): apply its recorded reply
        if it.cmd not in (Cmd.TARE, Cmd.SET_CAL, Cmd.CLEAR_CAL):
            return
        ln = engine.links[min(engine.link_i, len(engine.links) - 1)]
        for r in ln.replies:
            if r.cmd_seq == it.seq and r.cmd == it.cmd and dev_ref:
                from .protocol import decode_raw

                try:
                    dev_ref[0].unpacker.on_reply(parse_reply(decode_raw(r.raw)))
                except (FrameError, ValueError):
                    pass

    def factory() -> Any:
        ln = engine.link
        if ln is None:
            raise DeviceError(f"{cap.source}: capture ended")
        clock.advance_to(ln.info.t_open_s)
        t = CaptureTransport(engine, clock, ln, on_skip=on_skip)
        state["current"] = t
        return t

    dev = Device(factory, name=str(cap.links[0].info.get("name", cap.source)), handshake_timeout_s=3.0,
                 host_clock=clock)
    dev_ref.append(dev)
    session = cap.session
    cut = duration_s if duration_s is not None else session.get("duration_s")
    chunks: list[Any] = []
    gaps: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []

    class _Collect(Listener):
        def on_samples(self, chunk: Any) -> None:
            chunks.append(chunk)

        def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
            gaps.append({"t_s": t_s, "reason": reason, "lost_samples": lost_samples})

    until = Until([_Collect()], cut)
    try:
        dev.connect()
        metadata = dev.recording_metadata(body_mass_kg=session.get("body_mass_kg"), region=session.get("region"))
        metadata["started_utc"] = cap.header.get("started_utc", metadata.get("started_utc"))
        metadata["capture"] = Path(cap.source).name
        dev.start()
        idle_reads = 0
        while not until.done.is_set():
            if dev.link_state != "ok":
                # reconnecting: host time passes (the device's backoff waits on this clock)
                nxt = engine.link
                clock.t_s = max(clock.t_s + 0.25, nxt.info.t_open_s if nxt is not None else 0.0)
            msgs = dev.recv(0.1)
            if msgs is None:
                break
            for m in msgs:
                if isinstance(m, Samples):
                    until.on_samples(m.chunk)
                elif isinstance(m, Gap):
                    until.on_gap(m.t_s, m.reason, m.lost_samples)
                elif isinstance(m, Info):
                    infos.append(m.info)
                elif isinstance(m, Status):
                    pass
            if engine.finished and not msgs:
                idle_reads += 1
                if idle_reads > 3:
                    break
            else:
                idle_reads = 0
    except DeviceError as exc:
        raise CaptureError(f"{cap.source}: the capture does not replay as a holdsense session ({exc})") from None
    finally:
        dev._want_streaming = False  # the capture has ended: no STOP exchange to wait for
        dev.close()
    samples = rollsignal.SampleChunk.concat(chunks) if chunks else rollsignal.SampleChunk(
        *(np_empty() for _ in range(2)))
    stats = dev.stats()
    stats.update({"commands_matched": engine.commands_matched, "commands_injected": engine.commands_injected,
                  "commands_skipped": engine.commands_skipped})
    return DecodedCapture(cap, metadata, samples, gaps, infos, stats, _frame_counts(cap),
                          bool(dev.has_encoder))


def np_empty() -> Any:
    import numpy as np

    return np.zeros(0)


def load_capture_for_analysis(path: str | os.PathLike[str]):
    """`holdsense analyze FILE.hscap`: the recording the host would have written from the capture."""
    return decode_capture(path).to_recording()


# ----------------------------------------------------------------------------------- summary
def capture_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything `holdsense capture-info` shows, as a JSON-able dict."""
    cap = read_capture(path)
    dec = decode_capture(cap)
    rx = [r for r in cap.records if r.kind == K_RX]
    tx = [r for r in cap.records if r.kind == K_TX]
    devices = [r.obj for r in cap.records if r.kind == K_DEVICE and isinstance(r.obj, dict)]
    device = devices[0] if devices else (dec.infos[0] if dec.infos else {})
    boot_ids = []
    for d in devices + dec.infos:
        b = d.get("boot_id")
        if b is not None and b not in boot_ids:
            boot_ids.append(b)
    t = dec.samples.t_s if len(dec.samples) else None
    from .protocol import Cmd

    names = {int(c): c.name.lower() for c in Cmd}
    cmds: dict[str, int] = {}
    for ln in ReplayEngine(cap).links:
        for it in ln.items:
            if it.kind == "tx":
                n = names.get(it.cmd, hex(it.cmd))
                cmds[n] = cmds.get(n, 0) + 1
    return {
        "file": cap.source, "format": f"holdsense-capture/{cap.version[0]}.{cap.version[1]}",
        "complete": cap.complete, "truncated": cap.truncated, "warnings": cap.warnings,
        "started_utc": cap.header.get("started_utc"), "host": cap.header.get("host", {}),
        "session": cap.session, "duration_s": round(cap.duration_s, 3),
        "size": {"file_bytes": cap.compressed_bytes, "content_bytes": cap.raw_bytes, "records": len(cap.records)},
        "links": [{"name": li.info.get("name"), "transport": li.info.get("transport"),
                   "packetized": li.packetized, "open_s": round(li.t_open_s, 3),
                   "close_s": None if li.t_close_s is None else round(li.t_close_s, 3),
                   "close_reason": li.close_reason} for li in cap.links],
        "rx": {"bytes": sum(len(r.data) for r in rx), "chunks": len(rx)},
        "tx": {"bytes": sum(len(r.data) for r in tx), "writes": len(tx), "commands": cmds},
        "frames": dec.frames,
        "samples": {"count": len(dec.samples), "device_s": round(float(t[-1] - t[0]), 3) if t is not None else 0.0,
                    "lost": dec.stats.get("lost_samples", 0)},
        "lost_frames": dec.stats.get("lost_frames", 0), "corrupt_frames": dec.stats.get("corrupt_frames", 0),
        "gaps": dec.gaps, "reconnects": dec.stats.get("reconnects", 0), "reboots": dec.stats.get("reboots", 0),
        "boot_ids": boot_ids, "device": device,
    }


def render_summary(s: dict[str, Any]) -> str:
    """The text of `holdsense capture-info`."""
    from .analysis import fmt_clock

    state = "complete" if s["complete"] else ("truncated (the recorder was killed?)" if s["truncated"]
                                               else "not closed")
    host = s.get("host") or {}
    lines = [f"{s['file']}: {s['format']}, {state}"]
    argv = host.get("argv") or []
    lines.append(f"  recorded   {s.get('started_utc') or '?'} by holdsense {host.get('holdsense', '?')}"
                 + (f" ({' '.join(str(a) for a in argv[1:])})" if len(argv) > 1 else ""))
    lines.append(f"  duration   {s['duration_s']:.1f} s host time ({fmt_clock(s['duration_s'])}); "
                 f"{s['samples']['device_s']:.1f} s of samples")
    sz = s["size"]
    lines.append(f"  size       {sz['file_bytes']:,} bytes compressed, {sz['content_bytes']:,} raw, "
                 f"{sz['records']:,} records")
    for i, li in enumerate(s["links"]):
        lines.append(f"  link {i + 1}     {li['name']} ({'packets' if li['packetized'] else 'byte stream'}), "
                     f"open at {li['open_s']:.1f} s" + (f", closed at {li['close_s']:.1f} s ({li['close_reason']})"
                                                        if li["close_s"] is not None else ""))
    d = s.get("device") or {}
    if d:
        cal = d.get("calibration") or {}
        lines.append(f"  device     {d.get('device') or ('fw ' + str(d.get('fw_version')))}, board {d.get('board')}, "
                     f"protocol {d.get('protocol')}, sensors {','.join(d.get('sensors') or [])}, "
                     f"{d.get('rate_hz')} Hz")
        if cal:
            lines.append(f"  calibration tare {cal.get('tare_counts')} counts, "
                         f"{'fitted' if cal.get('fitted') else 'nominal'}, coefficients {cal.get('counts_to_n')}")
    lines.append(f"  boot ids   {', '.join(f'{b:#010x}' if isinstance(b, int) else str(b) for b in s['boot_ids'])}")
    lines.append(f"  received   {s['rx']['bytes']:,} bytes in {s['rx']['chunks']:,} chunks; sent "
                 f"{s['tx']['bytes']:,} bytes: " + ", ".join(f"{k} ×{v}" for k, v in s["tx"]["commands"].items()))
    fr = s["frames"]
    lines.append(f"  frames     {fr['good']:,} good (" + ", ".join(f"{k} {v:,}" for k, v in sorted(fr["by_type"].items()))
                 + f"); CRC errors {fr['crc_errors']}, COBS errors {fr['cobs_errors']}, oversize {fr['oversize']}, "
                   f"{fr['bytes_discarded']:,} bytes discarded")
    lines.append(f"  samples    {s['samples']['count']:,}; lost {s['samples']['lost']:,} samples, "
                 f"{s['lost_frames']} frames; corrupt frames {s['corrupt_frames']}; reconnects {s['reconnects']}, "
                 f"reboots {s['reboots']}")
    lines.append(f"  gaps       {len(s['gaps'])}" + ("" if not s["gaps"] else ": " + "; ".join(
        f"{g['t_s']:.2f} s {g['reason']}" + (f" ({g['lost_samples']} samples)" if g.get("lost_samples") else "")
        for g in s["gaps"])))
    for w in s["warnings"]:
        lines.append(f"  warning    {w}")
    return "\n".join(lines)
