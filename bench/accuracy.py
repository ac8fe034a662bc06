"""Accuracy of rollsignal's hold/roll detection on a labelled simulator corpus, against two baselines.

    python bench/accuracy.py [--per-family 8] [--families standard,limb,...] [--json OUT]

Corpus: holdsense.sim families (standard, fast, slow, limb, mixed, long,
reposition, gaps), each session cycling 10/80 Hz x encoder/force-only.
Metrics per family and mode (encoder / force-only):

* frame-level F1 of `hold` and of `roll` on a 0.05 s grid;
* event-level hold F1: a detected hold matches a true one when their overlap
  is at least half the longer of the two (one-to-one);
* median |start error| and |end error| of matched holds (s).

Baselines, measured in the same run on the same sessions (force only, as a
data scientist would do it offline):

* movstd: moving standard deviation (2 s, centred) of the 2 Hz low-passed
  force below 5 % of the local level for >= 5 s = hold; loaded otherwise = roll;
* pelt: ruptures Pelt(model="rbf", min_size=5, jump=2), penalty 8, on the
  force low-passed at 2 Hz and decimated to 5 Hz; each segment labelled off
  (mean < 25 N), hold (>= 5 s and coefficient of variation < 8 %) or roll.

Bench-only dependency: ruptures (`pip install -e '.[bench]'`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np
from scipy import signal as sps

from rollsignal import SampleChunk, analyze
from rollsignal.metrics import KINDS, f1_of, grid_labels, holds_of, match_events
from rollsignal.metrics import frame_counts as f1


# metrics: rollsignal.metrics (grid labels, frame F1, event matching, boundary errors)


# ---- baselines ---------------------------------------------------------------------------

def _uniform(chunk: SampleChunk, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(chunk.force_n) & ((chunk.flags & 1) == 0)
    t = np.arange(chunk.t_s[0], chunk.t_s[-1], 1.0 / rate_hz)
    f = np.interp(t, chunk.t_s[ok], chunk.force_n[ok])
    return t, f


def _lp2(f: np.ndarray, rate_hz: float) -> np.ndarray:
    sos = sps.butter(2, 2.0, fs=rate_hz, output="sos")
    return sps.sosfiltfilt(sos, f)  # offline baseline: zero-phase is fair here


def _runs_to_segments(t: np.ndarray, lab: np.ndarray, t_end: float) -> list[dict[str, Any]]:
    segs: list[dict[str, Any]] = []
    for i, v in enumerate(lab):
        kind = KINDS[int(v)]
        if segs and segs[-1]["kind"] == kind:
            continue
        if segs:
            segs[-1]["end_s"] = float(t[i])
        segs.append({"kind": kind, "start_s": float(t[i]), "end_s": t_end})
    return segs


def baseline_movstd(chunk: SampleChunk) -> list[dict[str, Any]]:
    rate = 20.0
    t, f = _uniform(chunk, rate)
    f = _lp2(f, rate)
    w = int(2.0 * rate)
    k = np.ones(w) / w
    mean = np.convolve(f, k, mode="same")
    std = np.sqrt(np.maximum(np.convolve(f * f, k, mode="same") - mean**2, 0))
    loaded = f > 25.0
    still = loaded & (std < 0.05 * np.maximum(mean, 1.0))
    lab = np.where(loaded, 1, 0).astype(np.int8)
    # still runs >= 5 s are holds
    edges = np.flatnonzero(np.diff(np.concatenate(([0], still.astype(np.int8), [0]))))
    for a, b in zip(edges[::2], edges[1::2]):
        if (b - a) / rate >= 5.0:
            lab[a:b] = 2
    return _runs_to_segments(t, lab, float(chunk.t_s[-1]))


def baseline_pelt(chunk: SampleChunk) -> list[dict[str, Any]]:
    import ruptures as rpt

    t, f = _uniform(chunk, 20.0)
    f = _lp2(f, 20.0)[::4]  # 2 Hz low-pass, decimate to 5 Hz
    t = t[::4]
    bkps = rpt.Pelt(model="rbf", min_size=5, jump=2).fit(f.reshape(-1, 1)).predict(pen=8)
    lab = np.zeros(len(f), np.int8)
    a = 0
    for b in bkps:
        seg = f[a:b]
        m = float(np.mean(seg))
        if m < 25.0:
            lab[a:b] = 0
        elif (b - a) / 5.0 >= 5.0 and float(np.std(seg)) < 0.08 * m:
            lab[a:b] = 2
        else:
            lab[a:b] = 1
        a = b
    return _runs_to_segments(t, lab, float(chunk.t_s[-1]))


def detector(chunk: SampleChunk, body_mass_kg: float | None) -> list[dict[str, Any]]:
    return analyze(chunk).segments  # body mass unknown: the harder, common case


# ---- run -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=8, help="sessions per family (cycles 10/80 Hz x enc/force)")
    ap.add_argument("--families", default=None, help="comma-separated families (default: all)")
    ap.add_argument("--seed0", type=int, default=100)
    ap.add_argument("--no-pelt", action="store_true", help="skip the (slow) PELT baseline")
    ap.add_argument("--json", default=None, help="write per-session results here")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--baseline-cache", default=None,
                    help="JSON file keeping the baselines' segments per session (they do not depend on rollsignal, "
                         "and PELT is slow): reused when present, filled when not")
    args = ap.parse_args(argv)
    try:
        from holdsense.sim import corpus, family_names
    except ImportError:
        print("bench/accuracy.py needs holdsense.sim (the simulator)", file=sys.stderr)
        return 2
    fams = args.families.split(",") if args.families else family_names()
    methods: dict[str, Callable[[SampleChunk, float | None], list[dict[str, Any]]]] = {
        "rollsignal": detector, "movstd": lambda c, m: baseline_movstd(c)}
    if not args.no_pelt:
        methods["pelt"] = lambda c, m: baseline_pelt(c)
    # acc[(family, mode, method)] = dict of sums
    acc: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    rows = []
    n_sessions = 0
    cache: dict[str, Any] = {}
    if args.baseline_cache:
        try:
            with open(args.baseline_cache) as fh:
                cache = json.load(fh)
        except FileNotFoundError:
            pass
    t_start = time.perf_counter()
    for name, res in corpus(fams, n_per_family=args.per_family, seed0=args.seed0):
        n_sessions += 1
        fam = name.split("-s")[0]
        mode = "enc" if res.samples.angle_deg is not None else "force"
        truth = res.labels["segments"]
        t_end = float(res.samples.t_s[-1])
        g_true = grid_labels(truth, t_end)
        for meth, fn in methods.items():
            ckey = f"{meth}/{name}"
            if meth != "rollsignal" and ckey in cache:
                segs = cache[ckey]
            else:
                segs = fn(res.samples, res.metadata.get("body_mass_kg"))
                if meth != "rollsignal" and args.baseline_cache:
                    cache[ckey] = segs
            g = grid_labels(segs, t_end)
            a = acc[(fam, mode, meth)]
            for cls, key in ((2, "hold"), (1, "roll")):
                a[key].append(f1(g_true, g, cls))
            m = match_events(holds_of(truth), holds_of(segs))
            ev = (m.tp, m.fp, m.fn, m.start_err_s, m.end_err_s)
            a["ev"].append(ev[:3])
            a["start"] += ev[3]
            a["end"] += ev[4]
            if meth == "rollsignal":
                rows.append({"session": name, "hold_f1": f1_of(*f1(g_true, g, 2)),
                             "event": ev[:3], "start_err": ev[3], "end_err": ev[4]})
                if args.verbose and (ev[1] or ev[2] or f1_of(*f1(g_true, g, 2)) < 0.95):
                    print(f"  {name}: hold F1 {f1_of(*f1(g_true, g, 2)):.3f} events tp/fp/fn {ev[:3]}",
                          file=sys.stderr)
    elapsed = time.perf_counter() - t_start
    if args.baseline_cache:
        with open(args.baseline_cache, "w") as fh:
            json.dump(cache, fh)

    def summ(keys: list[tuple[str, str, str]]) -> dict[str, float]:
        tot = defaultdict(list)
        for k in keys:
            for kk, v in acc[k].items():
                tot[kk] += v
        out = {}
        for key in ("hold", "roll"):
            out[key] = f1_of(*np.sum(np.array(tot[key]), axis=0)) if tot[key] else float("nan")
        out["event"] = f1_of(*np.sum(np.array(tot["ev"]), axis=0)) if tot["ev"] else float("nan")
        out["start"] = float(np.median(tot["start"])) if tot["start"] else float("nan")
        out["end"] = float(np.median(tot["end"])) if tot["end"] else float("nan")
        return out

    print(f"corpus: {n_sessions} sessions, families {', '.join(fams)}; {elapsed:.1f} s")
    hdr = f"{'family':<11}{'mode':<6}{'method':<11}{'hold F1':>8}{'roll F1':>8}{'event F1':>9}{'start|s|':>9}{'end|s|':>8}"
    print(hdr)
    print("-" * len(hdr))
    result: dict[str, Any] = {}
    for fam in fams + ["ALL"]:
        for mode in ("enc", "force"):
            for meth in methods:
                keys = [k for k in acc if (fam == "ALL" or k[0] == fam) and k[1] == mode and k[2] == meth]
                if not keys:
                    continue
                s = summ(keys)
                result[f"{fam}/{mode}/{meth}"] = s
                print(f"{fam:<11}{mode:<6}{meth:<11}{s['hold']:>8.3f}{s['roll']:>8.3f}{s['event']:>9.3f}"
                      f"{s['start']:>9.2f}{s['end']:>8.2f}")
    # targets
    enc = result.get("ALL/enc/rollsignal")
    frc = result.get("ALL/force/rollsignal")
    print()
    if enc:
        print(f"target encoder: hold F1 {enc['hold']:.3f} (>=0.99), event F1 {enc['event']:.3f} (>=0.98), "
              f"boundary {max(enc['start'], enc['end']):.2f} s (<=0.25)")
    if frc:
        print(f"target force-only: hold F1 {frc['hold']:.3f} (>=0.93), event F1 {frc['event']:.3f} (>=0.90)")
    worse = []
    for fam in fams:
        for mode in ("enc", "force"):
            ours = result.get(f"{fam}/{mode}/rollsignal")
            for meth in methods:
                if meth == "rollsignal" or ours is None:
                    continue
                b = result.get(f"{fam}/{mode}/{meth}")
                if b and (ours["hold"] <= b["hold"] or ours["event"] < b["event"]):
                    worse.append(f"{fam}/{mode} vs {meth}")
    print("better than both baselines on every family:", "yes" if not worse else "NO: " + ", ".join(worse))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": result, "sessions": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
