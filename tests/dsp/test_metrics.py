"""rollsignal.metrics: the scoring rules every bench and evaluator uses."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rollsignal.metrics import (BOOTSTRAP_METRICS, GRID_S, HOLD, OFF, ROLL, EventMatch, SessionScore,
                                bootstrap_intervals, f1_of, frame_counts, grid_labels, holds_of, match_events,
                                overlaps, reliability, score_session, summarise)


def seg(kind: str, a: float, b: float) -> dict:
    return {"kind": kind, "start_s": a, "end_s": b}


def test_grid_labels_sample_segment_kinds_at_grid_centres() -> None:
    g = grid_labels([seg("roll", 0.0, 1.0), seg("hold", 1.0, 2.0)], 2.5)
    assert len(g) == 50
    assert np.all(g[:20] == ROLL) and np.all(g[20:40] == HOLD) and np.all(g[40:] == OFF)
    # a boundary between grid points goes to the segment that contains the point's centre
    g = grid_labels([seg("hold", 0.06, 0.2)], 0.2)
    assert list(g) == [OFF, HOLD, HOLD, HOLD]


def test_frame_counts_and_f1() -> None:
    truth = np.array([0, 1, 1, 2, 2, 2, 2, 1], np.int8)
    pred = np.array([0, 1, 2, 2, 2, 1, 2, 1], np.int8)
    assert frame_counts(truth, pred, HOLD) == (3, 1, 1)
    assert frame_counts(truth, pred, ROLL) == (2, 1, 1)
    assert f1_of(3, 1, 1) == pytest.approx(0.75)
    assert f1_of(0, 0, 0) == 1.0  # nothing to find, nothing found
    assert f1_of(0, 3, 0) == 0.0


def test_overlap_rule_is_half_the_longer() -> None:
    assert overlaps((0, 10), (0, 5))            # 5 of the longer 10
    assert not overlaps((0, 10), (0, 4.9))
    assert overlaps((0, 10), (4, 14))           # 6 of 10
    assert not overlaps((0, 10), (6, 16))       # 4 of 10
    assert not overlaps((0, 1), (1, 2))         # touching is no overlap


def test_match_events_one_to_one_with_boundary_errors() -> None:
    truth = [(0.0, 10.0), (20.0, 30.0), (40.0, 50.0)]
    pred = [(0.5, 10.0), (1.0, 9.0), (21.0, 29.0), (60.0, 70.0)]
    m = match_events(truth, pred)
    assert (m.tp, m.fp, m.fn) == (2, 2, 1)
    assert m.pairs == [(0, 0), (1, 2)]        # the larger overlap wins; the duplicate is a false hold
    assert m.start_err_s == pytest.approx([0.5, 1.0])
    assert m.end_err_s == pytest.approx([0.0, 1.0])
    assert m.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))


def test_a_merged_pair_of_holds_matches_at_most_one() -> None:
    # two 10 s holds 2 s apart detected as one 22 s hold: overlap 10 < 11 -> no match at all
    m = match_events([(0, 10), (12, 22)], [(0, 22)])
    assert (m.tp, m.fp, m.fn) == (0, 1, 2)


def test_holds_of_and_score_session() -> None:
    truth = [seg("off", 0, 5), seg("roll", 5, 35), seg("hold", 35, 65), seg("roll", 65, 95)]
    pred = [seg("off", 0, 5), seg("roll", 5, 36), seg("hold", 36, 64), seg("roll", 64, 80),
            seg("hold", 80, 90), seg("roll", 90, 95)]
    assert holds_of(pred) == [(36.0, 64.0), (80.0, 90.0)]
    s = score_session(truth, pred, 95.0)
    assert s.events.counts() == (1, 1, 0)
    assert s.roll_s == pytest.approx(60.0, abs=GRID_S)
    assert s.hold[0] == pytest.approx(28 / GRID_S, abs=1)
    out = summarise([s, s])
    assert out["n"] == 2 and out["fp"] == 2 and out["fn"] == 0
    assert out["start"] == pytest.approx(1.0) and out["end"] == pytest.approx(1.0)
    assert out["fp_per_10min_roll"] == pytest.approx(2 / (120 / 600), rel=0.01)
    assert math.isnan(summarise([])["hold"])


def test_reliability_bins() -> None:
    tab = reliability([0.95, 0.92, 0.6, 0.7, 0.2], [True, False, True, True, False])
    assert [r["n"] for r in tab] == [2, 2, 1]
    assert tab[0]["share_true"] == pytest.approx(0.5)
    assert tab[1]["share_true"] == pytest.approx(1.0)
    assert tab[2]["share_true"] == pytest.approx(0.0)
    assert reliability([1.0], [True])[0]["n"] == 1  # confidence 1.0 lands in the top bin


def _score(tp: int, fp: int, fn: int, hold_tp: int = 90, roll_s: float = 600.0) -> SessionScore:
    """A session's score with the given event counts (boundary errors 0.1 s start, 0.2 s end per match)."""
    return SessionScore(hold=(hold_tp, 100 - hold_tp, 100 - hold_tp), roll=(50, 5, 5),
                        events=EventMatch(tp, fp, fn, [0.1] * tp, [0.2] * tp), roll_s=roll_s)


def test_bootstrap_of_identical_sessions_is_the_point_value() -> None:
    scores = [_score(4, 1, 1)] * 6
    ci = bootstrap_intervals(scores, draws=200)
    point = summarise(scores)
    assert set(ci) == set(BOOTSTRAP_METRICS)
    for k in ("hold", "roll", "event", "start", "end", "fp_per_10min_roll"):
        assert ci[k][0] == pytest.approx(point[k]) and ci[k][1] == pytest.approx(point[k])
    assert ci["worst_event"] == pytest.approx((point["event"], point["event"]))


def test_bootstrap_interval_brackets_the_pooled_figure_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    scores = [_score(int(rng.integers(2, 6)), int(rng.integers(0, 3)), int(rng.integers(0, 3)),
                     hold_tp=int(rng.integers(70, 100))) for _ in range(40)]
    fams = [f"f{i % 5}" for i in range(40)]
    ci = bootstrap_intervals(scores, fams, draws=500)
    point = summarise(scores)
    for k in ("hold", "event", "fp_per_10min_roll"):
        lo, hi = ci[k]
        assert lo < point[k] < hi, k
    assert ci["roll"] == pytest.approx((point["roll"], point["roll"]))  # the same in every session
    assert ci == bootstrap_intervals(scores, fams, draws=500)  # the same seed, the same intervals
    assert ci != bootstrap_intervals(scores, fams, draws=500, seed=1)
    # a narrower level is inside a wider one
    lo50, hi50 = bootstrap_intervals(scores, fams, draws=500, level=0.5)["event"]
    assert ci["event"][0] <= lo50 <= hi50 <= ci["event"][1]


def test_bootstrap_keeps_each_stratum_and_finds_the_worst() -> None:
    # one family of a single poor session: every draw takes it (its stratum keeps its one session), so the
    # worst family's event F1 is that session's, exactly, and never a good family's
    scores = [_score(5, 0, 0)] * 5 + [_score(1, 2, 2)]
    fams = ["good"] * 5 + ["poor"]
    lo, hi = bootstrap_intervals(scores, fams, draws=300)["worst_event"]
    assert lo == hi == pytest.approx(f1_of(1, 2, 2))
    # pooled without strata the poor session is sometimes not drawn at all: the event interval reaches 1
    assert bootstrap_intervals(scores, None, draws=300)["event"][1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bootstrap_intervals(scores, ["a"], draws=10)
    assert bootstrap_intervals([], None) == {}
