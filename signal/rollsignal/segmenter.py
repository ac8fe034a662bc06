"""Force-only hold/roll segmenter: per-frame features, a fitted model, a fixed-lag duration-aware decoder.

    frames (after LowPass, AutoZero, Contact) -> ForceFeatures -> model (segmenter-v2.json) -> FixedLagDecoder

Why a fitted model: the hand-set thresholds it replaced leaned on a 2-6 Hz rib texture that only a
ribbed shell on firm foam sampled at 80 Hz shows, and they were tuned on one simulator. The features
here are all *relative* (to the frame's own level and to the session's rolling load) and stay below
2 Hz, so they mean the same with a smooth or ribbed shell, soft or firm foam, at 10 or 80 Hz. The
weights come from labelled sessions of several worlds (bench/fit_segmenter.py) and live in a small
versioned JSON file (rollsignal/models/segmenter-v2.json), not in code.

Features of frame j (20 Hz frames; windows centred on j where the look-ahead allows, see LOOKAHEAD_S):
for windows of 1, 2, 4 and 8 s the relative standard deviation, range, half-window slope and total
variation (path length) of the force, each divided by the window's mean level; for 2, 4 and 8 s the
monotonicity |net change| / path length (slow rolling ramps one way along a 4-8 s stroke: close to 1;
a knee bend swings back and forth around a level: close to 0); the level relative to the session's
loaded force over the last ~30 s and ~2 min (holds are usually lighter than rolling); the relative
variability against the session's own typical variability (a noisy cell or a restless person raises
both); band powers 0.1-0.4 Hz (slow strokes, breathing) and 0.4-1.5 Hz (strokes, knee bends).

Exact under any chunking: window sums are integer sums of the force quantised to 0.01 N (integer
addition does not depend on where a cumulative sum starts), max/min filters are order-free, and the
recursive filters carry their state. So streaming equals batch bit for bit.

Decoder: a duration-aware Viterbi over roll / hold where a hold lasts at least `min_hold_s` (5 s):
states roll, young hold (1..N-1 steps into a hold, it cannot end yet), short hold (N..K-1 steps: it may
end, paying the fitted `short_cost` on top of the exit cost) and long hold (>= K steps, K from the
model's `long_hold_s`). The short-hold cost is a duration prior: real holds last 10 s to minutes, the
still-looking stretches of rolling are short. Emission: the model's log-odds of hold (scaled by a
fitted factor, since neighbouring frames are not independent); switching into and out of a hold
costs fitted penalties. Fixed lag: when frame t's evidence arrives,
the label of frame t - LAG is read off the best path ending at t (traceback), and never revised. The
batch `analyze()` is the same decoder fed everything: identical labels. The decoder works in steps of
0.25 s (the sum of its frames' evidence). Latency = look-ahead of the features (2 s) + decoder lag
(in the model file) + up to one step.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ._scipy import ndimage, sps  # scipy's filters without scipy.signal's package import (_scipy.py says why)
from .filters import butter_sos, forward_fill, sosfilt_state
from .frames import FRAME_S, Frames

#: format 2: the decoder has a duration prior (long_hold_s, short_cost)
MODEL_FORMAT = "rollsignal-segmenter/2"
DEFAULT_MODEL = "segmenter-v2"
Q_N = 0.01  # force quantum (N) of the integer window sums
WINDOWS_S = (1.0, 2.0, 4.0, 8.0)
MONO_WINDOWS_S = (2.0, 4.0, 8.0)
REF_TAUS_S = (30.0, 120.0)
CTX_TAU_S = 60.0
BANDS_HZ = ((0.1, 0.4), (0.4, 1.5))
BAND_TAU_S = 2.0
LEVEL_FLOOR_N = 20.0
#: one-sided windows (s) before and after the frame: a hold starts where the load goes quiet *after*
#: the frame while it still moved before it (and ends the other way round)
SIDE_S = 2.0
#: the session's recent peak load: the highest 2 s mean level of loaded frames over the last PEAK_S
#: (in 1 s blocks). Rolling is usually the heavier part of a session, so a frame's level against it
#: tells a light hold from rolling, and unlike a mean it is not pulled down by the holds themselves.
PEAK_S = 120.0
PEAK_BLOCK_K = 20
EPS = 1e-3

FEATURE_NAMES: tuple[str, ...] = tuple(
    [f"{q}_{w:g}s" for w in WINDOWS_S for q in ("rsd", "rrange", "rslope", "rtv")]
    + [f"mono_{w:g}s" for w in MONO_WINDOWS_S]
    + [f"level_ref_{t:g}s" for t in REF_TAUS_S]
    + ["rsd_vs_session"]
    + [f"band_{a:g}_{b:g}hz" for a, b in BANDS_HZ]
    + [f"{q}_{d}_{SIDE_S:g}s" for d in ("before", "after") for q in ("rsd", "rtv")]
    + [f"level_peak_{PEAK_S:g}s"]
)


def _k(s: float) -> int:
    return max(1, int(round(s / FRAME_S)))


# ---- model file --------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmenterModel:
    """The fitted parameters (see bench/fit_segmenter.py and docs/detector.md).

    `mean`, `scale`: feature standardisation; `layers`: list of (W, b), tanh between layers, the last
    layer's single output is the log-odds of hold; `prior_logit`: log-odds of hold in the training
    frames (removed so the decoder sees a likelihood ratio); `alpha`: emission scale; `enter_cost`,
    `exit_cost`: decoder switching penalties; `long_hold_s`, `short_cost`: a hold shorter than
    `long_hold_s` pays `short_cost` more to end (a duration prior, see FixedLagDecoder);
    `lag_s`, `lookahead_s`: latency; `confidence`:
    per-hold calibration (logistic on mean clipped log-odds and log duration), one set per mode.
    """

    version: str
    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    prior_logit: float
    alpha: float
    enter_cost: float
    exit_cost: float
    lag_s: float
    lookahead_s: float
    min_hold_s: float
    step_s: float
    long_hold_s: float
    short_cost: float
    confidence: dict[str, dict[str, float]]
    meta: dict[str, Any]

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SegmenterModel":
        if d.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model file")
        names = tuple(d["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError("model features differ from this rollsignal's features: refit the model")
        return SegmenterModel(
            version=str(d["version"]), feature_names=names,
            mean=np.asarray(d["mean"], float), scale=np.asarray(d["scale"], float),
            layers=tuple((np.asarray(l["W"], float), np.asarray(l["b"], float)) for l in d["layers"]),
            prior_logit=float(d["prior_logit"]), alpha=float(d["decoder"]["alpha"]),
            enter_cost=float(d["decoder"]["enter_cost"]), exit_cost=float(d["decoder"]["exit_cost"]),
            lag_s=float(d["decoder"]["lag_s"]), lookahead_s=float(d["lookahead_s"]),
            min_hold_s=float(d["decoder"]["min_hold_s"]), step_s=float(d["decoder"]["step_s"]),
            long_hold_s=float(d["decoder"]["long_hold_s"]), short_cost=float(d["decoder"]["short_cost"]),
            confidence=dict(d["confidence"]),
            meta=dict(d.get("meta", {})))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT, "version": self.version, "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "layers": [{"W": W.tolist(), "b": b.tolist()} for W, b in self.layers],
            "prior_logit": self.prior_logit, "lookahead_s": self.lookahead_s,
            "decoder": {"alpha": self.alpha, "enter_cost": self.enter_cost, "exit_cost": self.exit_cost,
                        "lag_s": self.lag_s, "min_hold_s": self.min_hold_s, "step_s": self.step_s,
                        "long_hold_s": self.long_hold_s, "short_cost": self.short_cost},
            "confidence": self.confidence, "meta": self.meta,
        }

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of hold per row of raw features `x` (n, F)."""
        out = np.empty(len(x))
        # blocks of rows small enough that the layer sums stay in cache; the arithmetic per row is the
        # same whatever the block, so the result is too
        for k in range(0, len(x), _LOGIT_BLOCK):
            out[k:k + _LOGIT_BLOCK] = self._logit_block(x[k:k + _LOGIT_BLOCK])
        return out

    def _logit_block(self, x: np.ndarray) -> np.ndarray:
        # features x rows (each feature's values contiguous)
        h = np.ascontiguousarray(((x - self.mean) / self.scale).T)
        for i, (W, b) in enumerate(self.layers):
            # sum over inputs in a fixed order (not BLAS, whose blocking depends on the number of rows):
            # a row's result must not depend on how many rows came with it (streaming equals batch)
            acc = np.empty((W.shape[1], h.shape[1]))
            acc[:] = b[:, None]
            tmp = np.empty_like(acc)
            for j in range(W.shape[0]):
                np.multiply(W[j][:, None], h[j][None, :], out=tmp)
                acc += tmp
            h = np.tanh(acc) if i < len(self.layers) - 1 else acc
        return h[0]

    def hold_confidence(self, mean_z: float, duration_s: float, mode: str) -> float:
        """Calibrated probability (0-1) that a reported hold is a true hold (mode "force" or "enc")."""
        c = self.confidence.get(mode) or self.confidence["force"]
        if not (mean_z == mean_z):
            mean_z = 0.0
        u = c["b0"] + c["b_z"] * mean_z + c["b_dur"] * math.log(max(duration_s, 1.0))
        return 1.0 / (1.0 + math.exp(-max(min(u, 50.0), -50.0)))


#: rows per block in SegmenterModel.logit: (hidden units x block) float64 sums fit in a core's L2 cache
_LOGIT_BLOCK = 4096


@functools.lru_cache(maxsize=8)
def _load_cached(name: str) -> SegmenterModel:
    text = resources.files("rollsignal").joinpath("models", f"{name}.json").read_text(encoding="utf-8")
    return SegmenterModel.from_dict(json.loads(text))


def load_model(name_or_path: str | None = None) -> SegmenterModel:
    """The packaged model `name` (default segmenter-v2) or a model JSON file path."""
    if name_or_path is None:
        return _load_cached(DEFAULT_MODEL)
    if name_or_path.endswith(".json"):
        with open(name_or_path, encoding="utf-8") as fh:
            return SegmenterModel.from_dict(json.load(fh))
    return _load_cached(name_or_path)


# ---- features ----------------------------------------------------------------------------

class ForceFeatures:
    """Per-frame features (FEATURE_NAMES) with a fixed look-ahead of `lookahead_k` frames.

    `process(frames)` returns the feature rows of the frames `lookahead_k` before each new frame
    (the first `lookahead_k` frames of a stream come out with later calls); `finish()` returns the
    rest, the future padded with the last frame. Rows come out in frame order, one per frame.
    """

    def __init__(self, lookahead_k: int) -> None:
        self.D = lookahead_k
        self.win = [_k(w) for w in WINDOWS_S]
        # window of w frames around frame j: [j - back, j + ahead], ahead <= D
        self.ahead = [min(self.D, w // 2) for w in self.win]
        self.back = [w - 1 - a for w, a in zip(self.win, self.ahead)]
        self.mono = [self.win[WINDOWS_S.index(w)] for w in MONO_WINDOWS_S]
        self.H = self.D + max(self.back)  # history kept (frames)
        self._q: np.ndarray | None = None  # quantised force history (int64)
        self._ld: np.ndarray | None = None  # loaded & valid history
        self._last_f = math.nan
        self._n_seen = 0
        self._ref_zi: list[np.ndarray | None] = [None] * len(REF_TAUS_S)
        self._ref_last = [math.nan] * len(REF_TAUS_S)
        self._ctx_zi: np.ndarray | None = None
        self._ctx_last = math.nan
        self._band = [butter_sos(2, b, "bandpass") for b in BANDS_HZ]
        self._band_zi: list[np.ndarray | None] = [None] * len(BANDS_HZ)
        self._pow_zi = [np.zeros(1) for _ in BANDS_HZ]
        a = FRAME_S / BAND_TAU_S
        self._pow_ba = (np.array([a]), np.array([1.0, -(1.0 - a)]))
        self._skip = self.D  # rows still to drop at the stream start
        # peak reference: maxima of complete 1 s blocks (by output row index), the current block's so far
        self._row = 0  # index of the next output row (the first D are the pre-stream history)
        self._blk_hist = np.zeros(int(round(PEAK_S / (PEAK_BLOCK_K * FRAME_S))))
        self._blk_cur = 0.0

    def _ema_cols(self, f: np.ndarray, ld: np.ndarray) -> np.ndarray:
        """Causal EMA features at each new frame: rolling-load references and band powers."""
        n = len(f)
        out = np.empty((n, len(REF_TAUS_S) + len(BANDS_HZ)))
        for i, tau in enumerate(REF_TAUS_S):
            a = FRAME_S / tau
            x = f[ld]
            if len(x):
                if self._ref_zi[i] is None:
                    self._ref_zi[i] = np.array([(1.0 - a) * x[0]])
                y, self._ref_zi[i] = sps.lfilter([a], [1.0, -(1.0 - a)], x, zi=self._ref_zi[i])
                col = np.full(n, np.nan)
                col[ld] = y
                out[:, i] = forward_fill(col, ld, self._ref_last[i])
                self._ref_last[i] = float(out[-1, i])
            else:
                out[:, i] = self._ref_last[i]
        for i in range(len(BANDS_HZ)):
            if self._band_zi[i] is None:
                self._band_zi[i] = sps.sosfilt_zi(self._band[i]) * 0.0
            y, self._band_zi[i] = sosfilt_state(self._band[i], f, self._band_zi[i])
            p, self._pow_zi[i] = sps.lfilter(*self._pow_ba, y * y, zi=self._pow_zi[i])
            out[:, len(REF_TAUS_S) + i] = np.sqrt(np.maximum(p, 0.0))
        return out

    def _peak(self, lv: np.ndarray, lvl2: np.ndarray) -> np.ndarray:
        """log(level / recent peak level): max over the last PEAK_S of complete 1 s blocks and the current
        block so far (max is exact in any order: streaming equals batch)."""
        B = PEAK_BLOCK_K
        n = len(lv)
        r = self._row + np.arange(n)
        blk = r // B
        b0 = int(blk[0])
        nb = int(blk[-1]) - b0 + 1
        if self._row > 0 and (self._row - 1) // B != b0:
            # the previous call ended exactly at a block's end: that block is complete
            self._blk_hist = np.concatenate((self._blk_hist[1:], [self._blk_cur]))
            self._blk_cur = 0.0
        # running max within each block, continuing the current one
        start = np.flatnonzero(np.diff(blk, prepend=b0 - 1))  # first row of each block in this call
        cur = np.empty(n)
        for bi, a in enumerate(list(start) + [n]):
            if bi == 0:
                continue
            pa = start[bi - 1]
            seg = lv[pa:a]
            init = self._blk_cur if pa == 0 else 0.0
            cur[pa:a] = np.maximum.accumulate(np.concatenate(([init], seg)))[1:]
        # block maxima of blocks completed so far: history + this call's complete blocks
        ends = [a - 1 for a in list(start[1:]) + [n]]
        done_max = cur[np.array(ends[:-1], dtype=np.int64)] if nb > 1 else np.empty(0)
        hist = np.concatenate((self._blk_hist, done_max))
        H = len(self._blk_hist)
        # peak for rows of block j: max over the H blocks before it
        csum = ndimage.maximum_filter1d(hist, H, origin=(H - 1) // 2, mode="nearest") if len(hist) else hist
        prev = csum[H - 1 + np.arange(nb)]  # window ending at the block before block j
        peak = np.maximum(prev[blk - b0], cur)
        self._blk_hist = hist[len(hist) - H:]
        self._blk_cur = float(cur[-1])
        self._row += n
        return np.log(np.maximum(lvl2, LEVEL_FLOOR_N) / np.maximum(peak, LEVEL_FLOOR_N))

    def process(self, frames: Frames) -> np.ndarray:
        return self._run(frames.force_n, frames.valid & (frames.loaded if frames.loaded is not None else True))

    def finish(self) -> np.ndarray:
        """Rows of the last `lookahead_k` frames (future padded with the last frame, unloaded)."""
        if self._q is None or self._n_seen == 0:
            return np.zeros((0, len(FEATURE_NAMES)))
        return self._run(np.full(self.D, self._last_f), np.zeros(self.D, bool), pad=True)

    def _run(self, force_n: np.ndarray, ld_in: np.ndarray, pad: bool = False) -> np.ndarray:
        n = len(force_n)
        if n == 0:
            return np.zeros((0, len(FEATURE_NAMES)))
        ok = np.isfinite(force_n) & ld_in
        f = forward_fill(force_n, np.isfinite(force_n), self._last_f)
        f = np.where(np.isfinite(f), f, 0.0)
        if not pad:
            self._last_f = float(f[-1])
        q = np.rint(f / Q_N).astype(np.int64)
        if self._q is None:  # stream start: history replicates the first frame, unloaded (same in batch)
            self._q = np.full(self.H, q[0], np.int64)
            self._ld = np.zeros(self.H, bool)
        ema = self._ema_cols(f, ok)
        qe = np.concatenate((self._q, q))
        lde = np.concatenate((self._ld, ok))
        # output rows: ext positions p = H - D + i (frame of new row i minus D)
        p = np.arange(n) + (self.H - self.D)
        c1 = np.concatenate(([0], np.cumsum(qe)))
        c2 = np.concatenate(([0], np.cumsum(qe * qe)))
        dq = np.abs(np.diff(qe, prepend=qe[0]))
        ctv = np.concatenate(([0], np.cumsum(dq)))
        cols: list[np.ndarray] = []
        lvl2 = None
        rsd2 = None
        for w, a, b in zip(self.win, self.ahead, self.back):
            lo, hi = p - b, p + a  # inclusive
            s1 = (c1[hi + 1] - c1[lo]).astype(np.float64)
            s2 = (c2[hi + 1] - c2[lo]).astype(np.float64)
            mean = s1 / w
            var = np.maximum(s2 / w - mean * mean, 0.0)
            lvl = np.maximum(mean * Q_N, LEVEL_FLOOR_N)
            sd = np.sqrt(var) * Q_N
            mx = ndimage.maximum_filter1d(qe, w, origin=(w - 1) // 2 - a, mode="nearest")[p]
            mn = ndimage.minimum_filter1d(qe, w, origin=(w - 1) // 2 - a, mode="nearest")[p]
            h = w // 2
            s_first = (c1[lo + h] - c1[lo]).astype(np.float64)
            s_last = (c1[hi + 1] - c1[hi + 1 - h]).astype(np.float64)
            slope = np.abs(s_last - s_first) / h * Q_N / (w * FRAME_S / 2)  # N/s
            tv = (ctv[hi + 1] - ctv[lo + 1]).astype(np.float64) * Q_N
            cols += [np.log(sd / lvl + EPS), np.log((mx - mn) * Q_N / lvl + EPS),
                     np.log(slope / lvl + EPS), np.log(tv / lvl + EPS)]
            if w == self.win[1]:
                lvl2, rsd2 = lvl, sd / lvl
        for w in self.mono:
            i = self.win.index(w)
            a, b = self.ahead[i], self.back[i]
            lo, hi = p - b, p + a
            tv = (ctv[hi + 1] - ctv[lo + 1]).astype(np.float64)
            net = np.abs(qe[hi] - qe[lo]).astype(np.float64)
            cols.append(net / (tv + 5.0))  # +0.05 N: a still, noiseless stretch is not "monotone"
        e = ema  # EMA features of output row i: their value at the newest frame (i), D frames later
        for i in range(len(REF_TAUS_S)):
            ref = np.maximum(np.where(np.isfinite(e[:, i]), e[:, i], lvl2), LEVEL_FLOOR_N)
            cols.append(np.log(lvl2 / ref))
        # session context: EMA (loaded frames) of the log relative variability, updated at output frames
        lr = np.log(rsd2 + EPS)
        ldo = lde[p]
        a_c = FRAME_S / CTX_TAU_S
        x = lr[ldo]
        ctx = np.full(n, np.nan)
        if len(x):
            if self._ctx_zi is None:
                self._ctx_zi = np.array([(1.0 - a_c) * x[0]])
            y, self._ctx_zi = sps.lfilter([a_c], [1.0, -(1.0 - a_c)], x, zi=self._ctx_zi)
            ctx[ldo] = y
        ctx = forward_fill(ctx, ldo, self._ctx_last)
        self._ctx_last = float(ctx[-1])
        cols.append(np.where(np.isfinite(ctx), lr - ctx, 0.0))
        for i in range(len(BANDS_HZ)):
            cols.append(np.log(e[:, len(REF_TAUS_S) + i] / lvl2 + EPS))
        ws = min(_k(SIDE_S), self.D)
        for lo, hi in ((p - ws, p), (p, p + ws)):
            s1 = (c1[hi + 1] - c1[lo]).astype(np.float64)
            s2 = (c2[hi + 1] - c2[lo]).astype(np.float64)
            mean = s1 / (ws + 1)
            sd = np.sqrt(np.maximum(s2 / (ws + 1) - mean * mean, 0.0)) * Q_N
            lvl = np.maximum(mean * Q_N, LEVEL_FLOOR_N)
            tv = (ctv[hi + 1] - ctv[lo + 1]).astype(np.float64) * Q_N
            cols += [np.log(sd / lvl + EPS), np.log(tv / lvl + EPS)]
        self._q = qe[len(qe) - self.H:]
        self._ld = lde[len(lde) - self.H:]
        cols.append(self._peak(np.where(ldo, lvl2, 0.0), lvl2))
        self._n_seen += 0 if pad else n
        out = np.column_stack(cols)
        if self._skip:  # the first D rows of a stream belong to the (replicated) history before it
            m = min(self._skip, n)
            self._skip -= m
            out = out[m:]
        return out


# ---- decoder -----------------------------------------------------------------------------

class FixedLagDecoder:
    """Viterbi over roll / hold with explicit hold ages, a minimum hold of `n_min` steps and a fixed lag.

    A semi-Markov decoder in the small: a hold's cost depends on its duration. States at step t:
    roll; a hold of age 1..n_min-1 steps (young: it cannot end); a hold of age n_min..n_long-1 (short:
    it may end, paying `exit_cost + short_cost`); a hold of age >= n_long (it may end, paying
    `exit_cost`). Why: real holds last 10 s to minutes (domain.md; 30-120 s in studies), while the
    still-looking stretches of rolling (a slow stroke's reversal, a flat run of rolling) are short, so a
    short hold needs more evidence than a long one. `short_cost` = 0 (or n_long = n_min) is a plain
    minimum-length Viterbi. Entering a hold costs `enter_cost`.

    `process(e)` takes one emission per step (log-likelihood ratio hold : roll; 0 where the step says
    nothing, e.g. unloaded) and returns the labels (True = hold) of the steps `lag` before each (the first
    `lag` calls return fewer); `finish()` returns the last `lag` labels from the final best path. The
    label of step t depends only on emissions up to t + lag: streaming equals batch under any chunking.

    Bookkeeping (all O(1) per step): with S_t the running sum of emissions and V_t = R_t - S_t, a hold
    entered after roll at step te is worth V_te - enter_cost + S_t at step t; the best young / short
    entries are sliding-window maxima of V (monotone deques), the long hold is a running maximum.
    """

    def __init__(self, n_min: int, lag: int, enter_cost: float, exit_cost: float, n_long: int | None = None,
                 short_cost: float = 0.0) -> None:
        if n_min < 2:
            raise ValueError("n_min must be at least 2 steps")
        self.N = int(n_min)
        self.K = max(int(n_long if n_long is not None else n_min), self.N)
        self.L = lag
        self.cin = enter_cost
        self.cout = exit_cost
        self.cs = short_cost if self.K > self.N else 0.0
        self.t = -1  # index of the newest step
        self.R = 0.0
        self.H = -math.inf  # hold of age >= K
        self.S = 0.0
        self.M = -math.inf  # best short hold (age N..K-1) at the newest step, and its entry step
        self.mt = -1
        # per step t (list index t - base, the lists start at step -1: roll before the stream):
        # V = R - S; hE = entry (roll step) of the long hold's best path; swT = latest step <= t where roll
        # came from a hold, swE = that hold's entry step
        self._base = -1
        self._V: list[float] = [0.0]
        self._hE: list[int] = [-(10 ** 9)]
        self._swT: list[int] = [-(10 ** 9)]
        self._swE: list[int] = [-(10 ** 9)]
        # monotone deques (step, value) of V: young entries [t-N+1, t-1], short entries [t-K+1, t-N]
        self._yq_t: list[int] = []
        self._yq_v: list[float] = []
        self._yh = 0
        self._mq_t: list[int] = []
        self._mq_v: list[float] = []
        self._mh = 0
        self._best_now = (0, -1)  # best state at the newest step (0 roll, 1 hold >= K, 2 young/short) and its entry

    def process(self, e: np.ndarray) -> list[bool]:
        out: list[bool] = []
        if len(e) == 0:
            return out
        N, K, L, cin, cout, cs = self.N, self.K, self.L, self.cin, self.cout, self.cs
        R, H, S, M, mt = self.R, self.H, self.S, self.M, self.mt
        t = self.t
        V, hE, swT, swE = self._V, self._hE, self._swT, self._swE
        base = self._base
        yq_t, yq_v, yh = self._yq_t, self._yq_v, self._yh
        mq_t, mq_v, mh = self._mq_t, self._mq_v, self._mh
        keep = L + K + 4
        trace = self._trace
        best = bt = 0
        two = K > N
        for ev in e.tolist():
            t += 1
            S_new = S + ev
            # young entries: roll at t-1 .. t-N+1
            v = V[t - 1 - base]
            while len(yq_v) > yh and yq_v[-1] <= v:
                yq_t.pop()
                yq_v.pop()
            yq_t.append(t - 1)
            yq_v.append(v)
            while yq_t[yh] < t - N + 1:
                yh += 1
            # roll at t: stay, or leave a long hold / a short hold (at t-1); roll's emission is 0
            sw = False
            r_new = R
            x = H - cout
            if x > r_new:
                r_new = x
                sw = True
                te_sw = hE[-1]
            x = M - cout - cs
            if x > r_new:
                r_new = x
                sw = True
                te_sw = mt
            if sw:
                swT.append(t)
                swE.append(te_sw)
            else:
                swT.append(swT[-1])
                swE.append(swE[-1])
            # long hold at t: stay, or a hold entered after roll at t-K reaches age K
            tk = t - K
            h_stay = H + ev
            v_enter = (V[tk - base] - cin + S_new) if tk >= base else -math.inf
            if v_enter > h_stay:
                H = v_enter
                hE.append(tk)
            else:
                H = h_stay
                hE.append(hE[-1])
            R, S = r_new, S_new
            V.append(R - S)
            # short holds at t: entries [t-K+1, t-N]
            if two:
                tn = t - N
                if tn >= base:
                    v = V[tn - base]
                    while len(mq_v) > mh and mq_v[-1] <= v:
                        mq_t.pop()
                        mq_v.pop()
                    mq_t.append(tn)
                    mq_v.append(v)
                while len(mq_t) > mh and mq_t[mh] < t - K + 1:
                    mh += 1
                if len(mq_t) > mh:
                    M = mq_v[mh] - cin + S
                    mt = mq_t[mh]
                else:
                    M = -math.inf
            y = yq_v[yh] - cin + S
            tg = t - L
            if R >= H and R >= y and R >= M:
                best = 0
                if tg >= 0:
                    out.append(False if swT[-1] <= tg else trace(0, t, 0, tg))
            elif H >= y and H >= M:
                best = 1
                if tg >= 0:
                    out.append(True if hE[-1] + 1 <= tg else trace(1, t, 0, tg))
            else:
                best = 2
                bt = yq_t[yh] if y >= M else mt
                if tg >= 0:
                    out.append(True if bt + 1 <= tg else trace(2, t, bt, tg))
            if len(V) > 4 * keep:  # keep what a traceback can reach
                cut = len(V) - keep
                del V[:cut], hE[:cut], swT[:cut], swE[:cut]
                base += cut
                self._base = base
            if yh > 4096:
                del yq_t[:yh], yq_v[:yh]
                yh = 0
            if mh > 4096:
                del mq_t[:mh], mq_v[:mh]
                mh = 0
        self._base = base
        self._yh, self._mh = yh, mh
        self.R, self.H, self.S, self.M, self.mt, self.t = R, H, S, M, mt, t
        self._best_now = (best, bt)
        return out

    def _trace(self, state: int, t: int, te: int, target: int) -> bool:
        """Label (True = hold) of step `target` on the best path ending in `state` at step t."""
        base = self._base
        while True:
            if state == 2:  # a young or short hold entered after roll at te: steps te+1..t hold
                if te + 1 <= target:
                    return True
                state, t = 0, te
            elif state == 1:
                te = self._hE[t - base]
                if te + 1 <= target:
                    return True
                state, t = 0, te
            else:
                if t < 0:
                    return False
                ts = self._swT[t - base]  # roll since ts (came from a hold at ts-1, entered after te)
                if ts <= target:
                    return False
                state, t, te = 2, ts - 1, self._swE[t - base]

    def finish(self) -> list[bool]:
        """Labels of the last `lag` steps (or all, for a stream shorter than the lag)."""
        if self.t < 0:
            return []
        best, bt = self._best_now
        return [self._trace(best, self.t, bt, tg) for tg in range(max(self.t - self.L + 1, 0), self.t + 1)]


def make_decoder(model: SegmenterModel, min_hold_s: float) -> FixedLagDecoder:
    """The model's decoder in steps of `model.step_s` (a hold lasts at least `min_hold_s`)."""
    step_s = _k(model.step_s) * FRAME_S
    n_min = int(round(min_hold_s / step_s))
    return FixedLagDecoder(n_min, int(round(model.lag_s / step_s)), model.enter_cost, model.exit_cost,
                           n_long=max(int(round(model.long_hold_s / step_s)), n_min), short_cost=model.short_cost)


def decode_labels(z: np.ndarray, ld: np.ndarray, model: SegmenterModel, min_hold_s: float = 5.0) -> np.ndarray:
    """Hold labels of a whole session's frames from their log-odds `z` and loaded mask `ld`, exactly as
    the Segmenter decides them (same emissions, steps and decoder); for fitting and analysis."""
    M = _k(model.step_s)
    dec = make_decoder(model, min_hold_s)
    e = np.where(ld, model.alpha * (np.clip(z, -8.0, 8.0) - model.prior_logit), 0.0)
    n = len(e)
    e = np.concatenate((e, np.zeros(-n % M)))
    steps = e.reshape(-1, M).sum(axis=1)
    lab = np.repeat(np.array(dec.process(steps) + dec.finish(), bool), M)[:n]
    return lab & ld


# ---- the stage ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Labelled:
    """Frames with their decided labels: `still` (loaded and held), `z` (model log-odds of hold per
    frame), `t_release_s` (time of the newest frame when the label was decided)."""

    frames: Frames
    still: np.ndarray
    z: np.ndarray
    t_release_s: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


class Segmenter:
    """Frames in, `Labelled` frames out after a fixed lag (exact under any chunking).

    Force only: features -> model log-odds -> fixed-lag decoder; lag = look-ahead + decoder lag.
    With the encoder the roller itself says whether it moved: a frame is still when some 0.5 s
    window covering it spans < `enc_still_cm` (knee bends rock the shell by a millimetre or two,
    rolling moves it 7.5-17.5 cm per stroke); the lag then is that window (0.45 s), and `z` is NaN.
    """

    def __init__(self, has_encoder: bool, model: SegmenterModel | None = None, min_hold_s: float = 5.0,
                 enc_still_cm: float = 0.06, enc_window_s: float = 0.5) -> None:
        self.model = model or load_model()
        self.has_encoder = has_encoder
        self.enc_w = _k(enc_window_s)
        self.enc_still_cm = enc_still_cm
        if has_encoder:
            self.lag_k = self.enc_w - 1
        else:
            self.D = _k(self.model.lookahead_s)
            self.feat = ForceFeatures(self.D)
            # the decoder works in steps of M frames (0.25 s): a hold's boundary is placed to 0.25 s,
            # and the Python loop runs 4 times a second of data instead of 20 (2 h: 29 k steps)
            self.M = _k(self.model.step_s)
            self.dec = make_decoder(self.model, min_hold_s)
            # frame j (row r = j's index in the stream) is decided when the row closing step r // M + L
            # arrives: j + D + (M - 1 - r % M) + L * M; lag_k is the longest of these
            self.lag_k = self.D + self.M - 1 + self.dec.L * self.M
            self._e_part = np.empty(0)  # emissions of the step not complete yet
            self._n_rel = 0  # frames released so far (row index of the first pending frame)
        self._pf: Frames | None = None  # frames not released yet
        self._z = np.empty(0)  # log-odds of the first len(_z) of them
        self._lab = np.empty(0, bool)  # decided labels of the first len(_lab) of them
        self._win = np.empty(0, bool)  # encoder: trailing 0.5 s window ending at each pending frame is still
        self._x_last = math.nan
        self._x_hist: np.ndarray | None = None

    def _emissions(self, z: np.ndarray, ld: np.ndarray) -> np.ndarray:
        m = self.model
        return np.where(ld, m.alpha * (np.clip(z, -8.0, 8.0) - m.prior_logit), 0.0)

    def _enc_windows(self, fr: Frames) -> np.ndarray:
        """Per new frame: the 0.5 s window ending there spanned < enc_still_cm (and was measured)."""
        x = forward_fill(fr.x_cm, np.isfinite(fr.x_cm), self._x_last)
        self._x_last = float(x[-1])
        okx = np.isfinite(fr.x_cm) & fr.valid  # a window ending in a gap saw no motion only because nothing was measured
        x = np.where(np.isfinite(x), x, 0.0)
        w = self.enc_w
        if self._x_hist is None:  # stream start: history replicates the first value (same in batch)
            self._x_hist = np.full(w - 1, x[0])
        xe = np.concatenate((self._x_hist, x))
        org = (w - 1) // 2
        rng = (ndimage.maximum_filter1d(xe, w, origin=org, mode="nearest")
               - ndimage.minimum_filter1d(xe, w, origin=org, mode="nearest"))[w - 1:]
        self._x_hist = xe[len(xe) - (w - 1):]
        return (rng < self.enc_still_cm) & okx

    def process(self, frames: Frames) -> Labelled | None:
        """Feed frames (consecutive); returns the frames whose labels are now decided (or None)."""
        if len(frames) == 0:
            return None
        self._pf = frames if self._pf is None else Frames.concat((self._pf, frames))
        if self.has_encoder:
            self._win = np.concatenate((self._win, self._enc_windows(frames)))
            n_dec = max(len(self._pf) - self.lag_k, 0)
            if n_dec > len(self._lab):
                self._lab = np.concatenate((self._lab, self._cover(len(self._lab), n_dec)))
        else:
            self._feed(self.feat.process(frames))
        return self._release(final=False)

    def finish(self) -> Labelled | None:
        """End of stream: decide and release every pending frame."""
        if self._pf is None:
            return None
        if self.has_encoder:
            if len(self._pf) > len(self._lab):
                self._lab = np.concatenate((self._lab, self._cover(len(self._lab), len(self._pf))))
        else:
            self._feed(self.feat.finish())
            if len(self._e_part):  # the last, partial step (padded with "no evidence")
                part = np.concatenate((self._e_part, np.zeros(self.M - len(self._e_part))))
                self._e_part = np.empty(0)
                self._lab = np.concatenate((self._lab, np.repeat(np.array(self.dec.process(part[None, :].sum(axis=1)), bool), self.M)))
            self._lab = np.concatenate((self._lab, np.repeat(np.array(self.dec.finish(), bool), self.M)))
            self._lab = self._lab[:len(self._pf)]
        return self._release(final=True)

    def _cover(self, a: int, b: int) -> np.ndarray:
        """Encoder label of pending frames a..b-1: some still window ending within w-1 frames after covers it."""
        w = self.enc_w
        win = self._win
        ext = np.concatenate((win, np.zeros(max(b + w - 1 - len(win), 0), bool)))
        c = np.concatenate(([0], np.cumsum(ext)))
        j = np.arange(a, b)
        return (c[j + w] - c[j]) > 0

    def _feed(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        z = self.model.logit(rows)
        i0 = len(self._z)
        pf = self._pf
        ld = (pf.valid & pf.loaded)[i0:i0 + len(z)]
        self._z = np.concatenate((self._z, z))
        e = np.concatenate((self._e_part, self._emissions(z, ld)))
        n_full = len(e) // self.M
        # step evidence: the sum over its M frames (a short fixed-order sum per row)
        steps = e[: n_full * self.M].reshape(n_full, self.M).sum(axis=1)
        self._e_part = e[n_full * self.M:]
        if n_full:
            self._lab = np.concatenate((self._lab, np.repeat(np.array(self.dec.process(steps), bool), self.M)))

    def _release(self, final: bool) -> Labelled | None:
        pf = self._pf
        n_dec = len(self._lab)
        if pf is None or n_dec == 0:
            return None
        out = _slice(pf, 0, n_dec)
        if self.has_encoder:
            idx = np.arange(n_dec) + self.lag_k
        else:
            r = np.arange(n_dec) + self._n_rel
            idx = np.arange(n_dec) + self.D + (self.M - 1 - r % self.M) + self.dec.L * self.M
            self._n_rel += n_dec
        t_rel = pf.t_s[np.minimum(idx, len(pf) - 1)]  # at the end of the stream: the last frame's time
        z = np.full(n_dec, np.nan) if self.has_encoder else self._z[:n_dec]
        res = Labelled(out, self._lab & out.valid & out.loaded, z, t_rel)
        self._pf = _slice(pf, n_dec, len(pf)) if n_dec < len(pf) else None
        self._lab = self._lab[n_dec:]
        if self.has_encoder:
            self._win = self._win[n_dec:]
        else:
            self._z = self._z[n_dec:]
        if final:
            assert self._pf is None
        return res


def _slice(fr: Frames, a: int, b: int) -> Frames:
    def s(v: np.ndarray | None) -> np.ndarray | None:
        return None if v is None else v[a:b]
    return Frames(fr.k[a:b], fr.t_s[a:b], fr.force_n[a:b], fr.valid[a:b], s(fr.x_cm), s(fr.loaded),
                  s(fr.offset_n), s(fr.force_raw_n), s(fr.noise_n))
