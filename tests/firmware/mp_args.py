# Runs INSIDE real MicroPython (WebAssembly port), via run_micropython.mjs: command arguments
# (docs/protocol.md §5). Every command that unpacks arguments checks their length first and answers
# exactly one ERROR 2 with a deliberate text (not an interpreter's exception text such as "index out
# of range" or "buffer too small", and not struct.error, which CPython raises where MicroPython raises
# ValueError); SET_CAL refuses non-finite coefficients. Same cases as
# tests/firmware/test_commands_config.py::bad_argument_cases (CPython).
import sys
import json
import struct

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"

from mp_fakes import B  # noqa: E402  (installs machine, bluetooth, aioble)
B.i2c_devices = []

from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402

st = Storage("/flash")
app = A.App(A.build_hardware("esp32s3", st.load()), st, "esp32s3", "X", boot_id=3)
link = app.add_link("usb")
link.take_frames()


def send(seq, c, args=b""):
    app.commands.feed_serial(F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00", link)
    return [F.decode_frame(r) for r in link.take_frames()]


def cal_block(tare=0, flags=0, coeffs=(0.0, 0.0005), residual=float("nan")):
    out = struct.pack("<iBB", tare, flags, len(coeffs))
    for c in coeffs:
        out += struct.pack("<f", c)
    return out + struct.pack("<f", residual)


inf = float("inf")
nan = float("nan")
CASES = [
    (F.C_TARE, b"\x01", "TARE takes 0 or 2"), (F.C_TARE, b"\x08\x00\x00", "TARE takes 0 or 2"),
    (F.C_TARE, struct.pack("<H", 2001), "at most 2000"),
    (F.C_SET_CAL, b"", "calibration block"), (F.C_SET_CAL, cal_block()[:6], "takes 18 bytes, not 6"),
    (F.C_SET_CAL, cal_block()[:16], "takes 18 bytes"), (F.C_SET_CAL, cal_block() + b"\x00", "takes 18"),
    (F.C_SET_CAL, cal_block(coeffs=()), "1 to 4"), (F.C_SET_CAL, cal_block(coeffs=(0.0,) * 5), "1 to 4"),
    (F.C_SET_CAL, cal_block(coeffs=(inf, 1.0)), "finite"), (F.C_SET_CAL, cal_block(coeffs=(0.0, nan)), "finite"),
    (F.C_SET_CAL, cal_block(coeffs=(0.0, -inf)), "finite"), (F.C_SET_CAL, cal_block(residual=inf), "residual"),
    (F.C_SET_CAL, cal_block(coeffs=(0.0, 0.0)), "depend on the counts"), (F.C_SET_CAL, cal_block(coeffs=(3.0,)), "depend on the counts"),
    (F.C_SET_RATE, b"", "SET_RATE takes 1 argument byte,"), (F.C_SET_RATE, b"\x50\x00", "SET_RATE takes 1"),
    (F.C_SET_RATE, b"\x21", "10 or 80"), (F.C_STATUS, b"\x01\x00", "STATUS takes 0 or 1"),
    (F.C_CUE, b"", "CUE takes 1 or 2"), (F.C_CUE, b"\x01\x01\x01", "CUE takes 1 or 2"),
    (F.C_CUE, b"\x09", "unknown pattern 9"), (F.C_IDLE, bytes(8), "IDLE takes 7 or 9"),
    (F.C_IDLE, struct.pack("<HBI", 60, 0, 43800), "decimation"), (F.C_BLE_CAL, b"", "BLE_CAL takes 1"),
]

before = json.dumps(app.settings)
for i, (c, args, word) in enumerate(CASES):
    seq = 100 + i
    out = send(seq, c, args)
    replies = [f for f in out if f[0] in (F.T_ACK, F.T_ERROR)]
    assert len(replies) == 1, (c, args, out)
    t, s, p = replies[0]
    assert t == F.T_ERROR and struct.unpack_from("<HB", p) == (seq, c), (c, args, replies)
    msg = bytes(p[4:]).decode()
    assert p[3] == F.E_BAD_ARGS and word in msg, (c, args, p[3], msg)
assert json.dumps(app.settings) == before and app.cue.pending is None
# deliberate leniency: a no-argument command ignores extra bytes; CUE's repeat and STATUS's clear are optional
assert send(1, F.C_INFO, b"\x01\x02")[0][0] == F.T_ACK
assert send(2, F.C_CUE, b"\x01")[0][0] == F.T_ACK and app.cue.pending == (1, 1)
assert send(3, F.C_STATUS)[0][0] == F.T_ACK
r = send(4, F.C_SET_CAL, cal_block(tare=7, coeffs=(0.0, 0.001)))
assert r[0][0] == F.T_ACK and app.settings["cal"]["residual_n"] is None and app.settings["cal"]["tare_counts"] == 7
print("bad arguments ok", len(CASES))

# TARE on a saturated chip (overload, a loose cell wire): ERROR 6 after 10 unusable readings instead of
# no answer at all, and the next TARE is not refused as busy (same as test_commands_config.py's test)
from mp_fakes import convert  # noqa: E402


def conversions(n, value):
    out = []
    for _ in range(n):
        B.value = (value - 13) & 0xFFFFFF  # convert() adds 13
        convert()
        app.hx.stamp = time.ticks_us()
        app.sampler.step()
        out += [F.decode_frame(r) for r in link.take_frames()]
    return [f for f in out if f[0] in (F.T_ACK, F.T_ERROR)]


import time  # noqa: E402
link.take_frames()
assert send(5, F.C_TARE, struct.pack("<H", 4)) == []
assert conversions(9, 0x7FFFFF) == []
(t, s, p), = conversions(1, 0x7FFFFF)
assert t == F.T_ERROR and struct.unpack_from("<HB", p) == (5, F.C_TARE) and p[3] == F.E_SENSOR, p
assert "saturated" in bytes(p[4:]).decode()
assert send(6, F.C_TARE, struct.pack("<H", 4)) == []
(t, s, p), = conversions(4, 5000)
assert t == F.T_ACK and struct.unpack_from("<HBiH", p) == (6, F.C_TARE, 5000, 4), p
print("tare on a saturated chip ok")

# the battery on a port without ADC.read_uv (rp2: Pico W) reads through read_u16 and the 3.3 V reference
from holdsense_fw.battery import Battery  # noqa: E402


class Rp2Adc:
    def read_u16(self):
        return 38727  # 1.95 V at the pin: a 3.9 V battery


mv, pct = Battery(Rp2Adc()).read()
assert abs(mv - 3900) <= 1 and pct in (69, 70), (mv, pct)
print("battery via read_u16 ok", mv)


class NoCellAdc:  # USB power, no battery fitted: the divider's 100k to GND holds the pin near 0 V
    def read_u16(self):
        return 300


assert Battery(NoCellAdc()).read() == (0, 255)  # not measured, never "low" (config.BATTERY_MIN_MV)
print("no battery on USB ok")

# EXIT while streaming (App.run over a USB stream): nothing may follow its ACK, mpremote gets the REPL
# next. Before, the pass that sent the ACK went on with the queued samples (and the next passes too).
import asyncio  # noqa: E402
import time  # noqa: E402
from mp_fakes import Stream, convert  # noqa: E402

S = Stream()
port = A.SerialPort(S, S, measure_writes=False)
st2 = Storage("/flash")
app = A.App(A.build_hardware("esp32s3", st2.load()), st2, "esp32s3", "X", boot_id=4)
stop = [False]


def cmd(seq, c, args=b""):
    return F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00"


async def chip():
    while not stop[0]:
        await asyncio.sleep_ms(12)
        convert()


async def exit_while_streaming():
    ch = asyncio.create_task(chip())
    run = asyncio.create_task(app.run(port))
    await asyncio.sleep_ms(150)
    S.inp.extend(cmd(1, F.C_START))
    await asyncio.sleep_ms(300)
    S.writable = False  # the host is slow for a moment: samples wait in the queue
    await asyncio.sleep_ms(100)
    S.inp.extend(cmd(2, F.C_EXIT) + cmd(3, F.C_INFO))  # a command right behind EXIT: not answered
    await asyncio.sleep_ms(30)
    S.writable = True
    t0 = time.ticks_ms()
    while not run.done() and time.ticks_diff(time.ticks_ms(), t0) < 3000:
        await asyncio.sleep_ms(20)
    assert run.done()
    stop[0] = True
    await ch


await exit_while_streaming()  # noqa: F704 (top-level await: runPythonAsync)
fr = F.Deframer().feed(bytes(S.out))
kinds = [(f[0], struct.unpack_from("<H", f[2])[0] if f[0] in (F.T_ACK, F.T_ERROR) else None) for f in fr]
assert (F.T_ACK, 1) in kinds and any(k[0] == F.T_SAMPLES for k in kinds), kinds
assert kinds[-1] == (F.T_ACK, 2), kinds[-5:]  # the EXIT ACK is the last frame: no SAMPLES, no INFO reply after
assert not app.links[0].streaming
print("exit: last frame is its ACK after", len(kinds) - 1, "frames")
print("MP-OK")
