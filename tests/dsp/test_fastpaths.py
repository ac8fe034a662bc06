"""The speed paths of the batch stages against plain reference code (issue 3 item 6: throughput).

Long chunks (analyze() of a recording) take vectorised, allocation-saving paths in the
despiker, the resampler and the state machine; short ones (live
streaming) keep fewer numpy calls. Both must give exactly what the straightforward
definition gives, whatever the chunking: these tests compare them bit for bit.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from rollsignal import Detector, SampleChunk, analyze, load_profile
from rollsignal.despike import Despiker
from rollsignal.frames import Frames
from rollsignal.resample import Resampler
from rollsignal.scoring import Scorer
from rollsignal.types import FLAG_GAP, FLAG_SAT


def _chunks(n: int, rng: np.random.Generator, whole: bool) -> list[int]:
    return [n] if whole else list(rng.integers(1, 400, size=n))


def _despike_ref(t: np.ndarray, f: np.ndarray, flags: np.ndarray, abs_n: float = 8.0, rel: float = 0.05):
    """Sample by sample: saturated -> NaN; a sample far from the median of itself and its neighbours
    (no neighbour across a gap or where NaN) is replaced by that median."""
    x = np.where(flags & FLAG_SAT, np.nan, f)
    out = x.copy()
    n_spk = 0
    for i in range(len(x) - 1):  # the last sample has no right neighbour: passes unchanged
        c = x[i]
        left = x[i - 1] if i > 0 else math.nan
        right = x[i + 1]
        if flags[i] & FLAG_GAP or left != left:
            left = c
        if flags[i + 1] & FLAG_GAP or right != right:
            right = c
        med = sorted((left, c, right))[1] if c == c else math.nan
        if abs(c - med) > abs_n + rel * abs(med):
            out[i] = med
            n_spk += 1
    return out, n_spk


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_despiker_equals_the_three_point_median_definition(seed: int, whole: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 6000
    t = np.cumsum(np.full(n, 1 / 80))
    f = rng.normal(150, 3, n)
    f[rng.random(n) < 0.01] += rng.choice([-300, 300])  # spurious codes
    flags = np.zeros(n, np.uint8)
    if seed % 2:
        flags[rng.random(n) < 0.01] |= FLAG_GAP
        flags[rng.random(n) < 0.005] |= FLAG_SAT
        f[rng.random(n) < 0.005] = np.nan
    want, n_spk = _despike_ref(t, f, flags)
    d = Despiker()
    parts = [d.process(c) for c in SampleChunk(t, f, None, flags).split(_chunks(n, rng, whole))] + [d.finish()]
    got = SampleChunk.concat(parts)
    assert np.array_equal(got.force_n, want, equal_nan=True)
    assert d.spikes == n_spk > 0


@pytest.mark.parametrize("seed", range(4))
def test_resampler_long_chunk_path_equals_live_chunks(seed: int) -> None:
    """A long chunk (gathering path) gives the frames that 8-sample chunks (concatenating path) give."""
    rng = np.random.default_rng(20 + seed)
    n = 30000
    dt = np.full(n, 1 / 80) * (1 + 0.1 * (rng.random(n) - 0.5))
    dt[rng.random(n) < 0.002] = 1.0  # link gaps
    t = 3.21 + np.cumsum(dt)
    f = rng.normal(120, 2, n)
    ang = rng.normal(0, 20, n) if seed % 2 else None
    f[rng.random(n) < 0.01] = np.nan
    if ang is not None:  # missing angles too: each track's horizon runs ahead of the other's at times
        ang[rng.random(n) < 0.01] = np.nan
    ch = SampleChunk(t, f, ang)
    outs = []
    for parts in ([ch], ch.split([8] * (n // 8 + 1))):
        r = Resampler()
        fr = [r.process(c) for c in parts]
        outs.append(fr)
    a = outs[0][0]
    b = Frames.concat(outs[1])
    for name in ("k", "t_s", "force_n", "valid", "x_cm"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y, equal_nan=True), name


def test_safety_limit_is_where_the_safety_message_starts() -> None:
    """The state machine finds the first warning tick by the limit: it must match the message exactly."""
    sc = Scorer(load_profile())
    forces = [math.nan, 0.0, 50.0, 199.99, 200.0, 250.0, 300.0, 450.0, 1e4]
    for roll in (None, 0.0, 100.0, 150.0, 333.3):
        for mass in (None, 0.0, 40.0, 75.0):
            lim = sc.safety_limit_n(roll, mass)
            for f in forces + [lim, math.nextafter(lim, math.inf)]:
                assert (sc.safety_message(f, roll, mass) is not None) == (f > lim), (f, roll, mass, lim)


def test_analyze_equals_the_detector_with_progress_events() -> None:
    """analyze() makes no hold_progress events; warnings fire at the same ticks (light person: warned)."""
    rng = np.random.default_rng(4)
    n = 80 * 240
    t = np.arange(n) / 80
    f = np.where((t > 5) & (t < 60), 230 + 25 * np.cos(np.pi * t / 2), np.where(t >= 60, 140.0, 0.0))
    f = f + rng.normal(0, 0.5, n)
    ch = SampleChunk(t, f)
    for mass in (None, 20.0):
        det = Detector(body_mass_kg=mass)
        evs = det.process(ch) + det.finish()
        res = analyze(ch, body_mass_kg=mass)
        assert [e for e in evs if e.kind != "hold_progress"] == res.events
        assert any(e.kind == "hold_progress" for e in evs)
        assert det.result().to_dict() == res.to_dict()
        assert any(e.kind == "warning" for e in res.events) == (mass is not None)
