"""`holdsense calibrate`: the wizard as a real subprocess against a roller on a real pty.

The roller here is the hostio scripted pty roller (the firmware's own framing) with a load-cell
model behind it: offset, scale, a small non-linearity, noise, and a load that is *placed* (it
rocks and settles for a moment) when the test puts a mass on. The test reacts to the wizard's
own output, as a person would. tests/e2e/test_calibrate_virtual.py drives the real virtual
device through its control socket the same way.
"""
from __future__ import annotations

import json
import math
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import scripted_roller as sr  # noqa: E402
from holdsense_fw import frame as fw  # noqa: E402

from holdsense.calibration import STANDARD_GRAVITY_MPS2, Calibration  # noqa: E402

G = STANDARD_GRAVITY_MPS2
FULL_SCALE_N = 200 * G          # reference build (hardware/README.md)


class LoadRoller(sr.ScriptedRoller):
    """Scripted roller whose raw counts come from a load-cell model and a settable load."""

    OFFSET = 84_210.0
    COUNTS_PER_N = 2190.0
    QUAD = -0.0005 * 2190.0 / 1000.0   # −0.05 % at 1000 N: a small, realistic non-linearity
    NOISE = 50.0

    def __init__(self, link: str, **kw) -> None:
        self.rng = np.random.default_rng(11)
        self.load_n = 0.0
        self.target_n = 0.0
        self.settle_left = 0
        self.wobble = False
        self.stored_cal: dict | None = None
        super().__init__(link, **kw)

    def truth_counts(self, force_n: np.ndarray | float) -> np.ndarray:
        f = np.asarray(force_n, dtype=float)
        return self.OFFSET + self.COUNTS_PER_N * f + self.QUAD * f * f

    def place(self, mass_kg: float, settle_samples: int = 60) -> None:
        """Put a mass on: the reading rocks around the new level for a while, then settles."""
        with self.lock:
            self.target_n = mass_kg * G
            self.settle_left = settle_samples

    def _emit(self, n: int) -> None:
        samples = []
        for _ in range(n):
            f = self.target_n
            if self.settle_left > 0 or self.wobble:
                self.settle_left = max(0, self.settle_left - 1)
                f = self.target_n * (1 + 0.05 * math.sin(self.index / 3.0))  # rocking mass
            raw = int(round(float(self.truth_counts(f)) + self.rng.normal(0, self.NOISE)))
            samples.append((self.t_us, raw, 0, 0))
            self.t_us += sr.DT_US
            self.index += 1
        self._send(fw.encode_samples(self._seq(), self.index - n, samples, self.has_angle))

    def _command(self, seq: int, cmd: int, args: bytes) -> None:
        if cmd == fw.C_SET_CAL:
            self.commands.append(cmd)
            cal, _ = fw.decode_cal(bytes(args), 0)
            cal["fitted"] = True
            self.stored_cal = cal
            self.cal = cal
            self._send(fw.encode_ack(self._seq(), seq, cmd, fw.encode_cal(cal)))
            return
        super()._command(seq, cmd, args)


@pytest.fixture
def load_roller(tmp_path):
    rollers = []

    def make(**kw):
        r = LoadRoller(str(tmp_path / "roller"), **kw)
        rollers.append(r)
        return r

    yield make
    for r in rollers:
        r.close()


def _wizard(args: list[str], roller: LoadRoller, masses: dict[float, float], *, timeout: float = 90):
    """Run the wizard; when it announces it waits for a mass, place that mass (masses: asked → placed)."""
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "holdsense.cli", "calibrate", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True) as p:
        for line in p.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("step ") and " kg (up to " in line:
                asked = float(line.split("waiting for ")[1].split(" kg")[0])
                roller.place(masses.get(asked, asked))
        p.wait(timeout)
        err = p.stderr.read()
    return p.returncode, lines, err


def test_points_yes_recovers_the_cell_within_half_a_percent(load_roller, tmp_path: Path) -> None:
    r = load_roller(speed=4.0)
    cal_file = tmp_path / "cal.json"
    rc, out, err = _wizard(["--port", r.link, "--points", "0,5,20,75", "--yes", "--timeout", "30",
                            "--save", str(cal_file)], r, {})
    assert rc == 0, err + "\n".join(out)
    text = "\n".join(out)
    assert "residual:" in text and "non-linearity:" in text and "saved on the roller" in text
    cal = Calibration.from_json(cal_file.read_text())
    # Stored on the roller exactly (float32 on the wire).
    assert r.stored_cal is not None and fw.C_SET_CAL in r.commands
    assert r.stored_cal["tare_counts"] == round(cal.tare_counts)
    np.testing.assert_allclose(r.stored_cal["counts_to_n"], cal.counts_to_n, rtol=1e-6)
    # Fitted force vs the model's truth, at every test mass and in between, within 0.5 % FS.
    test_n = np.array([m * G for m in (5, 20, 75)] + list(np.linspace(0, 900, 19)))
    err_n = np.asarray(cal.apply(r.truth_counts(test_n))) - test_n
    assert np.max(np.abs(err_n)) < 0.005 * FULL_SCALE_N, err_n
    # It is in fact far better than the requirement with a steady, well-placed load.
    assert np.max(np.abs(err_n[:3])) < 0.001 * FULL_SCALE_N
    assert r.commands[-1] == fw.C_STOP  # the wizard stopped the stream when done


def test_no_store_and_wrong_mass_is_caught(load_roller, tmp_path: Path) -> None:
    """A 20 kg step asked, a 2 kg one placed: the wizard keeps waiting and then says why (exit 2)."""
    r = load_roller(speed=4.0)
    rc, out, err = _wizard(["--port", r.link, "--points", "0,10,20", "--yes", "--timeout", "4", "--no-store"],
                           r, {20.0: 12.0})
    assert rc == 2
    assert "20 kg: no stable reading within 4 s" in err and "expected about" in err
    assert len(err.strip().splitlines()) == 1
    assert fw.C_SET_CAL not in r.commands


def test_moving_load_is_never_taken(load_roller) -> None:
    r = load_roller(speed=4.0)
    r.wobble = True   # the mass keeps rocking: no point may be taken
    rc, out, err = _wizard(["--port", r.link, "--points", "0,5,20", "--yes", "--timeout", "4"], r, {})
    assert rc == 2 and "5 kg: no stable reading" in err and "load moving" in err
    assert fw.C_SET_CAL not in r.commands


def test_interactive_on_a_terminal(load_roller, tmp_path: Path) -> None:
    """The prompts on a real pty: Enter for the tare, masses typed in, empty line to finish, 'y' to save."""
    r = load_roller(speed=4.0)
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "calibrate", "--port", r.link, "--timeout", "30"],
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    script = [(b"Press Enter when ready", None, b"\n"), (b"empty = done", 5.0, b"5\n"),
              (b"empty = done", 20.0, b"20\n"), (b"empty = done", None, b"\n"), (b"[Y/n]", None, b"y\n")]
    deadline = time.monotonic() + 90
    step = 0
    try:
        while p.poll() is None and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            buf += chunk
            if step < len(script) and buf.count(script[step][0]) >= sum(1 for s in script[:step + 1]
                                                                        if s[0] == script[step][0]):
                marker, mass, answer = script[step]
                if mass is not None:
                    r.place(mass)
                    time.sleep(0.3)  # the mass is on before the person says so
                os.write(master, answer)
                step += 1
        p.wait(30)
    finally:
        os.close(master)
    text = buf.decode("utf-8", "replace")
    assert p.returncode == 0, text
    assert step == len(script)
    assert "saved on the roller" in text and r.stored_cal is not None
    assert 1 / r.stored_cal["counts_to_n"][1] == pytest.approx(LoadRoller.COUNTS_PER_N, rel=0.003)


def _hs(*args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=30, stdin=stdin)


@pytest.mark.parametrize("args, message", [
    (["--port", "/nonexistent"], "stdin is not a terminal"),
    (["--port", "/nonexistent", "--yes"], "--yes needs --points"),
    (["--port", "/nonexistent", "--points", "5,20", "--yes"], "first point must be 0"),
    (["--port", "/nonexistent", "--points", "0,5", "--yes"], "at least two known masses"),
    (["--port", "/nonexistent", "--points", "0,20,5", "--yes"], "different and increasing"),
    (["--port", "/nonexistent", "--points", "0,5,5", "--yes"], "different and increasing"),
    (["--port", "/nonexistent", "--points", "0,five,20", "--yes"], "separated by commas"),
    (["--port", "/nonexistent", "--points", "0,5,20", "--yes", "--timeout", "0"], "--timeout"),
    (["--port", "/nonexistent", "--points", "0,5,20", "--yes", "--gravity", "1.6"], "--gravity"),
    (["--points", "0,5,20", "--yes"], "no roller given"),
])
def test_bad_options_exit_2_before_touching_a_device(args: list[str], message: str) -> None:
    r = _hs("calibrate", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_silent_port_is_one_clear_line(load_roller) -> None:
    r = load_roller(silent=True)
    res = _hs("calibrate", "--port", r.link, "--points", "0,5,20", "--yes")
    assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_saved_file_feeds_recalibrate(load_roller, tmp_path: Path) -> None:
    """The --save JSON is what `recalibrate` takes (the round trip a lab uses after the fact)."""
    r = load_roller(speed=4.0)
    cal_file = tmp_path / "cal.json"
    rc, _, err = _wizard(["--port", r.link, "--points", "0,5,20", "--yes", "--timeout", "30", "--no-store",
                          "--save", str(cal_file), "--linear"], r, {})
    assert rc == 0, err
    obj = json.loads(cal_file.read_text())
    assert obj["model"] == "linear" and len(obj["points"]) == 3 and fw.C_SET_CAL not in r.commands
    rec = tmp_path / "rec.csv"
    rec.write_text("# format: holdsense-recording/1\nt_s,force_n,raw_counts,flags\n"
                   f"0.0,0.0,{LoadRoller.OFFSET + 2190 * 100:.0f},\n")
    out = tmp_path / "out.csv"
    assert _hs("recalibrate", str(rec), "--calibration", str(cal_file), "-o", str(out)).returncode == 0
    force = float(out.read_text().strip().splitlines()[-1].split(",")[1])
    assert force == pytest.approx(100.0, abs=0.5)
