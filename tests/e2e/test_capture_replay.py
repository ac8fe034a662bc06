"""End to end, all subprocesses on real ptys: a capture survives kill -9 of the recorder; a library capture
replayed by `virtual-device --replay-capture` and recorded again gives the original recording's samples; the
pytest plugin works from a throwaway project through its installed entry point."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cli_run import cli_popen, wait_cli
from holdsense.virtual.capture import decode_capture
from holdsense.io.capture import read_capture
from holdsense.io.recording import read_recording
from holdsense.virtual import spawn
from holdsense.pytest_plugin import SAMPLE_COLUMNS, assert_same_samples
from rollsignal.types import FLAG_GAP

pytestmark = pytest.mark.e2e

LIB = Path(__file__).resolve().parents[1] / "captures"
SCENARIO = LIB / "scenarios" / "capture-session.json"


def hs_popen(*args: str, **kw) -> subprocess.Popen:
    return cli_popen(list(args), **kw)


def test_capture_survives_kill_9_of_the_recorder(tmp_path):
    link = str(tmp_path / "roller")
    cap_path = tmp_path / "killed.hscap"
    with spawn(str(SCENARIO), speed=4, link=link) as dev:
        rec = hs_popen("record", "--port", link, "-o", str(tmp_path / "killed.csv"), "--capture", str(cap_path),
                       "--quiet")
        try:
            ready, _, _ = select.select([rec.stderr], [], [], 60)
            assert ready and rec.stderr.readline().startswith("recording "), "record did not start"
            time.sleep(2.5)  # a few seconds of streaming
            killed_at = time.time()
            rec.send_signal(signal.SIGKILL)
            rec.wait(10)
        finally:
            if rec.poll() is None:
                rec.kill()
            rec.communicate()
        assert rec.returncode == -signal.SIGKILL
        dev.control({"query": True})
    cap = read_capture(cap_path)
    assert cap.truncated and not cap.complete and cap.end is None
    last = max(r.t_s for r in cap.records if r.kind == 0x10)
    lost_s = killed_at - (cap.t0_unix_s + last)
    print(f"kill -9: the capture lost the last {lost_s:.3f} s")
    assert 0 <= lost_s < 1.0, f"the capture lost {lost_s:.2f} s before the kill"
    dec = decode_capture(cap)
    assert dec.stats["samples"] > 100 and dec.frames["crc_errors"] == 0
    # the capture-info command reads it too (exit 0, says what happened)
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "capture-info", str(cap_path)], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and "truncated" in p.stdout and "ends abruptly" in p.stdout


def assert_same_across_reboot(a, b, max_shift_s: float = 0.25) -> None:
    """`a` is `b` recorded again across a device reboot: every sample the same up to the reboot; after it
    the same samples with t_s shifted by one constant of at most `max_shift_s`, since the host places the
    new time base by the host time that passed (the replay plays the reboot at 1x; a loaded machine
    reads it up to ~0.1 s late); at the end, only the samples the shift moved across --duration's cut may
    differ in number. A sample lost or added anywhere else fails."""
    n = min(len(a), len(b))
    for col in SAMPLE_COLUMNS:
        x, y = getattr(a, col), getattr(b, col)
        assert (x is None) == (y is None), f"{col}: present in only one of them"
        if x is not None and col != "t_s":
            assert np.array_equal(x[:n], y[:n], equal_nan=x.dtype.kind == "f"), f"{col} differs"
    d = a.t_s[:n] - b.t_s[:n]
    moved = np.flatnonzero(d != 0.0)
    if not len(moved):  # (placed to the µs by chance)
        assert len(a) == len(b), (len(a), len(b))
        return
    j = int(moved[0])
    assert b.flags[j] & FLAG_GAP, "t_s differs before the reboot"
    shift = d[j:]
    assert np.ptp(shift) < 1e-5 and abs(shift[0]) <= max_shift_s, (shift.min(), shift.max())
    rate_hz = 1.0 / float(np.median(np.diff(b.t_s)))
    assert abs(len(a) - len(b)) <= abs(shift[0]) * rate_hz + 1, (len(a), len(b), shift[0])


@pytest.mark.parametrize("name, command", [("dropout", "record"), ("corrupt", "record"), ("reboot", "record"),
                                           ("reconnect", "live")])
def test_replay_then_record_gives_the_original_samples(tmp_path, name, command):
    """The host's whole path (pty, decoder, lost frames, reconnect, reboot, gap marking, recorder) on the
    captured bytes at 8x: the recording made from the replay (by `record`, or by `live -o`) equals the
    recording made from the roller itself."""
    original = read_recording(LIB / f"{name}.csv.gz", warn=None)
    src = read_capture(LIB / f"{name}.hscap")
    link = str(tmp_path / "roller")
    out, cap2 = tmp_path / "again.csv", tmp_path / "again.hscap"
    speed = 8.0
    with spawn(speed=speed, link=link, extra_args=["--replay-capture", str(LIB / f"{name}.hscap")]) as dev:
        args = ["--capture", str(cap2), "--quiet"] if command == "record" else ["--plain"]
        rec = hs_popen(command, "--port", link, "-o", str(out), *args, "--duration", str(src.session["duration_s"]))
        _, err = wait_cli(rec, diagnose=lambda: dev.control({"query": True}, timeout_s=5))
        assert rec.returncode == 0, err
        q = dev.control({"query": True})
    assert q["replay"] and q["commands_injected"] == 0 and q["commands_skipped"] == 0
    again = read_recording(out, warn=None)
    same = assert_same_across_reboot if name == "reboot" else assert_same_samples
    same(again.samples, original.samples)
    assert again.metadata["device"] == original.metadata["device"]
    assert again.metadata["calibration"] == original.metadata["calibration"]
    if command == "live":
        return
    dec2, dec1 = decode_capture(cap2), decode_capture(src)
    # and the capture of the replay decodes to the same samples again, with the same faults seen
    same(dec2.to_recording().samples, original.samples)
    for k in ("lost_samples", "reboots", "reconnects"):
        assert dec2.stats[k] == dec1.stats[k], k
    assert [g["reason"] for g in dec2.gaps] == [g["reason"] for g in dec1.gaps]
    # faster: the stream took about 1/speed of the captured host time (reboot spans at 1x, link drops
    # at least 0.2 s; a loaded machine adds a little)
    def rx_span(c):
        t = [r.t_s for r in c.records if r.kind == 0x10]
        return t[-1] - t[0]
    assert rx_span(read_capture(cap2)) < 0.5 * rx_span(src)


def test_plugin_from_a_throwaway_project(tmp_path):
    """Another project's tests, with holdsense installed: fixtures from the pytest11 entry point."""
    proj = tmp_path / "other-project"
    proj.mkdir()
    (proj / "test_roller_app.py").write_text(textwrap.dedent(f"""
        import pytest
        from holdsense.pytest_plugin import assert_holds

        CAPTURE = {str(LIB / "session.hscap")!r}
        SCENARIO = {str(SCENARIO)!r}

        def test_replayed_capture(holdsense_replay, holdsense_session, holdsense_assert_holds):
            roller = holdsense_replay(CAPTURE, speed=8)
            session = holdsense_session(roller, duration_s=40)
            assert session.stats["lost_samples"] == 0 and session.stats["corrupt_frames"] == 0
            holdsense_assert_holds(session, CAPTURE, start_tol_s=0.5, duration_tol_s=0.5)

        def test_simulated_roller(holdsense_device, holdsense_session, holdsense_assert_holds):
            roller = holdsense_device(SCENARIO, speed=6)
            assert roller.port.endswith("roller") and roller.ble_address is None
            session = holdsense_session(roller, duration_s=50, body_mass_kg=72)
            expected = roller.expected_holds(session)
            assert len(expected) == 1
            holdsense_assert_holds(session, expected, start_tol_s=4, duration_tol_s=6)

        def test_wrong_expectation_fails_clearly(holdsense_assert_holds):
            with pytest.raises(AssertionError, match="expected 0 hold"):
                holdsense_assert_holds(CAPTURE, [])
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
                        "--trace-config"], cwd=proj, capture_output=True, text=True, timeout=400, env=env,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "3 passed" in p.stdout
    # the plugin came from the installed entry point (there is no conftest): pytest lists it as registered
    assert "holdsense.pytest_plugin" in p.stdout and not list(proj.glob("conftest.py"))


def test_plugin_costs_nothing_when_unused(tmp_path):
    """Loading the plugin must not import holdsense's heavy parts (numpy, scipy, serial) into other projects."""
    code = ("import sys, holdsense.pytest_plugin; "
            "print(','.join(m for m in ('numpy', 'scipy', 'serial', 'rollsignal', 'holdsense.io.capture') "
            "if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr


def _frame_times(cap) -> dict[int, float]:
    """Host time at which each SAMPLES frame (by first sample index) was complete, from a serial capture."""
    from holdsense.link.frames import FrameDecoder, FrameType

    dec = FrameDecoder()
    out: dict[int, float] = {}
    for r in cap.records:
        if r.kind == 0x10:
            for f in dec.feed(r.data):
                if f.type == FrameType.SAMPLES:
                    out.setdefault(int.from_bytes(f.payload[2:6], "little"), r.t_s)
    return out


#: A pause put into the replayed capture's byte stream (a link that delivered nothing for a while): a replay that
#: ignored the captured timing, or only its gaps, would play the bytes after it early.
PAUSE_S = 0.6


class _SchedulingProbe:
    """A thread that wakes at absolute deadlines every 12.5 ms (the pace of a replay's frames) and records how
    late each wake-up came (s): the scheduling delay processes on this machine see meanwhile."""

    PERIOD_S = 0.0125

    def __init__(self) -> None:
        import threading

        self.late_s: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            due += self.PERIOD_S
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            self.late_s.append(max(0.0, now - due))
            due = max(due, now - self.PERIOD_S)  # after a long stall: no burst of catch-up wake-ups

    def __enter__(self) -> "_SchedulingProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def late_ms(self, percentile: float) -> float:
        """That percentile of the wake-ups' lateness, in ms (0 without any)."""
        return float(np.percentile(self.late_s, percentile)) * 1e3 if self.late_s else 0.0


def _robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Theil-Sen line through (x, y): the median slope of point pairs at least 1 s apart and the median
    intercept. A scheduling stall on a loaded machine delays a few frames; unlike least squares, the line
    then stays where the other frames put it."""
    i, j = np.triu_indices(len(x), 1)
    far = (x[j] - x[i]) >= 1.0
    slope = float(np.median((y[j] - y[i])[far] / (x[j] - x[i])[far]))
    return slope, float(np.median(y - slope * x))


@pytest.mark.parametrize("speed", [1.0, 3.0])
def test_replay_keeps_the_captured_timing_scaled_by_speed(tmp_path, speed):
    """The bytes arrive with the original timing (speed 1) or that timing divided by `speed`, a pause in the
    captured stream included: the host times of the replayed frames against the captured ones lie on a line of
    slope 1/speed, most within a few ms.

    Judged robustly: a busy machine (both cores loaded by other tests) stalls the replay or the host now and
    then, which delays a few frames by tens of ms; the rms and max residuals of a least-squares line then
    failed a correct replay (20 ms rms against 15 ms). What judges the replay's timing does not depend on the
    load: the slope (wrong speed, captured timing ignored) and the step at the pause (ignored: the frames after
    it PAUSE_S / speed early). The precision (median residual, share within 20 ms) does: under load 5-12 a
    correct replay had an 8 ms median, so its allowance adds the scheduling delay a probe thread measured
    meanwhile (~0 at rest, so an idle machine is judged as before)."""
    from holdsense.io.capture import K_END, K_HEADER
    from holdsense.listeners.capture_tap import CaptureWriter

    src = read_capture(LIB / "session.hscap")
    short = tmp_path / "short.hscap"
    t_open = src.links[0].t_open_s
    t_cut = t_open + 5.0  # the first 5 s: handshake, START, streaming
    t_pause = t_open + 2.5  # streaming by then: only received bytes follow, no command waits on the host
    w = CaptureWriter(short, clock=lambda: 0.0, session=dict(src.session, duration_s=None))
    for r in src.records:
        if r.t_s < t_cut and r.kind not in (K_HEADER, K_END):
            w.write_record(r.kind, r.obj if r.obj is not None else r.data, r.t_s + (PAUSE_S if r.t_s >= t_pause else 0))
    w.close()
    link = str(tmp_path / "roller")
    cap2 = tmp_path / "again.hscap"
    with spawn(speed=speed, link=link, extra_args=["--replay-capture", str(short)]) as dev:
        rec = hs_popen("record", "--port", link, "-o", str(tmp_path / "again.csv"), "--capture", str(cap2),
                       "--quiet", "--duration", "4")
        with _SchedulingProbe() as probe:
            _, err = wait_cli(rec, diagnose=lambda: dev.control({"query": True}, timeout_s=5))
        assert rec.returncode == 0, err
        assert dev.control({"query": True})["commands_skipped"] == 0
    a, b = _frame_times(read_capture(short)), _frame_times(read_capture(cap2))
    common = sorted(set(a) & set(b))
    assert len(common) > 150  # SAMPLES frames of 1-2 samples over 4 s
    x = np.array([a[k] for k in common])
    y = np.array([b[k] for k in common])
    assert (x < t_pause).sum() > 50 and (x > t_pause).sum() > 50  # frames on both sides of the pause
    slope, icpt = _robust_line(x, y)
    resid = y - (slope * x + icpt)
    med_ms = float(np.median(np.abs(resid))) * 1e3
    within = float(np.mean(np.abs(resid) < 0.020 + 2e-3 * probe.late_ms(75)))
    print(f"speed {speed:g}: slope {slope:.4f} (want {1 / speed:.4f}), residual median {med_ms:.1f} ms, "
          f"{100 * within:.0f} % within 20 ms (rms {resid.std() * 1e3:.1f} ms, max {np.abs(resid).max() * 1e3:.1f} ms)")
    # load-independent: the slope, and the pause kept (against the captured times scaled by speed, the frames
    # after it as late as those before; ignoring it puts them PAUSE_S / speed early; delays hit both alike)
    lag = y - x / speed
    step_ms = float(np.median(lag[x > t_pause]) - np.median(lag[x < t_pause])) * 1e3
    print(f"after the pause: {step_ms:+.1f} ms against before it")
    assert abs(step_ms) < PAUSE_S / speed / 4 * 1e3, f"frames after the pause {step_ms:+.0f} ms off"
    assert slope == pytest.approx(1 / speed, rel=0.03)
    # the precision: a frame's host time carries two wake-ups (the replay's sleep, the host's read); on a loaded
    # machine each comes late by about what the probe's wake-ups did at the same time (measured ~1 ms at rest,
    # 8 ms seen under load 5-12), so the allowance is 5 ms plus twice the probe's 75th percentile lateness
    late_ms = probe.late_ms(75)
    print(f"probe: wake-ups late {late_ms:.1f} ms (75th percentile of {len(probe.late_s)})")
    assert med_ms < 5.0 + 2 * late_ms, f"median residual {med_ms:.1f} ms (measured ~1 ms; wake-ups {late_ms:.1f} ms late)"
    assert within >= 0.8, f"only {100 * within:.0f} % of the frames within {20 + 2 * late_ms:.0f} ms of the captured timing"


def test_a_session_longer_than_the_replayed_capture_fails_at_the_capture_end(holdsense_replay, holdsense_session):
    """Asking a replay for more session than the capture holds is the test author's mistake: it is named as soon
    as the capture has played out (it stays connected and silent after that), not after the generous timeout."""
    roller = holdsense_replay(LIB / "session.hscap", speed=8)  # 42 s of samples: ~5 s at 8x
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"session\.hscap ends after 4\d\.\d s of session, 60 s asked"):
        holdsense_session(roller, duration_s=60)
    assert time.monotonic() - t0 < 30  # not the 120 s limit for 60 s at 8x
