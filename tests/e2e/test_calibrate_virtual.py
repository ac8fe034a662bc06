"""`holdsense calibrate --points ... --yes` against the virtual device (the firmware's own code on a
pty), masses placed through its control socket while the wizard waits: the fit recovers the
simulated load cell (offset, scale, small non-linearity, drift, noise) within 0.5 % of full scale.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

virtual = pytest.importorskip("holdsense.virtual", reason="needs the virtual device (fw branch)")
from holdsense.calibration import STANDARD_GRAVITY_MPS2, Calibration  # noqa: E402

pytestmark = pytest.mark.e2e
G = STANDARD_GRAVITY_MPS2
FULL_SCALE_N = 200 * G      # the reference build's rated full scale (hardware/README.md)
EMPTY = {"name": "empty-roller", "description": "nobody on the roller: calibration bench", "encoder": True,
         "phases": [{"kind": "off", "duration_s": 1.0}]}


def _truth_cell(scenario: str, tmp_path: Path):
    """The virtual device's own load-cell model (same constructor, same seed), for the truth."""
    from holdsense.virtual.device import VirtualDevice

    state = tmp_path / "truth-state"
    state.mkdir()
    vd = VirtualDevice(scenario, seed=0, rate_hz=80, state_dir=str(state))
    return vd.cell


@pytest.mark.parametrize("points", ["0,5,20", "0,5,20,75"])
def test_wizard_recovers_the_virtual_cell(tmp_path: Path, points: str) -> None:
    scen = tmp_path / "empty.json"
    scen.write_text(json.dumps(EMPTY))
    cell = _truth_cell(str(scen), tmp_path)
    cal_file = tmp_path / "cal.json"
    with virtual.spawn(scenario=str(scen), speed=4.0) as dev:
        with subprocess.Popen([sys.executable, "-m", "holdsense.cli", "calibrate", "--port", dev.port,
                               "--points", points, "--yes", "--timeout", "60", "--save", str(cal_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True) as p:
            out = []
            for line in p.stdout:
                out.append(line)
                if line.startswith("step ") and " kg (up to " in line:
                    kg = float(line.split("waiting for ")[1].split(" kg")[0])
                    assert dev.control({"load_kg": kg}).get("ok", True) is not False
            p.wait(120)
            err = p.stderr.read()
        assert p.returncode == 0, err + "".join(out)
        stored = dev.control({"query": True})["settings"]["cal"]
    cal = Calibration.from_json(cal_file.read_text())
    # What the roller stores is what was fitted (float32 on the wire, integer tare).
    assert stored["fitted"] and stored["tare_counts"] == round(cal.tare_counts)
    np.testing.assert_allclose(stored["counts_to_n"], cal.counts_to_n, rtol=1e-6)
    # Truth: the simulated cell without noise, at its zero (its slow drift stays in the error budget).
    masses = [float(m) for m in points.split(",")[1:]]
    test_n = np.array([m * G for m in masses] + list(np.linspace(0, 900, 10)))
    counts = cell.tare_counts + cell.counts_per_n * test_n + cell.quad_counts_per_n2 * test_n ** 2
    # The fit's tare carries the drift at calibration time; compare slopes about its own zero.
    fitted = np.asarray(cal.apply(counts - cell.tare_counts + cal.tare_counts))
    err_n = fitted - test_n
    print(f"points {points}: model {cal.extra['model']}, max error at the masses "
          f"{np.max(np.abs(err_n[:len(masses)])):.3f} N, 0-900 N {np.max(np.abs(err_n)):.3f} N "
          f"({100 * np.max(np.abs(err_n)) / FULL_SCALE_N:.3f} % FS)")
    assert np.max(np.abs(err_n[:len(masses)])) < 0.005 * FULL_SCALE_N
    assert np.max(np.abs(err_n)) < 0.005 * FULL_SCALE_N
