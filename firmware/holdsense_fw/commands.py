# Command handling: one CMD frame in, exactly one ACK or ERROR out (TARE answers
# when its samples are in). Pure logic over the App's parts; same on every link.
import struct

from .frame import (C_BATTERY, C_BLE_CAL, C_CLEAR_CAL, C_CUE, C_EXIT, C_GET_CAL, C_IDLE, C_INFO,
                    C_SET_CAL, C_SET_RATE, C_START, C_STATUS, C_STOP, C_TARE, E_BAD_ARGS, E_BUSY,
                    E_REFUSED, E_STORAGE, E_UNKNOWN, E_UNSUPPORTED, ERR_RX_FRAME, ERR_STORAGE, T_CMD, T_INFO,
                    decode_cal, encode_cal)


class Commands:
    def __init__(self, app):
        self.app = app
        self._table = {
            C_INFO: self.info, C_START: self.start, C_STOP: self.stop, C_TARE: self.tare,
            C_GET_CAL: self.get_cal, C_SET_CAL: self.set_cal, C_CLEAR_CAL: self.clear_cal,
            C_SET_RATE: self.set_rate, C_BATTERY: self.battery, C_STATUS: self.status,
            C_CUE: self.cue, C_IDLE: self.idle, C_BLE_CAL: self.ble_cal, C_EXIT: self.exit,
        }

    def feed_serial(self, data, link):
        """Bytes from a serial link: deframe and handle every command in them."""
        before = link.deframer.errors
        for ftype, seq, payload in link.deframer.feed(data):
            self.handle(ftype, seq, payload, link)
        if link.deframer.errors != before:
            self.app.rx_bad_frames += link.deframer.errors - before
            self.app.sampler.errors |= ERR_RX_FRAME

    def handle(self, ftype, seq, payload, link):
        if ftype != T_CMD:
            return  # hosts send only commands; anything else is ignored
        if not payload:
            link.error(seq, 0, E_BAD_ARGS, "empty command")
            return
        cmd = payload[0]
        fn = self._table.get(cmd)
        if fn is None:
            link.error(seq, cmd, E_UNKNOWN, "unknown command 0x%02x" % cmd)
            return
        try:
            fn(seq, cmd, payload[1:], link)
        except (ValueError, IndexError, TypeError) as e:
            link.error(seq, cmd, E_BAD_ARGS, "bad arguments: %s" % e)
        except OSError as e:
            self.app.sampler.errors |= ERR_STORAGE
            link.error(seq, cmd, E_STORAGE, "storage error: %s" % e)

    # --- commands ---
    def info(self, seq, cmd, args, link):
        link.ack(seq, cmd, self.app.info_payload())

    def start(self, seq, cmd, args, link):
        link.queue.enabled = True  # first: the INFO sent now has its streaming bit set
        link.ack(seq, cmd)
        link.send(T_INFO, self.app.info_payload())

    def stop(self, seq, cmd, args, link):
        link.queue.enabled = False
        link.queue.clear()
        link.ack(seq, cmd)
        self.app.flush_settings()  # settings changed while streaming reach flash now

    def tare(self, seq, cmd, args, link):
        n = struct.unpack_from("<H", args, 0)[0] if len(args) >= 2 else 0
        if n == 0:
            n = self.app.settings["tare_samples"]
        if n > 2000:
            raise ValueError("at most 2000 samples")
        app = self.app

        def done(tare, used):
            app.save_pending = True  # runs inside the sampler: flash is written later (status task, STOP)
            link.ack(seq, cmd, struct.pack("<iH", tare, used))

        try:
            app.sampler.request_tare(n, done)
        except ValueError:
            link.error(seq, cmd, E_BUSY, "a tare is already running")

    def get_cal(self, seq, cmd, args, link):
        link.ack(seq, cmd, encode_cal(self.app.settings["cal"]))

    def _cal_allowed(self, seq, cmd, link):
        if link.name != "usb" and not self.app.settings["ble_cal_writes"]:
            link.error(seq, cmd, E_REFUSED, "calibration writes over BLE are disabled (enable over USB)")
            return False
        return True

    def set_cal(self, seq, cmd, args, link):
        if not self._cal_allowed(seq, cmd, link):
            return
        cal, end = decode_cal(args, 0)
        if end != len(args) or not cal["counts_to_n"]:
            raise ValueError("calibration block")
        cal["fitted"] = True
        self.app.settings["cal"] = cal
        self.app.save()
        link.ack(seq, cmd, encode_cal(cal))

    def clear_cal(self, seq, cmd, args, link):
        if not self._cal_allowed(seq, cmd, link):
            return
        from .config import NOMINAL_CAL
        cal = dict(NOMINAL_CAL)
        cal["tare_counts"] = self.app.settings["cal"]["tare_counts"]
        self.app.settings["cal"] = cal
        self.app.save()
        link.ack(seq, cmd, encode_cal(cal))

    def set_rate(self, seq, cmd, args, link):
        hz = args[0]
        if hz not in (10, 80):
            raise ValueError("rate must be 10 or 80")
        try:
            self.app.hx.set_rate(hz)
        except ValueError:
            hx = self.app.hx
            if hx.rate_known:  # learned from the chip (RATE tied to GND: 10, to VCC: 80)
                msg = "RATE pin not wired: fixed at %d SPS" % hx.rate_hz
            else:
                msg = "RATE pin not wired: fixed rate not measured yet (no conversions)"
            link.error(seq, cmd, E_UNSUPPORTED, msg)
            return
        self.app.sampler.rate_changed()
        self.app.settings["rate_hz"] = hz
        self.app.save()
        link.ack(seq, cmd, bytes((hz,)))

    def battery(self, seq, cmd, args, link):
        mv, pct = self.app.battery.read()
        link.ack(seq, cmd, struct.pack("<HB", mv, pct))

    def status(self, seq, cmd, args, link):
        link.ack(seq, cmd, self.app.status_payload(link))
        if args and args[0]:
            self.app.sampler.errors = 0

    def cue(self, seq, cmd, args, link):
        pattern = args[0]
        repeat = args[1] if len(args) > 1 else 1
        self.app.cue.play(pattern, repeat)
        link.ack(seq, cmd)

    def idle(self, seq, cmd, args, link):
        # 1.0: idle_after_s u16, decimation u8, load_counts u32; 1.1 adds auto_tare_after_s u16
        # (0 = automatic tare off). Without it the automatic tare setting is kept.
        if len(args) not in (7, 9):
            raise ValueError("IDLE takes 7 or 9 bytes")
        a, d, c = struct.unpack_from("<HBI", args, 0)
        if d < 1:
            raise ValueError("decimation >= 1")
        s = self.app.settings
        s["idle_after_s"] = a
        s["idle_decimation"] = d
        s["load_counts"] = c
        if len(args) == 9:
            s["auto_tare_after_s"] = struct.unpack_from("<H", args, 7)[0]
            self.app.sampler.autotare.reset()
        self.app.save()
        link.ack(seq, cmd, struct.pack("<HBIH", a, d, c, s.get("auto_tare_after_s", 0)))

    def ble_cal(self, seq, cmd, args, link):
        if link.name != "usb":
            link.error(seq, cmd, E_REFUSED, "only over USB")
            return
        self.app.settings["ble_cal_writes"] = bool(args[0])
        self.app.save()
        link.ack(seq, cmd, bytes((1 if args[0] else 0,)))

    def exit(self, seq, cmd, args, link):
        if link.name != "usb":
            link.error(seq, cmd, E_REFUSED, "only over USB")
            return
        link.ack(seq, cmd)
        self.app.exit_requested = True
