"""The firmware's nominal scale and its thresholds in counts, against the hardware force budget.

hardware/force_budget.py is the source of the reference build's figures (hardware/README.md);
the firmware's nominal calibration, idle threshold, spike rule and the virtual device's
simulated cell must make physical sense at that scale.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

HW = Path(__file__).resolve().parents[2] / "hardware"


def _budget() -> tuple[dict, dict]:
    spec = importlib.util.spec_from_file_location("hw_force_budget_scale", HW / "force_budget.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod.budget(mod.BUILDS[0]), mod.budget(mod.BUILDS[1])


def test_nominal_calibration_and_thresholds_are_the_reference_build(rig_factory):
    rig_factory(encoder=False)  # the shims below the drivers (hx711 imports `machine`)
    from holdsense_fw import config
    from holdsense_fw.hx711 import SAT_HIGH
    ref, budget_build = _budget()
    assert config.REFERENCE_COUNTS_PER_N == pytest.approx(ref["counts_per_n"], rel=1e-3)
    assert config.NOMINAL_CAL["counts_to_n"] == [0.0, pytest.approx(1 / ref["counts_per_n"], rel=1e-3)]
    # idle: "loaded" means the same 20 N as the automatic tare's band, far above the noise
    slope = config.NOMINAL_CAL["counts_to_n"][1]
    assert config.DEFAULTS["load_counts"] * slope == pytest.approx(config.AUTO_TARE_BAND_N, rel=0.01)
    assert config.DEFAULTS["load_counts"] > 100 * 5 * ref["noise_80sps_counts_rms"]
    # saturation: with a typical zero offset (84210 counts ~ the shell's weight) the rail lies
    # beyond the cells' safe overload, so a saturated code always means a fault, never a body
    assert (SAT_HIGH - 84210) / ref["counts_per_n"] > ref["safe_overload_n"]
    assert (SAT_HIGH - 84210) / budget_build["counts_per_n"] > budget_build["safe_overload_n"]


def test_spike_threshold_is_the_mask_span_and_above_the_noise(rig_factory):
    rig_factory(encoder=False)
    from holdsense_fw.hx711 import SPURIOUS_MASK
    from holdsense_fw.sampler import SPIKE_JUMP
    ref, _ = _budget()
    assert SPIKE_JUMP == SPURIOUS_MASK + 1 == 4096
    # reading-to-reading noise of a real build (up to 5 x the chip's): the jump is > 9 sigma of it
    sigma_diff = math.sqrt(2) * 5 * ref["noise_80sps_counts_rms"]
    assert SPIKE_JUMP > 9 * sigma_diff
    assert SPIKE_JUMP / ref["counts_per_n"] < 2.0  # yet under 2 N: glitches that matter are caught


def _sampler():
    from holdsense_fw import config
    from holdsense_fw.sampler import SampleQueue, Sampler

    class NoHX:  # process() only: the pattern logic sits above the driver
        rate_hz = 80

    s = dict(config.DEFAULTS)
    s["cal"] = dict(config.NOMINAL_CAL, tare_counts=84210)
    s["auto_tare_after_s"] = 0
    s["idle_after_s"] = 0  # no decimation: every reading comes out
    sm = Sampler(NoHX(), None, s)
    q = SampleQueue(100000)
    q.enabled = True
    sm.add_queue(q)
    return sm, q


def test_spurious_codes_at_the_reference_scale(rig_factory):
    """Glitches of the HX711's pattern (low k >= 12 bits forced to ones) on a reference-build signal
    with real-build noise: every one that jumps >= 2^12 is flagged and replaced by a value in the
    noise of its neighbours; smaller ones and genuine codes are passed; noise alone flags nothing."""
    from holdsense_fw.frame import F_SPIKE
    rig_factory(encoder=False)  # installs the shims and a clock for the firmware modules
    rng = np.random.default_rng(3)
    n = 20000
    sigma = 300.0  # counts rms: ~5 x the chip's 62 at 80 SPS
    t_s = np.arange(n) / 80.0
    force_n = 60.0 + 50.0 * np.sin(2 * np.pi * 0.02 * t_s)  # a slow lean: the low bits take every value
    clean = np.round(84210 + 2190 * force_n + rng.normal(0, sigma, n)).astype(np.int64)
    codes = clean.copy()
    glitch_at = np.sort(rng.choice(np.arange(10, n, 7), 300, replace=False))
    for i in glitch_at:
        k = int(rng.integers(12, 20))
        codes[i] = clean[i] | ((1 << k) - 1)
    sm, q = _sampler()
    for i, c in enumerate(codes):
        sm.process(1000 + i * 12500, int(c))
    out = q.pop(n)
    vals = np.array([s[1] for _, s in out])
    flagged = np.array([bool(s[2] & F_SPIKE) for _, s in out])
    jump = np.abs(codes - np.concatenate(([codes[0]], clean[:-1])))  # previous reading was clean
    should = np.zeros(n, bool)
    should[glitch_at] = jump[glitch_at] >= 4096
    np.testing.assert_array_equal(flagged, should)
    assert should.sum() > 150 and (~should[glitch_at]).sum() > 30  # both kinds occur
    assert np.max(np.abs(vals[should] - clean[should])) < 5 * sigma
    small = np.zeros(n, bool)
    small[glitch_at] = ~should[glitch_at]
    assert np.all(vals[small] == codes[small]) and np.all(vals[~small & ~should] == clean[~small & ~should])


def test_virtual_device_simulates_the_reference_build():
    from holdsense.sim.spec import SENSOR_DEFAULTS
    from holdsense.virtual.device import reference_build_sensor
    from holdsense_fw.config import REFERENCE_COUNTS_PER_N
    ref, _ = _budget()
    s = reference_build_sensor(dict(SENSOR_DEFAULTS))
    assert s["counts_per_n"] == REFERENCE_COUNTS_PER_N
    noise_counts = s["noise_n"] * s["counts_per_n"]
    assert 2 * ref["noise_80sps_counts_rms"] <= noise_counts <= 5 * ref["noise_80sps_counts_rms"]
    # the zero drift keeps its size in newtons (what auto-tare and auto-zero act on)
    assert s["offset_drift_counts"] / s["counts_per_n"] == pytest.approx(
        SENSOR_DEFAULTS["offset_drift_counts"] / SENSOR_DEFAULTS["counts_per_n"])
    assert s["tare_counts"] == SENSOR_DEFAULTS["tare_counts"]
    # a scenario that models its own cells keeps them
    own = dict(SENSOR_DEFAULTS, counts_per_n=1095.0)
    assert reference_build_sensor(own, {"counts_per_n"}) == own
