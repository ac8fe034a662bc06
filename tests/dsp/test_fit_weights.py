"""The fitting recipe's re-position weighting (bench/fit_segmenter.py): which frames count extra, and how often."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _fit_module():
    sys.path.insert(0, str(ROOT / "bench"))  # fit_segmenter imports its sibling `sessions`
    try:
        import fit_segmenter
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return fit_segmenter


def _seg(kind: str, a: float, b: float) -> dict:
    return {"kind": kind, "start_s": a, "end_s": b}


def test_gap_mask_marks_only_short_rolls_between_two_holds() -> None:
    fs = _fit_module()
    segs = [_seg("roll", 0, 10), _seg("hold", 10, 30), _seg("roll", 30, 33), _seg("hold", 33, 50),
            _seg("roll", 50, 60), _seg("hold", 60, 70), _seg("off", 70, 72), _seg("roll", 72, 74), _seg("hold", 74, 90)]
    t = np.arange(0, 90, 0.05)
    m = fs.gap_mask(t, segs)
    assert m[(t >= 30) & (t < 33)].all()  # 3 s re-position between two holds
    assert not m[(t < 30) | (t >= 33)].any()  # a 10 s roll between holds, and a roll after `off`, are not


def test_training_rows_repeat_gap_frames_weight_times() -> None:
    fs = _fit_module()
    n = 100
    y = np.full(n, 2, np.int8)
    y[40:50] = 1
    gap = np.zeros(n, bool)
    gap[40:50] = True
    p = {"X_frames": np.arange(n, dtype=float)[:, None], "y": y, "dist": np.full(n, 1.0),
         "ld": np.ones(n, bool), "gap": gap}
    (X1, h1), = fs.training_rows([p], 1)
    (X5, h5), = fs.training_rows([p], 5)
    assert len(X1) == n and (~h1).sum() == 10
    assert len(X5) == n + 4 * 10 and (~h5).sum() == 50
    assert np.array_equal(np.unique(X5[~h5, 0]), np.arange(40, 50))
