# Wiring: hardware from config, sampler, command handler, links, asyncio tasks.
#   sensor_task (Sampler.run) -> per-link SampleQueue -> serial_tx_task (USB)
#   serial_rx_task (USB) -> Commands -> link outbox
# BLE seam: link = app.add_link("ble"); a ble task sends link.take_frames() as
# notifications (one raw frame each) and passes each written frame to
# app.commands.handle(*frame.decode_frame(raw), link). Nothing else changes.
import struct

from . import VERSION, compat, config
from .battery import Battery
from .commands import Commands
from .cue import Cue
from .frame import (S_AS5600, S_BATTERY, S_BUZZER, S_HX711, S_LED, S_RATE, STATE_IDLE,
                    STATE_STOPPED, STATE_STREAMING, T_INFO, T_STATUS, T_TARE, TARE_AUTO, ERR_BATTERY_LOW,
                    ERR_STORAGE, cobs_encode, encode_info_payload, encode_status_payload,
                    encode_tare_payload)
from .hx711 import HX711
from .link import Link
from .sampler import Sampler
from .storage import Storage

asyncio = compat.asyncio

TX_PERIOD_MS = 20      # flush serial every 20 ms: low latency, a few samples per frame
STATUS_PERIOD_MS = 1000


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
        self.commands = Commands(self)
        self.links = []
        self.rx_bad_frames = 0
        self.exit_requested = False
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
        self.storage.save(self.settings)

    def _tare_changed(self, tare, n, source):
        """The zero moved (TARE command or automatic tare): every link gets a TARE frame naming the
        first sample (its own index) whose force uses the new zero, so hosts switch exactly there."""
        for link in self.links:
            link.send(T_TARE, encode_tare_payload(tare, link.queue.next_index, n, source))
        if source == TARE_AUTO:  # the TARE command saves in its own reply path
            try:
                self.save()
            except OSError:
                self.sampler.errors |= ERR_STORAGE

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
            "uptime_s": self.uptime_s(), "rate_chz": self.sampler.rate_chz})

    def uptime_s(self):
        return self.sampler.clock.wide() // 1000000

    # --- tasks ---
    async def status_task(self):
        while not self.exit_requested:
            await compat.sleep_ms(STATUS_PERIOD_MS)
            self.sampler.clock.wide()  # keep the wide clock ahead of ticks_us wraps even when idle
            for link in self.links:
                if link.streaming:
                    link.send(T_STATUS, self.status_payload(link))

    async def serial_tx_task(self, link, writer):
        # a lone delimiter first: whatever the receiver got before (boot banner, REPL text)
        # ends there as one discarded garbage run instead of swallowing our first frame
        writer.write(b"\x00")
        while not self.exit_requested:
            frames = link.take_frames()
            if frames:
                writer.write(b"".join([cobs_encode(f) + b"\x00" for f in frames]))
                await writer.drain()
            await compat.sleep_ms(TX_PERIOD_MS)

    async def serial_rx_task(self, link, reader):
        while not self.exit_requested:
            data = await reader.read(64)
            if not data:
                await compat.sleep_ms(50)
                continue
            self.commands.feed_serial(data, link)

    async def run(self, serial=None, extra_tasks=()):
        """Run until EXIT. serial: (reader, writer) asyncio streams for the USB link, or None."""
        tasks = [asyncio.create_task(self.sampler.run()), asyncio.create_task(self.status_task()),
                 asyncio.create_task(self.cue.run())]
        if serial is not None:
            link = self.add_link("usb")
            tasks.append(asyncio.create_task(self.serial_rx_task(link, serial[0])))
            tasks.append(asyncio.create_task(self.serial_tx_task(link, serial[1])))
        for coro in extra_tasks:
            tasks.append(asyncio.create_task(coro))
        try:
            while not self.exit_requested:
                await compat.sleep_ms(100)
            await compat.sleep_ms(2 * TX_PERIOD_MS)  # let the EXIT ack go out
        finally:
            self.sampler.running = False
            for t in tasks:
                t.cancel()


def main(board=None):
    """Board entry point (main.py). Streams frames on the USB REPL port, and over BLE when the
    MicroPython build has `bluetooth` and aioble is installed (docs/ble.md)."""
    import sys
    import micropython
    board = board or config.detect_board()
    storage = Storage("/")
    hw = build_hardware(board, storage.load())
    app = App(hw, storage, board, device_id())
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    stdout = getattr(sys.stdout, "buffer", sys.stdout)
    reader = asyncio.StreamReader(stdin)
    writer = asyncio.StreamWriter(stdout, {})
    micropython.kbd_intr(-1)  # a 0x03 byte inside a frame must not interrupt us; EXIT restores it
    from . import ble
    extra = [ble.run(app)] if ble.available() else []  # BLE beside USB on boards with bluetooth + aioble
    try:
        asyncio.run(app.run((reader, writer), extra_tasks=extra))
    finally:
        micropython.kbd_intr(3)
