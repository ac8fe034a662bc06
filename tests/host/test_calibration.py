"""The counts→newtons fit: recovery, model choice, every rejected point set, apply/invert, JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from holdsense.calibration import (ADC_MAX_COUNTS, STANDARD_GRAVITY_MPS2, CalPoint, Calibration, CalibrationError,
                                   StabilityCriteria, fit_calibration, load_calibration, save_calibration,
                                   window_stats)

G = STANDARD_GRAVITY_MPS2
TARE = 84_210.0
SCALE = 2190.0          # counts per newton of the reference build (hardware/README.md force budget)


def _cell(force_n: np.ndarray | float, nonlin: float = 0.0, full_scale_n: float = 1961.0) -> np.ndarray:
    """Simulated bridge: counts = tare + k·F·(1 + nonlin·(F/FS − 1)·…) — a bow of `nonlin` of FS at mid-scale."""
    f = np.asarray(force_n, dtype=float)
    bow = -4.0 * nonlin * full_scale_n * (f / full_scale_n) * (1 - f / full_scale_n)  # max at FS/2
    return TARE + SCALE * (f + bow)


def _point(mass_kg: float, rng: np.random.Generator, *, nonlin: float = 0.0, sd: float = 40.0, n: int = 120,
           drift: float = 0.0) -> CalPoint:
    t = np.arange(n) / 80.0
    counts = _cell(mass_kg * G, nonlin) + rng.normal(0, sd, n) + drift * t / t[-1]
    return CalPoint.from_window(mass_kg, t, counts)


def test_linear_recovery_and_report() -> None:
    rng = np.random.default_rng(1)
    res = fit_calibration([_point(m, rng) for m in (0, 5, 20)])
    cal = res.calibration
    assert res.model == "linear"
    assert cal.counts_to_n[0] == 0.0
    assert 1 / cal.counts_to_n[1] == pytest.approx(SCALE, rel=2e-4)
    assert cal.tare_counts == pytest.approx(TARE, abs=15)
    assert res.dof == 1 and res.residual_rms_n < 0.1
    assert len(res.points) == 3 and res.points[0].mass_kg == 0
    # Between and beyond the points the straight line holds for a linear cell.
    for f in (10.0, 100.0, 800.0):
        assert cal.apply(_cell(f)) == pytest.approx(f, abs=0.002 * 1961)
    text = "\n".join(res.summary_lines())
    assert "linear" in text and "residual" in text and "non-linearity" in text


def test_quadratic_chosen_only_when_meaningful() -> None:
    rng = np.random.default_rng(2)
    masses = (0, 5, 20, 40, 60, 80)
    # A 0.3 % FS bow (a poor cell): the quadratic term is significant and removes the bow.
    bowed = fit_calibration([_point(m, rng, nonlin=0.003) for m in masses])
    assert bowed.model == "quadratic"
    assert bowed.residual_rms_n < 0.2 * bowed.linear_rms_n
    assert bowed.nonlinearity_pct > 0.1
    for f in np.linspace(0, 800, 9):
        assert bowed.calibration.apply(_cell(f, 0.003)) == pytest.approx(f, abs=0.0005 * 1961)
    # A straight cell with reading noise: the quadratic would only chase noise; stay linear.
    straight = [fit_calibration([_point(m, np.random.default_rng(s)) for m in masses]) for s in range(10)]
    assert sum(r.model == "linear" for r in straight) >= 9
    # max_degree=1 forces linear even on the bowed cell.
    assert fit_calibration([_point(m, rng, nonlin=0.003) for m in masses], max_degree=1).model == "linear"


def test_negative_going_bridge_is_fitted() -> None:
    """Cells wired with S+/S− swapped read downwards: the fit follows the sign."""
    rng = np.random.default_rng(3)
    pts = [_point(m, rng) for m in (0, 5, 20)]
    flipped = [CalPoint(p.mass_kg, 2 * TARE - p.counts, p.std_counts, -p.drift_counts, p.n_samples) for p in pts]
    cal = fit_calibration(flipped).calibration
    assert cal.counts_to_n[1] < 0
    assert cal.apply(2 * TARE - _cell(300.0)) == pytest.approx(300.0, rel=1e-3)


@pytest.mark.parametrize("points, message", [
    ([CalPoint(0, TARE), CalPoint(5, TARE + 107_000)], "at least two known masses"),
    ([CalPoint(0, TARE)], "got 1 point"),
    ([CalPoint(2, TARE + 40_000), CalPoint(5, TARE + 107_000), CalPoint(20, TARE + 430_000)], "no 0 kg point"),
    ([CalPoint(0, TARE), CalPoint(5, TARE + 107_000), CalPoint(5, TARE + 107_100)], "duplicate mass 5 kg"),
    ([CalPoint(0, TARE), CalPoint(0, TARE + 10), CalPoint(5, TARE + 107_000)], "duplicate mass 0 kg"),
    ([CalPoint(0, TARE), CalPoint(5, TARE + 107_000), CalPoint(20, ADC_MAX_COUNTS)], "saturated"),
    ([CalPoint(0, TARE), CalPoint(-5, TARE + 107_000), CalPoint(20, TARE + 430_000)], "negative mass"),
    ([CalPoint(0, TARE), CalPoint(5, math.nan), CalPoint(20, TARE + 430_000)], "finite"),
    # 20 kg reads lower than 5 kg: masses swapped or the weight was not on the roller.
    ([CalPoint(0, TARE), CalPoint(5, TARE + 430_000), CalPoint(20, TARE + 107_000)], "not clearly above"),
    # 5 kg reads the same as the tare: nothing was on the roller.
    ([CalPoint(0, TARE, 40), CalPoint(5, TARE + 30, 40), CalPoint(20, TARE + 430_000, 40)], "not clearly above"),
])
def test_bad_point_sets_are_rejected(points: list[CalPoint], message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        fit_calibration(points)


def test_unstable_readings_are_rejected() -> None:
    rng = np.random.default_rng(4)
    tare, p5, p20 = (_point(m, rng) for m in (0, 5, 20))
    # The load was still swinging: spread of ±1 % of the 20 kg step.
    swinging = _point(20, rng, sd=4300.0)
    with pytest.raises(CalibrationError, match="unstable reading at 20 kg"):
        fit_calibration([tare, p5, swinging])
    # The mass was still settling (creeping up 2 kg-worth during the window).
    creeping = _point(20, rng, drift=2 * G * SCALE)
    with pytest.raises(CalibrationError, match="unstable reading at 20 kg.*drift"):
        fit_calibration([tare, p5, creeping])
    # A drifting tare (someone leaning on it while zeroing).
    bad_tare = _point(0, rng, drift=5000.0)
    with pytest.raises(CalibrationError, match="unstable tare"):
        fit_calibration([bad_tare, p5, p20])
    # A looser criterion accepts what the default rejects (the rule is the criterion, not a constant).
    loose = StabilityCriteria(rel_tolerance=0.05)
    assert fit_calibration([tare, p5, swinging], criteria=loose).model == "linear"


def test_gravity_is_applied_and_checked() -> None:
    rng = np.random.default_rng(5)
    pts = [_point(m, rng) for m in (0, 5, 20)]
    k_std = fit_calibration(pts).calibration.counts_to_n[1]
    k_loc = fit_calibration(pts, g_mps2=9.78).calibration.counts_to_n[1]
    assert k_loc / k_std == pytest.approx(9.78 / G)
    with pytest.raises(CalibrationError, match="gravity"):
        fit_calibration(pts, g_mps2=1.62)


def test_window_stats_uses_device_time() -> None:
    t = np.array([0.0, 0.1, 0.2, 0.3, 1.3])   # uneven timestamps: a late sample
    c = 100.0 + 50.0 * t                        # 50 counts/s creep
    ws = window_stats(t, c)
    assert ws.drift_counts == pytest.approx(65.0)
    assert ws.n_samples == 5 and ws.duration_s == pytest.approx(1.3)
    ws_nan = window_stats([0, 1, 2], [1.0, math.nan, 3.0])
    assert ws_nan.n_samples == 2 and ws_nan.mean_counts == 2.0
    assert window_stats([], []).n_samples == 0


def test_apply_invert_round_trip() -> None:
    lin = Calibration(TARE, [0.0, 1 / SCALE])
    quad = Calibration(TARE, [0.0, 1 / SCALE, -2e-12, 1e-19])
    counts = np.array([TARE - 5000, TARE, TARE + 1e5, TARE + 3e6, np.nan])
    for cal in (lin, quad):
        f = cal.apply(counts)
        assert np.isnan(f[-1]) and f[1] == 0.0
        back = cal.invert(f)
        np.testing.assert_allclose(back[:-1], counts[:-1], atol=1e-3)
        assert np.isnan(back[-1])
    assert isinstance(lin.apply(TARE + SCALE), float) and lin.apply(TARE + SCALE) == pytest.approx(1.0)
    assert lin.with_tare(TARE + 100).apply(TARE + 100) == 0.0


def test_json_round_trip_and_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    res = fit_calibration([_point(m, rng) for m in (0, 5, 20, 50)])
    obj = json.loads(res.calibration.to_json())
    assert set(obj) >= {"tare_counts", "counts_to_n", "residual_n", "model", "points", "nonlinearity_pct"}
    back = Calibration.from_dict(obj)
    assert back.to_dict() == obj
    p = tmp_path / "cal.json"
    save_calibration(p, res.calibration)
    assert load_calibration(p).counts_to_n == res.calibration.counts_to_n
    # The contract's own example (recording metadata) parses.
    ex = Calibration.from_json('{"tare_counts": 84210, "counts_to_n": [0.0, 0.0123, 0.0], "residual_n": 0.4}')
    assert ex.apply(84310) == pytest.approx(1.23)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"counts_to_n": [0, 0.01]}', "missing 'tare_counts'"),
    ('{"tare_counts": 1}', "missing 'counts_to_n'"),
    ('{"tare_counts": "84210", "counts_to_n": [0, 0.01]}', "tare_counts must be a finite number"),
    ('{"tare_counts": true, "counts_to_n": [0, 0.01]}', "tare_counts must be a finite number"),
    ('{"tare_counts": 1, "counts_to_n": 0.01}', "counts_to_n must be a list"),
    ('{"tare_counts": 1, "counts_to_n": [0, null]}', "counts_to_n must be a list"),
    ('{"tare_counts": 1, "counts_to_n": [0.01]}', "2 to 6 coefficients"),
    ('{"tare_counts": 1, "counts_to_n": [0, 0]}', "must not be 0"),
    ('{"tare_counts": 1, "counts_to_n": [0, 0.01], "residual_n": -1}', "residual_n"),
])
def test_bad_json_is_rejected(text: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        Calibration.from_json(text, "cal.json")


def test_load_calibration_errors(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no such file"):
        load_calibration(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CalibrationError, match="bad.json"):
        load_calibration(bad)
