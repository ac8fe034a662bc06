"""CLI commands that talk to a roller (record, tare, devices, deploy), run as real subprocesses
against the scripted pty roller (scripted_roller.py)."""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from serial.tools.list_ports_common import ListPortInfo

from holdsense.commands import devices as devices_cmd
from holdsense.listeners.recorder import Progress, Until
from holdsense.io.recording import read_recording
from holdsense_fw import frame as fw
from rollsignal import SampleChunk

from scripted_roller import DT_US, roller  # noqa: E402,F401  (fixture)

ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def hs(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=kw.pop("env", ENV), **kw)


def test_record_duration_writes_a_complete_file_with_device_metadata(roller, tmp_path):
    r = roller(speed=10.0)
    out = tmp_path / "s.csv"
    p = hs("record", "--port", r.link, "-o", str(out), "--duration", "3", "--body-mass", "72", "--region", "quads")
    assert p.returncode == 0, p.stderr
    rec = read_recording(out)
    m = rec.metadata
    assert m["device"] == "holdsense-roller fw=0.9.0 id=AA:BB" and m["body_mass_kg"] == 72 and m["region"] == "quads"
    assert m["calibration"]["tare_counts"] == 1000 and m["sample_rate_hz"] == 80
    s = rec.samples
    assert len(s) == 240  # 3 s of device time at 80 Hz, cut exactly
    assert s.t_s[0] == 0 and s.t_s[-1] == pytest.approx(239 * DT_US / 1e6, abs=1e-6)
    np.testing.assert_allclose(s.force_n, 0.01 * (s.raw_counts - 1000), atol=1e-3)
    assert s.angle_deg is not None
    assert "saved 240 samples" in p.stderr and str(out) in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_record_stops_cleanly_on_ctrl_c_and_sigterm(roller, tmp_path, sig):
    r = roller(speed=5.0)
    out = tmp_path / "s.csv"
    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "record", "--port", r.link, "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=ENV)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until rows are on disk (flushed at least once a second)
            if out.exists() and out.stat().st_size > 2000:
                break
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rec = read_recording(out)  # complete: no half-written last line
    assert not rec.warnings and len(rec.samples) > 20
    assert "saved" in err and "(interrupted)" in err
    assert fw.C_STOP in r.commands  # the roller was told to stop streaming


def test_record_from_silent_port_is_one_clear_line_exit_2(roller, tmp_path):
    r = roller(silent=True)
    p = hs("record", "--port", r.link, "-o", str(tmp_path / "s.csv"), "--timeout", "0.6")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("holdsense: error:") and "no answer" in lines[0]
    assert not (tmp_path / "s.csv").exists()


def test_record_bad_input_exit_2(roller, tmp_path, capsys):
    # through cli.main in this process (the exit-2 path of a subprocess is covered just above and below;
    # four more interpreter starts would cost seconds of imports each)
    from holdsense.cli import main

    def run(*args: str) -> tuple[int, str]:
        rc = main(list(args))
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("holdsense: error: "), err
        return rc, err

    rc, err = run("record", "--port", str(tmp_path / "nope"), "-o", str(tmp_path / "s.csv"))
    assert rc == 2 and "no such serial port" in err and not (tmp_path / "s.csv").exists()
    (tmp_path / "exists.csv").write_text("x")
    r = roller()
    rc, err = run("record", "--port", r.link, "-o", str(tmp_path / "exists.csv"))
    assert rc == 2 and "--overwrite" in err and (tmp_path / "exists.csv").read_text() == "x"
    rc, err = run("record", "--port", r.link, "--duration", "-1")
    assert rc == 2 and "--duration" in err
    rc, err = run("record")
    assert rc == 2 and "--port" in err


def test_incompatible_protocol_exit_2_names_deploy(roller, tmp_path):
    r = roller(proto_major=2)
    p = hs("record", "--port", r.link, "-o", str(tmp_path / "s.csv"))
    assert p.returncode == 2
    assert "protocol 2.0" in p.stderr and "holdsense deploy --port" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_tare_refuses_a_loaded_roller_unless_forced(roller):
    # the scripted roller reads 100-108 N (raw 11000-11790 counts, zero 1000, 0.01 N per count)
    r = roller()
    p = hs("tare", "--port", r.link)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    n = int(re.search(r"carries (\d+) N", p.stderr).group(1))
    assert 100 <= n <= 108 and "--force" in p.stderr
    assert fw.C_TARE not in r.commands and fw.C_STOP in r.commands  # measured, then left alone
    p = hs("tare", "--port", r.link, "--force")
    assert p.returncode == 0, p.stderr
    assert "zero = 1500 counts (was 1000)" in p.stdout and "--force" in p.stderr
    assert fw.C_TARE in r.commands


def test_a_long_tare_says_how_long_on_stderr(roller, capsys):
    """At 10 SPS `tare --samples 2000` is over 3 minutes of silence (the roller answers when its readings are
    in): it says how long first, on stderr, and stdout keeps its one result line. (In this process: the
    scripted roller answers at once.)"""
    from holdsense.cli import main
    from holdsense.commands.tare import duration_line

    assert duration_line(2000, 10) == ("holdsense: averaging 2000 readings at 10 SPS: about 3 min 20 s; keep the "
                                       "roller unloaded until it answers")
    assert "about 4 s" in duration_line(0, 10)  # the roller's default 40 readings
    assert duration_line(0, 80) is None and duration_line(100, 80) is None  # under 2 s: nothing to wait for
    assert "about 10 s" in duration_line(100, None)  # rate unknown: the slower rate
    r = roller()
    assert main(["tare", "--port", r.link, "--force", "--samples", "2000"]) == 0
    out, err = capsys.readouterr()
    assert "averaging 2000 readings at 80 SPS: about 25 s" in err, err
    assert out.count("\n") == 1 and out.startswith("tared "), out


def test_devices_probe(roller):
    r = roller()
    p = hs("devices", "--probe", r.link, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["fw_version"] == "0.9.0" and d["sensors"] == ["hx711", "as5600"] and d["battery_pct"] == 12
    silent = roller(silent=True)
    p = hs("devices", "--probe", silent.link, "--timeout", "0.5")
    assert p.returncode == 2 and "no answer" in p.stderr


def test_devices_never_writes_to_unknown_usb_ports(roller, tmp_path):
    r = roller()
    other_master, other_slave = os.openpty()  # e.g. a 3-D printer on a CH340 we do not know... or a modem
    os.set_blocking(other_master, False)
    known = ListPortInfo(os.path.realpath(r.link))
    known.vid, known.pid = 0x303A, 0x1001
    unknown = ListPortInfo(os.ttyname(other_slave))
    unknown.vid, unknown.pid = 0x1234, 0x5678
    no_usb = ListPortInfo("/dev/ttyS0")
    args = argparse.Namespace(probe=None, json=True, timeout_s=1.5, no_ble=True, ble_scan_s=0.0)
    buf = io.StringIO()
    old = sys.stdout
    sys.stdout = buf
    try:
        rc = devices_cmd.run(args, list_ports=lambda: [unknown, known, no_usb])
    finally:
        sys.stdout = old
    assert rc == 0
    d = json.loads(buf.getvalue())
    assert d["usb"] == "Espressif USB (ESP32-S3/C3)" and d["device_id"] == "AA:BB"
    try:
        written = os.read(other_master, 4096)
    except BlockingIOError:
        written = b""
    os.close(other_master)
    os.close(other_slave)
    assert written == b""  # not a single byte to a port that is not a known board


def test_board_kind_table():
    assert devices_cmd.board_kind(0x10C4, 0xEA60) == "Silicon Labs CP210x"
    assert devices_cmd.board_kind(0x10C4, 0xEA61) is None
    assert devices_cmd.board_kind(0x1A86, 0x7523) == "WCH CH340"
    assert devices_cmd.board_kind(0x0403, 0x6001) == "FTDI"
    assert devices_cmd.board_kind(0x2E8A, 0x0005).startswith("Raspberry Pi")
    assert devices_cmd.board_kind(None, None) is None


# -- deploy -------------------------------------------------------------------------------------

FAKE_MPREMOTE = """#!{py}
import json, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
for i, a in enumerate(args):  # keep what would land on the board as main.py
    if a == "cp" and args[i + 2] == ":main.py":
        with open({log!r} + ".main.py", "w") as out, open(args[i + 1]) as src:
            out.write(src.read())
if {fail}:
    print("mpremote: failed to access " + sys.argv[2], file=sys.stderr)
    sys.exit(1)
"""


def fake_mpremote(tmp_path, fail=False):
    log = tmp_path / "mpremote.log"
    exe = tmp_path / "fake-mpremote"
    exe.write_text(FAKE_MPREMOTE.format(py=sys.executable, log=str(log), fail=fail))
    exe.chmod(0o755)
    return exe, log


def test_deploy_copies_every_firmware_file_and_main_then_resets(tmp_path):
    master, slave = os.openpty()
    port = os.ttyname(slave)
    exe, log = fake_mpremote(tmp_path)
    try:
        p = hs("deploy", "--port", port, "--no-exit", env=dict(ENV, HOLDSENSE_MPREMOTE=str(exe)))
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 0, p.stderr
    argv = json.loads(log.read_text().splitlines()[0])
    assert argv[:2] == ["connect", port] and argv[-1] == "soft-reset"
    import holdsense_fw

    pkg = Path(holdsense_fw.__file__).parent
    want = {":holdsense_fw/" + str(f.relative_to(pkg)) for f in pkg.rglob("*.py") if "__pycache__" not in f.parts}
    copied = {argv[i + 3] for i, a in enumerate(argv) if a == "fs" and argv[i + 1] == "cp"}
    assert want | {":main.py"} == copied
    assert "deployed" in p.stdout
    from holdsense_fw import manifest

    # the firmware's own one-line entry (a wheel install has no firmware/main.py beside the package)
    assert Path(str(log) + ".main.py").read_text() == manifest.MAIN_PY == "from holdsense_fw.app import main; main()\n"


def test_deploy_dry_run_needs_no_port_and_runs_nothing(tmp_path):
    """--dry-run prints the commands for a board not plugged in yet; before, it stopped at 'no such serial port'."""
    port = str(tmp_path / "ttyACM0")  # does not exist
    exe, log = fake_mpremote(tmp_path)
    p = hs("deploy", "--port", port, "--dry-run", env=dict(ENV, HOLDSENSE_MPREMOTE=str(exe)))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"# first, holdsense deploy asks holdsense firmware on {port} to return")
    assert lines[1] == "# needs ./main.py holding: from holdsense_fw.app import main; main()"
    cmd = shlex.split(p.stdout.split("\n", 2)[2])
    assert cmd[:3] == [str(exe), "connect", port] and cmd[-1] == "soft-reset"
    assert "main.py" in cmd and ":main.py" in cmd  # ./main.py: a path that is still there to run it with
    assert not log.exists(), "a dry run runs nothing"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["fake-mpremote"]
    p = hs("deploy", "--port", port, "--dry-run", "--no-exit", env=dict(ENV, HOLDSENSE_MPREMOTE=str(exe)))
    assert p.returncode == 0 and p.stdout.startswith("# needs ./main.py")


def test_deploy_errors_are_exit_2(tmp_path, capsys, monkeypatch):
    # through cli.main in this process (the subprocess path is the test above); mpremote stays a real program
    from holdsense.cli import main

    def run(*args: str, mpremote: str | None = None) -> tuple[int, str, str]:
        if mpremote is None:
            monkeypatch.delenv("HOLDSENSE_MPREMOTE", raising=False)
        else:
            monkeypatch.setenv("HOLDSENSE_MPREMOTE", mpremote)
        rc = main(list(args))
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    rc, _, err = run("deploy", "--port", str(tmp_path / "ttyNOPE"))
    assert rc == 2 and "no such serial port" in err
    master, slave = os.openpty()
    port = os.ttyname(slave)
    try:
        rc, _, err = run("deploy", "--port", port, mpremote=str(tmp_path / "no-mpremote"))
        assert rc == 2 and "mpremote not found" in err and err.count("\n") == 1
        exe, _ = fake_mpremote(tmp_path, fail=True)
        rc, _, err = run("deploy", "--port", port, "--no-exit", mpremote=str(exe))
        assert rc == 2 and "mpremote failed: mpremote: failed to access" in err
        rc, out, _ = run("deploy", "--port", port, "--dry-run")
        assert rc == 0 and "mpremote connect" in out and ":main.py" in out
    finally:
        os.close(master)
        os.close(slave)


# -- in-process pieces of record --------------------------------------------------------------


def test_until_cuts_exactly_and_progress_line():
    t = np.arange(0, 10, 1 / 80)
    whole = SampleChunk(t, np.ones_like(t))
    got = []
    out = io.StringIO()
    clock = iter(np.arange(0, 1e4, 0.5)).__next__
    prog = Progress(out, stats=lambda: {"lost_frames": 2, "lost_samples": 9, "corrupt_frames": 1, "link": "ok"},
                    tty=False, log_interval_s=1.0, clock=clock)
    u = Until([lambda c: got.append(c), prog], duration_s=5.0)
    for c in whole.split([7] * 200):
        u.on_samples(c)
    assert u.done.is_set()
    s = SampleChunk.concat(got)
    assert len(s) == 400 and s.t_s[-1] < 5.0
    lines = out.getvalue().splitlines()
    assert lines and "80.0 Hz" in lines[-1] and "lost 2 frames/9 samples" in lines[-1] and "corrupt 1" in lines[-1]
    assert lines[-1].startswith("recording 00:04")
