"""A raw wire capture over BLE (real bleak, fake BlueZ on a private D-Bus): one notification per RX record,
the link packetized, and the capture decodes to exactly the recording made at the same time."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.io.capture import K_RX, K_TX, read_capture
from holdsense.virtual.capture import decode_capture
from holdsense.link.frames import decode_raw
from holdsense.io.recording import read_recording
from holdsense.pytest_plugin import assert_same_samples

pytestmark = pytest.mark.ble


def test_record_ble_with_capture(roller_factory, ble_env, tmp_path: Path):
    roller = roller_factory(speed=4.0)
    out, cap_path = tmp_path / "ble.csv", tmp_path / "ble.hscap"
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "record", "--ble", roller.name, "-o", str(out),
                          "--capture", str(cap_path), "--duration", "12", "--quiet"], capture_output=True, text=True,
                         timeout=120, env=ble_env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    cap = read_capture(cap_path)
    assert cap.complete and len(cap.links) == 1
    link = cap.links[0]
    assert link.packetized and link.info["transport"] == "ble" and link.info["address"] == roller.address
    rx = [r for r in cap.records if r.kind == K_RX]
    assert len(rx) > 50
    for r in rx + [r for r in cap.records if r.kind == K_TX]:
        decode_raw(r.data)  # every chunk is exactly one raw frame (CRC checked)
    rec = read_recording(out, warn=None)
    dec = decode_capture(cap).to_recording()
    assert len(dec.samples) == len(rec.samples) > 100
    for col in ("t_s", "force_n", "angle_deg", "raw_counts", "flags"):
        a, b = getattr(dec.samples, col), getattr(rec.samples, col)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), col


# ------------------------------------------------------------------ replaying captures onto the fake BLE peripheral
LIB = Path(__file__).resolve().parents[1] / "captures"


def _replay_ble(ble_env, tmp_path: Path, first_lines, capture: Path, *args: str):
    """`virtual-device --replay-capture CAPTURE --ble` on the test's bus: (process, name, address, control)."""
    control = str(tmp_path / "replay.sock")
    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "virtual-device", "--replay-capture",
                             str(capture), "--ble", "--bus", ble_env["DBUS_SYSTEM_BUS_ADDRESS"], "--control", control,
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=ble_env)
    ble_line, _bus, _control = first_lines(proc, 3, 60.0)
    _, name, address = ble_line.split()
    return proc, name, address, control


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace")


def _frames_of(cap) -> list[bytes]:
    """Every good frame the capture's host received, as raw bytes (serial: COBS taken off), in order."""
    from holdsense.link.frames import FrameDecoder, FrameError, encode_frame

    out: list[bytes] = []
    decoders: dict[int, FrameDecoder] = {}
    for r in cap.records:
        if r.kind != K_RX:
            continue
        if cap.links[r.link].packetized:
            try:
                decode_raw(r.data)
                out.append(r.data)
            except FrameError:
                pass
        else:
            dec = decoders.setdefault(r.link, FrameDecoder())
            out += [encode_frame(f.type, f.seq, f.payload) for f in dec.feed(r.data)]
    return out


def _assert_same_samples_across_a_reboot(again, src) -> None:
    """`again` (recorded from a replay of the capture `src`, which has a reboot) holds the original's samples
    up to the --duration end, every one of them.

    t_s after a reboot: the host places the new boot by the host time that passed; the replay plays the
    reboot at 1x (at 4x without that the new time base came ~0.4 s early), so it agrees to scheduling jitter
    (<= 0.05 s; ~30 ms seen on a loaded machine). The --duration end is session time, so that jitter also
    moves which sample is the last one before it: a sample or two either way (one fewer than the original
    recording is not a lost sample when the replay's t_s put it past the end). So the expected count is
    judged on the replay's own time base: the original's samples (decoded past the end too), shifted by the
    offset measured on the samples both have, cut where the recording's end falls. A sample the host lost
    still fails: in the middle the columns no longer line up, at the end the count is short."""
    duration_s = float(src.session["duration_s"])
    full = decode_capture(src, duration_s=duration_s + 1.0).to_recording().samples  # a second past the end
    n = min(len(again), len(full))
    assert n > 0
    shift_s = float(again.t_s[n - 1] - full.t_s[n - 1])  # the new boot's placement: 0 before the reboot
    assert abs(shift_s) <= 0.05, f"t_s after the reboot off by {shift_s:.3f} s"
    n_expected = int(np.count_nonzero(full.t_s + shift_s < duration_s))  # the end is far after the reboot
    assert_same_samples(again, full.slice(0, n_expected), t_atol_s=0.05)


@pytest.mark.parametrize("name, command", [("session", "live"), ("dropout", "record"), ("corrupt", "record"),
                                           ("reboot", "record")])
def test_serial_capture_replayed_onto_ble_records_the_same_samples(name, command, ble_env, tmp_path, first_lines):
    """A serial capture on the fake BLE peripheral, recorded by `holdsense record --ble` (real bleak): the
    original recording's samples; every good frame notified with the captured bytes, one per notification;
    the link drop, the corrupt bursts and the reboot seen by the host as in the original."""
    src = read_capture(LIB / f"{name}.hscap")
    original = read_recording(LIB / f"{name}.csv.gz", warn=None)
    proc, ble_name, address, control = _replay_ble(ble_env, tmp_path, first_lines, LIB / f"{name}.hscap",
                                                   "--speed", "4")
    try:
        # the replayed roller has the captured roller's identity: its device id is its MAC
        assert address == "7C:DF:A1:00:11:22" and ble_name == "holdsense-1122"
        out, cap2 = tmp_path / "again.csv", tmp_path / "again.hscap"
        args = ["--capture", str(cap2), "--quiet"] if command == "record" else ["--plain"]
        res = subprocess.run([sys.executable, "-m", "holdsense.cli", command, "--ble", ble_name, "-o", str(out),
                              *args, "--duration", str(src.session["duration_s"])],
                             capture_output=True, text=True, timeout=180, env=ble_env, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        from holdsense.virtual.process import send_control

        q = send_control(control, {"query": True})
    finally:
        err = _stop(proc)
    assert q["replay"] and q["done"] and q["commands_skipped"] == 0, (q, err)
    again = read_recording(out, warn=None)
    if name == "reboot":
        _assert_same_samples_across_a_reboot(again.samples, src)
    else:
        assert_same_samples(again.samples, original.samples)
    if command == "live":
        assert again.metadata["port"] == f"ble {ble_name}"
        return
    re = read_capture(cap2)
    assert all(li.packetized and li.info["transport"] == "ble" for li in re.links)
    assert len(re.links) == len(src.links)  # the dropout's reconnect is a BLE link loss and reconnect
    # byte identity: the good frames are the captured frames, in order, byte for byte (replies re-addressed
    # to the live host's command numbers, which this host numbers alike)
    assert _frames_of(re) == _frames_of(src)
    orig_dec, again_dec = decode_capture(src), decode_capture(re)
    for k in ("lost_samples", "reboots", "reconnects"):
        assert again_dec.stats[k] == orig_dec.stats[k], k
    assert [g["reason"] for g in again_dec.gaps] == [g["reason"] for g in orig_dec.gaps]
    if name == "corrupt":  # each garbage run between delimiters is one bad notification, as on serial
        assert again_dec.stats["corrupt_frames"] == orig_dec.stats["corrupt_frames"] >= 2


def test_ble_capture_replays_onto_ble_notification_for_notification(roller_factory, ble_env, tmp_path, first_lines):
    """A capture made over BLE, replayed onto the fake peripheral: every notification has the captured bytes
    (all of them, in order), and recording it again gives the first recording's samples."""
    roller = roller_factory(speed=4.0)
    first, cap1 = tmp_path / "first.csv", tmp_path / "first.hscap"
    res = subprocess.run([sys.executable, "-m", "holdsense.cli", "record", "--ble", roller.name, "-o", str(first),
                          "--capture", str(cap1), "--duration", "8", "--quiet"], capture_output=True, text=True,
                         timeout=120, env=ble_env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    roller.stop()  # its peripheral leaves the bus: the replay takes the same address
    proc, name, address, _control = _replay_ble(ble_env, tmp_path, first_lines, cap1, "--speed", "3")
    try:
        assert address == roller.address  # the captured BLE link's address
        again, cap2 = tmp_path / "again.csv", tmp_path / "again.hscap"
        res = subprocess.run([sys.executable, "-m", "holdsense.cli", "record", "--ble", name, "-o", str(again),
                              "--capture", str(cap2), "--duration", "8", "--quiet"], capture_output=True, text=True,
                             timeout=120, env=ble_env, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
    finally:
        _stop(proc)
    rx1 = [r.data for r in read_capture(cap1).records if r.kind == K_RX]
    rx2 = [r.data for r in read_capture(cap2).records if r.kind == K_RX]
    assert rx2 == rx1 and len(rx1) > 50
    assert_same_samples(read_recording(again, warn=None).samples, read_recording(first, warn=None).samples)


def test_replay_onto_ble_refuses_an_mtu_too_small_for_the_captured_frames(tmp_path):
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "virtual-device", "--replay-capture",
                        str(LIB / "session.hscap"), "--ble", "--ble-mtu", "23"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("holdsense: error: --ble-mtu 23: the capture has frames of "), p.stderr


def test_plugin_ble_fixtures_from_a_throwaway_project(demo_env, tmp_path):
    """Another project's tests use the pytest11 fixtures with ble=True: a replayed capture and a simulated
    roller, each on its own fake BlueZ, found by bleak through the address the fixture hands over."""
    import os
    import textwrap

    proj = tmp_path / "other-project"
    proj.mkdir()
    (proj / "test_ble_app.py").write_text(textwrap.dedent(f"""
        import os

        CAPTURE = {str(LIB / "session.hscap")!r}
        SCENARIO = {str(LIB / "scenarios" / "capture-session.json")!r}

        def test_replayed_capture_over_ble(holdsense_replay, holdsense_session, holdsense_assert_holds):
            roller = holdsense_replay(CAPTURE, speed=4, ble=True)
            assert roller.port is None and roller.ble_name == "holdsense-1122"
            assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == roller.bus_address
            session = holdsense_session(roller, duration_s=40)
            assert session.stats["lost_samples"] == 0 and session.stats["corrupt_frames"] == 0
            holdsense_assert_holds(session, CAPTURE, start_tol_s=0.5, duration_tol_s=0.5)

        def test_simulated_roller_over_ble(holdsense_device, holdsense_session):
            roller = holdsense_device(SCENARIO, speed=4, ble=True)
            assert roller.ble_address == "7C:DF:A1:00:11:22"
            session = holdsense_session(roller, duration_s=5)
            assert len(session.samples) > 5 * 70

        def test_bus_restored():
            assert "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ
    """))
    env = {k: v for k, v in demo_env.items() if not k.startswith("PYTEST")}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"], cwd=proj,
                       capture_output=True, text=True, timeout=400, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "3 passed" in p.stdout and not list(proj.glob("conftest.py"))
