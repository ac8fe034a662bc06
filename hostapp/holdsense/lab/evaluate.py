"""Score the detector against labels: `holdsense evaluate` (docs/contracts.md §5).

Per file: the detector (`holdsense analyze`, the same code as live) against the
file's `holdsense-labels/1` spans, with the rules of `rollsignal.metrics` (the
ones bench/accuracy.py uses): frame-level hold and roll F1 on a 0.05 s grid,
event-level hold F1 (a detected hold matches a true one when they overlap by at
least half the longer, one-to-one), boundary errors of the matched holds.

Labels that speak only for some kinds (`labelled_kinds`, e.g. markers pressed
while rolling mark holds only): time outside their spans is "not those kinds",
and the F1 of a kind they do not label is not reported (None). `other` spans
are left out of every score (frames and holds there). Every grid frame belongs
to one group, (region, side) of the span covering it, else the file's; scores
are also given per group. The total carries intervals over the files (`intervals`):
what it owes to which recordings were labelled.

`evaluate_file` is a pure function of two paths returning plain data, so
`holdsense.lab.parallel.map_files` can spread files over processes.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

EVALUATION_FORMAT = "holdsense-evaluation/1"
NONE_GROUP = "-"
#: the total's intervals: bootstrap over files (rollsignal.metrics.bootstrap_intervals), from this many files
INTERVAL_MIN_FILES = 3
INTERVAL_DRAWS = 1000
INTERVAL_LEVEL = 0.95


def _group_key(region: Any, side: Any) -> str:
    r = str(region) if region else ""
    s = str(side) if side else ""
    return "/".join(x for x in (r, s) if x) or NONE_GROUP


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs of a boolean array."""
    if not len(mask):
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def evaluate_file(path: str, labels_path: str | None = None, stream: str | None = None) -> dict[str, Any]:
    """Detector vs labels for one recording (CSV, .hscap, XDF); plain data (see module docstring)."""
    from rollsignal.metrics import GRID_S, HOLD, ROLL, frame_counts, grid_labels, holds_of, match_events

    from ..analysis import analyze_recording, load_for_analysis
    from ..io.labels import LabelsError, check_within_recording, labelled_kinds, labels_path_for, read_labels

    lp = Path(labels_path) if labels_path else labels_path_for(path)
    if not labels_path and not lp.is_file():
        raise LabelsError(f"{path}: no labels ({lp.name} not found beside it; make one with 'holdsense label')")
    labels = read_labels(lp)  # (a --labels path that is not there: "<path as given>: no such labels file")
    rec = load_for_analysis(path, stream=stream)
    t_end = float(rec.samples.t_s[-1]) if len(rec.samples) else 0.0
    if len(rec.samples):  # (no samples: the analysis says so)
        check_within_recording(labels, t_end, str(lp))  # labels of another recording, or shifted: not scored
    analysis = analyze_recording(rec)
    kinds = labelled_kinds(labels)
    spans = labels["segments"]
    truth = [s for s in spans if s["kind"] != "other"]
    others = [(s["start_s"], s["end_s"]) for s in spans if s["kind"] == "other"]
    pred = analysis["segments"]

    g_true = grid_labels(truth, t_end)
    g_pred = grid_labels(pred, t_end)
    t_grid = np.arange(len(g_true)) * GRID_S + GRID_S / 2
    keep = np.ones(len(g_true), bool)
    for a, b in others:
        keep &= ~((t_grid >= a) & (t_grid < b))
    # groups: (region, side) of the covering span, else the file's
    default_group = _group_key(labels.get("region") or rec.region, labels.get("side"))
    groups = np.array([default_group] * len(g_true), dtype=object)
    for s in spans:
        if s.get("region") or s.get("side"):
            m = (t_grid >= s["start_s"]) & (t_grid < s["end_s"])
            groups[m] = _group_key(s.get("region") or labels.get("region") or rec.region,
                                   s.get("side") or labels.get("side"))

    def in_other(t0: float, t1: float) -> bool:
        mid = (t0 + t1) / 2
        return any(a <= mid < b for a, b in others)

    true_h = holds_of(truth)
    pred_h = [h for h in holds_of(pred) if not in_other(*h)]
    ev = match_events(true_h, pred_h)
    signed_start = [pred_h[j][0] - true_h[i][0] for i, j in ev.pairs]
    signed_end = [pred_h[j][1] - true_h[i][1] for i, j in ev.pairs]

    def group_of(t0: float, t1: float) -> str:
        k = int(min(max((t0 + t1) / 2 / GRID_S, 0), len(groups) - 1)) if len(groups) else 0
        return str(groups[k]) if len(groups) else default_group

    per_group: dict[str, dict[str, Any]] = {}
    for g in sorted(set(groups[keep].tolist()) | {group_of(*h) for h in true_h}):
        m = keep & (groups == g)
        matched_true = {i for i, _ in ev.pairs}
        matched_pred = {j for _, j in ev.pairs}
        tp = sum(1 for i in matched_true if group_of(*true_h[i]) == g)
        fn = sum(1 for i, h in enumerate(true_h) if i not in matched_true and group_of(*h) == g)
        fp = sum(1 for j, h in enumerate(pred_h) if j not in matched_pred and group_of(*h) == g)
        per_group[g] = {"hold": list(frame_counts(g_true[m], g_pred[m], HOLD)),
                        "roll": list(frame_counts(g_true[m], g_pred[m], ROLL)) if "roll" in kinds else None,
                        "events": [tp, fp, fn], "seconds": round(float(m.sum()) * GRID_S, 2)}

    # disagreements about holding (what a person would look at first), longest first
    dis = []
    for a, b in _runs(keep & ((g_true == HOLD) != (g_pred == HOLD))):
        dis.append({"start_s": round(a * GRID_S, 2), "end_s": round(b * GRID_S, 2),
                    "duration_s": round((b - a) * GRID_S, 2),
                    "labels": "hold" if g_true[a] == HOLD else "not hold",
                    "detector": "hold" if g_pred[a] == HOLD else "not hold"})
    dis.sort(key=lambda d: -d["duration_s"])
    return {
        "source": path,
        "labels": str(lp),
        "duration_s": round(t_end, 3),
        "labelled_kinds": list(kinds),
        "labeller": labels.get("labeller"),
        "hold": list(frame_counts(g_true[keep], g_pred[keep], HOLD)),
        "roll": list(frame_counts(g_true[keep], g_pred[keep], ROLL)) if "roll" in kinds else None,
        "events": [ev.tp, ev.fp, ev.fn],
        "true_holds": len(true_h), "detected_holds": len(pred_h),
        "start_err_s": [round(x, 3) for x in signed_start],
        "end_err_s": [round(x, 3) for x in signed_end],
        "groups": per_group,
        "disagreements": dis[:10],
    }


def _f1(counts: list[int] | None) -> float | None:
    from rollsignal.metrics import f1_of

    return None if counts is None else round(f1_of(*counts), 4)


def _median_abs(xs: list[float]) -> float | None:
    return round(float(np.median(np.abs(xs))), 3) if xs else None


def scores(r: dict[str, Any]) -> dict[str, Any]:
    """F1s and boundary errors from the counts of one file (or a pooled total)."""
    return {"hold_f1": _f1(r["hold"]), "roll_f1": _f1(r.get("roll")), "event_f1": _f1(r["events"]),
            "events": {"tp": r["events"][0], "fp": r["events"][1], "fn": r["events"][2]},
            "start_abs_median_s": _median_abs(r.get("start_err_s", [])),
            "end_abs_median_s": _median_abs(r.get("end_err_s", [])),
            "start_median_s": round(float(np.median(r["start_err_s"])), 3) if r.get("start_err_s") else None,
            "end_median_s": round(float(np.median(r["end_err_s"])), 3) if r.get("end_err_s") else None}


def _add(a: list[int] | None, b: list[int] | None) -> list[int] | None:
    if a is None:
        return list(b) if b is not None else None
    if b is None:
        return a
    return [x + y for x, y in zip(a, b)]


def pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over files: counts summed (so F1 is pooled, as bench/accuracy.py does), errors concatenated;
    and per group. Roll F1 pools only the files whose labels speak for rolling."""
    tot: dict[str, Any] = {"hold": [0, 0, 0], "roll": None, "events": [0, 0, 0], "start_err_s": [],
                           "end_err_s": [], "files": len(results), "duration_s": 0.0}
    groups: dict[str, dict[str, Any]] = {}
    for r in results:
        tot["hold"] = _add(tot["hold"], r["hold"])
        tot["roll"] = _add(tot["roll"], r["roll"])
        tot["events"] = _add(tot["events"], r["events"])
        tot["start_err_s"] += r["start_err_s"]
        tot["end_err_s"] += r["end_err_s"]
        tot["duration_s"] += r["duration_s"]
        for g, c in r["groups"].items():
            dst = groups.setdefault(g, {"hold": [0, 0, 0], "roll": None, "events": [0, 0, 0], "seconds": 0.0,
                                        "files": 0})
            dst["hold"] = _add(dst["hold"], c["hold"])
            dst["roll"] = _add(dst["roll"], c["roll"])
            dst["events"] = _add(dst["events"], c["events"])
            dst["seconds"] = round(dst["seconds"] + c["seconds"], 2)
            dst["files"] += 1
    out = {"files": tot["files"], "duration_s": round(tot["duration_s"], 1), **scores(tot)}
    iv = intervals(results)
    if iv is not None:
        out["intervals"] = iv
    out["groups"] = {g: {"files": c["files"], "seconds": c["seconds"], "hold_f1": _f1(c["hold"]),
                         "roll_f1": _f1(c["roll"]), "event_f1": _f1(c["events"]),
                         "events": {"tp": c["events"][0], "fp": c["events"][1], "fn": c["events"][2]}}
                     for g, c in sorted(groups.items())}
    return out


def intervals(results: list[dict[str, Any]], draws: int = INTERVAL_DRAWS,
              level: float = INTERVAL_LEVEL) -> dict[str, Any] | None:
    """How much the total owes to which recordings were labelled: `level` intervals of the total's F1s and
    median |boundary errors| over the files drawn again with replacement (`draws` times, seeded). A total
    of 0.88 over six recordings may be 0.80-0.95; a lab deciding whether the detector is good enough for
    its people needs that more than a third decimal. None with fewer than INTERVAL_MIN_FILES files (too
    few to resample). Roll F1, like the total's, over the files whose labels speak for rolling (None when
    fewer than INTERVAL_MIN_FILES do)."""
    from rollsignal.metrics import EventMatch, SessionScore, bootstrap_intervals

    def boot(rs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
        sc = [SessionScore(hold=tuple(r["hold"]), roll=tuple(r["roll"]) if r["roll"] is not None else (0, 0, 0),
                           events=EventMatch(*r["events"], [abs(x) for x in r["start_err_s"]],
                                             [abs(x) for x in r["end_err_s"]]),
                           roll_s=0.0) for r in rs]
        return bootstrap_intervals(sc, None, draws=draws, level=level)

    if len(results) < INTERVAL_MIN_FILES:
        return None
    ci = boot(results)
    with_roll = [r for r in results if r["roll"] is not None]
    if len(with_roll) == len(results):
        roll = ci["roll"]  # (every file labels rolling: the same draws)
    else:
        roll = boot(with_roll)["roll"] if len(with_roll) >= INTERVAL_MIN_FILES else None

    def pair(v: tuple[float, float] | None, nd: int) -> list[float] | None:
        return None if v is None or math.isnan(v[0]) else [round(v[0], nd), round(v[1], nd)]

    return {"level": level, "draws": draws, "over": "files", "hold_f1": pair(ci["hold"], 4),
            "roll_f1": pair(roll, 4), "event_f1": pair(ci["event"], 4),
            "start_abs_median_s": pair(ci["start"], 3), "end_abs_median_s": pair(ci["end"], 3)}


def file_entry(r: dict[str, Any]) -> dict[str, Any]:
    """The JSON entry of one file: counts, scores, disagreements."""
    out = {"source": r["source"], "labels": r["labels"], "duration_s": r["duration_s"],
           "labelled_kinds": r["labelled_kinds"], "true_holds": r["true_holds"],
           "detected_holds": r["detected_holds"], **scores(r),
           "frames": {"hold": r["hold"], "roll": r["roll"]},
           "start_err_s": r["start_err_s"], "end_err_s": r["end_err_s"],
           "groups": {g: {"seconds": c["seconds"], "hold_f1": _f1(c["hold"]), "roll_f1": _f1(c["roll"]),
                          "event_f1": _f1(c["events"])} for g, c in r["groups"].items()},
           "disagreements": r["disagreements"]}
    if r.get("labeller"):
        out["labeller"] = r["labeller"]
    return out


def _fmt(x: float | None, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def render_table(entries: list[dict[str, Any]], total: dict[str, Any]) -> str:
    """The text table: one row per file, a total row, then one row per (region/side) group."""
    names = [Path(e["source"]).name for e in entries] + ["TOTAL"]
    w = max(12, min(40, max(len(n) for n in names)))
    hdr = (f"{'file':<{w}} {'holds':>9} {'hold F1':>8} {'roll F1':>8} {'event F1':>9} {'tp/fp/fn':>10} "
           f"{'|start|':>8} {'|end|':>7}")
    lines = [hdr, "-" * len(hdr)]

    def row(name: str, e: dict[str, Any], holds: str) -> str:
        ev = e["events"]
        return (f"{name[:w]:<{w}} {holds:>9} {_fmt(e['hold_f1']):>8} {_fmt(e['roll_f1']):>8} "
                f"{_fmt(e['event_f1']):>9} {ev['tp']}/{ev['fp']}/{ev['fn']:<4}"
                f"{_fmt(e['start_abs_median_s'], 2):>7} s{_fmt(e['end_abs_median_s'], 2):>6} s")

    for name, e in zip(names, entries):
        lines.append(row(name, e, f"{e['true_holds']}/{e['detected_holds']}"))
    lines.append("-" * len(hdr))
    n_true = sum(e["true_holds"] for e in entries)
    n_det = sum(e["detected_holds"] for e in entries)
    lines.append(row("TOTAL", total, f"{n_true}/{n_det}"))
    iv = total.get("intervals")
    if iv:
        def span(k: str, nd: int = 3) -> str:
            v = iv.get(k)
            return "–" if v is None else f"{v[0]:.{nd}f}-{v[1]:.{nd}f}"
        lines.append(f"  {int(round(100 * iv['level']))} % interval over the {total['files']} files (each drawn "
                     f"again with replacement): hold F1 {span('hold_f1')}, roll F1 {span('roll_f1')}, event F1 "
                     f"{span('event_f1')}, |start| {span('start_abs_median_s', 2)} s, |end| "
                     f"{span('end_abs_median_s', 2)} s")
    lines.append("holds = labelled/detected; |start|, |end| = median boundary error of matched holds; "
                 "roll F1 '–' where the labels mark holds only")
    groups = total.get("groups", {})
    if len(groups) > 1 or (groups and NONE_GROUP not in groups):
        lines.append("")
        lines.append(f"{'region/side':<20} {'files':>5} {'time':>8} {'hold F1':>8} {'roll F1':>8} {'event F1':>9} "
                     f"{'tp/fp/fn':>10}")
        for g, c in groups.items():
            ev = c["events"]
            lines.append(f"{g[:20]:<20} {c['files']:>5} {c['seconds']:>7.0f}s {_fmt(c['hold_f1']):>8} "
                         f"{_fmt(c['roll_f1']):>8} {_fmt(c['event_f1']):>9} {ev['tp']}/{ev['fp']}/{ev['fn']}")
    return "\n".join(lines)


def plot_disagreements(results: list[dict[str, Any]], out_path: str | os.PathLike[str], *, worst: int = 6,
                       context_s: float = 8.0) -> int:
    """A figure of the `worst` longest disagreements about holding over all files: force around each,
    with the labels' and the detector's segments beneath. Returns how many panels were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..analysis import analyze_recording, load_for_analysis
    from ..io.labels import read_labels
    from ..plots import KIND_COLOURS as colours
    cases = sorted(((d, r) for r in results for d in r["disagreements"]), key=lambda x: -x[0]["duration_s"])[:worst]
    n = max(1, len(cases))
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.4 * n), squeeze=False)
    cache: dict[str, Any] = {}
    for ax, (d, r) in zip(axes[:, 0], cases):
        if r["source"] not in cache:
            rec = load_for_analysis(r["source"])
            cache[r["source"]] = (rec, analyze_recording(rec)["segments"], read_labels(r["labels"])["segments"])
        rec, det, lab = cache[r["source"]]
        a, b = max(0.0, d["start_s"] - context_s), min(r["duration_s"], d["end_s"] + context_s)
        t, f = rec.samples.t_s, rec.samples.force_n
        m = (t >= a) & (t <= b)
        ax.plot(t[m], f[m], lw=0.7, color="#08306b")
        top = float(np.nanmax(f[m])) if m.any() else 1.0
        ax.set_ylim(-0.45 * max(top, 1.0), max(top, 1.0) * 1.1)
        for segs, y, name in ((lab, -0.2, "labels"), (det, -0.4, "detector")):
            for s in segs:
                if s["end_s"] > a and s["start_s"] < b:
                    ax.broken_barh([(max(a, s["start_s"]), min(b, s["end_s"]) - max(a, s["start_s"]))],
                                   (y * max(top, 1.0), 0.17 * max(top, 1.0)), color=colours[s["kind"]], lw=0)
            ax.text(a, (y + 0.085) * max(top, 1.0), f" {name}", va="center", fontsize=7)
        ax.axvspan(d["start_s"], d["end_s"], color="#de2d26", alpha=0.12, lw=0)
        ax.set_xlim(a, b)
        ax.set_ylabel("N")
        ax.set_title(f"{Path(r['source']).name} {d['start_s']:.1f}–{d['end_s']:.1f} s: labels say "
                     f"{d['labels']}, detector says {d['detector']} ({d['duration_s']:.1f} s)", fontsize=9)
    if not cases:
        axes[0, 0].text(0.5, 0.5, "no disagreements about holding", ha="center", va="center")
        axes[0, 0].set_axis_off()
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return len(cases)
