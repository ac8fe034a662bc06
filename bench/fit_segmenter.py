"""Fit rollsignal's force-only segmenter model (rollsignal/models/segmenter-v3.json) from labelled sessions.

    python bench/fit_segmenter.py --gen sim[,quasi,control,tissue] [--gen ...] [--data DIR] [--per-family 24] [--train-frames 300000] [--out PATH]

The packaged model: --gen sim,quasi,control,tissue (docs/detector.md, "The packaged model").

Sources: generators (holdsense.sim, holdsense.quasistatic, holdsense.controlsim, holdsense.tissuesim,
holdsense.trajsim) and/or
a folder of recordings with X.labels.json beside each (bench/sessions.py), so a lab can refit on its own
labelled data.

Steps
1. Augment every training session so the model cannot lean on one world's quirks: extra white
   sensor noise (0-1.5 N rms), a gain error (0.85-1.15), and half of the sessions smoothed (zero-phase
   1.5 Hz low-pass on the samples: no rib texture, like a smooth shell or soft foam); angle dropped
   (the model is force only).
2. Frames and features exactly as the detector makes them (Despiker ... Contact, ForceFeatures: one
   row per 0.25 s decoder step, at the step's centre frame).
3. A small MLP (one tanh layer, scikit-learn) on loaded frames labelled roll / hold (frames within
   0.3 s of a true boundary left out: the label there is a matter of definition; the frames of a
   re-position between two holds counted GAP_WEIGHT times: they are rare, and missing them merges two
   holds; those of a hold as heavy as the rolling HEAVY_WEIGHT times: their share differs between
   worlds, and where they are rare the fit learns that heavy means rolling). The detector
   evaluates it once per decoder step, at the step's centre frame; the training takes every frame (the
   same features, five times the samples).
4. Decoder (alpha, enter / exit costs, lag 1.5 or 3 s) by grid search on held-back sessions of the same sources,
   maximising event F1 + hold F1 of the decoded holds.
   Objective: event F1 + hold F1 - 0.05 x median start error (s) - 0.01 x lag (s).
5. Per-hold confidence: logistic fit of "reported hold matches a true one" on the hold's mean
   log-odds and log duration, from the full Detector on the training sessions (force only and encoder).
6. Reporting threshold (force only): a still run of 5 s or more becomes a hold once its running
   confidence reaches `min_report`, chosen from MIN_REPORTS for event F1 + hold F1 on the held-back
   sessions (the full Detector, every candidate's peak confidence recorded once).
7. Hold starts (force only): band, tol and look-back of statemachine.approach_start, which moves a hold's
   reported start back to where the load's approach to it began, by grid search on the held-back
   sessions for the median |start error|.
8. Hold ends (force only): how much earlier than its still run a hold that ends in rolling is reported
   to end (`end_back_s`, from END_BACKS_S), for the median |end error| on the held-back sessions.

Bench-only dependency: scikit-learn (`pip install -e '.[bench]'`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np
from scipy import signal as sps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sessions import Session, corpus, folder, force_only  # noqa: E402

from rollsignal import SampleChunk  # noqa: E402
from rollsignal.autozero import AutoZero  # noqa: E402
from rollsignal.contact import Contact  # noqa: E402
from rollsignal.despike import Despiker  # noqa: E402
from rollsignal.detector import Detector  # noqa: E402
from rollsignal.filters import LowPass  # noqa: E402
from rollsignal.frames import FRAME_S, Frames  # noqa: E402
from rollsignal.metrics import HOLD, f1_of, frame_counts, grid_labels, holds_of, match_events  # noqa: E402
from rollsignal.resample import Resampler  # noqa: E402
from rollsignal.statemachine import APPROACH_LEVEL_S, approach_start  # noqa: E402
from rollsignal.segmenter import FEATURE_NAMES, MODEL_FORMAT, ForceFeatures, SegmenterModel, decode_labels  # noqa: E402

#: feature look-ahead (s): every window centred (the 8 s one too) and both sides of a 1-4 s excursion in
#: view; against 2 s it raised held-out event F1 on all four worlds (+0.00 to +0.04) for 2 s more latency,
#: and 6 s was level with 4 s (docs/detector.md, "Leave-one-generator-out over four generators")
LOOKAHEAD_S = 4.0
LAG_S = 1.5
LAGS_S = (1.5, 3.0)  # decoder lags tried (s)
ALPHAS = (0.05, 0.1, 0.2, 0.35)  # emission scales tried
ENTER_COSTS = (5.0, 10.0, 20.0, 40.0)
EXIT_COSTS = (1.0, 2.0, 5.0, 10.0)
MIN_REPORTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # force-only reporting thresholds tried (confidence)
#: (band, tol, back_s) of the force-only hold-start placement tried (statemachine.approach_start)
APPROACH_GRID = tuple((b, t, w) for b in (0.02, 0.03, 0.05, 0.08, 0.12, 0.2) for t in (0.0, 0.002, 0.005)
                      for w in (3.0, 5.0, 8.0, 12.0))
APPROACH_MEAN_WEIGHT = 0.25  # objective: median |start error| + this x mean |start error| (s): tails count too
END_BACKS_S = tuple(round(0.05 * i, 2) for i in range(13))  # force-only hold-end offsets tried (0-0.6 s)
MODEL_VERSION = "3"
#: MLP random starts, the best on the held-back sessions kept: a single start's held-out event F1 moves by
#: about +-0.03 between starts, and one start of the three-world fit failed sim's hard cases (slow rolling
#: with a small lever swing, a 3 s re-position) that the best of three passes
RESTARTS = 3
#: training frames in all (every session contributes the same share, up to its loaded frames): more
#: sessions with fewer frames each cover more of the worlds' variety than a few sessions in full
TRAIN_FRAMES = 300_000
#: re-positions between holds (true roll runs of at most GAP_MAX_S with a hold either side): how many times
#: their frames count in the classifier's training set. They are 0.2-1 % of the loaded frames, so an
#: unweighted fit lets a hold's log-odds run on through them and two holds merge (tissuesim's re-position
#: family 0.31 event F1 held out); 150 with heavy holds weighted (60 alone); docs/detector.md,
#: "Re-positions weighted" and "Heavy holds weighted"
GAP_WEIGHT = 150
GAP_MAX_S = 6.0
#: holds at or above the session's rolling load (the median level of a true hold >= HEAVY_RATIO x the median
#: force of the session's true rolling): how many times their frames count in training. Holds are usually
#: lighter than the rolling, and the share of heavy ones differs between worlds (2-20 %), so an unweighted
#: fit learns "heavy means rolling" from the worlds where they are rare and misses them where they are not
#: (quasistatic's and controlsim's holds missed outright); docs/detector.md, "Heavy holds weighted"
HEAVY_WEIGHT = 4
HEAVY_RATIO = 0.9
LAG_COST_PER_S = 0.01  # objective cost of each second of decoder lag
START_COST_PER_S = 0.05  # objective cost of each second of median hold-start error
MIN_HOLD_S = 5.0
STEP_S = 0.25
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "signal", "rollsignal", "models", "segmenter-v3.json")


def augment(s: Session, rng: np.random.Generator) -> SampleChunk:
    c = s.samples
    f = c.force_n.copy()
    if rng.random() < 0.5 and len(f) > 30:
        dt = float(np.median(np.diff(c.t_s)))
        fs = 1.0 / max(dt, 1e-3)
        if fs > 4.0:
            sos = sps.butter(2, 1.5, fs=fs, output="sos")
            ok = np.isfinite(f)
            f[ok] = sps.sosfiltfilt(sos, f[ok])
    f = f * rng.uniform(0.85, 1.15) + rng.normal(0.0, rng.uniform(0.0, 1.5), len(f))
    return SampleChunk(c.t_s, f, None, c.flags, None)


def frontend(chunk: SampleChunk) -> Frames:
    """Frames exactly as the Detector makes them before its segmenter (batch)."""
    d, r, lp, az, ct = Despiker(), Resampler(), LowPass(), AutoZero(), Contact()
    parts = []
    for fr in (r.process(d.process(chunk)), r.process(d.finish()), r.finish()):
        if len(fr):
            parts.append(ct.process(az.process(lp.process(fr))))
    return Frames.concat(parts)


def features(frames: Frames, every_frame: bool = False) -> np.ndarray:
    """Feature rows of the session's decoder steps (one per step, at its centre frame), as the detector
    computes them; or (`every_frame`) of every frame: the same features, each frame in the place of a
    step's centre (the causal averages then update per frame with the same time constants), for training."""
    M = 1 if every_frame else int(round(STEP_S / FRAME_S))
    ff = ForceFeatures(int(round(LOOKAHEAD_S / FRAME_S)), M)
    rows = np.vstack([ff.process(frames), ff.finish()])
    assert len(rows) == -(-len(frames) // M), (len(rows), len(frames))
    return rows


def frame_truth(frames: Frames, segments: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: kind (0 off, 1 roll, 2 hold) and distance (s) to the nearest true boundary."""
    t = frames.t_s
    lab = np.zeros(len(t), np.int8)
    bnd = []
    for sg in segments:
        m = (t >= sg["start_s"]) & (t < sg["end_s"])
        lab[m] = ("off", "roll", "hold").index(sg["kind"])
        bnd += [sg["start_s"], sg["end_s"]]
    b = np.unique(np.array(bnd)) if bnd else np.array([np.inf])
    i = np.clip(np.searchsorted(b, t), 1, len(b) - 1) if len(b) > 1 else np.zeros(len(t), int)
    dist = np.minimum(np.abs(t - b[i - 1]), np.abs(t - b[i])) if len(b) > 1 else np.full(len(t), np.inf)
    return lab, dist


def gap_mask(t_s: np.ndarray, segments: list[dict[str, Any]], max_gap_s: float = GAP_MAX_S) -> np.ndarray:
    """Per frame: inside a true roll segment of at most `max_gap_s` between two holds (a re-position)."""
    m = np.zeros(len(t_s), bool)
    for a, b, c in zip(segments, segments[1:], segments[2:]):
        if a["kind"] == "hold" and b["kind"] == "roll" and c["kind"] == "hold" and b["end_s"] - b["start_s"] <= max_gap_s:
            m |= (t_s >= b["start_s"]) & (t_s < b["end_s"])
    return m


def heavy_mask(frames: Frames, segments: list[dict[str, Any]], kinds: np.ndarray,
               ratio: float = HEAVY_RATIO) -> np.ndarray:
    """Per frame: inside a true hold whose median force is at least `ratio` x the median force of the
    session's loaded true-rolling frames (a hold as heavy as the rolling). `kinds`: the frames' true
    kinds from `frame_truth` (1 = roll)."""
    t, f = frames.t_s, frames.force_n
    ld = frames.valid & (frames.loaded if frames.loaded is not None else True)
    roll = (kinds == 1) & ld
    m = np.zeros(len(t), bool)
    if not roll.any():
        return m
    ref = float(np.median(f[roll]))
    for sg in segments:
        k = (t >= sg["start_s"]) & (t < sg["end_s"]) & ld
        if sg["kind"] == "hold" and k.any() and float(np.median(f[k])) >= ratio * ref:
            m |= k
    return m


def prepare(sessions: list[Session], seed: int, augment_on: bool = True, train: bool = False) -> list[dict[str, Any]]:
    """Frames, truth and feature rows of each session: rows per decoder step ("X", for decoding) or, for
    training the classifier (`train`), rows of every frame ("X_frames"): five times the samples of the
    same distribution (the steps' centres are frames like any other)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in sessions:
        chunk = augment(s, rng) if augment_on else SampleChunk(s.samples.t_s, s.samples.force_n, None,
                                                                 s.samples.flags, None)
        fr = frontend(chunk)
        lab, dist = frame_truth(fr, s.segments)
        key = "X_frames" if train else "X"
        out.append({"session": s, "frames": fr, key: features(fr, every_frame=train), "y": lab, "dist": dist,
                    "ld": fr.valid & fr.loaded, "gap": gap_mask(fr.t_s, s.segments),
                    "heavy": heavy_mask(fr, s.segments, lab)})
    return out


def decode_holds(z: np.ndarray, ld: np.ndarray, t: np.ndarray, m: SegmenterModel) -> list[tuple[float, float]]:
    """Holds (start, end s) decoded from the steps' log-odds `z` and the frames' loaded mask `ld`."""
    lab = decode_labels(z, ld, m, MIN_HOLD_S)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], lab.astype(np.int8), [0]))))
    n_min = int(round(MIN_HOLD_S / FRAME_S))
    return [(float(t[a]), float(t[b - 1]) + FRAME_S) for a, b in zip(edges[::2], edges[1::2]) if b - a >= n_min]


def score_decoder(prep: list[dict[str, Any]], zs: list[np.ndarray], m: SegmenterModel) -> float:
    tp = fp = fn = 0
    htp = hfp = hfn = 0
    starts: list[float] = []
    for p, z in zip(prep, zs):
        pred = decode_holds(z, p["ld"], p["frames"].t_s, m)
        ev = match_events(holds_of(p["session"].segments), pred)
        tp, fp, fn = tp + ev.tp, fp + ev.fp, fn + ev.fn
        starts += ev.start_err_s
        t = p["frames"].t_s
        ph = np.zeros(len(t), bool)
        for a, b in pred:
            ph[(t >= a) & (t < b)] = True
        th = p["y"] == 2
        htp += int((ph & th).sum())
        hfp += int((ph & ~th).sum())
        hfn += int((~ph & th).sum())
    ev_f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    h_f1 = 2 * htp / max(2 * htp + hfp + hfn, 1)
    start = float(np.median(starts)) if starts else 5.0
    return ev_f1 + h_f1 - START_COST_PER_S * start


def fit_decoder(base: dict[str, Any], pval: list[dict[str, Any]], verbose: bool = False,
                t0: float | None = None) -> tuple[float, dict[str, float]]:
    """Decoder settings (alpha, enter / exit costs, lag) maximising the objective on the held-back
    sessions `pval` (prepared), for the model parameters `base`, and that objective."""
    t0 = time.perf_counter() if t0 is None else t0
    m0 = SegmenterModel(alpha=0.3, enter_cost=5.0, exit_cost=5.0, lag_s=LAG_S, **base)
    zs = [m0.logit(p["X"]) for p in pval]

    def search(grid: Any) -> tuple[float, dict[str, float]]:
        best: tuple[float, dict[str, float]] = (-math.inf, {})
        for kw in grid:
            m = SegmenterModel(**kw, **base)
            # a longer lag delays every live cue: worth it only for a clear gain
            sc = score_decoder(pval, zs, m) - LAG_COST_PER_S * kw["lag_s"]
            if sc > best[0]:
                best = (sc, kw)
        return best

    sc, kw = search(dict(alpha=a, enter_cost=ci, exit_cost=co, lag_s=lag)
                    for lag in LAGS_S for a in ALPHAS for ci in ENTER_COSTS for co in EXIT_COSTS)
    if verbose:
        print(f"  decoder: {kw} (objective {sc:.3f} on {len(pval)} held-back sessions); "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return sc, kw


def training_rows(prep: list[dict[str, Any]], gap_weight: int = 1,
                  heavy_weight: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per prepared training session: the feature rows of its loaded, labelled frames further than 0.3 s
    from a true boundary (the label there is a matter of definition), and whether each is a hold; rows of
    a re-position between two holds (`gap_mask`) repeated `gap_weight` times, rows of a hold as heavy as
    the rolling (`heavy_mask`) `heavy_weight` times."""
    out = []
    for p in prep:
        sel = np.flatnonzero(p["ld"] & (p["y"] > 0) & (p["dist"] > 0.3))
        w = np.ones(len(sel), np.int64)
        w[p["gap"][sel]] = gap_weight
        w[p["heavy"][sel]] = heavy_weight
        sel = np.repeat(sel, w)
        out.append((p["X_frames"][sel], p["y"][sel] == 2))
    return out


def training_set(rows: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator,
                 frames: int = TRAIN_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels for the classifier: up to an equal share of `frames` from every session, so a long
    session or a family with long holds does not dominate."""
    cap = max(frames // max(len(rows), 1), 500)
    Xs, ys = [], []
    for X, y in rows:
        if len(y) > cap:
            sel = np.sort(rng.choice(len(y), cap, replace=False))
            X, y = X[sel], y[sel]
        Xs.append(X)
        ys.append(y)
    return np.asarray(np.vstack(Xs), float), np.concatenate(ys)


def fit_mlp(Xs: np.ndarray, y: np.ndarray, hidden: int, seed: int) -> Any:
    """One MLP (tanh, scikit-learn) from the random start `seed`, on standardised rows `Xs`."""
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(hidden,) if hidden else (), activation="tanh", alpha=1e-3,
                         max_iter=120, early_stopping=True, random_state=seed).fit(Xs, y)


def base_params(mean: np.ndarray, scale: np.ndarray, layers: Any, prior: float, meta: dict[str, Any]) -> dict[str, Any]:
    """A model's parameters but the decoder's (fit_decoder) and a neutral confidence (calibrate)."""
    return dict(version=MODEL_VERSION, feature_names=FEATURE_NAMES, mean=mean, scale=scale, layers=layers,
                prior_logit=prior, lookahead_s=LOOKAHEAD_S, min_hold_s=MIN_HOLD_S, step_s=STEP_S,
                confidence={"force": {"b0": 0.0, "b_z": 1.0, "b_dur": 0.0}, "enc": {"b0": 3.0, "b_z": 0.0, "b_dur": 0.0}},
                meta=meta)


def fit(sessions: list[Session], seed: int = 0, hidden: int = 24, verbose: bool = True,
        meta: dict[str, Any] | None = None, restarts: int = RESTARTS, gap_weight: int = GAP_WEIGHT,
        heavy_weight: int = HEAVY_WEIGHT, train_frames: int = TRAIN_FRAMES) -> SegmenterModel:
    t0 = time.perf_counter()
    train = [s for i, s in enumerate(sessions) if i % 4 != 3]
    val = [s for i, s in enumerate(sessions) if i % 4 == 3] or train
    ptr = prepare(train, seed, train=True)
    pval = prepare(val, seed + 1)
    X, y = training_set(training_rows(ptr, gap_weight, heavy_weight), np.random.default_rng(seed), train_frames)
    mean = X.mean(axis=0)
    scale = X.std(axis=0) + 1e-6
    Xs = (X - mean) / scale
    prior = float(np.log(y.mean() / (1 - y.mean())))
    # the MLP's fit depends on its random start (held-out event F1 moved by +-0.03 between starts): fit
    # `restarts` of them and keep the one whose decoded holds score best on the held-back sessions
    best: tuple[float, dict[str, Any], dict[str, float]] = (-math.inf, {}, {})
    for r in range(restarts):
        clf = fit_mlp(Xs, y, hidden, seed + r)
        layers = tuple((W, b) for W, b in zip(clf.coefs_, clf.intercepts_))
        if verbose:
            print(f"  start {r}: frames {len(X)} (hold share {y.mean():.2f}); MLP train acc {clf.score(Xs, y):.3f}; "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        base = base_params(mean, scale, layers, prior, dict(meta or {}, restarts=restarts, start=r))
        sc, kw = fit_decoder(base, pval, verbose, t0)
        if sc > best[0]:
            best = (sc, base, kw)
    _, base, kw = best
    m = SegmenterModel(**kw, **base)
    conf = calibrate(m, sessions, verbose)
    m = SegmenterModel(**kw, **dict(base, confidence=conf))
    conf["force"]["min_report"] = choose_min_report(m, val, verbose)
    m = SegmenterModel(**kw, **dict(base, confidence=conf))
    m = dataclasses.replace(m, approach=choose_approach(m, val, verbose))
    return dataclasses.replace(m, end_back_s=choose_end_back(m, val, verbose))


def candidate_holds(m: SegmenterModel, s: Session) -> list[tuple[float, float, float]]:
    """(start_s, end_s, peak running confidence) of every still run of 5 s or more the Detector finds in
    session `s` force only, whatever its confidence (nothing is confirmed: the threshold is unreachable)."""
    force = dict(m.confidence["force"], min_report=2.0)
    probe = dataclasses.replace(m, confidence=dict(m.confidence, force=force))
    det = Detector(model=probe, progress_events=False, record_candidates=True)
    det.process(force_only(s.samples))
    det.finish()
    t0 = float(s.samples.t_s[0])
    return [(max(k0 * FRAME_S, t0), k1 * FRAME_S, peak) for k0, k1, peak in (det.sm.candidates if det.sm else [])]


def choose_approach(m: SegmenterModel, sessions: list[Session], verbose: bool) -> dict[str, float] | None:
    """band, tol, back_s of statemachine.approach_start (a force-only hold's start placed where the load's
    approach to it began) from APPROACH_GRID, minimising the median |start error| of the matched holds
    on `sessions` (held back from the MLP's fit) plus APPROACH_MEAN_WEIGHT x their mean (a start moved
    far into the rolling costs hold frames); None when no setting beats the still run's own start."""
    level_k = int(round(APPROACH_LEVEL_S / FRAME_S))
    holds = []  # (true start s, frames' force, index of the run's first frame, lowest index, k of frame 0)
    for s in sessions:
        c = force_only(s.samples)
        det = Detector(model=m, progress_events=False)
        det.process(c)
        det.finish()
        segs = det.result().segments
        fr = frontend(c)
        k0 = int(fr.k[0])
        pred = holds_of(segs)
        true_h = holds_of(s.segments)
        mt = match_events(true_h, pred)
        hold_idx = [i for i, sg in enumerate(segs) if sg["kind"] == "hold"]
        for ti, pj in mt.pairs:
            si = hold_idx[pj]
            i0 = int(round(pred[pj][0] / FRAME_S)) - k0
            lo = int(round(segs[si - 1]["start_s"] / FRAME_S)) - k0 + 1 if si and segs[si - 1]["kind"] == "roll" else i0
            holds.append((true_h[ti][0], fr.force_n, i0, lo, k0))
    def errors(a: dict[str, float] | None) -> tuple[float, float]:
        errs = []
        for ts, f, i0, lo, k0 in holds:
            i = i0 if a is None else approach_start(f, i0, lo, level_k, a["band"], a["tol"], int(round(a["back_s"] / FRAME_S)))
            errs.append(abs((i + k0) * FRAME_S - ts))
        return (float(np.median(errs)), float(np.mean(errs))) if errs else (math.inf, math.inf)
    best: tuple[float, dict[str, float] | None] = (math.inf, None)
    for a in [None] + [{"band": b, "tol": t, "back_s": w} for b, t, w in APPROACH_GRID]:
        med, mean = errors(a)
        sc = med + APPROACH_MEAN_WEIGHT * mean
        if verbose:
            print(f"  approach {a}: |start error| median {med:.3f} s, mean {mean:.3f} s ({len(holds)} holds)",
                  file=sys.stderr)
        if sc < best[0] - 1e-9:
            best = (sc, a)
    return best[1]


def choose_end_back(m: SegmenterModel, sessions: list[Session], verbose: bool) -> float:
    """How much earlier than its still run a force-only hold that ends in rolling is reported to end:
    the offset of END_BACKS_S minimising the median |end error| of such matched holds on `sessions` (held
    back from the MLP's fit) plus APPROACH_MEAN_WEIGHT x their mean. The decoder ends a hold once the
    rolling's evidence outweighs its exit cost, a fairly constant time after the roller moved."""
    ends = []  # (true end s, reported end s) of matched holds followed by rolling
    for s in sessions:
        det = Detector(model=dataclasses.replace(m, end_back_s=0.0), progress_events=False)
        det.process(force_only(s.samples))
        det.finish()
        segs = det.result().segments
        pred, true_h = holds_of(segs), holds_of(s.segments)
        hold_idx = [i for i, sg in enumerate(segs) if sg["kind"] == "hold"]
        for ti, pj in match_events(true_h, pred).pairs:
            si = hold_idx[pj]
            if si + 1 < len(segs) and segs[si + 1]["kind"] == "roll":
                ends.append((true_h[ti][1], pred[pj][1]))
    if not ends:
        return 0.0
    te, pe = np.array(ends).T
    best = (math.inf, 0.0)
    for d in END_BACKS_S:
        err = np.abs(pe - d - te)
        sc = float(np.median(err)) + APPROACH_MEAN_WEIGHT * float(np.mean(err))
        if verbose:
            print(f"  end back {d:.2f} s: |end error| median {np.median(err):.3f} s, mean {np.mean(err):.3f} s "
                  f"({len(err)} holds)", file=sys.stderr)
        if sc < best[0] - 1e-9:
            best = (sc, d)
    return best[1]


def choose_min_report(m: SegmenterModel, sessions: list[Session], verbose: bool) -> float:
    """The confidence a force-only still run must reach to be reported as a hold: the threshold of
    MIN_REPORTS maximising event F1 + hold F1 on `sessions` (held back from the MLP's fit). The
    calibration says how likely a candidate is true; dropping the unlikely ones trades a few missed
    holds for many fewer false ones (reporting only candidates above about half the attainable F1 is
    what maximises F1)."""
    cands = [(s, candidate_holds(m, s)) for s in sessions]
    best = (-math.inf, 0.0)
    for thr in MIN_REPORTS:
        h = [0, 0, 0]
        e = [0, 0, 0]
        for s, cs in cands:
            t_end = float(s.samples.t_s[-1])
            pred = [(a, b) for a, b, p in cs if p >= thr]
            mt = match_events(holds_of(s.segments), pred)
            for i, v in enumerate(mt.counts()):
                e[i] += v
            segs = [{"kind": "hold", "start_s": a, "end_s": b} for a, b in pred]
            for i, v in enumerate(frame_counts(grid_labels(s.segments, t_end), grid_labels(segs, t_end), HOLD)):
                h[i] += v
        sc = f1_of(*e) + f1_of(*h)
        if verbose:
            print(f"  min_report {thr:.2f}: event F1 {f1_of(*e):.3f} hold F1 {f1_of(*h):.3f} "
                  f"(false {e[1]}, missed {e[2]})", file=sys.stderr)
        if sc > best[0] + 1e-9:
            best = (sc, thr)
    return best[1]


def hold_evidence(m: SegmenterModel, s: Session, encoder: bool) -> tuple[list[tuple[float, float]], list[bool]]:
    """(mean log-odds, duration) of each hold the Detector reports, and whether it matches a true hold."""
    c = s.samples if encoder else force_only(s.samples)
    det = Detector(model=m, progress_events=False)
    det.process(c)
    det.finish()
    res = det.result()
    ev = det.sm.hold_evidence if det.sm is not None else []
    mt = match_events(holds_of(s.segments), holds_of(res.segments))
    pred = holds_of(res.segments)
    ok = [False] * len(pred)
    for _i, j in mt.pairs:
        ok[j] = True
    # hold dicts and hold segments are in the same order and number
    n = min(len(ev), len(ok))
    return ev[:n], ok[:n]


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    from sklearn.linear_model import LogisticRegression
    if y.all() or not y.any():  # one class only: a smoothed share (Laplace)
        p = (y.sum() + 1) / (len(y) + 2)
        return (float(np.log(p / (1 - p))),) + (0.0,) * x.shape[1]
    lr = LogisticRegression(C=1.0).fit(x, y)
    return (float(lr.intercept_[0]),) + tuple(float(v) for v in lr.coef_[0])


def calibrate(m: SegmenterModel, sessions: list[Session], verbose: bool) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for mode in ("force", "enc"):
        xs, ys = [], []
        for s in sessions:
            if mode == "enc" and s.samples.angle_deg is None:
                continue
            ev, ok = hold_evidence(m, s, mode == "enc")
            for (z, d), good in zip(ev, ok):
                xs.append((z, math.log(max(d, 1.0))))
                ys.append(good)
        x = np.array(xs).reshape(-1, 2)
        y = np.array(ys, bool)
        if mode == "force":
            b0, bz, bd = _logistic(x, y) if len(y) else (0.0, 1.0, 0.0)
        else:
            b0, bd = _logistic(x[:, 1:], y) if len(y) else (3.0, 0.0)
            bz = 0.0
        out[mode] = {"b0": b0, "b_z": bz, "b_dur": bd, "n_holds": int(len(y)), "share_true": float(y.mean()) if len(y) else None}
        if verbose:
            print(f"  confidence {mode}: {out[mode]}", file=sys.stderr)
    return out


def load_sessions(gens: list[str], data: list[str], per_family: int, seed0: int) -> list[Session]:
    out: list[Session] = []
    for g in gens:
        out += list(corpus(g, per_family, seed0))
    for d in data:
        out += list(folder(d))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen", action="append", default=[],
                    help="generator(s) to fit on: sim, quasi, control, tissue (repeatable, or comma-separated)")
    ap.add_argument("--data", action="append", default=[], help="folder of recordings + X.labels.json (repeatable)")
    ap.add_argument("--per-family", type=int, default=24)
    ap.add_argument("--seed0", type=int, default=1000, help="first seed (the accuracy bench uses 100...)")
    ap.add_argument("--hidden", type=int, default=24, help="hidden units (0: logistic regression)")
    ap.add_argument("--restarts", type=int, default=RESTARTS, help="MLP random starts (the best on held-back sessions kept)")
    ap.add_argument("--gap-weight", type=int, default=GAP_WEIGHT,
                    help="how many times a re-position's frames (a roll of <= 6 s between two holds) count in training")
    ap.add_argument("--heavy-weight", type=int, default=HEAVY_WEIGHT,
                    help="how many times the frames of a hold as heavy as the session's rolling count in training")
    ap.add_argument("--train-frames", type=int, default=TRAIN_FRAMES, help="classifier training frames in all")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.gen = [g for gs in args.gen for g in gs.split(",") if g]
    if not args.gen and not args.data:
        args.gen = ["sim"]
    t0 = time.perf_counter()
    sessions = load_sessions(args.gen, args.data, args.per_family, args.seed0)
    if not sessions:
        print("no labelled sessions found", file=sys.stderr)
        return 2
    print(f"fitting on {len(sessions)} sessions ({', '.join(args.gen + args.data)})", file=sys.stderr)
    meta = {"fitted_on": args.gen + [os.path.basename(os.path.normpath(d)) for d in args.data],
            "sessions": len(sessions), "per_family": args.per_family, "seed0": args.seed0,
            "hidden": args.hidden, "train_frames": args.train_frames, "gap_weight": args.gap_weight,
            "heavy_weight": args.heavy_weight, "augment": "noise 0-1.5 N, gain 0.85-1.15, half smoothed 1.5 Hz"}
    m = fit(sessions, seed=args.seed0, hidden=args.hidden, meta=meta, restarts=args.restarts,
            gap_weight=args.gap_weight, heavy_weight=args.heavy_weight, train_frames=args.train_frames)
    d = m.to_dict()
    d["format"] = MODEL_FORMAT
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(d, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
