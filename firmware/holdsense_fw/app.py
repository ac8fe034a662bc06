# Wiring: hardware from config, sampler, command handler, links, asyncio tasks.
#   sensor_task (Sampler.run) -> per-link SampleQueue -> serial_tx_task (USB)
#   serial_rx_task (USB) -> Commands -> link outbox
# Nothing in here may wait on the USB port: MicroPython's stdin read(n) blocks until n
# bytes arrived and stdout writes block while the host does not read (ESP32-C3
# USB-Serial-JTAG up to ~200 ms per 64-byte packet, S3 TinyUSB CDC ~500 ms), stopping
# every task. SerialPort polls the stream and moves only what is ready.
# BLE seam: link = app.add_link("ble"); a ble task sends link.take_frames() as
# notifications (one raw frame each) and passes each written frame to
# app.commands.handle(*frame.decode_frame(raw), link). Nothing else changes.
import struct

from . import VERSION, compat, config
from .battery import Battery
from .commands import Commands
from .cue import Cue
from .frame import (S_AS5600, S_BATTERY, S_BUZZER, S_HX711, S_LED, S_RATE, STATE_IDLE,
                    STATE_STOPPED, STATE_STREAMING, T_INFO, T_STATUS, T_TARE, T_TEXT, TARE_AUTO,
                    ERR_BATTERY_LOW, ERR_STORAGE, ERR_TASK, MAX_FRAME, cobs_encode_into, encode_info_payload,
                    encode_status_payload, encode_tare_payload)
from .hx711 import HX711
from .link import Link
from .sampler import Sampler
from .storage import Storage

asyncio = compat.asyncio

TX_PERIOD_MS = 20      # flush serial every 20 ms: low latency, a few samples per frame
RX_PERIOD_MS = 10      # look for command bytes this often (a command is answered within ~30 ms)
STATUS_PERIOD_MS = 1000
USB_PACKET = 64        # write at most one USB full-speed packet at a time
TX_BUF = 1536          # bytes of encoded frames per pass (about 6 full SAMPLES frames)
TX_SAMPLES_PER_PASS = 64  # samples taken from the queue per pass
MAX_COBS_FRAME = MAX_FRAME + MAX_FRAME // 254 + 2  # a raw frame COBS-encoded, with its delimiter
SLOW_WRITE_US = 30000  # a 64-byte write that took longer: the port blocked (host not reading;
                       # a normal one takes < 1 ms) ...
STALL_BACKOFF_MS = 500   # ... so write nothing for this long (samples queue, then drop, counted)
RESTART_DELAY_MS = 200   # a crashed task is restarted after this pause
WDT_TIMEOUT_MS = 8000    # watchdog: no sample (nor a handled HX711 timeout) this long -> reset
BOOT_WINDOW_MS = 2000    # Ctrl-C (0x03) within this long after boot: stay in the REPL
RATE_LEARN_MS = 2000     # RATE not wired: links start once the chip's fixed rate is measured (~0.6 s
                         # at 10 SPS), so the boot INFO names it; a silent chip holds them this long at most


class SerialPort:
    """Non-blocking byte I/O over a MicroPython stream pair (sys.stdin/sys.stdout on the board;
    the virtual device's strict USB stream on a PC).

    Reads only bytes the stream reports as readable, one at a time (a read(n) would wait for n);
    writes at most one USB packet at a time and only while the stream reports writable. Encoded
    frames wait in one bounded buffer; a pass of frames is taken from the link only when the
    previous pass is out, so the sample queues (bounded, counting drops into the index) are the
    only place samples wait: no frame is ever cut or silently lost on the device. Where a port
    reports writable and then blocks anyway, a slow write puts the port in back-off.
    """

    def __init__(self, rx, tx, rx_poll_obj=None, tx_poll_obj=None, measure_writes=True):
        """rx, tx: the streams read and written; *_poll_obj: what select.poll watches for them
        (sys.stdin / sys.stdout on a board); measure_writes: time each write and back off when
        one blocked (a port whose POLLOUT cannot be trusted). The virtual device's strict port
        blocks exactly when it says so (and its host's scheduling is not the board's time), so
        it turns this off."""
        self.measure_writes = measure_writes
        self.rx = rx
        self.tx = tx
        self._rxp = compat.poll_method(compat.make_poll(rx_poll_obj if rx_poll_obj is not None else rx,
                                                        compat.POLLIN))
        self._txp = compat.poll_method(compat.make_poll(tx_poll_obj if tx_poll_obj is not None else tx,
                                                        compat.POLLOUT))
        self.buf = bytearray(TX_BUF)
        self.mv = memoryview(self.buf)
        # what write() gets, made once (a memoryview slice per write would be an allocation):
        # whole aligned packets of buf, else a copy in a one-packet scratch and its view of that length
        self._packets = [self.mv[i:i + USB_PACKET] for i in range(0, TX_BUF, USB_PACKET)]
        self._scratch = bytearray(USB_PACKET)
        self._scratch_views = [memoryview(self._scratch)[:n] for n in range(USB_PACKET + 1)]  # ~1 KB
        self.head = 0               # next byte to write
        self.tail = 0               # end of the encoded bytes
        self.later = []             # frames of the current pass that did not fit the buffer
        self.stalls = 0             # slow writes seen (the port blocked)
        self.not_writable = 0       # passes that found the port full (the host is not reading)
        self.max_write_us = 0
        self._backoff_until = None
        self.pushback = b""         # bytes read before the app started (boot window): handed on first

    def readable(self):
        return bool(compat.poll_flags(self._rxp) & compat.POLLIN)

    def read_available(self, limit=64):
        """Bytes that are there now (at most `limit`), never waiting for more."""
        out = self.pushback
        self.pushback = b""
        while len(out) < limit and self.readable():
            b = self.rx.read(1)
            if not b:
                break
            out += b
        return out

    def empty(self):
        return self.head == self.tail and not self.later

    def put_frames(self, frames):
        """Queue raw frames (COBS + delimiter) for writing; only when empty()."""
        self.head = self.tail = 0
        self.later = frames
        self._fill()

    def put_bytes(self, data):
        n = len(data)
        if self.tail + n <= TX_BUF:
            self.buf[self.tail:self.tail + n] = data
            self.tail += n
            return True
        return False

    def _fill(self):
        later = self.later
        i = 0
        while i < len(later):
            end = cobs_encode_into(later[i], self.buf, self.tail)
            if end < 0:
                break
            self.tail = end
            i += 1
        self.later = later[i:] if i < len(later) else []

    def _packet(self, a, b):
        """buf[a:b] (b - a <= USB_PACKET) as a buffer made once, not per write."""
        n = b - a
        if n == USB_PACKET and a % USB_PACKET == 0:
            return self._packets[a // USB_PACKET]
        sc = self._scratch
        buf = self.buf
        for i in range(n):
            sc[i] = buf[a + i]
        return self._scratch_views[n]

    def pump(self):
        """Write what the port takes now; never waits for the host."""
        if self._backoff_until is not None:
            if compat.ticks_diff(compat.ticks_ms(), self._backoff_until) < 0:
                return
            self._backoff_until = None
        while True:
            if self.head == self.tail:
                if not self.later:
                    self.head = self.tail = 0
                    return
                self.head = self.tail = 0
                self._fill()
                continue
            if not compat.poll_flags(self._txp) & compat.POLLOUT:
                self.not_writable += 1
                return
            end = self.head + USB_PACKET
            if end > self.tail:
                end = self.tail
            t0 = compat.ticks_us()
            n = self.tx.write(self._packet(self.head, end))
            dt = compat.ticks_diff(compat.ticks_us(), t0)
            if dt > self.max_write_us:
                self.max_write_us = dt
            self.head += (end - self.head) if n is None else n
            if dt > SLOW_WRITE_US and self.measure_writes:
                self.stalls += 1
                self._backoff_until = compat.ticks_add(compat.ticks_ms(), STALL_BACKOFF_MS)
                return


def build_hardware(board, settings):
    """Pins and drivers for `board` (config.PINS). Imported `machine` is the board's,
    or the virtual device's shim."""
    import machine
    Pin = machine.Pin
    p = config.PINS[board]
    dout = Pin(p["HX711_DOUT"], Pin.IN)
    sck = Pin(p["HX711_SCK"], Pin.OUT, value=0)
    rate = None
    if settings.get("rate_wired") and p["HX711_RATE"] >= 0:
        rate = Pin(p["HX711_RATE"], Pin.OUT, value=1)
    hx = HX711(dout, sck, rate)
    if rate is not None:
        hx.set_rate(settings.get("rate_hz", 80))
    enc = None
    try:
        from .as5600 import ADDR, AS5600
        i2c = machine.I2C(config.I2C_ID[board], scl=Pin(p["I2C_SCL"]), sda=Pin(p["I2C_SDA"]),
                          freq=config.I2C_FREQ)
        if ADDR in i2c.scan():
            enc = AS5600(i2c)
    except (OSError, ValueError):
        enc = None
    pwm = led = adc = None
    if p["BUZZER"] >= 0:
        try:
            pwm = machine.PWM(Pin(p["BUZZER"]))
            pwm.duty_u16(0)
        except (OSError, ValueError):
            pwm = None
    if p["LED"] >= 0:
        led = Pin(p["LED"], Pin.OUT, value=0)
    if p["VBAT_ADC"] >= 0:
        try:
            adc = machine.ADC(Pin(p["VBAT_ADC"]))
            if hasattr(adc, "atten") and hasattr(machine.ADC, "ATTN_11DB"):
                adc.atten(machine.ADC.ATTN_11DB)
        except (OSError, ValueError):
            adc = None
    return {"hx": hx, "enc": enc, "pwm": pwm, "led": led, "adc": adc}


def device_id():
    try:
        import machine
        return "".join("%02X" % b for b in machine.unique_id())
    except Exception:
        return ""


def new_boot_id():
    try:
        import os
        b = os.urandom(4)
        v = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
    except Exception:
        v = compat.ticks_us()
    return v or 1


class App:
    def __init__(self, hw, storage, board, dev_id="", boot_id=None, fw_version=VERSION):
        self.storage = storage
        self.settings = storage.load()
        self.board = board
        self.device_id = dev_id
        self.boot_id = boot_id or new_boot_id()
        self.fw_version = fw_version
        self.hx = hw["hx"]
        self.enc = hw.get("enc")
        self.cue = Cue(hw.get("pwm"), hw.get("led"))
        self.battery = Battery(hw.get("adc"))
        self.sampler = Sampler(self.hx, self.enc, self.settings)
        self.sampler.on_tare = self._tare_changed
        self.sampler.on_rate = self._rate_learned
        self.commands = Commands(self)
        self.links = []
        self.ble = None             # the BleLink while the BLE glue runs (ble.run)
        self.rx_bad_frames = 0
        self.exit_requested = False
        self.task_restarts = 0
        self.save_pending = False   # settings changed: written to flash once no link streams
        self.wdt = None
        self._boot_ms = compat.ticks_ms()
        self._uptime_s = 0
        sensors = S_HX711
        if self.enc is not None:
            sensors |= S_AS5600
        if self.hx.rate_selectable:
            sensors |= S_RATE
        if hw.get("pwm") is not None:
            sensors |= S_BUZZER
        if hw.get("led") is not None:
            sensors |= S_LED
        if hw.get("adc") is not None:
            sensors |= S_BATTERY
        self.sensors = sensors
        if storage.errors:
            self.sampler.errors |= 0x0040

    def add_link(self, name):
        link = Link(name, self.settings["queue_len"], self.enc is not None)
        self.sampler.add_queue(link.queue)
        self.links.append(link)
        link.send(T_INFO, self.info_payload())  # announce the boot (new boot id) on every link
        return link

    def save(self):
        """Settings changed. Flash writes take tens of ms and stop everything, so while any link
        streams the write waits (flush_settings: at STOP, or as soon as nothing streams).
        Not streaming: written now, an OSError propagates (the command answers E_STORAGE)."""
        self.save_pending = True
        if not any(l.streaming for l in self.links):
            self.save_pending = False
            self.storage.save(self.settings)

    def flush_settings(self):
        """Write deferred settings if nothing streams now (STOP, status task, exit)."""
        if not self.save_pending or any(l.streaming for l in self.links):
            return False
        self.save_pending = False
        try:
            self.storage.save(self.settings)
        except OSError:
            self.sampler.errors |= ERR_STORAGE
        return True

    def _tare_changed(self, tare, n, source):
        """The zero moved (TARE command or automatic tare): every link gets a TARE frame naming the
        first sample (its own index) whose force uses the new zero, so hosts switch exactly there."""
        for link in self.links:
            link.send(T_TARE, encode_tare_payload(tare, link.queue.next_index, n, source))
        if source == TARE_AUTO:  # the TARE command saves in its own reply path
            self.save_pending = True  # streaming: written once it stops

    def _rate_learned(self):
        """RATE not wired and the chip's fixed rate is now known (App.run waits for it before adding its
        links, so this only reaches links when the chip was silent that long): a new INFO on each."""
        for link in self.links:
            link.send(T_INFO, self.info_payload())

    def info_payload(self):
        return encode_info_payload({
            "boot_id": self.boot_id, "sensors": self.sensors, "rate_hz": self.hx.rate_hz,
            "streaming": any(l.streaming for l in self.links), "ble_cal_writes": self.settings["ble_cal_writes"],
            "idle": self.sampler.idle, "fw_version": self.fw_version, "board": self.board,
            "device_id": self.device_id, "calibration": self.settings["cal"]})

    def status_payload(self, link):
        mv, pct = self.battery.read()
        if mv and mv < config.BATTERY_LOW_MV:
            self.sampler.errors |= ERR_BATTERY_LOW
        if not link.streaming:
            state = STATE_STOPPED
        elif self.sampler.idle:
            state = STATE_IDLE
        else:
            state = STATE_STREAMING
        return encode_status_payload({
            "battery_mv": mv, "battery_pct": pct, "state": state, "samples_total": link.queue.next_index,
            "dropped_total": link.queue.dropped, "errors": self.sampler.errors,
            "hx711_timeouts": self.sampler.hx711_timeouts, "rx_bad_frames": self.rx_bad_frames,
            "uptime_s": self.uptime_s(), "rate_chz": self.sampler.rate_chz,
            "task_restarts": self.task_restarts})

    def uptime_s(self):
        clk = self.sampler.clock
        clk.stamp()
        # (hi * 2^30 + lo) // 10^6 without a value of 2^30 or more for the first ~18 days
        return clk.hi * 1073 + (clk.hi * 741824 + clk.lo) // 1000000

    def log(self, level, message):
        """A TEXT frame on every link (0 info, 1 warning, 2 error)."""
        payload = bytes((level,)) + message.encode()[:200]
        for link in self.links:
            link.send(T_TEXT, payload)

    # --- tasks ---
    async def supervise(self, name, factory):
        """Run `factory()` (a coroutine function) until the app exits; when it raises, log it
        (TEXT frame, STATUS task_restarts and error bit) and start it again."""
        while not self.exit_requested:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any fault: report and restart
                self.task_restarts += 1
                self.sampler.errors |= ERR_TASK
                try:
                    self.log(2, "task %s failed: %s %s; restarted" % (name, type(e).__name__, e))
                except Exception:  # noqa: BLE001
                    pass
                await compat.sleep_ms(RESTART_DELAY_MS)

    async def status_task(self):
        while not self.exit_requested:
            await compat.sleep_ms(STATUS_PERIOD_MS)
            self.sampler.clock.stamp()  # keep the wide clock ahead of ticks_us wraps even when idle
            if self.sampler.check_stall(compat.ticks_ms()) and self.wdt is not None:
                self.wdt.feed()  # the loop runs and handles a stuck chip: no reset for that
            self.flush_settings()
            for link in self.links:
                if link.streaming:
                    link.send(T_STATUS, self.status_payload(link))

    async def serial_tx_task(self, link, port):
        # a lone delimiter first: whatever the receiver got before (boot banner, REPL text)
        # ends there as one discarded garbage run instead of swallowing our first frame
        if port.empty():
            port.put_bytes(b"\x00")
        while True:
            self.tx_pass(link, port)
            if self.exit_requested and port.empty() and not link.out:
                return  # the EXIT ack is out
            await compat.sleep_ms(TX_PERIOD_MS)

    @staticmethod
    def tx_pass(link, port):
        """Hand the port what it can take now (never waits). Control frames (a command's reply first
        of all) go ahead of queued samples: each fill takes them first, and when the port empties
        within this pass while one is waiting, a second fill sends it at once instead of 20 ms later
        behind the sample backlog a slow host left (only bytes already encoded go before it)."""
        again = True
        while again:
            again = False
            if port.empty():
                port.head = port.tail = 0
                frames = link.take_control()
                if frames:
                    port.put_frames(frames)
                if not port.later:
                    # sample batches straight from the queue into the TX buffer (no list, no frame
                    # object); samples that do not fit wait in the bounded queue, never in a frame
                    budget = TX_SAMPLES_PER_PASS
                    q = link.queue
                    buf = link.fbuf
                    while budget > 0 and q.count and port.tail + MAX_COBS_FRAME <= TX_BUF:
                        n = link.encode_batch(budget)
                        port.tail = cobs_encode_into(buf, port.buf, port.tail, n)
                        budget -= link.last_batch
            else:
                again = True  # a pass was in the buffer: one more fill if it goes out now
            port.pump()
            again = again and bool(link.out) and port.empty()

    async def serial_rx_task(self, link, port):
        while not self.exit_requested:
            data = port.read_available()
            if data:
                self.commands.feed_serial(data, link)
                if link.out:
                    self.tx_pass(link, port)  # answer now, not at the next 20 ms flush
            else:
                await compat.sleep_ms(RX_PERIOD_MS)

    async def run(self, serial=None, extra_tasks=()):
        """Run until EXIT. serial: a SerialPort for the USB link, or None. extra_tasks: coroutine
        functions (restarted like the others when they raise)."""
        sup = self.supervise
        tasks = [asyncio.create_task(sup("sampler", self.sampler.run)),
                 asyncio.create_task(sup("status", self.status_task)),
                 asyncio.create_task(sup("cue", self.cue.run))]
        for _ in range(RATE_LEARN_MS // 10):  # the sampler measures the fixed rate (EdgeTimer learning)
            if self.hx.rate_known or self.exit_requested:
                break
            await compat.sleep_ms(10)
        tx = None
        if serial is not None:
            link = self.add_link("usb")
            tasks.append(asyncio.create_task(sup("usb-rx", lambda: self.serial_rx_task(link, serial))))
            tx = asyncio.create_task(sup("usb-tx", lambda: self.serial_tx_task(link, serial)))
            tasks.append(tx)
        for i, fn in enumerate(extra_tasks):
            tasks.append(asyncio.create_task(sup("extra%d" % i, fn)))
        try:
            while not self.exit_requested:
                await compat.sleep_ms(100)
            for _ in range(50):  # let the EXIT ack go out (bounded: 1 s)
                if tx is None or tx.done():
                    break
                await compat.sleep_ms(TX_PERIOD_MS)
        finally:
            self.sampler.running = False
            for t in tasks:
                t.cancel()
            for l in self.links:
                l.queue.enabled = False
            self.flush_settings()


def start_watchdog(app):
    """machine.WDT fed by the sampler (and by the status task while it handles a stuck chip).
    It cannot be stopped once started; after EXIT a machine.Timer keeps feeding it so the
    REPL stays usable (see keep_feeding)."""
    try:
        import machine
        app.wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)
    except (ImportError, AttributeError, ValueError, OSError):
        app.wdt = None
    app.sampler.wdt = app.wdt
    return app.wdt


def keep_feeding(wdt):
    """Back in the REPL after EXIT: a hardware timer feeds the watchdog (it cannot be stopped)."""
    if wdt is None:
        return None
    try:
        import machine
        t = machine.Timer(0)
        t.init(period=WDT_TIMEOUT_MS // 4, mode=machine.Timer.PERIODIC, callback=lambda _t: wdt.feed())
        return t
    except (ImportError, AttributeError, ValueError, OSError, TypeError):
        return None


REPL_KEYS = (b"\r\x03", b"\x03\x03")  # mpremote's connect sequence; Ctrl-C pressed twice in a terminal


def boot_window(port, ms=BOOT_WINDOW_MS):
    """The way back to the REPL: for `ms` after boot, Enter + Ctrl-C (what mpremote sends as it
    connects) or Ctrl-C twice keeps the app from starting. A lone 0x03 is not enough: it occurs
    inside command frames a host may send at once (Ctrl-C is already off for that reason, so the
    window reads the bytes itself). Bytes that are not the REPL keys go to the app.
    Returns True when the REPL was asked for."""
    t0 = compat.ticks_ms()
    seen = b""
    while compat.ticks_diff(compat.ticks_ms(), t0) < ms:
        seen += port.read_available()
        for key in REPL_KEYS:
            if key in seen:
                return True
        compat.sleep_blocking_ms(10)
    port.pushback = seen  # a host that sent commands early: the app answers them
    return False


def safe_mode_file(root="/"):
    """A file `/holdsense.repl` makes the next boot stay in the REPL once (removed on use)."""
    import os
    path = root.rstrip("/") + "/holdsense.repl"
    try:
        os.stat(path)
    except OSError:
        return False
    try:
        os.remove(path)
    except OSError:
        pass
    return True


def main(board=None, stdin=None, stdout=None, root="/", boot_window_ms=BOOT_WINDOW_MS):
    """Board entry point (main.py). Streams frames on the USB REPL port, and over BLE when the
    MicroPython build has `bluetooth` and aioble is installed (docs/ble.md).

    First the REPL window (firmware/README.md "Back to the REPL"): Enter + Ctrl-C or Ctrl-C twice
    within `boot_window_ms`, or a `/holdsense.repl` file, returns None without starting the app.
    stdin/stdout/root: other streams and flash root (tests under the real interpreter).
    Returns the App after EXIT (on the WebAssembly port: a task giving it)."""
    return compat.run(main_async(board, stdin, stdout, root, boot_window_ms))


async def main_async(board=None, stdin=None, stdout=None, root="/", boot_window_ms=BOOT_WINDOW_MS):
    import sys
    import micropython
    rx = stdin if stdin is not None else getattr(sys.stdin, "buffer", sys.stdin)
    tx = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
    port = SerialPort(rx, tx, sys.stdin if stdin is None else None, sys.stdout if stdout is None else None)
    micropython.kbd_intr(-1)  # a 0x03 byte inside a frame must not interrupt us; EXIT restores it
    if safe_mode_file(root):
        micropython.kbd_intr(3)
        print("holdsense: /holdsense.repl found: staying in the REPL")
        return None
    if boot_window_ms:
        print("holdsense: Enter then Ctrl-C (or Ctrl-C twice) within %d ms for the REPL" % boot_window_ms)
        if boot_window(port, boot_window_ms):
            micropython.kbd_intr(3)
            print("holdsense: REPL")
            return None
    board = board or config.detect_board()
    storage = Storage(root)
    storage.recover()  # a power cut during the last save: put the newest complete settings back
    hw = build_hardware(board, storage.load())
    app = App(hw, storage, board, device_id())
    start_watchdog(app)
    from . import ble
    extra = [lambda: ble.run(app)] if ble.available() else []  # BLE beside USB on boards with bluetooth + aioble
    try:
        await app.run(port, extra_tasks=extra)
    finally:
        micropython.kbd_intr(3)
        keep_feeding(app.wdt)
    return app
