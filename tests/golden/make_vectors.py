"""Regenerate tests/golden/protocol_vectors.json from the firmware's encoder.

Run by hand only when the protocol changes on purpose (then bump the version in
docs/protocol.md); tests never regenerate it. Vectors of an older minor version keep
their bytes (they pin `proto_minor`) and new ones are appended, so a device or host
of any 1.x must still read every entry. The CRC and COBS entries are the
published reference values (CRC catalogue check value, COBS paper / Wikipedia
examples), written out here by hand, not computed.

    python tests/golden/make_vectors.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "firmware"))

from holdsense_fw import frame as F  # noqa: E402

CAL = {"tare_counts": 84210, "counts_to_n": [0.0, 0.01220703125, 2.384185791015625e-07],
       "residual_n": 0.375, "fitted": True}
NOMINAL = {"tare_counts": -1200, "counts_to_n": [0.0, 0.0009765625], "residual_n": None, "fitted": False}


def hexs(b: bytes) -> str:
    return b.hex()


def frame_entry(name, ftype, seq, payload, decoded):
    raw = F.encode_frame(ftype, seq, payload)
    return {"name": name, "type": ftype, "seq": seq, "payload_hex": hexs(payload), "raw_hex": hexs(raw),
            "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"), "decoded": decoded}


def main() -> None:
    out = {
        "format": "holdsense-protocol-vectors/1",
        "protocol": "%d.%d" % (F.PROTO_MAJOR, F.PROTO_MINOR),
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
    info = {"boot_id": 0x1234ABCD, "sensors": F.S_HX711 | F.S_AS5600 | F.S_BUZZER | F.S_LED | F.S_BATTERY,
            "rate_hz": 80, "streaming": True, "ble_cal_writes": False, "idle": False, "fw_version": "0.1.0",
            "board": "esp32s3", "device_id": "7CDFA1001122", "calibration": CAL}

    def info10(d):  # the 1.0 vectors stay byte-identical
        return F.encode_info_payload(dict(d, proto_minor=0))

    dec = dict(info, proto_major=1, proto_minor=0)
    fr.append(frame_entry("info", F.T_INFO, 0, info10(info), dec))
    info2 = dict(info, boot_id=7, sensors=F.S_HX711 | F.S_RATE, rate_hz=10, streaming=False,
                 ble_cal_writes=True, idle=True, board="picow", device_id="", calibration=NOMINAL)
    fr.append(frame_entry("info_force_only", F.T_INFO, 65535, info10(info2),
                          dict(info2, proto_major=1, proto_minor=0)))
    # samples with angle, crossing the 2^32 µs wrap inside the frame
    t0 = (1 << 32) - 20000
    s = [(t0, 84210, 0, 0), (t0 + 12410, 85218, 0, 17), (t0 + 24985, -8388608, F.F_SAT, 4113),
         (t0 + 37001, 8388607, F.F_SAT | F.F_DROPPED, -4096), (t0 + 49500, -1, F.F_SPIKE | F.F_ANGLE_BAD, -4096)]
    raw = F.encode_samples(513, 1000, s, True)
    fr.append({"name": "samples_angle_wrap", "type": F.T_SAMPLES, "seq": 513,
               "payload_hex": hexs(raw[3:-2]), "raw_hex": hexs(raw), "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"),
               "decoded": {"first_index": 1000, "has_angle": True,
                           "samples": [[x[0] & 0xFFFFFFFF, x[1], x[2], x[3]] for x in s]}})
    s2 = [(5_000_000 + 12500 * i + (i % 3) * 700, 100000 - 37 * i, F.F_IDLE if i > 6 else 0, None) for i in range(10)]
    s2.append((s2[-1][0] + F.MAX_DELTA_US, 42, F.F_MAGNET, None))
    raw = F.encode_samples(2, 0xFFFFFFF0, s2, False)
    fr.append({"name": "samples_force_only", "type": F.T_SAMPLES, "seq": 2,
               "payload_hex": hexs(raw[3:-2]), "raw_hex": hexs(raw), "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"),
               "decoded": {"first_index": 0xFFFFFFF0, "has_angle": False,
                           "samples": [[x[0] & 0xFFFFFFFF, x[1], x[2], None] for x in s2]}})
    st = {"battery_mv": 3912, "battery_pct": 78, "state": F.STATE_STREAMING, "samples_total": 123456,
          "dropped_total": 3, "errors": F.ERR_OVERFLOW | F.ERR_SPURIOUS, "hx711_timeouts": 1,
          "rx_bad_frames": 2, "uptime_s": 3600, "rate_chz": 8012}
    fr.append(frame_entry("status", F.T_STATUS, 40, F.encode_status_payload(st), st))
    st2 = {"battery_mv": 0, "battery_pct": 255, "state": F.STATE_IDLE, "samples_total": 0, "dropped_total": 0,
           "errors": 0, "hx711_timeouts": 0, "rx_bad_frames": 0, "uptime_s": 0, "rate_chz": 0}
    fr.append(frame_entry("status_no_battery", F.T_STATUS, 41, F.encode_status_payload(st2), st2))
    fr.append(frame_entry("text", F.T_TEXT, 3, bytes((1,)) + "HX711 not found".encode(),
                          {"level": 1, "message": "HX711 not found"}))
    # commands
    import struct
    cmds = [
        ("cmd_info", F.C_INFO, b"", {}),
        ("cmd_start", F.C_START, b"", {}),
        ("cmd_stop", F.C_STOP, b"", {}),
        ("cmd_tare", F.C_TARE, struct.pack("<H", 40), {"n_samples": 40}),
        ("cmd_get_cal", F.C_GET_CAL, b"", {}),
        ("cmd_set_cal", F.C_SET_CAL, F.encode_cal(CAL), {"calibration": CAL}),
        ("cmd_clear_cal", F.C_CLEAR_CAL, b"", {}),
        ("cmd_set_rate", F.C_SET_RATE, bytes((10,)), {"rate_hz": 10}),
        ("cmd_battery", F.C_BATTERY, b"", {}),
        ("cmd_status", F.C_STATUS, bytes((1,)), {"clear": True}),
        ("cmd_cue", F.C_CUE, bytes((4, 2)), {"pattern": 4, "repeat": 2}),
        ("cmd_idle", F.C_IDLE, struct.pack("<HBI", 60, 8, 20000),
         {"idle_after_s": 60, "decimation": 8, "load_counts": 20000}),
        ("cmd_ble_cal", F.C_BLE_CAL, bytes((1,)), {"enable": True}),
        ("cmd_exit", F.C_EXIT, b"", {}),
    ]
    for i, (name, cmd, args, kw) in enumerate(cmds):
        e = frame_entry(name, F.T_CMD, 100 + i, bytes((cmd,)) + args, {"cmd": cmd, "args": kw})
        fr.append(e)
    acks = [
        ("ack_info", 100, F.C_INFO, info10(info), {"result": dec}),
        ("ack_start", 101, F.C_START, b"", {"result": None}),
        ("ack_tare", 103, F.C_TARE, struct.pack("<iH", 84210, 40), {"result": {"tare_counts": 84210, "n_samples": 40}}),
        ("ack_get_cal", 104, F.C_GET_CAL, F.encode_cal(CAL), {"result": CAL}),
        ("ack_set_rate", 107, F.C_SET_RATE, bytes((10,)), {"result": 10}),
        ("ack_battery", 108, F.C_BATTERY, struct.pack("<HB", 3912, 78), {"result": {"battery_mv": 3912, "battery_pct": 78}}),
        ("ack_status", 109, F.C_STATUS, F.encode_status_payload(st), {"result": st}),
        ("ack_idle", 111, F.C_IDLE, struct.pack("<HBI", 60, 8, 20000),
         {"result": {"idle_after_s": 60, "decimation": 8, "load_counts": 20000}}),
        ("ack_ble_cal", 112, F.C_BLE_CAL, bytes((0,)), {"result": False}),
    ]
    for i, (name, cseq, cmd, res, d) in enumerate(acks):
        raw = F.encode_ack(200 + i, cseq, cmd, res)
        fr.append({"name": name, "type": F.T_ACK, "seq": 200 + i, "payload_hex": hexs(raw[3:-2]),
                   "raw_hex": hexs(raw), "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"),
                   "decoded": dict(d, cmd_seq=cseq, cmd=cmd)})
    errs = [
        ("error_unsupported_rate", 107, F.C_SET_RATE, F.E_UNSUPPORTED, "RATE pin not wired: fixed at 80 SPS"),
        ("error_refused_cal", 105, F.C_SET_CAL, F.E_REFUSED, "calibration writes over BLE are disabled"),
        ("error_unknown", 999, 0x7F, F.E_UNKNOWN, "unknown command 0x7f"),
    ]
    for i, (name, cseq, cmd, code, msg) in enumerate(errs):
        raw = F.encode_error(300 + i, cseq, cmd, code, msg)
        fr.append({"name": name, "type": F.T_ERROR, "seq": 300 + i, "payload_hex": hexs(raw[3:-2]),
                   "raw_hex": hexs(raw), "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"),
                   "decoded": {"cmd_seq": cseq, "cmd": cmd, "code": code, "message": msg}})
    # --- 1.1 additions (appended: the 1.0 entries above keep their bytes and order) ---
    info11 = dict(info, proto_minor=1, calibration=dict(CAL, tare_counts=86400))
    fr.append(frame_entry("info_1_1", F.T_INFO, 500, F.encode_info_payload(info11),
                          dict(info11, proto_major=1, proto_minor=1)))
    fr.append(frame_entry("tare_auto", F.T_TARE, 501, F.encode_tare_payload(86400, 123456, 800, F.TARE_AUTO),
                          {"tare_counts": 86400, "from_index": 123456, "n": 800, "source": F.TARE_AUTO}))
    fr.append(frame_entry("tare_command", F.T_TARE, 502, F.encode_tare_payload(-1002, 0xFFFFFFFE, 40, F.TARE_COMMAND),
                          {"tare_counts": -1002, "from_index": 0xFFFFFFFE, "n": 40, "source": F.TARE_COMMAND}))
    idle11 = {"idle_after_s": 60, "decimation": 8, "load_counts": 43800, "auto_tare_after_s": 10}
    fr.append(frame_entry("cmd_idle_auto_tare", F.T_CMD, 503, bytes((F.C_IDLE,)) + struct.pack("<HBIH", 60, 8, 43800, 10),
                          {"cmd": F.C_IDLE, "args": idle11}))
    raw = F.encode_ack(504, 503, F.C_IDLE, struct.pack("<HBIH", 60, 8, 43800, 0))
    fr.append({"name": "ack_idle_auto_tare_off", "type": F.T_ACK, "seq": 504, "payload_hex": hexs(raw[3:-2]),
               "raw_hex": hexs(raw), "serial_hex": hexs(F.cobs_encode(raw) + b"\x00"),
               "decoded": {"result": dict(idle11, auto_tare_after_s=0), "cmd_seq": 503, "cmd": F.C_IDLE}})
    (HERE / "protocol_vectors.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(fr)} frame vectors")


if __name__ == "__main__":
    main()
