"""End to end over the serial path with the REAL virtual device: `holdsense virtual-device` (the
firmware's own sampler, framing and commands on a pty, the simulator's body behind fake HX711/AS5600
chips) and the host commands as subprocesses.

- `record` → the file `analyze`s to the holds the scenario scripted (the simulator's ground truth);
- unplug, reboot and garbage bytes through the control socket while `record` runs: one valid file,
  gaps marked, every row written before a fault still there, reconnected by itself;
- `live --plain -o` shows the session and agrees with `analyze` of what it recorded;
- `devices --probe` and `tare` act on the device.

The device runs SPEED times faster than real time with `--wait-for-start` (the scenario begins at the
host's first START, so a recording's t_s = 0 is the scenario's 0 however slowly the CLI starts), and
the scenarios are short, so each test takes seconds.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import holdsense_fw
from cli_run import run_cli, running_cli, wait_cli
from holdsense.fmt import fmt_clock
from holdsense.io.recording import read_recording
from holdsense.sim import Body
from holdsense.virtual import spawn
from rollsignal.types import FLAG_GAP

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name != "posix", reason="the virtual device uses a pty")]

SPEED = 10.0
BODY_MASS_KG = 70.0
#: an "80 SPS" HX711 really runs 78-92 SPS (domain.md); the virtual part draws its rate in that band
RATE_BAND_HZ = (77.0, 93.0)

TWO_HOLDS = [{"kind": "off", "duration_s": 2}, {"kind": "roll", "duration_s": 8},
             {"kind": "hold", "duration_s": 22, "force_frac": 0.18}, {"kind": "roll", "duration_s": 6},
             {"kind": "hold", "duration_s": 12, "force_frac": 0.15}, {"kind": "roll", "duration_s": 4},
             {"kind": "off", "duration_s": 3}]


def write_scenario(tmp_path: Path, name: str, phases: list[dict]) -> str:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"format": "holdsense-scenario/1", "name": name, "body_mass_kg": BODY_MASS_KG,
                             "region": "quads", "encoder": True, "phases": phases}))
    return str(p)


def hs(*args: str, timeout: float = 120, vd=None) -> subprocess.CompletedProcess:
    """One CLI command; if it hangs, the failure carries its stacks and the virtual device `vd`'s state."""
    return run_cli(list(args), timeout=timeout,
                   diagnose=None if vd is None else (lambda: vd.control({"query": True}, timeout_s=5)))


def analyze(path: Path) -> dict:
    p = hs("analyze", path, "--json", "--body-mass", BODY_MASS_KG)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def assert_holds_match(found: list[dict], truth: list[dict], *, tol_s: float, check_times: bool = True) -> None:
    """The analysis finds each scripted hold: same count, duration (and start/end) within tol_s, mean force ±4 %."""
    assert len(found) == len(truth), (found, truth)
    for h, w in zip(found, truth):
        assert h["duration_s"] == pytest.approx(w["end_s"] - w["start_s"], abs=tol_s), (h, w)
        if check_times:
            assert h["start_s"] == pytest.approx(w["start_s"], abs=tol_s), (h, w)
            assert h["end_s"] == pytest.approx(w["end_s"], abs=tol_s), (h, w)
        assert h["mean_force_n"] == pytest.approx(w["mean_force_n"], rel=0.04), (h, w)
        assert h["travel_cm"] < 2.0, "a still hold: the encoder sees the shell barely turn"


class GrowingFile:
    """Reads complete rows of a recording another process is writing (flushed at least once a second)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[str]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        lines = text.split("\n")[:-1]  # the last piece may be half written
        return [ln for ln in lines if ln and not ln.startswith("#") and not ln.startswith("t_s")]

    def wait(self, what: str, pred, proc: subprocess.Popen, timeout_s: float = 60.0) -> list[str]:
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            rows = self.rows()
            if rows and pred(rows):
                return rows
            if proc.poll() is not None:
                raise AssertionError(f"record ended while waiting for {what}: {proc.stderr.read()}")
            time.sleep(0.05)
        # what the recorder said and the file's last rows, so that a rare failure can be understood
        proc.kill()
        _, err = proc.communicate(timeout=10)
        tail = "\n".join(self.rows()[-3:])
        raise AssertionError(f"timed out waiting for {what}; recorder stderr: {err[-2000:]!r}; last rows:\n{tail}")


def row_t(row: str) -> float:
    return float(row.split(",", 1)[0])


def last_t(rows: list[str]) -> float:
    return row_t(rows[-1])


def gap_rows(rows: list[str]) -> list[str]:
    return [r for r in rows if "gap" in r.rsplit(",", 1)[-1]]


def first_loaded_s(s) -> float:
    """When the simulated person first stepped on (force above 50 N)."""
    return float(s.t_s[np.argmax(s.force_n > 50.0)])


def test_record_then_analyze_finds_the_scripted_holds(tmp_path: Path) -> None:
    scen = write_scenario(tmp_path, "two-holds", TWO_HOLDS)
    truth = Body(scen, 0)  # the virtual device's body: same scenario, same seed
    link, out = tmp_path / "roller", tmp_path / "session.csv"
    with spawn(scen, speed=SPEED, wait_for_start=True, link=str(link)) as vd:
        p = hs("record", "--port", link, "-o", out, "--duration", truth.duration_s + 2, "--body-mass", BODY_MASS_KG,
               "--region", "quads", vd=vd)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "lost 0 frames / 0 samples, corrupt 0" in p.stderr

    rec = read_recording(out)
    m = rec.metadata
    assert m["device"].startswith("holdsense-roller fw=") and m["board"] == "esp32s3" and m["protocol"].startswith("1.")
    assert "as5600" in m["sensors"] and m["calibration"]["fitted"] and m["body_mass_kg"] == BODY_MASS_KG
    assert m["region"] == "quads" and isinstance(m["boot_id"], int)
    s = rec.samples
    # every conversion of the HX711 is there once someone is on the roller: no gap, no hole, the chip's
    # own rate, cut at --duration (before that the roller may still be idle: the firmware streams every
    # 8th sample after 60 s unloaded, and the virtual device sat unloaded while the CLI started)
    assert not np.any(s.flags & FLAG_GAP)
    on = s.t_s >= first_loaded_s(s)
    dt = np.diff(s.t_s[on])
    assert np.diff(s.t_s).min() > 0 and dt.max() < 2.5 / RATE_BAND_HZ[0]
    assert RATE_BAND_HZ[0] <= len(dt) / (s.t_s[-1] - s.t_s[on][0]) <= RATE_BAND_HZ[1]
    assert s.t_s[-1] == pytest.approx(truth.duration_s + 2, abs=0.05)
    # unloaded before stepping on and after stepping off (the roller's calibration and tare are right)
    assert abs(np.median(s.force_n[s.t_s < 1.5])) < 5.0 and abs(np.median(s.force_n[s.t_s > truth.duration_s])) < 5.0

    a = analyze(out)
    assert_holds_match(a["holds"], truth.holds(), tol_s=1.5)
    kinds = [seg["kind"] for seg in a["segments"]]
    assert kinds[0] == "off" and kinds[-1] == "off" and kinds.count("hold") == 2


def test_unplug_reboot_and_garbage_while_recording(tmp_path: Path) -> None:
    """Faults during the rolling part; the hold after them is still found whole."""
    phases = [{"kind": "off", "duration_s": 2}, {"kind": "roll", "duration_s": 35},
              {"kind": "hold", "duration_s": 15, "force_frac": 0.18}, {"kind": "roll", "duration_s": 3},
              {"kind": "off", "duration_s": 2}]
    scen = write_scenario(tmp_path, "faults", phases)
    truth = Body(scen, 0)
    link, out = tmp_path / "roller", tmp_path / "faults.csv"
    f = GrowingFile(out)
    with spawn(scen, speed=SPEED, wait_for_start=True, link=str(link)) as vd, \
            running_cli(["record", "--port", link, "-o", out, "--duration", truth.duration_s + 3,
                         "--body-mass", BODY_MASS_KG, "--quiet"]) as proc:
        # garbage on the wire: the decoder resyncs, counts it, and the stream goes on
        f.wait("4 s recorded", lambda r: last_t(r) >= 4, proc)
        assert vd.control({"garbage_bytes": 400})["ok"]
        # unplugged for 6 s of device time: longer than the firmware's queue holds, so samples are
        # dropped on the device (counted, never hidden) and the host reconnects by itself
        before_unplug = f.wait("8 s recorded", lambda r: last_t(r) >= 8, proc)
        assert vd.control({"unplug_s": 6})["ok"]
        after_unplug = f.wait("the unplug gap", lambda r: len(gap_rows(r[len(before_unplug):])) >= 1
                              and last_t(r) > row_t(gap_rows(r)[-1]) + 2, proc)
        n_gaps = len(gap_rows(after_unplug))
        q = vd.control({"reboot": True})
        assert q["ok"] and q["boot_id"]
        f.wait("the reboot gap", lambda r: len(gap_rows(r)) > n_gaps and last_t(r) > row_t(gap_rows(r)[-1]) + 2,
               proc)
        _, err = wait_cli(proc, diagnose=lambda: vd.control({"query": True}, timeout_s=5))
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = re.search(r"saved (\d+) samples \(([\d.]+) s\).*lost (\d+) frames? / (\d+) samples?, corrupt (\d+), "
                        r"reconnects (\d+)", err)
    assert summary, err
    assert "recording faults.csv" not in err, "--quiet: no progress lines"
    saved, _lost_frames, lost_samples, corrupt, reconnects = (int(summary[i]) for i in (1, 3, 4, 5, 6))
    assert float(summary[2]) == pytest.approx(truth.duration_s + 3, abs=0.2)
    assert corrupt >= 1, "the garbage was noticed and counted"
    assert reconnects >= 1, "reconnected by itself after the unplug"

    # one valid file; everything written before each fault is still there, row for row
    final_rows = f.rows()
    assert final_rows[:len(before_unplug)] == before_unplug
    assert final_rows[:len(after_unplug)] == after_unplug
    rec = read_recording(out)
    s = rec.samples
    assert len(s) == saved == len(final_rows) and not rec.warnings
    dt = np.diff(s.t_s)
    assert dt.min() > 0, "t_s never goes backwards, not even across the reboot"
    gap_idx = np.flatnonzero(s.flags & FLAG_GAP)
    assert len(gap_idx) >= 2  # the unplug and the reboot (the garbage may also have cost a frame)
    # no silent hole: wherever samples are missing, the first one after is flagged
    unflagged = np.ones(len(dt), bool)
    unflagged[gap_idx[gap_idx > 0] - 1] = False
    unflagged &= s.t_s[1:] > first_loaded_s(s)  # (idle before stepping on: see the first test)
    assert dt[unflagged].max() < 2.5 / RATE_BAND_HZ[0]
    # same boot, the device clock spans each hole exactly, and the sample index says how many are missing:
    # the host's lost count is what the holes in t_s hold (the reboot re-bases t_s: not counted by index)
    reboot = int(gap_idx[-1])
    holes_s = [s.t_s[i] - s.t_s[i - 1] for i in gap_idx if i != reboot]
    period_s = [float(np.median(dt[max(0, i - 60):i - 1])) for i in gap_idx if i != reboot]  # the chip's rate then
    expected = sum(round(h / p) - 1 for h, p in zip(holes_s, period_s))
    assert lost_samples == pytest.approx(expected, rel=0.02, abs=3)
    # a reboot restarts the microcontroller, not the HX711: the same chip, the same rate after it
    assert np.median(dt[reboot + 1:]) == pytest.approx(np.median(dt[unflagged][:reboot - 1]), rel=0.01)
    # the unplug: 6 device-s without a cable, minus what the firmware's queue held (~3 s) plus the host's
    # reconnect backoff (host seconds: ×SPEED in device time here)
    assert 2.5 < max(holes_s) < 30
    # after the faults the scripted hold is found whole (a reboot re-bases t_s, so compare durations)
    a = analyze(out)
    assert_holds_match(a["holds"], truth.holds(), tol_s=1.5, check_times=False)
    assert a["holds"][0]["start_s"] > s.t_s[gap_idx[-1]]


def test_live_plain_shows_the_session_and_agrees_with_analyze(tmp_path: Path) -> None:
    phases = [{"kind": "off", "duration_s": 2}, {"kind": "roll", "duration_s": 6},
              {"kind": "hold", "duration_s": 33, "force_frac": 0.18}, {"kind": "roll", "duration_s": 4},
              {"kind": "off", "duration_s": 3}]
    scen = write_scenario(tmp_path, "one-hold", phases)
    truth = Body(scen, 0)
    link, out = tmp_path / "roller", tmp_path / "live.csv"
    with spawn(scen, speed=SPEED, wait_for_start=True, link=str(link)) as vd:
        p = hs("live", "--port", link, "--plain", "--body-mass", BODY_MASS_KG, "--duration", truth.duration_s + 2,
               "-o", out, vd=vd)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines and all(re.match(r"\[ *\d+\.\d\d s\] ", ln) for ln in lines), lines[:5]
    status = [ln for ln in lines if "force " in ln and " state " in ln]
    assert len(status) >= 3, "a status line each second"
    assert any("now rolling" in ln for ln in lines) and any("now holding" in ln for ln in lines)
    held = [ln for ln in status if "state holding" in ln]
    assert held and all(re.search(r"hold +\d+\.\d s", ln) for ln in held), "the hold's timer while holding"
    (ended,) = [ln for ln in lines if "hold ended:" in ln]
    assert "(release window reached)" in ended and "Held 33 s" in ended
    assert lines[-1].split("] ", 1)[1].startswith("end: session") and "holds 1 (1 past 30 s)" in lines[-1]
    # what live showed is what the offline analysis of its recording says
    a = analyze(out)
    assert_holds_match(a["holds"], truth.holds(), tol_s=1.5)
    (h,) = a["holds"]
    assert f"hold ended: {h['duration_s']:.0f} s" in ended and f"score {h['score']}" in ended
    s = a["summary"]  # the end line's totals are the analysis's, rounded alike
    assert (f"session {fmt_clock(s['duration_s'])}: holding {fmt_clock(s['hold_s'])}, rolling "
            f"{fmt_clock(s['roll_s'])}, off {fmt_clock(s['off_s'] - s['lost_s'])};") in lines[-1], lines[-1]
    # the view never held up the receive loop: no sample was dropped on the roller
    assert not np.any(read_recording(out).samples.flags & FLAG_GAP) and not any("gaps" in ln for ln in status)
    assert f"saved {len(read_recording(out).samples)} samples" in p.stderr


def test_probe_and_tare_act_on_the_device_over_a_socket_url(tmp_path: Path) -> None:
    """The same commands over pyserial's socket:// (the virtual device on 127.0.0.1, as on any OS)."""
    scen = write_scenario(tmp_path, "empty", [{"kind": "off", "duration_s": 1}])
    with spawn(scen, speed=2.0, tcp=0) as vd:
        link = vd.port
        assert link.startswith("socket://127.0.0.1:")
        p = hs("devices", "--probe", link, "--json")
        assert p.returncode == 0, p.stderr
        dev = json.loads(p.stdout)
        assert dev["fw_version"] == holdsense_fw.VERSION and dev["protocol"].startswith("1.")
        assert {"hx711", "as5600"} <= set(dev["sensors"]) and dev["calibrated"] and dev["board"] == "esp32s3"
        assert 0 < dev["battery_pct"] <= 100
        tare0 = vd.control({"query": True})["settings"]["cal"]["tare_counts"]
        p = hs("tare", "--port", link)  # nothing on it: zeroed without a word of warning
        assert p.returncode == 0 and not p.stderr, p.stderr
        tare0 = vd.control({"query": True})["settings"]["cal"]["tare_counts"]
        assert vd.control({"load_kg": 5})["ok"]
        p = hs("tare", "--port", link)  # 5 kg on it: refused, the measured load in the message
        assert p.returncode == 2 and "--force" in p.stderr, p.stderr
        assert float(re.search(r"carries (\d+) N", p.stderr).group(1)) == pytest.approx(5 * 9.80665, abs=3)
        assert vd.control({"query": True})["settings"]["cal"]["tare_counts"] == tare0
        p = hs("tare", "--port", link, "--force")
        assert p.returncode == 0, p.stderr
        tare1 = vd.control({"query": True})["settings"]["cal"]["tare_counts"]
        counts_per_n = 1 / vd.control({"query": True})["settings"]["cal"]["counts_to_n"][1]
        # the roller zeroed itself with 5 kg on it: its tare moved by 5 kg's worth of counts
        assert (tare1 - tare0) / counts_per_n == pytest.approx(5 * 9.80665, abs=2.0)


def test_closing_its_terminal_stops_the_virtual_device_cleanly(tmp_path: Path) -> None:
    """SIGHUP (its terminal or tmux pane closed) ends it like Ctrl-C: exit 0, the --link symlink removed."""
    scen = write_scenario(tmp_path, "empty", [{"kind": "off", "duration_s": 1}])
    link = tmp_path / "roller"
    with spawn(scen, link=str(link)) as vd:
        assert os.path.islink(link)
        vd.proc.send_signal(signal.SIGHUP)
        assert vd.proc.wait(20) == 0
        assert not os.path.lexists(link)


def test_nothing_answering_is_one_line_exit_2(tmp_path: Path) -> None:
    """A serial port with nothing speaking holdsense behind it (a bare pty): one error line, exit 2."""
    master, slave = os.openpty()
    try:
        p = hs("record", "--port", os.ttyname(slave), "-o", tmp_path / "x.csv", "--timeout", "0.5")
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 2 and p.stderr.startswith("holdsense: error: ") and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "x.csv").exists()


def test_tare_refuses_a_body_on_the_roller(tmp_path: Path) -> None:
    """A simulated leg holding on the virtual roller (18 % of 70 kg): tare measures it and refuses."""
    scen = write_scenario(tmp_path, "leg", [{"kind": "hold", "duration_s": 600, "force_frac": 0.18}])
    with spawn(scen, speed=1.0) as vd:  # the scenario's clock runs from the start: the leg has stepped on
        time.sleep(3.0)
        tare0 = vd.control({"query": True})["settings"]["cal"]["tare_counts"]
        p = hs("tare", "--port", vd.port)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        load_n = float(re.search(r"carries (\d+) N", p.stderr).group(1))
        assert load_n == pytest.approx(0.18 * BODY_MASS_KG * 9.80665, rel=0.15)
        assert vd.control({"query": True})["settings"]["cal"]["tare_counts"] == tare0  # not zeroed


def test_a_reconnect_takes_only_the_same_roller(tmp_path: Path) -> None:
    """While its roller is unplugged, another roller answers on the port the recorder reopens (a freed
    /dev/ttyACM0 given to the next device; here the port is a symlink pointed at the other roller): the
    recorder refuses it, says so once, and resumes when its own roller is back. Before, it recorded the
    other roller's stream into the file."""
    scen = write_scenario(tmp_path, "idle", [{"kind": "off", "duration_s": 60}])
    port, out = tmp_path / "port", tmp_path / "mine.csv"
    with spawn(scen, speed=1.0, link=str(tmp_path / "mine")) as mine, \
            spawn(scen, speed=1.0, link=str(tmp_path / "other")) as other:
        ids = {mine.control({"query": True})["device_id"], other.control({"query": True})["device_id"]}
        assert len(ids) == 2, "every virtual roller has its own id, as every board has its own MAC"
        assert other.control({"load_kg": 50})["ok"]  # its stream is unmistakable: ~490 N
        os.symlink(tmp_path / "mine", port)
        f = GrowingFile(out)
        with running_cli(["record", "--port", port, "-o", out, "--duration", 16, "--quiet"]) as proc:
            f.wait("3 s recorded", lambda r: last_t(r) >= 3, proc)
            assert mine.control({"unplug_s": 5})["ok"]
            time.sleep(0.5)
            # its name is gone with it (as udev removes a by-id link): never a freed pty number to reopen
            assert not os.path.lexists(tmp_path / "mine")
            os.unlink(port)
            os.symlink(tmp_path / "other", port)  # the port now leads to the other roller
            time.sleep(3.0)
            os.unlink(port)
            os.symlink(tmp_path / "mine", port)
            _, err = wait_cli(proc, diagnose=lambda: mine.control({"query": True}, timeout_s=5))
        assert os.path.realpath(tmp_path / "mine") == mine.control({"query": True})["port"]  # back, new pty
    assert proc.returncode == 0, err
    assert err.count("a different roller") == 1, err
    assert re.search(r"reconnects 1\b", err), err
    s = read_recording(out).samples
    assert np.all(np.abs(s.force_n) < 50.0), "only this roller's (unloaded) samples are in the file"
    assert np.any(s.flags & FLAG_GAP) and s.t_s[-1] > 12.0


def test_a_recording_across_the_device_tick_wrap_has_no_jump(tmp_path: Path) -> None:
    """MicroPython's ticks_us wraps (2^30 µs on an ESP32, 17.9 min after boot); the virtual board's period
    grows with its speed (holdsense_fw.compat.set_clock). A roller booted just before the wrap: the
    recording crosses it with every sample there and t_s never jumping."""
    period_us = 1 << 30
    while period_us < (1 << 30) * SPEED / 4:  # (as compat.set_clock sizes it)
        period_us <<= 1
    scen = write_scenario(tmp_path, "roll", [{"kind": "roll", "duration_s": 600}])
    link, out = tmp_path / "roller", tmp_path / "wrap.csv"
    with spawn(scen, speed=SPEED, link=str(link),
               extra_args=["--ticks-offset-us", str(period_us - int(90e6))]) as vd:  # 90 device-s before it
        # (the CLI starts within those 9 s of wall time, so the wrap falls inside the recording)
        before_us = vd.control({"query": True})["device_s"] * 1e6
        p = hs("record", "--port", link, "-o", out, "--duration", 150, "--quiet", vd=vd)
        after_us = vd.control({"query": True})["device_s"] * 1e6
    assert p.returncode == 0, p.stderr
    assert before_us < period_us < after_us, "the recording spans the wrap"
    s = read_recording(out).samples
    dt = np.diff(s.t_s)
    assert dt.min() > 0 and dt.max() < 2.5 / RATE_BAND_HZ[0] and not np.any(s.flags & FLAG_GAP)
    assert s.t_s[-1] == pytest.approx(150.0, abs=0.05)


def test_a_session_stopped_while_the_roller_is_away_says_so(tmp_path: Path) -> None:
    """Ctrl-C while the link is down and being retried: the summary says how long nothing was recorded,
    instead of reading like a session that simply ended."""
    phases = [{"kind": "off", "duration_s": 2}, {"kind": "roll", "duration_s": 60}]
    scen = write_scenario(tmp_path, "away", phases)
    link, out = tmp_path / "roller", tmp_path / "away.csv"
    f = GrowingFile(out)
    with spawn(scen, speed=SPEED, wait_for_start=True, link=str(link)) as vd, \
            running_cli(["record", "--port", link, "-o", out, "--quiet"]) as proc:
        f.wait("4 s recorded", lambda r: last_t(r) >= 4, proc)
        assert vd.control({"unplug_s": 600})["ok"]
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        _, err = wait_cli(proc, diagnose=lambda: vd.control({"query": True}, timeout_s=5))
    assert proc.returncode == 0, err
    assert "(interrupted)" in err
    m = re.search(r"the link to the roller was down for the last (\d+) s of the session: nothing was recorded", err)
    assert m and 2 <= int(m[1]) <= 5, err
