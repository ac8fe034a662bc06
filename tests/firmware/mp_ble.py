# Runs INSIDE real MicroPython (WebAssembly port), via run_micropython.mjs: the aioble glue
# (holdsense_fw.ble.run) against a fake aioble that behaves like micropython-lib's (mp_fakes.py):
# advertise until a central connects, MTU None until exchanged (247), commands written to the
# COMMAND characteristic, notify with backpressure (OSError ENOMEM when the stack is full),
# a disconnect mid-stream and a reconnect; the tx task is event-driven (no 5 ms polling).
import sys
import struct
import time

sys.path.append("/fw")
import asyncio  # noqa: E402
import mp_fakes as M  # noqa: E402  (installs machine, bluetooth, aioble)
from holdsense_fw import frame as F  # noqa: E402
from holdsense_fw import app as A  # noqa: E402
from holdsense_fw import ble  # noqa: E402
from holdsense_fw.storage import Storage  # noqa: E402

assert ble.available()
st = Storage("/flash")
app = A.App(A.build_hardware("esp32s3", st.load()), st, "esp32s3", "X", boot_id=11)


def decoded():
    return [F.decode_frame(f) for f in M.R.notified]


def acks():
    return [struct.unpack_from("<H", p)[0] for t, s, p in decoded() if t == F.T_ACK]


async def wait_for(cond, ms=3000):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            raise AssertionError("timed out")
        await asyncio.sleep_ms(5)


async def chip(n):
    for _ in range(n):
        await asyncio.sleep_ms(12)
        M.convert()


async def scenario():
    cmd_char = None
    task = asyncio.create_task(app.run(None, extra_tasks=[lambda: ble.run(app)]))
    await wait_for(lambda: M.R.adverts)
    name, manuf = M.R.adverts[0]
    assert name == "holdsense-1122" and manuf[0] == 0xFFFF and manuf[1][:2] == b"hs"
    svc = M.R.registered[0]
    cmd_char = svc.characteristics[1]
    M.R.connect_ev.set()
    await wait_for(lambda: M.R.conn is not None and M.R.conn.mtu == 247)
    cmd_char.central_writes(M.R.conn, F.encode_cmd(0, F.C_INFO))
    await wait_for(lambda: 0 in acks())
    cmd_char.central_writes(M.R.conn, F.encode_cmd(1, F.C_START))
    await wait_for(lambda: 1 in acks())
    missed0 = app.sampler.timer.missed
    # idle cost: count tx-task wake-ups? measured indirectly: nothing notified while nothing is queued
    await chip(40)
    await wait_for(lambda: any(t == F.T_SAMPLES for t, s, p in decoded()))
    # backpressure: the stack takes 3 more notifications, then refuses; samples keep counting
    M.R.budget = 3
    await chip(30)
    assert M.R.refused >= 1
    M.R.budget = 1000
    await chip(10)
    await asyncio.sleep_ms(60)
    seqs = [s for t, s, p in decoded()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a refused notification is retried, in order"
    first = [F.decode_samples(p) for t, s, p in decoded() if t == F.T_SAMPLES]
    idx = [f[0] + i for f in first for i in range(len(f[2]))]
    # JS timers make this fake chip's conversions irregular: the EdgeTimer counts the late ones as
    # missed; every index gap is such a counted conversion, none is lost to the radio's backpressure
    lost = sum(b - a - 1 for a, b in zip(idx, idx[1:]))
    assert idx == sorted(idx) and lost == app.links[0].queue.dropped == app.sampler.timer.missed - missed0, \
        (lost, app.links[0].queue.dropped, app.sampler.timer.missed)
    # a command's reply is notified at once, not with the next sample batch: with a sample queued the tx
    # task sleeps until that sample's flush deadline (FLUSH_MS = 25 ms); the reply must be out after two
    # scheduler turns while the sample is still queued (so no batch flush carried it). Ordered, not timed.
    q = app.links[0].queue
    conclusive = 0
    lat_ms = []  # (write time, index of the reply's notification)
    for k in range(30):
        await wait_for(lambda: q.count == 0)  # the last batch is out
        M.convert()
        await asyncio.sleep_ms(1)  # the sampler queues it; the tx task sleeps toward its deadline
        if q.count == 0:
            continue
        seq = 100 + k
        t_w = time.ticks_us()
        cmd_char.central_writes(M.R.conn, F.encode_cmd(seq, F.C_STATUS, b"\x00"))
        await asyncio.sleep_ms(0)
        await asyncio.sleep_ms(0)
        got = seq in acks()
        if q.count:  # the sample still waits: nothing but the command path can have sent the reply
            assert got, "the reply waits for the next sample batch"
            conclusive += 1
        await wait_for(lambda: seq in acks())
        d = decoded()
        i = [j for j in range(len(d)) if d[j][0] == F.T_ACK and struct.unpack_from("<H", d[j][2])[0] == seq][0]
        lat_ms.append((t_w, i))
    assert conclusive >= 10, conclusive
    # write -> reply notification, both stamped inside the interpreter (the fake radio stamps each notify)
    lat = sorted(time.ticks_diff(M.R.notified_us[i], t_w) for t_w, i in lat_ms)
    print("ble replies: %d of %d out before the queued sample's flush; write->notify us: median %d, max %d"
          % (conclusive, len(lat), lat[len(lat) // 2], lat[-1]))
    # disconnect mid-stream, samples keep counting (linger), reconnect resumes with the exact gap
    n_before = len(idx)
    M.R.conn.drop()
    await chip(20)
    M.R.connect_ev.set()
    await wait_for(lambda: M.R.conn is not None and M.R.conn.is_connected() and M.R.conn.mtu == 247)
    cmd_char.central_writes(M.R.conn, F.encode_cmd(2, F.C_INFO))
    await wait_for(lambda: 2 in acks())
    await chip(20)
    await asyncio.sleep_ms(60)
    smp = [F.decode_samples(p) for t, s, p in decoded() if t == F.T_SAMPLES]
    idx2 = [f[0] + i for f in smp for i in range(len(f[2]))]
    gap = [b - a for a, b in zip(idx2, idx2[1:]) if b - a != 1]
    # the disconnect's loss and the late conversions: all counted by the device (samples dropped from the
    # queue, and those in frames a dropping link never took), all seen as index gaps
    assert sum(g - 1 for g in gap) == app.links[0].queue.dropped + app.ble.lost_samples, \
        (gap, app.links[0].queue.dropped, app.ble.lost_frames, app.ble.lost_samples)
    assert app.task_restarts == 0
    app.exit_requested = True
    await asyncio.sleep_ms(300)
    print("ble glue ok: notified", len(M.R.notified), "refused", M.R.refused, "samples", len(idx2),
          "gap", gap, "before drop", n_before)


await scenario()  # noqa: F704
print("MP-OK")
