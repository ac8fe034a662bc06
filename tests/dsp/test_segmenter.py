"""The force-only segmenter: model file, fixed-lag decoder, and the hard cases from every generator.

The generators' sessions are worlds the packaged model was fitted on only in part (other seeds of the
four generators it was fitted on); a generator that is not installed is skipped cleanly.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from rollsignal import Detector, SampleChunk, analyze
from rollsignal.metrics import holds_of, match_events
from rollsignal.frames import FRAME_S, Frames
from rollsignal.segmenter import FEATURE_NAMES, FixedLagDecoder, ForceFeatures, SegmenterModel, load_model


# ---- model file ---------------------------------------------------------------------------

def test_packaged_model_loads_and_matches_the_features() -> None:
    m = load_model()
    assert m.feature_names == FEATURE_NAMES
    assert m.mean.shape == m.scale.shape == (len(FEATURE_NAMES),)
    assert m.layers[0][0].shape[0] == len(FEATURE_NAMES) and m.layers[-1][0].shape[1] == 1
    assert m.min_hold_s == 5.0 and 0 < m.lag_s <= 3.0 and m.lookahead_s <= 4.0
    assert {"force", "enc"} <= set(m.confidence)
    # the file round-trips
    again = SegmenterModel.from_dict(json.loads(json.dumps(m.to_dict())))
    x = np.random.default_rng(0).normal(size=(7, len(FEATURE_NAMES)))
    assert np.array_equal(again.logit(x), m.logit(x))


def test_model_with_other_features_is_refused() -> None:
    d = load_model().to_dict()
    d["feature_names"] = d["feature_names"][:-1]
    with pytest.raises(ValueError, match="refit"):
        SegmenterModel.from_dict(d)


def test_logit_of_a_row_does_not_depend_on_its_batch() -> None:
    m = load_model()
    x = np.random.default_rng(1).normal(size=(301, len(FEATURE_NAMES)))
    whole = m.logit(x)
    parts = np.concatenate([m.logit(x[a:b]) for a, b in ((0, 1), (1, 2), (2, 77), (77, 301))])
    assert np.array_equal(whole, parts)


# ---- features -----------------------------------------------------------------------------

def _frames(n: int, seed: int) -> Frames:
    """20 Hz frames of a load that rolls, holds and steps off, with missing and unloaded stretches."""
    rng = np.random.default_rng(seed)
    k = np.arange(n, dtype=np.int64)
    t = k * FRAME_S
    f = 150 + 60 * np.sin(2 * np.pi * t / 5.0) * (np.sin(2 * np.pi * t / 90.0) > 0) + rng.normal(0, 2, n)
    loaded = np.ones(n, bool)
    loaded[(t % 120) < 6] = False
    f[~loaded] = rng.normal(0, 1, (~loaded).sum())
    valid = np.ones(n, bool)
    valid[rng.choice(n, min(30, n // 10), replace=False)] = False
    f[~valid] = np.nan
    return Frames(k, t, f, valid, None, loaded)


def _rows(ff: ForceFeatures, fr: Frames, sizes: list[int]) -> np.ndarray:
    out, i = [], 0
    for n in sizes:
        out.append(ff.process(Frames(*(None if v is None else v[i:i + n] for v in
                                       (fr.k, fr.t_s, fr.force_n, fr.valid, fr.x_cm, fr.loaded)))))
        i += n
    return np.vstack(out + [ff.finish()])


@pytest.mark.parametrize("D", [40, 80])  # 2 s look-ahead and the packaged model's 4 s
@pytest.mark.parametrize("n", [1, 2, 3, 41, 43, 1000, 4003])
def test_features_once_per_step_and_chunking_free(n: int, D: int) -> None:
    """One row per decoder step (the last, cut-short step too), whatever the chunking; the window
    features of a step's row are those of its centre frame computed frame by frame (stride 1)."""
    fr = _frames(n, n)
    whole = _rows(ForceFeatures(D, 5), fr, [n])
    assert whole.shape == (-(-n // 5), len(FEATURE_NAMES))
    assert np.isfinite(whole).all()
    rng = np.random.default_rng(n)
    sizes = []
    while sum(sizes) < n:
        sizes.append(min(int(rng.integers(1, 300)), n - sum(sizes)))
    assert np.array_equal(_rows(ForceFeatures(D, 5), fr, sizes), whole)
    every = _rows(ForceFeatures(D, 1), fr, [n])
    centre = np.minimum(np.arange(len(whole)) * 5 + 2, n - 1)
    win = [i for i, nm in enumerate(FEATURE_NAMES) if nm.startswith(("rsd_", "rrange_", "rslope_", "rtv_", "mono_", "band_", "level_vs_", "excursion_"))
           and "vs_session" not in nm]
    full = centre < n - 2  # (a cut-short last step's centre lies in the padding)
    assert np.array_equal(whole[full][:, win], every[centre[full]][:, win])


def test_features_refuse_a_look_ahead_shorter_than_their_windows() -> None:
    """A centre window reaching past the look-ahead would read frames that have not arrived (streaming
    would differ from batch): refused."""
    with pytest.raises(ValueError, match="excursions"):
        ForceFeatures(10, 5)
    ForceFeatures(21, 5)


# ---- decoder ------------------------------------------------------------------------------

def _runs(lab: list[bool]) -> list[tuple[int, int]]:
    x = np.concatenate(([0], np.asarray(lab, np.int8), [0]))
    e = np.flatnonzero(np.diff(x))
    return list(zip(e[::2].tolist(), e[1::2].tolist()))


def _in_random_chunks(dec: FixedLagDecoder, e: np.ndarray, rng: np.random.Generator) -> list[bool]:
    """The decoder's labels with `e` fed in random chunks of 1-699 steps, then finish()."""
    out: list[bool] = []
    i = 0
    while i < len(e):
        k = int(rng.integers(1, 700))
        out += dec.process(e[i:i + k])
        i += k
    return out + dec.finish()


def test_decoder_min_hold_and_switching() -> None:
    n_min, lag = 100, 30
    e = np.full(1000, -1.0)
    e[200:260] = 2.0   # 3 s of hold evidence: too short for a hold
    e[400:700] = 1.0   # 15 s: a hold
    e[520:530] = -1.0  # a 0.5 s blip inside it: bridged by the switching costs
    dec = FixedLagDecoder(n_min, lag, enter_cost=5.0, exit_cost=5.0)
    lab = dec.process(e) + dec.finish()
    assert len(lab) == len(e)
    # a fixed-lag decision may call the start of a too-short burst a (young) hold; it never grows to the
    # minimum, and the segment layer reads still runs shorter than 5 s as rolling
    assert [r for r in _runs(lab) if r[1] - r[0] >= n_min] == [(400, 700)]
    assert all(b - a < n_min for a, b in _runs(lab) if a < 400)


def test_decoder_fixed_lag_is_causal_and_chunking_free() -> None:
    """The label of frame t depends only on evidence up to t + lag; any chunking gives the same labels."""
    rng = np.random.default_rng(5)
    e = np.repeat(rng.normal(0, 1.0, 300), rng.integers(5, 200, 300))[:20000] + rng.normal(0, 1, 20000)[: 20000]
    lag = 30
    full = FixedLagDecoder(100, lag, 4.0, 6.0)
    lab = full.process(e) + full.finish()
    for m in (1, 150, 4321, 12000):
        pre = FixedLagDecoder(100, lag, 4.0, 6.0).process(e[:m])
        assert pre == lab[: max(m - lag, 0)]
    assert _in_random_chunks(FixedLagDecoder(100, lag, 4.0, 6.0), e, rng) == lab
    assert any(lab) and not all(lab)


def _reference_viterbi(e: list[int], n_min: int, lag: int, enter: int, exit_: int) -> list[bool]:
    """A plain Viterbi over explicit states (roll, hold of age 1 .. n_min-1, hold of age >= n_min) with
    backpointers, in Python integers, and the fixed-lag rule read off literally: at step t the best state,
    traced back `lag` steps; at the end the last `lag` steps from the final best state. Ties: stay before
    switching; at a decision roll, then the mature hold, then the youngest hold."""
    N = n_min
    neg = None
    score: list[int | None] = [0] + [neg] * N  # index 0 roll, a = 1..N-1 young, N mature
    back: list[list[int]] = []
    out: list[bool] = []

    def best(sc: list[int | None]) -> int:
        b = 0
        for s in [N] + list(range(1, N)):
            v = sc[s]
            if v is not None and v > sc[b]:  # type: ignore[operator]
                b = s
        return b

    for t, et in enumerate(e):
        new: list[int | None] = [neg] * (N + 1)
        bp = [0] * (N + 1)
        r, m = score[0], score[N]
        assert r is not None
        new[0] = r
        if m is not None and m - exit_ > r:
            new[0], bp[0] = m - exit_, N
        new[1] = r - enter + et
        for a in range(2, N):
            y = score[a - 1]
            if y is not None:
                new[a], bp[a] = y + et, a - 1
        if m is not None:
            new[N], bp[N] = m + et, N
        y = score[N - 1]
        if y is not None and N > 1:
            cand = y + et
            cur = new[N]
            if cur is None or cand > cur:
                new[N], bp[N] = cand, N - 1
        score = new
        back.append(bp)
        if t >= lag:
            s = best(score)
            for u in range(t, t - lag, -1):
                s = back[u][s]
            out.append(s != 0)
    s = best(score)
    tail = []
    for u in range(len(e) - 1, max(len(e) - lag, 0) - 1, -1):
        tail.append(s != 0)
        s = back[u][s]
    return out + tail[::-1]


@pytest.mark.parametrize("block", [1, 7, 64, None])
def test_decoder_equals_a_plain_viterbi(block: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocked, vectorised decoder gives exactly the labels of a straightforward Viterbi over explicit
    hold ages on random integer emissions (integers: exact in both), for short and long minimum holds,
    lags shorter and longer than the minimum hold (deep tracebacks), ties (small integers tie often),
    any block size and random chunking."""
    if block is not None:
        monkeypatch.setattr(FixedLagDecoder, "BLOCK", block)
    rng = np.random.default_rng(11 + (block or 0))
    n_holds = 0
    for _trial in range(60):
        n_min, lag = int(rng.integers(2, 12)), int(rng.integers(0, 30))
        T = int(rng.integers(1, 600))
        enter, exit_ = int(rng.integers(0, 8)), int(rng.integers(0, 8))
        # runs of a level (holds and rolls) plus noise
        e = (np.repeat(rng.integers(-3, 4, T), rng.integers(1, 30, T))[:T] + rng.integers(-2, 3, T)).astype(float)
        ref = _reference_viterbi([int(v) for v in e], n_min, lag, enter, exit_)
        got = _in_random_chunks(FixedLagDecoder(n_min, lag, enter, exit_), e, rng)
        assert got == ref, (n_min, lag, enter, exit_, T)
        assert len(got) == T
        n_holds += len([r for r in _runs(got) if r[1] - r[0] >= n_min])
    assert n_holds > 30  # the cases exercise holds, not only rolling


def test_decoder_quantises_emissions_and_costs() -> None:
    """Emissions and costs are rounded to multiples of 2**-16: evidence finer than that does not exist for
    the decoder, so the labels cannot depend on the order in which sums are formed."""
    rng = np.random.default_rng(2)
    e = np.repeat(rng.normal(0, 1.0, 200), rng.integers(5, 100, 200))[:8000] + rng.normal(0, 1, 8000)
    q = np.rint(e * FixedLagDecoder.QUANT) / FixedLagDecoder.QUANT
    a = FixedLagDecoder(20, 6, 5.0, 10.0)
    b = FixedLagDecoder(20, 6, 5.0 + 1e-7, 10.0 - 1e-7)
    assert a.process(e) + a.finish() == b.process(q) + b.finish()


# ---- hard cases from the generators ------------------------------------------------------

def _force_only(c: SampleChunk) -> SampleChunk:
    return SampleChunk(c.t_s, c.force_n, None, c.flags, None)


def _session(gen: str, family: str, seed: int, rate_hz: float, shell: str = "ribbed") -> tuple[SampleChunk, list[dict[str, Any]]]:
    if gen == "sim":
        sim = pytest.importorskip("holdsense.sim")
        spec = None
        if shell == "smooth":
            from holdsense.sim.spec import load_scenario
            sc = load_scenario(family)
            spec = dict(sc.spec, rib_frac=0.0)
            spec.setdefault("name", sc.name)
        res = sim.simulate(spec or family, seed, rate_hz=rate_hz, encoder=False)
        return res.samples, res.labels["segments"]
    mod = {"quasi": "holdsense.quasistatic", "control": "holdsense.controlsim", "tissue": "holdsense.tissuesim",
           "traj": "holdsense.trajsim"}[gen]
    gm = pytest.importorskip(mod)
    res = gm.generate(family, seed, rate_hz=rate_hz, encoder=False, shell=shell)
    return _force_only(res.chunk), res.labels["segments"]


GENS = ["sim", "quasi", "control", "tissue", "traj"]
#: cases the packaged model (segmenter-v3) is known to get wrong: strict xfail, so a model that fixes
#: them makes the test fail loudly until the mark is removed (numbers in docs/detector.md)
KNOWN: dict[tuple[str, str], str] = {
    ("reposition", "sim"): "sim re-positions at the holds' load: 7 of 11 pairs of holds split (the others merge)",
    ("reposition", "quasi"): "quasistatic re-positions at the holds' load: 11 of 18 pairs of holds split (the others merge)",
    ("limb", "control"): "controlsim knee bends: 5 of 7 holds found; bouts split or hide the others",
    ("slow", "quasi"): "quasistatic slow sessions: 2 unmatched holds in 360 s of rolling",
    ("slow", "tissue"): "tissuesim slow sessions: 2 unmatched holds in 458 s of rolling",
    ("reposition", "tissue"): "tissuesim re-position chains: 29 of 40 pairs of holds split (the others merge)",
    ("reposition", "traj"): "trajsim re-position groups: 10 of 14 pairs of holds split (the others merge or start late)",
}


def _known(request: pytest.FixtureRequest, family: str, gen: str) -> None:
    if (family, gen) in KNOWN:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN[(family, gen)]))


@pytest.mark.parametrize("gen", GENS)
@pytest.mark.parametrize("rate_hz,shell", [(80.0, "ribbed"), (10.0, "smooth")])
def test_holds_with_knee_bends_are_holds(gen: str, rate_hz: float, shell: str, request: pytest.FixtureRequest) -> None:
    _known(request, "limb", gen)
    found = true = 0
    for seed in (301, 302):
        ch, truth = _session(gen, "limb", seed, rate_hz, shell)
        m = match_events(holds_of(truth), holds_of(analyze(ch).segments))
        found += m.tp
        true += m.tp + m.fn
    assert true >= 4
    assert found >= 0.75 * true, (found, true)


@pytest.mark.parametrize("gen", GENS)
def test_slow_rolling_is_not_a_hold(gen: str, request: pytest.FixtureRequest) -> None:
    _known(request, "slow", gen)
    false_holds = 0
    roll_s = 0.0
    for seed, rate in ((311, 80.0), (312, 10.0)):
        ch, truth = _session(gen, "slow", seed, rate, "smooth")
        m = match_events(holds_of(truth), holds_of(analyze(ch).segments))
        false_holds += m.fp
        roll_s += sum(s["end_s"] - s["start_s"] for s in truth if s["kind"] == "roll")
    assert roll_s > 120
    assert false_holds <= max(1, roll_s / 300.0), (false_holds, roll_s)


@pytest.mark.parametrize("gen", GENS)
def test_a_reposition_between_two_holds_gives_two_holds(gen: str, request: pytest.FixtureRequest) -> None:
    """Holds separated by a short loaded re-position: each found on its own (not merged into one)."""
    _known(request, "reposition", gen)
    split = pairs = 0
    for seed, rate in ((321, 80.0), (322, 10.0), (323, 80.0)):
        ch, truth = _session(gen, "reposition", seed, rate)
        segs = analyze(ch).segments
        th = holds_of(truth)
        m = match_events(th, holds_of(segs))
        matched = {i for i, _ in m.pairs}
        for i in range(len(th) - 1):
            if th[i + 1][0] - th[i][1] <= 5.0:  # a short move between two holds
                pairs += 1
                split += (i in matched) and (i + 1 in matched)
    assert pairs >= 2
    assert split >= 0.75 * pairs, (split, pairs)


# ---- streaming equals batch with NaN and gaps ---------------------------------------------

def _whole(model: SegmenterModel | None, ch: SampleChunk) -> Detector:
    """A Detector fed `ch` in one call, finished."""
    det = Detector(model=model, progress_events=False)
    det.process(ch)
    det.finish()
    return det


def _chunked(model: SegmenterModel | None, ch: SampleChunk, rng: np.random.Generator, sizes: list[int],
             batch_s: float | None = None, progress_events: bool = False) -> Detector:
    """A Detector fed `ch` in random chunks (each size drawn from `sizes` or 1..max(sizes)), finished."""
    det = Detector(model=model, batch_s=batch_s, progress_events=progress_events)
    i = 0
    while i < len(ch):
        k = int(rng.choice(sizes + [int(rng.integers(1, max(sizes)))]))
        det.process(ch.slice(i, i + k))
        i += k
    det.finish()
    return det


def test_streaming_equals_batch_with_a_long_lag() -> None:
    """The packaged model with a decoder lag of 10 s (longer than the 5 s minimum hold: fixed-lag
    decisions trace back through whole holds): the Detector fed random chunks gives exactly what it
    gives fed the whole session."""
    import dataclasses

    sim = pytest.importorskip("holdsense.sim")
    res = sim.simulate("mixed", 332, rate_hz=10.0, encoder=False, duration_s=240.0)
    ch = res.samples
    def run(model: SegmenterModel) -> Detector:
        d = Detector(model=model, progress_events=False)
        d.process(ch)
        d.finish()
        return d

    m = dataclasses.replace(load_model(), lag_s=10.0)
    whole = run(m)
    batch = whole.result()
    assert batch.holds
    rng = np.random.default_rng(4)
    for _trial in range(2):
        det = _chunked(m, ch, rng, [1, 3, 50, 900], batch_s=float(rng.choice([0.0, 0.25])))
        assert det.events == whole.events
        assert det.result().to_dict("x") == batch.to_dict("x")


@pytest.mark.parametrize("encoder", [False, True])
def test_streaming_equals_batch_with_nan_and_gaps(encoder: bool) -> None:
    sim = pytest.importorskip("holdsense.sim")
    res = sim.simulate("limb", 331, rate_hz=80.0, encoder=encoder, duration_s=150.0)
    c = res.samples
    rng = np.random.default_rng(3)
    f = c.force_n.copy()
    f[rng.choice(len(f), 40, replace=False)] = np.nan  # missing values
    keep = np.ones(len(f), bool)
    for a in rng.choice(len(f) - 400, 4, replace=False):  # link gaps 0.2-4 s
        keep[a:a + int(rng.integers(16, 320))] = False
    ch = SampleChunk(c.t_s[keep], f[keep], None if c.angle_deg is None else c.angle_deg[keep], c.flags[keep])
    batch = analyze(ch)
    assert batch.holds
    for trial in range(3):
        det = Detector(batch_s=float(rng.choice([0.0, 0.25, 2.0])))
        i = 0
        ev = []
        while i < len(ch):
            k = int(rng.choice([1, 2, 7, 64, int(rng.integers(1, 3000))]))
            ev += det.process(ch.slice(i, i + k))
            i += k
        ev += det.finish()
        assert det.events == batch.events
        assert det.result().to_dict("x") == batch.to_dict("x")
    for h in batch.holds:
        assert 0.0 <= h["confidence"] <= 1.0
    started = [e for e in batch.events if e.kind == "hold_started"]
    assert started and all(e.confidence is not None and 0.0 <= e.confidence <= 1.0 for e in started)


# ---- reporting threshold: a still run becomes a hold once its confidence reaches min_report -------

def test_reporting_threshold_holds_back_unsure_runs() -> None:
    """With the model's `min_report` between two candidates' peak confidences, the unsure candidate is
    rolling, the sure one a hold with the same span, confirmed no earlier than its confidence allowed;
    random chunking gives exactly the batch result; min_report 0 reports every candidate."""
    import dataclasses

    sim = pytest.importorskip("holdsense.sim")
    ch = sim.simulate("mixed", 332, rate_hz=10.0, encoder=False, duration_s=240.0).samples
    m = dataclasses.replace(load_model(), approach=None, end_back_s=0.0)  # (spans compared with the still runs')

    def with_min(v: float) -> SegmenterModel:
        return dataclasses.replace(m, confidence=dict(m.confidence, force=dict(m.confidence["force"], min_report=v)))

    rec = Detector(model=with_min(2.0), progress_events=False, record_candidates=True)
    rec.process(ch)
    rec.finish()
    cands = rec.sm.candidates
    assert not rec.result().holds  # an unreachable threshold reports nothing
    peaks = sorted(p for _a, _b, p in cands)
    assert len(cands) >= 2 and peaks[0] < peaks[-1], cands
    gaps = [(b - a, (a + b) / 2) for a, b in zip(peaks, peaks[1:])]
    thr = max(gaps)[1]
    spans = lambda sel: [(round(a * FRAME_S, 2), round(b * FRAME_S, 2)) for a, b, p in cands if sel(p)]

    det = Detector(model=with_min(thr), progress_events=False)
    det.process(ch)
    det.finish()
    res = det.result()
    got = [(round(h["start_s"], 2), round(h["end_s"], 2)) for h in res.holds]
    assert got == spans(lambda p: p >= thr)
    started = [e for e in det.events if e.kind == "hold_started"]
    assert len(started) == len(got) and all(e.confidence >= thr for e in started)
    for a, b in spans(lambda p: p < thr):  # an unsure candidate lies inside rolling
        assert any(s["kind"] == "roll" and s["start_s"] <= a + 1e-9 and b <= s["end_s"] + 1e-9 for s in res.segments)

    rng = np.random.default_rng(11)
    for _trial in range(2):
        d = _chunked(with_min(thr), ch, rng, [1, 3, 40, 700], batch_s=float(rng.choice([0.0, 0.25])))
        assert d.events == det.events
        assert d.result().to_dict("x") == res.to_dict("x")

    every = Detector(model=with_min(0.0), progress_events=False)
    every.process(ch)
    every.finish()
    assert [(round(h["start_s"], 2), round(h["end_s"], 2)) for h in every.result().holds] == spans(lambda p: True)


# ---- hold start placed where the load's approach began ------------------------------------------

def test_approach_start_walks_back_over_the_approach() -> None:
    from rollsignal.statemachine import approach_start

    roll = 200.0 + 20.0 * np.sin(np.arange(100) * 0.3)  # rolling, swinging around 200 N
    ease = np.linspace(200.0, 100.0, 31)[1:]  # the load eases onto the hold's level over 1.5 s
    hold = np.full(120, 100.0) + 0.5 * np.sin(np.arange(120) * 0.9)  # breathing, within 1 %
    f = np.concatenate((roll, ease, np.full(10, 100.4), hold))
    i0 = 150  # the still run was found 1 s after the load reached its level
    got = approach_start(f, i0, 0, 80, 0.03, 0.002, 100)
    # back over the quiet 0.5 s and the whole easing, to its first frame (within the sine's last rise)
    assert 97 <= got <= 100, got
    assert approach_start(f, i0, 120, 80, 0.03, 0.002, 100) == 120  # never before the lowest index
    assert approach_start(f, i0, 0, 80, 0.03, 0.002, 25) == i0 - 25  # nor further back than back_k
    assert approach_start(f, i0, 0, 80, 0.03, 0.002, 20) == i0  # the load never left the band within reach
    assert approach_start(f, i0, 0, 80, 2.0, 0.002, 100) == i0  # never left the band: unchanged
    g = f.copy()
    g[145] = np.nan  # a missing frame in the quiet part: no walk across it
    assert approach_start(g, i0, 0, 80, 0.03, 0.002, 100) == i0
    g = f.copy()
    g[120] = np.nan  # in the easing: the start stops just after it
    assert approach_start(g, i0, 0, 80, 0.03, 0.002, 100) == 121
    # a hold heavier than the rolling before it; the approach began at the rolling's lowest load
    up = np.concatenate((np.linspace(66.0, 60.0, 50), np.linspace(60.0, 100.0, 21)[1:], np.full(100, 100.0)))
    assert approach_start(up, 75, 0, 80, 0.03, 0.0, 100) == 49


def test_hold_start_moves_back_to_the_approach_and_streams_exactly() -> None:
    """With the model's `approach` on, force-only holds start no later than their still runs (bounded by
    the segment before), the analysis stays consistent (segments tile, hold dicts = hold segments), and
    random chunking gives exactly the batch result."""
    import dataclasses

    sim = pytest.importorskip("holdsense.sim")
    ch = sim.simulate("standard", 101, rate_hz=80.0, encoder=False, duration_s=300.0).samples
    m = load_model()
    on = dataclasses.replace(m, approach={"band": 0.03, "tol": 0.002, "back_s": 5.0})
    off = dataclasses.replace(m, approach=None)

    def run(model: SegmenterModel, seed: int | None = None) -> Detector:
        if seed is not None:
            return _chunked(model, ch, np.random.default_rng(seed), [1, 5, 80, 2000], progress_events=True)
        return _whole(model, ch)

    a, b = run(on).result(), run(off).result()
    assert len(a.holds) == len(b.holds) >= 3
    moved = 0
    for ha, hb in zip(a.holds, b.holds):
        assert ha["start_s"] <= hb["start_s"] and ha["end_s"] == hb["end_s"]
        assert ha["start_s"] >= hb["start_s"] - 5.0 - 1e-9
        assert ha["mean_force_n"] == hb["mean_force_n"]  # statistics stay over the still run
        moved += ha["start_s"] < hb["start_s"]
    assert moved >= 2
    segs = a.segments
    assert all(x["end_s"] == y["start_s"] for x, y in zip(segs, segs[1:]))
    assert [h["start_s"] for h in a.holds] == [s["start_s"] for s in segs if s["kind"] == "hold"]
    for seed in (1, 2):
        d = run(on, seed)
        assert d.result().to_dict("x") == a.to_dict("x")
        started = [e for e in d.events if e.kind == "hold_started"]
        assert [round(e.start_s, 3) for e in started] == [round(h["start_s"], 3) for h in a.holds]


# ---- hold end placed the fitted offset before the still run's ------------------------------------

def test_hold_end_moves_back_by_the_fitted_offset_and_streams_exactly() -> None:
    """With the model's `end_back_s`, a force-only hold that ends in rolling ends that much earlier and
    the rolling after it starts there; a hold ending otherwise (contact lost, end of stream) keeps its
    end; statistics stay over the still run; random chunking gives the batch result; the offset
    survives the model file; the encoder path ignores it."""
    import dataclasses

    sim = pytest.importorskip("holdsense.sim")
    ch = sim.simulate("standard", 101, rate_hz=80.0, encoder=False, duration_s=300.0).samples
    m = load_model()
    on = dataclasses.replace(m, end_back_s=0.3)
    assert SegmenterModel.from_dict(on.to_dict()).end_back_s == 0.3
    assert "end_back_s" not in dataclasses.replace(m, end_back_s=0.0).to_dict()
    off = dataclasses.replace(m, end_back_s=0.0)

    a, b = _whole(on, ch).result(), _whole(off, ch).result()
    assert len(a.holds) == len(b.holds) >= 3
    kinds_after = {}
    for i, s in enumerate(b.segments):
        if s["kind"] == "hold":
            kinds_after[s["start_s"]] = b.segments[i + 1]["kind"] if i + 1 < len(b.segments) else None
    moved = 0
    for ha, hb in zip(a.holds, b.holds):
        assert ha["start_s"] == hb["start_s"] and ha["mean_force_n"] == hb["mean_force_n"]
        if kinds_after[hb["start_s"]] == "roll":
            assert ha["end_s"] == pytest.approx(hb["end_s"] - 0.3)
            moved += 1
        else:
            assert ha["end_s"] == hb["end_s"]
    assert moved >= 2
    segs = a.segments
    assert all(x["end_s"] == y["start_s"] for x, y in zip(segs, segs[1:]))
    for i, s in enumerate(segs[:-1]):  # the rolling after a hold starts where the hold now ends
        if s["kind"] == "hold" and segs[i + 1]["kind"] == "roll":
            assert any(h["end_s"] == s["end_s"] == segs[i + 1]["start_s"] for h in a.holds)
    for seed in (3, 4):
        d = _chunked(on, ch, np.random.default_rng(seed), [1, 5, 80, 2000], progress_events=True)
        assert d.result().to_dict("x") == a.to_dict("x")
        ended = [e.hold["end_s"] for e in d.events if e.kind == "hold_ended"]
        assert ended == [h["end_s"] for h in a.holds]
    enc = sim.simulate("standard", 101, rate_hz=80.0, encoder=True, duration_s=300.0).samples
    assert _whole(on, enc).result().to_dict("x") == _whole(off, enc).result().to_dict("x")


def test_the_docs_give_the_packaged_models_reporting_threshold() -> None:
    """architecture.md and detector.md quote the packaged model's reporting threshold; they said 0.3 for a
    model whose file says 0.5."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    thr = load_model().min_confidence("force")
    arch = (docs / "architecture.md").read_text()
    det = (docs / "detector.md").read_text()
    assert f"reporting threshold, {thr:g} in the packaged model" in arch
    assert f"reporting threshold {thr:g}," in det
