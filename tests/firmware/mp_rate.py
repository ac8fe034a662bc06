# Runs INSIDE real MicroPython (WebAssembly port), via run_micropython.mjs: the HX711's rate when
# its RATE pin is not wired (hardware/README.md: most breakouts tie RATE to GND, so the chip runs at
# a fixed 10 SPS; some tie it to VCC, 80 SPS). The firmware must learn that rate from the data-ready
# edges: INFO names it, every conversion is one sample index (none booked as missed), and SET_RATE's
# error says the rate it is fixed at. The RATE-wired path keeps its nominal period from the start.
import sys
import json
import time

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"
import asyncio  # noqa: E402

from mp_fakes import B, Stream, convert  # noqa: E402  (installs machine, bluetooth, aioble)
B.i2c_devices = []  # force-only build

from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw import compat  # noqa: E402
from holdsense_fw.frame import ERR_MISSED  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402

_n_flash = [0]


def new_app(settings=None):
    _n_flash[0] += 1
    root = "/flash%d" % _n_flash[0]
    import os
    os.mkdir(root)
    if settings is not None:
        with open(root + "/holdsense.json", "w") as f:
            f.write(json.dumps(settings))
    st = Storage(root)
    return A.App(A.build_hardware("esp32s3", st.load()), st, "esp32s3", "X", boot_id=5)


def cmd(app, link, seq, c, args=b""):
    app.commands.feed_serial(F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00", link)
    return [F.decode_frame(r) for r in link.take_frames(1000)]


def edge(app, t_us, value=1000):
    B.value = value & 0xFFFFFF
    B.ready = True
    B.bit = 0
    app.sampler.process(t_us & (compat.TICKS_PERIOD - 1), app.hx.read_raw())


def delay(i):
    """A soft IRQ's scheduling delay (µs): 60 + a pseudo-random part, now and then a few ms."""
    d = 60 + (i * 7919) % 300
    if i % 13 == 5:
        d += 4000
    return d


def stream(period_us, n, skip=()):
    """An App with RATE not wired, one streaming link, `n` conversions `period_us` apart (those in
    `skip` never read: the firmware missed them)."""
    app = new_app()
    assert not app.hx.rate_selectable
    link = app.add_link("usb")
    link.take_frames()
    assert cmd(app, link, 1, F.C_START)[0][0] == F.T_ACK
    t0 = compat.ticks_us()
    for i in range(n):
        if i not in skip:
            edge(app, t0 + i * period_us + delay(i))
    return app, link


def samples(link):
    idx = []
    for t, s, p in [F.decode_frame(r) for r in link.take_frames(100000)]:
        if t == F.T_SAMPLES:
            first, _, recs = F.decode_samples(p)
            idx += [first + k for k in range(len(recs))]
    return idx


# 1. RATE tied to GND: 10 SPS (this part runs 11 SPS: 90909 µs). Before: rate_hz stayed 80 and the
#    edge timer, starting from 12.5 ms, saw every read as 7-8 conversions (86 % booked as lost).
app, link = stream(90909, 40)
assert app.hx.rate_hz == 10 and app.hx.rate_known, app.hx.rate_hz
assert app.sampler.timer.missed == 0 and not app.sampler.errors & ERR_MISSED, app.sampler.timer.missed
fr = [F.decode_frame(r) for r in link.take_control()]
infos = [F.decode_info_payload(p) for t, s, p in fr if t == F.T_INFO]
assert infos and infos[-1]["rate_hz"] == 10, infos  # the START INFO (before) said 80; this one 10
idx = samples(link)
assert idx == list(range(40)), idx
assert link.queue.dropped == 0
assert abs(app.sampler.timer.period_us - 90909) < 2000, app.sampler.timer.period_us
r = cmd(app, link, 2, F.C_INFO)
assert F.decode_info_payload(r[0][2][3:])["rate_hz"] == 10
r = cmd(app, link, 3, F.C_SET_RATE, bytes((80,)))
assert r[0][0] == F.T_ERROR and r[0][2][3] == F.E_UNSUPPORTED
msg = bytes(r[0][2][4:]).decode()
assert "10 SPS" in msg and "80" not in msg, msg
print("rate 10 learned:", app.sampler.timer.period_us, "us;", msg)

# 2. RATE tied to VCC: 80 SPS (this part 88 SPS); a conversion missed during learning does not fool it,
#    and one missed after it is counted (the index jumps, DROPPED follows).
app, link = stream(11364, 200, skip=(2, 120))
assert app.hx.rate_hz == 80 and abs(app.sampler.timer.period_us - 11364) < 300, app.sampler.timer.period_us
assert app.sampler.timer.missed == 1 and app.sampler.errors & ERR_MISSED, app.sampler.timer.missed
idx = samples(link)
# (during learning each read counts as one conversion: the one missed there is not seen)
assert 119 not in idx and idx[-1] == 198 and len(idx) == 198, (len(idx), idx[-3:])
print("rate 80 learned:", app.sampler.timer.period_us, "us")

# 3. A part at the slow end of the 10 SPS tolerance and one at the fast end of 80: still told apart.
for period, hz in ((125000, 10), (80000, 10), (14000, 80), (10000, 80)):
    app, link = stream(period, 12)
    assert app.hx.rate_hz == hz and app.sampler.timer.missed == 0, (period, app.hx.rate_hz)

# 4. RATE wired: unchanged. The nominal period is known from the start (nothing to learn), SET_RATE acts.
app = new_app({"rate_wired": True, "rate_hz": 80})
assert app.hx.rate_selectable and app.hx.rate_known and app.hx.rate_hz == 80
assert app.sampler.timer.period_us == 12500 and app.sampler.timer.learned_hz == 0
link = app.add_link("usb")
r = cmd(app, link, 1, F.C_SET_RATE, bytes((10,)))
assert r[-1][0] == F.T_ACK and app.hx.rate_hz == 10 and app.sampler.timer.period_us == 100000
t0 = compat.ticks_us()
cmd(app, link, 2, F.C_START)
for i in range(6):
    edge(app, t0 + i * 200000)  # every other conversion read: k = 2 from the second read on
assert app.sampler.timer.missed == 5, app.sampler.timer.missed


# 5. App.run on a board whose RATE is tied to GND: the INFO announcing the boot already says 10.
S = Stream()
app = new_app()
port = A.SerialPort(S, S, measure_writes=False)
stop = [False]


async def chip():
    while not stop[0]:
        await asyncio.sleep_ms(100)
        convert()


async def run():
    ch = asyncio.create_task(chip())
    task = asyncio.create_task(app.run(port))
    t_end = time.ticks_add(time.ticks_ms(), 3000)
    while time.ticks_diff(t_end, time.ticks_ms()) > 0:
        await asyncio.sleep_ms(20)
        if any(f[0] == F.T_INFO for f in F.Deframer().feed(bytes(S.out))):
            break
    app.exit_requested = True
    stop[0] = True
    await asyncio.sleep_ms(200)
    await ch


await run()  # noqa: F704 (top-level await: runPythonAsync)
infos = [F.decode_info_payload(f[2]) for f in F.Deframer().feed(bytes(S.out)) if f[0] == F.T_INFO]
assert infos and infos[0]["rate_hz"] == 10, infos
print("boot INFO rate_hz", infos[0]["rate_hz"])
print("MP-OK")
