# Command handling: one CMD frame in, exactly one ACK or ERROR out (TARE answers
# when its samples are in). Pure logic over the App's parts; same on every link.
# Arguments are checked explicitly (lengths before any unpacking, then values), never by
# catching what struct raises: CPython raises struct.error (no ValueError) where MicroPython
# raises ValueError, and an exception that escapes restarts the link's receive task unanswered.
import struct

from .frame import (C_BATTERY, C_BLE_CAL, C_CLEAR_CAL, C_CUE, C_EXIT, C_GET_CAL, C_IDLE, C_INFO,
                    C_SET_CAL, C_SET_RATE, C_START, C_STATUS, C_STOP, C_TARE, E_BAD_ARGS, E_BUSY,
                    E_REFUSED, E_SENSOR, E_STORAGE, E_UNKNOWN, E_UNSUPPORTED, ERR_RX_FRAME, ERR_STORAGE, MAX_COEFFS,
                    T_CMD, T_INFO, decode_cal, encode_cal)

# Argument lengths (bytes after `cmd`) of the commands that take arguments (docs/protocol.md §5);
# SET_CAL's depends on its coefficient count (checked in set_cal). Commands that take no arguments
# ignore any bytes after `cmd`.
ARG_LENGTHS = {C_TARE: (0, 2), C_SET_RATE: (1,), C_STATUS: (0, 1), C_CUE: (1, 2), C_IDLE: (7, 9), C_BLE_CAL: (1,)}
NAMES = {C_TARE: "TARE", C_SET_CAL: "SET_CAL", C_SET_RATE: "SET_RATE", C_STATUS: "STATUS", C_CUE: "CUE",
         C_IDLE: "IDLE", C_BLE_CAL: "BLE_CAL"}
MAX_TARE_SAMPLES = 2000


class BadArgs(Exception):
    """A command's arguments are wrong: answered ERROR 2 with this text."""


def _finite(x):
    return x - x == 0.0  # False for inf (inf - inf is NaN) and NaN; no math import needed


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
        """Bytes from a serial link: deframe and handle every command in them (none after EXIT)."""
        before = link.deframer.errors
        for ftype, seq, payload in link.deframer.feed(data):
            if self.app.exit_requested:
                break  # EXIT's ACK was the last frame: later commands are the REPL's business
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
        args = payload[1:]
        lengths = ARG_LENGTHS.get(cmd)
        if lengths is not None and len(args) not in lengths:
            want = " or ".join([str(n) for n in lengths])
            link.error(seq, cmd, E_BAD_ARGS, "%s takes %s argument %s, not %d"
                       % (NAMES[cmd], want, "byte" if want == "1" else "bytes", len(args)))
            return
        try:
            fn(seq, cmd, args, link)
        except BadArgs as e:
            link.error(seq, cmd, E_BAD_ARGS, str(e.args[0]))
        except (ValueError, IndexError, TypeError) as e:  # not expected after the checks: still one answer
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
        n = struct.unpack_from("<H", args, 0)[0] if args else 0  # 0 or 2 bytes (ARG_LENGTHS)
        if n > MAX_TARE_SAMPLES:
            raise BadArgs("TARE: at most %d samples, not %d" % (MAX_TARE_SAMPLES, n))
        if n == 0:
            n = self.app.settings["tare_samples"]
        app = self.app

        def done(tare, used):
            app.save_pending = True  # runs inside the sampler: flash is written later (status task, STOP)
            link.ack(seq, cmd, struct.pack("<iH", tare, used))

        def failed(message):
            link.error(seq, cmd, E_SENSOR, "TARE: " + message)

        try:
            app.sampler.request_tare(n, done, failed)
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
        # the block: tare_counts i32, cal_flags u8, n u8, n x float32, residual_n float32
        if len(args) < 6:
            raise BadArgs("SET_CAL takes a calibration block (10 + 4 n bytes), not %d bytes" % len(args))
        n = args[5]
        if n < 1 or n > MAX_COEFFS:
            raise BadArgs("SET_CAL: 1 to %d coefficients, not %d" % (MAX_COEFFS, n))
        if len(args) != 10 + 4 * n:
            raise BadArgs("SET_CAL with %d coefficients takes %d bytes, not %d" % (n, 10 + 4 * n, len(args)))
        cal, _ = decode_cal(args, 0)
        for c in cal["counts_to_n"]:
            if not _finite(c):
                raise BadArgs("SET_CAL: coefficients must be finite numbers")
        # a force that does not change with the counts reads one value for any load and switches the
        # automatic tare off (it needs a slope): a wrong block, never a calibration
        if not any(c != 0 for c in cal["counts_to_n"][1:]):
            raise BadArgs("SET_CAL: force must depend on the counts (a coefficient after the offset is nonzero)")
        if cal["residual_n"] is not None and not _finite(cal["residual_n"]):  # NaN (unknown) is None here
            raise BadArgs("SET_CAL: residual_n must be finite or NaN (unknown)")
        if not self._cal_allowed(seq, cmd, link):
            return
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
        if hz != 10 and hz != 80:
            raise BadArgs("SET_RATE: rate_hz must be 10 or 80, not %d" % hz)
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
        repeat = args[1] if len(args) > 1 else 1  # Cue.play clamps it to 1..10
        try:
            self.app.cue.play(pattern, repeat)
        except ValueError:
            raise BadArgs("CUE: unknown pattern %d (0-5)" % pattern)
        link.ack(seq, cmd)

    def idle(self, seq, cmd, args, link):
        # 1.0: idle_after_s u16, decimation u8, load_counts u32; 1.1 adds auto_tare_after_s u16
        # (0 = automatic tare off). Without it the automatic tare setting is kept.
        a, d, c = struct.unpack_from("<HBI", args, 0)  # 7 or 9 bytes (ARG_LENGTHS)
        if d < 1:
            raise BadArgs("IDLE: decimation must be at least 1")
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
        # the ACK is the last frame (mpremote gets the REPL next): before any tx pass sends it, the link
        # stops streaming and drops its queued samples, and queues nothing more (STATUS, TARE, replies)
        link.close()
        self.app.exit_requested = True
