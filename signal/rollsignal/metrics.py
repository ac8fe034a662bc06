"""Evaluation metrics for hold/roll segmentations (numpy only).

Used by bench/accuracy.py and by anyone who scores a detector against labelled
sessions (holdsense-labels/1 "segments": dicts with ``kind`` in off/roll/hold,
``start_s`` and ``end_s`` in seconds of device time).

* `grid_labels`: segment kinds sampled on a 0.05 s grid (0 off, 1 roll, 2 hold);
* `frame_counts` / `f1_of`: frame-level F1 of one class on that grid;
* `match_events`: event-level hold F1 -- a detected hold matches a true one when
  their overlap is at least half the longer of the two (one-to-one, greedy on the
  largest overlap per true hold in time order);
* boundary errors: |start error| and |end error| of the matched holds (s);
* `bootstrap_intervals`: how much a pooled figure owes to which sessions were drawn.

The functions are pure (no state, no I/O) so that the same rule scores every
method, every generator and the unit tests (tests/dsp/test_metrics.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

GRID_S = 0.05
KINDS = ("off", "roll", "hold")
OFF, ROLL, HOLD = 0, 1, 2


def grid_labels(segments: Iterable[Mapping[str, Any]], t_end_s: float, grid_s: float = GRID_S) -> np.ndarray:
    """Segment kinds sampled at the centres of a ``grid_s`` grid from 0 to ``t_end_s`` (0 off, 1 roll, 2 hold).

    Grid points not covered by any segment are off. Later segments overwrite
    earlier ones where they overlap.
    """
    t = np.arange(0.0, t_end_s, grid_s) + grid_s / 2
    out = np.zeros(len(t), np.int8)
    for s in segments:
        m = (t >= s["start_s"]) & (t < s["end_s"])
        out[m] = KINDS.index(s["kind"])
    return out


def frame_counts(truth: np.ndarray, pred: np.ndarray, cls: int) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of class ``cls`` on equal-length grids."""
    n = min(len(truth), len(pred))
    truth, pred = truth[:n], pred[:n]
    tp = int(np.sum((truth == cls) & (pred == cls)))
    return tp, int(np.sum((truth != cls) & (pred == cls))), int(np.sum((truth == cls) & (pred != cls)))


def f1_of(tp: int, fp: int, fn: int) -> float:
    """F1 from counts; 1.0 when there is nothing to find and nothing was found."""
    return 1.0 if tp + fp + fn == 0 else 2 * tp / max(2 * tp + fp + fn, 1)


def holds_of(segments: Iterable[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(start_s, end_s) of every hold segment, in order."""
    return [(float(s["start_s"]), float(s["end_s"])) for s in segments if s["kind"] == "hold"]


@dataclass
class EventMatch:
    """Result of matching detected holds to true holds."""

    tp: int
    fp: int
    fn: int
    start_err_s: list[float] = field(default_factory=list)
    end_err_s: list[float] = field(default_factory=list)
    #: pairs (index of true hold, index of detected hold) that matched
    pairs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def f1(self) -> float:
        return f1_of(self.tp, self.fp, self.fn)

    def counts(self) -> tuple[int, int, int]:
        return self.tp, self.fp, self.fn


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """The matching rule: overlap of the two intervals >= half the longer one (and > 0)."""
    ov = min(a[1], b[1]) - max(a[0], b[0])
    return ov > 0 and ov >= 0.5 * max(a[1] - a[0], b[1] - b[0])


def match_events(true_h: Sequence[tuple[float, float]], pred_h: Sequence[tuple[float, float]]) -> EventMatch:
    """One-to-one matches of holds (overlap >= half the longer), with boundary errors of the matches."""
    used: set[int] = set()
    m = EventMatch(0, 0, 0)
    for i, (a0, a1) in enumerate(true_h):
        best, best_ov = None, 0.0
        for j, (b0, b1) in enumerate(pred_h):
            if j in used:
                continue
            ov = min(a1, b1) - max(a0, b0)
            if ov > 0 and ov >= 0.5 * max(a1 - a0, b1 - b0) and ov > best_ov:
                best, best_ov = j, ov
        if best is not None:
            used.add(best)
            m.tp += 1
            m.pairs.append((i, best))
            m.start_err_s.append(abs(pred_h[best][0] - a0))
            m.end_err_s.append(abs(pred_h[best][1] - a1))
    m.fp = len(pred_h) - m.tp
    m.fn = len(true_h) - m.tp
    return m


@dataclass
class SessionScore:
    """Every metric of one session: frame counts per class, event match, rolling time."""

    hold: tuple[int, int, int]
    roll: tuple[int, int, int]
    events: EventMatch
    roll_s: float  # true rolling time (s), for "false holds per 10 min of rolling"


def score_session(truth: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]], t_end_s: float,
                  grid_s: float = GRID_S) -> SessionScore:
    """Score predicted segments against true ones over [0, t_end_s]."""
    g_true = grid_labels(truth, t_end_s, grid_s)
    g_pred = grid_labels(pred, t_end_s, grid_s)
    return SessionScore(
        hold=frame_counts(g_true, g_pred, HOLD),
        roll=frame_counts(g_true, g_pred, ROLL),
        events=match_events(holds_of(truth), holds_of(pred)),
        roll_s=float(np.sum(g_true == ROLL)) * grid_s,
    )


def summarise(scores: Sequence[SessionScore]) -> dict[str, float]:
    """Pooled metrics over sessions: hold/roll frame F1, event F1, median boundary errors (s),
    false holds, missed holds and false holds per 10 min of true rolling."""
    if not scores:
        nan = float("nan")
        return {"n": 0, "hold": nan, "roll": nan, "event": nan, "start": nan, "end": nan,
                "fp": 0, "fn": 0, "fp_per_10min_roll": nan}
    hold = np.sum([s.hold for s in scores], axis=0)
    roll = np.sum([s.roll for s in scores], axis=0)
    ev = np.sum([s.events.counts() for s in scores], axis=0)
    starts = [e for s in scores for e in s.events.start_err_s]
    ends = [e for s in scores for e in s.events.end_err_s]
    roll_s = sum(s.roll_s for s in scores)
    return {
        "n": len(scores),
        "hold": f1_of(*hold), "roll": f1_of(*roll), "event": f1_of(*ev),
        "start": float(np.median(starts)) if starts else float("nan"),
        "end": float(np.median(ends)) if ends else float("nan"),
        "fp": int(ev[1]), "fn": int(ev[2]),
        "fp_per_10min_roll": float(ev[1]) / (roll_s / 600.0) if roll_s > 0 else float("nan"),
    }


def reliability(confidences: Sequence[float], correct: Sequence[bool],
                bins: Sequence[tuple[float, float]] = ((0.9, 1.0001), (0.5, 0.9), (0.0, 0.5))) -> list[dict[str, float]]:
    """Reliability table: per confidence bin [lo, hi), how many reported holds and what share are true.

    ``correct[i]`` says whether reported hold i matched a true hold (see `match_events`).
    """
    c = np.asarray(confidences, float)
    ok = np.asarray(correct, bool)
    out = []
    for lo, hi in bins:
        m = (c >= lo) & (c < hi)
        n = int(m.sum())
        out.append({"lo": float(lo), "hi": float(min(hi, 1.0)), "n": n,
                    "share_true": float(ok[m].mean()) if n else float("nan"),
                    "mean_conf": float(c[m].mean()) if n else float("nan")})
    return out


#: what `bootstrap_intervals` gives an interval for (the keys of `summarise`, and the worst stratum's event F1)
BOOTSTRAP_METRICS = ("hold", "roll", "event", "start", "end", "fp_per_10min_roll", "worst_event")


def _f1_rows(c: np.ndarray) -> np.ndarray:
    """`f1_of` of each row (tp, fp, fn) of `c`."""
    tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tp + fp + fn == 0, 1.0, 2 * tp / np.maximum(2 * tp + fp + fn, 1))


def bootstrap_intervals(scores: Sequence[SessionScore], strata: Sequence[str] | None = None, draws: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals (`level`) of the pooled metrics of `summarise` over sessions drawn again with
    replacement, each stratum (e.g. a family) keeping its number of sessions; "worst_event" is the lowest
    event F1 of any stratum. They say how much a corpus figure owes to which sessions were drawn (a
    family of six sessions moves a lot), not how much to the model's fit. Seeded: the same scores give the
    same intervals. Returns {metric: (low, high)} for `BOOTSTRAP_METRICS` ({} without sessions)."""
    n = len(scores)
    if n == 0:
        return {}
    keys = list(strata) if strata is not None else [""] * n
    if len(keys) != n:
        raise ValueError("one stratum per session")
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    rng = np.random.default_rng(seed)
    cols, spans, at = [], [], 0
    for g in groups.values():
        cols.append(np.asarray(g)[rng.integers(0, len(g), size=(draws, len(g)))])
        spans.append(slice(at, at + len(g)))  # this stratum's columns in `picks`
        at += len(g)
    picks = np.concatenate(cols, axis=1)  # (draws, n): session indices of each draw
    hold = np.array([s.hold for s in scores], float)
    roll = np.array([s.roll for s in scores], float)
    ev = np.array([s.events.counts() for s in scores], float)
    roll_s = np.array([s.roll_s for s in scores], float)
    ev_d = ev[picks].sum(axis=1)
    rs = roll_s[picks].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fp10 = np.where(rs > 0, ev_d[:, 1] / (rs / 600.0), np.nan)
    starts = [np.asarray(s.events.start_err_s, float) for s in scores]
    ends = [np.asarray(s.events.end_err_s, float) for s in scores]

    def med(errs: list[np.ndarray], row: np.ndarray) -> float:
        v = np.concatenate([errs[i] for i in row])
        return float(np.median(v)) if len(v) else math.nan

    vals = {
        "hold": _f1_rows(hold[picks].sum(axis=1)), "roll": _f1_rows(roll[picks].sum(axis=1)),
        "event": _f1_rows(ev_d), "fp_per_10min_roll": fp10,
        "worst_event": np.min([_f1_rows(ev[picks[:, sp]].sum(axis=1)) for sp in spans], axis=0),
        "start": np.array([med(starts, r) for r in picks]), "end": np.array([med(ends, r) for r in picks]),
    }
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    out = {}
    for k in BOOTSTRAP_METRICS:
        v = vals[k][np.isfinite(vals[k])]
        out[k] = (float(np.percentile(v, q[0])), float(np.percentile(v, q[1]))) if len(v) else (math.nan, math.nan)
    return out
