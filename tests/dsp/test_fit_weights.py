"""The fitting recipe's row weights (bench/fit_segmenter.py): which frames count extra (re-positions, heavy holds), and how often."""
from __future__ import annotations

import numpy as np

from bench_import import bench_module


def _seg(kind: str, a: float, b: float) -> dict:
    return {"kind": kind, "start_s": a, "end_s": b}


def test_gap_mask_marks_only_short_rolls_between_two_holds() -> None:
    fs = bench_module("fit_segmenter")
    segs = [_seg("roll", 0, 10), _seg("hold", 10, 30), _seg("roll", 30, 33), _seg("hold", 33, 50),
            _seg("roll", 50, 60), _seg("hold", 60, 70), _seg("off", 70, 72), _seg("roll", 72, 74), _seg("hold", 74, 90)]
    t = np.arange(0, 90, 0.05)
    m = fs.gap_mask(t, segs)
    assert m[(t >= 30) & (t < 33)].all()  # 3 s re-position between two holds
    assert not m[(t < 30) | (t >= 33)].any()  # a 10 s roll between holds, and a roll after `off`, are not


def _prepared(n: int = 100, heavy: np.ndarray | None = None) -> dict:
    """A prepared session of n frames, all holds but a re-position at frames 40-49 (heavy holds where
    `heavy`, none by default); feature = frame index."""
    y = np.full(n, 2, np.int8)
    y[40:50] = 1
    gap = np.zeros(n, bool)
    gap[40:50] = True
    p = {"X_frames": np.arange(n, dtype=float)[:, None], "y": y, "dist": np.full(n, 1.0),
         "ld": np.ones(n, bool), "gap": gap, "heavy": np.zeros(n, bool) if heavy is None else heavy}
    return p


def test_training_rows_repeat_gap_frames_weight_times() -> None:
    fs = bench_module("fit_segmenter")
    n = 100
    p = _prepared(n)
    (X1, h1), = fs.training_rows([p], 1)
    (X5, h5), = fs.training_rows([p], 5)
    assert len(X1) == n and (~h1).sum() == 10
    assert len(X5) == n + 4 * 10 and (~h5).sum() == 50
    assert np.array_equal(np.unique(X5[~h5, 0]), np.arange(40, 50))


def _frames(t: np.ndarray, f: np.ndarray):
    from rollsignal.frames import Frames
    n = len(t)
    return Frames(np.arange(n), t, f, np.ones(n, bool), None, np.ones(n, bool), None)


def test_heavy_mask_marks_holds_as_heavy_as_the_rolling() -> None:
    fs = bench_module("fit_segmenter")
    t = np.arange(0, 60, 0.05)
    f = np.full(len(t), 300.0)  # rolling at 300 N
    segs = [_seg("roll", 0, 10), _seg("hold", 10, 20), _seg("roll", 20, 30), _seg("hold", 30, 40),
            _seg("roll", 40, 50), _seg("hold", 50, 60)]
    f[(t >= 10) & (t < 20)] = 150.0  # light: half the rolling
    f[(t >= 30) & (t < 40)] = 280.0  # 0.93 x the rolling: heavy
    f[(t >= 50) & (t < 60)] = 420.0  # heavier than the rolling
    fr = _frames(t, f)
    m = fs.heavy_mask(fr, segs, fs.frame_truth(fr, segs)[0])
    assert not m[(t >= 10) & (t < 20)].any()
    assert m[(t >= 30) & (t < 40)].all() and m[(t >= 50)].all()
    assert not m[t < 10].any() and not m[(t >= 20) & (t < 30)].any()  # rolling frames never
    only_hold = [_seg("hold", 0, 60)]
    assert not fs.heavy_mask(fr, only_hold, fs.frame_truth(fr, only_hold)[0]).any()  # no rolling to compare with


def test_training_rows_repeat_heavy_hold_frames_weight_times() -> None:
    fs = bench_module("fit_segmenter")
    n = 100
    heavy = np.zeros(n, bool)
    heavy[60:80] = True
    (X, h), = fs.training_rows([_prepared(n, heavy)], 2, 3)
    assert len(X) == n + 10 + 2 * 20
    assert (X[:, 0] == 65).sum() == 3 and (X[:, 0] == 45).sum() == 2 and (X[:, 0] == 5).sum() == 1
    assert np.all(np.diff(X[:, 0]) >= 0)  # frame order kept


def test_training_set_gives_each_session_an_equal_share_of_the_frame_budget() -> None:
    """`--train-frames` is the budget: sessions longer than their share are subsampled to it (in frame
    order, no row twice), shorter ones kept whole, and no share falls below 500 rows."""
    fs = bench_module("fit_segmenter")
    rng = np.random.default_rng(0)
    rows = [(np.arange(n, dtype=float)[:, None] + 10_000 * i, np.ones(n, bool)) for i, n in enumerate((4000, 300, 2500))]
    X, y = fs.training_set(rows, rng, frames=3000)  # 1000 per session
    per = [X[(X[:, 0] >= 10_000 * i) & (X[:, 0] < 10_000 * (i + 1)), 0] for i in range(3)]
    assert [len(p) for p in per] == [1000, 300, 1000] and len(y) == 2300
    assert all(np.all(np.diff(p) > 0) for p in per)  # ordered, no repeats
    X2, _ = fs.training_set(rows, rng, frames=600)  # a share of 200 is raised to the 500-row floor
    assert len(X2) == 500 + 300 + 500
