# Runs INSIDE real MicroPython (WebAssembly port 1.27), via run_micropython.mjs: the board glue.
# 1. firmware/main.py itself runs the app (main -> main_async -> App.run with SerialPort) over
#    MicroPython-level streams (io.IOBase + ioctl, polled by the real select.poll), with a fake
#    HX711 converting every 12 ms, an AS5600 on I2C, machine.WDT / Timer stand-ins: commands as
#    single small writes are answered, samples stream, EXIT is acked, Ctrl-C is restored.
# 2. measures heap, bytes allocated per sample (gc.mem_alloc with the GC off) and CPU per sample
#    on this interpreter, with the encoder, the USB link and a BLE link, prints "FIGURES {...}".
import sys
import gc
import io
import json
import struct
import time

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"
import asyncio  # noqa: E402


class _Board:
    value = 84210
    bit = 0
    ready = False
    irq_off = 0
    sck = 0
    bad_pulses = 0
    handler = None
    dout = None
    angle = 100
    feeds = 0
    timers = []
    conversions = 0


B = _Board()


class Pin:
    IN = 0
    OUT = 1
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        if n == 4:
            B.dout = self
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.n == 4:
                if not B.ready:
                    return 1
                if B.bit == 0:
                    return 0
                if B.bit <= 24:
                    return (B.value >> (24 - B.bit)) & 1
                return 1
            return 0
        if self.n == 5:
            if v and not B.sck:
                if not B.irq_off:
                    B.bad_pulses += 1
                if B.ready:
                    B.bit += 1
            elif not v and B.sck and B.bit >= 25:
                B.ready = False
                B.bit = 0
            B.sck = v

    def irq(self, handler=None, trigger=0, hard=False):
        B.handler = handler


class I2C:
    def __init__(self, *a, **k):
        self.regs = bytearray(256)
        self.regs[0x0B] = 0x20  # magnet detected

    def scan(self):
        return [0x36]

    def readfrom_mem(self, addr, reg, n):
        if reg == 0x0C:
            B.angle = (B.angle + 7) & 0xFFF
            self.regs[0x0C] = B.angle >> 8
            self.regs[0x0D] = B.angle & 0xFF
        return bytes(self.regs[reg:reg + n])

    def writeto_mem(self, addr, reg, data):
        self.regs[reg] = data[0]


class PWM:
    def __init__(self, pin):
        pass

    def duty_u16(self, d=None):
        pass

    def freq(self, f=None):
        pass


class ADC:
    def __init__(self, pin):
        pass

    def read_uv(self):
        return 1950000


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        B.feeds += 1


class Timer:
    PERIODIC = 1

    def __init__(self, id=0):
        B.timers.append(self)
        self.cfg = None

    def init(self, **kw):
        self.cfg = kw


def disable_irq():
    B.irq_off += 1
    return 0


def enable_irq(s):
    B.irq_off = 0


def unique_id():
    return b"\x01\x02\x03\x04\x05\x06"


class _M:
    pass


machine = _M()
for _k, _v in (("Pin", Pin), ("I2C", I2C), ("PWM", PWM), ("ADC", ADC), ("WDT", WDT), ("Timer", Timer),
               ("disable_irq", disable_irq), ("enable_irq", enable_irq), ("unique_id", unique_id)):
    setattr(machine, _k, _v)
sys.modules["machine"] = machine


def convert():
    """The chip finishes a conversion: DOUT low, the IRQ handler runs (soft: from here)."""
    B.value = (B.value + 13) & 0xFFFFFF
    B.ready = True
    B.bit = 0
    B.conversions += 1
    if B.handler is not None:
        B.handler(B.dout)


MP_STREAM_POLL = 3


class Stream(io.IOBase):
    """A USB port in memory, with MicroPython's stream protocol: select.poll asks ioctl."""

    def __init__(self):
        self.inp = bytearray()
        self.out = bytearray()

    def ioctl(self, req, arg):
        if req == MP_STREAM_POLL:
            ev = 0
            if arg & 1 and self.inp:
                ev |= 1
            if arg & 4:
                ev |= 4
            return ev
        return 0

    def read(self, n=-1):
        assert len(self.inp) >= n, "read(%d) with %d bytes there would block the board" % (n, len(self.inp))
        b = bytes(self.inp[:n])
        self.inp = self.inp[n:]
        return b

    def write(self, b):
        self.out.extend(b)
        return len(b)


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

# ---------------------------------------------------------------- 2. figures
from holdsense_fw.ble import BleLink  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402

gc.collect()
heap_base = gc.mem_alloc()  # interpreter + every firmware module imported
st = Storage("/flash")
app = A.App(A.build_hardware("esp32s3", st.load()), st, "esp32s3", "X", boot_id=9)
sink = Stream()
port = A.SerialPort(Stream(), sink, measure_writes=False)
usb = app.add_link("usb")
bl = BleLink(app)
bl.on_connect(0)
bl.on_mtu(247)
bl.ready = True
usb.queue.enabled = True
bl.link.queue.enabled = True
flag = compat.ThreadSafeFlag()
app.hx.start_irq(flag)
notified = [0]


def notify(f):
    notified[0] += 1


def one_sample(i, t_us):
    convert()
    app.sampler.process(t_us, app.hx.read_raw())
    if i % 2 == 0:  # the 20 ms serial flush and the BLE poll, about every other sample at 80 SPS
        A.App.tx_pass(usb, port)
        sink.out = bytearray()
        bl.tx_step(i * 12, notify)


t = compat.ticks_us()
for i in range(300):  # warm up: queues, dicts and caches at their steady size
    one_sample(i, compat.ticks_add(t, i * 12500))
N = 400
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
c0 = time.ticks_us()
for i in range(300, 300 + N):
    one_sample(i, compat.ticks_add(t, i * 12500))
c1 = time.ticks_us()
a1 = gc.mem_alloc()
gc.enable()
gc.collect()
steady = gc.mem_alloc()
# worst case live heap: both 256-sample queues full (the host stopped reading)
for i in range(300 + N, 300 + N + 300):
    convert()
    app.sampler.process(compat.ticks_add(t, i * 12500), app.hx.read_raw())
gc.collect()
full = gc.mem_alloc()
figures = {"bytes_per_sample": (a1 - a0) / N, "cpu_us_per_sample": time.ticks_diff(c1, c0) / N,
           "heap_modules_kb": heap_base / 1024, "heap_app_steady_kb": steady / 1024,
           "heap_queues_full_kb": full / 1024, "queued": [usb.queue.count, bl.link.queue.count],
           "notified": notified[0]}
print("FIGURES", json.dumps(figures))
print("MP-OK")
