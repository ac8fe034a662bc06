"""Accuracy of rollsignal's hold/roll detection on a labelled simulator corpus, against two baselines.

    python bench/accuracy.py [--per-family 8] [--families standard,limb,...] [--json OUT]
    python bench/accuracy.py --logo [--pairs] [--gens sim,quasi,control,tissue,traj] [--per-family 6] [--fit-per-family 24]
                                [--cache-dir DIR] [--json OUT]

--logo: leave-one-generator-out over every installed generator (holdsense.sim, holdsense.quasistatic,
holdsense.controlsim, holdsense.tissuesim, holdsense.trajsim; `--gens` picks some). For each generator G the force-only segmenter model is
fitted (bench/fit_segmenter.py, one --gen per generator) on all the others and evaluated on G, labelled
"held out"; with two generators that is both one-on-one directions. `--pairs` also runs every one-on-one
direction (fit on A alone, evaluate on B). Per family, force-only and encoder (the same sessions without /
with their angle), 10 and 80 Hz, ribbed and smooth shell (and the cost of a smooth shell measured on the
same sessions with either shell); false holds per 10 min of rolling; a reliability
table of the per-hold confidence (of the holds reported with confidence >= 0.9, 0.5-0.9, < 0.5: what share
are true); 95 % intervals of the force-only figures over the sessions drawn (a stratified bootstrap: the
families' sessions drawn again with replacement; they show what a figure owes to which sessions were drawn,
not to the model's fit); and at the end one summary table of the held-out figures. The figures on the
generator not used for fitting are the ones that count.

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

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))

from rollsignal import Detector, SampleChunk, analyze
from rollsignal.metrics import KINDS, f1_of, grid_labels, holds_of, match_events
from rollsignal.metrics import frame_counts as f1


# metrics: rollsignal.metrics (grid labels, frame F1, event matching, boundary errors)
#: bootstrap draws for the force-only intervals (rollsignal.metrics.bootstrap_intervals): ~0.3 s per world
BOOT_DRAWS = 1000


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


# ---- leave-one-generator-out ------------------------------------------------------------

def _fit_model(gens: list[str] | str, per_family: int, cache_dir: str, refit: bool) -> str:
    """Path of a model fitted on the generators `gens` (together; cached in cache_dir)."""
    import os

    gens = [gens] if isinstance(gens, str) else list(gens)
    import fit_segmenter
    # the file name carries the recipe's knobs, so a cached fit of another recipe is not reused
    path = os.path.join(cache_dir, f"segmenter-fit-{'+'.join(gens)}-{per_family}-r{fit_segmenter.RESTARTS}-f{fit_segmenter.TRAIN_FRAMES}"
                        f"-g{fit_segmenter.GAP_WEIGHT}-h{fit_segmenter.HEAVY_WEIGHT}.json")
    if os.path.exists(path) and not refit:
        return path
    argv: list[str] = []
    for g in gens:
        argv += ["--gen", g]
    rc = fit_segmenter.main(argv + ["--per-family", str(per_family), "--out", path])
    if rc:
        raise SystemExit(rc)
    return path


def _run_detector(chunk: SampleChunk, model: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    det = Detector(model=model, progress_events=False)
    det.process(chunk)
    det.finish()
    res = det.result()
    return res.segments, res.holds


def evaluate(gen: str, model_path: str | None, per_family: int, seed0: int, verbose: bool = False) -> dict[str, Any]:
    """Score the detector (model file `model_path`, None: the packaged one) on `gen`'s corpus.

    Besides the corpus (each session as drawn: rate and shell cycle, so ribbed and smooth rows hold different
    sessions), every session is also scored force only with the other shell (the generators' `shell`
    override: the same person doing the same session): `shell_pairs` compares the same sessions on both
    shells, which is what "a smooth shell costs at most 0.02 F1" asks, without the sessions' own spread.
    """
    from rollsignal.metrics import bootstrap_intervals, reliability, score_session, summarise
    from rollsignal.segmenter import load_model
    from sessions import corpus, force_only, generate

    model = load_model(model_path)
    scores: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)  # (family, mode, rate, shell)
    pairs: dict[str, list[Any]] = defaultdict(list)  # shell -> force-only scores, every session on both shells
    conf: list[float] = []
    correct: list[bool] = []
    force_scores: list[Any] = []  # (force only, in corpus order, with their families: for the intervals)
    force_fams: list[str] = []
    n = 0
    for s in corpus(gen, per_family, seed0):
        n += 1
        t_end = float(s.samples.t_s[-1])
        for mode, chunk in (("enc", s.samples), ("force", force_only(s.samples))):
            segs, holds = _run_detector(chunk, model)
            sc = score_session(s.segments, segs, t_end)
            scores[(s.family, mode, f"{s.rate_hz:g}Hz", str(s.shell))].append(sc)
            if mode == "force":
                pairs[str(s.shell)].append(sc)
                force_scores.append(sc)
                force_fams.append(s.family)
                ok = [False] * len(holds)
                for _i, j in sc.events.pairs:
                    ok[j] = True
                conf += [h.get("confidence") or 0.0 for h in holds]
                correct += ok
            if verbose and (sc.events.fp or sc.events.fn):
                print(f"  {s.name} {mode}: events tp/fp/fn {sc.events.counts()}", file=sys.stderr)
        other = "smooth" if s.shell == "ribbed" else "ribbed"  # the same session with the other shell
        tw = generate(gen, s.family, s.seed, s.rate_hz, False, other)
        segs, _ = _run_detector(tw.samples, model)
        pairs[other].append(score_session(tw.segments, segs, float(tw.samples.t_s[-1])))

    def pool(pred: Callable[[tuple[str, str, str, str]], bool]) -> dict[str, float]:
        return summarise([x for k, v in scores.items() if pred(k) for x in v])

    fams = sorted({k[0] for k in scores})
    out: dict[str, Any] = {"generator": gen, "sessions": n, "rows": {}}
    for mode in ("force", "enc"):
        for fam in fams:
            out["rows"][f"{fam}/{mode}"] = pool(lambda k: k[0] == fam and k[1] == mode)
        for rate in ("10Hz", "80Hz"):
            out["rows"][f"@{rate}/{mode}"] = pool(lambda k: k[2] == rate and k[1] == mode)
        for shell in ("ribbed", "smooth"):
            out["rows"][f"@{shell}/{mode}"] = pool(lambda k: k[3] == shell and k[1] == mode)
        out["rows"][f"ALL/{mode}"] = pool(lambda k: k[1] == mode)
    out["shell_pairs"] = {sh: summarise(v) for sh, v in pairs.items()}
    out["reliability"] = reliability(conf, correct)
    out["intervals_force"] = bootstrap_intervals(force_scores, force_fams, draws=BOOT_DRAWS)
    return out


def print_eval(title: str, ev: dict[str, Any]) -> None:
    print(f"\n{title}: {ev['sessions']} sessions of {ev['generator']} (each force-only and with encoder)")
    hdr = (f"{'rows':<20}{'hold F1':>8}{'roll F1':>8}{'event F1':>9}{'start|s|':>9}{'end|s|':>8}"
           f"{'false':>6}{'missed':>7}{'FP/10min roll':>14}")
    print(hdr)
    print("-" * len(hdr))
    for key, r in ev["rows"].items():
        print(f"{key:<20}{r['hold']:>8.3f}{r['roll']:>8.3f}{r['event']:>9.3f}{r['start']:>9.2f}{r['end']:>8.2f}"
              f"{r['fp']:>6d}{r['fn']:>7d}{r['fp_per_10min_roll']:>14.2f}")
    print("reliability of force-only hold confidence:")
    for b in ev["reliability"]:
        print(f"  confidence {b['lo']:.1f}-{b['hi']:.1f}: {b['n']:4d} holds, share true {b['share_true']:.3f}"
              f" (mean confidence {b['mean_conf']:.3f})")
    ci = ev.get("intervals_force")
    if ci:
        print(f"force-only 95 % intervals over the sessions drawn (stratified bootstrap, {BOOT_DRAWS} draws): "
              + ", ".join(f"{lab} {ci[k][0]:.3f}-{ci[k][1]:.3f}" for k, lab in
                          (("hold", "hold F1"), ("roll", "roll F1"), ("event", "event F1"),
                           ("worst_event", "worst family"), ("start", "start |s|"), ("end", "end |s|"),
                           ("fp_per_10min_roll", "FP/10 min"))))
    r = summary_row(ev)
    f, e = r["force"], r["enc"]
    print(f"targets force-only: hold F1 {f['hold']:.3f} (>=0.93), roll F1 {f['roll']:.3f} (>=0.90), event F1 "
          f"{f['event']:.3f} (>=0.90), worst family {f['worst_family']} {f['worst_event']:.3f} (>=0.80), median "
          f"boundary {f['boundary_s']:.2f} s (<=0.5), false holds/10 min rolling {f['fp_per_10min_roll']:.2f} (<=1), "
          f"smooth - ribbed hold F1 {f['smooth_minus_ribbed_hold']:+.3f} (>=-0.02; the same sessions on both shells)")
    print(f"targets encoder: hold F1 {e['hold']:.3f} (>=0.99), event F1 {e['event']:.3f} (>=0.98), boundary "
          f"{e['boundary_s']:.2f} s (<=0.25)")


def logo_directions(gens: list[str], pairs: bool) -> list[tuple[list[str], str]]:
    """(fitted on, evaluated on) pairs: leave-one-out (fit on all the others), then one-on-one if `pairs`."""
    out: list[tuple[list[str], str]] = []
    if len(gens) >= 2:
        out += [([g for g in gens if g != held], held) for held in gens]
    if pairs and len(gens) > 2:
        out += [([a], b) for a in gens for b in gens if a != b]
    return out


def _shell_cost(ev: dict[str, Any]) -> float:
    """Force-only hold F1, smooth minus ribbed shell: over the same sessions on both shells when measured
    (`shell_pairs`), else over the corpus's ribbed and smooth sessions (different sessions)."""
    p = ev.get("shell_pairs")
    if p and "smooth" in p and "ribbed" in p:
        return p["smooth"]["hold"] - p["ribbed"]["hold"]
    return ev["rows"]["@smooth/force"]["hold"] - ev["rows"]["@ribbed/force"]["hold"]


def summary_row(ev: dict[str, Any]) -> dict[str, Any]:
    """The figures that count for one evaluated world: force-only and encoder, worst family."""
    f, e = ev["rows"]["ALL/force"], ev["rows"]["ALL/enc"]
    fam_ev = {k.split("/")[0]: r["event"] for k, r in ev["rows"].items()
              if k.endswith("/force") and not k.startswith(("@", "ALL"))}
    worst = min(fam_ev.items(), key=lambda kv: kv[1]) if fam_ev else ("-", float("nan"))
    return {"force": {"hold": f["hold"], "roll": f["roll"], "event": f["event"], "boundary_s": max(f["start"], f["end"]),
                      "fp_per_10min_roll": f["fp_per_10min_roll"], "worst_family": worst[0], "worst_event": worst[1],
                      "smooth_minus_ribbed_hold": _shell_cost(ev),
                      "intervals": ev.get("intervals_force", {})},
            "enc": {"hold": e["hold"], "event": e["event"], "boundary_s": max(e["start"], e["end"])}}


def print_summary(summary: list[dict[str, Any]]) -> None:
    print("\nsummary (force-only | encoder):")
    fw = max([len('+'.join(r['fitted_on'])) for r in summary] + [9]) + 2  # the widest "a+b+c" and a gap
    hdr = (f"{'evaluated on':<13}{'fitted on':<{fw}}{'kind':<10}{'hold':>6}{'roll':>6}{'event':>6}{'bnd s':>6}"
           f"{'FP/10':>6}  {'worst family':<18}{'sm-rib':>7}  {'event 95 %':<12}|{'hold':>6}{'event':>6}{'bnd s':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in summary:
        f, e = r["force"], r["enc"]
        worst = f"{f['worst_family']} {f['worst_event']:.2f}"
        ci = f.get("intervals", {}).get("event")
        ev_ci = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "-"
        print(f"{r['evaluated_on']:<13}{'+'.join(r['fitted_on']):<{fw}}{r['kind']:<10}{f['hold']:>6.3f}{f['roll']:>6.3f}"
              f"{f['event']:>6.3f}{f['boundary_s']:>6.2f}{f['fp_per_10min_roll']:>6.2f}  "
              f"{worst:<18}{f['smooth_minus_ribbed_hold']:>+7.3f}  {ev_ci:<12}|{e['hold']:>6.3f}{e['event']:>6.3f}{e['boundary_s']:>6.2f}")


def logo_main(args: argparse.Namespace) -> int:
    import os

    from sessions import GENERATORS, available

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    have = available()
    if args.gens:
        gens = [g.strip() for g in args.gens.split(",") if g.strip()]
        bad = [g for g in gens if g not in GENERATORS]
        missing = [g for g in gens if g in GENERATORS and g not in have]
        if bad or missing:
            print(f"--gens: {', '.join(bad + missing)}: not a generator installed here ({', '.join(have)})",
                  file=sys.stderr)
            return 2
    else:
        gens = have
    if len(gens) < 2:
        print(f"only {', '.join(gens)} installed: only the in-generator figures are shown", file=sys.stderr)
    cache = args.cache_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
    os.makedirs(cache, exist_ok=True)
    result: dict[str, Any] = {}
    summary: list[dict[str, Any]] = []
    directions = logo_directions(gens, args.pairs) if len(gens) > 1 else [(gens, gens[0])]
    for fit_gens, ev_gen in directions:
        if args.fit_on and args.fit_on not in fit_gens:
            continue
        model = _fit_model(fit_gens, args.fit_per_family, cache, args.refit)
        evs = [ev_gen] + ([g for g in fit_gens if g != ev_gen] if args.in_world else [])
        for g in evs:
            ev = evaluate(g, model, args.per_family, args.seed0, args.verbose)
            kind = "held out" if g not in fit_gens else "in world (tuned on it: does not count)"
            ev["fitted_on"] = fit_gens
            ev["kind"] = kind
            print_eval(f"fitted on {'+'.join(fit_gens)}, evaluated on {g} [{kind}]", ev)
            result[f"{'+'.join(fit_gens)}->{g}"] = ev
            summary.append(dict(summary_row(ev), evaluated_on=g, fitted_on=fit_gens,
                                kind="held out" if g not in fit_gens else "in world"))
            sys.stdout.flush()
    if args.packaged:
        for ev_gen in gens:
            ev = evaluate(ev_gen, None, args.per_family, args.seed0, args.verbose)
            ev["fitted_on"] = ["packaged"]
            ev["kind"] = "packaged"
            print_eval(f"packaged model, evaluated on {ev_gen} [fitted on it when it is among the model's worlds]", ev)
            result[f"packaged->{ev_gen}"] = ev
            summary.append(dict(summary_row(ev), evaluated_on=ev_gen, fitted_on=["packaged"], kind="packaged"))
    print_summary(summary)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(result, summary=summary), fh, indent=1)
    return 0



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
    ap.add_argument("--logo", action="store_true", help="leave-one-generator-out evaluation (see the docstring)")
    ap.add_argument("--fit-per-family", type=int, default=24, help="--logo: sessions per family to fit on")
    ap.add_argument("--cache-dir", default=None, help="--logo: where fitted models are kept (bench/.cache)")
    ap.add_argument("--refit", action="store_true", help="--logo: refit even when a cached model exists")
    ap.add_argument("--in-world", action="store_true", help="--logo: also evaluate on the generator fitted on")
    ap.add_argument("--packaged", action="store_true", help="--logo: also evaluate the packaged model")
    ap.add_argument("--fit-on", default=None, help="--logo: only the direction(s) whose fit includes this generator")
    ap.add_argument("--gens", default=None, help="--logo: comma-separated generators (default: all installed: "
                    "sim, quasi, control, tissue, traj)")
    ap.add_argument("--pairs", action="store_true", help="--logo: also every one-on-one direction (fit on one, "
                    "evaluate on another)")
    args = ap.parse_args(argv)
    if args.logo:
        if args.per_family == 8 and "--per-family" not in (argv or sys.argv):
            args.per_family = 6
        return logo_main(args)
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
