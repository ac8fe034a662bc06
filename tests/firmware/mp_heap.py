# Runs INSIDE real MicroPython (WebAssembly port 1.27), via run_micropython.mjs, in a fresh
# interpreter started with a 64 KiB heap (--heapsize=65536, the ESP32-C3's): the firmware's live heap,
# sampled while the whole app runs (App.run: sampler, status, cue, USB rx/tx over SerialPort and the
# BLE glue on the fake aioble), encoder on, both links streaming, then the host stops reading USB and
# the radio refuses notifications so both 256-sample queues fill, commands arrive on both links.
#
# How live heap is measured on this port: its gc.collect() only marks a collection as pending; the
# collection runs when Python returns to JavaScript (no C stack left to scan). So `gc.collect()`
# followed by an await that yields to the JS event loop, then gc.mem_alloc(), is the live heap at that
# moment (checked: 30 KB of garbage made and dropped is gone after the yield). A monitor task does that
# every 100 ms: the maximum is the live peak; gc.mem_alloc() read just before each collection (live +
# the garbage of the last 100 ms) gives the peak heap in use with collections that far apart.
# Prints "HEAP {...}" (firmware/README.md).
import sys
import gc
import json
import struct
import time

sys.path.append("/fw")
print("impl", sys.implementation.name, sys.implementation.version)
assert sys.implementation.name == "micropython"
import asyncio  # noqa: E402


async def live():
    m = None
    for _ in range(3):  # the collection runs once Python is back in JS; a timer that resumes us within
        gc.collect()    # the same JS turn skips it, so the smallest of three reads is the live heap
        await asyncio.sleep_ms(1)
        a = gc.mem_alloc()
        m = a if m is None or a < m else m
    return m


L = {"start": await live()}  # noqa: F704 (top-level await: runPythonAsync)
import mp_fakes as M  # noqa: E402  (installs machine, bluetooth, aioble)
L["fakes"] = await live()  # noqa: F704
from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw import ble  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402
L["imports"] = await live()  # noqa: F704

S = M.Stream()
port = A.SerialPort(S, S, measure_writes=False)
st = Storage("/flash")
app = A.App(A.build_hardware("esp32s3", st.load()), st, "esp32s3", "X", boot_id=5)
assert app.enc is not None
L["app"] = await live()  # noqa: F704

peak = {"live": 0, "in_use": 0, "samples": 0}
LIVE = []  # every monitor reading (bytes)
stop = [False]


ACKS = []
DE = F.Deframer()


def drain_host():
    """The host's and the central's side keep nothing (test doubles storing every byte would grow the
    heap they measure): note the answers' sequence numbers, drop the rest."""
    for f in M.R.notified:
        if f[0] == F.T_ACK:
            ACKS.append(f[3] | (f[4] << 8))
    del M.R.notified[:]
    for f in DE.feed(bytes(S.out)):
        if f[0] == F.T_ACK:
            ACKS.append(struct.unpack_from("<H", f[2])[0])
    S.out = bytearray()


async def monitor():
    while not stop[0]:
        drain_host()
        a = gc.mem_alloc()  # live + garbage since the last collection (~100 ms ago)
        if a > peak["in_use"]:
            peak["in_use"] = a
        m = await live()
        if m > peak["live"]:
            peak["live"] = m
        LIVE.append(m)
        peak["samples"] += 1
        await asyncio.sleep_ms(100)


async def chip():
    while not stop[0]:
        await asyncio.sleep_ms(12)
        M.convert()


def cmd(seq, c, args=b""):
    return F.cobs_encode(F.encode_cmd(seq, c, args)) + b"\x00"


async def wait_for(cond, ms=5000):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            raise AssertionError("timed out")
        await asyncio.sleep_ms(10)


async def scenario():
    mon = asyncio.create_task(monitor())
    ch = asyncio.create_task(chip())
    run = asyncio.create_task(app.run(port, extra_tasks=[lambda: ble.run(app)]))
    await wait_for(lambda: M.R.adverts)
    cmd_char = M.R.registered[0].characteristics[1]
    M.R.connect_ev.set()
    await wait_for(lambda: M.R.conn is not None and M.R.conn.mtu == 247)
    S.inp.extend(cmd(1, F.C_START))
    cmd_char.central_writes(M.R.conn, F.encode_cmd(1, F.C_START))
    await asyncio.sleep_ms(1500)  # both links streaming
    L["streaming"] = await live()
    # the host stops reading USB and the radio's buffers are full: both queues fill (256 samples)
    S.writable = False
    M.R.budget = 0
    await wait_for(lambda: all(l.queue.count >= l.queue.cap for l in app.links), 8000)
    for seq, c in ((2, F.C_STATUS), (3, F.C_INFO), (4, F.C_GET_CAL)):
        S.inp.extend(cmd(seq, c, b"\x00" if c == F.C_STATUS else b""))
        cmd_char.central_writes(M.R.conn, F.encode_cmd(seq, c, b"\x00" if c == F.C_STATUS else b""))
        await asyncio.sleep_ms(150)
    await asyncio.sleep_ms(1200)  # a status frame per link queued too
    L["queues_full"] = await live()
    queued = [l.queue.count for l in app.links]
    dropped = [l.queue.dropped for l in app.links]
    S.writable = True  # the host reads again, the radio takes notifications again
    M.R.budget = 100000
    await asyncio.sleep_ms(1000)
    L["drained"] = await live()
    stop[0] = True
    app.exit_requested = True
    await asyncio.sleep_ms(300)
    await mon
    await ch
    return queued, dropped


queued, dropped = await scenario()  # noqa: F704
assert app.task_restarts == 0, app.task_restarts
assert min(queued) >= 250 and min(dropped) > 0, (queued, dropped)  # the queues really filled
drain_host()
assert ACKS.count(4) == 2, ACKS  # GET_CAL answered on both links
kb = {k: round(v / 1024, 1) for k, v in L.items()}
# A reading is the live heap plus whatever other tasks allocated in the JS turn between the collection and
# the read (usually nothing; a burst, e.g. the backlog going out when the host reads again, can add tens
# of KB to one reading). The live set itself changes slowly (queues fill over seconds), so its peak is
# the largest minimum over 3 consecutive readings (300 ms); the largest single reading is an upper bound.
robust = max(min(LIVE[i:i + 3]) for i in range(len(LIVE) - 2))
figures = {"live_kb": kb, "peak_live_kb": round(robust / 1024, 1), "max_reading_kb": round(peak["live"] / 1024, 1),
           "peak_in_use_kb": round(peak["in_use"] / 1024, 1), "monitor_samples": peak["samples"],
           "runtime_peak_live_kb": round((robust - L["imports"]) / 1024, 1),
           "module_code_kb": round((L["imports"] - L["fakes"]) / 1024, 1),
           "fakes_kb": round((L["fakes"] - L["start"]) / 1024, 1), "queued": queued, "dropped": dropped}
print("HEAP", json.dumps(figures))
print("MP-OK")
