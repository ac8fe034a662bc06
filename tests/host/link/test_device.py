"""Device client over a real pty, against a scripted roller speaking the firmware's own framing code
(scripted_roller.py); the end-to-end tests in tests/e2e run the real virtual device."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from holdsense.link.device import Device, DeviceTimeout
from holdsense.errors import DeviceError
from holdsense.messages import Gap, Info, Samples, Status
from holdsense.listeners.notifier import Notifier
from holdsense_fw import frame as fw
from rollsignal import FLAG_GAP

from scripted_roller import DT_US, roller  # noqa: E402,F401  (fixture)

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


def test_tare_waits_as_long_as_its_readings_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """TARE is answered once its readings are in: 100 at 10 SPS take ~9-10 s, so a fixed 5 s wait timed out,
    and the retry was refused as busy by the tare still running (`holdsense tare --samples 100`)."""
    from types import SimpleNamespace

    from holdsense.link.commands import Reply

    waits: list[float] = []

    def command(self, cmd, *, timeout_s=2.0, retries=2, **kw):
        waits.append(timeout_s)
        return Reply(cmd_seq=0, cmd=int(cmd), ok=True, result={"tare_counts": 5, "n_samples": 100})

    monkeypatch.setattr(Device, "command", command)
    dev = object.__new__(Device)
    dev.unpacker = SimpleNamespace(calibration=None, tare_frames=0)
    for rate_hz, n, at_least in ((10, 100, 100 / 10), (10, 0, 40 / 10), (80, 2000, 2000 / 78), (None, 100, 10.0)):
        dev.info = None if rate_hz is None else SimpleNamespace(rate_hz=rate_hz)
        dev.tare(n_samples=n)
        assert waits[-1] >= at_least + 1.0, (rate_hz, n, waits[-1])
    dev.info = SimpleNamespace(rate_hz=80)
    dev.tare()
    assert waits[-1] == 5.0  # the usual 40 readings at 80 SPS: the short wait as before


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
        # samples sent just before the reboot can still arrive after `before` was collected: the new time
        # base starts at the gap's sample, after every sample of the old one
        s = samples_of(before + msgs)
        k = int(np.flatnonzero(s.t_s == gaps[0].t_s)[0])
        assert k >= n_samples(before) and s.t_s[k] > last_t and s.flags[k] & FLAG_GAP
        assert (np.diff(s.t_s) > 0).all() and not (s.flags[:k] & FLAG_GAP).any()
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


def test_a_link_not_back_is_warned_about_with_the_reason(roller, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnecting for long: the user is told why (here the port is gone), at doubling waits rather than
    at every attempt; the roller back, the recording resumes."""
    import holdsense.link.device as device_mod

    monkeypatch.setattr(device_mod, "STILL_LOST_WARN_S", 0.3)
    warned: list[str] = []
    r = roller()
    with Device.open(r.link, warn=warned.append) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 8)
        threading.Thread(target=r.unplug, args=(2.5,), daemon=True).start()
        msgs = collect(dev, lambda m: any(isinstance(x, Status) and x.status.get("link") == "ok"
                                          and dev.reconnects == 1 for x in m), timeout_s=15)
    status_warnings = [x.status["warning"] for x in msgs if isinstance(x, Status) and "warning" in x.status]
    assert warned and status_warnings == warned
    assert all("not back yet" in w and "no such serial port" in w for w in warned), warned
    assert len(warned) <= 3, "at doubling waits (0.3, 0.6, 1.2 s), not at every attempt"


def test_a_command_cut_off_by_an_earlier_session_does_not_swallow_the_handshake(roller):
    """Bytes an earlier host left in the roller's receive buffer (a command cut off as its port closed) used
    to join the next session's first INFO into one bad frame: no answer, a retry after a third of the
    handshake timeout. The host now sends a lone 0x00 first (docs/protocol.md §7)."""
    import serial

    from holdsense.link import commands as C
    from holdsense.link import frames as P
    from holdsense.link.serial import open_transport

    r = roller()
    old = serial.serial_for_url(r.link)
    old.write(C.encode_command("status", 7)[:5])  # half a command, then the port closes
    old.flush()
    time.sleep(0.2)
    old.close()
    sent = []
    dev = Device(lambda: open_transport(r.link), name=r.link)
    dev.add_tap(lambda direction, data, _t: sent.append(data) if direction == "tx" else None)
    try:
        dev.connect()
        frames = P.FrameDecoder().feed(b"".join(sent))
        infos = [f for f in frames if f.type == P.FrameType.CMD and f.payload[0] == P.Cmd.INFO]
        assert len(infos) == 1, f"{len(infos)} INFO commands sent: the first one was swallowed"
        assert sent[0] == b"\x00"
    finally:
        dev.close()


def test_a_roller_stopped_by_someone_else_is_started_again(roller, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program on this computer sends STOP over a shared BLE link: the session used to record
    nothing, saying nothing, until the link dropped. After STALL_PROBE_S without a frame the host asks
    STATUS; the roller says it is stopped, so START goes again, with a warning, and the outage is a gap
    with its exact count (the roller's index does not move while stopped, so here none is lost)."""
    import holdsense.link.device as device_mod

    monkeypatch.setattr(device_mod, "STALL_PROBE_S", 0.6)
    warned: list[str] = []
    r = roller()
    with Device.open(r.link, warn=warned.append) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 40)
        with r.lock:
            r.streaming = False  # what another program's STOP does
        n0 = r.commands.count(fw.C_START)
        msgs = collect(dev, lambda m: n_samples(m) >= 40 and r.commands.count(fw.C_START) > n0, timeout_s=10)
        assert dev.link_state == "ok" and dev.reconnects == 0
    assert any("stopped streaming" in w and "started it again" in w for w in warned), warned
    assert fw.C_STATUS in r.commands
    s = samples_of(msgs)
    assert (np.diff(s.t_s) > 0).all()


def test_a_link_that_goes_silent_without_dropping_is_reconnected(roller, monkeypatch: pytest.MonkeyPatch) -> None:
    """A BLE link can stay "connected" for its whole supervision timeout after the roller went out of
    range; the host used to wait as long. No frame for STALL_PROBE_S and no answer to STATUS: the link is
    taken as lost (link lost shown, reconnect), and the samples resume when the roller answers again."""
    import holdsense.link.device as device_mod

    monkeypatch.setattr(device_mod, "STALL_PROBE_S", 0.6)
    r = roller()
    with Device.open(r.link, reconnect_timeout_s=15) as dev:
        dev.start()
        collect(dev, lambda m: n_samples(m) >= 40)
        r.hang = True
        msgs = collect(dev, lambda m: any(isinstance(x, Status) and x.status.get("link") == "reconnecting"
                                          for x in m), timeout_s=10)
        lost = [x.status for x in msgs if isinstance(x, Status) and x.status.get("link") == "reconnecting"]
        assert "no answer to STATUS" in lost[0]["link_error"]
        r.hang = False
        msgs = collect(dev, lambda m: dev.reconnects == 1 and n_samples(m) >= 40, timeout_s=15)
        assert any(isinstance(x, Gap) for x in msgs)
