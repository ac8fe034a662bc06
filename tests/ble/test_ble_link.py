"""The BLE path end to end: the real bleak BlueZ backend against the fake BlueZ whose peripheral runs
the firmware's own BLE code (holdsense_fw.ble.BleLink) and App over the simulated body."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from holdsense.link import ble
from holdsense.errors import DeviceError
from holdsense.messages import Listener
from holdsense.listeners.notifier import Notifier
from holdsense.link.frames import Cmd, ErrorCode, FrameError, FrameType, decode_raw
from holdsense.io.recording import RecordingWriter, read_recording

pytestmark = pytest.mark.ble


class Collect(Listener):
    """Keeps every chunk and gap, thread-safe counters for waiting."""

    def __init__(self) -> None:
        self.chunks: list = []
        self.gaps: list[tuple[float, str, int | None]] = []
        self.infos: list[dict] = []
        self.n = 0
        self.lock = threading.Lock()

    def on_samples(self, chunk) -> None:
        with self.lock:
            self.chunks.append(chunk)
            self.n += len(chunk)

    def on_gap(self, t_s, reason, lost_samples=None) -> None:
        self.gaps.append((t_s, reason, lost_samples))

    def on_info(self, info) -> None:
        self.infos.append(info)

    def t_s(self) -> np.ndarray:
        return np.concatenate([c.t_s for c in self.chunks]) if self.chunks else np.zeros(0)


def wait_for(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def raw_tap(dev) -> list[bytes]:
    frames: list[bytes] = []
    dev.add_tap(lambda direction, data, _t: frames.append(bytes(data)) if direction == "rx" else None)
    return frames


def samples_frames(raw: list[bytes]) -> list[tuple[int, int, int]]:
    """(seq, first_index, n) of every valid SAMPLES notification."""
    out = []
    for r in raw:
        try:
            f = decode_raw(r)
        except FrameError:
            continue
        if f.type == FrameType.SAMPLES:
            _layout, n, first = struct.unpack_from("<BBI", f.payload, 0)
            out.append((f.seq, first, n))
    return out


def test_discovery_by_name_lists_rssi_firmware_and_battery(roller):
    from holdsense_fw import VERSION

    adverts = ble.scan(1.0)
    mine = [a for a in adverts if a.name == roller.name]
    assert len(mine) == 1, adverts
    a = mine[0]
    assert a.address == roller.address and roller.name == "holdsense-1122"
    assert -80 < a.rssi_dbm < -40
    assert a.fw_version == VERSION and a.protocol == 1
    assert 0 < a.battery_pct <= 100 and a.streaming is False
    assert ble.matches("1122", a) and ble.matches(roller.address.lower(), a) and not ble.matches("holdsense-1123", a)
    # the CLI lists it too (a subprocess on the same private bus)
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "devices", "--ble-scan", "1"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith(roller.name))
    assert roller.address in line and "RSSI -" in line and f"fw {VERSION}" in line and "battery " in line


def test_connect_and_stream_80hz_without_loss_by_sequence_number(roller):
    dev = ble.open_ble_device(roller.name, timeout_s=10)
    raw = raw_tap(dev)
    col = Collect()
    try:
        assert dev.transport.mtu == 247 and dev.has_encoder
        dev.start()
        notifier = Notifier(dev, [col])
        wait_for(lambda: col.n >= 400, 30, "400 samples")  # ~2.3 s of device time at 2x
        notifier.stop()
        st = dev.stats()
    finally:
        dev.close()
    assert st["lost_samples"] == 0 and st["lost_frames"] == 0 and st["corrupt_frames"] == 0
    assert col.gaps == []
    fr = samples_frames(raw)
    seqs = [s for s, _f, _n in fr]
    # frame sequence numbers: every notification arrived (other frame types fill the holes in between)
    all_seq = [decode_raw(r).seq for r in raw]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(all_seq, all_seq[1:])), "a notification went missing"
    # sample indices: each SAMPLES frame starts where the previous one ended
    for (_s0, f0, n0), (_s1, f1, _n1) in zip(fr, fr[1:]):
        assert f1 == f0 + n0
    assert sum(n for _s, _f, n in fr) == col.n and len(seqs) == len(set(seqs))
    t = col.t_s()
    dt = np.diff(t)
    assert np.all(dt > 0)
    assert 1 / 95 < np.median(dt) < 1 / 75  # an 80 SPS HX711 (78-92 Hz), from device timestamps
    # batched by time: several samples per notification, and no sample waited much beyond 25 ms
    ns = np.array([n for _s, _f, n in fr])
    assert 1.5 <= ns.mean() <= 4.0 and ns.max() <= 20


def test_tare_and_rate_commands_are_written_and_acted_on(roller):
    dev = ble.open_ble_device(roller.name, timeout_s=10)
    col = Collect()
    try:
        res = dev.tare(n_samples=20)
        q = roller.query()
        assert q["settings"]["cal"]["tare_counts"] == res["tare_counts"] and res["n_samples"] == 20
        assert dev.calibration.tare_counts == res["tare_counts"]
        assert dev.set_rate(10) == 10
        assert roller.query()["rate_hz"] == 10
        dev.start()
        notifier = Notifier(dev, [col])
        wait_for(lambda: col.n >= 25, 30, "25 samples at 10 Hz")
        notifier.stop()
        assert dev.set_rate(80) == 80 and roller.query()["rate_hz"] == 80
    finally:
        dev.close()
    dt = np.diff(col.t_s())
    assert 0.08 < np.median(dt) < 0.13  # 10 SPS from device timestamps (real parts run 9.8-11.5)


def test_link_loss_mid_recording_reconnects_and_marks_the_gap(roller_factory, tmp_path: Path):
    roller = roller_factory(speed=4.0)
    out = tmp_path / "ble.csv"
    dev = ble.open_ble_device(roller.name, timeout_s=10)
    col = Collect()
    try:
        writer = RecordingWriter(str(out), dev.recording_metadata(), has_angle=dev.has_encoder, has_raw=True)
        dev.start()
        notifier = Notifier(dev, [writer, col])
        wait_for(lambda: col.n >= 200, 30, "samples before the link loss")
        # out of range for 6 s of device time: the roller's 256-sample queue (~2.8 s) overflows
        roller.control({"unplug_s": 6.0})
        wait_for(lambda: dev.stats()["reconnects"] >= 1, 30, "the automatic reconnect")
        n_after = col.n
        wait_for(lambda: col.n >= n_after + 200, 30, "samples after the reconnect")
        notifier.stop()
        st = dev.stats()
    finally:
        dev.close()
    link = roller.query()["ble"]["link"]
    diag = f"stats {st}, roller link {link}, gaps {col.gaps}"
    assert st["reconnects"] == 1 and link["connections"] == 2, diag
    assert st["corrupt_frames"] == 0, diag
    # exactly one gap, with the exact count the sample index proves: what the roller had to drop
    assert len(col.gaps) == 1, diag
    gap_t, reason, lost = col.gaps[0]
    # "dropped": the roller's own queue overflowed while nobody listened (the first sample after carries
    # the DROPPED flag); the index jump is the exact count either way
    assert reason in ("dropped", "lost") and lost == st["lost_samples"] > 100, diag
    if link["lost_frames"] == 0:  # nothing was in flight at the drop: all the loss is the queue overflow
        assert lost == link["dropped"], diag
    else:
        assert lost > link["dropped"], diag
    rec = read_recording(str(out))
    t = rec.samples.t_s
    assert len(t) == col.n and np.all(np.diff(t) > 0)
    gap_rows = np.flatnonzero(rec.samples.flags & 2)
    assert len(gap_rows) == 1 and t[gap_rows[0]] == pytest.approx(gap_t)
    jump = t[gap_rows[0]] - t[gap_rows[0] - 1]
    period = np.median(np.diff(t))
    # the hole in device time holds at least the lost samples (more only if the simulated roller itself
    # fell behind real time on a busy machine: conversions it never read are not in the stream)
    assert jump >= 0.95 * (lost + 1) * period, (jump, period, diag)


def test_corrupted_notification_is_counted_and_skipped(roller):
    dev = ble.open_ble_device(roller.name, timeout_s=10)
    raw = raw_tap(dev)
    col = Collect()
    try:
        dev.start()
        notifier = Notifier(dev, [col])
        wait_for(lambda: col.n >= 100, 30, "samples")
        roller.control({"garbage_bytes": 1})  # on BLE: the next notification gets a bit flipped on the air
        wait_for(lambda: dev.stats()["corrupt_frames"] >= 1, 30, "the corrupt notification")
        n_then = col.n
        wait_for(lambda: col.n >= n_then + 100, 30, "samples after it")
        notifier.stop()
        st = dev.stats()
    finally:
        dev.close()
    bad = []
    for r in raw:
        try:
            decode_raw(r)
        except FrameError:
            bad.append(r)
    assert len(bad) == 1 and st["corrupt_frames"] == 1
    assert roller.query()["ble"]["stats"]["corrupted"] == 1
    assert st["lost_frames"] == 1  # its sequence number is missing; the frames around it are all there
    if bad[0][0] == FrameType.SAMPLES:  # header bytes survive (the flip is inside the payload)
        n = bad[0][4]
        assert st["lost_samples"] == n and [g[2] for g in col.gaps] == [n]
    else:
        assert st["lost_samples"] == 0 and col.gaps == []


def test_calibration_write_is_refused_over_ble(roller):
    dev = ble.open_ble_device(roller.name, timeout_s=10)
    try:
        before = roller.query()["settings"]["cal"]
        cal = dev.get_calibration()
        cal.counts_to_n = [0.0, 0.02]
        with pytest.raises(DeviceError, match="calibration writes over BLE are disabled"):
            dev.set_calibration(cal)
        r = dev.command(Cmd.CLEAR_CAL, check=False)
        assert not r.ok and r.code == ErrorCode.REFUSED and "BLE" in r.message and "USB" in r.message
        r = dev.command(Cmd.BLE_CAL, enable=1, check=False)  # BLE cannot unlock itself
        assert not r.ok and r.code == ErrorCode.REFUSED
        assert roller.query()["settings"]["cal"] == before
        assert roller.query()["settings"]["ble_cal_writes"] is False
    finally:
        dev.close()


def test_no_bluez_or_no_bus_is_one_clear_error(ble_env, tmp_path: Path, capsys):
    """--ble without BlueZ: exit 2 with one line; `devices` still runs and says why BLE was skipped."""
    from holdsense import cli

    # a bus with nobody owning org.bluez (bluetoothd not running); a real subprocess
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "record", "--ble", "holdsense-1122", "-o",
                          str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=60, env=ble_env,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("holdsense: error: BLE unavailable: BlueZ (bluetoothd) is not running")
    assert not (tmp_path / "x.csv").exists()
    assert cli.main(["devices", "--ble-scan", "1"]) == 0
    assert "Bluetooth LE skipped: BlueZ (bluetoothd) is not running" in capsys.readouterr().err
    # no system bus at all
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp_path / 'nothing.sock'}"  # restored by monkeypatch
    assert cli.main(["live", "--ble", "holdsense-1122", "--plain"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("holdsense: error: BLE unavailable: no D-Bus system bus") and err.count("\n") == 1
    assert cli.main(["tare", "--ble", "holdsense-1122", "--port", "/dev/null"]) == 2
    assert "--port and --ble" in capsys.readouterr().err


@pytest.mark.parametrize("mtu", ["23", "40"])
def test_an_mtu_too_small_for_info_is_reported_as_the_roller_says(roller_factory, mtu):
    """A link whose ATT MTU cannot carry the INFO reply: the roller drops it and says why in a TEXT;
    the handshake's error passes that on instead of calling it "not a holdsense roller"."""
    roller = roller_factory("--ble-mtu", mtu)
    with pytest.raises(DeviceError) as err:
        ble.open_ble_device(roller.name, timeout_s=10, handshake_timeout_s=3)
    msg = str(err.value)
    assert f"MTU {mtu} " in msg and "need" in msg, msg
    assert "not a holdsense roller" not in msg and "firmware is too old" not in msg, msg
