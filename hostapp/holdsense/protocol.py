"""Host side of the holdsense wire protocol (docs/protocol.md): framing, decoding, commands.

No I/O here: transports (serial, BLE, replay) push bytes into a `FrameDecoder`
and get `Frame`s back (pyserial's Packetizer shape), then hand sample frames to
a `SampleUnpacker` that turns them into `rollsignal.SampleChunk`s on one
session time base, marking gaps, reboots and lost samples.

Speed matters (≥ 500,000 samples/s decode): CRC uses `binascii.crc_hqx` (C),
COBS uses the `cobs` package's C decoder, and sample records of many frames
are unpacked together with numpy.

The firmware has its own independent pure-Python implementation
(`holdsense_fw.frame`); the golden vectors in tests/golden keep both in step.
"""
from __future__ import annotations

import binascii
import math
import struct
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from cobs import cobs as _cobs

from rollsignal import FLAG_GAP, FLAG_SAT, FLAG_SPIKE, SampleChunk

from . import __version__
from .errors import DeviceError

PROTO_MAJOR = 1
PROTO_MINOR = 1  # 1.1: TARE frames, IDLE's auto_tare_after_s
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

SENSOR_BITS = {0x01: "hx711", 0x02: "as5600", 0x04: "rate_pin", 0x08: "buzzer", 0x10: "led", 0x20: "battery"}
STATUS_ERROR_BITS = {
    0x0001: "hx711_timeout", 0x0002: "saturated", 0x0004: "spurious_code", 0x0008: "i2c_error",
    0x0010: "no_magnet", 0x0020: "magnet_range", 0x0040: "storage_error", 0x0080: "queue_overflow",
    0x0100: "battery_low", 0x0200: "rx_bad_frame",
}
STATE_NAMES = {0: "stopped", 1: "streaming", 2: "idle"}
CUE_PATTERNS = {"off": 0, "beep": 1, "double": 2, "long": 3, "release": 4, "led": 5}


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


def encode_cal(cal: "Calibration") -> bytes:
    coeffs = list(cal.counts_to_n)
    if len(coeffs) > 4:
        raise ValueError("at most 4 calibration coefficients")
    res = math.nan if cal.residual_n is None else cal.residual_n
    return (struct.pack("<iBB", int(cal.tare_counts), 1 if cal.fitted else 0, len(coeffs))
            + struct.pack(f"<{len(coeffs)}f", *coeffs) + struct.pack("<f", res))


def command_args(cmd: Cmd, **kw: Any) -> bytes:
    """Argument bytes for a command (docs/protocol.md §5); unknown keywords are an error."""
    cmd = Cmd(cmd)

    def take(*names: str, defaults: dict[str, Any] | None = None) -> list[Any]:
        defaults = defaults or {}
        extra = set(kw) - set(names)
        if extra:
            raise TypeError(f"{cmd.name}: unexpected arguments {sorted(extra)}")
        out = []
        for n in names:
            if n in kw:
                out.append(kw[n])
            elif n in defaults:
                out.append(defaults[n])
            else:
                raise TypeError(f"{cmd.name}: missing argument {n!r}")
        return out

    if cmd == Cmd.TARE:
        (n,) = take("n_samples", defaults={"n_samples": 0})
        return struct.pack("<H", n)
    if cmd == Cmd.SET_CAL:
        (cal,) = take("calibration")
        if isinstance(cal, dict):
            cal = Calibration.from_dict(cal)
        return encode_cal(cal)
    if cmd == Cmd.SET_RATE:
        (rate,) = take("rate_hz")
        return struct.pack("<B", int(rate))
    if cmd == Cmd.STATUS:
        (clear,) = take("clear", defaults={"clear": False})
        return struct.pack("<B", 1 if clear else 0)
    if cmd == Cmd.CUE:
        pattern, repeat = take("pattern", "repeat", defaults={"repeat": 1})
        if isinstance(pattern, str):
            pattern = CUE_PATTERNS[pattern]
        return struct.pack("<BB", pattern, repeat)
    if cmd == Cmd.IDLE:
        a, d, c, at = take("idle_after_s", "decimation", "load_counts", "auto_tare_after_s",
                           defaults={"auto_tare_after_s": None})
        out = struct.pack("<HBI", int(a), int(d), int(c))
        # 1.1 trailing field; left out when not given, so a 1.0 roller still accepts the command
        return out if at is None else out + struct.pack("<H", int(at))
    if cmd == Cmd.BLE_CAL:
        (en,) = take("enable")
        return struct.pack("<B", 1 if en else 0)
    take()
    return b""


def encode_command(cmd: Cmd | int | str, seq: int, *, framing: str = "serial", **kwargs: Any) -> bytes:
    """Bytes of a CMD frame ready to send: `framing="serial"` (COBS + 0x00) or `"raw"` (BLE).

    `cmd` is a Cmd, its value, or its name ("tare"); keyword arguments per
    command: tare(n_samples=0), set_cal(calibration), set_rate(rate_hz),
    status(clear=False), cue(pattern, repeat=1), idle(idle_after_s,
    decimation, load_counts, auto_tare_after_s=None (1.1: 0 = automatic tare off)),
    ble_cal(enable).
    """
    if isinstance(cmd, str):
        cmd = Cmd[cmd.upper()]
    cmd = Cmd(cmd)
    raw = encode_frame(FrameType.CMD, seq, bytes((cmd,)) + command_args(cmd, **kwargs))
    if framing == "raw":
        return raw
    if framing != "serial":
        raise ValueError(f"unknown framing {framing!r}")
    return serial_wrap(raw)


# ---------------------------------------------------------------- decoding
class FrameDecoder:
    """Stream of serial bytes → Frames. Resyncs at the next 0x00 after garbage; no I/O.

    Counters (cumulative): `frames` good frames, `crc_errors`, `cobs_errors`,
    `oversize` (runs longer than any legal frame, discarded), `bytes_discarded`.
    """

    # longest legal COBS-encoded frame (244 raw bytes -> +1 code byte per 254)
    MAX_ENCODED = MAX_FRAME + 2

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
        out: list[Frame] = []
        crc_hqx = binascii.crc_hqx
        dec = _cobs.decode
        append = out.append
        max_enc = self.MAX_ENCODED
        for p in parts:
            n = len(p)
            if n == 0:
                continue
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
        self.frames += len(out)
        return out


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
        if not self.counts_to_n:
            return np.full_like(x, np.nan)
        y = np.zeros_like(x)
        for c in reversed(self.counts_to_n):  # Horner
            y = y * x + c
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


@dataclass
class DeviceInfo:
    """The INFO payload: who the device is and how to read its samples."""

    proto_major: int
    proto_minor: int
    boot_id: int
    sensors: int
    rate_hz: int
    streaming: bool
    ble_cal_writes: bool
    idle: bool
    fw_version: str
    board: str
    device_id: str
    calibration: Calibration

    @property
    def sensor_names(self) -> list[str]:
        return [name for bit, name in SENSOR_BITS.items() if self.sensors & bit]

    @property
    def has_encoder(self) -> bool:
        return bool(self.sensors & 0x02)

    @property
    def rate_selectable(self) -> bool:
        return bool(self.sensors & 0x04)

    def to_dict(self) -> dict[str, Any]:
        """For Listener.on_info and recording metadata."""
        return {"fw_version": self.fw_version, "protocol": f"{self.proto_major}.{self.proto_minor}",
                "board": self.board, "device_id": self.device_id, "boot_id": self.boot_id,
                "sensors": self.sensor_names, "rate_hz": self.rate_hz, "streaming": self.streaming,
                "idle": self.idle, "ble_cal_writes": self.ble_cal_writes,
                "calibration": self.calibration.to_dict()}

    def device_line(self) -> str:
        """The recording's `device:` metadata value."""
        return f"holdsense-roller fw={self.fw_version} id={self.device_id}"


def _str(b: bytes, i: int) -> tuple[str, int]:
    n = b[i]
    if i + 1 + n > len(b):
        raise FrameError("string runs past the payload")
    return b[i + 1:i + 1 + n].decode("utf-8", "replace"), i + 1 + n


def parse_info(payload: bytes) -> DeviceInfo:
    """Decode an INFO payload. Only bytes 0-1 are read for a foreign major version."""
    try:
        major, minor = payload[0], payload[1]
        if major != PROTO_MAJOR:
            return DeviceInfo(major, minor, 0, 0, 0, False, False, False, "?", "?", "?", Calibration())
        _, _, boot, sensors, rate, st = struct.unpack_from("<BBIBBB", payload, 0)
        i = 9
        fw, i = _str(payload, i)
        board, i = _str(payload, i)
        dev, i = _str(payload, i)
        cal, i = decode_cal(payload, i)
    except (IndexError, struct.error, UnicodeError) as exc:
        raise FrameError(f"bad INFO payload: {exc}") from exc
    return DeviceInfo(major, minor, boot, sensors, rate, bool(st & 1), bool(st & 2), bool(st & 4),
                      fw, board, dev, cal)


def check_compatible(info: DeviceInfo) -> None:
    """Raise DeviceError (exit 2) with what to deploy when the device's major version differs."""
    if info.proto_major == PROTO_MAJOR:
        return
    if info.proto_major < PROTO_MAJOR:
        raise DeviceError(
            f"device speaks protocol {info.proto_major}.{info.proto_minor}, this holdsense {__version__} "
            f"speaks {PROTO_MAJOR}.x: deploy firmware holdsense_fw {__version__} with "
            f"'holdsense deploy --port PORT'")
    raise DeviceError(
        f"device speaks protocol {info.proto_major}.{info.proto_minor}, newer than this holdsense {__version__} "
        f"({PROTO_MAJOR}.x): upgrade holdsense, or deploy firmware holdsense_fw {__version__} with "
        f"'holdsense deploy --port PORT'")


_STATUS = struct.Struct("<HBBIIHHHIH")


def parse_status(payload: bytes) -> dict[str, Any]:
    """STATUS payload as a dict (battery_mv, battery_pct or None, state name, counters, error names)."""
    try:
        v = _STATUS.unpack_from(payload, 0)
    except struct.error as exc:
        raise FrameError(f"bad STATUS payload: {exc}") from exc
    return {"battery_mv": v[0] or None, "battery_pct": None if v[1] == 255 else v[1],
            "state": STATE_NAMES.get(v[2], str(v[2])), "samples_total": v[3], "dropped_total": v[4],
            "errors": [n for b, n in STATUS_ERROR_BITS.items() if v[5] & b], "error_bits": v[5],
            "hx711_timeouts": v[6], "rx_bad_frames": v[7], "uptime_s": v[8], "rate_hz": v[9] / 100.0}


@dataclass
class Reply:
    """A device's answer to a command: ACK (`ok`, parsed `result`) or ERROR (`code`, `message`)."""

    cmd_seq: int
    cmd: int
    ok: bool
    result: Any = None
    code: int = 0
    message: str = ""

    def raise_for_error(self) -> "Reply":
        if not self.ok:
            name = Cmd(self.cmd).name if self.cmd in Cmd._value2member_map_ else hex(self.cmd)
            raise DeviceError(f"device refused {name.lower()}: {self.message} "
                              f"({ErrorCode(self.code).name.lower() if self.code in ErrorCode._value2member_map_ else self.code})")
        return self


def parse_reply(frame: Frame) -> Reply:
    """Decode an ACK or ERROR frame; the ACK result is parsed per command (see docs/protocol.md §5)."""
    p = frame.payload
    if len(p) < 3:
        raise FrameError("short reply")
    cmd_seq, cmd = struct.unpack_from("<HB", p, 0)
    body = p[3:]
    if frame.type == FrameType.ERROR:
        code = body[0] if body else 0
        return Reply(cmd_seq, cmd, False, None, code, body[1:].decode("utf-8", "replace"))
    if frame.type != FrameType.ACK:
        raise FrameError(f"not a reply frame: type {frame.type:#x}")
    try:
        result: Any = None
        if cmd == Cmd.INFO:
            result = parse_info(body)
        elif cmd == Cmd.TARE:
            t, n = struct.unpack_from("<iH", body, 0)
            result = {"tare_counts": t, "n_samples": n}
        elif cmd in (Cmd.GET_CAL, Cmd.SET_CAL, Cmd.CLEAR_CAL):
            result = decode_cal(body)[0]
        elif cmd == Cmd.SET_RATE:
            result = body[0]
        elif cmd == Cmd.BATTERY:
            mv, pct = struct.unpack_from("<HB", body, 0)
            result = {"battery_mv": mv or None, "battery_pct": None if pct == 255 else pct}
        elif cmd == Cmd.STATUS:
            result = parse_status(body)
        elif cmd == Cmd.IDLE:
            a, d, c = struct.unpack_from("<HBI", body, 0)
            result = {"idle_after_s": a, "decimation": d, "load_counts": c}
            if len(body) >= 9:  # 1.1
                result["auto_tare_after_s"] = struct.unpack_from("<H", body, 7)[0]
        elif cmd == Cmd.BLE_CAL:
            result = bool(body[0])
    except (IndexError, struct.error) as exc:
        raise FrameError(f"bad reply payload: {exc}") from exc
    return Reply(cmd_seq, cmd, True, result)


TARE_SOURCES = {0: "command", 1: "auto"}


@dataclass
class TareEvent:
    """A TARE frame (1.1): the roller's zero is `tare_counts` for samples with index ≥ `from_index`.

    `source` is "command" (a TARE command finished) or "auto" (automatic tare: unloaded and
    still, docs/calibration.md); `n_samples` readings were averaged.
    """

    tare_counts: int
    from_index: int
    n_samples: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"tare_counts": self.tare_counts, "from_index": self.from_index,
                "n_samples": self.n_samples, "source": self.source}


def parse_tare(payload: bytes) -> TareEvent:
    """Decode a TARE payload (docs/protocol.md §4a); FrameError if it is too short."""
    try:
        t, i, n, src = struct.unpack_from("<iIHB", payload, 0)
    except struct.error as exc:
        raise FrameError(f"bad TARE payload: {exc}") from exc
    return TareEvent(t, i, n, TARE_SOURCES.get(src, str(src)))


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


def decode_sample_frames(frames: Sequence[Frame]) -> SampleArrays:
    """Unpack the SAMPLES frames among `frames` (others ignored) with vectorised numpy.

    Malformed payloads are skipped and counted in `bad_frames` (CRC-valid but
    wrong length: a device bug or a newer layout).
    """
    payloads: list[bytes] = []
    bad = 0
    T = FrameType.SAMPLES
    for f in frames:
        if f.type != T:
            continue
        p = f.payload
        if len(p) < 10:
            bad += 1
            continue
        rl = 11 if p[0] & 1 else 7
        if len(p) != 10 + p[1] * rl or p[1] == 0:
            bad += 1
            continue
        payloads.append(p)
    nf = len(payloads)
    if nf == 0:
        e = np.empty(0, np.int64)
        return SampleArrays(e, e, e, e, e, e, e.astype(np.int32), np.empty(0, np.uint8), None, None, bad)
    heads = np.frombuffer(b"".join([p[:10] for p in payloads]), dtype=_HEAD)
    n = heads["n"].astype(np.int64)
    has_angle = (heads["layout"] & 1).astype(bool)
    total = int(n.sum())
    starts = np.zeros(nf, np.int64)
    np.cumsum(n[:-1], out=starts[1:])
    frame_of = np.repeat(np.arange(nf), n)
    pos_in_frame = np.arange(total, dtype=np.int64) - starts[frame_of]
    delta = np.empty(total, np.int64)
    raw = np.empty(total, np.int32)
    flags = np.empty(total, np.uint8)
    any_angle = bool(has_angle.any())
    angle = np.zeros(total, np.int64) if any_angle else None
    for layout_angle in (False, True):
        sel = has_angle == layout_angle
        if not sel.any():
            continue
        rl = 11 if layout_angle else 7
        rec = np.frombuffer(b"".join([payloads[j][10:] for j in np.nonzero(sel)[0]]), np.uint8).reshape(-1, rl)
        rows = np.nonzero(sel[frame_of])[0]
        r = rec.astype(np.int64)
        delta[rows] = r[:, 0] | (r[:, 1] << 8) | (r[:, 2] << 16)
        v = r[:, 3] | (r[:, 4] << 8) | (r[:, 5] << 16)
        raw[rows] = ((v ^ 0x800000) - 0x800000).astype(np.int32)
        flags[rows] = rec[:, 6]
        if layout_angle:
            angle[rows] = np.ascontiguousarray(rec[:, 7:11]).view("<i4").reshape(-1)
    cs = np.cumsum(delta)
    t_rel = cs - (cs[starts] - delta[starts])[frame_of]
    first = heads["first"].astype(np.int64)
    index = first[frame_of] + pos_in_frame
    angle_valid = None
    if any_angle:
        angle_valid = has_angle[frame_of] & ((flags & F_ANGLE_BAD) == 0)
    return SampleArrays(index, t_rel, heads["t0"].astype(np.int64), first, n, frame_of, raw, flags,
                        angle, angle_valid, bad)


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
        self._base_wide: int | None = None    # device wide µs at session offset _base_s
        self._base_s = t0_s
        self._last_wide: int | None = None    # unwrapped device µs of the last frame's t0
        self._next_index: int | None = None
        self._last_t_s: float | None = None
        self._last_host_s: float | None = None
        self._boot_id: int | None = None
        self._reboot_pending = False
        self._angle_origin: int | None = None
        self._tares: list[TareEvent] = []     # tare changes for samples not yet seen, by from_index
        self.tare_frames = False              # the device announces tare changes (protocol ≥ 1.1)
        self.samples = 0
        self.lost_samples = 0
        self.reboots = 0
        self.bad_frames = 0

    @property
    def last_t_s(self) -> float | None:
        return self._last_t_s

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
        if len(arr) == 0:
            return None, []
        host_now = self._clock()
        nf = len(arr.frame_first)
        first = arr.frame_first
        # A frame whose index goes backwards starts a new device time base (reboot).
        prev_end = np.empty(nf, np.int64)
        prev_end[0] = -1 if self._next_index is None else self._next_index
        prev_end[1:] = first[:-1] + arr.frame_n[:-1]
        back = [int(b) for b in np.nonzero((first < prev_end) & (prev_end >= 0))[0]]
        bounds = sorted(set([0] + back + [nf]))
        frame_t_s = np.empty(nf, np.float64)
        gap_frames: list[tuple[int, str, int | None]] = []
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
        t_s = frame_t_s[arr.frame_of] + arr.t_rel_us / 1e6
        self._last_t_s = float(t_s[-1])
        self._last_host_s = host_now
        gap_flag = (arr.flags & F_DROPPED) != 0
        gaps: list[Gap] = []
        for fi, reason, lost in sorted(gap_frames, key=lambda g: g[0]):
            row = int(np.searchsorted(arr.frame_of, fi))
            gap_flag[row] = True
            gaps.append(Gap(float(t_s[row]), reason, lost))
        cal = self.calibration
        if cal is None:
            force = np.full(len(arr), np.nan)
        elif self._tares and self._tares[0].from_index <= int(arr.index.max()):
            tare = np.full(len(arr), float(cal.tare_counts))
            last = int(arr.index.max())
            while self._tares and self._tares[0].from_index <= last:
                ev = self._tares.pop(0)
                tare[arr.index >= ev.from_index] = ev.tare_counts
                self._set_tare(ev.tare_counts)
            force = cal.force_n(arr.raw, tare)
        else:
            force = cal.force_n(arr.raw)
        fl = np.zeros(len(arr), np.uint8)
        fl[(arr.flags & F_SAT) != 0] |= FLAG_SAT
        fl[(arr.flags & F_SPIKE) != 0] |= FLAG_SPIKE
        fl[gap_flag] |= FLAG_GAP
        angle_deg = None
        if arr.angle is not None:
            if self._angle_origin is None:
                valid = np.nonzero(arr.angle_valid)[0]
                self._angle_origin = int(arr.angle[valid[0]]) if len(valid) else 0
            angle_deg = (arr.angle - self._angle_origin) * (360.0 / COUNTS_PER_TURN)
            angle_deg[~arr.angle_valid] = np.nan
        self.samples += len(arr)
        return SampleChunk(t_s, force, angle_deg, fl, arr.raw.astype(np.float64)), gaps

    def _segment(self, arr: SampleArrays, a: int, b: int, frame_t_s: np.ndarray,
                 gap_frames: list[tuple[int, str, int | None]]) -> None:
        """Frames [a, b) share one device time base: unwrap their t0s and find index jumps."""
        M = 1 << 32
        t0 = arr.frame_t0_us32[a:b]
        if self._last_wide is None:
            start = int(t0[0])
        else:
            d = (int(t0[0]) - self._last_wide) % M
            start = self._last_wide + (d - M if d >= M // 2 else d)
        dd = np.diff(t0) % M
        dd = np.where(dd >= M // 2, dd - M, dd)
        wide = start + np.concatenate(([0], np.cumsum(dd)))
        self._last_wide = int(wide[-1])
        if self._base_wide is None:
            self._base_wide = int(wide[0])
            if self._last_t_s is None:
                self._base_s = self._t0_s
        frame_t_s[a:b] = self._base_s + (wide - self._base_wide) / 1e6
        first = arr.frame_first[a:b]
        n = arr.frame_n[a:b]
        exp = np.empty(b - a, np.int64)
        exp[0] = first[0] if self._next_index is None else self._next_index
        exp[1:] = first[:-1] + n[:-1]
        for j in np.nonzero(first > exp)[0]:
            lost = int(first[j] - exp[j])
            self.lost_samples += lost
            row = int(np.searchsorted(arr.frame_of, a + int(j)))
            reason = "dropped" if arr.flags[row] & F_DROPPED else "lost"
            gap_frames.append((a + int(j), reason, lost))
        self._next_index = int(first[-1] + n[-1])
