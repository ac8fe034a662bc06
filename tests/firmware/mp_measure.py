# Runs INSIDE real MicroPython (WebAssembly port 1.27), via run_micropython.mjs, in a fresh
# interpreter: heap, bytes allocated per sample (gc.mem_alloc with the GC off, so nothing is
# freed in between) and CPU per sample of the firmware's hot path - HX711 read + Sampler.process
# (encoder on, two links), the USB flush (SAMPLES encoding + COBS into the TX buffer) and the BLE
# link's tx_step - every other sample as at 80 SPS. Prints "FIGURES {...}" (firmware/README.md).
# Same fake machine as mp_board.py (copied: each script runs alone in its interpreter).
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


gc.collect()
heap_interp = gc.mem_alloc()
from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw import compat  # noqa: E402
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
setup_end = gc.mem_alloc()
notified = [0]


def notify(f):
    notified[0] += 1


PARTS = [1, 1, 1]  # sampling, USB flush, BLE step: switched for the breakdown


def one_sample(i, t_us):
    convert()
    if PARTS[0]:
        app.sampler.process(t_us, app.hx.read_raw())
    if i % 2 == 0:  # the 20 ms serial flush and the BLE poll, about every other sample at 80 SPS
        if PARTS[1]:
            A.App.tx_pass(usb, port)
            sink.out = bytearray()
        if PARTS[2]:
            bl.tx_step(i * 12, notify)


t = compat.ticks_us()
for i in range(300):  # warm up: queues, dicts and caches at their steady size
    one_sample(i, compat.ticks_add(t, i * 12500))
N = 400
base = 300
parts_b = []
for parts in ([1, 0, 0], [1, 1, 0], [1, 0, 1]):
    PARTS[:] = parts
    A.App.tx_pass(usb, port)
    bl.tx_step(0, notify)
    usb.take_frames(10000)
    bl.link.take_frames(10000)
    gc.collect()
    gc.disable()
    b0 = gc.mem_alloc()
    for i in range(base, base + N):
        one_sample(i, compat.ticks_add(t, i * 12500))
    base += N
    b1 = gc.mem_alloc()
    gc.enable()
    parts_b.append((b1 - b0) / N)
PARTS[:] = [1,1,1]
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
c0 = time.ticks_us()
for i in range(base, base + N):
    one_sample(i, compat.ticks_add(t, i * 12500))
base += N
c1 = time.ticks_us()
a1 = gc.mem_alloc()
gc.enable()
# This port frees nothing while a script runs (gc.collect() returns no memory: checked), so live
# heap cannot be measured here; the heap figures are allocations (upper bounds of what stays live).
f0 = gc.mem_alloc()
usb.take_frames(10000)
bl.link.take_frames(10000)
for i in range(base, base + 256):  # both 256-sample queues fill (the host stopped reading)
    convert()
    app.sampler.process(compat.ticks_add(t, i * 12500), app.hx.read_raw())
f1 = gc.mem_alloc()
figures = {"bytes_per_sample": (a1 - a0) / N, "bytes_sampling": parts_b[0],
           "bytes_usb_flush": parts_b[1] - parts_b[0], "bytes_ble_step": parts_b[2] - parts_b[0],
           "cpu_us_per_sample": time.ticks_diff(c1, c0) / N,
           "heap_interpreter_kb": heap_interp / 1024, "imports_alloc_kb": (heap_base - heap_interp) / 1024,
           "app_setup_alloc_kb": (setup_end - heap_base) / 1024,
           "queues_fill_alloc_kb": (f1 - f0) / 1024, "queued": [usb.queue.count, bl.link.queue.count],
           "notified": notified[0]}
print("FIGURES", json.dumps(figures))
print("MP-OK")
