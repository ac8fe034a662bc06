"""Force-only hold/roll segmenter: features per 0.25 s step, a fitted model, a fixed-lag minimum-length decoder.

    frames (after LowPass, AutoZero, Contact) -> ForceFeatures -> model (segmenter-v3.json) -> FixedLagDecoder

Why a fitted model: the hand-set thresholds it replaced leaned on a 2-6 Hz rib texture that only a
ribbed shell on firm foam sampled at 80 Hz shows, and they were tuned on one simulator. The features
here are all *relative* (to the frame's own level and to the session's rolling load) and stay below
2 Hz, so they mean the same with a smooth or ribbed shell, soft or firm foam, at 10 or 80 Hz. The
weights come from labelled sessions of several worlds (bench/fit_segmenter.py) and live in a small
versioned JSON file (rollsignal/models/segmenter-v3.json), not in code.

The decoder works in steps of 0.25 s (five 20 Hz frames) and the model is evaluated once per step, at
the step's centre frame: every feature looks at windows of 1 s or more, so the step's other frames
would say nearly the same, at five times the cost.

Features of frame j (20 Hz frames; windows centred on j where the look-ahead, the model's
`lookahead_s` (4 s), allows):
for windows of 1, 2, 4 and 8 s the relative standard deviation, range, half-window slope and total
variation (path length) of the force, each divided by the window's mean level; for 2, 4 and 8 s the
monotonicity |net change| / path length (slow rolling ramps one way along a 4-8 s stroke: close to 1;
a knee bend swings back and forth around a level: close to 0); the level relative to the session's
loaded force over the last ~30 s and ~2 min (holds are usually lighter than rolling); the relative
variability against the session's own typical variability (a noisy cell or a restless person raises
both); band powers 0.1-0.4 Hz (slow strokes, breathing) and 0.4-1.5 Hz (strokes, knee bends); the
level of 0.5-2 s around j against the level 1.5-4 s before and after it (EXCURSIONS: a re-position
between two holds departs from both sides, a stroke from one).

Exact under any chunking: window sums are integer sums of the force quantised to 0.01 N (integer
addition does not depend on where a cumulative sum starts), max/min filters are order-free, the
recursive filters carry their state, the model sums each row's inputs in a fixed order (float32, no
BLAS), and the decoder works in integers. So streaming equals batch bit for bit.

Decoder: a Viterbi over roll / hold where a hold lasts at least `min_hold_s` (5 s). Emission: the
model's log-odds of hold (scaled by a fitted factor, since neighbouring steps are not independent,
times the step's loaded frames); switching into and out of a hold costs fitted penalties. Fixed lag:
when step t's evidence arrives, the label of step t - LAG is read off the best path ending at t
(traceback), and never revised. The batch `analyze()` is the same decoder fed everything: identical
labels. Latency = look-ahead of the features (4 s) + decoder lag (in the model file) + up to one step.
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

#: format 3: the model is evaluated once per decoder step (at the step's centre frame), in float32
MODEL_FORMAT = "rollsignal-segmenter/3"
DEFAULT_MODEL = "segmenter-v3"
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
#: excursions: the log level of a centre window against the level just before it and just after it
#: (frames: centre half-width, side windows from `gap` to `outer` frames away; centre 0.5-2 s, sides
#: out to 1.5-4 s, so the 4 s look-ahead sees both sides of a 1-4 s excursion). A re-position lifts or
#: drops the load for 1-4 s between two holds while the roller travels (tissuesim's people unload onto
#: their hands); the load there can be as quiet as a hold's, so the window statistics call it still,
#: but it departs from both of its sides. A stroke ramps (one side only); a knee bend departs too, but
#: again and again (the band powers tell).
EXCURSIONS = ((5, 11, 30), (10, 21, 40), (20, 41, 80))
EPS = 1e-3

FEATURE_NAMES: tuple[str, ...] = tuple(
    [f"{q}_{w:g}s" for w in WINDOWS_S for q in ("rsd", "rrange", "rslope", "rtv")]
    + [f"mono_{w:g}s" for w in MONO_WINDOWS_S]
    + [f"level_ref_{t:g}s" for t in REF_TAUS_S]
    + ["rsd_vs_session"]
    + [f"band_{a:g}_{b:g}hz" for a, b in BANDS_HZ]
    + [f"{q}_{d}_{SIDE_S:g}s" for d in ("before", "after") for q in ("rsd", "rtv")]
    + [f"level_peak_{PEAK_S:g}s"]
    + [f"{q}_{o * FRAME_S:g}s" for _c, _g, o in EXCURSIONS for q in ("level_vs_before", "level_vs_after", "excursion")]
)


def _k(s: float) -> int:
    return max(1, int(round(s / FRAME_S)))


# ---- model file --------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmenterModel:
    """The fitted parameters (see bench/fit_segmenter.py and docs/detector.md).

    `mean`, `scale`: feature standardisation; `layers`: list of (W, b), tanh between layers, the last
    layer's single output is the log-odds of hold; `prior_logit`: log-odds of hold in the training
    steps (removed so the decoder sees a likelihood ratio); `alpha`: emission scale (per loaded frame of
    a step); `enter_cost`, `exit_cost`: decoder switching penalties; `lag_s`, `lookahead_s`: latency;
    `step_s`: the decoder's step (the model is evaluated once per step, at its centre frame);
    `confidence`: per-hold calibration (logistic on mean clipped log-odds and log duration), one set per mode
    (`min_report`: the confidence a force-only still run must reach to be reported); `approach`: band, tol,
    back_s of statemachine.approach_start, which places a force-only hold's start (None: at the still run's);
    `end_back_s`: how much earlier than its still run a force-only hold ending in rolling is reported to end.
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
    confidence: dict[str, dict[str, float]]
    meta: dict[str, Any]
    approach: dict[str, float] | None = None
    end_back_s: float = 0.0

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
            confidence=dict(d["confidence"]),
            meta=dict(d.get("meta", {})),
            approach=({k: float(v) for k, v in d["approach"].items()} if d.get("approach") else None),
            end_back_s=float(d.get("end_back_s", 0.0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT, "version": self.version, "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "layers": [{"W": W.tolist(), "b": b.tolist()} for W, b in self.layers],
            "prior_logit": self.prior_logit, "lookahead_s": self.lookahead_s,
            "decoder": {"alpha": self.alpha, "enter_cost": self.enter_cost, "exit_cost": self.exit_cost,
                        "lag_s": self.lag_s, "min_hold_s": self.min_hold_s, "step_s": self.step_s},
            "confidence": self.confidence, "meta": self.meta,
            **({"approach": self.approach} if self.approach else {}),
            **({"end_back_s": self.end_back_s} if self.end_back_s else {}),
        }

    @functools.cached_property
    def _net(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """The layers in float32, the standardisation folded into the first: (x - mean) / scale @ W + b
        = x @ (W / scale) + (b - (mean / scale) @ W)."""
        (W0, b0), *rest = self.layers
        W = W0 / self.scale[:, None]
        b = b0 - (self.mean / self.scale) @ W0
        return tuple((np.ascontiguousarray(w, np.float32), np.asarray(c, np.float32))
                     for w, c in ((W, b), *rest))

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of hold per row of raw features `x` (n, F), float32 arithmetic (returned as float64)."""
        xt = np.ascontiguousarray(np.asarray(x).T, np.float32)  # features x rows: each feature contiguous
        out = np.empty(xt.shape[1])
        # blocks of rows small enough that the layer sums stay in cache; the arithmetic per row is the
        # same whatever the block, so the result is too
        for k in range(0, xt.shape[1], _LOGIT_BLOCK):
            out[k:k + _LOGIT_BLOCK] = self._logit_block(xt[:, k:k + _LOGIT_BLOCK])
        return out

    def _logit_block(self, h: np.ndarray) -> np.ndarray:
        net = self._net
        for i, (W, b) in enumerate(net):
            # sum over inputs in a fixed order (not BLAS, whose blocking depends on the number of rows):
            # a row's result must not depend on how many rows came with it (streaming equals batch)
            acc = np.empty((W.shape[1], h.shape[1]), np.float32)
            acc[:] = b[:, None]
            tmp = np.empty_like(acc)
            for j in range(W.shape[0]):
                np.multiply(W[j][:, None], h[j][None, :], out=tmp)
                acc += tmp
            if i < len(net) - 1:
                np.tanh(acc, out=acc)
            h = acc
        return h[0]

    def min_confidence(self, mode: str) -> float:
        """Confidence (0-1) a still run must reach to be reported as a hold (`min_report` in the
        calibration of `mode`; 0 in files fitted before it existed)."""
        c = self.confidence.get(mode) or self.confidence["force"]
        return float(c.get("min_report", 0.0))

    def hold_confidence(self, mean_z: float, duration_s: float, mode: str) -> float:
        """Calibrated probability (0-1) that a reported hold is a true hold (mode "force" or "enc")."""
        c = self.confidence.get(mode) or self.confidence["force"]
        if not (mean_z == mean_z):
            mean_z = 0.0
        u = c["b0"] + c["b_z"] * mean_z + c["b_dur"] * math.log(max(duration_s, 1.0))
        return 1.0 / (1.0 + math.exp(-max(min(u, 50.0), -50.0)))


#: rows per block in SegmenterModel.logit: (hidden units x block) float32 sums fit in a core's L2 cache
_LOGIT_BLOCK = 4096


@functools.lru_cache(maxsize=8)
def _load_cached(name: str) -> SegmenterModel:
    text = resources.files("rollsignal").joinpath("models", f"{name}.json").read_text(encoding="utf-8")
    return SegmenterModel.from_dict(json.loads(text))


def load_model(name_or_path: str | None = None) -> SegmenterModel:
    """The packaged model `name` (default segmenter-v3) or a model JSON file path."""
    if name_or_path is None:
        return _load_cached(DEFAULT_MODEL)
    if name_or_path.endswith(".json"):
        with open(name_or_path, encoding="utf-8") as fh:
            return SegmenterModel.from_dict(json.load(fh))
    return _load_cached(name_or_path)


# ---- features ----------------------------------------------------------------------------

class ForceFeatures:
    """Feature rows (FEATURE_NAMES) of one frame per decoder step, with a fixed look-ahead of `lookahead_k` frames.

    The frames evaluated are the centres of the decoder's steps: frame r (counted from the stream start)
    with r % stride == stride // 2. Every feature looks at windows of at least 1 s, so one row per 0.25 s
    step says what the step's five frames would (and costs a fifth). `process(frames)` returns the rows
    of the evaluated frames that are `lookahead_k` or more frames older than the newest frame;
    `finish()` returns the rest (the last step's centre even when the stream ends before it), the future
    padded with the last frame. Rows come out in frame order, as an (n, F) array (feature-major in memory:
    `rows.T` is contiguous, the layout the model sums over).
    """

    def __init__(self, lookahead_k: int, stride: int) -> None:
        self.D = lookahead_k
        self.M = stride
        self.c = stride // 2  # evaluated frame within its step
        if self.D < self.M - 1 - self.c:
            raise ValueError("the look-ahead must reach the end of a step")
        if self.D < max(c for c, _g, _o in EXCURSIONS) + 1:  # the excursions' centre window and one frame after
            raise ValueError("the look-ahead must reach past the excursions' centre windows")
        self.win = [_k(w) for w in WINDOWS_S]
        # window of w frames around frame j: [j - back, j + ahead], ahead <= D
        self.ahead = [min(self.D, w // 2) for w in self.win]
        self.back = [w - 1 - a for w, a in zip(self.win, self.ahead)]
        self.mono = [self.win[WINDOWS_S.index(w)] for w in MONO_WINDOWS_S]
        self.H = self.D + max(max(self.back), max(o for _c, _g, o in EXCURSIONS))  # history kept (frames)
        self._q: np.ndarray | None = None  # quantised force history (int64)
        self._ld: np.ndarray | None = None  # loaded & valid history
        self._last_f = math.nan
        self._n = 0  # frames seen (the padding of finish() included)
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
        # recent peak: maxima of complete 1 s blocks of frames (counted from the stream's first row), the
        # current block's so far
        self._row = 0  # index of the next frame row (the first D are the pre-stream history)
        self._blk_hist = np.zeros(int(round(PEAK_S / (PEAK_BLOCK_K * FRAME_S))))
        self._blk_cur = 0.0

    def _ref_cols(self, f: np.ndarray, ld: np.ndarray) -> np.ndarray:
        """The session's loaded force at each new frame: causal EMAs over the loaded frames, forward filled."""
        n = len(f)
        out = np.empty((len(REF_TAUS_S), n))
        x = f[ld]
        for i, tau in enumerate(REF_TAUS_S):
            a = FRAME_S / tau
            if len(x):
                if self._ref_zi[i] is None:
                    self._ref_zi[i] = np.array([(1.0 - a) * x[0]])
                y, self._ref_zi[i] = sps.lfilter([a], [1.0, -(1.0 - a)], x, zi=self._ref_zi[i])
                col = np.full(n, np.nan)
                col[ld] = y
                out[i] = forward_fill(col, ld, self._ref_last[i])
                self._ref_last[i] = float(out[i, -1])
            else:
                out[i] = self._ref_last[i]
        return out

    def _band_cols(self, f: np.ndarray) -> np.ndarray:
        """Band powers (rms over BAND_TAU_S) at each new frame (the filters run at the frame rate)."""
        out = np.empty((len(BANDS_HZ), len(f)))
        for i in range(len(BANDS_HZ)):
            if self._band_zi[i] is None:
                self._band_zi[i] = sps.sosfilt_zi(self._band[i]) * 0.0
            y, self._band_zi[i] = sosfilt_state(self._band[i], f, self._band_zi[i])
            p, self._pow_zi[i] = sps.lfilter(*self._pow_ba, y * y, zi=self._pow_zi[i])
            out[i] = p
        return out

    def _peak(self, lv: np.ndarray) -> np.ndarray:
        """The recent peak level at each frame row: the max over the last PEAK_S of complete 1 s blocks
        and the current block so far (a max is exact in any order: streaming equals batch)."""
        B = PEAK_BLOCK_K
        H = len(self._blk_hist)
        n = len(lv)
        o = self._row % B  # rows of the current block before this call
        if self._row > 0 and o == 0:  # the previous call ended exactly at a block's end: it is complete
            self._blk_hist = np.concatenate((self._blk_hist[1:], [self._blk_cur]))
            self._blk_cur = 0.0
        nb = -(-(o + n) // B)
        ext = np.zeros(nb * B)
        if o:
            ext[0] = self._blk_cur  # stands for the current block's earlier rows
        ext[o:o + n] = lv
        acc = np.maximum.accumulate(ext.reshape(nb, B), axis=1)  # running max within each block
        cur = acc.ravel()[o:o + n]
        # the H complete blocks before each block of this call (its last block may still grow)
        hist = np.concatenate((self._blk_hist, acc[:-1, -1]))
        prev = ndimage.maximum_filter1d(hist, H, origin=(H - 1) // 2, mode="nearest")[H - 1:]
        peak = np.maximum(prev[(o + np.arange(n)) // B], cur)
        self._blk_hist = hist[len(hist) - H:]
        self._blk_cur = float(cur[-1])
        self._row += n
        return peak

    def process(self, frames: Frames) -> np.ndarray:
        return self._run(frames.force_n, frames.valid & (frames.loaded if frames.loaded is not None else True))

    def finish(self) -> np.ndarray:
        """Rows of the evaluated frames among the last `lookahead_k`, and the last step's centre (future
        padded with the last frame, unloaded)."""
        if self._q is None or self._n_seen == 0:
            return np.zeros((0, len(FEATURE_NAMES)))
        k = self.D + self.c
        return self._run(np.full(k, self._last_f), np.zeros(k, bool), pad=True)

    def _run(self, force_n: np.ndarray, ld_in: np.ndarray, pad: bool = False) -> np.ndarray:
        n = len(force_n)
        if n == 0:
            return np.zeros((0, len(FEATURE_NAMES)))
        ok = np.isfinite(force_n) & ld_in
        f = forward_fill(force_n, np.isfinite(force_n), self._last_f)
        f = np.where(np.isfinite(f), f, 0.0)
        if not pad:
            self._last_f = float(f[-1])
            self._n_seen += n
        q = np.rint(f / Q_N).astype(np.int64)
        if self._q is None:  # stream start: history replicates the first frame, unloaded (same in batch)
            self._q = np.full(self.H, q[0], np.int64)
            self._ld = np.zeros(self.H, bool)
        band = self._band_cols(f)
        qe = np.concatenate((self._q, q))
        lde = np.concatenate((self._ld, ok))
        n0, M, D, H = self._n, self.M, self.D, self.H
        self._n += n
        self._q = qe[len(qe) - H:]
        self._ld = lde[len(lde) - H:]
        c1 = np.concatenate(([0], np.cumsum(qe)))
        c2 = np.concatenate(([0], np.cumsum(qe * qe)))
        ctv = np.concatenate(([0], np.cumsum(np.abs(np.diff(qe, prepend=qe[0])))))
        # per frame row (the frames D before each new frame): the session's context, which must see every
        # frame whether or not it is evaluated: the typical relative variability (EMA over the loaded
        # rows of the 2 s window's log relative sd) and the recent peak 2 s level
        w2, a2, b2 = self.win[1], self.ahead[1], self.back[1]
        pa = H - D  # position in qe of the row of new frame 0
        s1 = (c1[pa + a2 + 1:pa + a2 + 1 + n] - c1[pa - b2:pa - b2 + n]).astype(np.float64)
        s2 = (c2[pa + a2 + 1:pa + a2 + 1 + n] - c2[pa - b2:pa - b2 + n]).astype(np.float64)
        mean = s1 / w2
        lvl2_all = np.maximum(mean * Q_N, LEVEL_FLOOR_N)
        lr_all = np.log(np.sqrt(np.maximum(s2 / w2 - mean * mean, 0.0)) * Q_N / lvl2_all + EPS)
        ld_all = lde[pa:pa + n]
        a_c = FRAME_S / CTX_TAU_S
        x = lr_all[ld_all]
        ctx_all = np.full(n, np.nan)
        if len(x):
            if self._ctx_zi is None:
                self._ctx_zi = np.array([(1.0 - a_c) * x[0]])
            y, self._ctx_zi = sps.lfilter([a_c], [1.0, -(1.0 - a_c)], x, zi=self._ctx_zi)
            ctx_all[ld_all] = y
        ctx_all = forward_fill(ctx_all, ld_all, self._ctx_last)
        self._ctx_last = float(ctx_all[-1])
        peak_all = self._peak(np.where(ld_all, lvl2_all, 0.0))
        ref_all = self._ref_cols(f, ok)  # at the new frames
        # the evaluated frames j whose look-ahead is complete now: j in [n0 - D, n0 + n - D), j >= 0
        j0 = max(n0 - D, 0)
        js = np.arange(j0 + (self.c - j0) % M, n0 + n - D, M)
        nr = len(js)
        out = np.empty((len(FEATURE_NAMES), nr))
        if nr == 0:
            return out.T
        p0 = int(js[0]) - (n0 - H)  # the first one's position in the extended history qe
        ir = slice(p0 - pa, p0 - pa + M * (nr - 1) + 1, M)  # their frame rows (and new frames D later)

        def at(x: np.ndarray, off: int) -> np.ndarray:
            """x at the evaluated frames' positions + off (a strided view: they are M frames apart)."""
            return x[p0 + off:p0 + off + M * (nr - 1) + 1:M]

        def wsum(c: np.ndarray, lo: int, hi: int) -> np.ndarray:
            """Sums over the windows [p + lo, p + hi] (inclusive) from the cumulative sum c, as float."""
            return (at(c, hi + 1) - at(c, lo)).astype(np.float64)

        r = 0  # next feature row of `out`
        lvl2 = rsd2 = np.empty(0)
        for w, a, b in zip(self.win, self.ahead, self.back):
            s1 = wsum(c1, -b, a)
            s2 = wsum(c2, -b, a)
            mean = s1 / w
            var = np.maximum(s2 / w - mean * mean, 0.0)
            lvl = np.maximum(mean * Q_N, LEVEL_FLOOR_N)
            sd = np.sqrt(var) * Q_N
            rng_q = self._range(qe, p0 - b, nr, w)
            h = w // 2
            slope = np.abs(wsum(c1, a + 1 - h, a) - wsum(c1, -b, -b + h - 1)) / h * Q_N / (w * FRAME_S / 2)  # N/s
            tv = wsum(ctv, -b + 1, a) * Q_N
            out[r] = sd / lvl
            out[r + 1] = rng_q * Q_N / lvl
            out[r + 2] = slope / lvl
            out[r + 3] = tv / lvl
            r += 4
            if w == self.win[1]:
                lvl2, rsd2 = lvl, sd / lvl
        for w in self.mono:
            i = self.win.index(w)
            a, b = self.ahead[i], self.back[i]
            net = np.abs(at(qe, a) - at(qe, -b)).astype(np.float64)
            out[r] = net / (wsum(ctv, -b + 1, a) + 5.0)  # +0.05 N: a still, noiseless stretch is not "monotone"
            r += 1
        # causal features of row j: their value at the newest frame then (j + D), which is where `ir`
        # points in the new frames' arrays
        ref = ref_all[:, ir]
        for i in range(len(REF_TAUS_S)):
            out[r] = np.log(lvl2 / np.maximum(np.where(np.isfinite(ref[i]), ref[i], lvl2), LEVEL_FLOOR_N))
            r += 1
        ctx = ctx_all[ir]
        out[r] = np.where(np.isfinite(ctx), np.log(rsd2 + EPS) - ctx, 0.0)
        r += 1
        for i in range(len(BANDS_HZ)):
            out[r] = np.sqrt(np.maximum(band[i, ir], 0.0)) / lvl2
            r += 1
        ws = min(_k(SIDE_S), D)
        for lo, hi in ((-ws, 0), (0, ws)):
            s1 = wsum(c1, lo, hi)
            s2 = wsum(c2, lo, hi)
            mean = s1 / (ws + 1)
            sd = np.sqrt(np.maximum(s2 / (ws + 1) - mean * mean, 0.0)) * Q_N
            lvl = np.maximum(mean * Q_N, LEVEL_FLOOR_N)
            out[r] = sd / lvl
            out[r + 1] = wsum(ctv, lo + 1, hi) * Q_N / lvl
            r += 2
        out[r] = np.log(np.maximum(lvl2, LEVEL_FLOOR_N) / np.maximum(peak_all[ir], LEVEL_FLOOR_N))
        r += 1

        def level(lo: int, hi: int) -> np.ndarray:
            return np.maximum(wsum(c1, lo, hi) / (hi - lo + 1) * Q_N, LEVEL_FLOOR_N)

        for c, g, o in EXCURSIONS:
            g, o = min(g, D - 1), min(o, D)  # a model with a shorter look-ahead sees less of the after side
            centre = np.log(level(-c, c))
            vb, va = centre - np.log(level(-o, -g)), centre - np.log(level(g, o))
            out[r] = vb
            out[r + 1] = va
            # departs from both sides the same way: the smaller departure, signed; else 0
            out[r + 2] = np.where(vb * va > 0, np.sign(vb) * np.minimum(np.abs(vb), np.abs(va)), 0.0)
            r += 3
        # the relative quantities as log(x + EPS), in one pass
        lg = self._log_rows
        out[lg] = np.log(out[lg] + EPS)
        return out.T

    def _range(self, qe: np.ndarray, lo: int, nr: int, w: int) -> np.ndarray:
        """max - min of qe over the nr windows [lo + i M, lo + i M + w) (max and min are exact in any order)."""
        M = self.M
        K = w // M
        if w % M == 0:
            # the windows are K whole blocks of M frames: block extremes, then K-block windows
            blk = qe[lo:lo + M * (nr - 1 + K)].reshape(-1, M)
            out = np.empty((2, nr), np.int64)
            for i, (red, filt) in enumerate(((np.maximum, ndimage.maximum_filter1d), (np.minimum, ndimage.minimum_filter1d))):
                b = blk[:, 0].copy()
                for j in range(1, M):  # column by column: numpy reduces a short axis slowly
                    red(b, blk[:, j], out=b)
                out[i] = filt(b, K, origin=(K - 1) // 2, mode="nearest")[K - 1:] if K > 1 else b
            return out[0] - out[1]
        win = np.lib.stride_tricks.sliding_window_view(qe, w)[lo:lo + M * (nr - 1) + 1:M]
        return win.max(axis=1) - win.min(axis=1)

    @functools.cached_property
    def _log_rows(self) -> np.ndarray:
        """Rows of `out` that are log(relative quantity + EPS): window stats, band powers, one-sided stats."""
        nw = 4 * len(WINDOWS_S)
        i_band = nw + len(MONO_WINDOWS_S) + len(REF_TAUS_S) + 1
        i_side = i_band + len(BANDS_HZ)
        return np.r_[0:nw, i_band:i_side, i_side:i_side + 4]


# ---- decoder -----------------------------------------------------------------------------

class FixedLagDecoder:
    """Viterbi over roll / hold with a minimum hold of `n_min` steps and a fixed lag, in exact integers.

    States at step t: roll; a hold of age 1..n_min-1 steps (young: it cannot end yet); a hold of age
    >= n_min (it may end). Entering a hold costs `enter_cost`, leaving it `exit_cost`; a hold step
    earns its emission, a roll step 0.

    `process(e)` takes one emission per step (log-likelihood ratio hold : roll; 0 where the step says
    nothing, e.g. unloaded) and returns the labels (True = hold) of the steps `lag` before each (the first
    `lag` steps return fewer); `finish()` returns the last `lag` labels from the final best path. The
    label of step t depends only on emissions up to t + lag: streaming equals batch under any chunking.

    Exact arithmetic: emissions and costs are quantised to integers (units of 2**-16), so every sum
    and maximum below is exact and any evaluation order gives the same numbers; the blocked, vectorised
    solution equals the step-by-step recursion by construction, whatever the chunking. Ties: roll before
    a hold, staying before switching, and of the young holds the latest entry (tests/dsp compare it with a
    plain Viterbi over explicit hold ages).

    The recursion, with S_t the running sum of emissions: the best roll score R_t and G_t = (best
    mature-hold score at t) - S_t are two non-decreasing running maxima,
        R_t = max(R_{t-1}, S_{t-1} + G_{t-1} - exit),   G_t = max(G_{t-1}, R_{t-N} - S_{t-N} - enter),
    coupled with a delay of N steps (a hold entered after roll at t-N matures at t). Per block of steps,
    starting from R = its value before the block (a lower bound), alternating the two running maxima
    (np.maximum.accumulate) until R no longer changes reaches the unique solution; each round admits
    one more hold ending inside the block, so a block takes about as many rounds as it has holds.
    The best young hold at t enters after roll at the best of steps t-N+1..t-1 (a sliding maximum of
    V = R - S). The fixed-lag label is read off backpointers (the latest roll-from-hold switch and the
    entry of each hold), vectorised too.
    """

    #: integer units per unit of emission
    QUANT = 1 << 16
    #: steps per block of the vectorised recursion: rounds cost O(block) each, about one per hold in it
    BLOCK = 4096
    _NEG = -(1 << 62)  # "unreachable" (sums of int64 emissions of a session stay far from it)

    def __init__(self, n_min: int, lag: int, enter_cost: float, exit_cost: float) -> None:
        if n_min < 2:
            raise ValueError("n_min must be at least 2 steps")
        if lag < 0:
            raise ValueError("lag must be >= 0 steps")
        self.N = int(n_min)
        self.L = int(lag)
        self.cin = self._q(enter_cost)
        self.cout = self._q(exit_cost)
        self.t = -1  # index of the newest step
        # history of the last `keep` steps (step -1 = roll before the stream: R 0, S 0); what a sliding
        # window (N) and a traceback (back to t - L - 1, then one hold's entry) can reach
        self.keep = self.N + self.L + 2
        k = self.keep
        neg = self._NEG
        self._S = np.zeros(k, np.int64)
        self._R = np.zeros(k, np.int64)
        self._G = np.full(k, neg, np.int64)
        self._V = np.full(k, neg, np.int64)  # R - S; only step -1 is reachable before the stream
        self._V[-1] = 0
        self._hE = np.full(k, neg, np.int64)  # entry (roll step) of the mature hold's best path at t
        self._swT = np.full(k, neg, np.int64)  # latest step <= t where roll came from a hold
        self._swE = np.full(k, neg, np.int64)  # that hold's entry step
        self._best = (0, -1)  # best state at the newest step (0 roll, 1 mature hold, 2 young hold) and entry

    @classmethod
    def _q(cls, x: float) -> int:
        return int(round(float(x) * cls.QUANT))

    def process(self, e: np.ndarray) -> list[bool]:
        """Feed emissions (finite, one per step); returns the labels decided now (see the class)."""
        e = np.asarray(e, np.float64)
        if not np.isfinite(e).all():
            raise ValueError("decoder emissions must be finite")
        out: list[np.ndarray] = []
        for a in range(0, len(e), self.BLOCK):
            out.append(self._block(np.rint(e[a:a + self.BLOCK] * self.QUANT).astype(np.int64)))
        return np.concatenate(out).tolist() if out else []

    def _block(self, eq: np.ndarray) -> np.ndarray:
        N, L, k, cin, cout = self.N, self.L, self.keep, self.cin, self.cout
        B = len(eq)
        a = self.t + 1  # first step of the block; ext index i <-> step a - k + i
        S = self._S[-1] + np.cumsum(eq)
        S_prev, R_in, G_in = self._S[-1], self._R[-1], self._G[-1]
        Vh = self._V[k - N:]  # V of steps a-N .. a-1
        # R starts at its value before the block (a lower bound: no hold ends in the block); each round
        # recomputes only from where the last round changed R (earlier values are final: G reacts to R
        # N steps later, R to G one step later)
        R = np.full(B, R_in, np.int64)
        G = np.empty(B, np.int64)
        x = np.empty(B, np.int64)  # R's candidate at t: leave the mature hold of t-1
        Ve = np.concatenate((Vh, R - S))  # V of steps a-N .. a+B-1
        f = 0  # first step (block index) whose G may change
        while f < B:
            g0 = G[f - 1] if f else G_in
            G[f:] = np.maximum.accumulate(np.maximum(Ve[f:B] - cin, g0))
            if f == 0:
                x[0] = S_prev + G_in - cout
            x[f + 1:] = S[f:-1] + G[f:-1] - cout
            r0 = R[f - 1] if f else R_in
            Rn = np.maximum.accumulate(np.maximum(x[f:], r0))
            ch = np.flatnonzero(Rn != R[f:])
            if len(ch) == 0:
                break
            R[f:] = Rn
            c = f + int(ch[0])  # the first R that changed
            Ve[N + c:] = R[c:] - S[c:]
            f = c + N
        V = R - S
        Ve = np.concatenate((self._V, V))
        Gp = np.concatenate(([G_in], G[:-1]))  # G_{t-1}
        steps = np.arange(a, a + B, dtype=np.int64)
        # backpointers: the latest entry into the mature hold (strictly better than staying) ...
        ent = Ve[k - N:k - N + B] - cin > Gp
        hE = self._latest(ent, steps - N, self._hE[-1])
        # ... and the latest roll-from-hold switch (strictly better than staying in roll)
        Rp = np.concatenate(([R_in], R[:-1]))
        sw = x > Rp
        hEp = np.concatenate((self._hE[-1:], hE[:-1]))  # the hold left at t came from the entry of t-1
        swT = self._latest(sw, steps, self._swT[-1])
        swE = self._latest(sw, hEp, self._swE[-1])
        # best state at each step: roll >= mature hold >= young hold (best entry among t-N+1 .. t-1)
        H = G + S
        yv = Ve[k - N + 1:k + B - 1]
        win = np.lib.stride_tricks.sliding_window_view(yv, N - 1)
        Ymax = ndimage.maximum_filter1d(yv, N - 1, origin=(N - 2) // 2, mode="nearest")[N - 2:]  # = win.max(axis=1)
        Y = Ymax - cin + S
        best = np.where((R >= H) & (R >= Y), 0, np.where(H >= Y, 1, 2))
        te = np.full(B, -1, np.int64)
        yi = np.flatnonzero(best == 2)
        if len(yi):  # the latest entry with the best value
            w = win[yi][:, ::-1]
            te[yi] = steps[yi] - 1 - np.argmax(w == Ymax[yi, None], axis=1)
        # labels of steps t - L on the best path ending at t (the block's steps with t - L >= 0), read off
        # the history and this block (ext index i <-> step a - k + i)
        hE_e = np.concatenate((self._hE, hE))
        swT_e = np.concatenate((self._swT, swT))
        swE_e = np.concatenate((self._swE, swE))
        m = steps - L >= 0
        lab = self._trace(best[m], steps[m], te[m], steps[m] - L, hE_e, swT_e, swE_e, a - k)
        self._S = np.concatenate((self._S, S))[-k:]
        self._R = np.concatenate((self._R, R))[-k:]
        self._G = np.concatenate((self._G, G))[-k:]
        self._V = Ve[-k:]
        self._hE, self._swT, self._swE = hE_e[-k:], swT_e[-k:], swE_e[-k:]
        self.t = a + B - 1
        self._best = (int(best[-1]), int(te[-1]))
        return lab

    @staticmethod
    def _latest(ev: np.ndarray, val: np.ndarray, prev: int) -> np.ndarray:
        """Per step: `val` at the latest step (so far) where `ev` holds, `prev` before the first."""
        idx = np.maximum.accumulate(np.where(ev, np.arange(len(ev)), -1))
        return np.where(idx >= 0, val[np.maximum(idx, 0)], prev)

    @staticmethod
    def _trace(state: np.ndarray, t: np.ndarray, te: np.ndarray, tg: np.ndarray, hE: np.ndarray,
               swT: np.ndarray, swE: np.ndarray, base: int) -> np.ndarray:
        """Label (True = hold) of step tg on the best path ending in `state` at step t (young: entered
        after roll at te), for arrays of queries; backpointer arrays hold step base + i at index i."""
        state, t, te = state.copy(), t.copy(), te.copy()
        res = np.zeros(len(t), bool)
        todo = np.ones(len(t), bool)
        while todo.any():
            s = todo & (state == 1)  # a mature hold: its entry
            te[s] = hE[t[s] - base]
            state[s] = 2
            s = todo & (state == 2)  # a hold entered after roll at te: steps te+1 .. t hold
            hold = s & (te + 1 <= tg)
            res[hold] = True
            todo &= ~hold
            back = s & ~hold
            t[back] = te[back]
            state[back] = 0
            s = todo & (state == 0)  # roll at t since its latest switch from a hold
            pre = s & (t < 0)  # roll before the stream
            todo &= ~pre
            s &= ~pre
            ts = np.where(s, swT[np.where(s, t - base, 0)], 0)
            roll = s & (ts <= tg)
            todo &= ~roll
            s &= ~roll  # the mature hold that ended at ts - 1
            te[s] = swE[t[s] - base]
            t[s] = ts[s] - 1
            state[s] = 2
        return res

    def finish(self) -> list[bool]:
        """Labels of the last `lag` steps (or all, for a stream shorter than the lag)."""
        if self.t < 0:
            return []
        tg = np.arange(max(self.t - self.L + 1, 0), self.t + 1, dtype=np.int64)
        n = len(tg)
        st, te = self._best
        return self._trace(np.full(n, st), np.full(n, self.t, np.int64), np.full(n, te, np.int64), tg,
                           self._hE, self._swT, self._swE, self.t + 1 - self.keep).tolist()


def make_decoder(model: SegmenterModel, min_hold_s: float) -> FixedLagDecoder:
    """The model's decoder in steps of `model.step_s` (a hold lasts at least `min_hold_s`)."""
    step_s = _k(model.step_s) * FRAME_S
    return FixedLagDecoder(int(round(min_hold_s / step_s)), int(round(model.lag_s / step_s)), model.enter_cost,
                           model.exit_cost)


def step_emissions(z: np.ndarray, n_loaded: np.ndarray, model: SegmenterModel) -> np.ndarray:
    """Decoder evidence of steps from their log-odds `z` and number of loaded frames: the step's frames
    each count as one frame of that evidence (a step half unloaded says half as much; a step without a
    finite log-odds says nothing: the decoder's integers need finite evidence)."""
    e = model.alpha * (np.clip(z, -8.0, 8.0) - model.prior_logit) * n_loaded
    return np.where(np.isfinite(e), e, 0.0)


def decode_labels(z: np.ndarray, ld: np.ndarray, model: SegmenterModel, min_hold_s: float = 5.0) -> np.ndarray:
    """Hold labels of a whole session's frames from the log-odds `z` of its steps (one per step of
    `model.step_s`) and the frames' loaded mask `ld`, exactly as the Segmenter decides them (same
    emissions, steps and decoder); for fitting and analysis."""
    M = _k(model.step_s)
    n = len(ld)
    nld = np.concatenate((ld, np.zeros(-n % M, bool))).reshape(-1, M).sum(axis=1)
    dec = make_decoder(model, min_hold_s)
    lab = np.repeat(np.array(dec.process(step_emissions(z, nld, model)) + dec.finish(), bool), M)[:n]
    return lab & ld


# ---- the stage ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Labelled:
    """Frames with their decided labels: `still` (loaded and held), `z` (model log-odds of hold of each
    frame's decoder step), `t_release_s` (time of the newest frame when the label was decided)."""

    frames: Frames
    still: np.ndarray
    z: np.ndarray
    t_release_s: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


class Segmenter:
    """Frames in, `Labelled` frames out after a fixed lag (exact under any chunking).

    Force only: features -> model log-odds (once per 0.25 s step, at its centre frame) -> fixed-lag
    decoder; lag = look-ahead + decoder lag + up to one step.
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
            # the decoder works in steps of M frames (0.25 s): a hold's boundary is placed to 0.25 s;
            # the model is evaluated once per step, at its centre frame
            self.M = _k(self.model.step_s)
            self.feat = ForceFeatures(self.D, self.M)
            self.dec = make_decoder(self.model, min_hold_s)
            # frame j (r = j's index in the stream) is decided when step r // M + L's centre row is
            # complete: frame (r // M + L) * M + M // 2 + D arrives; lag_k is the longest of these waits
            self.lag_k = self.D + self.M // 2 + self.dec.L * self.M
            self._n_rel = 0  # frames released so far (stream index of the first pending frame)
            self._n_steps = 0  # steps evaluated so far
        self._pf: Frames | None = None  # frames not released yet
        self._z = np.empty(0)  # log-odds of the first len(_z) of them
        self._lab = np.empty(0, bool)  # decided labels of the first len(_lab) of them
        self._win = np.empty(0, bool)  # encoder: trailing 0.5 s window ending at each pending frame is still
        self._x_last = math.nan
        self._x_hist: np.ndarray | None = None

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
            self._feed(self.feat.finish())  # the last step's row too, even when the stream ends before its centre
            self._lab = np.concatenate((self._lab, np.repeat(np.array(self.dec.finish(), bool), self.M)))
            self._lab = self._lab[:len(self._pf)]
            self._z = self._z[:len(self._pf)]
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
        """Rows of the next steps' centre frames: log-odds, step evidence, decoder labels."""
        if len(rows) == 0:
            return
        M = self.M
        z = self.model.logit(rows)
        pf = self._pf
        # the steps' frames among the pending ones (all have arrived: the look-ahead reaches past a step)
        i0 = self._n_steps * M - self._n_rel
        ld = (pf.valid & pf.loaded)[i0:i0 + len(z) * M]
        nld = np.concatenate((ld, np.zeros(len(z) * M - len(ld), bool))).reshape(len(z), M).sum(axis=1)
        self._n_steps += len(z)
        self._z = np.concatenate((self._z, np.repeat(z, M)))  # each frame reports its step's log-odds
        self._lab = np.concatenate((self._lab, np.repeat(np.array(self.dec.process(step_emissions(z, nld, self.model)), bool), M)))

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
            idx = (r // self.M + self.dec.L) * self.M + self.M // 2 + self.D - self._n_rel
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
                  s(fr.offset_n))
