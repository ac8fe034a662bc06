"""Regenerate tests/golden/protocol_vectors.json from docs/protocol.md's tables.

The bytes come from tests/golden/doc_encoder.py, an encoder written from the document alone
(struct, binascii.crc_hqx, COBS by its definition), never from the firmware's or the host's code:
the vectors check both implementations against the document (issue 15). `python
tests/golden/make_vectors.py --check` (and tests/golden/test_vectors_from_doc.py) verifies that
the stored file is exactly what the document gives. Vectors of an older minor version keep their
bytes (they pin `proto_minor`) and new ones are appended, so a device or host of any 1.x must still
read every entry. The CRC and COBS entries are the published reference values (CRC catalogue
check value, COBS paper / Wikipedia examples), written out here by hand, not computed.

    python tests/golden/make_vectors.py [--check]
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import doc_encoder as D  # noqa: E402

# §1 frame types, §5 commands and error codes, §2 flags, §3 sensors, §4 states and error bits
T_INFO, T_SAMPLES, T_STATUS, T_TEXT, T_TARE, T_CMD, T_ACK, T_ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x12
C = D.CMD_IDS
E_UNKNOWN, E_UNSUPPORTED, E_REFUSED = 1, 3, 7
F_SAT, F_DROPPED, F_SPIKE, F_ANGLE_BAD, F_MAGNET, F_IDLE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
S_HX711, S_AS5600, S_RATE, S_BUZZER, S_LED, S_BATTERY = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
STATE_STREAMING, STATE_IDLE = 1, 2
ERR_SPURIOUS, ERR_OVERFLOW, ERR_MISSED, ERR_TASK = 0x0004, 0x0080, 0x0400, 0x0800
TARE_COMMAND, TARE_AUTO = 0, 1
MAX_DELTA_US = 0xFFFFFF

CAL = {"tare_counts": 84210, "counts_to_n": [0.0, 0.01220703125, 2.384185791015625e-07],
       "residual_n": 0.375, "fitted": True}
NOMINAL = {"tare_counts": -1200, "counts_to_n": [0.0, 0.0009765625], "residual_n": None, "fitted": False}


def hexs(b: bytes) -> str:
    return b.hex()


def frame_entry(name, ftype, seq, payload, decoded):
    raw = D.frame(ftype, seq, payload)
    return {"name": name, "type": ftype, "seq": seq, "payload_hex": hexs(payload), "raw_hex": hexs(raw),
            "serial_hex": hexs(D.serial(raw)), "decoded": decoded}


def build() -> dict:
    out = {
        "format": "holdsense-protocol-vectors/1",
        "protocol": "1.2",
        "crc16_ccitt_false": [
            {"ascii": "123456789", "crc": 0x29B1},
            {"hex": "", "crc": 0xFFFF},
            {"hex": "00", "crc": 0xE1F0},
            {"ascii": "A", "crc": 0xB915},
        ],
        "cobs": [
            {"decoded": "00", "encoded": "0101"},
            {"decoded": "0000", "encoded": "010101"},
            {"decoded": "00110000", "encoded": "0102110101"},
            {"decoded": "11220033", "encoded": "0311220233"},
            {"decoded": "11223344", "encoded": "0511223344"},
            {"decoded": "11000000", "encoded": "0211010101"},
            {"decoded": bytes(range(1, 255)).hex(), "encoded": "ff" + bytes(range(1, 255)).hex()},
            {"decoded": bytes(range(0, 255)).hex(), "encoded": "01ff" + bytes(range(1, 255)).hex()},
            {"decoded": bytes(range(1, 256)).hex(), "encoded": "ff" + bytes(range(1, 255)).hex() + "02ff"},
        ],
        "frames": [],
    }
    fr = out["frames"]
    info = {"boot_id": 0x1234ABCD, "sensors": S_HX711 | S_AS5600 | S_BUZZER | S_LED | S_BATTERY,
            "rate_hz": 80, "streaming": True, "ble_cal_writes": False, "idle": False, "fw_version": "0.1.0",
            "board": "esp32s3", "device_id": "7CDFA1001122", "calibration": CAL}

    def info10(d):  # the 1.0 vectors stay byte-identical
        return D.info(dict(d, proto_major=1, proto_minor=0))

    dec = dict(info, proto_major=1, proto_minor=0)
    fr.append(frame_entry("info", T_INFO, 0, info10(info), dec))
    info2 = dict(info, boot_id=7, sensors=S_HX711 | S_RATE, rate_hz=10, streaming=False,
                 ble_cal_writes=True, idle=True, board="picow", device_id="", calibration=NOMINAL)
    fr.append(frame_entry("info_force_only", T_INFO, 65535, info10(info2),
                          dict(info2, proto_major=1, proto_minor=0)))
    # samples with angle, crossing the 2^32 µs wrap inside the frame
    t0 = (1 << 32) - 20000
    s = [(t0, 84210, 0, 0), (t0 + 12410, 85218, 0, 17), (t0 + 24985, -8388608, F_SAT, 4113),
         (t0 + 37001, 8388607, F_SAT | F_DROPPED, -4096), (t0 + 49500, -1, F_SPIKE | F_ANGLE_BAD, -4096)]
    raw = D.frame(T_SAMPLES, 513, D.samples(1000, True, [(x[0] & 0xFFFFFFFF, x[1], x[2], x[3]) for x in s]))
    fr.append({"name": "samples_angle_wrap", "type": T_SAMPLES, "seq": 513,
               "payload_hex": hexs(raw[3:-2]), "raw_hex": hexs(raw), "serial_hex": hexs(D.serial(raw)),
               "decoded": {"first_index": 1000, "has_angle": True,
                           "samples": [[x[0] & 0xFFFFFFFF, x[1], x[2], x[3]] for x in s]}})
    s2 = [(5_000_000 + 12500 * i + (i % 3) * 700, 100000 - 37 * i, F_IDLE if i > 6 else 0, None) for i in range(10)]
    s2.append((s2[-1][0] + MAX_DELTA_US, 42, F_MAGNET, None))
    raw = D.frame(T_SAMPLES, 2, D.samples(0xFFFFFFF0, False, [(x[0] & 0xFFFFFFFF, x[1], x[2], None) for x in s2]))
    fr.append({"name": "samples_force_only", "type": T_SAMPLES, "seq": 2,
               "payload_hex": hexs(raw[3:-2]), "raw_hex": hexs(raw), "serial_hex": hexs(D.serial(raw)),
               "decoded": {"first_index": 0xFFFFFFF0, "has_angle": False,
                           "samples": [[x[0] & 0xFFFFFFFF, x[1], x[2], None] for x in s2]}})
    st = {"battery_mv": 3912, "battery_pct": 78, "state": STATE_STREAMING, "samples_total": 123456,
          "dropped_total": 3, "errors": ERR_OVERFLOW | ERR_SPURIOUS, "hx711_timeouts": 1,
          "rx_bad_frames": 2, "uptime_s": 3600, "rate_chz": 8012}
    fr.append(frame_entry("status", T_STATUS, 40, D.status(st), st))
    st2 = {"battery_mv": 0, "battery_pct": 255, "state": STATE_IDLE, "samples_total": 0, "dropped_total": 0,
           "errors": 0, "hx711_timeouts": 0, "rx_bad_frames": 0, "uptime_s": 0, "rate_chz": 0}
    fr.append(frame_entry("status_no_battery", T_STATUS, 41, D.status(st2), st2))
    fr.append(frame_entry("text", T_TEXT, 3, bytes((1,)) + "HX711 not found".encode(),
                          {"level": 1, "message": "HX711 not found"}))
    # commands
    cmds = [
        ("cmd_info", C["info"], b"", {}),
        ("cmd_start", C["start"], b"", {}),
        ("cmd_stop", C["stop"], b"", {}),
        ("cmd_tare", C["tare"], struct.pack("<H", 40), {"n_samples": 40}),
        ("cmd_get_cal", C["get_cal"], b"", {}),
        ("cmd_set_cal", C["set_cal"], D.cal_block(CAL), {"calibration": CAL}),
        ("cmd_clear_cal", C["clear_cal"], b"", {}),
        ("cmd_set_rate", C["set_rate"], bytes((10,)), {"rate_hz": 10}),
        ("cmd_battery", C["battery"], b"", {}),
        ("cmd_status", C["status"], bytes((1,)), {"clear": True}),
        ("cmd_cue", C["cue"], bytes((4, 2)), {"pattern": 4, "repeat": 2}),
        ("cmd_idle", C["idle"], struct.pack("<HBI", 60, 8, 20000),
         {"idle_after_s": 60, "decimation": 8, "load_counts": 20000}),
        ("cmd_ble_cal", C["ble_cal"], bytes((1,)), {"enable": True}),
        ("cmd_exit", C["exit"], b"", {}),
    ]
    for i, (name, cmd, args, kw) in enumerate(cmds):
        e = frame_entry(name, T_CMD, 100 + i, bytes((cmd,)) + args, {"cmd": cmd, "args": kw})
        fr.append(e)
    acks = [
        ("ack_info", 100, C["info"], info10(info), {"result": dec}),
        ("ack_start", 101, C["start"], b"", {"result": None}),
        ("ack_tare", 103, C["tare"], struct.pack("<iH", 84210, 40), {"result": {"tare_counts": 84210, "n_samples": 40}}),
        ("ack_get_cal", 104, C["get_cal"], D.cal_block(CAL), {"result": CAL}),
        ("ack_set_rate", 107, C["set_rate"], bytes((10,)), {"result": 10}),
        ("ack_battery", 108, C["battery"], struct.pack("<HB", 3912, 78), {"result": {"battery_mv": 3912, "battery_pct": 78}}),
        ("ack_status", 109, C["status"], D.status(st), {"result": st}),
        ("ack_idle", 111, C["idle"], struct.pack("<HBI", 60, 8, 20000),
         {"result": {"idle_after_s": 60, "decimation": 8, "load_counts": 20000}}),
        ("ack_ble_cal", 112, C["ble_cal"], bytes((0,)), {"result": False}),
    ]
    for i, (name, cseq, cmd, res, d) in enumerate(acks):
        raw = D.frame(T_ACK, 200 + i, D.reply_head(cseq, cmd) + res)
        fr.append({"name": name, "type": T_ACK, "seq": 200 + i, "payload_hex": hexs(raw[3:-2]),
                   "raw_hex": hexs(raw), "serial_hex": hexs(D.serial(raw)),
                   "decoded": dict(d, cmd_seq=cseq, cmd=cmd)})
    errs = [
        ("error_unsupported_rate", 107, C["set_rate"], E_UNSUPPORTED, "RATE pin not wired: fixed at 80 SPS"),
        ("error_refused_cal", 105, C["set_cal"], E_REFUSED, "calibration writes over BLE are disabled"),
        ("error_unknown", 999, 0x7F, E_UNKNOWN, "unknown command 0x7f"),
    ]
    for i, (name, cseq, cmd, code, msg) in enumerate(errs):
        raw = D.frame(T_ERROR, 300 + i, D.error(cseq, cmd, code, msg))
        fr.append({"name": name, "type": T_ERROR, "seq": 300 + i, "payload_hex": hexs(raw[3:-2]),
                   "raw_hex": hexs(raw), "serial_hex": hexs(D.serial(raw)),
                   "decoded": {"cmd_seq": cseq, "cmd": cmd, "code": code, "message": msg}})
    # --- 1.1 additions (appended: the 1.0 entries above keep their bytes and order) ---
    info11 = dict(info, proto_minor=1, calibration=dict(CAL, tare_counts=86400))
    fr.append(frame_entry("info_1_1", T_INFO, 500, D.info(dict(info11, proto_major=1)),
                          dict(info11, proto_major=1, proto_minor=1)))
    fr.append(frame_entry("tare_auto", T_TARE, 501, D.tare({"tare_counts": 86400, "from_index": 123456, "n": 800, "source": TARE_AUTO}),
                          {"tare_counts": 86400, "from_index": 123456, "n": 800, "source": TARE_AUTO}))
    fr.append(frame_entry("tare_command", T_TARE, 502, D.tare({"tare_counts": -1002, "from_index": 0xFFFFFFFE, "n": 40, "source": TARE_COMMAND}),
                          {"tare_counts": -1002, "from_index": 0xFFFFFFFE, "n": 40, "source": TARE_COMMAND}))
    idle11 = {"idle_after_s": 60, "decimation": 8, "load_counts": 43800, "auto_tare_after_s": 10}
    fr.append(frame_entry("cmd_idle_auto_tare", T_CMD, 503, bytes((C["idle"],)) + struct.pack("<HBIH", 60, 8, 43800, 10),
                          {"cmd": C["idle"], "args": idle11}))
    raw = D.frame(T_ACK, 504, D.reply_head(503, C["idle"]) + struct.pack("<HBIH", 60, 8, 43800, 0))
    fr.append({"name": "ack_idle_auto_tare_off", "type": T_ACK, "seq": 504, "payload_hex": hexs(raw[3:-2]),
               "raw_hex": hexs(raw), "serial_hex": hexs(D.serial(raw)),
               "decoded": {"result": dict(idle11, auto_tare_after_s=0), "cmd_seq": 503, "cmd": C["idle"]}})
    # --- 1.2 additions: STATUS task_restarts (26 bytes), EXIT's ACK, INFO on START (streaming bit),
    # the largest legal frame (244 raw, 245 COBS, 246 on the wire) ---
    st12 = dict(st, errors=ERR_OVERFLOW | ERR_MISSED | ERR_TASK, task_restarts=3)
    fr.append(frame_entry("status_1_2", T_STATUS, 600, D.status(st12), st12))
    raw = D.frame(T_ACK, 601, D.reply_head(602, C["exit"]))
    fr.append({"name": "ack_exit", "type": T_ACK, "seq": 601, "payload_hex": hexs(raw[3:-2]), "raw_hex": hexs(raw),
               "serial_hex": hexs(D.serial(raw)), "decoded": {"result": None, "cmd_seq": 602, "cmd": C["exit"]}})
    info12 = dict(info, proto_major=1, proto_minor=2, streaming=True)
    fr.append(frame_entry("info_1_2_on_start", T_INFO, 603, D.info(info12), info12))
    msg = "x" * (D.MAX_RAW - 6)  # type, seq, level, CRC: 6 bytes around the text
    fr.append(frame_entry("text_max_frame", T_TEXT, 604, bytes((0,)) + msg.encode(), {"level": 0, "message": msg}))
    assert len(bytes.fromhex(fr[-1]["raw_hex"])) == D.MAX_RAW and len(bytes.fromhex(fr[-1]["serial_hex"])) == D.MAX_WIRE
    body = bytes((T_TEXT, 0x05, 0x06, 0)) + b"y" * (D.MAX_RAW - 5)
    over = body + struct.pack("<H", D.crc(body))  # 245 bytes, valid CRC: longer than the maximum
    out["too_long"] = [{"name": "text_245_raw", "raw_hex": hexs(over), "serial_hex": hexs(D.serial(over))}]
    return out


def main() -> None:
    out = build()
    path = HERE / "protocol_vectors.json"
    text = json.dumps(out, indent=1) + "\n"
    if "--check" in sys.argv:
        if path.read_text() != text:
            sys.exit("protocol_vectors.json differs from what docs/protocol.md gives (doc_encoder)")
        print("protocol_vectors.json matches the document")
        return
    path.write_text(text)
    print(f"wrote {len(out['frames'])} frame vectors")


if __name__ == "__main__":
    main()
