"""Quick leave-one-generator-out comparison of segmenter fit recipes (docs/detector-history.md, "quick path").

    python bench/logo_quick.py VARIANT [--per-family 24] [--train-frames 300000] [--ensemble]
                               [--features level_,rtv_4s,...] [--knee-bends 0.5] [--cache-dir DIR]

Why: `bench/accuracy.py --logo --refit` is the bench that counts, but it regenerates, augments and
featurises every session for every fit and takes about half an hour. Here each generator's fit sessions
(seeds from 1000, augmented as the recipe does) and evaluation sessions (seeds 100-105, 6 per family) are
made once and cached (pickles, ~1 GB for 24 per family); a variant then fits its MLPs (best of
`fit_segmenter.RESTARTS` starts, or their average with --ensemble) and decoder (the recipe's grid, on the
held-back quarter) on two generators and is scored with the full Detector (segment layer included, force
only) on the third, for each of the three directions. It skips the confidence calibration, and its
augmentation draws differ from the recipe's (one random stream per generator), so its figures differ
from the full bench's by about the MLP's start-to-start spread (+-0.03 event F1): use it to rank
recipes, then confirm the winner with the full bench.

Variants: `--features` keeps only the named features (names or prefixes; the others get zero weight,
so the model file stays segmenter-v3); `--knee-bends P` adds, to a share P of the training holds, a
10-40 s bout of 0.1-0.5 Hz swing of 10-40 % of the hold's load (label-preserving augmentation).
"""
from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fit_segmenter as fs  # noqa: E402
from sessions import GENERATORS, Session, available, corpus, force_only  # noqa: E402

from rollsignal import SampleChunk  # noqa: E402
from rollsignal.detector import Detector  # noqa: E402
from rollsignal.metrics import score_session, summarise  # noqa: E402
from rollsignal.segmenter import FEATURE_NAMES, SegmenterModel  # noqa: E402


def knee_bends(s: Session, share: float, rng: np.random.Generator) -> Session:
    """The session with a bout of knee-bend swing added to a share of its true holds."""
    c = s.samples
    t, f = c.t_s, c.force_n.copy()
    for sg in s.segments:
        if sg["kind"] != "hold" or rng.random() > share:
            continue
        dur = sg["end_s"] - sg["start_s"]
        bout_s = min(dur, rng.uniform(10.0, 40.0))
        a = sg["start_s"] + rng.uniform(0.0, dur - bout_s)
        m = (t >= a) & (t < a + bout_s)
        if m.sum() < 10:
            continue
        tt = t[m] - a
        taper = np.minimum(1.0, np.minimum(tt, bout_s - tt) / 1.5)
        amp_n = rng.uniform(0.1, 0.4) * float(np.nanmedian(f[m]))
        f[m] += amp_n * taper * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * tt + rng.uniform(0, 2 * np.pi))
    return Session(s.name, s.family, s.generator, SampleChunk(t, f, c.angle_deg, c.flags, c.raw_counts),
                   s.segments, s.rate_hz, s.encoder, s.shell, s.metadata)


def cached(gen: str, per_family: int, knee: float, cache_dir: str) -> dict[str, Any]:
    """Training rows, held-back sessions (prepared) and evaluation sessions of one generator."""
    path = os.path.join(cache_dir, f"quick-{gen}-{per_family}-k{knee:g}-g{fs.GAP_WEIGHT}-h{fs.HEAVY_WEIGHT}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as fh:
            return pickle.load(fh)
    gi = GENERATORS.index(gen)
    fit_s = list(corpus(gen, per_family, 1000))
    train = [s for i, s in enumerate(fit_s) if i % 4 != 3]
    if knee > 0:
        rng = np.random.default_rng(77 + gi)
        train = [knee_bends(s, knee, rng) for s in train]
    rows = [(X.astype(np.float32), y) for X, y in fs.training_rows(fs.prepare(train, 1000 + gi, train=True),
                                                                            fs.GAP_WEIGHT, fs.HEAVY_WEIGHT)]
    val = fs.prepare([s for i, s in enumerate(fit_s) if i % 4 == 3], 1001 + gi)
    d = {"train": rows, "val": val, "eval": list(corpus(gen, 6, 100))}
    with open(path, "wb") as fh:
        pickle.dump(d, fh, protocol=5)
    return d


def fit(data: list[dict[str, Any]], args: argparse.Namespace, seed: int = 1000) -> SegmenterModel:
    names = [n.strip() for n in args.features.split(",") if n.strip()]
    idx = [i for i, n in enumerate(FEATURE_NAMES) if not names or any(n == s or n.startswith(s) for s in names)]
    X, y = fs.training_set([r for d in data for r in d["train"]], np.random.default_rng(seed), args.train_frames)
    X = X[:, idx]
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    F = len(FEATURE_NAMES)
    full_mean, full_scale = np.zeros(F), np.ones(F)
    full_mean[idx], full_scale[idx] = mean, scale

    def widen(W0: np.ndarray) -> np.ndarray:  # unused features: zero weight
        W = np.zeros((F, W0.shape[1]))
        W[idx] = W0
        return W

    nets = []
    for r in range(fs.RESTARTS):
        clf = fs.fit_mlp((X - mean) / scale, y, args.hidden, seed + r)
        (W0, b0), (W1, b1) = zip(clf.coefs_, clf.intercepts_)
        nets.append((widen(W0), b0, W1, b1))
    if args.ensemble:  # the starts' mean log-odds = one MLP with their hidden units side by side
        k = len(nets)
        nets = [(np.hstack([n[0] for n in nets]), np.concatenate([n[1] for n in nets]),
                 np.vstack([n[2] for n in nets]) / k, np.mean([n[3] for n in nets], axis=0))]
    prior = float(np.log(y.mean() / (1 - y.mean())))
    pval = [p for d in data for p in d["val"]]
    best: tuple[float, Any, Any] = (-math.inf, None, None)
    for W0, b0, W1, b1 in nets:
        base = fs.base_params(full_mean, full_scale, ((W0, b0), (W1, b1)), prior, {"variant": args.variant})
        sc, kw = fs.fit_decoder(base, pval)
        if sc > best[0]:
            best = (sc, base, kw)
    return SegmenterModel(**best[2], **best[1])


def evaluate(model: SegmenterModel, sessions: list[Session]) -> dict[str, Any]:
    """Force-only figures of the full Detector on `sessions`, pooled and per family (event F1)."""
    per: dict[str, list[Any]] = {}
    for s in sessions:
        det = Detector(model=model, progress_events=False)
        det.process(force_only(s.samples))
        det.finish()
        per.setdefault(s.family, []).append(score_session(s.segments, det.result().segments, float(s.samples.t_s[-1])))
    out = summarise([x for v in per.values() for x in v])
    out["families"] = {f: summarise(v)["event"] for f, v in sorted(per.items())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", help="a name for the printed rows")
    ap.add_argument("--per-family", type=int, default=24, help="fit sessions per family and generator")
    ap.add_argument("--train-frames", type=int, default=fs.TRAIN_FRAMES)
    ap.add_argument("--hidden", type=int, default=24)
    ap.add_argument("--ensemble", action="store_true", help="average the starts instead of keeping the best")
    ap.add_argument("--features", default="", help="comma-separated feature names or prefixes to keep")
    ap.add_argument("--knee-bends", type=float, default=0.0, help="share of training holds given a knee-bend bout")
    ap.add_argument("--cache-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache"))
    args = ap.parse_args(argv)
    gens = available()
    if len(gens) < 2:
        print(f"only {', '.join(gens)} installed: leave-one-out needs two generators or more", file=sys.stderr)
        return 2
    os.makedirs(args.cache_dir, exist_ok=True)
    t0 = time.perf_counter()
    data = {g: cached(g, args.per_family, args.knee_bends, args.cache_dir) for g in gens}
    ev_sets = {g: data[g]["eval"] if args.knee_bends == 0 else cached(g, args.per_family, 0.0, args.cache_dir)["eval"]
               for g in gens}
    events = []
    for held in gens:
        r = evaluate(fit([data[g] for g in gens if g != held], args), ev_sets[held])
        events.append(r["event"])
        fams = " ".join(f"{f} {v:.2f}" for f, v in r["families"].items())
        print(f"{args.variant:<16} held out {held:<8} hold {r['hold']:.3f} roll {r['roll']:.3f} event {r['event']:.3f} "
              f"start/end {r['start']:.2f}/{r['end']:.2f} s false/missed {r['fp']}/{r['fn']} "
              f"FP/10min {r['fp_per_10min_roll']:.2f} | {fams}  [{time.perf_counter() - t0:.0f} s]", flush=True)
    print(f"{args.variant:<16} mean event F1 over the held-out worlds {np.mean(events):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
