"""An encoder written from docs/protocol.md's tables alone (no firmware or host code), so the golden
vectors check both implementations against the document instead of against one of them.

Every function cites the section it follows. Integers little-endian (§ intro), floats float32,
CRC-16/CCITT-FALSE by the standard library (`binascii.crc_hqx(data, 0xFFFF)`, domain.md), sent
low byte first (§1), COBS from its definition (Cheshire & Baker 1999).
"""
from __future__ import annotations

import binascii
import struct
from typing import Any

MAX_RAW = 244          # §1: a raw frame is at most 244 bytes
MAX_COBS = 245         # §1: COBS-encoded at most 245 bytes
MAX_WIRE = 246         # §1: with the 0x00 delimiter


def crc(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def cobs(data: bytes) -> bytes:
    """COBS: each block is (distance to the next zero) + the non-zero bytes; a 0xFF block has no
    implied zero after it; the last block's implied zero is not part of the data."""
    out = bytearray()
    blocks = data.split(b"\x00")
    for i, blk in enumerate(blocks):
        while len(blk) >= 254:
            out.append(0xFF)
            out += blk[:254]
            blk = blk[254:]
            if not blk and i == len(blocks) - 1:
                return bytes(out)  # data ends exactly after a full block: no trailing code
        out.append(len(blk) + 1)
        out += blk
    return bytes(out)


def frame(ftype: int, seq: int, payload: bytes) -> bytes:
    """§1: type u8, seq u16, payload, CRC-16 over everything before it, CRC low byte first."""
    body = bytes([ftype]) + struct.pack("<H", seq) + payload
    raw = body + struct.pack("<H", crc(body))
    if len(raw) > MAX_RAW:
        raise ValueError("longer than the document's frame maximum")
    return raw


def serial(raw: bytes) -> bytes:
    return cobs(raw) + b"\x00"


def u24(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFF)[:3]


def samples(first_index: int, has_angle: bool, recs: list[tuple[int, int, int, int | None]]) -> bytes:
    """§2: layout, n, first_index u32, t0_us u32 (mod 2^32), then per record delta_us u24, raw i24,
    flags u8 [, angle i32]. recs: (t_us32, raw, flags, angle) with 32-bit device times."""
    t0 = recs[0][0] if recs else 0
    out = struct.pack("<BBII", 1 if has_angle else 0, len(recs), first_index & 0xFFFFFFFF, t0 & 0xFFFFFFFF)
    prev = t0
    for t, raw, flags, angle in recs:
        out += u24((t - prev) & 0xFFFFFFFF) + u24(raw) + bytes([flags])
        if has_angle:
            out += struct.pack("<i", angle)
        prev = t
    return out


def cal_block(c: dict[str, Any]) -> bytes:
    """§3: tare_counts i32, cal_flags u8 (0x01 fitted), n u8, n x float32, residual float32 (NaN unknown)."""
    coeffs = c["counts_to_n"]
    out = struct.pack("<iBB", c["tare_counts"], 1 if c["fitted"] else 0, len(coeffs))
    out += b"".join(struct.pack("<f", x) for x in coeffs)
    res = c.get("residual_n")
    return out + struct.pack("<f", float("nan") if res is None else res)


def text(s: str) -> bytes:
    b = s.encode()
    return bytes([len(b)]) + b


def info(d: dict[str, Any]) -> bytes:
    """§3: major, minor, boot_id u32, sensors u8, rate_hz u8, state bits (0x01 streaming, 0x02 BLE cal,
    0x04 idle), three strings, calibration block."""
    st = (1 if d["streaming"] else 0) | (2 if d["ble_cal_writes"] else 0) | (4 if d["idle"] else 0)
    return (struct.pack("<BBIBBB", d["proto_major"], d["proto_minor"], d["boot_id"], d["sensors"], d["rate_hz"], st)
            + text(d["fw_version"]) + text(d["board"]) + text(d["device_id"]) + cal_block(d["calibration"]))


def status(d: dict[str, Any]) -> bytes:
    """§4: 24 bytes up to rate_chz (1.0, 1.1); 1.2 adds task_restarts u16 (26 bytes)."""
    out = struct.pack("<HBBIIHHHIH", d["battery_mv"], d["battery_pct"], d["state"], d["samples_total"],
                      d["dropped_total"], d["errors"], d["hx711_timeouts"], d["rx_bad_frames"], d["uptime_s"],
                      d["rate_chz"])
    if "task_restarts" in d:
        out += struct.pack("<H", d["task_restarts"])
    return out


def tare(d: dict[str, Any]) -> bytes:
    """§4a: tare_counts i32, from_index u32, n u16, source u8."""
    return struct.pack("<iIHB", d["tare_counts"], d["from_index"], d["n"], d["source"])


def reply_head(cmd_seq: int, cmd: int) -> bytes:
    """§5: ACK / ERROR payloads start with the command's seq u16 and cmd u8."""
    return struct.pack("<HB", cmd_seq, cmd)


def error(cmd_seq: int, cmd: int, code: int, message: str) -> bytes:
    return reply_head(cmd_seq, cmd) + bytes([code]) + message.encode()


CMD_IDS = {"info": 0x01, "start": 0x02, "stop": 0x03, "tare": 0x04, "get_cal": 0x05, "set_cal": 0x06,
           "clear_cal": 0x07, "set_rate": 0x08, "battery": 0x09, "status": 0x0A, "cue": 0x0B, "idle": 0x0C,
           "ble_cal": 0x0D, "exit": 0x0E}


def command_args(name: str, kw: dict[str, Any]) -> bytes:
    """§5's argument column."""
    if name == "tare":
        return struct.pack("<H", kw.get("n_samples", 0))
    if name == "set_cal":
        return cal_block(kw["calibration"])
    if name == "set_rate":
        return bytes([kw["rate_hz"]])
    if name == "status":
        return bytes([1 if kw.get("clear") else 0])
    if name == "cue":
        return bytes([kw["pattern"], kw["repeat"]])
    if name == "idle":
        out = struct.pack("<HBI", kw["idle_after_s"], kw["decimation"], kw["load_counts"])
        if "auto_tare_after_s" in kw:
            out += struct.pack("<H", kw["auto_tare_after_s"])
        return out
    if name == "ble_cal":
        return bytes([1 if kw["enable"] else 0])
    return b""


def command(name: str, seq: int, **kw: Any) -> bytes:
    """A CMD frame (0x10): cmd u8, then its arguments."""
    return frame(0x10, seq, bytes([CMD_IDS[name]]) + command_args(name, kw))
