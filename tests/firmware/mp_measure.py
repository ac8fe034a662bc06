# Runs INSIDE real MicroPython (WebAssembly port 1.27), via run_micropython.mjs, in a fresh
# interpreter: heap, bytes allocated per sample (gc.mem_alloc with the GC off, so nothing is
# freed in between) and CPU per sample of the firmware's hot path - HX711 read + Sampler.process
# (encoder on, two links), the USB flush (SAMPLES encoding + COBS into the TX buffer) and the BLE
# link's tx_step - every other sample as at 80 SPS. Prints "FIGURES {...}" (firmware/README.md).
# Fakes: mp_fakes.py.
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


from mp_fakes import B, Stream, convert  # noqa: E402  (installs machine, bluetooth, aioble)

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
class Sink(Stream):
    """The host end of the USB port: counts what it gets (storing it would allocate in the measured loop)."""

    n_bytes = 0

    def write(self, b):
        self.n_bytes += len(b)
        return len(b)


sink = Sink()
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
        if PARTS[2]:
            bl.tx_step(i * 12, notify)


t = compat.ticks_us()
for i in range(300):  # warm up: queues, dicts and caches at their steady size
    one_sample(i, compat.ticks_add(t, i * 12500))
PARTS[:] = [1, 0, 0]
for i in range(300, 600):  # and the queues full (the overflow path's first run)
    one_sample(i, compat.ticks_add(t, i * 12500))
warm_end = gc.mem_alloc()  # first-time allocations of the hot path (views, dict entries) are in here
N = 400
base = 600
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
usb.take_frames(10000)
bl.link.take_frames(10000)
f0 = gc.mem_alloc()
for i in range(base, base + 256):  # both 256-sample queues fill (the host stopped reading)
    convert()
    app.sampler.process(compat.ticks_add(t, i * 12500), app.hx.read_raw())
f1 = gc.mem_alloc()
queued = [usb.queue.count, bl.link.queue.count]
# ---------------------------------------------------------------- 3. past 2^30 µs of uptime
# MicroPython's small ints are 31-bit on 32-bit ports (this one too): a wide clock kept as one int
# becomes a long int (heap) 2^30 µs = 17.9 min after boot. Put the wide clock 100 samples before
# 2^30 µs and ticks_us 200 samples before its own 2^30 wrap; measure 400 samples across both.
def set_uptime(clk, wide_lo, tick):
    if hasattr(clk, "_wide"):      # a one-int wide clock (before issue 15's follow-up)
        clk._wide = wide_lo
    else:
        clk._hi = 0
        clk._lo = wide_lo
    clk._last = tick


usb.take_frames(10000)
bl.link.take_frames(10000)
sm = app.sampler
t_w = compat.ticks_add(0, -200 * 12500)  # ticks_us wraps at sample 200
set_uptime(sm.clock, 0x3FFFFFFF - 100 * 12500 + 1, t_w)  # the wide clock passes 2^30 µs at sample 100
sm.timer.reset(80)
sm._rate_t0 = None
sm._unloaded_since = None
sm.autotare.reset()
PARTS[:] = [1, 1, 1]
for i in range(20):  # first samples after the jump: the timer and the windows restart
    one_sample(i, compat.ticks_add(t_w, i * 12500))
gc.collect()
gc.disable()
w0 = gc.mem_alloc()
for i in range(20, 420):
    one_sample(i, compat.ticks_add(t_w, i * 12500))
w1 = gc.mem_alloc()
gc.enable()
wide_now = sm.clock.wide(compat.ticks_add(t_w, 420 * 12500))
assert wide_now > 0x3FFFFFFF, wide_now
missed_after_jump = sm.timer.missed
# and the times on the wire stay exact across both boundaries (sampling only, frames decoded)
usb.take_frames(10000)
bl.link.take_frames(10000)
wide0 = 0x3FFFFFFF - 20 * 12500 + 1
set_uptime(sm.clock, wide0, compat.ticks_add(0, -40 * 12500))
sm.timer.reset(80)
sm._rate_t0 = None
idx0 = usb.queue.next_index
for i in range(60):
    convert()
    sm.process(compat.ticks_add(0, (i - 40) * 12500), app.hx.read_raw())
got = []
for fr in usb.take_frames(10000):
    ft, _s, pl = F.decode_frame(fr)
    if ft == F.T_SAMPLES:
        first, _a, ss = F.decode_samples(pl)
        got += [(first + k, x[0]) for k, x in enumerate(ss)]
want = [(idx0 + i, (wide0 + i * 12500) & 0xFFFFFFFF) for i in range(60)]
assert got == want, (got[:3], want[:3], [g for g, w in zip(got, want) if g != w][:3])
figures = {"bytes_per_sample_past_2_30_us": (w1 - w0) / 400, "wide_us_at_end": wide_now,
           "missed_after_jump": missed_after_jump,
           "bytes_per_sample": (a1 - a0) / N, "bytes_sampling": parts_b[0],
           "bytes_usb_flush": parts_b[1] - parts_b[0], "bytes_ble_step": parts_b[2] - parts_b[0],
           "cpu_us_per_sample": time.ticks_diff(c1, c0) / N,
           "heap_interpreter_kb": heap_interp / 1024, "imports_alloc_kb": (heap_base - heap_interp) / 1024,
           "app_setup_alloc_kb": (setup_end - heap_base) / 1024,
           "queues_fill_alloc_kb": (f1 - f0) / 1024,
           # allocations from building the App (both links, encoder) through 600 samples of streaming
           # on both links (queues full at the end; the steady state adds 0): an upper bound of the
           # firmware's live heap with frozen/.mpy modules (this port's gc.collect frees nothing:
           # checked, also with --sync)
           "warmup_alloc_kb": (warm_end - setup_end) / 1024,
           "firmware_heap_bound_kb": (warm_end - heap_base) / 1024, "queued": queued,
           "notified": notified[0]}
print("FIGURES", json.dumps(figures))
print("MP-OK")
