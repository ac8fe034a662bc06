# Runs INSIDE real MicroPython (WebAssembly port), via run_micropython.mjs.
# Checks the firmware's pure modules against the golden vectors, plus command
# handling and sampler logic over the MicroPython-side fake pins of mp_fakes.py.
import sys
import json
import struct

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"


# the test doubles (machine with fake HX711 pins, WDT, Timer; bluetooth/aioble), shared with the other
# MicroPython-side scripts; this script's App has no encoder (nothing answers on I2C)
from mp_fakes import B  # noqa: E402
B.i2c_devices = []

from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import compat  # noqa: E402

assert compat.MICROPYTHON

V = json.load(open("/vectors.json"))


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


# CRC
for e in V["crc16_ccitt_false"]:
    data = e["ascii"].encode() if "ascii" in e else unhex(e["hex"])
    assert F.crc16(data) == e["crc"], e
assert F.crc16(b"123456789") == 0x29B1
# COBS
for e in V["cobs"]:
    d = unhex(e["decoded"])
    assert F.cobs_encode(d) == unhex(e["encoded"]), e["decoded"][:10]
    assert F.cobs_decode(unhex(e["encoded"])) == d
# frames: encode from the decoded fields, decode the bytes
n_frames = 0
for v in V["frames"]:
    raw = unhex(v["raw_hex"])
    ftype, seq, payload = F.decode_frame(raw)
    assert (ftype, seq) == (v["type"], v["seq"]) and payload == unhex(v["payload_hex"]), v["name"]
    assert F.cobs_encode(raw) + b"\x00" == unhex(v["serial_hex"])
    d = v["decoded"]
    if ftype == F.T_INFO:
        info = dict(d)
        assert F.encode_frame(ftype, seq, F.encode_info_payload(info)) == raw, v["name"]
        got = F.decode_info_payload(payload)
        assert got["boot_id"] == d["boot_id"] and got["board"] == d["board"]
        assert got["calibration"]["tare_counts"] == d["calibration"]["tare_counts"]
    elif ftype == F.T_SAMPLES:
        s = [(x[0], x[1], x[2], x[3]) for x in d["samples"]]
        # wide times: the vector's 32-bit times may wrap inside the frame; unwrap for the encoder
        wide = []
        base = s[0][0]
        acc = base
        prev = base
        for x in s:
            acc += (x[0] - prev) & 0xFFFFFFFF
            prev = x[0]
            wide.append((acc, x[1], x[2], x[3] if d["has_angle"] else 0))
        assert F.encode_samples(seq, d["first_index"], wide, d["has_angle"]) == raw, v["name"]
        first, has_angle, got = F.decode_samples(payload)
        assert first == d["first_index"] and [list(g[:3]) for g in got] == [x[:3] for x in d["samples"]]
    elif ftype == F.T_STATUS:
        old = len(payload) == F.STATUS_LEN_10  # a 1.0/1.1 STATUS (no task_restarts)
        assert F.encode_frame(ftype, seq, F.encode_status_payload(dict(d, proto_minor=1 if old else 2))) == raw
    elif ftype == F.T_CMD:
        args = d["args"]
        if d["cmd"] == F.C_SET_CAL:
            a = F.encode_cal(args["calibration"])
        elif d["cmd"] == F.C_TARE:
            a = struct.pack("<H", args["n_samples"])
        elif d["cmd"] == F.C_IDLE:
            a = struct.pack("<HBI", args["idle_after_s"], args["decimation"], args["load_counts"])
            if "auto_tare_after_s" in args:  # 1.1
                a += struct.pack("<H", args["auto_tare_after_s"])
        elif d["cmd"] == F.C_CUE:
            a = bytes((args["pattern"], args["repeat"]))
        elif args:
            a = bytes((1 if list(args.values())[0] is True else list(args.values())[0],))
        else:
            a = b""
        assert F.encode_cmd(seq, d["cmd"], a) == raw, v["name"]
    elif ftype == F.T_TARE:
        assert F.encode_frame(ftype, seq, F.encode_tare_payload(d["tare_counts"], d["from_index"], d["n"],
                                                                d["source"])) == raw
        assert F.decode_tare_payload(payload) == d
    elif ftype == F.T_ERROR:
        assert F.encode_error(seq, d["cmd_seq"], d["cmd"], d["code"], d["message"]) == raw
    elif ftype == F.T_TEXT:
        assert F.encode_frame(ftype, seq, bytes((d["level"],)) + d["message"].encode()) == raw
    n_frames += 1
# the frame maximum (docs/protocol.md section 1): a 245-byte raw frame is refused on both paths
for v in V["too_long"]:
    try:
        F.decode_frame(unhex(v["raw_hex"]))
        raise AssertionError("a frame over the maximum was accepted")
    except ValueError:
        pass
    de = F.Deframer()
    assert de.feed(unhex(v["serial_hex"])) == [] and de.errors == 1
print("vectors ok", n_frames)

# --- command handling and sampler over the fake pins ---
from holdsense_fw import app as fw_app  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402

st = Storage("/flash")
hw = fw_app.build_hardware("esp32s3", st.load())
app = fw_app.App(hw, st, "esp32s3", "X", boot_id=77)
link = app.add_link("usb")
assert link.take_frames()[0][0] == F.T_INFO


def cmd(seq, c, args=b""):
    app.commands.feed_serial(F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00", link)
    out = [F.decode_frame(r) for r in link.take_frames()]
    return out


r = cmd(1, F.C_INFO)
assert r[0][0] == F.T_ACK and F.decode_info_payload(r[0][2][3:])["boot_id"] == 77
r = cmd(2, F.C_SET_RATE, bytes((10,)))
assert r[0][0] == F.T_ERROR and r[0][2][3] == F.E_UNSUPPORTED
r = cmd(3, F.C_START)
assert r[0][0] == F.T_ACK and link.streaming


def edge(t_us, value):
    B.value = value & 0xFFFFFF
    B.ready = True
    B.bit = 0
    app.sampler.process(t_us & (compat.TICKS_PERIOD - 1), app.hx.read_raw())


# tare over the real deframer, then samples through the wrap of ticks_us
app.commands.feed_serial(F.cobs_encode(F.encode_cmd(4, F.C_TARE, struct.pack("<H", 4))) + b"\x00", link)
t0 = compat.ticks_us()
for i in range(4):
    edge(t0 + i * 12500, 1000 + i)
frames = [F.decode_frame(r) for r in link.take_frames()]
acks = [f for f in frames if f[0] == F.T_ACK]
assert acks and struct.unpack_from("<iH", acks[-1][2], 3) == (1002, 4), acks
assert B.bad_pulses == 0, "pulses with IRQs on"
# negative counts and saturation
edge(t0 + 5 * 12500, -5000)
edge(t0 + 6 * 12500, 0x7FFFFF)
frames = [F.decode_frame(r) for r in link.take_frames()]
smp = [F.decode_samples(f[2]) for f in frames if f[0] == F.T_SAMPLES]
vals = [s[1] for _, _, ss in smp for s in ss]
flags = [s[2] for _, _, ss in smp for s in ss]
assert vals[-2:] == [-5000, 0x7FFFFF] and flags[-1] & F.F_SAT, (vals, flags)
# wrap-safe wide clock across a 2^30 ticks wrap
wc = compat.WideClock()
base = wc.wide()
assert wc.wide(compat.ticks_add(compat.ticks_us(), 1000)) >= base
from holdsense_fw.sampler import AngleUnwrapper, SampleQueue  # noqa: E402
u = AngleUnwrapper()
assert [u.update(x) for x in (4000, 10, 4090)] == [0, 106, 90]
q = SampleQueue(3)
q.enabled = True
for i in range(5):
    q.push(i, 0, 0, 0)
assert q.dropped == 2 and [i for i, _ in q.pop(9)] == [0, 1, 2]
q.push(9, 0, 0, 0)
assert q.pop(1)[0][1][2] & F.F_DROPPED
# automatic tare: 11 s unloaded and still (3 N off the zero) -> one TARE frame, new zero stored
app.settings["cal"] = {"tare_counts": 0, "counts_to_n": [0.0, 1.0 / 2190], "residual_n": None, "fitted": True}
link.take_frames()
t1 = t0 + 10 * 12500
for i in range(880):
    edge(t1 + i * 12500, 6570 + (i * 7919) % 200 - 100)  # 3 N at 2190 counts/N, +-100 counts "noise"
frames = [F.decode_frame(r) for r in link.take_frames(1000)]
tares = [F.decode_tare_payload(f[2]) for f in frames if f[0] == F.T_TARE]
assert len(tares) == 1 and tares[0]["source"] == F.TARE_AUTO and tares[0]["n"] == 800, tares
assert abs(tares[0]["tare_counts"] - 6570) <= 3 and app.settings["cal"]["tare_counts"] == tares[0]["tare_counts"]
assert app.save_pending  # no flash write while streaming ...
cmd(5, F.C_STOP)           # ... it happens at STOP
assert json.load(open("/flash/holdsense.json"))["cal"]["tare_counts"] == tares[0]["tare_counts"]
print("MP-OK")
