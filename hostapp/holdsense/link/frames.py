"""Host side of the holdsense wire protocol (docs/protocol.md): the frame codec and sample unpacking.

Command building and the parsing of replies, INFO, STATUS and TARE payloads
are in `holdsense.link.commands`, which builds on this module.

No I/O here: transports (serial, BLE, replay) push bytes into a `FrameDecoder`
and get `Frame`s back (pyserial's Packetizer shape), then hand sample frames to
a `SampleUnpacker` that turns them into `rollsignal.SampleChunk`s on one
session time base, marking gaps, reboots and lost samples.

Speed matters (≥ 500,000 samples/s decode, bench/link.py): CRC uses
`binascii.crc_hqx` (C), COBS uses the `cobs` package's C decoder, both mapped
over a whole read at once (no Python statement per frame in the normal case;
a read with a bad frame takes the careful per-frame path), and the sample
records of all frames in a batch are unpacked together with numpy from one
joined buffer.

The firmware has its own independent pure-Python implementation
(`holdsense_fw.frame`); the golden vectors in tests/golden keep both in step.
"""
from __future__ import annotations

import binascii
import math
import operator
import struct
import time
from itertools import repeat
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
from cobs import cobs as _cobs

from rollsignal import FLAG_GAP, FLAG_SAT, FLAG_SPIKE, SampleChunk

if TYPE_CHECKING:  # annotations only: commands imports this module
    from .commands import DeviceInfo, Reply, TareEvent


PROTO_MAJOR = 1
PROTO_MINOR = 2  # 1.1: TARE frames, IDLE's auto_tare_after_s; 1.2: STATUS task_restarts, frame maximum 245 COBS bytes
MAX_FRAME = 244
COUNTS_PER_TURN = 4096


class FrameType(IntEnum):
    INFO = 0x01
    SAMPLES = 0x02
    STATUS = 0x03
    TEXT = 0x04
    TARE = 0x05  # 1.1: the zero changed, from a given sample index on
    CMD = 0x10
    ACK = 0x11
    ERROR = 0x12


class Cmd(IntEnum):
    INFO = 0x01
    START = 0x02
    STOP = 0x03
    TARE = 0x04
    GET_CAL = 0x05
    SET_CAL = 0x06
    CLEAR_CAL = 0x07
    SET_RATE = 0x08
    BATTERY = 0x09
    STATUS = 0x0A
    CUE = 0x0B
    IDLE = 0x0C
    BLE_CAL = 0x0D
    EXIT = 0x0E


class ErrorCode(IntEnum):
    UNKNOWN = 1
    BAD_ARGS = 2
    UNSUPPORTED = 3
    BUSY = 4
    STORAGE = 5
    SENSOR = 6
    REFUSED = 7


# Per-sample wire flags (SAMPLES records).
F_SAT = 0x01
F_DROPPED = 0x02
F_SPIKE = 0x04
F_ANGLE_BAD = 0x08
F_MAGNET = 0x10
F_IDLE = 0x20



def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (check value 0x29B1 over b"123456789"), at C speed."""
    return binascii.crc_hqx(data, 0xFFFF)


class FrameError(ValueError):
    """A frame that fails length, COBS or CRC checks."""


@dataclass(slots=True)
class Frame:
    """One decoded frame: `type` (FrameType value), `seq` (u16), `payload` bytes (CRC removed)."""

    type: int
    seq: int
    payload: bytes


# ---------------------------------------------------------------- encoding
def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """Raw frame bytes (type, seq, payload, CRC): what one BLE notification/write carries."""
    body = struct.pack("<BH", int(ftype), seq & 0xFFFF) + bytes(payload)
    if len(body) + 2 > MAX_FRAME:
        raise ValueError(f"frame of {len(body) + 2} bytes exceeds {MAX_FRAME}")
    return body + struct.pack("<H", crc16(body))


def serial_wrap(raw: bytes) -> bytes:
    """COBS-encode a raw frame and append the 0x00 delimiter (serial links)."""
    return _cobs.encode(raw) + b"\x00"


def decode_raw(raw: bytes) -> Frame:
    """Check length and CRC of one raw frame (e.g. a BLE notification); FrameError if bad."""
    if len(raw) < 5 or len(raw) > MAX_FRAME:
        raise FrameError(f"bad frame length {len(raw)}")
    if binascii.crc_hqx(raw[:-2], 0xFFFF) != raw[-2] | (raw[-1] << 8):
        raise FrameError("CRC mismatch")
    return Frame(raw[0], raw[1] | (raw[2] << 8), bytes(raw[3:-2]))


# ---------------------------------------------------------------- decoding
class FrameDecoder:
    """Stream of serial bytes → Frames. Resyncs at the next 0x00 after garbage; no I/O.

    Counters (cumulative): `frames` good frames, `crc_errors`, `cobs_errors`,
    `oversize` (runs longer than any legal frame, discarded), `bytes_discarded`.
    """

    # longest legal COBS-encoded frame (docs/protocol.md §1): 244 raw bytes + 1 code byte (one per
    # 254 started): 245, so no part this decoder accepts decodes to more than MAX_FRAME bytes
    MAX_ENCODED = MAX_FRAME + 1

    def __init__(self) -> None:
        self._buf = b""
        self.frames = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.oversize = 0
        self.bytes_discarded = 0

    @property
    def errors(self) -> int:
        """All frames dropped as corrupt (CRC + COBS + oversize)."""
        return self.crc_errors + self.cobs_errors + self.oversize

    def reset(self) -> None:
        """Forget a partial frame (e.g. after the link was reopened)."""
        self.bytes_discarded += len(self._buf)
        self._buf = b""

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every complete valid frame, in order."""
        if not data:
            return []
        if self._buf:
            data = self._buf + bytes(data)
        parts = bytes(data).split(b"\x00")
        self._buf = parts.pop()
        if len(self._buf) > 4 * self.MAX_ENCODED:  # a run with no delimiter: keep only a tail
            self.bytes_discarded += len(self._buf) - self.MAX_ENCODED
            self._buf = self._buf[-self.MAX_ENCODED:]
        if b"" in parts:  # back-to-back delimiters (e.g. the firmware's lone 0x00 at boot)
            parts = [p for p in parts if p]
        if not parts:
            return []
        out = self._feed_fast(parts)
        if out is None:
            out = self._feed_careful(parts)
        self.frames += len(out)
        return out

    def _feed_fast(self, parts: list[bytes]) -> list[Frame] | None:
        """Every part a good frame (the normal case): COBS, CRC, field extraction and Frame
        construction each mapped over the whole read in C, no Python statement per frame.
        None if any part is bad (the caller then takes the careful path, which counts it)."""
        if max(map(len, parts)) > self.MAX_ENCODED:
            return None
        try:
            raws = list(map(_cobs.decode, parts))
        except _cobs.DecodeError:
            return None
        if min(map(len, raws)) < 5:
            return None
        crcs = list(map(binascii.crc_hqx, map(_BODY, raws), repeat(0xFFFF)))
        if crcs != list(map(int.from_bytes, map(_CRC_BYTES, raws), repeat("little"))):
            return None
        seqs = map(int.from_bytes, map(_SEQ_BYTES, raws), repeat("little"))
        return list(map(Frame, map(_TYPE_BYTE, raws), seqs, map(_PAYLOAD, raws)))

    def _feed_careful(self, parts: list[bytes]) -> list[Frame]:
        """One part at a time, counting each bad one (garbage, corruption, oversize runs)."""
        out: list[Frame] = []
        crc_hqx = binascii.crc_hqx
        dec = _cobs.decode
        append = out.append
        max_enc = self.MAX_ENCODED
        for p in parts:
            n = len(p)
            if n > max_enc:
                self.oversize += 1
                self.bytes_discarded += n
                continue
            try:
                raw = dec(p)
            except _cobs.DecodeError:
                self.cobs_errors += 1
                self.bytes_discarded += n
                continue
            m = len(raw)
            if m < 5 or crc_hqx(raw[:-2], 0xFFFF) != raw[-2] | (raw[-1] << 8):
                self.crc_errors += 1
                self.bytes_discarded += n
                continue
            append(Frame(raw[0], raw[1] | (raw[2] << 8), raw[3:-2]))
        return out


_BODY = operator.itemgetter(slice(None, -2))      # raw frame → what its CRC covers
_CRC_BYTES = operator.itemgetter(slice(-2, None))  # → its CRC, little-endian
_SEQ_BYTES = operator.itemgetter(slice(1, 3))      # → seq, little-endian
_TYPE_BYTE = operator.itemgetter(0)               # → type
_PAYLOAD = operator.itemgetter(slice(3, -2))      # raw frame → payload


# ---------------------------------------------------------------- payloads
@dataclass
class Calibration:
    """Counts → newtons: force_n = Σ counts_to_n[k] · (raw − tare_counts)^k (contracts.md §1)."""

    tare_counts: int = 0
    counts_to_n: list[float] = field(default_factory=list)
    residual_n: float | None = None
    fitted: bool = False

    def force_n(self, raw_counts: np.ndarray | float, tare_counts: np.ndarray | None = None) -> np.ndarray:
        """Newtons for raw ADC counts (NaN everywhere when there are no coefficients).

        `tare_counts` (per sample) overrides the zero, for a batch spanning a tare change.
        """
        x = np.asarray(raw_counts, dtype=np.float64) - (float(self.tare_counts) if tare_counts is None
                                                         else tare_counts)
        c = self.counts_to_n
        if not c:
            return np.full_like(x, np.nan)
        if len(c) == 1:
            return np.full_like(x, float(c[0]))
        y = x * c[-1]  # Horner from the top: ((c_n·x + c_{n-1})·x + …)·x + c_0
        for ck in reversed(c[1:-1]):
            y += ck
            y *= x
        if c[0]:
            y += c[0]
        return y

    def to_dict(self) -> dict[str, Any]:
        """The recording metadata's `calibration` JSON object (plus `fitted`)."""
        return {"tare_counts": int(self.tare_counts), "counts_to_n": [float(c) for c in self.counts_to_n],
                "residual_n": self.residual_n, "fitted": self.fitted}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Calibration":
        return cls(int(d.get("tare_counts", 0)), [float(c) for c in d.get("counts_to_n", [])],
                   None if d.get("residual_n") is None else float(d["residual_n"]), bool(d.get("fitted", True)))


def decode_cal(b: bytes, i: int = 0) -> tuple[Calibration, int]:
    tare, fl, n = struct.unpack_from("<iBB", b, i)
    if n > 4:
        raise FrameError("too many calibration coefficients")
    i += 6
    coeffs = list(struct.unpack_from(f"<{n}f", b, i))
    i += 4 * n
    (res,) = struct.unpack_from("<f", b, i)
    i += 4
    return Calibration(tare, [float(c) for c in coeffs], None if math.isnan(res) else float(res), bool(fl & 1)), i


# ---------------------------------------------------------------- samples
_HEAD = np.dtype([("layout", "u1"), ("n", "u1"), ("first", "<u4"), ("t0", "<u4")])


@dataclass
class SampleArrays:
    """Samples of many SAMPLES frames, unpacked together (numpy, one row per sample).

    Per sample: `index` (device sample index), `t_rel_us` (µs after its frame's
    first sample), `frame_of` (frame number), `raw` ADC counts, wire `flags`,
    `angle` cumulative encoder counts (None when no frame carried angles) and
    `angle_valid`. Per frame: `frame_t0_us32` (device µs mod 2^32, not yet
    unwrapped), `frame_first`, `frame_n`.
    """

    index: np.ndarray
    t_rel_us: np.ndarray
    frame_t0_us32: np.ndarray
    frame_first: np.ndarray
    frame_n: np.ndarray
    frame_of: np.ndarray
    raw: np.ndarray
    flags: np.ndarray
    angle: np.ndarray | None
    angle_valid: np.ndarray | None
    bad_frames: int = 0

    def __len__(self) -> int:
        return len(self.index)


# Byte gather for one sample record, laid out so the result views as four little-endian u32:
# [delta 0..2, pad] [raw 3..5, pad] [angle 7..10] [flags 6, pad…]. Padding bytes are masked off.
_REC_COLS = np.array([0, 1, 2, 2, 3, 4, 5, 5, 7, 8, 9, 10, 6, 6, 6, 6], np.int64)
_HEAD_COLS = np.arange(2, 10, dtype=np.int64)      # first_index u32, t0_us u32
_LN_COLS = np.array([0, 1], np.int64)              # layout, n → one u16
_PAD = bytes(16)                                    # reads past a short record / payload stay in bounds
_EMPTY_I64 = np.empty(0, np.int64)
_FLAG_LUT = np.zeros(256, np.uint8)                 # wire flags → SampleChunk FLAG_* bits
for _bits in range(256):
    _FLAG_LUT[_bits] = ((FLAG_SAT if _bits & F_SAT else 0) | (FLAG_SPIKE if _bits & F_SPIKE else 0)
                        | (FLAG_GAP if _bits & F_DROPPED else 0))


# Zero-copy views of SAMPLES payloads (docs/protocol.md §2). Fields may overlap: each u32 is read
# at its field's first byte and masked to 24 bits, so no byte shuffling is needed.
_HEAD10 = np.dtype({"names": ["layout", "n", "first", "t0"], "formats": ["u1", "u1", "<u4", "<u4"],
                    "offsets": [0, 1, 2, 6], "itemsize": 10})
_REC = {False: np.dtype({"names": ["d", "r", "f"], "formats": ["<u4", "<u4", "u1"],
                         "offsets": [0, 3, 6], "itemsize": 7}),
        True: np.dtype({"names": ["d", "r", "f", "a"], "formats": ["<u4", "<u4", "u1", "<i4"],
                        "offsets": [0, 3, 6, 7], "itemsize": 11})}
_HEAD_BYTES = operator.itemgetter(slice(0, 10))
_REC_BYTES = operator.itemgetter(slice(10, None))


def decode_sample_frames(frames: Sequence[Frame]) -> SampleArrays:
    """Unpack the SAMPLES frames among `frames` (others ignored) with vectorised numpy.

    The headers of all frames are joined into one buffer and their records into
    another; numpy reads both through zero-copy structured views, so a batch
    costs a fixed number of numpy operations whatever its number of frames (an
    80 Hz stream sends many small ones). Malformed payloads are skipped and
    counted in `bad_frames` (CRC-valid but wrong length: a device bug or a
    newer layout); a batch mixing layouts or holding a malformed frame takes
    the general gather path.
    """
    T = int(FrameType.SAMPLES)
    payloads = [f.payload for f in frames if f.type == T]
    nf = len(payloads)
    if nf == 0:
        return _unpack_samples(np.frombuffer(_PAD, np.uint8), _EMPTY_I64, _EMPTY_I64)
    lens = np.fromiter(map(len, payloads), np.int64, nf)
    if lens.min() >= 10:
        heads = np.frombuffer(b"".join(map(_HEAD_BYTES, payloads)), _HEAD10)
        n = heads["n"].astype(np.int64)
        angle0 = bool(heads["layout"][0] & 1)
        rl = 11 if angle0 else 7
        if (np.array_equal(lens, 10 + rl * n) and n.min() > 0
                and not ((heads["layout"] & 1) != angle0).any()):
            recs = np.frombuffer(b"".join(map(_REC_BYTES, payloads)), _REC[angle0])
            return _sample_arrays(n, heads["first"].astype(np.int64), heads["t0"].astype(np.int64),
                                  recs["d"], recs["r"], recs["f"], recs["a"] if angle0 else None, None, 0)
    off = np.zeros(nf, np.int64)
    np.cumsum(lens[:-1], out=off[1:])
    return _unpack_samples(np.frombuffer(b"".join(payloads) + _PAD, np.uint8), off, lens)


def _sample_arrays(n: np.ndarray, first: np.ndarray, t0: np.ndarray, d32: np.ndarray, r32: np.ndarray,
                   flags: np.ndarray, angle32: np.ndarray | None, row_angle: np.ndarray | None,
                   bad: int) -> SampleArrays:
    """SampleArrays from per-frame (n, first index, t0) and per-record raw fields (u32 read at the
    delta and raw fields' first byte: masked to 24 bits here)."""
    nf = len(n)
    starts = n.cumsum() - n                    # row of each frame's first sample
    total = int(starts[-1] + n[-1])
    delta = (d32 & 0xFFFFFF).astype(np.int64)
    raw = (r32 << 8).view(np.int32) >> 8       # 24-bit two's complement → int32 (sign-extending shift)
    flags = np.asarray(flags, np.uint8)
    angle = angle_valid = None
    if angle32 is not None:
        angle = angle32.astype(np.int64)
        angle_valid = (flags & F_ANGLE_BAD) == 0
        if row_angle is not None:
            angle[~row_angle] = 0
            angle_valid &= row_angle
    cs = delta.cumsum()
    t_rel = cs - np.repeat(cs[starts] - delta[starts], n)
    index = np.repeat(first - starts, n) + np.arange(total, dtype=np.int64)
    frame_of = np.repeat(np.arange(nf, dtype=np.int64), n)
    return SampleArrays(index, t_rel, t0, first, n, frame_of, raw, flags, angle, angle_valid, bad)


def _unpack_samples(buf: np.ndarray, off: np.ndarray, lens: np.ndarray) -> SampleArrays:
    """General path: SAMPLES payloads at `buf[off[i] : off[i] + lens[i]]` (buf padded by 16 bytes),
    any mix of layouts and malformed ones (skipped, counted) → SampleArrays, by index gathers."""
    nf = len(off)
    if nf == 0:
        e = _EMPTY_I64
        return SampleArrays(e, e, e, e, e, e, e.astype(np.int32), np.empty(0, np.uint8), None, None, 0)
    ln = buf[off[:, None] + _LN_COLS].view("<u2")[:, 0]   # layout | n << 8
    n = (ln >> 8).astype(np.int64)
    has_angle = (ln & 1).astype(bool)
    rl = 7 + 4 * has_angle
    ok = (lens >= 10) & (n > 0) & (lens == 10 + n * rl)
    bad = nf - int(np.count_nonzero(ok))
    if bad:
        off, n, has_angle, rl = off[ok], n[ok], has_angle[ok], rl[ok]
        nf -= bad
        if nf == 0:
            e = _EMPTY_I64
            return SampleArrays(e, e, e, e, e, e, e.astype(np.int32), np.empty(0, np.uint8), None, None, bad)
    heads = buf[off[:, None] + _HEAD_COLS].view("<u4").astype(np.int64)  # (nf, 2): first_index, t0_us
    starts = n.cumsum() - n
    total = int(starts[-1] + n[-1])
    rec_pos = np.repeat(off + 10 - starts * rl, n) + np.arange(total, dtype=np.int64) * np.repeat(rl, n)
    words = buf[rec_pos[:, None] + _REC_COLS].view("<u4")                 # (total, 4)
    any_angle = bool(has_angle.any())
    row_angle = np.repeat(has_angle, n) if any_angle and not has_angle.all() else None
    return _sample_arrays(n, heads[:, 0], heads[:, 1], words[:, 0], words[:, 1], (words[:, 3] & 0xFF),
                          words[:, 2].view("<i4") if any_angle else None, row_angle, bad)


@dataclass
class Gap:
    """Samples missing before session time `t_s`: reason "lost" (link), "dropped" (device queue) or "reboot"."""

    t_s: float
    reason: str
    lost_samples: int | None


class SampleUnpacker:
    """SAMPLES frames → SampleChunks on one session time base (seconds), with gaps marked.

    - device time (µs mod 2^32) is unwrapped from frame to frame; `t_s` is
      seconds since the first sample seen (or `t0_s` + that);
    - a jump in the sample index is a gap: its size is the exact number of
      samples lost; the first sample after it gets FLAG_GAP;
    - a reboot (new boot id via `on_info`, or the index going backwards)
      starts a new device time base placed after the last sample by the host
      time that passed (`host_clock`), and is a gap with reason "reboot";
    - force_n from the calibration (NaN without coefficients); angle_deg from
      cumulative counts (NaN where the encoder read was bad);
    - a tare change (TARE frame, `on_tare`) applies exactly from its sample
      index on, whatever order frames arrive in; raw counts are never changed.
    """

    def __init__(self, calibration: Calibration | None = None, *, t0_s: float = 0.0,
                 host_clock: Callable[[], float] = time.monotonic) -> None:
        self.calibration = calibration
        self._clock = host_clock
        self._t0_s = t0_s
        self.forget_samples()  # the session time base, and the counts of samples in it
        self._boot_id: int | None = None
        self._tares: list[TareEvent] = []     # tare changes for samples not yet seen, by from_index
        self.tare_frames = False              # the device announces tare changes (protocol ≥ 1.1)
        self.reboots = 0
        self.bad_frames = 0

    @property
    def last_t_s(self) -> float | None:
        return self._last_t_s

    def forget_samples(self) -> None:
        """Start the session time base afresh: the next sample is t0_s (calibration, boot id and tare
        changes kept). Why: samples another session left in the roller's queue were dropped
        (Device.start), and this session's time must not count from them."""
        self._base_wide: int | None = None    # device wide µs at session offset _base_s
        self._base_s = self._t0_s
        self._last_wide: int | None = None    # unwrapped device µs of the last frame's t0
        self._next_index: int | None = None
        self._last_t_s: float | None = None
        self._last_host_s: float | None = None
        self._reboot_pending = False
        self._angle_origin: int | None = None
        self.samples = 0
        self.lost_samples = 0

    def on_info(self, info: DeviceInfo) -> None:
        """Take the calibration and notice a reboot (boot id changed)."""
        self.calibration = info.calibration
        if self._boot_id is not None and info.boot_id != self._boot_id:
            self._reboot_pending = True
            self._tares = []  # indices restart with the new boot
        self._boot_id = info.boot_id
        self.tare_frames = info.proto_major == PROTO_MAJOR and info.proto_minor >= 1

    def on_tare(self, event: TareEvent) -> None:
        """The device re-zeroed (TARE frame): use `event.tare_counts` from sample `from_index` on.

        Applied now when every earlier sample has been converted already; otherwise kept until
        the batch holding `from_index` arrives (frames may be handed over in any grouping).
        `latest_calibration` includes it at once.
        """
        if self.calibration is None:
            return
        if self._next_index is not None and event.from_index <= self._next_index:
            self._set_tare(event.tare_counts)
        else:
            self._tares.append(event)
            self._tares.sort(key=lambda e: e.from_index)

    @property
    def latest_calibration(self) -> Calibration | None:
        """The calibration with every announced tare change applied (what the device holds now);
        `calibration` is the one of the last converted sample."""
        cal = self.calibration
        if cal is None or not self._tares:
            return cal
        return Calibration(self._tares[-1].tare_counts, list(cal.counts_to_n), cal.residual_n, cal.fitted)

    def set_calibration(self, calibration: Calibration) -> None:
        """A calibration the device just confirmed (SET/CLEAR/GET_CAL): earlier tare changes are superseded."""
        self.calibration = calibration
        self._tares = []

    def _set_tare(self, tare_counts: int) -> None:
        cal = self.calibration
        if cal is not None:
            self.calibration = Calibration(int(tare_counts), list(cal.counts_to_n), cal.residual_n, cal.fitted)

    def on_reply(self, reply: "Reply") -> None:
        """Keep the calibration in step with the device: TARE, SET/CLEAR/GET_CAL and INFO answers."""
        if not reply.ok:
            return
        if reply.cmd == Cmd.TARE and self.calibration is not None and not self.tare_frames:
            # a 1.0 device: no TARE frame says from which sample on, so from now on
            self._set_tare(int(reply.result["tare_counts"]))
        elif reply.cmd in (Cmd.SET_CAL, Cmd.CLEAR_CAL, Cmd.GET_CAL):
            self.set_calibration(reply.result)
        elif reply.cmd == Cmd.INFO:
            self.on_info(reply.result)

    def _new_timebase(self) -> None:
        self._base_wide = None
        self._last_wide = None
        self._next_index = None

    def process(self, frames: Sequence[Frame]) -> tuple[SampleChunk | None, list[Gap]]:
        """Convert the SAMPLES frames among `frames`; returns (chunk or None, gaps in time order)."""
        arr = decode_sample_frames(frames)
        self.bad_frames += arr.bad_frames
        m = len(arr)
        if m == 0:
            return None, []
        host_now = self._clock()
        first = arr.frame_first
        nf = len(first)
        # A frame whose index goes backwards starts a new device time base (reboot).
        back: list[int] = []
        if self._next_index is not None and first[0] < self._next_index:
            back.append(0)
        if nf > 1:
            bk = first[1:] < (first + arr.frame_n)[:-1]
            if bk.any():
                back += (np.flatnonzero(bk) + 1).tolist()
        frame_t_s = np.empty(nf, np.float64)
        gap_frames: list[tuple[int, str, int | None]] = []
        bounds = [0] + [x for x in back if x > 0] + [nf]
        for a, b in zip(bounds[:-1], bounds[1:]):
            rebooted = (a in back) or self._reboot_pending
            self._reboot_pending = False
            if rebooted and self._last_t_s is not None:
                elapsed = 0.0 if self._last_host_s is None else max(0.0, host_now - self._last_host_s)
                self._base_wide = None
                self._last_wide = None
                self._next_index = None
                self._base_s = self._last_t_s + max(elapsed, 1e-3)
                self.reboots += 1
                gap_frames.append((a, "reboot", None))
            self._segment(arr, a, b, frame_t_s, gap_frames)
        t_s = frame_t_s[arr.frame_of]
        t_s += arr.t_rel_us * 1e-6
        self._last_t_s = float(t_s[-1])
        self._last_host_s = host_now
        fl = _FLAG_LUT[arr.flags]  # wire SAT/SPIKE/DROPPED → FLAG_SAT/SPIKE/GAP
        gaps: list[Gap] = []
        if gap_frames:
            starts = arr.frame_n.cumsum() - arr.frame_n
            for fi, reason, lost in sorted(gap_frames, key=lambda g: g[0]):
                row = int(starts[fi])
                fl[row] |= FLAG_GAP
                gaps.append(Gap(float(t_s[row]), reason, lost))
        raw_f = arr.raw.astype(np.float64)
        cal = self.calibration
        if cal is None:
            force = np.full(m, np.nan)
        elif self._tares and self._tares[0].from_index <= int(arr.index[-1] if not back else arr.index.max()):
            tare = np.full(m, float(cal.tare_counts))
            last = int(arr.index.max())
            while self._tares and self._tares[0].from_index <= last:
                ev = self._tares.pop(0)
                tare[arr.index >= ev.from_index] = ev.tare_counts
                self._set_tare(ev.tare_counts)
            force = cal.force_n(raw_f, tare)
        else:
            force = cal.force_n(raw_f)
        angle_deg = None
        if arr.angle is not None:
            if self._angle_origin is None:
                valid = np.flatnonzero(arr.angle_valid)
                self._angle_origin = int(arr.angle[valid[0]]) if len(valid) else 0
            angle_deg = (arr.angle - self._angle_origin) * (360.0 / COUNTS_PER_TURN)
            if not arr.angle_valid.all():
                angle_deg[~arr.angle_valid] = np.nan
        self.samples += m
        return SampleChunk(t_s, force, angle_deg, fl, raw_f), gaps

    def _segment(self, arr: SampleArrays, a: int, b: int, frame_t_s: np.ndarray,
                 gap_frames: list[tuple[int, str, int | None]]) -> None:
        """Frames [a, b) share one device time base: unwrap their t0s and find index jumps."""
        M = 1 << 32
        H = M >> 1
        t0 = arr.frame_t0_us32[a:b]
        t00 = int(t0[0])
        start = t00 if self._last_wide is None else self._last_wide + ((t00 - self._last_wide + H) % M - H)
        wide = np.empty(b - a, np.int64)
        wide[0] = start
        if b - a > 1:
            # steps between frames, unwrapped modulo 2^32: the int32 cast wraps to the signed step
            np.cumsum((t0[1:] - t0[:-1]).astype(np.int32), out=wide[1:])
            wide[1:] += start
        self._last_wide = int(wide[-1])
        if self._base_wide is None:
            self._base_wide = start
            if self._last_t_s is None:
                self._base_s = self._t0_s
        frame_t_s[a:b] = (wide - self._base_wide) * 1e-6 + self._base_s
        first = arr.frame_first[a:b]
        n = arr.frame_n[a:b]
        ends = first + n
        jump_first = self._next_index is not None and first[0] > self._next_index
        jumps = first[1:] > ends[:-1]
        if jump_first or jumps.any():
            exp = np.empty(b - a, np.int64)
            exp[0] = first[0] if self._next_index is None else self._next_index
            exp[1:] = ends[:-1]
            starts = arr.frame_n.cumsum() - arr.frame_n
            for j in np.flatnonzero(first > exp).tolist():
                lost = int(first[j] - exp[j])
                self.lost_samples += lost
                reason = "dropped" if arr.flags[starts[a + j]] & F_DROPPED else "lost"
                gap_frames.append((a + j, reason, lost))
        self._next_index = int(ends[-1])
