"""Device client over a real pty, against a scripted roller speaking the firmware's own framing code.

The scripted roller (`ScriptedRoller`) uses `holdsense_fw.frame` (the firmware's
encoders) and gives each fault precisely: lost frames, garbage, a reboot, an
unplug and replug at the same path, silence, a foreign protocol version. The
end-to-end tests in tests/e2e run the real virtual device.
"""
from __future__ import annotations

import os
import struct
import threading
import time
import tty

import numpy as np
import pytest

from holdsense.device import Device, DeviceTimeout
from holdsense.errors import DeviceError
from holdsense.notifier import Gap, Info, Notifier, Samples, Status
from holdsense_fw import frame as fw
from rollsignal import FLAG_GAP

RATE_HZ = 80
DT_US = 12500
CAL = {"tare_counts": 1000, "counts_to_n": [0.0, 0.01], "residual_n": 0.2, "fitted": True}


class ScriptedRoller:
    """A pty peer streaming SAMPLES frames at `speed` × 80 Hz and answering commands."""

    def __init__(self, link: str, *, speed: float = 10.0, proto_major: int = fw.PROTO_MAJOR,
                 silent: bool = False, has_angle: bool = True, garbage_only: bool = False) -> None:
        self.link = link
        self.speed = speed
        self.proto_major = proto_major
        self.silent = silent
        self.garbage_only = garbage_only
        self.has_angle = has_angle
        self.boot_id = 0x1234
        self.cal = dict(CAL)
        self.lock = threading.RLock()
        self.streaming = False
        self.index = 0
        self.t_us = 5_000_000
        self.seq = 0
        self.drop_frames = 0
        self.commands: list[int] = []
        self.stop_flag = threading.Event()
        self.master = -1
        self._plug()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # -- link -----------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo before the host opens it
        path = os.ttyname(slave)
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(path, tmp)
        os.replace(tmp, self.link)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.deframer = fw.Deframer()

    def unplug(self, for_s: float) -> None:
        with self.lock:
            os.close(self.master)
            os.close(self._slave)
            self.master = -1
        time.sleep(for_s)
        with self.lock:
            self._plug()

    def reboot(self) -> None:
        with self.lock:
            self.boot_id += 1
            self.index = 0
            self.t_us = 1_000
            self.seq = 0
            self.streaming = False
            self._send(fw.encode_frame(fw.T_INFO, self._seq(), self._info_payload()))

    def _seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) & 0xFFFF
        return s

    def _send(self, raw: bytes) -> None:
        if self.master < 0:
            return
        data = fw.cobs_encode(raw) + b"\x00"
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def send_garbage(self, data: bytes) -> None:
        with self.lock:
            if self.master >= 0:
                os.write(self.master, data)

    def _info_payload(self) -> bytes:
        info = {"boot_id": self.boot_id, "sensors": fw.S_HX711 | (fw.S_AS5600 if self.has_angle else 0),
                "rate_hz": RATE_HZ, "streaming": self.streaming, "fw_version": "0.9.0", "board": "scripted",
                "device_id": "AA:BB", "calibration": self.cal}
        p = fw.encode_info_payload(info)
        return bytes((self.proto_major,)) + p[1:]

    # -- loop -----------------------------------------------------------------
    def _run(self) -> None:
        next_t = time.monotonic()
        while not self.stop_flag.is_set():
            with self.lock:
                if self.master >= 0:
                    try:
                        data = os.read(self.master, 4096)
                    except (BlockingIOError, OSError):
                        data = b""
                    for typ, seq, payload in self.deframer.feed(data):
                        if typ == fw.T_CMD:
                            self._command(seq, payload[0], payload[1:])
                    if self.streaming:
                        self._emit(4)
            next_t += 4 * DT_US / 1e6 / self.speed
            time.sleep(max(0.0, next_t - time.monotonic()))

    def _emit(self, n: int) -> None:
        samples = []
        for _ in range(n):
            raw = 1000 + 10000 + (self.index % 80) * 10
            angle = self.index * 3
            samples.append((self.t_us, raw, 0, angle))
            self.t_us += DT_US
            self.index += 1
        first = self.index - n
        seq = self._seq()
        if self.drop_frames:
            self.drop_frames -= 1
            return
        self._send(fw.encode_samples(seq, first, samples, self.has_angle))

    def _command(self, seq: int, cmd: int, args: bytes) -> None:
        self.commands.append(cmd)
        if self.silent:
            return
        if self.garbage_only:
            os.write(self.master, b"\x13garbage\x00\x7f\x00")
            return
        if cmd == fw.C_INFO:
            self._send(fw.encode_ack(self._seq(), seq, cmd, self._info_payload()))
        elif cmd == fw.C_START:
            self.streaming = True
            self._send(fw.encode_ack(self._seq(), seq, cmd))
            self._send(fw.encode_frame(fw.T_INFO, self._seq(), self._info_payload()))
        elif cmd == fw.C_STOP:
            self.streaming = False
            self._send(fw.encode_ack(self._seq(), seq, cmd))
        elif cmd == fw.C_TARE:
            self.cal["tare_counts"] = 1500
            self._send(fw.encode_ack(self._seq(), seq, cmd, struct.pack("<iH", 1500, 40)))
        elif cmd == fw.C_STATUS:
            st = {"battery_mv": 3600, "battery_pct": 12, "state": 1, "samples_total": self.index,
                  "dropped_total": 0, "errors": fw.ERR_BATTERY_LOW, "hx711_timeouts": 0, "rx_bad_frames": 0,
                  "uptime_s": 5, "rate_chz": 8000}
            self._send(fw.encode_ack(self._seq(), seq, cmd, fw.encode_status_payload(st)))
            self._send(fw.encode_frame(fw.T_STATUS, self._seq(), fw.encode_status_payload(st)))
        elif cmd == fw.C_BATTERY:
            self._send(fw.encode_ack(self._seq(), seq, cmd, struct.pack("<HB", 3600, 12)))
        elif cmd == fw.C_SET_RATE:
            self._send(fw.encode_error(self._seq(), seq, cmd, fw.E_UNSUPPORTED, "RATE pin not wired"))
        else:
            self._send(fw.encode_ack(self._seq(), seq, cmd))

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(2)
        with self.lock:
            if self.master >= 0:
                os.close(self.master)
                os.close(self._slave)
                self.master = -1


@pytest.fixture
def roller(tmp_path):
    rollers = []

    def make(**kw):
        r = ScriptedRoller(str(tmp_path / "roller"), **kw)
        rollers.append(r)
        return r

    yield make
    for r in rollers:
        r.close()


def collect(dev: Device, until, timeout_s: float = 10.0) -> list:
    msgs = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msgs += dev.recv(0.05) or []
        if until(msgs):
            return msgs
    raise AssertionError(f"condition not met; got {[type(m).__name__ for m in msgs][-20:]}")


def samples_of(msgs):
    from rollsignal import SampleChunk

    return SampleChunk.concat([m.chunk for m in msgs if isinstance(m, Samples)])


def n_samples(msgs):
    return sum(len(m.chunk) for m in msgs if isinstance(m, Samples))


def test_handshake_stream_calibration_and_time_base(roller):
    r = roller()
    with Device.open(r.link) as dev:
        assert dev.info.fw_version == "0.9.0" and dev.info.boot_id == 0x1234 and dev.has_encoder
        meta = dev.recording_metadata(body_mass_kg=70, region=None)
        assert meta["device"] == "holdsense-roller fw=0.9.0 id=AA:BB"
        assert meta["calibration"]["counts_to_n"] == pytest.approx([0.0, 0.01])
        assert meta["body_mass_kg"] == 70 and "region" not in meta
        dev.start()
        msgs = collect(dev, lambda m: n_samples(m) >= 200)
        assert isinstance(msgs[0], Info) and msgs[0].info["fw_version"] == "0.9.0"
        s = samples_of(msgs)
        assert s.t_s[0] == 0.0
        np.testing.assert_allclose(np.diff(s.t_s), DT_US / 1e6)  # device clock, not host arrival
        np.testing.assert_allclose(s.force_n, 0.01 * (s.raw_counts - 1000))
        np.testing.assert_allclose(np.diff(s.angle_deg), 3 * 360 / 4096)
        assert not (s.flags & FLAG_GAP).any()
        assert dev.stats()["lost_frames"] == 0 and dev.stats()["corrupt_frames"] == 0
    assert fw.C_STOP in r.commands  # close() stops the stream


def test_commands_tare_status_and_refusal(roller):
    r = roller()
    with Device.open(r.link) as dev:
        dev.start()
        res = dev.tare()
        assert res["tare_counts"] == 1500 and dev.calibration.tare_counts == 1500
        msgs = collect(dev, lambda m: n_samples(m) >= 40)
        s = samples_of(msgs)
        np.testing.assert_allclose(s.force_n[-10:], 0.01 * (s.raw_counts[-10:] - 1500))
        st = dev.status()
        assert st["battery_pct"] == 12 and "battery_low" in st["errors"]
        msgs = collect(dev, lambda m: any(isinstance(x, Status) for x in m))
        status = [m.status for m in msgs if isinstance(m, Status)][0]
        assert status["battery_low"] is True and status["battery_pct"] == 12 and status["link"] == "ok"
        with pytest.raises(DeviceError, match="refused set_rate: RATE pin not wired"):
            dev.set_rate(10)


def test_commands_from_another_thread_while_a_notifier_receives(roller):
    r = roller()
    dev = Device.open(r.link)
    dev.start()
    got = []
    n = Notifier(dev, [lambda c: got.append(len(c))])
    try:
        time.sleep(0.2)
        assert dev.tare()["tare_counts"] == 1500  # answered through the notifier's receive loop
        assert dev.battery() is not None
        time.sleep(0.1)
    finally:
        n.stop()
        dev.close()
    assert sum(got) > 0


def test_lost_frames_are_a_gap_with_the_exact_count(roller):
    r = roller()
    with Device.open(r.link) as dev:
        dev.start()
        before = collect(dev, lambda m: n_samples(m) >= 20)
        r.drop_frames = 3  # 3 frames of 4 samples never sent
        msgs = collect(dev, lambda m: n_samples(m) >= 40)
        gaps = [m for m in msgs if isinstance(m, Gap)]
        assert len(gaps) == 1 and gaps[0].lost_samples == 12 and gaps[0].reason == "lost"
        i = msgs.index(gaps[0])
        after = msgs[i + 1]
        assert isinstance(after, Samples) and after.chunk.flags[0] & FLAG_GAP
        assert after.chunk.t_s[0] == pytest.approx(gaps[0].t_s)
        assert dev.stats()["lost_frames"] == 3 and dev.stats()["lost_samples"] == 12
        s = samples_of(before + msgs)
        assert np.diff(s.t_s).max() == pytest.approx(13 * DT_US / 1e6)  # the gap keeps device time


def test_garbage_resync_counts_errors_and_loses_nothing(roller):
    r = roller()
    with Device.open(r.link) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 20)
        rng = np.random.default_rng(3)
        r.send_garbage(rng.integers(1, 256, 200, dtype=np.uint8).tobytes() + b"\x00" + b"\x05\x01\x02\x00")
        msgs = collect(dev, lambda m: n_samples(m) >= 80)
        assert not any(isinstance(m, Gap) for m in msgs)  # garbage between frames costs no sample
        assert dev.stats()["corrupt_frames"] >= 1
        assert dev.stats()["lost_samples"] == 0


def test_unplug_reconnects_and_marks_the_gap(roller):
    r = roller()
    with Device.open(r.link, reconnect_timeout_s=10) as dev:
        dev.start()
        before = collect(dev, lambda m: n_samples(m) >= 40)
        threading.Thread(target=r.unplug, args=(0.5,), daemon=True).start()
        msgs = collect(dev, lambda m: any(isinstance(x, Info) and x.info.get("reconnected") for x in m)
                       and n_samples(m) >= 40, timeout_s=15)
        assert dev.reconnects == 1
        statuses = [m.status for m in msgs if isinstance(m, Status)]
        assert statuses[0]["link"] == "reconnecting"
        assert statuses[-1]["link"] == "ok"
        gaps = [m for m in msgs if isinstance(m, Gap)]
        assert len(gaps) == 1 and gaps[0].reason == "lost" and gaps[0].lost_samples > 0
        s = samples_of(before + msgs)
        assert (np.diff(s.t_s) > 0).all()  # one time base: the device did not reboot
        # exact accounting: samples received + samples lost == indices spanned
        span = round((s.t_s[-1] - s.t_s[0]) / (DT_US / 1e6)) + 1
        assert len(s) + gaps[0].lost_samples == span


def test_reboot_starts_a_new_time_base_after_the_last_sample(roller):
    r = roller()
    with Device.open(r.link) as dev:
        dev.start()
        before = collect(dev, lambda m: n_samples(m) >= 40)
        last_t = samples_of(before).t_s[-1]
        r.reboot()  # new boot id, clock and index restart, stream stops until START
        msgs = collect(dev, lambda m: n_samples(m) >= 40)
        infos = [m for m in msgs if isinstance(m, Info)]
        assert infos and infos[0].info.get("rebooted") and infos[0].info["boot_id"] == 0x1235
        gaps = [m for m in msgs if isinstance(m, Gap)]
        assert len(gaps) == 1 and gaps[0].reason == "reboot"
        s = samples_of(msgs)
        assert s.t_s[0] > last_t and s.flags[0] & FLAG_GAP
        assert dev.stats()["reboots"] == 1 and dev.stats()["lost_frames"] == 0
        assert r.commands.count(fw.C_START) == 2  # the host restarted the stream by itself


def test_silent_port_is_one_clear_error(roller):
    r = roller(silent=True)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout.__mro__[1], match="no answer from a holdsense roller within 0.6 s"):
        Device.open(r.link, handshake_timeout_s=0.6)
    assert time.monotonic() - t0 < 3
    assert r.commands.count(fw.C_INFO) == 3  # retried: a command frame may be lost on the wire


def test_garbage_speaking_port_is_not_a_roller(roller):
    r = roller(garbage_only=True)
    with pytest.raises(DeviceError, match="no valid holdsense frame"):
        Device.open(r.link, handshake_timeout_s=0.6)


def test_incompatible_protocol_names_the_firmware_to_deploy(roller):
    r = roller(proto_major=2)
    with pytest.raises(DeviceError, match=r"protocol 2\.0.*holdsense deploy --port"):
        Device.open(r.link)
    assert r.commands == [fw.C_INFO]  # nothing else sent to a device we do not understand


def test_no_reconnect_raises_device_error(roller):
    r = roller()
    with Device.open(r.link, reconnect=False) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 8)
        threading.Thread(target=r.unplug, args=(5.0,), daemon=True).start()
        with pytest.raises(DeviceError, match="link lost"):
            for _ in range(100):
                dev.recv(0.05)


def test_reconnect_gives_up_after_its_timeout(roller):
    r = roller()
    with Device.open(r.link, reconnect_timeout_s=0.5) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 8)
        threading.Thread(target=r.unplug, args=(5.0,), daemon=True).start()
        with pytest.raises(DeviceError, match="did not come back within 0.5 s"):
            for _ in range(100):
                dev.recv(0.05)
