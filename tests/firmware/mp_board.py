# Runs INSIDE real MicroPython (WebAssembly port 1.27), via run_micropython.mjs: the board glue.
# 1. firmware/main.py itself runs the app (main -> main_async -> App.run with SerialPort) over
#    MicroPython-level streams (io.IOBase + ioctl, polled by the real select.poll), with a fake
#    HX711 converting every 12 ms, an AS5600 on I2C, machine.WDT / Timer stand-ins: commands as
#    single small writes are answered, samples stream, EXIT is acked, Ctrl-C is restored.
#    With the fake aioble installed (mp_fakes.py) main() also starts the BLE glue beside USB.
# Figures: allocation and CPU per sample in mp_measure.py, live heap of the running app in mp_heap.py.
import sys
import struct
import time

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"
import asyncio  # noqa: E402


from mp_fakes import B, Stream, convert  # noqa: E402  (installs machine, bluetooth, aioble)


from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw import compat  # noqa: E402


def frames_of(data):
    de = F.Deframer()
    return de.feed(bytes(data))


def cmd(seq, c, args=b""):
    return F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00"


# ---------------------------------------------------------------- 1. main.py on the glue
S = Stream()
_main = A.main
A.main = lambda: _main("esp32s3", stdin=S, stdout=S, root="/flash", boot_window_ms=30)
S.inp.extend(cmd(0, F.C_INFO))  # a host that asks at once: answered once the app runs
scope = {}
exec(open("/fw/main.py").read(), scope)   # the board's main.py: "from holdsense_fw.app import main; main()"


async def host():
    await asyncio.sleep_ms(100)
    S.inp.extend(cmd(1, F.C_START))
    for _ in range(60):
        await asyncio.sleep_ms(12)
        convert()
    S.inp.extend(cmd(2, F.C_STATUS, b"\x00"))
    for _ in range(10):
        await asyncio.sleep_ms(12)
        convert()
    S.inp.extend(cmd(3, F.C_STOP))
    await asyncio.sleep_ms(60)
    S.inp.extend(cmd(4, F.C_EXIT))


async def run_main():
    h = asyncio.create_task(host())
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 8000:
        await asyncio.sleep_ms(20)
        fr = frames_of(S.out)
        if any(f[0] == F.T_ACK and struct.unpack_from("<H", f[2])[0] == 4 for f in fr):
            break
    await h
    await asyncio.sleep_ms(100)

await run_main()  # noqa: F704 (top-level await: runPythonAsync)
fr = frames_of(S.out)
acks = [(struct.unpack_from("<H", f[2])[0], f[2][2]) for f in fr if f[0] == F.T_ACK]
assert acks == [(0, F.C_INFO), (1, F.C_START), (2, F.C_STATUS), (3, F.C_STOP), (4, F.C_EXIT)], acks
smp = [F.decode_samples(f[2]) for f in fr if f[0] == F.T_SAMPLES]
n_smp = sum(len(s[2]) for s in smp)
assert n_smp >= 50, n_smp
infos = [F.decode_info_payload(f[2]) for f in fr if f[0] == F.T_INFO]
assert infos[-1]["streaming"] and infos[-1]["proto_minor"] == 2
st = [f for f in fr if f[0] == F.T_ACK and f[2][2] == F.C_STATUS][0]
assert len(st[2]) == 3 + F.STATUS_LEN
assert B.feeds >= 50, B.feeds          # the sampler fed the watchdog
assert B.timers and B.timers[-1].cfg   # ... and a Timer feeds it in the REPL
assert B.bad_pulses == 0
print("main.py ok: acks", len(acks), "samples", n_smp, "wdt feeds", B.feeds)
print("MP-OK")
