# Runs INSIDE real MicroPython (WebAssembly port) via tests/firmware/run_micropython.mjs:
# the firmware's BLE logic (holdsense_fw/ble.py) with the real Link/SampleQueue/frame code and a
# small fake App, so what the roller runs is checked by the interpreter that ships on the board.
import sys

sys.path.append("/fw")
assert sys.implementation.name == "micropython"

# the wasm port has no `machine`; holdsense_fw.hx711 imports it at module level (only used at run time)
with open("/fw/machine.py", "w") as f:
    f.write("def disable_irq():\n    return 0\n\n\ndef enable_irq(s):\n    pass\n")

from holdsense_fw import ble  # noqa: E402
from holdsense_fw import frame  # noqa: E402
from holdsense_fw.link import Link  # noqa: E402

# --- pure helpers ---
assert ble.adv_name(b"\x7c\xdf\xa1\x00\x11\x22") == "holdsense-1122"
assert ble.version_triple("0.1.0") == (0, 1, 0) and ble.version_triple("2.10.3rc1") == (2, 10, 3)
assert ble.manufacturer_payload("0.1.0", 73, 1) == b"hs\x01\x00\x01\x00I\x01"
assert ble.samples_per_notification(247, True) == 20 and ble.samples_per_notification(247, False) == 32
assert ble.samples_per_notification(23, False) == 0 and ble.samples_per_notification(50, False) == 4
print("helpers ok")


class Clock:
    """compat.WideClock's interface: the wide time `t` (set by the test) as one int and as (hi, lo)."""
    t = 0
    hi = 0
    lo = 0

    def wide(self, t=None):
        return self.t

    def stamp(self, t=None):
        self.hi = self.t >> 30
        self.lo = self.t & 0x3FFFFFFF


class Sampler:
    def __init__(self):
        self.clock = Clock()
        self.errors = 0
        self.queues = []

    def add_queue(self, q):
        self.queues.append(q)


class Battery:
    def read(self):
        return 3900, 70


class Commands:
    def __init__(self):
        self.seen = []

    def handle(self, ftype, seq, payload, link):
        self.seen.append((ftype, seq, bytes(payload)))
        if payload and payload[0] == frame.C_START:
            link.ack(seq, payload[0])
            link.queue.enabled = True
        else:
            link.error(seq, payload[0] if payload else 0, frame.E_REFUSED, "no")


class App:
    enc = None
    sensors = frame.S_HX711 | frame.S_BATTERY
    fw_version = "0.1.0"
    board = "esp32s3"
    device_id = "7CDFA1001122"

    def __init__(self):
        self.sampler = Sampler()
        self.commands = Commands()
        self.battery = Battery()
        self.settings = {"ble_cal_writes": False}
        self.rx_bad_frames = 0

    def add_link(self, name):
        link = Link(name, 64, False)
        self.sampler.add_queue(link.queue)
        return link


app = App()
bl = ble.BleLink(app)
assert bl.link.name == "ble" and bl.has_battery and bl.battery_level() == b"F"
sent = []
refuse = [False]


def notify(f):
    if refuse[0]:
        raise OSError(12)
    sent.append(bytes(f))  # the stack copies the value at the call (gatts_notify); f's buffer is reused


bl.on_connect(0)
bl.on_mtu(247)
now_ms = 0
assert bl.tx_step(now_ms, notify) == 0  # not ready until the central writes
bl.on_write(frame.encode_cmd(1, frame.C_START))
bad = bytearray(frame.encode_cmd(2, frame.C_START))
bad[-1] ^= 0xFF
bl.on_write(bytes(bad))
assert bl.bad_writes == 1 and app.rx_bad_frames == 1 and len(app.commands.seen) == 1

# 80 Hz samples (one per 12.5 ms) for 1 s, the tx task polling every 5 ms
q = bl.link.queue
for k in range(200):
    t_us = k * 5000
    app.sampler.clock.t = t_us
    if (t_us % 12500) < 5000:
        q.push(t_us, 1000 + k, 0, 0)
    if k == 120:
        refuse[0] = True  # the stack is full for 50 ms: frames wait and are retried in order
    if k == 130:
        refuse[0] = False
    bl.tx_step(t_us // 1000, notify)
first = None
total = 0
last_t = None
for raw in sent:
    ftype, seq, payload = frame.decode_frame(raw)
    if ftype != frame.T_SAMPLES:
        continue
    idx, has_angle, recs = frame.decode_samples(payload)
    if first is not None:
        assert idx == first + n, (idx, first, n)
    first, n = idx, len(recs)
    total += n
    assert recs[-1][0] - recs[0][0] <= 25000 or bl.retries  # batched by age
assert total == q.next_index - q.count and q.dropped == 0, (total, q.next_index, q.count)
assert bl.retries >= 1 and bl.notified == len(sent)
print("batching ok", total, len(sent))

bl.on_disconnect(1000)
assert q.enabled and not bl.connected
bl.tx_step(1000 + ble.LINGER_MS, notify)
assert not q.enabled and q.count == 0
print("linger ok")
print("MP-OK")
