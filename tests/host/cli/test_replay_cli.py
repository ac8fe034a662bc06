"""`holdsense replay` as a subprocess with the real rollsignal.Detector: live and offline agree."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rollsignal
from holdsense.io.recording import write_recording
from rollsignal import SampleChunk

if not hasattr(rollsignal, "Detector"):  # pragma: no cover - until the detector lands on this branch
    pytest.skip("rollsignal.Detector not available yet", allow_module_level=True)


def session(tmp_path):
    """Roll 20 s, hold 45 s at light pressure, step off 10 s, roll 15 s, hold 35 s; 80 Hz with encoder."""
    rng = np.random.default_rng(7)
    parts_f, parts_a = [], []
    angle = 0.0
    for kind, dur in (("off", 5), ("roll", 20), ("hold", 45), ("off", 10), ("roll", 15), ("hold", 35), ("off", 5)):
        t = np.arange(0, dur, 1 / 80)
        if kind == "off":
            f = rng.normal(0, 0.5, len(t))
            a = np.full(len(t), angle)
        elif kind == "roll":
            f = 230 + 30 * np.sin(2 * np.pi * t / 2.5) + rng.normal(0, 3, len(t))
            a = angle + 150 * np.sin(2 * np.pi * t / 2.5)
        else:
            f = 120 + 4 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 1.5, len(t))
            a = np.full(len(t), angle) + rng.normal(0, 0.05, len(t))
        angle = float(a[-1])
        parts_f.append(f)
        parts_a.append(a)
    f = np.concatenate(parts_f)
    a = np.concatenate(parts_a)
    t = np.arange(len(f)) / 80
    p = tmp_path / "s.csv"
    write_recording(p, SampleChunk(t, f, angle_deg=a), {"sample_rate_hz": 80, "body_mass_kg": 75})
    return p


def hs(*args):
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_replay_plain_lines_agree_with_analyze(tmp_path):
    p = session(tmp_path)
    r = hs("replay", str(p), "--speed", "max")  # stdout is a pipe: plain lines, no stdin read
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    ended = [ln for ln in lines if "hold ended" in ln]
    assert any("now holding" in ln for ln in lines) and any("now rolling" in ln for ln in lines)
    assert lines[-1].startswith("[") and "end: session" in lines[-1]
    a = hs("analyze", str(p), "--json")
    assert a.returncode == 0, a.stderr
    holds = json.loads(a.stdout)["holds"]
    assert len(holds) == 2 and len(ended) == len(holds)
    for ln, h in zip(ended, holds):  # the same scores the batch analysis gives
        assert f"score {h['score']}" in ln and f"{h['duration_s']:.0f} s" in ln


def test_replay_bad_input_exit_2(tmp_path):
    r = hs("replay", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = hs("replay", str(session(tmp_path)), "--speed", "fast")
    assert r.returncode == 2 and "--speed" in r.stderr


def _cpu_s(pid):
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _replay_web_until_finished(args, stdout, timeout_s=90.0, idle_s=0.0, idle_cpu=None):
    """`holdsense replay ... --web` (any free port, no browser) until it says the replay finished, then Ctrl-C.

    With `idle_s`, waits that long after the finish first and appends the CPU seconds used meanwhile to
    `idle_cpu`. Returns (exit code, stderr). No browser: what is tested is the terminal side beside the page.
    """
    import select
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "replay", *args, "--web", "--web-port", "0",
                             "--no-browser", "--speed", "max"], stdout=stdout, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    err = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                line = proc.stderr.readline()
                err.append(line)
                if "replay finished" in line or (not line and proc.poll() is not None):
                    break
        if idle_s and proc.poll() is None:
            cpu0 = _cpu_s(proc.pid)
            time.sleep(idle_s)
            idle_cpu.append(_cpu_s(proc.pid) - cpu0)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(err) + (rest or "")


def test_replay_web_prints_plain_lines_beside_the_page(tmp_path):
    """docs/web.md: the terminal view (plain lines off a terminal) runs beside the page, for replay as for live."""
    p = session(tmp_path)
    out = tmp_path / "stdout.txt"  # a file: not a terminal, so plain lines
    with open(out, "w") as fh:
        rc, err = _replay_web_until_finished([str(p)], fh)
    assert rc == 0 and "replay finished" in err, err
    lines = out.read_text().splitlines()
    plain = hs("replay", str(p), "--speed", "max").stdout.splitlines()
    ended = [ln for ln in lines if "hold ended" in ln]
    assert len(ended) == 2 and ended == [ln for ln in plain if "hold ended" in ln]  # as replay without --web
    assert lines[-1].startswith("[") and "end: session" in lines[-1]


@pytest.mark.skipif(os.name != "posix", reason="needs a pty")
def test_replay_web_honours_plain_on_a_terminal(tmp_path):
    import pty

    p = session(tmp_path)
    master, slave = pty.openpty()
    try:
        rc, err = _replay_web_until_finished([str(p), "--plain"], slave)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert rc == 0, err
    assert "hold ended" in text and "end: session" in text and "\x1b[" not in text  # lines, not the full screen


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc")
def test_replay_web_idles_after_the_end(tmp_path):
    """Finished, the page stays up to scrub: the command waits, it does not spin a core."""
    idle_cpu = []
    with open(tmp_path / "stdout.txt", "w") as fh:
        rc, err = _replay_web_until_finished([str(session(tmp_path))], fh, idle_s=2.0, idle_cpu=idle_cpu)
    assert rc == 0, err
    assert idle_cpu and idle_cpu[0] < 0.5, f"{idle_cpu[0]:.2f} CPU s in 2 s of waiting"


def test_plain_hold_lines_use_the_profiles_units(tmp_path) -> None:
    """A kg profile: the plain view's 'hold ended' line gives the mean force in kg, as its status lines give
    the force (it said 'mean 121 N' between lines saying 'force 12.2 kg')."""
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "..", "recordings", "demo-standard.csv")
    env = dict(os.environ, HOLDSENSE_CONFIG_DIR=str(tmp_path / "config"))
    subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--units", "kg"], env=env, check=True,
                   capture_output=True, timeout=60)
    out = subprocess.run([sys.executable, "-m", "holdsense.cli", "replay", demo, "--speed", "max", "--plain"],
                         env=env, capture_output=True, text=True, timeout=300).stdout
    ended = [ln for ln in out.splitlines() if "hold ended:" in ln]
    assert ended and all(" kg" in ln.split(" — ")[0] and " N," not in ln for ln in ended), ended
