"""Commands to the roller and what it answers (docs/protocol.md §4-5): building CMD frames and parsing
ACK/ERROR replies and the INFO, STATUS and TARE payloads. No I/O; the framing is `holdsense.link.frames`.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..errors import DeviceError
from .frames import (PROTO_MAJOR, Calibration, Cmd, ErrorCode, Frame, FrameError, FrameType, decode_cal, encode_frame,
                     serial_wrap)

SENSOR_BITS = {0x01: "hx711", 0x02: "as5600", 0x04: "rate_pin", 0x08: "buzzer", 0x10: "led", 0x20: "battery"}
STATUS_ERROR_BITS = {
    0x0001: "hx711_timeout", 0x0002: "saturated", 0x0004: "spurious_code", 0x0008: "i2c_error",
    0x0010: "no_magnet", 0x0020: "magnet_range", 0x0040: "storage_error", 0x0080: "queue_overflow",
    0x0100: "battery_low", 0x0200: "rx_bad_frame", 0x0400: "missed_conversions", 0x0800: "task_restarted",
}
STATE_NAMES = {0: "stopped", 1: "streaming", 2: "idle"}
CUE_PATTERNS = {"off": 0, "beep": 1, "double": 2, "long": 3, "release": 4, "led": 5}


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
            if pattern not in CUE_PATTERNS:  # a typo is the caller's, not a missing key of ours
                raise ValueError(f"CUE: unknown pattern {pattern!r}; one of {', '.join(CUE_PATTERNS)} or 0-5")
            pattern = CUE_PATTERNS[pattern]
        if not (0 <= int(pattern) <= 255 and 0 <= int(repeat) <= 255):
            raise ValueError(f"CUE: pattern {pattern} and repeat {repeat} must each fit a byte")
        return struct.pack("<BB", int(pattern), int(repeat))
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
            "hx711_timeouts": v[6], "rx_bad_frames": v[7], "uptime_s": v[8], "rate_hz": v[9] / 100.0,
            # 1.2 adds task_restarts (26 bytes); a 1.0/1.1 device sends 24
            "task_restarts": int.from_bytes(payload[24:26], "little") if len(payload) >= 26 else None}


@dataclass
class Reply:
    """A device's answer to a command: ACK (`ok`, parsed `result`) or ERROR (`code`, `message`)."""

    cmd_seq: int
    cmd: int
    ok: bool
    result: Any = None
    code: int = 0
    message: str = ""

    @property
    def code_name(self) -> str:
        """The ERROR code as a word ('bad_args', 'unsupported', ...), or its number when unknown."""
        return ErrorCode(self.code).name.lower() if self.code in ErrorCode._value2member_map_ else str(self.code)

    def raise_for_error(self) -> "Reply":
        if not self.ok:
            name = Cmd(self.cmd).name if self.cmd in Cmd._value2member_map_ else hex(self.cmd)
            raise DeviceError(f"device refused {name.lower()}: {self.message} ({self.code_name})")
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
