"""The firmware's BLE logic (holdsense_fw.ble.BleLink) under CPython, radio-free: the real App, Link,
Commands and Sampler over fake HX711 pins (shims below the drivers), a manual device clock, and a
`notify` callable standing in for the stack. Runs everywhere (no D-Bus needed)."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from holdsense.link import ble as host_ble
from holdsense.link import commands as C
from holdsense.link import frames as P
from holdsense.virtual import shims
from holdsense.virtual.hardware import FakeHX711


class Clock:
    def __init__(self) -> None:
        self.t_us = 1_000_000

    def __call__(self) -> int:
        return self.t_us


class Roller:
    """A firmware App on a fake board, with a BLE link; `sample(n)` runs n HX711 conversions."""

    def __init__(self, tmp: Path, settings: dict | None = None) -> None:
        self.clock = Clock()
        self.board = shims.install(shims.FakeBoard(self.clock))  # before the drivers import `machine`
        from holdsense_fw import app as fw_app
        from holdsense_fw import ble as fwble
        from holdsense_fw import compat
        from holdsense_fw.storage import Storage

        self.value = 84210
        self.hx = FakeHX711(self.board, 4, 5, None, lambda t: np.full(len(t), self.value), wander=False)
        self.hx.schedule_from(self.clock.t_us)
        self.board.adc_uv[1] = lambda: 1_950_000  # 3.9 V through the divider
        if settings:
            (tmp / "holdsense.json").write_text(json.dumps(settings))
        st = Storage(str(tmp))
        self.app = fw_app.App(fw_app.build_hardware("esp32s3", st.load()), st, "esp32s3", fw_app.device_id(),
                              boot_id=0x1234)
        # RATE is not wired: App.run adds its links once the sampler has measured the chip's fixed rate
        # from the first conversions; so does this roller
        while not self.app.hx.rate_known:
            self.clock.t_us = max(self.clock.t_us, self.hx.next_edge_us)
            self.hx.convert()
            self.app.hx.stamp = compat.ticks_us()
            self.app.sampler.step()
        self.bl = fwble.BleLink(self.app)
        self.fw = fwble
        self.sent: list[bytes] = []
        self.refuse = False
        self.seq = 0

    @property
    def now_ms(self) -> int:
        return self.clock.t_us // 1000

    def notify(self, frame: bytes) -> None:
        if self.refuse:
            raise OSError("ENOMEM")
        self.sent.append(bytes(frame))

    def sample(self, n: int, poll_every_ms: int | None = 5) -> None:
        """n conversions at the chip's rate; the tx task polls every `poll_every_ms` meanwhile."""
        from holdsense_fw import compat

        next_poll = self.clock.t_us
        for _ in range(n):
            edge = self.hx.next_edge_us
            while poll_every_ms and next_poll < edge:
                self.clock.t_us = max(self.clock.t_us, next_poll)
                self.bl.tx_step(self.now_ms, self.notify)
                next_poll += poll_every_ms * 1000
            self.clock.t_us = max(self.clock.t_us, edge)
            self.hx.convert()
            self.app.hx.stamp = compat.ticks_us()
            self.app.sampler.step()

    def write_cmd(self, name: str, crc_ok: bool = True, **kw) -> None:
        self.seq += 1
        raw = bytearray(C.encode_command(name, self.seq, framing="raw", **kw))
        if not crc_ok:
            raw[-1] ^= 0xFF
        self.bl.on_write(bytes(raw))

    def frames(self) -> list[P.Frame]:
        return [P.decode_raw(f) for f in self.sent]

    def replies(self) -> list[C.Reply]:
        return [C.parse_reply(f) for f in self.frames() if f.type in (P.FrameType.ACK, P.FrameType.ERROR)]


@pytest.fixture
def roller(tmp_path: Path) -> Iterator[Roller]:
    made: list[Roller] = []

    def make(settings: dict | None = None) -> Roller:
        r = Roller(tmp_path, settings)
        made.append(r)
        return r

    yield make
    from holdsense_fw import compat
    import time

    for r in made:
        shims.uninstall(r.board)
    compat.set_clock(lambda: time.monotonic_ns() // 1000, 1.0)


def samples_of(frames: list[P.Frame], flags: list[int] | None = None) -> list[tuple[int, int, list[int]]]:
    """(first_index, n, [t_us...]) of each SAMPLES frame; per-sample wire flags appended to `flags`."""
    out = []
    for f in frames:
        if f.type == P.FrameType.SAMPLES:
            _layout, n, first, t0 = struct.unpack_from("<BBII", f.payload, 0)
            rl = 11 if _layout & 1 else 7
            ts, t = [], t0
            for k in range(n):
                o = 10 + k * rl
                t += f.payload[o] | (f.payload[o + 1] << 8) | (f.payload[o + 2] << 16)
                ts.append(t)
                if flags is not None:
                    flags.append(f.payload[o + 6])
            out.append((first, n, ts))
    return out


def test_constants_agree_between_firmware_and_host():
    from holdsense_fw import ble as fwble
    from holdsense_fw import VERSION

    assert (fwble.SERVICE_UUID, fwble.DATA_UUID, fwble.COMMAND_UUID) == \
        (host_ble.SERVICE_UUID, host_ble.DATA_UUID, host_ble.COMMAND_UUID)
    assert fwble.COMPANY_ID == host_ble.COMPANY_ID and fwble.NAME_PREFIX == host_ble.NAME_PREFIX
    assert fwble.adv_name(b"\x7c\xdf\xa1\x00\x11\x22") == "holdsense-1122"
    assert fwble.adv_name(bytes([1, 2, 3, 4, 0xAB, 0x0C])) == "holdsense-AB0C"
    md = fwble.manufacturer_payload(VERSION, 73, fwble.ADV_STATE_STREAMING)
    assert host_ble.parse_manufacturer_data(md) == {"protocol": 1, "fw_version": VERSION, "battery_pct": 73,
                                                    "streaming": True, "ble_cal_writes": False}
    assert host_ble.parse_manufacturer_data(fwble.manufacturer_payload("2.10.3rc1", 255, 2))["battery_pct"] is None
    assert host_ble.parse_manufacturer_data(b"xx\x01\x00\x01\x00\x10\x00") is None  # someone else's data
    assert fwble.version_triple("1.2") == (1, 2, 0)


@pytest.mark.parametrize("mtu,angle,expect", [(247, True, 20), (247, False, 32), (23, False, 0), (23, True, 0),
                                              (50, False, 4), (517, True, 20), (40, True, 2), (36, True, 1)])
def test_samples_per_notification_fits_the_mtu(mtu, angle, expect):
    from holdsense_fw import ble as fwble

    n = fwble.samples_per_notification(mtu, angle)
    assert n == expect
    if n:  # the frame it makes really fits one notification
        rec = 11 if angle else 7
        assert 3 + 10 + n * rec + 2 <= mtu - 3


def test_nothing_is_sent_until_the_central_writes_then_replies_go_out(roller):
    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    r.sample(10)
    assert r.sent == []  # connected, but the host has not shown it listens yet
    r.write_cmd("INFO")
    r.sample(2)
    (rep,) = r.replies()
    assert rep.ok and rep.result.boot_id == 0x1234 and rep.result.fw_version == r.app.fw_version


def test_samples_are_batched_by_age_and_never_wait_past_25_ms(roller):
    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    r.write_cmd("START")
    r.sample(400)
    batches = samples_of(r.frames())
    firsts = [b[0] for b in batches]
    ns = [b[1] for b in batches]
    assert firsts[0] == 0 and all(f1 == f0 + n0 for f0, n0, f1 in zip(firsts, ns, firsts[1:]))  # no loss
    assert sum(ns) >= 395 and 1.8 <= np.mean(ns) <= 3.5  # 80 SPS, flushed about every 25 ms
    # the oldest sample of each notification was at most ~25 ms old when it went out: spans stay short
    spans_ms = [(ts[-1] - ts[0]) / 1000 for _f, _n, ts in batches]
    assert max(spans_ms) <= 25.0


def test_a_full_notification_goes_at_once_at_a_small_mtu(roller):
    r = roller()
    r.bl.flush_ms = 10_000  # only a full notification may trigger a send in this test
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(50)  # 4 samples (force only) per notification
    r.write_cmd("START")
    sent_at: list[int] = []
    notify = r.notify

    def timed(frame: bytes) -> None:
        notify(frame)
        sent_at.append(r.app.sampler.clock.wide())  # the device clock the samples are stamped with

    r.notify = timed
    r.sample(101, poll_every_ms=1)
    assert r.app.enc is None and r.bl.per_notification == 4
    frames = r.frames()
    assert all(len(raw) <= 50 - 3 for raw, f in zip(r.sent, frames) if f.type == P.FrameType.SAMPLES)
    batches = samples_of(frames)
    assert [n for _f, n, _t in batches] == [4] * 25
    # START's INFO frame cannot fit 47 bytes: dropped whole (never sent cut), and a TEXT says why
    assert P.FrameType.INFO not in [f.type for f in frames] and r.bl.oversize == 1
    (text,) = [f for f in frames if f.type == P.FrameType.TEXT]
    assert text.payload[0] == 2 and text.payload[1:].decode().startswith("MTU 50 too small, need ")
    # each went out within a poll (1 ms) of its 4th sample, not after the 25 ms age limit
    at = [t for t, f in zip(sent_at, frames) if f.type == P.FrameType.SAMPLES]
    for (_f, _n, ts), t_sent in zip(batches, at):
        assert 0 <= t_sent - ts[-1] <= 1000 + 1


@pytest.mark.parametrize("mtu", [23, 26, 33, 34, 60])
def test_the_mtu_too_small_text_itself_fits_down_to_the_minimum_mtu(roller, mtu):
    """At an ATT MTU that cannot carry the INFO reply (the BLE minimum, 23, when the MTU exchange fails),
    the TEXT that says why must itself fit one notification, or the central hears nothing at all."""
    import re

    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(mtu)
    r.write_cmd("INFO")
    r.sample(3)
    assert r.bl.oversize == 1
    assert all(len(raw) <= mtu - 3 for raw in r.sent)
    frames = r.frames()
    assert P.FrameType.ACK not in [f.type for f in frames]  # the INFO reply does not fit: never sent cut
    (text,) = [f for f in frames if f.type == P.FrameType.TEXT]
    m = re.fullmatch(r"MTU (\d+) (?:too small, )?need (\d+)", text.payload[1:].decode())
    assert text.payload[0] == 2 and m and int(m.group(1)) == mtu and int(m.group(2)) > mtu


def test_a_slow_link_never_stalls_sampling_and_the_loss_is_exact(roller):
    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    r.write_cmd("START")
    r.sample(40)
    r.refuse = True  # the stack takes nothing: frames are retried, the queue fills and drops
    n_before = r.app.sampler.samples_seen
    r.sample(400)
    assert r.app.sampler.samples_seen == n_before + 400  # the sampler kept going
    q = r.bl.link.queue
    assert q.dropped > 100 and q.count == q.cap and r.bl.retries > 0
    r.refuse = False
    r.sample(300)
    flags: list[int] = []
    batches = samples_of(r.frames(), flags)
    got = sum(n for _f, n, _t in batches)
    last_first, last_n, _ = batches[-1]
    # every index either arrived or was counted as dropped by the device
    assert got + q.dropped == last_first + last_n
    # the first sample after the overflow carries DROPPED
    assert sum(1 for x in flags if x & P.F_DROPPED) == 1
    st = C.parse_status(r.app.status_payload(r.bl.link))
    assert st["dropped_total"] == q.dropped and "queue_overflow" in " ".join(st["errors"]).replace(" ", "_")


def test_bad_writes_are_counted_and_never_answered(roller):
    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    r.write_cmd("INFO", crc_ok=False)
    r.bl.on_write(b"\x10\x00")  # too short to be a frame
    r.sample(4)
    assert r.sent == [] and r.bl.bad_writes == 2 and r.app.rx_bad_frames == 2
    r.write_cmd("STATUS", clear=0)
    r.sample(4)
    (rep,) = r.replies()
    assert rep.ok and rep.result["rx_bad_frames"] == 2 and "bad_frame" in " ".join(rep.result["errors"]).replace(" ", "_")


def test_calibration_writes_refused_over_ble_unless_enabled_over_usb(roller):
    r = roller()
    usb = r.app.add_link("usb")
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    cal = P.Calibration(tare_counts=84000, counts_to_n=[0.0, 0.02])
    r.write_cmd("SET_CAL", calibration=cal)
    r.write_cmd("CLEAR_CAL")
    r.write_cmd("BLE_CAL", enable=1)  # BLE cannot unlock itself
    r.sample(3)
    reps = r.replies()
    assert [x.ok for x in reps] == [False, False, False]
    assert all(x.code == P.ErrorCode.REFUSED for x in reps)
    assert "over BLE" in reps[0].message and "USB" in reps[0].message
    assert r.app.settings["cal"]["counts_to_n"] == [0.0, 0.0123] or not r.app.settings["cal"]["fitted"]
    # enabled over USB (the BLE_CAL command on the USB link), BLE may write calibration
    r.app.commands.handle(P.FrameType.CMD, 7, bytes([P.Cmd.BLE_CAL, 1]), usb)
    ack = C.parse_reply(P.decode_raw(usb.take_frames()[-1]))
    assert ack.ok and r.app.settings["ble_cal_writes"] is True
    r.sent.clear()
    r.write_cmd("SET_CAL", calibration=cal)
    r.sample(3)
    (rep,) = r.replies()
    assert rep.ok and rep.result.counts_to_n[1] == pytest.approx(0.02) and r.app.settings["cal"]["fitted"]
    assert host_ble.parse_manufacturer_data(r.bl.manufacturer_data())["ble_cal_writes"] is True


def test_after_a_link_loss_the_session_lingers_then_stops(roller):
    from holdsense_fw import ble as fwble

    r = roller()
    r.bl.on_connect(r.now_ms)
    r.bl.on_mtu(247)
    r.write_cmd("START")
    r.sample(20)
    r.bl.on_disconnect(r.now_ms)
    r.sample(80)  # ~1 s: still counting into the queue, so a reconnect resumes with exact indices
    assert r.bl.link.queue.enabled and r.bl.link.queue.count > 0
    assert host_ble.parse_manufacturer_data(r.bl.manufacturer_data())["streaming"] is True
    r.clock.t_us += fwble.LINGER_MS * 1000
    r.bl.tx_step(r.now_ms, r.notify)
    assert not r.bl.link.queue.enabled and r.bl.link.queue.count == 0
    # a new central starts clean: nothing stale is sent before it writes
    r.sent.clear()
    r.bl.on_connect(r.now_ms)
    r.sample(10)
    assert r.sent == [] and r.bl.connections == 2


def test_device_information_and_battery(roller):
    from holdsense_fw import ble as fwble

    r = roller()
    dis = r.bl.device_information()
    assert dis[fwble.FIRMWARE_REVISION] == r.app.fw_version.encode()
    assert dis[fwble.MODEL_NUMBER] == b"esp32s3" and dis[fwble.MANUFACTURER_NAME] == b"holdsense"
    assert dis[fwble.SERIAL_NUMBER] == b"7CDFA1001122"
    assert r.bl.has_battery and r.bl.battery_level() == bytes([70])  # 3.9 V on the Li-ion curve


@pytest.mark.micropython
def test_ble_link_under_real_micropython():
    """The same BleLink logic under the real MicroPython interpreter (WebAssembly port, `make node`)."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    fwtests = root / "tests" / "firmware"
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: install nodejs and npm, then `make node` (MicroPython WebAssembly tests)")
    if not (fwtests / "node_modules" / "@micropython" / "micropython-webassembly-pyscript").exists():
        pytest.skip("MicroPython WebAssembly port missing: run `make node` (npm install in tests/firmware)")
    res = subprocess.run([node, str(fwtests / "run_micropython.mjs"), str(root / "firmware"),
                          str(root / "tests" / "golden" / "protocol_vectors.json"),
                          str(Path(__file__).with_name("mp_ble_checks.py"))],
                         capture_output=True, text=True, timeout=120, cwd=fwtests)
    assert res.returncode == 0, f"MicroPython BLE checks failed:\n{res.stdout}\n{res.stderr}"
    assert "helpers ok" in res.stdout and "batching ok" in res.stdout and "MP-OK" in res.stdout
