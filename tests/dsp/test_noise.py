"""Sensor noise must not turn holds into rolling or rolling into holds (force only), and the noise estimate.

Bug this guards (first found with the old texture veto): with ~2 N rms white noise at 80 Hz (a poor
cell or a noisy supply) every force-only hold became roll. The fitted segmenter's features are all
relative to the load and below 2 Hz; these sessions (dsp_synth, a world it was not fitted on) check it.
"""
from __future__ import annotations

import numpy as np
import pytest

import dsp_synth
from rollsignal import analyze
from rollsignal.noise import NoiseEstimator

BW_N = 72.0 * dsp_synth.G
HOLD_FRAC = 140.0 / BW_N  # 140 N holds, 3 % breathing at 0.25 Hz (dsp_synth's default breath)
PHASES = [("off", 3), ("roll", 25), ("hold", 40, {"frac": HOLD_FRAC}), ("roll", 25),
          ("hold", 35, {"frac": HOLD_FRAC}), ("roll", 15), ("off", 3)]


def _segs(res) -> list[tuple[str, float, float]]:
    return [(s["kind"], s["start_s"], s["end_s"]) for s in res.segments if s["kind"] != "off"]


def _check_against_truth(found: list[tuple[str, float, float]], truth: list[dict], tol_s: float) -> None:
    holds = [s for s in found if s[0] == "hold"]
    true_holds = [s for s in truth if s["kind"] == "hold"]
    assert len(holds) == len(true_holds), found
    for (_, a, b), t in zip(holds, true_holds):
        assert abs(a - t["start_s"]) <= tol_s and abs(b - t["end_s"]) <= tol_s, (found, t)
    # every true rolling stretch is found as roll (its middle at least)
    for t in (s for s in truth if s["kind"] == "roll"):
        mid = 0.5 * (t["start_s"] + t["end_s"])
        assert any(k == "roll" and a <= mid <= b for k, a, b in found), (found, t)


@pytest.mark.parametrize("noise_n", [0.5, 1.0, 2.0, 3.0])
def test_holds_survive_sensor_noise_at_80_hz(noise_n: float) -> None:
    ch, truth = dsp_synth.session(PHASES, encoder=False, rate_hz=80.0, noise_n=noise_n, seed=11)
    _check_against_truth(_segs(analyze(ch)), truth, tol_s=2.0)


@pytest.mark.parametrize("noise_n", [0.5, 2.0, 3.0])
@pytest.mark.parametrize("roll", [{}, {"stroke_s": 6.0}, {"frac": 0.25}], ids=["normal", "slow", "light"])
def test_rolling_with_noise_stays_roll(noise_n: float, roll: dict) -> None:
    """A larger texture allowance must not turn real rolling (normal, slow, light) into holds."""
    ch, _ = dsp_synth.session([("off", 3), ("roll", 60, roll), ("off", 3)], encoder=False,
                              noise_n=noise_n, seed=5)
    res = analyze(ch)
    assert not res.holds, _segs(res)
    roll_s = sum(b - a for k, a, b in _segs(res) if k == "roll")
    assert roll_s >= 59.0, _segs(res)


def test_holds_at_10_hz() -> None:
    ch, truth = dsp_synth.session(PHASES, encoder=False, rate_hz=10.0, noise_n=0.5, seed=11)
    _check_against_truth(_segs(analyze(ch)), truth, tol_s=2.0)


@pytest.mark.parametrize("rate_hz,jitter", [(80.0, 0.1), (92.0, 0.0), (78.0, 0.1)])
def test_noise_estimate_is_unbiased_and_ignores_motion(rate_hz: float, jitter: float) -> None:
    rng = np.random.default_rng(2)
    t = np.cumsum((1 / rate_hz) * (1 + jitter * (rng.random(int(120 * rate_hz)) - 0.5)))
    # rolling-like motion (0.6 Hz, +-40 N) plus 4.5 Hz rib texture (1 N) under 1.5 N of white noise
    f = 200 + 40 * np.sin(2 * np.pi * 0.6 * t) + np.sin(2 * np.pi * 4.5 * t) + rng.normal(0, 1.5, len(t))
    est = NoiseEstimator().process(t, f)
    assert np.all(np.isnan(est[:130]))  # not enough differences yet
    assert abs(np.nanmedian(est) - 1.5) < 0.1


def test_noise_estimate_needs_fast_sampling_and_streams_exactly() -> None:
    rng = np.random.default_rng(3)
    t10 = np.arange(600) * 0.025  # 40 Hz: too slow
    assert np.all(np.isnan(NoiseEstimator().process(t10, rng.normal(0, 1, 600))))
    t = np.cumsum(np.full(5000, 1 / 80) * (1 + 0.1 * (rng.random(5000) - 0.5)))
    f = rng.normal(0, 1, 5000)
    f[2000:2500] += 300.0  # a load step: the median shrugs it off
    batch = NoiseEstimator().process(t, f)
    # brute force: median |4th difference| over the latest complete block of 127 differences
    d4 = np.abs(f[4:] - 4 * f[3:-1] + 6 * f[2:-2] - 4 * f[1:-3] + f[:-4])  # d4[i] ends at sample i + 4
    for j in (130, 256, 257, 3000, 4999):
        m = (j - 3) // 127 - 1  # samples 4..j give j - 3 differences
        assert batch[j] == pytest.approx(np.median(d4[127 * m:127 * (m + 1)]) / (0.6744897501960817 * np.sqrt(70)))
    assert np.isnan(batch[129])
    est = NoiseEstimator()
    parts, i = [], 0
    for n in [1] * 300 + [1, 1, 2, 7, 130, 1, 400, 3] * 40:  # single samples through the start-up
        parts.append(est.process(t[i:i + n], f[i:i + n]))
        i += n
    parts.append(est.process(t[i:], f[i:]))
    assert np.array_equal(np.concatenate(parts), batch, equal_nan=True)
