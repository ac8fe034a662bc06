# holdsense wire protocol, firmware side (pure: no I/O, no hardware).
# Specified in docs/protocol.md; golden vectors in tests/golden/protocol_vectors.json.
# Runs unchanged on MicroPython and CPython: struct only, no int.from_bytes keywords,
# no f-strings, no dataclasses.
import struct

PROTO_MAJOR = 1
PROTO_MINOR = 2  # 1.1: TARE frames (0x05), IDLE's trailing auto_tare_after_s; 1.2: STATUS task_restarts

# Frame types. Device -> host: 0x01..0x0F and ACK/ERROR; host -> device: CMD.
T_INFO = 0x01
T_SAMPLES = 0x02
T_STATUS = 0x03
T_TEXT = 0x04
T_TARE = 0x05     # 1.1: the zero changed (TARE command or automatic tare), from which sample on
T_CMD = 0x10
T_ACK = 0x11
T_ERROR = 0x12

# Command ids (first payload byte of a CMD frame).
C_INFO = 0x01
C_START = 0x02
C_STOP = 0x03
C_TARE = 0x04
C_GET_CAL = 0x05
C_SET_CAL = 0x06
C_CLEAR_CAL = 0x07
C_SET_RATE = 0x08
C_BATTERY = 0x09
C_STATUS = 0x0A
C_CUE = 0x0B
C_IDLE = 0x0C
C_BLE_CAL = 0x0D
C_EXIT = 0x0E

# Error codes (ERROR frames).
E_UNKNOWN = 1
E_BAD_ARGS = 2
E_UNSUPPORTED = 3
E_BUSY = 4
E_STORAGE = 5
E_SENSOR = 6
E_REFUSED = 7

# Per-sample flags on the wire.
F_SAT = 0x01       # ADC saturated (0x7FFFFF / 0x800000): never trust the value
F_DROPPED = 0x02   # samples were dropped on the device just before this one
F_SPIKE = 0x04     # spurious ADC code detected; value replaced by a causal 3-point median
F_ANGLE_BAD = 0x08 # encoder read failed or no magnet: angle is held from the last good read
F_MAGNET = 0x10    # magnet too weak or too strong (AS5600 ML/MH): angle may be noisy
F_IDLE = 0x20      # device in idle (decimated) streaming

# Sensors fitted (INFO bitmask).
S_HX711 = 0x01
S_AS5600 = 0x02
S_RATE = 0x04      # HX711 RATE pin wired: 10/80 SPS selectable
S_BUZZER = 0x08
S_LED = 0x10
S_BATTERY = 0x20

# Status error bits (sticky until STATUS with clear=1).
ERR_HX711_TIMEOUT = 0x0001
ERR_SATURATED = 0x0002
ERR_SPURIOUS = 0x0004
ERR_I2C = 0x0008
ERR_NO_MAGNET = 0x0010
ERR_MAGNET_RANGE = 0x0020
ERR_STORAGE = 0x0040
ERR_OVERFLOW = 0x0080
ERR_BATTERY_LOW = 0x0100
ERR_RX_FRAME = 0x0200
ERR_MISSED = 0x0400       # 1.2: HX711 conversions the firmware did not read in time (counted as lost)
ERR_TASK = 0x0800         # 1.2: a firmware task raised and was restarted (STATUS task_restarts)

MAX_FRAME = 244          # raw frame bytes (type..CRC): fits one BLE notification (ATT MTU 247)
HEADER_LEN = 3           # type u8, seq u16
SAMPLES_HEAD = 10        # layout u8, n u8, first_index u32, t0_us u32
MAX_DELTA_US = 0xFFFFFF  # per-sample delta is u24: a longer pause starts a new batch


def _rec_len(has_angle):
    return 11 if has_angle else 7


def max_batch(has_angle):
    """Largest sample count whose frame still fits MAX_FRAME."""
    return (MAX_FRAME - HEADER_LEN - 2 - SAMPLES_HEAD) // _rec_len(has_angle)


# ---- CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout) ----
def _make_table():
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return t


_CRC_TABLE = _make_table()


def crc16(data, crc=0xFFFF, end=-1):
    """CRC-16/CCITT-FALSE of `data` (its first `end` bytes when end >= 0); crc16(b"123456789") == 0x29B1."""
    t = _CRC_TABLE
    if end < 0:
        for b in data:
            crc = ((crc << 8) & 0xFF00) ^ t[((crc >> 8) ^ b) & 0xFF]
        return crc
    for i in range(end):
        crc = ((crc << 8) & 0xFF00) ^ t[((crc >> 8) ^ data[i]) & 0xFF]
    return crc


# ---- COBS (serial framing; 0x00 delimits frames) ----
def cobs_encode(data):
    out = bytearray()
    block = bytearray()
    full = False  # the last block emitted was a full 0xFF block with no zero after it
    for b in data:
        full = False
        if b == 0:
            out.append(len(block) + 1)
            out.extend(block)
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out.extend(block)
                block = bytearray()
                full = True
    if not full:
        out.append(len(block) + 1)
        out.extend(block)
    return bytes(out)


def cobs_encode_into(data, dst, pos, n=-1):
    """COBS-encode `data` (its first `n` bytes when n >= 0) into bytearray `dst` from `pos` and add
    the 0x00 delimiter, without allocating (the serial TX path). Returns the new end, or -1
    (nothing written) when it does not fit."""
    if n < 0:
        n = len(data)
    if pos + n + n // 254 + 2 > len(dst):
        return -1
    code_at = pos
    out = pos + 1
    code = 1
    for i in range(n):
        b = data[i]
        if b == 0:
            dst[code_at] = code
            code_at = out
            out += 1
            code = 1
        else:
            dst[out] = b
            out += 1
            code += 1
            if code == 255:
                dst[code_at] = code
                code_at = out
                out += 1
                code = 1
                if i == n - 1:
                    out -= 1  # data ends right after a full block: no trailing code byte
                    code_at = -1
    if code_at >= 0:
        dst[code_at] = code
    dst[out] = 0
    return out + 1


def cobs_decode(data):
    """Inverse of cobs_encode (delimiter already removed). ValueError on a malformed block."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside COBS data")
        end = i + code
        if end > n:
            raise ValueError("COBS block runs past the end")
        blk = data[i + 1:end]
        if blk.find(b"\x00") >= 0:
            raise ValueError("zero byte inside COBS data")
        out.extend(blk)
        i = end
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


# ---- frames ----
def encode_frame(ftype, seq, payload=b""):
    """Raw frame: type u8, seq u16 LE, payload, CRC-16 LE over everything before it."""
    body = struct.pack("<BH", ftype, seq & 0xFFFF) + bytes(payload)
    if len(body) + 2 > MAX_FRAME:
        raise ValueError("frame too long")
    return body + struct.pack("<H", crc16(body))


def serial_frame(ftype, seq, payload=b""):
    """A frame as sent on serial: COBS-encoded, then a 0x00 delimiter."""
    return cobs_encode(encode_frame(ftype, seq, payload)) + b"\x00"


def decode_frame(raw):
    """(type, seq, payload) of a raw frame; ValueError on bad length or CRC."""
    if len(raw) < HEADER_LEN + 2 or len(raw) > MAX_FRAME:
        raise ValueError("bad frame length")
    crc = raw[-2] | (raw[-1] << 8)
    if crc16(raw[:-2]) != crc:
        raise ValueError("CRC mismatch")
    return raw[0], raw[1] | (raw[2] << 8), bytes(raw[3:-2])


class Deframer:
    """Splits a serial byte stream at 0x00 into decoded raw frames (used for host commands).

    Garbage before a delimiter is dropped; an over-long run is discarded so a
    noisy line cannot exhaust memory. `errors` counts frames that failed COBS or CRC.
    """

    def __init__(self, max_len=MAX_FRAME + 1):  # COBS of a 244-byte frame: 245 bytes (docs/protocol.md §1)
        self._buf = bytearray()
        self._max = max_len
        self._skip = False
        self.errors = 0

    def feed(self, data):
        """Return a list of (type, seq, payload) for every complete valid frame in `data`."""
        out = []
        for b in data:
            if b == 0:
                if self._buf and not self._skip:
                    try:
                        out.append(decode_frame(cobs_decode(bytes(self._buf))))
                    except ValueError:
                        self.errors += 1
                elif self._skip:
                    self.errors += 1
                self._buf = bytearray()
                self._skip = False
            elif not self._skip:
                self._buf.append(b)
                if len(self._buf) > self._max:
                    self._skip = True
                    self._buf = bytearray()
        return out


# ---- little helpers for 24-bit fields (struct has no 3-byte format) ----
def pack_u24(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF))


def unpack_i24(b, i=0):
    v = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)
    return v - 0x1000000 if v & 0x800000 else v


def unpack_u24(b, i=0):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)


def pack_str(s):
    b = s.encode()[:63]
    return bytes((len(b),)) + b


def unpack_str(b, i):
    n = b[i]
    return b[i + 1:i + 1 + n].decode(), i + 1 + n


# ---- sample batches ----
def encode_samples(seq, first_index, samples, has_angle):
    """SAMPLES frame from a list of samples (t_us, raw, flags, angle).

    t_us is the device's wide microsecond clock (only its low 32 bits are sent);
    raw is the signed 24-bit ADC value; angle the cumulative encoder count (i32).
    The caller keeps len(samples) <= max_batch(has_angle) and deltas <= MAX_DELTA_US
    (see split_batches).
    """
    # one buffer for the whole raw frame, fields written in place (no per-record objects); a
    # 24-bit field is written as 4 bytes whose last one the next field overwrites
    n = len(samples)
    rl = _rec_len(has_angle)
    size = HEADER_LEN + SAMPLES_HEAD + n * rl + 2
    if size > MAX_FRAME:
        raise ValueError("frame too long")
    buf = bytearray(size)
    pack = struct.pack_into
    pack("<BHBBI", buf, 0, T_SAMPLES, seq & 0xFFFF, 1 if has_angle else 0, n, first_index & 0xFFFFFFFF)
    prev = samples[0][0] if n else 0
    pack("<I", buf, 9, prev & 0xFFFFFFFF)
    o = HEADER_LEN + SAMPLES_HEAD
    for s in samples:
        t = s[0]
        d = t - prev
        prev = t
        if d < 0 or d > MAX_DELTA_US:
            raise ValueError("sample delta out of range")
        pack("<I", buf, o, d)
        pack("<I", buf, o + 3, s[1] & 0xFFFFFF)
        buf[o + 6] = s[2] & 0xFF
        if has_angle:
            pack("<i", buf, o + 7, s[3])
        o += rl
    pack("<H", buf, o, crc16(buf, 0xFFFF, o))
    return buf


def split_batches(samples, has_angle):
    """Cut a sample list into runs each encodable as one SAMPLES frame."""
    cap = max_batch(has_angle)
    runs = []
    cur = []
    prev = None
    for s in samples:
        if cur and (len(cur) >= cap or s[0] - prev > MAX_DELTA_US):
            runs.append(cur)
            cur = []
        cur.append(s)
        prev = s[0]
    if cur:
        runs.append(cur)
    return runs


def decode_samples(payload):
    """Inverse of encode_samples' payload: (first_index, has_angle, [(t_us32, raw, flags, angle)]).

    t_us32 is the 32-bit device time of each sample (wraps at 2^32; the host unwraps).
    """
    layout, n, first, t0 = struct.unpack_from("<BBII", payload, 0)
    has_angle = bool(layout & 1)
    rl = _rec_len(has_angle)
    if len(payload) != SAMPLES_HEAD + n * rl:
        raise ValueError("bad SAMPLES length")
    out = []
    t = t0
    i = SAMPLES_HEAD
    for _ in range(n):
        t = (t + unpack_u24(payload, i)) & 0xFFFFFFFF
        raw = unpack_i24(payload, i + 3)
        fl = payload[i + 6]
        ang = struct.unpack_from("<i", payload, i + 7)[0] if has_angle else None
        out.append((t, raw, fl, ang))
        i += rl
    return first, has_angle, out


# ---- calibration block (INFO, GET/SET/CLEAR_CAL) ----
CAL_FITTED = 0x01  # coefficients fitted on the host (else the firmware's nominal default)
MAX_COEFFS = 4


def encode_cal(cal):
    """cal: dict tare_counts (int), counts_to_n (list of float, ascending powers),
    residual_n (float or None), fitted (bool)."""
    coeffs = cal.get("counts_to_n") or []
    if len(coeffs) > MAX_COEFFS:
        raise ValueError("too many coefficients")
    res = cal.get("residual_n")
    out = struct.pack("<iBB", int(cal.get("tare_counts", 0)), CAL_FITTED if cal.get("fitted") else 0,
                      len(coeffs))
    for c in coeffs:
        out += struct.pack("<f", c)
    out += struct.pack("<f", float("nan") if res is None else res)
    return out


def decode_cal(b, i=0):
    """(cal dict, next index). residual_n is None when unknown (NaN on the wire)."""
    tare, fl, n = struct.unpack_from("<iBB", b, i)
    if n > MAX_COEFFS:
        raise ValueError("too many coefficients")
    i += 6
    coeffs = []
    for _ in range(n):
        coeffs.append(struct.unpack_from("<f", b, i)[0])
        i += 4
    res = struct.unpack_from("<f", b, i)[0]
    i += 4
    return {"tare_counts": tare, "counts_to_n": coeffs,
            "residual_n": None if res != res else res, "fitted": bool(fl & CAL_FITTED)}, i


# ---- INFO ----
INFO_STREAMING = 0x01
INFO_BLE_CAL = 0x02
INFO_IDLE = 0x04


def encode_info_payload(info):
    """INFO payload. Bytes 0-1 are always (major, minor) in every protocol version."""
    st = 0
    if info.get("streaming"):
        st |= INFO_STREAMING
    if info.get("ble_cal_writes"):
        st |= INFO_BLE_CAL
    if info.get("idle"):
        st |= INFO_IDLE
    # proto_minor may be given to reproduce an older minor's bytes (golden vectors); bytes 0-1
    # keep their meaning in every version
    out = struct.pack("<BBIBBB", PROTO_MAJOR, info.get("proto_minor", PROTO_MINOR), info["boot_id"] & 0xFFFFFFFF,
                      info["sensors"], info["rate_hz"], st)
    out += pack_str(info["fw_version"]) + pack_str(info["board"]) + pack_str(info["device_id"])
    out += encode_cal(info["calibration"])
    return out


def decode_info_payload(b):
    major, minor, boot, sensors, rate, st = struct.unpack_from("<BBIBBB", b, 0)
    i = 9
    fw, i = unpack_str(b, i)
    board, i = unpack_str(b, i)
    dev, i = unpack_str(b, i)
    cal, i = decode_cal(b, i)
    return {"proto_major": major, "proto_minor": minor, "boot_id": boot, "sensors": sensors,
            "rate_hz": rate, "streaming": bool(st & INFO_STREAMING),
            "ble_cal_writes": bool(st & INFO_BLE_CAL), "idle": bool(st & INFO_IDLE),
            "fw_version": fw, "board": board, "device_id": dev, "calibration": cal}


# ---- STATUS ----
STATE_STOPPED = 0
STATE_STREAMING = 1
STATE_IDLE = 2
_STATUS_FMT = "<HBBIIHHHIHH"
STATUS_LEN_10 = 24   # 1.0 / 1.1: up to rate_chz
STATUS_LEN = 26      # 1.2: + task_restarts u16


def encode_status_payload(st):
    out = struct.pack(_STATUS_FMT, st["battery_mv"], st["battery_pct"], st["state"],
                      st["samples_total"] & 0xFFFFFFFF, st["dropped_total"] & 0xFFFFFFFF,
                      st["errors"] & 0xFFFF, st["hx711_timeouts"] & 0xFFFF,
                      st["rx_bad_frames"] & 0xFFFF, st["uptime_s"] & 0xFFFFFFFF,
                      st["rate_chz"] & 0xFFFF, st.get("task_restarts", 0) & 0xFFFF)
    if st.get("proto_minor", PROTO_MINOR) < 2:
        return out[:STATUS_LEN_10]  # reproduce an older minor's bytes (golden vectors)
    return out


def decode_status_payload(b):
    v = struct.unpack_from(_STATUS_FMT[:-1], b, 0)
    d = {"battery_mv": v[0], "battery_pct": v[1], "state": v[2], "samples_total": v[3],
         "dropped_total": v[4], "errors": v[5], "hx711_timeouts": v[6],
         "rx_bad_frames": v[7], "uptime_s": v[8], "rate_chz": v[9]}
    if len(b) >= STATUS_LEN:
        d["task_restarts"] = struct.unpack_from("<H", b, STATUS_LEN_10)[0]
    return d


# ---- TARE (1.1): the zero changed ----
TARE_COMMAND = 0   # a TARE command finished
TARE_AUTO = 1      # automatic tare: unloaded and still for auto_tare_after_s (docs/calibration.md)
_TARE_FMT = "<iIHB"
TARE_LEN = 11


def encode_tare_payload(tare_counts, from_index, n, source):
    """tare_counts i32; from_index u32: the first sample (this link's index) whose force uses it;
    n u16: readings averaged; source u8 (TARE_COMMAND / TARE_AUTO)."""
    return struct.pack(_TARE_FMT, tare_counts, from_index & 0xFFFFFFFF, min(n, 0xFFFF), source)


def decode_tare_payload(b):
    t, i, n, src = struct.unpack_from(_TARE_FMT, b, 0)
    return {"tare_counts": t, "from_index": i, "n": n, "source": src}


# ---- commands, ACK, ERROR ----
def encode_ack(seq, cmd_seq, cmd, result=b""):
    return encode_frame(T_ACK, seq, struct.pack("<HB", cmd_seq & 0xFFFF, cmd) + bytes(result))


def encode_error(seq, cmd_seq, cmd, code, message):
    msg = message.encode()[:200]
    return encode_frame(T_ERROR, seq, struct.pack("<HBB", cmd_seq & 0xFFFF, cmd, code) + msg)


def encode_text(seq, level, message):
    return encode_frame(T_TEXT, seq, bytes((level,)) + message.encode()[:220])


def encode_cmd(seq, cmd, args=b""):
    return encode_frame(T_CMD, seq, bytes((cmd,)) + bytes(args))
