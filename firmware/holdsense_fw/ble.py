# The roller's BLE link (docs/ble.md, docs/protocol.md section BLE).
#
# One GATT service carries exactly the serial protocol's frames: the DATA
# characteristic notifies one raw frame per notification (no COBS), the
# COMMAND characteristic takes one raw CMD frame per write. Standard Battery
# (0x180F) and Device Information (0x180A) services serve generic tools.
#
# Split in two so the logic is tested without a radio:
# - `BleLink` (pure Python, runs under CPython and MicroPython): when to send
#   what. Samples are batched by age (the oldest queued sample never waits
#   longer than FLUSH_MS) or sooner when a notification is full at the current
#   MTU; frames the stack could not take are retried first; the sampler never
#   waits for the radio (the link's bounded queue drops and counts instead);
#   a write that fails its CRC is counted and ignored. Calibration-changing
#   commands are refused on this link by `Commands` (link name "ble") unless
#   enabled over USB with BLE_CAL. The virtual device's fake BlueZ drives this
#   same class, so the host's BLE path is tested against it.
# - `run()` (MicroPython only): the aioble glue: register services, advertise
#   as holdsense-XXXX, serve one central at a time, advertise again after a
#   disconnect.
import struct

from . import compat
from .frame import (ERR_RX_FRAME, HEADER_LEN, MAX_FRAME, PROTO_MAJOR, S_BATTERY, SAMPLES_HEAD, T_SAMPLES, T_TEXT,
                    decode_frame, max_batch)

# 128-bit UUIDs of the holdsense service ("HS" = 0x4853 in the first field).
SERVICE_UUID = "4853e001-8a3d-4f6b-9c2e-5d7a1b0c3e42"
DATA_UUID = "4853e002-8a3d-4f6b-9c2e-5d7a1b0c3e42"      # notify: device -> host frames
COMMAND_UUID = "4853e003-8a3d-4f6b-9c2e-5d7a1b0c3e42"   # write / write without response: host -> device

# Standard (16-bit) services and characteristics generic BLE tools expect.
BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19         # u8 percent
DEVICE_INFO_SERVICE = 0x180A
MANUFACTURER_NAME = 0x2A29     # UTF-8
MODEL_NUMBER = 0x2A24          # UTF-8: the board
SERIAL_NUMBER = 0x2A25         # UTF-8: the device id (machine.unique_id)
FIRMWARE_REVISION = 0x2A26     # UTF-8: holdsense_fw version
MANUFACTURER = "holdsense"

# Advertised manufacturer data: company id 0xFFFF (the SIG's id for tests and
# devices without a company id), then "hs", protocol major, firmware version
# major/minor/patch, battery percent (255 unknown), state bits. Lets a scan list
# firmware and battery without connecting.
COMPANY_ID = 0xFFFF
ADV_MAGIC = b"hs"
ADV_STATE_STREAMING = 0x01     # the BLE link is streaming (a session is on)
ADV_STATE_BLE_CAL = 0x02       # calibration writes over BLE are enabled

NAME_PREFIX = "holdsense-"
FLUSH_MS = 25                  # the oldest queued sample waits at most this long (latency bound)
POLL_MS = 5                    # flush-age rounding (half of it) and the retry pause after a refused notify
DEFAULT_MTU = 23               # ATT MTU before the central negotiates a larger one
PREFERRED_MTU = MAX_FRAME + 3  # 247: one notification holds the largest frame
ATT_OVERHEAD = 3               # notification = ATT MTU - 3 bytes of value
PENDING_MAX = 16               # frames kept for retry when the stack's buffers are full
FRAMES_PER_POLL = 8            # bound the work of one poll (the sampler runs in between)
LINGER_MS = 60000              # keep streaming (queue + count) this long after a link loss
ADV_INTERVAL_US = 100000       # 100 ms: found within a second by phones and BlueZ
ADV_REFRESH_MS = 30000         # re-advertise this often so the battery in the advert is fresh


def adv_name(mac):
    """`holdsense-XXXX`: the last two bytes of the BLE MAC, so two rollers in a room differ."""
    return NAME_PREFIX + "%02X%02X" % (mac[-2], mac[-1])


def version_triple(version):
    """'0.1.0' -> (0, 1, 0); missing or non-numeric parts are 0 (bytes for the advert)."""
    out = []
    for part in (version.split(".") + ["0", "0", "0"])[:3]:
        digits = ""
        for ch in part:
            if "0" <= ch <= "9":
                digits += ch
            else:
                break
        out.append(min(255, int(digits)) if digits else 0)
    return tuple(out)


def manufacturer_payload(fw_version, battery_pct, state):
    """Manufacturer data after the company id (see COMPANY_ID)."""
    v = version_triple(fw_version)
    return ADV_MAGIC + bytes((PROTO_MAJOR, v[0], v[1], v[2], battery_pct & 0xFF, state & 0xFF))


def samples_per_notification(mtu, has_angle):
    """How many sample records one SAMPLES frame may carry so it fits one notification at `mtu`."""
    rec = 11 if has_angle else 7
    room = mtu - ATT_OVERHEAD - HEADER_LEN - SAMPLES_HEAD - 2
    if room < rec:
        return 0  # not even one sample fits: wait for the MTU exchange (samples queue, then drop)
    return min(max_batch(has_angle), room // rec)


class BleLink:
    """The BLE link's logic over the firmware's `Link` (its frames, sequence numbers, sample queue).

    Called by the radio glue (aioble on the board, the fake BlueZ on a PC):
    `on_connect`, `on_mtu`, `on_disconnect`, `on_write(raw)` for each write to
    COMMAND, and `poll(now_ms)` / `tx_step` for the frames to notify now (the
    board's tx task sleeps until `due_ms()` or a wake: no busy polling);
    frames the stack refused go back with `requeue`.
    """

    def __init__(self, app, flush_ms=FLUSH_MS):
        self.app = app
        self.link = app.add_link("ble")   # the name gates calibration writes (commands.py)
        self.link.make_views()            # notified frames: views made now, not mid-stream
        self.link.out = []                # the boot INFO of add_link: nobody is listening yet
        self.flush_ms = flush_ms
        self.mtu = DEFAULT_MTU
        self.connected = False
        self.ready = False                # the central wrote a command: it has subscribed and listens
        self.pending = []
        self.disconnected_ms = None
        self.connections = 0
        self.notified = 0
        self.retries = 0
        self.lost_frames = 0              # frames that could not be sent (link lost, stack full too long)
        self.lost_samples = 0             # samples in those frames (the host sees them as index gaps)
        self.bad_writes = 0
        self.oversize = 0                 # control frames too long for the MTU (dropped, see _control_frames)
        self._mtu_warned = False

    # --- link events ---
    def on_connect(self, now_ms=None):
        self.connected = True
        self.ready = False
        self.mtu = DEFAULT_MTU
        self.pending = []
        self.link.out = []  # answers meant for a previous central are stale
        self.disconnected_ms = None
        self.connections += 1
        self._mtu_warned = False

    def on_mtu(self, mtu):
        self.mtu = max(DEFAULT_MTU, int(mtu))

    def on_disconnect(self, now_ms):
        """Frames not yet sent are lost (the host counts them by index); streaming carries on
        for LINGER_MS so a quick reconnect resumes the session with an exact loss count."""
        self.connected = False
        self.ready = False
        self._lose(self.pending)
        self.pending = []
        self.disconnected_ms = now_ms

    def on_write(self, raw):
        """One write to COMMAND = one raw frame. A bad one is counted, never answered."""
        try:
            ftype, seq, payload = decode_frame(bytes(raw))
        except ValueError:
            self.bad_writes += 1
            self.app.rx_bad_frames += 1
            self.app.sampler.errors |= ERR_RX_FRAME
            return
        self.ready = True
        self.app.commands.handle(ftype, seq, payload, self.link)

    def command(self, raw, now_ms, notify):
        """A write to COMMAND, answered at once: handled (on_write), then its reply - and anything
        due with it, retries first - notified now (tx_step), not when the tx task next wakes for a
        sample batch (up to FLUSH_MS later). Returns the frames sent."""
        self.on_write(raw)
        if not self.link.out:
            return 0  # a bad write (no answer) or a TARE (answers once its samples are in)
        return self.tx_step(now_ms, notify)

    # --- sending ---
    @property
    def per_notification(self):
        return samples_per_notification(self.mtu, self.link.has_angle)

    @property
    def max_value_len(self):
        return self.mtu - ATT_OVERHEAD

    def _oldest_age_ms(self):
        q = self.link.queue
        if not q.count:
            return -1
        clk = self.app.sampler.clock
        clk.stamp()
        j = q.head
        return compat.elapsed_ms(clk.hi, clk.lo, q.t_hi[j], q.t_lo[j])  # small ints at any uptime

    def poll(self, now_ms):
        """Raw frames to notify now, oldest first (control frames, then sample batches)."""
        link = self.link
        if not self.connected:
            if (link.queue.enabled and self.disconnected_ms is not None
                    and compat.ticks_diff(now_ms, self.disconnected_ms) >= LINGER_MS):
                link.queue.enabled = False  # nobody came back: stop the session, save power
                link.queue.clear()
                link.out = []
            return []
        if not self.ready:
            return []
        if self.pending:
            frames = self.pending
            self.pending = []
            self.retries += 1
            return frames
        frames = self._control_frames()  # ACK, INFO, STATUS... go at once
        per = self.per_notification
        q = link.queue.count
        if per and q:
            if self._oldest_age_ms() >= self.flush_ms - POLL_MS // 2:
                n = q                    # time's up: send everything queued
            else:
                n = (q // per) * per     # only full notifications
            n = min(n, per * FRAMES_PER_POLL)
            while n > 0:
                k = min(per, n)
                frames += link.take_frames(k)
                n -= k
        return frames

    def _control_frames(self):
        """Queued control frames that fit one notification. One that does not (an INFO at a tiny MTU)
        would arrive cut and fail its CRC: it is dropped (the host sees its sequence number missing)
        and, once per connection, a short TEXT says why."""
        out = []
        room = self.max_value_len
        for f in self.link.take_frames(0):
            if len(f) <= room:
                out.append(f)
                continue
            self.oversize += 1
            if not self._mtu_warned:
                self._mtu_warned = True
                need = len(f) + 3
                text = "MTU %d too small, need %d" % (self.mtu, need)
                if HEADER_LEN + 1 + len(text) + 2 > room:
                    text = "MTU %d need %d" % (self.mtu, need)  # 14 bytes: fits even the minimum MTU 23
                self.link.send(T_TEXT, bytes((2,)) + text.encode())
        for f in self.link.take_frames(0):
            if len(f) <= room:
                out.append(f)
        return out

    def due_ms(self):
        """When the tx task must look next (event-driven, no polling): 0 now (frames to send or retry),
        ms until the oldest queued sample's flush deadline, or None (nothing queued: wait for a wake)."""
        link = self.link
        if not self.connected or not self.ready:
            return None  # a connection or a write wakes the task; the linger is checked by the advertiser
        if self.pending or link.out:
            return 0
        q = link.queue.count
        if not q or not self.per_notification:
            return None
        if q >= self.per_notification:
            return 0
        left = self.flush_ms - POLL_MS // 2 - self._oldest_age_ms()
        return left if left > 0 else 0

    def _lose(self, frames):
        self.lost_frames += len(frames)
        for f in frames:
            if f[0] == T_SAMPLES:
                self.lost_samples += f[4]  # header: type, seq u16, layout, n

    def requeue(self, frames):
        """`frames` (in order) were not taken by the stack: retry them first at the next poll."""
        if len(frames) > PENDING_MAX:
            self._lose(frames[PENDING_MAX:])
            frames = frames[:PENDING_MAX]
        self.pending = list(frames)

    def tx_step(self, now_ms, notify):
        """One pass of the tx task: `notify(frame)` each frame due now. A frame the stack refuses
        (notify raises OSError: buffers full, link dropping) and the ones after it are retried
        first next time; meanwhile new samples wait in the bounded queue, which drops and counts
        when full, so the sampler never waits for the radio. Returns the frames sent."""
        link = self.link
        if self.connected and self.ready and not self.pending and not link.out:
            return self._tx_samples(notify)
        frames = self.poll(now_ms)
        for i in range(len(frames)):
            try:
                notify(frames[i])
            except OSError:
                self.requeue(frames[i:])
                return i
            self.notified += 1
        return len(frames)

    def _tx_samples(self, notify):
        """The steady state of tx_step (connected, nothing to retry, no control frame): the same
        batches as poll(), each encoded into the link's frame buffer and notified from a cached
        memoryview of it - no list, no frame object. A refused one is copied for the retry."""
        link = self.link
        per = self.per_notification
        q = link.queue.count
        if not per or not q:
            return 0
        if self._oldest_age_ms() >= self.flush_ms - POLL_MS // 2:
            n = q
        else:
            n = (q // per) * per
        if n > per * FRAMES_PER_POLL:
            n = per * FRAMES_PER_POLL
        sent = 0
        while n > 0:
            ln = link.encode_batch(per if per < n else n)
            if not ln:
                break
            n -= link.last_batch
            v = link.view(ln)
            try:
                notify(v)
            except OSError:
                self.requeue([bytes(v)])  # the frame buffer is reused: keep a copy to retry
                return sent
            self.notified += 1
            sent += 1
        return sent

    # --- advertising and standard services ---
    @property
    def has_battery(self):
        """The Battery service is offered only when the battery is measured (an ADC is fitted)."""
        return bool(self.app.sensors & S_BATTERY)

    def battery_pct(self):
        """Percent 0..100, or 255 when unknown (advert)."""
        pct = self.app.battery.read()[1]
        return pct if pct <= 100 else 255

    def battery_level(self):
        """Battery Level (0x2A19) value: one byte, percent."""
        pct = self.battery_pct()
        return struct.pack("<B", pct if pct <= 100 else 0)

    def adv_state(self):
        s = 0
        if self.link.queue.enabled:
            s |= ADV_STATE_STREAMING
        if self.app.settings.get("ble_cal_writes"):
            s |= ADV_STATE_BLE_CAL
        return s

    def manufacturer_data(self):
        return manufacturer_payload(self.app.fw_version, self.battery_pct(), self.adv_state())

    def device_information(self):
        """{characteristic uuid16: value bytes} of the Device Information service."""
        return {MANUFACTURER_NAME: MANUFACTURER.encode(), MODEL_NUMBER: self.app.board.encode(),
                SERIAL_NUMBER: (self.app.device_id or "unknown").encode(),
                FIRMWARE_REVISION: self.app.fw_version.encode()}


# ---------------------------------------------------------------- board glue (MicroPython + aioble)
def available():
    """True on a board whose MicroPython has `bluetooth` and aioble installed."""
    try:
        import bluetooth  # noqa: F401
        import aioble  # noqa: F401
    except ImportError:
        return False
    return True


async def run(app):
    """Serve the BLE link until the app exits: advertise, serve one central, advertise again."""
    import aioble
    import bluetooth

    asyncio = compat.asyncio
    UUID = bluetooth.UUID
    bl = app.ble = BleLink(app)  # (kept on the App: counters for diagnostics and tests)
    aioble.config(mtu=PREFERRED_MTU)
    svc = aioble.Service(UUID(SERVICE_UUID))
    data_char = aioble.Characteristic(svc, UUID(DATA_UUID), notify=True)
    cmd_char = aioble.BufferedCharacteristic(svc, UUID(COMMAND_UUID), write=True, write_no_response=True,
                                             capture=True, max_len=MAX_FRAME)
    services = [svc]
    batt_char = None
    if bl.has_battery:
        bsvc = aioble.Service(UUID(BATTERY_SERVICE))
        batt_char = aioble.Characteristic(bsvc, UUID(BATTERY_LEVEL), read=True, notify=True,
                                          initial=bl.battery_level())
        services.append(bsvc)
    dsvc = aioble.Service(UUID(DEVICE_INFO_SERVICE))
    for uuid16, value in bl.device_information().items():
        aioble.Characteristic(dsvc, UUID(uuid16), read=True, initial=value)
    services.append(dsvc)
    aioble.register_services(*services)
    name = adv_name(aioble.config("mac")[1])
    state = {"conn": None}

    async def advertise_task():
        while not app.exit_requested:
            try:
                conn = await aioble.advertise(ADV_INTERVAL_US, name=name, services=[UUID(SERVICE_UUID)],
                                              manufacturer=(COMPANY_ID, bl.manufacturer_data()),
                                              timeout_ms=ADV_REFRESH_MS)
            except asyncio.TimeoutError:
                bl.poll(compat.ticks_ms())  # nobody came back for LINGER_MS: the session stops here
                continue  # nobody connected: advertise again with a fresh battery level
            bl.on_connect(compat.ticks_ms())
            state["conn"] = conn
            wake.set()
            try:
                bl.on_mtu(conn.mtu or DEFAULT_MTU)
                try:
                    bl.on_mtu(await conn.exchange_mtu(PREFERRED_MTU))
                except Exception:
                    pass  # the central may have exchanged already (BlueZ does): conn.mtu has it
                await conn.disconnected(timeout_ms=None)
            finally:
                state["conn"] = None
                bl.on_disconnect(compat.ticks_ms())
                wake.set()

    def notify(frame):
        try:
            data_char.notify(state["conn"], frame)
        except (ValueError, AttributeError, TypeError):
            raise OSError("not connected")  # the link dropped under us: retried, then counted lost

    wake = bl.link.wake = bl.link.queue.wake = compat.ThreadSafeFlag()  # set by new frames / first sample

    async def sleep_or_wake(ms):
        # event-driven: an idle link costs nothing; a queued sample wakes it by its flush deadline
        if ms is None:
            await wake.wait()
        elif ms > 0:
            await compat.sleep_ms(ms)

    async def tx_task():
        while not app.exit_requested:
            conn = state["conn"]
            if conn is not None and conn.mtu and conn.mtu != bl.mtu:
                bl.on_mtu(conn.mtu)
            sent = bl.tx_step(compat.ticks_ms(), notify)
            if bl.pending:
                await compat.sleep_ms(POLL_MS)  # the stack refused: retry shortly (backpressure)
                continue
            due = bl.due_ms()
            await sleep_or_wake(due)
            if sent == 0 and due == 0:
                await compat.sleep_ms(1)  # nothing went out though due: never spin

    async def battery_task():
        while not app.exit_requested:
            await compat.sleep_ms(10000)  # keep Battery Level fresh for generic tools
            batt_char.write(bl.battery_level(), send_update=state["conn"] is not None)

    async def rx_task():
        while not app.exit_requested:
            _conn, data = await cmd_char.written()
            bl.command(data, compat.ticks_ms(), notify)  # the reply goes out now
            wake.set()  # the tx task re-plans: a first write makes the link ready; a refused reply is retried

    tasks = [advertise_task(), tx_task(), rx_task()]
    if batt_char is not None:
        tasks.append(battery_task())
    await asyncio.gather(*tasks)
