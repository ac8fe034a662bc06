"""Replaying raw wire captures (`holdsense-capture/1`, docs/capture.md) through the host's own link code.

- `ReplayEngine`: answers a live host's commands from the recorded replies and
  yields the recorded bytes in order; driven in real time by the virtual
  device (`holdsense virtual-device --replay-capture`, `virtual.replay`) or
  instantly by `CaptureTransport` for offline decoding.
- `decode_capture(path) -> DecodedCapture`: the capture run through the
  host's own `Device` in-process (what `holdsense analyze` and `holdsense
  capture-info` use; `holdsense.io.registry` finds `load_capture_for_analysis`
  here for `.hscap` files).
- `capture_summary` / `render_summary`: `holdsense capture-info`.

The file format (reading, writing) is `holdsense.io.capture`; this module is
above both io and link, so it may use both.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..io.capture import K_DEVICE, K_RX, K_TX, Capture, CaptureError, LinkInfo, Record, read_capture
from ..link.transport import LinkLost, Transport
from ..messages import Listener


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
        from ..link.frames import FrameDecoder, FrameError, FrameType, decode_raw

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

        from ..link.frames import FrameType, crc16

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
    from ..link.frames import crc16

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

    def in_realtime_span(self, t_s: float) -> bool:
        """Whether capture time t_s (s) lies in a reboot span played at 1x (its ends included)."""
        return any(a <= t_s <= b for a, b in self.realtime_spans)

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
        from ..link.frames import FrameDecoder

        self._host_dec = FrameDecoder()

    @property
    def link(self) -> _LinkScript | None:
        return self.links[self.link_i] if self.link_i < len(self.links) else None

    def host_sent(self, data: bytes, packetized: bool | None = None) -> None:
        """Bytes the live host wrote (one write on a packet link). Matches or answers its commands."""
        from ..link.frames import FrameError, FrameType, decode_raw

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
        from ..link.frames import Cmd, ErrorCode, FrameType, encode_frame

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
        from ..link.frames import serial_wrap

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
                from ..link.frames import decode_raw

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
        """A `holdsense.io.recording.Recording` identical to the one `holdsense record` wrote from these bytes:
        the samples go through `RecordingWriter` and are read back (same rounding, same flags)."""
        from ..io.recording import RecordingWriter, read_recording

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
    from ..link.frames import FrameDecoder, FrameError, FrameType, decode_raw

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

    from ..link.device import Device
    from ..errors import DeviceError
    from ..messages import Gap, Info, Samples, Status
    from ..link.frames import Cmd, FrameError
    from ..link.commands import parse_reply
    from ..listeners.recorder import Until

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
                from ..link.frames import decode_raw

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
        metadata = dev.recording_metadata(body_mass_kg=session.get("body_mass_kg"), region=session.get("region"),
                                       client=session.get("client"))
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
    from ..link.frames import Cmd

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
        # "link": the link's number as the capture's records give it (LINK_OPEN's `link`: 0, 1, ...)
        "links": [{"link": li.index, "name": li.info.get("name"), "transport": li.info.get("transport"),
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
    from ..fmt import fmt_clock

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
        # numbered from 0 like the JSON's `link` and the format's LINK_OPEN records (docs/capture.md)
        lines.append(f"  link {li.get('link', i)}     {li['name']} ({'packets' if li['packetized'] else 'byte stream'}), "
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
