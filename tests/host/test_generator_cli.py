"""`holdsense simulate --generator G` for the built-in generators, then `holdsense analyze` on what it
wrote: real subprocess CLI calls, real files. One test for every independent generator, so each new one
is wired into the command the same way."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from holdsense.io.labels import read_labels
from holdsense.io.recording import read_recording


@pytest.mark.parametrize("generator", ["quasistatic", "controlsim", "tissuesim", "trajsim"])
def test_simulate_and_analyze_cli_with_a_builtin_generator(generator: str, tmp_path) -> None:
    ref = importlib.import_module(f"holdsense.{generator}").generate("limb", 3, rate_hz=10.0, encoder=False)
    out = tmp_path / "limb.csv"
    cmd = [sys.executable, "-m", "holdsense.cli", "simulate", "--generator", generator]
    proc = subprocess.run(cmd + ["--scenario", "limb", "--seed", "3", "--rate", "10", "--no-encoder", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"{generator} limb seed 3" in proc.stdout
    rec = read_recording(out, warn=None)
    np.testing.assert_allclose(rec.samples.force_n, ref.force_n, atol=1e-2)
    assert rec.samples.angle_deg is None
    labels = read_labels(tmp_path / "limb.labels.json")
    assert labels["segments"] == json.loads(json.dumps(ref.labels["segments"]))
    # who made the labels, as for any labelled recording (dataset export's "labelled by")
    assert labels["labeller"]["who"] == generator and labels["labeller"]["how"] == "simulator"
    proc = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["format"] == "holdsense-analysis/1"
    assert res["segments"][0]["start_s"] == pytest.approx(float(ref.t_s[0]), abs=1e-3)  # the first sample
    assert res["summary"]["duration_s"] == pytest.approx(float(ref.t_s[-1]), abs=0.5)
    # sim's family name, not this generator's: one error line naming the generator and the scenario, exit 2
    bad = subprocess.run(cmd + ["--scenario", "gaps", "-o", str(tmp_path / "x.csv")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert generator in bad.stderr and "gaps" in bad.stderr
    assert not (tmp_path / "x.csv").exists()


def test_simulate_refuses_a_rate_the_generator_does_not_model(tmp_path) -> None:
    """trajsim models the HX711's two rates only: --rate 20 is one error line and exit 2, no traceback."""
    out = tmp_path / "x.csv"
    proc = subprocess.run([sys.executable, "-m", "holdsense.cli", "simulate", "--generator", "trajsim", "--scenario",
                           "limb", "--rate", "20", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "trajsim" in proc.stderr and "10 or 80" in proc.stderr
    assert not out.exists()


def test_the_first_simulators_labels_say_who_made_them() -> None:
    """holdsense.sim's labels carry a `labeller` block too (dataset export showed "labelled by -")."""
    from holdsense.sim import simulate

    lab = simulate("standard", 1, rate_hz=10, encoder=False, duration_s=30.0).labels["labeller"]
    assert lab["who"] == "sim" and lab["how"] == "simulator" and lab["tool"].startswith("holdsense ")


def test_a_labeller_without_user_in_the_environment_is_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`label` defaults `who` to the login name (docs/labelling.md): with $USER unset (cron, containers) it
    comes from the password database, not "unknown"."""
    import getpass
    import pwd

    from holdsense.io.labels import labeller

    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(var, raising=False)
    assert labeller(None, "manual")["who"] == pwd.getpwuid(os.getuid()).pw_name == getpass.getuser()
    assert labeller("anna", "manual")["who"] == "anna"
