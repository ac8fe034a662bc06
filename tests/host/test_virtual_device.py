"""`holdsense virtual-device` as a subprocess, driven over real pyserial (pty and socket://)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from holdsense.link import commands as C
from holdsense.link import frames as P

pytest.importorskip("holdsense.sim", reason="holdsense.sim (simulator) not merged yet")
from holdsense.virtual import spawn  # noqa: E402

SPEED = 4.0


@pytest.fixture
def empty_scenario(tmp_path: Path) -> str:
    p = tmp_path / "empty.json"
    p.write_text(json.dumps({"format": "holdsense-scenario/1", "name": "empty", "description": "empty roller",
                             "encoder": True, "phases": [{"kind": "off", "duration_s": 1.0}]}))
    return str(p)


class Client:
    """A tiny host: commands with replies, and sample collection through the real decoder."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = serial.serial_for_url(url, timeout=0.05)
        self.dec = P.FrameDecoder()
        self.unpacker = P.SampleUnpacker()
        self.seq = 0
        self.replies: list[C.Reply] = []
        self.infos: list[C.DeviceInfo] = []
        self.gaps: list[P.Gap] = []
        self.chunks = []

    def _pump(self) -> None:
        frames = self.dec.feed(self.port.read(4096))
        for f in frames:
            if f.type in (P.FrameType.ACK, P.FrameType.ERROR):
                r = C.parse_reply(f)
                self.replies.append(r)
                self.unpacker.on_reply(r)  # tare / calibration / info answers update the conversion
                if isinstance(r.result, C.DeviceInfo):
                    self.infos.append(r.result)
            elif f.type == P.FrameType.INFO:
                self.infos.append(C.parse_info(f.payload))
                self.unpacker.on_info(self.infos[-1])
            elif f.type == P.FrameType.TARE:  # 1.1: the zero changed from a given sample on
                self.unpacker.on_tare(C.parse_tare(f.payload))
        chunk, gaps = self.unpacker.process(frames)
        self.gaps += gaps
        if chunk is not None:
            self.chunks.append(chunk)

    def cmd(self, name: str, timeout_s: float = 5.0, **kw) -> C.Reply:
        self.seq += 1
        self.port.write(C.encode_command(name, self.seq, **kw))
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            self._pump()
            for r in self.replies:
                if r.cmd_seq == self.seq:
                    return r
        raise AssertionError(f"no reply to {name}")

    def collect(self, real_s: float):
        self.chunks = []
        t_end = time.monotonic() + real_s
        while time.monotonic() < t_end:
            self._pump()
        from rollsignal import SampleChunk
        return SampleChunk.concat(self.chunks)

    def close(self) -> None:
        self.port.close()


def test_streams_and_commands_really_act(tmp_path, empty_scenario):
    link = str(tmp_path / "roller")
    with spawn(empty_scenario, speed=SPEED, link=link) as dev:
        assert dev.port.startswith("/dev/") and os.path.realpath(link) == dev.port
        c = Client(link)
        try:
            info = c.cmd("info").result
            C.check_compatible(info)
            assert info.has_encoder and info.rate_selectable and info.calibration.fitted and info.rate_hz == 80
            assert c.cmd("start").ok
            c.collect(0.3)
            ch = c.collect(1.0)
            dt = np.median(np.diff(ch.t_s))
            assert 1 / 92.5 <= dt <= 1 / 77.5, "a real '80 SPS' HX711 runs 78-92 SPS"
            assert abs(np.nanmean(ch.force_n)) < 6.0 and ch.angle_deg is not None
            assert dev.control({"load_kg": 10})["ok"]
            c.collect(0.3)
            loaded = np.nanmean(c.collect(0.6).force_n)
            assert loaded == pytest.approx(10 * 9.81, abs=6.0)
            tare = c.cmd("tare", timeout_s=10).result["tare_counts"]
            assert abs(np.nanmean(c.collect(0.6).force_n)) < 3.0, "tare must zero the placed mass"
            cal = c.cmd("get_cal").result
            assert cal.tare_counts == tare
            doubled = P.Calibration(tare, [0.0, 2 * cal.counts_to_n[1]], None)
            assert c.cmd("set_cal", calibration=doubled).ok
            assert c.unpacker.calibration.counts_to_n[1] == pytest.approx(doubled.counts_to_n[1])
            assert dev.control({"load_kg": 0})["ok"]
            c.collect(0.3)
            assert np.nanmean(c.collect(0.6).force_n) == pytest.approx(-2 * 98.1, abs=12.0)
            assert c.cmd("set_rate", rate_hz=10).result == 10
            c.collect(0.5)
            slow = c.collect(1.5)
            assert 1 / 11.6 <= np.median(np.diff(slow.t_s)) <= 1 / 9.7
            assert c.unpacker.lost_samples == 0
            err_before = c.dec.errors
            assert dev.control({"garbage_bytes": 300})["ok"]
            after = c.collect(1.0)
            assert c.dec.errors > err_before and len(after) > 0, "resync after garbage"
            assert c.cmd("cue", pattern="double").ok
            q = dev.control({"query": True})
            assert q["cues"][-1] == [2, 1] and q["as5600_watchdog"] is False
        finally:
            c.close()
        assert dev.stop() in (0, -15)
    assert not os.path.lexists(link), "the symlink is removed on exit"


def test_automatic_tare_reaches_the_host_device_client(empty_scenario):
    """The roller re-zeroes itself when unloaded and still for 10 s (a 1 kg towel left on it: 9.8 N,
    inside the 20 N band); the Device client switches its force to the new zero at the announced
    sample, raw counts untouched; IDLE's auto_tare_after_s=0 switches it off."""
    from holdsense.link.device import Device
    from holdsense.messages import Samples, Status
    from rollsignal import SampleChunk

    def run(d, device_s: float, speed: float):
        """Samples and tare announcements until `device_s` of *device* time (the samples' t_s) after the
        load shows (force > 5 N). Not wall time: on a loaded machine the simulated roller runs late, and
        13 s of wall time * speed held too few samples for the 10 s the roller waits before it tares."""
        chunks, tares = [], []
        t_on = None
        t_fail = time.monotonic() + 10 * device_s / speed + 30.0  # only against a hang
        while not (chunks and t_on is not None and chunks[-1].t_s[-1] >= t_on + device_s):
            assert time.monotonic() < t_fail, f"{device_s} s of samples after the load did not arrive"
            for m in d.recv(0.05) or []:
                if isinstance(m, Samples):
                    chunks.append(m.chunk)
                    if t_on is None and np.any(m.chunk.force_n > 5.0):
                        t_on = float(m.chunk.t_s[np.argmax(m.chunk.force_n > 5.0)])
                elif isinstance(m, Status) and "tare" in m.status:
                    tares.append((m.status["tare"], chunks[-1].t_s[-1] if chunks else -1.0))
        return SampleChunk.concat(chunks), tares

    speed = 8.0
    with spawn(empty_scenario, speed=speed, encoder=False) as dev:
        with Device.open(dev.port) as d:
            assert d.info.proto_minor >= 1 and d.unpacker.tare_frames
            tare0 = d.calibration.tare_counts
            d.start()
            assert dev.control({"load_kg": 1.0})["ok"]
            ch, tares = run(d, 13.0, speed)
            assert [t["source"] for t, _ in tares] == ["auto"], tares
            ev, _ = tares[0]
            slope = d.calibration.counts_to_n[1]
            assert (ev["tare_counts"] - tare0) * slope == pytest.approx(9.81, abs=0.5)
            assert d.calibration.tare_counts == ev["tare_counts"]
            assert dev.control({"query": True})["settings"]["cal"]["tare_counts"] == ev["tare_counts"]
            # the force steps to zero at the announced sample; raw counts carry on unchanged
            sel = ch.t_s > ch.t_s[np.argmax(ch.force_n > 5.0)] + 1.0  # the towel is on
            f, raw = ch.force_n[sel], ch.raw_counts[sel]
            k = int(np.argmax(np.abs(f) < 4.0))
            assert np.mean(f[:k]) == pytest.approx(9.81, abs=0.5) and abs(np.mean(f[k:])) < 0.3
            np.testing.assert_allclose(f[k:], d.calibration.force_n(raw[k:]), atol=1e-9)
            assert abs(np.mean(raw[k:]) - np.mean(raw[:k])) * slope < 0.3
            # switched off: a second towel stays in the force
            r = d.command("idle", idle_after_s=60, decimation=8, load_counts=43800, auto_tare_after_s=0).result
            assert r["auto_tare_after_s"] == 0
            assert dev.control({"load_kg": 2.0})["ok"]
            ch, tares = run(d, 13.0, speed)
            assert tares == [] and np.mean(ch.force_n[-200:]) == pytest.approx(9.81, abs=0.5)


def test_unplug_replug_and_reboot(tmp_path, empty_scenario):
    link = str(tmp_path / "roller")
    with spawn(empty_scenario, speed=SPEED, link=link, extra_args=["--no-rate-pin"]) as dev:
        c = Client(link)
        boot1 = c.cmd("info").result.boot_id
        assert not c.cmd("set_rate", rate_hz=10).ok
        assert c.cmd("start").ok
        c.collect(0.5)
        assert dev.control({"unplug_s": 6})["ok"]  # 6 device s = 1.5 s real; the queue (256 samples, ~3 s) overflows
        try:
            c.collect(0.5)
        except (serial.SerialException, OSError):
            pass
        c.port.close()
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end:
            if dev.control({"query": True})["plugged"]:
                break
            time.sleep(0.1)
        c.port = serial.serial_for_url(link, timeout=0.05)  # same symlink, maybe a new pty
        ch = c.collect(1.0)
        # what was in flight when the cable came out is lost (pyserial flushes input on open);
        # the device dropped what its queue could not hold: either way the gap is marked and counted
        assert len(ch) > 0 and c.gaps and c.gaps[-1].reason in ("lost", "dropped")
        assert sum(g.lost_samples for g in c.gaps) >= 4 * 80
        st = c.cmd("status").result
        assert st["dropped_total"] > 0 and "queue_overflow" in st["errors"]
        # a TARE while streaming waits for STOP to reach flash: a reset loses it, as on a board (the
        # virtual reboot used to write it on the way down)
        # (the automatic tare may have moved the live zero since the last STOP too: also not in flash)
        tare_new = c.cmd("tare", n_samples=4).result["tare_counts"]
        # reboot: new boot id, clock restarts, streaming must be started again
        reply = dev.control({"reboot": True})
        assert reply["boot_id"] != boot1
        c.collect(0.3)
        assert c.infos[-1].boot_id == reply["boot_id"]
        assert c.infos[-1].calibration.tare_counts != tare_new
        assert c.cmd("start").ok
        c.collect(0.8)
        assert any(g.reason == "reboot" for g in c.gaps)
        c.close()


def test_tcp_socket_url(empty_scenario):
    with spawn(empty_scenario, speed=SPEED, tcp=0, encoder=False) as dev:
        assert dev.port.startswith("socket://127.0.0.1:")
        c = Client(dev.port)
        try:
            info = c.cmd("info").result
            assert not info.has_encoder
            assert c.cmd("start").ok
            ch = c.collect(0.8)
            assert len(ch) > 20 and ch.angle_deg is None
        finally:
            c.close()


def test_bad_arguments_exit_2(tmp_path):
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "virtual-device", "--scenario", "no-such-family"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.startswith("holdsense: error:") and "Traceback" not in res.stderr


def _vd(*args: str) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "holdsense.cli", "virtual-device", *args], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_link_refuses_a_path_that_is_not_a_virtual_rollers_link(tmp_path, empty_scenario):
    """--link over a user's file, folder or own symlink, or in a missing folder: one line, exit 2, untouched."""
    data = tmp_path / "today.csv"
    data.write_text("precious\n")
    folder = tmp_path / "adir"
    folder.mkdir()
    mine = tmp_path / "mylink"
    mine.symlink_to(data)
    cases = {str(data): "exists already", str(folder): "is a directory", str(mine): "exists already",
             str(tmp_path / "no" / "roller"): f"folder {tmp_path / 'no'} does not exist"}
    for path, why in cases.items():
        res = _vd("--scenario", empty_scenario, "--link", path)
        assert res.returncode == 2, (path, res.stderr)
        assert res.stderr.startswith(f"holdsense: error: --link {path}: {why}") and res.stderr.count("\n") == 1
        assert res.stdout == ""
    assert data.read_text() == "precious\n" and os.readlink(mine) == str(data) and not any(folder.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "empty.json", "mylink", "today.csv"]


def test_link_replaces_a_stale_pty_link_and_removes_only_its_own(tmp_path, empty_scenario):
    link = tmp_path / "roller"
    link.symlink_to("/dev/pts/987654")  # left by a virtual roller that was killed: replaced
    other = tmp_path / "other.csv"
    other.write_text("precious\n")
    with spawn(empty_scenario, speed=SPEED, link=str(link)) as dev:
        assert os.path.realpath(link) == dev.port
        link.unlink()
        link.symlink_to(other)  # the user re-points the name while the roller runs: it is theirs now
        assert dev.control({"unplug_s": 4})["ok"]  # 1 s real: the device's own name would go, theirs stays
        t_end = time.monotonic() + 15
        seen_unplugged = False
        while time.monotonic() < t_end:
            plugged = dev.control({"query": True})["plugged"]
            seen_unplugged |= not plugged
            if seen_unplugged and plugged:
                break
            time.sleep(0.05)
        assert seen_unplugged and plugged
        assert os.readlink(link) == str(other), "neither the unplug nor the replug touched the user's link"
        assert dev.stop() in (0, -15)
        err = dev.proc.stderr.read()
    assert "without the link" in err and "Traceback" not in err
    assert os.readlink(link) == str(other) and other.read_text() == "precious\n", "exit leaves it too"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_state_dir_is_made_when_its_folder_exists_else_refused(tmp_path):
    """--state-dir DIR that does not exist yet: made when its parent exists (it crashed with an internal
    FileNotFoundError on DIR/board-uid); a missing parent or a file: one line, exit 2."""
    import subprocess
    import sys
    new = tmp_path / "flash"
    with spawn("standard", speed=SPEED, encoder=False, extra_args=["--state-dir", str(new)]) as dev:
        c = Client(dev.port)
        try:
            assert c.cmd("info").ok
        finally:
            c.close()
    assert (new / "board-uid").is_file() and (new / "holdsense.json").is_file()
    (tmp_path / "a-file").write_text("x")
    for bad, says in ((tmp_path / "missing" / "flash", "does not exist"), (tmp_path / "a-file", "not a folder")):
        res = subprocess.run([sys.executable, "-m", "holdsense.cli", "virtual-device", "--state-dir", str(bad)],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert res.returncode == 2 and res.stdout == "", res
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("holdsense: error: --state-dir") and says in lines[0], lines
    assert not (tmp_path / "missing").exists()
