"""The device client: one holdsense roller over any Transport.

`Device` opens a transport, handshakes (INFO: protocol version, boot id,
sensors, calibration), sends commands and waits for their ACK/ERROR, and
turns the byte stream into messages for the `Notifier`:

- `Samples(chunk)`: `rollsignal.SampleChunk` on the session time base (t_s
  from the device clock, seconds since the first sample), force in newtons
  from the device's own calibration, angle in degrees, flags;
- `Gap(t_s, reason, lost_samples)`: before the first sample after a loss —
  "lost" (link), "dropped" (device queue), "reboot" (new boot id / index
  restart: a new device time base placed after the last sample by the host
  time that passed);
- `Info(dict)`: at connect, after a reconnect or a reboot;
- `Status(dict)`: device STATUS (battery, errors) merged with the host's own
  counters (lost/corrupt frames, lost samples, reconnects) and link state.

Faults it survives, as the brief asks: garbage bytes (the decoder resyncs at
the next 0x00 and counts the error), lost frames (sequence numbers), an
unplugged cable (reconnects by itself with backoff; the gap is marked and the
index jump says exactly how many samples were lost), a reboot. Faults it
cannot survive — nothing answering, a foreign protocol major version — raise
`DeviceError`: one clear line, exit 2.

Decoding is `holdsense.link.frames` / `holdsense.link.commands` (shared with every transport); this module
owns the state machine around it.
"""
from __future__ import annotations

import asyncio
import collections
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ..errors import DeviceError
from ..messages import Gap, Info, Message, Samples, Status
from .frames import PROTO_MAJOR, Calibration, Cmd, Frame, FrameDecoder, FrameError, FrameType, SampleUnpacker, decode_raw
from .commands import (DeviceInfo, Reply, check_compatible, encode_command, parse_info, parse_reply, parse_status,
                       parse_tare)
from .transport import LinkLost, Transport
from .serial import open_transport

#: Reconnect backoff (seconds between attempts): quick at first (a cable re-seated), then every 2 s.
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
#: A link not back after this long (s) is warned about with the last attempt's reason, then again each time
#: the wait has doubled: whoever waits learns why (port gone, busy in another program, a different roller...)
STILL_LOST_WARN_S = 10.0
#: While streaming, a roller sends samples many times a second and a STATUS once a second: no frame at all
#: for this long (s) on a link that reports no loss gets a STATUS probe. No answer: the link is dead (a BLE
#: link can stay "connected" until its supervision timeout) and is reconnected. The roller says it is
#: stopped (another program on this computer sent STOP over a shared BLE link): START again, with a warning.
STALL_PROBE_S = 4.0


#: Sequence jumps larger than this are not counted as lost frames: a stray frame, not a loss.
MAX_PLAUSIBLE_FRAME_GAP = 1024
#: readings a TARE averages when asked for 0 (the firmware's `tare_samples` default)
TARE_DEFAULT_SAMPLES = 40


def tare_timeout_s(n_samples: int, rate_hz: int | None) -> float:
    """Seconds to wait for a TARE's answer: its readings at 75 % of the nominal rate `rate_hz` (10 SPS when
    unknown; real parts run 78-92 SPS at "80" and about 10-11.5 at "10"), plus 2 s, and never under 5 s."""
    n = n_samples or TARE_DEFAULT_SAMPLES
    return max(5.0, 2.0 + n / (0.75 * (rate_hz or 10)))
#: Most bytes one receive takes from a transport that says more is waiting (`Transport.pending`) before decoding.
DRAIN_BYTES = 1 << 16


class SampleFrameGate:
    """Holds back a SAMPLES frame that does not fit the stream until the next frame confirms it.

    CRC-16 lets about 1 in 65,536 corrupt frames through; on a noisy cable over
    hours one will, and a nonsense index or timestamp would otherwise tear the
    time base (t_s jumping by minutes, then back — an unreadable recording).
    A frame is suspicious when its index goes backwards or jumps by more than
    `max_index_jump`, its first timestamp is before the previous frame's last
    sample or more than `max_time_jump_s` after it, or two of its samples are
    more than `max_delta_s` apart (a live stream is flushed every few tens of
    ms). A suspicious frame is passed on only when the next frame continues
    from it (the stream really jumped: e.g. a reboot whose INFO was lost);
    otherwise it is dropped and counted in `rejected`. Frames that fit — all of
    them, normally — go straight through, without delay.
    """

    def __init__(self, max_index_jump: int = 100_000, max_time_jump_s: float = 120.0,
                 max_delta_s: float = 2.0) -> None:
        self.max_index_jump = max_index_jump
        self.max_time_us = int(max_time_jump_s * 1e6)
        self.max_delta_us = int(max_delta_s * 1e6)
        self.rejected = 0
        self.reset()

    def reset(self) -> None:
        """Forget the stream position (new link, START, reboot): the next frame is taken as it is."""
        self._next_index: int | None = None
        self._last_t: int | None = None  # device µs (mod 2^32) of the last sample passed on
        self._held: tuple[Frame, tuple[int, int, int, int]] | None = None

    def _head(self, f: Frame) -> tuple[int, int, int, int] | None:
        """(first_index, t0_us32, t_end_us32, max_delta_us) of a well-formed SAMPLES frame, else None."""
        p = f.payload
        if len(p) < 10:
            return None  # malformed: the unpacker counts it
        n = p[1]
        rl = 11 if p[0] & 1 else 7
        if n == 0 or len(p) != 10 + n * rl:
            return None
        first, t0 = struct.unpack_from("<II", p, 2)
        span = 0
        biggest = 0
        for k in range(1, n):
            i = 10 + k * rl
            d = p[i] | (p[i + 1] << 8) | (p[i + 2] << 16)
            span += d
            if d > biggest:
                biggest = d
        return first, t0, (t0 + span) & 0xFFFFFFFF, biggest

    #: from this many frames in one call, `filter` reads the frame heads with numpy in one go (`_heads`)
    #: rather than frame by frame: the per-sample loop of `_head` was the serial path's largest cost
    VECTOR_FRAMES = 8

    def _heads(self, frames: list[Frame]) -> list[tuple[int, int, int, int] | None]:
        """`[self._head(f) for f in frames]`, computed with numpy over all frames at once (same values)."""
        import numpy as np  # (the link module itself stays numpy-free at import)

        payloads = [f.payload for f in frames]
        nf = len(payloads)
        lens = np.fromiter(map(len, payloads), dtype=np.int64, count=nf)
        buf = np.frombuffer(b"".join(payloads) + bytes(10), dtype=np.uint8)  # (+10: reads past a short payload)
        starts = np.cumsum(lens) - lens
        b = buf.astype(np.int64)
        n = b[starts + 1]
        rl = np.where(b[starts] & 1, 11, 7)
        ok = (lens >= 10) & (n > 0) & (lens == 10 + n * rl)
        first = b[starts + 2] | (b[starts + 3] << 8) | (b[starts + 4] << 16) | (b[starts + 5] << 24)
        t0 = b[starts + 6] | (b[starts + 7] << 8) | (b[starts + 8] << 16) | (b[starts + 9] << 24)
        # the 24-bit time deltas of samples 1..n-1 of every well-formed frame
        cnt = np.where(ok, n - 1, 0)
        total = int(cnt.sum())
        span = np.zeros(nf, dtype=np.int64)
        biggest = np.zeros(nf, dtype=np.int64)
        if total:
            which = np.repeat(np.arange(nf), cnt)
            k = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
            pos = starts[which] + 10 + k * rl[which]
            d = b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16)
            has = np.flatnonzero(cnt)
            seg = (np.cumsum(cnt) - cnt)[has]
            span[has] = np.add.reduceat(d, seg)
            biggest[has] = np.maximum.reduceat(d, seg)
        end = (t0 + span) & 0xFFFFFFFF
        heads: list[tuple[int, int, int, int] | None] = list(zip(first.tolist(), t0.tolist(), end.tolist(),
                                                                 biggest.tolist()))
        for i in np.flatnonzero(~ok).tolist():
            heads[i] = None
        return heads

    def _fits(self, head: tuple[int, int, int, int], next_index: int, last_t: int) -> bool:
        first, t0, _, biggest = head
        di = (first - next_index) & 0xFFFFFFFF
        dt = (t0 - last_t) & 0xFFFFFFFF
        return di <= self.max_index_jump and dt <= self.max_time_us and biggest <= self.max_delta_us

    def _take(self, head: tuple[int, int, int, int], n: int) -> None:
        self._next_index = (head[0] + n) & 0xFFFFFFFF
        self._last_t = head[2]

    def filter(self, frames: list[Frame]) -> list[Frame]:
        """The frames to unpack, in order; a suspicious one may be held until the next call."""
        out: list[Frame] = []
        heads = self._heads(frames) if len(frames) >= self.VECTOR_FRAMES else map(self._head, frames)
        for f, head in zip(frames, heads):
            if head is None:
                out.append(f)
                continue
            if self._held is not None:
                (held, hh), self._held = self._held, None
                h_n = held.payload[1]
                if self._fits(head, (hh[0] + h_n) & 0xFFFFFFFF, hh[2]):
                    out.append(held)  # confirmed by its successor: the stream really moved
                    self._take(hh, h_n)
                else:
                    self.rejected += 1
            if self._next_index is None:
                ok = head[3] <= self.max_delta_us
            else:
                ok = self._fits(head, self._next_index, self._last_t)
            if ok:
                out.append(f)
                self._take(head, f.payload[1])
            else:
                self._held = (f, head)
        return out


@dataclass
class _Waiter:
    """A command waiting for its reply; every retry's seq points here."""

    cmd: int
    event: threading.Event = field(default_factory=threading.Event)
    reply: Reply | None = None


class DeviceTimeout(DeviceError):
    """The device did not answer a command in time."""


class ForeignDevice(DeviceError):
    """Another roller (`device_id`) answered where this session's roller was (a reused port name)."""

    def __init__(self, message: str, device_id: str) -> None:
        super().__init__(message)
        self.device_id = device_id


class Device:
    """A holdsense roller: handshake, commands, and a message source for the Notifier.

    Use `Device.open(port)` (opens and handshakes), then `start()` and hand the
    device to a `Notifier` (it is a source: `recv(timeout_s)`); `close()` stops
    streaming and releases the port. Commands (`tare()`, `cue()`, ...) may be
    sent from any thread while the notifier receives.
    """

    def __init__(self, transport_factory: Callable[[], Transport], *, name: str = "device",
                 handshake_timeout_s: float = 3.0, reconnect: bool = True,
                 reconnect_timeout_s: float | None = None,
                 host_clock: Callable[[], float] = time.monotonic,
                 on_transport: Callable[[Transport], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.name = name
        # what the user must know but is no error (another roller on the port): also a Status "warning"
        self._warn = warn
        self._foreign_ids: set[str] = set()
        self._on_transport = on_transport  # sees every transport opened (raw capture: holdsense.listeners.capture_tap)
        self._factory = transport_factory
        self.handshake_timeout_s = handshake_timeout_s
        self.reconnect = reconnect
        self.reconnect_timeout_s = reconnect_timeout_s
        self._clock = host_clock
        self.transport: Transport | None = None
        self.decoder = FrameDecoder()
        self.gate = SampleFrameGate()
        self.unpacker = SampleUnpacker(host_clock=host_clock)
        self.info: DeviceInfo | None = None
        self.last_status: dict[str, Any] = {}
        # host-side counters
        self.lost_frames = 0  # frames missing by sequence number (includes ones dropped as corrupt)
        self.corrupt_frames = 0  # frames that failed COBS/CRC/length on a packet link, or a bad payload
        self.reconnects = 0
        self.link_state = "closed"
        self._taps: list[Callable[[str, bytes, float], None]] = []
        self._rx_seq: int | None = None
        self._tx_seq = 0
        self._waiters: dict[int, _Waiter] = {}
        self._rx_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._pending: collections.deque[Message] = collections.deque()
        self._sample_frames: list[Frame] = []
        self._holding_samples = False  # during a handshake: keep samples until the INFO is known
        self._want_streaming = False
        self._started = False  # this session's first START sent
        self._lost_at: float | None = None
        self._next_attempt = 0.0
        self._attempt = 0
        self._next_lost_warn_s = STILL_LOST_WARN_S
        self._closed = False
        self._bytes_in = 0
        self._last_rx = 0.0  # host clock of the last valid frame (stall probe)
        self._next_probe = 0.0
        self._stall_warned = False
        self._texts_in: list[str] = []  # the roller's TEXT messages on this transport (a failed handshake says them)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, port: str, **kwargs: Any) -> "Device":
        """Open `port` (serial path or pyserial URL), handshake, and return the device (not yet streaming)."""
        dev = cls(lambda: open_transport(port), name=port, **kwargs)
        dev.connect()
        return dev

    def add_tap(self, tap: Callable[[str, bytes, float], None]) -> None:
        """Every chunk received/sent, on this and every later (reconnected) transport (raw capture)."""
        self._taps.append(tap)
        if self.transport is not None:
            self.transport.add_tap(tap)

    def _open_transport(self) -> None:
        t = self._factory()
        for tap in self._taps:
            t.add_tap(tap)
        if self._on_transport is not None:
            self._on_transport(t)
        self.transport = t
        self.decoder.reset()
        self.gate.reset()
        self._rx_seq = None
        self._bytes_in = 0
        self._texts_in = []

    def connect(self) -> DeviceInfo:
        """Open the transport and handshake; DeviceError (exit 2) if nothing sensible answers."""
        self._open_transport()
        try:
            info = self._handshake(self.handshake_timeout_s)
        except BaseException:
            self._drop_transport()
            raise
        self.link_state = "ok"
        return info

    def _handshake(self, timeout_s: float, extra: dict[str, Any] | None = None,
                   expect_id: str | None = None) -> DeviceInfo:
        self._holding_samples = True
        try:
            if self._framing() == "serial":
                # a lone delimiter first (docs/protocol.md §7): bytes an earlier session left in the
                # roller's receive buffer (a command cut off as its port closed) end there as one
                # discarded run, instead of swallowing this INFO and costing a retry
                try:
                    self.transport.write(b"\x00")
                except LinkLost as exc:
                    raise DeviceError(f"{self.name}: link lost ({exc})") from None
            try:
                reply = self.command(Cmd.INFO, timeout_s=timeout_s / 3, retries=2, check=False)
            except DeviceTimeout:
                raise DeviceError(self._silence_message(timeout_s)) from None
            if not reply.ok or not isinstance(reply.result, DeviceInfo):
                raise DeviceError(f"{self.name}: the device did not answer INFO properly "
                                  f"({reply.message or 'no info'}): not a holdsense roller?")
            info = reply.result
            check_compatible(info)  # foreign major version: clear message, nothing else sent
            if expect_id is not None and info.device_id != expect_id:
                raise ForeignDevice(f"{self.name}: a different roller answered (id {info.device_id}; this "
                                    f"session's is {expect_id}): not taken, waiting for its own", info.device_id)
            self._take_info(info, announce=True, extra=extra)
        finally:
            self._holding_samples = False
        self._flush_samples()
        return info

    def _silence_message(self, timeout_s: float) -> str:
        if self._texts_in:
            # valid frames came, just no INFO reply: the roller says why (e.g. a BLE link whose ATT MTU
            # is too small for the reply: "MTU 23 need 69"); pass that on rather than guess
            said = "; ".join(dict.fromkeys(self._texts_in[-3:]))
            return (f"{self.name}: no reply to INFO within {timeout_s:g} s; the roller says: {said}")
        if self._bytes_in == 0:
            return (f"{self.name}: no answer from a holdsense roller within {timeout_s:g} s (nothing received; "
                    f"is the roller powered and running the holdsense firmware? see 'holdsense deploy')")
        return (f"{self.name}: received {self._bytes_in} bytes but no valid holdsense frame within {timeout_s:g} s "
                f"({self.decoder.errors} corrupt): this port is not a holdsense roller, or its firmware is too old "
                f"(see 'holdsense deploy')")

    def _take_info(self, info: DeviceInfo, *, announce: bool, extra: dict[str, Any] | None = None) -> None:
        """A new INFO (handshake, START, boot): calibration, reboot detection, listeners told."""
        rebooted = self.info is not None and info.boot_id != self.info.boot_id
        self.info = info
        self.unpacker.on_info(info)  # takes the calibration; notices a new boot id
        if rebooted:
            self.gate.reset()
        if announce or rebooted:
            d = info.to_dict()
            d["device"] = info.device_line()
            d["port"] = self.name
            if rebooted:
                d["rebooted"] = True
            d.update(extra or {})
            self._pending.append(Info(d))
        if rebooted and self._want_streaming and not info.streaming:
            self._send_nowait(Cmd.START)  # a rebooted roller waits for START: resume the session

    # ------------------------------------------------------------------ properties
    @property
    def has_encoder(self) -> bool:
        """True when the roller has the AS5600 shell encoder (samples carry `angle_deg`; holds get travel and
        spot in cm): the detector then judges stillness from the roller's position, not from force alone."""
        return bool(self.info and self.info.has_encoder)

    @property
    def calibration(self) -> Calibration | None:
        """The device's calibration as it is now (tare changes it announced included); None before the
        handshake. Why: samples arrive as raw ADC counts and become newtons with it (contracts.md §1)."""
        return self.unpacker.latest_calibration

    def stats(self) -> dict[str, Any]:
        """Host counters: lost/corrupt frames, lost samples, reconnects, reboots, link state."""
        corrupt = self.corrupt_frames + self.decoder.errors + self.gate.rejected + self.unpacker.bad_frames
        return {"lost_frames": self.lost_frames, "corrupt_frames": corrupt,
                "lost_samples": self.unpacker.lost_samples, "reboots": self.unpacker.reboots,
                "reconnects": self.reconnects, "samples": self.unpacker.samples, "link": self.link_state}

    def recording_metadata(self, **extra: Any) -> dict[str, Any]:
        """Header metadata for a recording of this device (contracts.md §1), plus `extra` (body mass, region)."""
        info = self.info
        meta: dict[str, Any] = {}
        if info is not None:
            meta["sample_rate_hz"] = info.rate_hz
        meta["started_utc"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if info is not None:
            meta["device"] = info.device_line()
            cal = self.calibration.to_dict() if self.calibration is not None else None
            if cal is not None:
                meta["calibration"] = cal
            meta["board"] = info.board
            meta["protocol"] = f"{info.proto_major}.{info.proto_minor}"
            meta["sensors"] = info.sensor_names
            meta["boot_id"] = info.boot_id
        meta["port"] = self.name
        meta.update({k: v for k, v in extra.items() if v is not None})
        return meta

    # ------------------------------------------------------------------ commands
    def _next_seq(self) -> int:
        with self._state_lock:
            s = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 0xFFFF
            return s

    def _framing(self) -> str:
        return "raw" if self.transport is not None and self.transport.packetized else "serial"

    def _send_nowait(self, cmd: Cmd, **kwargs: Any) -> None:
        if self.transport is None:
            return
        try:
            self.transport.write(encode_command(cmd, self._next_seq(), framing=self._framing(), **kwargs))
        except LinkLost:
            pass  # the receive side notices and reconnects

    def command(self, cmd: Cmd | str, *, timeout_s: float = 2.0, retries: int = 2, check: bool = True,
                **kwargs: Any) -> Reply:
        """Send a command and wait for its ACK/ERROR (`retries` more sends if no answer in `timeout_s`).

        Returns the Reply; with `check` an ERROR raises DeviceError. A command
        frame that fails its CRC on the device is not answered, hence the retry.
        """
        if isinstance(cmd, str):
            cmd = Cmd[cmd.upper()]
        if self.transport is None or self._closed:
            raise DeviceError(f"{self.name}: not connected")
        waiter = _Waiter(int(cmd))
        seqs: list[int] = []
        try:
            self._exchange(cmd, waiter, seqs, timeout_s, retries, kwargs)
        except LinkLost as exc:
            if not self._holding_samples:
                with self._rx_lock:
                    if self.transport is not None:
                        self._link_lost(exc)  # the receive loop reconnects
            raise DeviceError(f"{self.name}: link lost while waiting for {cmd.name.lower()} ({exc})") from None
        finally:
            with self._state_lock:
                for s in seqs:
                    self._waiters.pop(s, None)
        if waiter.reply is None:
            raise DeviceTimeout(f"{self.name}: no answer to {cmd.name.lower()} within "
                                f"{timeout_s * (retries + 1):g} s")
        return waiter.reply.raise_for_error() if check else waiter.reply

    def _exchange(self, cmd: Cmd, waiter: _Waiter, seqs: list[int], timeout_s: float, retries: int,
                  kwargs: dict[str, Any]) -> None:
        for _attempt in range(retries + 1):
            t = self.transport
            if t is None:
                raise LinkLost(f"{self.name}: not connected")
            seq = self._next_seq()
            seqs.append(seq)
            with self._state_lock:
                self._waiters[seq] = waiter
            t.write(encode_command(cmd, seq, framing=self._framing(), **kwargs))
            deadline = self._clock() + timeout_s
            while waiter.reply is None:
                left = deadline - self._clock()
                if left <= 0:
                    break
                if self._rx_lock.acquire(blocking=False):
                    try:
                        self._pump(min(0.05, left))
                    finally:
                        self._rx_lock.release()
                else:
                    waiter.event.wait(min(0.05, left))  # another thread receives and will answer us
            if waiter.reply is not None:
                return

    def start(self) -> None:
        """Start streaming (the device answers, then sends INFO and samples).

        A roller still streaming at this session's first START (its last host was killed or unplugged
        without STOP) gets STOP first: that empties its sample queue, whose seconds are from before
        this session, and the samples received meanwhile are dropped, so the recording begins now.
        """
        if not self._started and self.info is not None and self.info.streaming:
            self.command(Cmd.STOP)
            with self._rx_lock:  # (no frame is handled meanwhile)
                self._sample_frames = []
                stale = [m for m in self._pending if isinstance(m, (Samples, Gap))]
                for m in stale:
                    self._pending.remove(m)
                self.unpacker.forget_samples()
        self._started = True
        self._want_streaming = True
        self.gate.reset()  # time may jump across a stop/start: accept the first frame as it is
        self.command(Cmd.START)

    def stop_streaming(self) -> None:
        """Send STOP and stay connected (samples already queued may still arrive). Unlike `close()`, the link
        stays open for commands; a reconnect no longer restarts streaming."""
        self._want_streaming = False
        self.command(Cmd.STOP)

    def tare(self, n_samples: int = 0) -> dict[str, Any]:
        """Zero the load cells (roller unloaded): returns {"tare_counts", "n_samples"}; saved on the device.

        The roller answers once its `n_samples` readings are in (protocol.md §5), so the wait grows with
        them and the rate (tare_timeout_s); a fixed 5 s timed out on 100 readings at 10 SPS and the retry
        was refused as busy by the tare still running."""
        rate_hz = self.info.rate_hz if self.info is not None else None
        res = self.command(Cmd.TARE, timeout_s=tare_timeout_s(n_samples, rate_hz), retries=1,
                           n_samples=n_samples).result
        cal = self.unpacker.calibration
        if cal is not None and not self.unpacker.tare_frames:
            cal.tare_counts = int(res["tare_counts"])  # 1.0 device: force from now on uses the new zero
        # (a 1.1 device's TARE frame, which came before this ACK, says from which sample on)
        return res

    def battery(self) -> dict[str, Any]:
        """{"battery_mv": millivolts, "battery_pct": percent}; either is None when the roller does not
        measure it (protocol.md §5 BATTERY)."""
        return self.command(Cmd.BATTERY).result

    def status(self, clear: bool = False) -> dict[str, Any]:
        """The roller's own counters and state (protocol.md §4): battery, `state` ("stopped"/"streaming"/
        "idle"), `samples_total`, `dropped_total`, `errors` (names of the sticky error bits), `rate_hz` (the
        measured sample rate, Hz), `uptime_s`, ... `clear`: reset the sticky error bits after reporting them."""
        return self.command(Cmd.STATUS, clear=clear).result

    def set_rate(self, rate_hz: int) -> int:
        """Set the HX711's nominal rate, 10 or 80 samples/s (kept on the roller); returns the rate set.
        DeviceError ("unsupported") when the board's RATE pin is not wired. Works while streaming."""
        return self.command(Cmd.SET_RATE, rate_hz=rate_hz).result

    def cue(self, pattern: str | int, repeat: int = 1) -> None:
        """Beep and/or flash on the roller, for a person lying on it who is not looking at a screen:
        `pattern` "off", "beep", "double", "long", "release" (release window reached) or "led", or its
        number 0-5 (protocol.md §5 CUE); `repeat` 1-10 times."""
        self.command(Cmd.CUE, pattern=pattern, repeat=repeat)

    def get_calibration(self) -> Calibration:
        """The calibration block stored on the roller (GET_CAL): `tare_counts`, `counts_to_n` (N per count,
        ascending powers), `residual_n` (N, None when unknown), `fitted`."""
        return self.command(Cmd.GET_CAL).result

    def set_calibration(self, calibration: Calibration | dict[str, Any]) -> Calibration:
        """Store a calibration on the roller (SET_CAL; refused over BLE unless enabled over USB) and convert
        later samples with it; returns the block as stored. Its `tare_counts` becomes the zero at once
        (protocol.md §4a: not sample-exact while streaming)."""
        cal = self.command(Cmd.SET_CAL, calibration=calibration).result
        self.unpacker.set_calibration(cal)
        return cal

    def exit_to_repl(self) -> None:
        """Stop the firmware app and return to the MicroPython REPL (USB only), for `deploy`."""
        self.command(Cmd.EXIT, timeout_s=1.0, retries=1)

    # ------------------------------------------------------------------ receiving
    def _pump(self, timeout_s: float) -> None:
        """Read once from the transport and handle what came (caller holds _rx_lock)."""
        t = self.transport
        if t is None:
            raise LinkLost(f"{self.name}: not connected")
        data = t.recv(timeout_s)
        if not data:
            return
        pending = getattr(t, "pending", None)
        if pending is not None and not t.packetized:
            # Take what else is already waiting (never waiting for more) and decode it as one batch: one
            # decode and one unpack per batch rather than per OS read, which made small reads (64 B) slow.
            parts, n = [data], len(data)
            while n < DRAIN_BYTES and pending():
                more = t.recv(0)
                if not more:
                    break
                parts.append(more)
                n += len(more)
            if len(parts) > 1:
                data = b"".join(parts)
        self._bytes_in += len(data)
        if t.packetized:
            try:
                frames = [decode_raw(data)]
            except FrameError:
                self.corrupt_frames += 1
                return
        else:
            frames = self.decoder.feed(data)
        for f in frames:
            self._handle(f)
        if not self._holding_samples:
            self._flush_samples()

    def _handle(self, f: Frame) -> None:
        typ = f.type
        self._last_rx = self._clock()
        try:
            if typ == FrameType.INFO:
                info = parse_info(f.payload)
                if info.proto_major != PROTO_MAJOR:
                    return  # the handshake's reply reports it; never act on a foreign layout
                if self.info is not None and info.device_id != self.info.device_id:
                    return  # another roller (a reconnect's handshake refuses it): never take its time base
                if self.info is not None and info.boot_id != self.info.boot_id:
                    self._rx_seq = None  # a rebooted device restarts its sequence numbers
                self._count_seq(f.seq)
                self._flush_samples_if_streaming()  # samples before a reboot belong to the old time base
                self._take_info(info, announce=self.info is None)
                return
            self._count_seq(f.seq)
            if typ == FrameType.SAMPLES:
                self._sample_frames.append(f)
            elif typ in (FrameType.ACK, FrameType.ERROR):
                try:
                    reply = parse_reply(f)
                except FrameError as exc:
                    if len(f.payload) < 3:
                        raise
                    # CRC-valid but a result we cannot parse: answer the waiter rather than time out
                    self.corrupt_frames += 1
                    reply = Reply(f.payload[0] | (f.payload[1] << 8), f.payload[2], False, None, 0,
                                  f"malformed reply ({exc})")
                with self._state_lock:
                    w = self._waiters.get(reply.cmd_seq)
                if w is not None and w.cmd == reply.cmd and w.reply is None:
                    w.reply = reply
                    w.event.set()
            elif typ == FrameType.STATUS:
                st = parse_status(f.payload)
                self.last_status = st
                self._pending.append(Status(self._status_dict(st)))
            elif typ == FrameType.TARE:
                ev = parse_tare(f.payload)
                self.unpacker.on_tare(ev)  # exact: from the frame's sample index on
                self._pending.append(Status({"tare": ev.to_dict()}))
            elif typ == FrameType.TEXT:
                p = f.payload
                level = p[0] if p else 0
                text = p[1:].decode("utf-8", "replace")
                self._texts_in.append(text)
                del self._texts_in[:-8]
                self._pending.append(Status({"device_message": text, "level": level}))
            # unknown types are ignored (forward compatible within a major version)
        except FrameError:
            self.corrupt_frames += 1

    def _count_seq(self, seq: int) -> None:
        if self._rx_seq is not None and seq != self._rx_seq:
            gap = (seq - self._rx_seq) & 0xFFFF
            if gap < MAX_PLAUSIBLE_FRAME_GAP:  # larger jumps: a stray frame (the samples' index is exact)
                self.lost_frames += gap
        self._rx_seq = (seq + 1) & 0xFFFF

    def _flush_samples_if_streaming(self) -> None:
        if not self._holding_samples:
            self._flush_samples()

    def _flush_samples(self) -> None:
        frames, self._sample_frames = self._sample_frames, []
        frames = self.gate.filter(frames)
        if not frames:
            return
        chunk, gaps = self.unpacker.process(frames)  # bad SAMPLES payloads: counted in unpacker.bad_frames
        if chunk is None:
            return
        if not gaps:
            self._pending.append(Samples(chunk))
            return
        # split so each gap's first sample starts a chunk, after its Gap message
        t = chunk.t_s
        rows = []
        for g in gaps:
            r = int((t >= g.t_s).argmax()) if (t >= g.t_s).any() else len(t)
            rows.append((r, g))
        start = 0
        for r, g in rows:
            if r > start:
                self._pending.append(Samples(chunk.slice(start, r)))
                start = r
            self._pending.append(Gap(g.t_s, g.reason, g.lost_samples))
        if start < len(chunk):
            self._pending.append(Samples(chunk.slice(start, len(chunk))))

    def _status_dict(self, device_status: dict[str, Any] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if device_status:
            d.update(device_status)
            d["battery_low"] = "battery_low" in (device_status.get("errors") or [])
        d.update(self.stats())
        return d

    def _take_pending(self) -> list[Message]:
        out = []
        while self._pending:  # popleft: another thread may append meanwhile (a command pumping)
            out.append(self._pending.popleft())
        return out

    def recv(self, timeout_s: float | None = 0.1) -> list[Message] | None:
        """Messages that arrived within `timeout_s` (Notifier source). Reconnects by itself after a
        link loss; raises DeviceError when reconnecting is off or gives up; None once closed."""
        if self._closed:
            return None
        timeout = 0.1 if timeout_s is None else timeout_s
        if self.link_state != "ok":
            self._reconnect_step(timeout)
            return self._take_pending()
        with self._rx_lock:
            try:
                self._pump(timeout)
            except LinkLost as exc:
                self._link_lost(exc)
        if self._want_streaming and self.link_state == "ok" and getattr(self.transport, "live", False):
            now = self._clock()
            if now - self._last_rx > STALL_PROBE_S and now >= self._next_probe:
                self._probe_stall(now - self._last_rx)
        return self._take_pending()

    def _probe_stall(self, quiet_s: float) -> None:
        """Streaming, but no frame for `quiet_s`: ask the roller (see STALL_PROBE_S)."""
        self._next_probe = self._clock() + STALL_PROBE_S
        try:
            st = self.command(Cmd.STATUS, timeout_s=0.5, retries=1).result
        except DeviceTimeout:
            with self._rx_lock:
                if self.transport is not None and self.link_state == "ok":
                    self._link_lost(LinkLost(f"no data for {quiet_s:.0f} s and no answer to STATUS"))
            return
        except DeviceError:
            return  # the link went while asking: the receive loop reconnects
        if st.get("state") == "stopped":
            self._warning(f"{self.name}: the roller had stopped streaming for {quiet_s:.0f} s without being "
                          "asked to here (another program on this computer may have sent STOP); started it "
                          "again")
            try:
                self.command(Cmd.START, timeout_s=0.5, retries=2)
            except DeviceError:
                return
        elif not self._stall_warned:  # alive and streaming, yet silent: once, not every few seconds
            self._stall_warned = True
            self._warning(f"{self.name}: the roller says it is {st.get('state')} but sent no data for "
                          f"{quiet_s:.0f} s")

    async def arecv(self, timeout_s: float | None = 0.1) -> list[Message] | None:
        """`recv` for asyncio programs (`Notifier.run_async`): awaits the transport's `wait_readable`
        (BLE) instead of blocking the event loop; other links and reconnects run in an executor."""
        t = self.transport
        wait = getattr(t, "wait_readable", None)
        if wait is not None and self.link_state == "ok" and not self._closed:
            await wait(timeout_s)
            return self.recv(0)
        return await asyncio.get_running_loop().run_in_executor(None, self.recv, timeout_s)

    # ------------------------------------------------------------------ link loss
    def _drop_transport(self) -> None:
        if self.transport is not None:
            try:
                self.transport.close()
            except OSError:
                pass
        self.transport = None

    def link_down_s(self) -> float | None:
        """Seconds since the link was lost, while it is not back (None: the link is up or closed).

        Why: a session stopped while the roller is away has nothing recorded since then, and its
        summary must say so rather than read as a session that simply ended."""
        if self.link_state not in ("reconnecting", "lost") or self._lost_at is None:
            return None
        return max(0.0, self._clock() - self._lost_at)

    def _link_lost(self, exc: BaseException) -> None:
        self._flush_samples()
        self._drop_transport()
        self.link_state = "reconnecting" if self.reconnect else "lost"
        self._lost_at = self._clock()
        self._attempt = 0
        self._next_lost_warn_s = STILL_LOST_WARN_S
        self._next_attempt = self._lost_at + BACKOFF_S[0]
        self._pending.append(Status(self._status_dict() | {"link_error": str(exc)}))
        if not self.reconnect:
            raise DeviceError(f"{self.name}: link lost ({exc})")

    def _reconnect_step(self, timeout_s: float) -> None:
        now = self._clock()
        if self.link_state == "lost":
            raise DeviceError(f"{self.name}: link lost")
        if self.reconnect_timeout_s is not None and self._lost_at is not None \
                and now - self._lost_at > self.reconnect_timeout_s:
            self.link_state = "lost"
            raise DeviceError(f"{self.name}: link lost and the roller did not come back within "
                              f"{self.reconnect_timeout_s:g} s")
        if now < self._next_attempt:
            time.sleep(min(timeout_s, self._next_attempt - now))
            return
        self._attempt += 1
        self._next_attempt = now + BACKOFF_S[min(self._attempt, len(BACKOFF_S) - 1)]
        try:
            self._open_transport()
        except (DeviceError, OSError) as exc:
            self._attempt_failed(now, exc)  # not back yet
            return
        try:
            with self._rx_lock:
                # a port name may now lead to another roller (a freed /dev/ttyACM0 or pty number given to
                # the next device): only this session's roller is taken back, by its unique id
                self._handshake(min(self.handshake_timeout_s, 1.5), extra={"reconnected": True},
                                expect_id=self.info.device_id if self.info is not None else None)
                self.link_state = "ok"
                if self._want_streaming:
                    self.command(Cmd.START, timeout_s=0.5, retries=2)
        except ForeignDevice as exc:
            self.link_state = "reconnecting"
            self._drop_transport()
            self._sample_frames = []  # anything it streamed meanwhile is not this session's
            if exc.device_id not in self._foreign_ids:  # once per roller, not at every attempt
                self._foreign_ids.add(exc.device_id)
                self._warning(str(exc))
            return
        except (DeviceError, OSError) as exc:
            self.link_state = "reconnecting"
            self._drop_transport()
            self._attempt_failed(now, exc)
            return
        self.reconnects += 1
        self._pending.append(Status(self._status_dict()))

    def _attempt_failed(self, now: float, exc: BaseException) -> None:
        """A reconnect attempt failed with `exc`: warn with that reason when the link has been lost for
        long (then at doubling waits)."""
        if self._lost_at is None or now - self._lost_at < self._next_lost_warn_s:
            return
        self._next_lost_warn_s *= 2
        self._warning(f"{self.name}: link lost {now - self._lost_at:.0f} s ago, not back yet (last attempt: "
                      f"{exc}); still trying")

    def _warning(self, msg: str) -> None:
        """What the user must know but is no error: a Status "warning", and `warn(msg)` when given."""
        self._pending.append(Status(self._status_dict() | {"warning": msg}))
        if self._warn is not None:
            self._warn(msg)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop streaming (best effort) and release the link; safe to call twice."""
        if self._closed:
            return
        if self.transport is not None and self.link_state == "ok" and self._want_streaming:
            try:
                self.command(Cmd.STOP, timeout_s=0.5, retries=0)
            except (DeviceError, LinkLost, OSError):
                pass
        self._want_streaming = False
        self._closed = True
        self.link_state = "closed"
        self._drop_transport()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Device {self.name} {self.link_state}>"
