"""State machine OFF / ROLL / HOLD over frames, with bridging and back-dated holds.

Two layers over frames in time order, both working on runs of frames with numpy (the 20 Hz
frames of a 2-hour session are handled in a few thousand vectorised steps, not 144 000 Python
iterations); the result is defined frame by frame, as below, and does not depend on how the
stream is chunked:

1. Labeller. Each frame gets one label: MISSING (no trustworthy sample near
   it), OFF (nobody on the roller), STILL or MOVE. A frame is STILL when some
   *still window* covers it (morphological opening: a window is still when
   what it saw was still; every frame inside such a window is still). Still
   windows come from the motion features (see motion.py):

   * encoder: the roller spanned < `enc_still_cm` within 0.5 s;
   * force only, "steady" path: 8 s in which force stayed within
     `steady_rel_heavy` (10 %) of its level and no rolling texture -- catches holds
     at any load, including holds as heavy as rolling; within `steady_rel` (14 %),
     or "quiet" (no trace of texture all along, swing < `quiet_rel`: knee bends
     near the rolling load), only at a level below `steady_light_frac` x the
     rolling load (slow rolling with a small lever swing spans 10-14 %); a quiet
     window whose load swings back and forth (>= `quiet_rev_min` reversals in 8 s,
     motion._Reversals: a limb, not a stroke's one-way ramp) up to `quiet_frac` x;
   * force only, "light" path: 4 s at a level clearly below the rolling load
     seen so far (`light_frac`), swinging less than `light_rel`, no rolling
     texture anywhere in the window -- a person holding light while bending the
     knee shifts load by 10-30 % but stays far below their rolling load, while a
     re-positioning between two light holds shows the ribs' texture. A light window
     swinging more than `light_mono_rel` must swing back and forth (`light_rev_min`
     reversals): a slow stroke ramps the load one way.

   A frame is released (handed to the segmenter) at the arrival of the first frame at which its
   label is decided: at once when a still window covers it, or when no window that could still
   cover it is left (latency = window length); frames are released in order. That arrival is the
   `t_s` of the events the frame causes (hold confirmed, progress), so a live user gets each event
   as early as the data allow.

   The light path's reference ("rolling load so far") is defined per block of REF_BLOCK_K frames
   (1 s): for frame k it is the rolling load (`_ref_n()`: mean force of frames finalised as roll,
   or the body-mass fallback) the segmenter had when it had consumed every frame before
   p = (k // REF_BLOCK_K) * REF_BLOCK_K - ref_lag_k, with ref_lag_k = labelling delay + 1 frame.
   Frames before p are always released before the block's first frame arrives, so the reference
   is known when the block starts: no added latency, and within a block it is one number (one
   vectorised comparison per block). It lags the rolling load by 8-9 s force-only -- as the
   frame-by-frame definition it replaces did in effect (rolling frames are released 8 s late).
   The labeller labels blocks whose reference frame the segmenter has not reached yet with the
   reference now, and checks each when the segmenter gets there; if the real reference decides
   one of the block's light windows otherwise, labelling is redone from that block's first light
   window on (frames after it were not segmented yet), so the result is exactly the definition.

2. Segmenter. Runs of equal labels, with bridging: a MISSING run up to
   `gap_bridge_s` continues whatever was before it (link gaps, dropouts); an
   OFF run up to `dropout_s` inside a loaded stretch is a dropout, not a
   step-off; a MOVE run up to `blip_s` between STILL runs is a fidget, not
   motion. A STILL run that lasts `min_hold_s` (5 s) is a hold from its first
   frame (back-dated); shorter STILL runs (the pause at a stroke reversal, a
   brief stop while re-positioning) are rolling. Re-positioning -- 1-4 s of
   irregular loaded motion between two spots -- is longer than a fidget, so
   it splits two holds and is labelled roll. Transitions go frame by frame
   (`_segment`); a run continuing the current run or a pending excursion is
   added at once, with hold confirmation and the progress events computed for
   the frames they fall on. Sums use np.cumsum with the carried sum prepended,
   which adds strictly in order: bit-identical to adding frame by frame.

The session's rolling load (mean force over frames finalised as roll) is
carried here; it feeds the light path (as above) and the scoring and safety
warnings (the rolling load when the hold ends / when the warning is due), all
using only what was seen so far, so live and offline results agree exactly.
tests/dsp/statemachine_ref.py is a frame-by-frame model of these rules; the
tests check the two agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .events import Event, HoldEnded, HoldProgress, HoldStarted, StateEvent, WarningEvent
from .frames import FRAME_S
from .motion import (ENC_WINDOW_S, LONG_WINDOW_S, SHORT_WINDOW_S, TEXTURE_TAU_S, MotionFrames, _Trailing,
                     _TrailingSum, frames_in)

MISSING, OFF, MOVE, STILL = 0, 1, 2, 3
G_N_PER_KG = 9.80665
BLOCK_K = 200  # 10 s of frames: longer than a knee-bend cycle (0.1-1 Hz), shorter than a creep or a shift
#: frames per block of the light path's reference (1 s): within a block the reference is one value
REF_BLOCK_K = 20
_BIG = np.iinfo(np.int64).max // 4  # "no frame" in the labeller's index arithmetic


@dataclass
class StateConfig:
    """Thresholds of the labeller and segmenter (defaults from domain.md figures, see docs/detector.md)."""

    min_hold_s: float = 5.0  # contracts.md §3: a hold is >= 5 s
    gap_bridge_s: float = 3.0  # link gaps / dropouts bridged up to this long
    long_gap_bridge_s: float = 15.0  # longer gaps bridged only when the same state resumes after them
    dropout_s: float = 1.0  # unloaded this briefly inside a loaded stretch: a dropout
    blip_s_encoder: float = 2.0  # roller rocking inside a hold (encoder; only while within rock_cm)
    rock_cm: float = 0.5  # knee bends rock the shell by millimetres; further from the spot is travel
    blip_s_force: float = 0.5  # force-only fidget inside a hold
    # span of roller position within 0.5 s while still: 5 AS5600 steps at a 7.5 cm shell (0.0115 cm each),
    # above quantisation and noise; a roller leaving a hold accelerates from rest (travel ~ t^3), so a
    # larger span ends the hold late (0.08 cm: median end error 0.26 s, 0.6 s in slow rolling)
    enc_still_cm: float = 0.06
    steady_rel: float = 0.14  # force span / level within 8 s for a steady hold below the rolling load
    # ... and at or above it, or before any rolling: slow rolling (4-8 s strokes) with a small lever swing
    # (5 % each way, domain.md 25-40 % BW rolling) spans 10-14 % in 8 s; a hold's breathing (a few %) and
    # a posture shift (up to ~10 %, bridged as a fidget) leave the rest of the hold well inside 10 %
    steady_rel_heavy: float = 0.10
    # "quiet" steady windows (force only): a related limb moving during a hold (knee bends on the quads,
    # 0.1-1 Hz) swings the load by 10-30 % without the roller travelling, so no rib texture at all. A hold
    # as heavy as 75-85 % of the rolling load with knee bends passes neither the light path (level) nor
    # the 14 % steady test (swing); 8 s whose texture stays below 60 % of the allowance throughout (rolling
    # reaches it at every stroke's fast part) with a swing < 40 % is still when below the rolling load.
    quiet_tex: float = 0.6
    quiet_rel: float = 0.4
    # quiet windows whose load swings back and forth (>= quiet_rev_min reversals in 8 s, motion.py
    # _Reversals) are a limb moving: still up to quiet_frac x the rolling load. Slow rolling moves the
    # load monotonically along each 4-8 s stroke (1-2 reversals in 8 s); quiet windows without that
    # swing stay under steady_light_frac (quiet_nonperiodic) or are not still.
    quiet_rev_min: int = 3
    quiet_frac: float = 1.0
    quiet_nonperiodic: bool = True
    steady_light_frac: float = 0.85  # "below the rolling load": clearly below it (holds 10-25 % vs rolling 25-40 % BW)
    light_frac: float = 0.75  # light hold: level below this fraction of the rolling load
    light_rel: float = 0.6  # span / level within 2 s allowed for a light hold (knee bends)
    # a light window swinging more than light_mono_rel must show light_rev_min reversals (motion.py
    # _Reversals): a knee bend swings the load back and forth (>= 2 reversals in 4 s at >= 0.25 Hz),
    # a slow stroke moves it one way for 4-8 s (0-1 reversal); 0 disables the check. Cost: a window
    # that holds the settling from rolling into a hold (a one-way drop) is refused too, so force-only
    # hold starts come ~0.35 s later (median start error 0.7-0.8 -> 1.1 s)
    light_rev_min: int = 2
    light_mono_rel: float = 0.25
    tex_rel: float = 0.003  # rolling texture (1.5-6 Hz rms) / level above which the roller is moving
    # the load cell's own noise in the texture band (HX711: 0.3-0.8 N rms broadband, domain.md) is not
    # rolling texture: without this allowance a light hold (say 70 N) reads as "textured" from noise alone
    tex_floor_n: float = 0.2
    # texture must stay below its allowance over the whole still window, not only at the window's last
    # frame: a re-positioning move (1-4 s, ribs passing under the tissue) inside a 2 s window used to be
    # covered by the window ending just after the texture had decayed
    tex_whole_window: bool = True
    # the texture envelope (power, 0.5 s time constant) still shows rolling ~0.5-1 s after the roller
    # stopped: that much of a window's start is not checked (else every hold after rolling starts late)
    tex_lag_s: float = 0.75
    # light path window: 4 s, as long as a slow stroke's half (domain.md: 4-8 s per direction), so a
    # window straddling a re-positioning or the slow part of a stroke also sees the texture of its
    # faster part; a knee bend (0.1-1 Hz) swings the load inside it around the same level as in 2 s
    light_window_s: float = 4.0
    # when the sensor noise is measured (>= 60 Hz sampling, noise.py), noise and rolling texture add in
    # power: the allowance is hypot(tex_rel x level, texture noise alone reaches), never below the fixed
    # rule. A 2 N rms cell puts ~1 N rms (peaks ~2.5 N) into the 2-6 Hz band, which vetoed every hold.
    tex_noise_scale: bool = True
    level_floor_n: float = 20.0  # level used for relative spans never below this
    ref_min_s: float = 3.0  # rolling seen before the rolling load counts as known
    ref_body_frac: float = 0.30  # rolling load assumed from body mass before any rolling (25-40 % BW)
    progress_s: float = 1.0  # hold_progress period


@dataclass
class _Acc:
    """Running statistics of a stretch of frames (sums in frame order: exact under any chunking)."""

    n: int = 0
    s: float = 0.0
    s2: float = 0.0
    x_min: float = math.inf
    x_max: float = -math.inf
    x_s: float = 0.0
    x_n: int = 0
    f_max: float = -math.inf
    # sums of force per 10 s block of absolute frame index (k // BLOCK_K): the slow part of the load, which
    # tells a limb moving rhythmically (block means flat) from creeping / unsteady pressure (block means drift)
    blk: dict[int, list[float]] = field(default_factory=dict)

    def add_blk(self, k: int, f: float) -> None:
        b = self.blk.get(k // BLOCK_K)
        if b is None:
            self.blk[k // BLOCK_K] = [f, 1]
        else:
            b[0] += f
            b[1] += 1

    @property
    def slow_cv(self) -> float:
        """Spread of the 10 s block means / mean (blocks at least half covered); NaN with fewer than 2."""
        means = [s / n for s, n in self.blk.values() if n >= BLOCK_K // 2]
        if len(means) < 2:
            return math.nan
        m = sum(means) / len(means)
        if m <= 0:
            return math.nan
        return math.sqrt(sum((v - m) ** 2 for v in means) / len(means)) / m

    def add(self, f: float, x: float | None) -> None:
        self.n += 1
        self.s += f
        self.s2 += f * f
        if f > self.f_max:
            self.f_max = f
        if x is not None:
            self.x_n += 1
            self.x_s += x
            if x < self.x_min:
                self.x_min = x
            if x > self.x_max:
                self.x_max = x

    def add_many(self, f: np.ndarray, x: np.ndarray | None, k: np.ndarray | None) -> None:
        """`add(f[i], x[i])` for each i in order (and `add_blk(k[i], f[i])` when `k` is given), at once.

        `f` finite forces (N), `x` positions (cm; NaN = none) or None, `k` frame indices or None.
        np.cumsum adds strictly in order (no pairwise summation), so the sums are bit-identical to
        adding frame by frame, whatever the run is split into.
        """
        n = len(f)
        if n == 0:
            return
        if n <= 16:  # a few frames (live streaming): numpy's per-call cost would dominate
            xs_ = [None] * n if x is None else [None if v != v else v for v in x.tolist()]
            for fv, xv in zip(f.tolist(), xs_):
                self.add(fv, xv)
            if k is not None:
                for kv, fv in zip(k.tolist(), f.tolist()):
                    self.add_blk(kv, fv)
            return
        self.n += n
        self.s = float(np.cumsum(np.concatenate(([self.s], f)))[-1])
        self.s2 = float(np.cumsum(np.concatenate(([self.s2], f * f)))[-1])
        self.f_max = max(self.f_max, float(f.max()))
        if x is not None:
            xs = x[~np.isnan(x)]
            if len(xs):
                self.x_n += len(xs)
                self.x_s = float(np.cumsum(np.concatenate(([self.x_s], xs)))[-1])
                self.x_min = min(self.x_min, float(xs.min()))
                self.x_max = max(self.x_max, float(xs.max()))
        if k is not None:
            blk = k // BLOCK_K
            cuts = np.flatnonzero(blk[1:] != blk[:-1]) + 1
            for a, b in zip(np.concatenate(([0], cuts)).tolist(), np.concatenate((cuts, [n])).tolist()):
                key = int(blk[a])
                mine = self.blk.get(key)
                if mine is None:
                    self.blk[key] = [float(np.cumsum(f[a:b])[-1]), b - a]
                else:
                    mine[0] = float(np.cumsum(np.concatenate(([mine[0]], f[a:b])))[-1])
                    mine[1] += b - a

    def merge(self, o: "_Acc") -> None:
        self.n += o.n
        self.s += o.s
        self.s2 += o.s2
        self.f_max = max(self.f_max, o.f_max)
        self.x_n += o.x_n
        self.x_s += o.x_s
        self.x_min = min(self.x_min, o.x_min)
        self.x_max = max(self.x_max, o.x_max)
        for b, (sb, nb) in o.blk.items():
            mine = self.blk.get(b)
            if mine is None:
                self.blk[b] = [sb, nb]
            else:
                mine[0] += sb
                mine[1] += nb

    @property
    def mean(self) -> float:
        return self.s / self.n if self.n else math.nan

    @property
    def cv(self) -> float:
        if self.n < 2 or self.mean <= 0:
            return math.nan
        var = max(self.s2 / self.n - self.mean**2, 0.0)
        return math.sqrt(var) / self.mean


@dataclass
class _Run:
    label: int
    start_k: int
    end_k: int  # exclusive
    acc: _Acc = field(default_factory=_Acc)


class StateMachine:
    """Streaming OFF/ROLL/HOLD state machine; `process(MotionFrames) -> events`, `finish() -> events`.

    `score_hold(stats) -> dict` is called when a hold ends with the hold's
    statistics and the context known at that moment (rolling load so far);
    `check_hold(mean_force_n, rolling_load_n) -> str | None` gives a safety
    warning while holding.
    """

    #: frames labelled per pass (bounds the work redone when a speculative reference was wrong)
    SLICE_K = 4096

    def __init__(self, has_encoder: bool, body_mass_kg: float | None = None,
                 config: StateConfig | None = None,
                 score_hold: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 check_hold: Callable[[float, float | None], str | None] | None = None,
                 contact_on_n: float = 25.0, progress_events: bool = True,
                 hold_limit: Callable[[float | None], float] | None = None) -> None:
        self.cfg = config or StateConfig()
        self.has_encoder = has_encoder
        self.body_mass_kg = body_mass_kg
        self.score_hold = score_hold
        self.check_hold = check_hold
        self.contact_on_n = contact_on_n
        # False: no hold_progress events are made (analyze() keeps none); the safety check still runs at
        # the same ticks, so warnings and everything else are identical
        self.progress_events = progress_events
        # optional: the mean force (N) above which check_hold(f, rolling_load) warns (it must warn exactly
        # when f > hold_limit(rolling_load)); lets a long still run find its first warning tick with numpy
        self.hold_limit = hold_limit
        c = self.cfg
        self.w_enc = frames_in(ENC_WINDOW_S)
        self.w_s = frames_in(SHORT_WINDOW_S)
        self.w_l = frames_in(LONG_WINDOW_S)
        self.delay = (self.w_enc if has_encoder else max(self.w_s, self.w_l, frames_in(c.light_window_s))) - 1
        self.blip_k = int(round((c.blip_s_encoder if has_encoder else c.blip_s_force) / FRAME_S))
        self.gap_k = int(round(c.gap_bridge_s / FRAME_S))
        self.long_gap_k = int(round(c.long_gap_bridge_s / FRAME_S))
        self.drop_k = int(round(c.dropout_s / FRAME_S))
        self.hold_k = int(round(c.min_hold_s / FRAME_S))
        self.ref_k = int(round(c.ref_min_s / FRAME_S))
        # Light path window (force only): 2 s of force features from motion.py, widened here by trailing
        # max/min when light_window_s is longer.
        self.w_light = max(frames_in(c.light_window_s), self.w_s)
        self._light_hi = _Trailing(self.w_light - self.w_s + 1, "max")
        self._light_lo = _Trailing(self.w_light - self.w_s + 1, "min")
        # Trailing max of texture / its allowance over each still window (force only): a window is still
        # only when the roller travelled nowhere inside it, not just at its last frame. The texture
        # envelope lags the motion: texture in a window's first `tex_lag_s` belongs to motion before the
        # window (the decaying tail of the rolling before a hold), so it is not checked.
        lag_k = frames_in(c.tex_lag_s)
        self._tex_s = _Trailing(max(self.w_light - lag_k, 1), "max")
        self._tex_q = _Trailing(max(self.w_l - lag_k, 1), "max")
        self._rev_light = _TrailingSum(self.w_light)
        # labeller: frames not yet consumed by the segmenter, as columns
        # (k, t_s, base label, force_n, x_cm or None, steady, light_ok, mid_s); bounded by the labelling delay
        self._buf: tuple[np.ndarray | None, ...] = (np.empty(0, np.int64),) + (None,) * 7
        self._k_next = 0  # first frame not yet consumed by the segmenter
        self._k_start = 0  # first frame of the stream
        self._k_rel = -1  # frame at whose arrival the last consumed frame was released
        self._t_newest = math.nan  # time of the newest frame (of the frame being released, while segmenting)
        self._w_steady = self.w_enc if has_encoder else self.w_l
        # light-path reference (see the module docstring): per block of REF_BLOCK_K frames, the reference
        # the segmenter had when it reached the block's reference frame (block start - ref_lag_k)
        self.ref_block_k = REF_BLOCK_K
        self.ref_lag_k = self.delay + 1
        self._use_ref = not has_encoder  # only the force-only light path uses it
        self._snap: dict[int, float] = {}  # block -> reference (N; NaN: none), recent blocks only
        self._ref_start = math.nan  # reference before the first frame
        self._spec_ref = math.nan  # reference the labeller assumed for blocks not reached yet
        self._halt = False  # a speculative reference was wrong: stop segmenting, relabel
        self.relabels = 0  # how often that happened (diagnostics, tests)
        self._need_cs: np.ndarray | None = None  # per labelled slice (see _label)
        # segmenter
        self._cur: _Run | None = None
        self._pend: _Run | None = None
        self._hold_confirmed = False
        self._hold_warned = False
        self._last_progress_t = math.nan
        self.segments: list[list[Any]] = []  # [kind, start_k, end_k]
        self.holds: list[dict[str, Any]] = []
        self.roll = _Acc()  # frames finalised as roll (loaded)
        self.first_x: float | None = None  # roller position at the session's first contact
        self.t_first_s: float | None = None
        self.t_last_s: float | None = None

    # ---- rolling load -------------------------------------------------------------------
    @property
    def rolling_load_n(self) -> float | None:
        """Mean force over everything finalised as rolling so far (None before enough rolling)."""
        return self.roll.mean if self.roll.n >= self.ref_k else None

    def _ref_n(self) -> float | None:
        r = self.rolling_load_n
        if r is not None:
            return r
        if self.body_mass_kg:
            return self.cfg.ref_body_frac * self.body_mass_kg * G_N_PER_KG
        return None

    # ---- labeller -------------------------------------------------------------------------
    def _ref_value(self) -> float:
        """The light path's reference now (N): `_ref_n()`, NaN when there is none."""
        r = self._ref_n()
        return math.nan if r is None else r

    def process(self, mf: MotionFrames) -> list[Event]:
        """Feed motion frames (consecutive, in order); returns the events they made decidable."""
        fr = mf.frames
        n = len(fr)
        if n == 0:
            return []
        events: list[Event] = []
        if self.t_first_s is None:
            self.t_first_s = float(fr.t_s[0])
            self._k_start = self._k_next = int(fr.k[0])
            self._ref_start = self._ref_value()
        self.t_last_s = float(fr.t_s[-1])
        base = np.where(~fr.valid, MISSING, np.where(fr.loaded, MOVE, OFF)).astype(np.int8)
        steady, light_ok, mid_s, self._w_steady = self._candidates(mf)
        cols = (fr.k, fr.t_s, base, fr.force_n, fr.x_cm, steady, light_ok, mid_s)
        if len(self._bk):
            cols = tuple(None if c is None else np.concatenate((b, c)) for b, c in zip(self._buf, cols))
        self._buf = cols
        self._t_newest = self.t_last_s
        self._run(events, final=False)
        self._t_newest = self.t_last_s
        return events

    @property
    def _bk(self) -> np.ndarray:
        return self._buf[0]

    def _run(self, events: list[Event], final: bool) -> None:
        """Label and hand to the segmenter every buffered frame whose release is decided."""
        while len(self._bk):
            nb = len(self._bk)
            m = min(nb, self.SLICE_K)
            last = m == nb
            lab, rel, n_ok = self._label(m, final and last)
            if n_ok == 0:
                break
            done = self._consume(events, m, lab, rel, n_ok)
            self._k_rel = self._k_next + int(rel[done - 1])
            self._buf = tuple(None if c is None else c[done:] for c in self._buf)
            self._k_next += done
            if len(self._snap) > 64:  # the labeller needs references of blocks with frames not yet consumed only
                lo_b = self._k_next // self.ref_block_k
                self._snap = {b: r for b, r in self._snap.items() if b >= lo_b}
            if last and not self._halt:
                break  # the rest waits for later frames

    def _label(self, m: int, final: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """Labels and release frames of the first `m` buffered frames.

        Returns (labels, release index, n): frame i (buffer index) is released when frame
        `release[i]` arrives; the first `n` frames have a known release (the rest wait).
        References of blocks whose reference frame the segmenter has not reached yet are taken as
        the reference now ("speculative"); `_consume` checks them when it gets there.
        """
        k, _t, base, _f, _x, steady, lo, ms = (c[:m] if c is not None else None for c in self._buf)
        R, L = self.ref_block_k, self.ref_lag_k
        c0 = self._k_next
        self._spec_ref = ref_now = self._ref_value()
        b0 = int(k[0]) // R
        b1 = int(k[-1]) // R
        # steady: 0 -- a still window at any load; a level (N) -- still if below steady_light_frac x the
        # reference (as the light path's level against light_frac x the reference); inf -- not still
        st_any = steady == 0.0
        st_ref = (steady > 0.0) & (steady < math.inf)
        self._need_cs = None  # (made by _record_refs when it needs it, for this slice)
        if self._use_ref and (lo.any() or st_ref.any()):
            refs = np.full(b1 - b0 + 1, ref_now)
            for b in range(b0, min(b1, (c0 + L - 1) // R) + 1):  # reference frame already consumed
                refs[b - b0] = self._snap_of(b)
            r_fr = refs[k // R - b0]
            with np.errstate(invalid="ignore"):
                light = lo & (ms < self.cfg.light_frac * r_fr)
                still_l = st_any | (st_ref & (steady < self.cfg.steady_light_frac * r_fr))
        else:
            light = np.zeros(m, bool)
            still_l = st_any
        idx = np.arange(m)
        big = _BIG
        k_cov = np.full(m, big)
        for cand, w in ((still_l, self._w_steady), (light, self.w_light)):
            if cand.any():  # first window end k >= i with a still window over frame i
                nxt = np.minimum.accumulate(np.where(cand, idx, big)[::-1])[::-1]
                k_cov = np.minimum(k_cov, np.where(nxt - idx <= w - 1, nxt, big))
        move = base == MOVE
        lab = np.where(move & (k_cov < big), STILL, base)
        rel = np.where(move, np.minimum(k_cov, idx + self.delay), idx)
        rel = np.minimum(rel, m - 1) if final else np.where(rel <= m - 1, rel, big)
        # released in order: never before the last consumed frame (which matters after a relabel)
        rel[0] = max(int(rel[0]), self._k_rel - self._k_next)
        rel = np.maximum.accumulate(rel)
        n_ok = int(np.searchsorted(rel, big))
        return lab, rel, n_ok

    def _snap_of(self, b: int) -> float:
        r = self._snap.get(b)
        if r is None:
            # only blocks whose reference frame precedes the stream have none recorded
            assert b * self.ref_block_k - self.ref_lag_k < self._k_start, b
            return self._ref_start
        return r

    def _record_refs(self, k_a: int, k_b: int, m: int, refs: np.ndarray | float) -> int:
        """Record references of blocks whose reference frame p lies in [k_a, k_b) (`refs`: one value, or
        per frame of [k_a, k_b) the reference before that frame) and check the speculative ones.

        Returns the frame (absolute index) the segmenter must stop before (k_b when all checks pass):
        when a block's real reference decides one of its light windows otherwise than the speculative
        one did, labels from the block's first light window on were wrong and are redone.
        """
        if not self._use_ref:
            return k_b
        R, L = self.ref_block_k, self.ref_lag_k
        b_lo = -(-(k_a + L) // R)
        b_hi = -(-(k_b + L) // R)  # exclusive
        if b_lo >= b_hi:
            return k_b
        spec = self._spec_ref
        if not isinstance(refs, np.ndarray):  # one value over the step (the common case)
            if refs == spec or (refs != refs and spec != spec):
                self._snap.update(dict.fromkeys(range(b_lo, b_hi), refs))
                return k_b
            bs = np.arange(b_lo, b_hi)
            r = np.full(len(bs), refs)
        else:
            bs = np.arange(b_lo, b_hi)
            r = refs[bs * R - L - k_a]
        stop = k_b
        k0 = self._k_next
        i0, i1 = max(b_lo * R - k0, 0), min(b_hi * R - k0, m)  # this slice's frames of these blocks
        # (blocks without light or reference-dependent steady candidates: nothing to check)
        if i1 > i0 and self._need_cs is None:
            # frames of the slice whose still windows depend on the reference, counted (prefix sums)
            st = self._buf[5][:m]
            self._need_cs = np.concatenate(([0], np.cumsum(self._buf[6][:m] | ((st > 0.0) & (st < math.inf)))))
        if i1 > i0 and self._need_cs[i1] > self._need_cs[i0]:
            st = self._buf[5][i0:i1]
            st_ref = (st > 0.0) & (st < math.inf)
            lo, ms = self._buf[6][i0:i1], self._buf[7][i0:i1]
            lf, sf = self.cfg.light_frac, self.cfg.steady_light_frac
            with np.errstate(invalid="ignore"):
                # (one value over the step: the same products and comparisons with a scalar)
                r_fr = refs if not isinstance(refs, np.ndarray) else r[(k0 + i0 + np.arange(i1 - i0)) // R - b_lo]
                wrong = lo & ((ms < lf * r_fr) != (ms < lf * spec))
                wrong |= st_ref & ((st < sf * r_fr) != (st < sf * spec))
            if wrong.any():
                b = (k0 + i0 + int(np.argmax(wrong))) // R
                # first frame a still window of block b can cover (both windows are <= ref_lag_k long)
                stop = min(b * R - max(self.w_light, self._w_steady) + 1, k_b)
                self._halt = True
                self.relabels += 1
                n_keep = int(np.searchsorted(bs * R - L, stop))  # references of frames before the stop
                bs, r = bs[:n_keep], r[:n_keep]
        self._snap.update(zip(bs.tolist(), r.tolist()))
        return stop

    def _consume(self, events: list[Event], m: int, lab: np.ndarray, rel: np.ndarray, n_ok: int) -> int:
        """Segment buffered frames 0..n_ok-1 run by run; returns how many were consumed."""
        k, t, _b, f, x = self._buf[:5]
        k0 = self._k_next
        tn = t[rel[:n_ok]]  # time of the frame at whose arrival each frame was released
        cuts = np.flatnonzero(lab[1:n_ok] != lab[: n_ok - 1]) + 1
        ends = np.concatenate((cuts, [n_ok])).tolist()
        ci = 0
        i = 0
        self._halt = False
        while i < n_ok and not self._halt:
            while ends[ci] <= i:
                ci += 1
            e = ends[ci]
            lb = int(lab[i])
            cur, pend = self._cur, self._pend
            if pend is None and cur is not None and cur.label == lb:
                R, L = self.ref_block_k, self.ref_lag_k
                if lb == MOVE and self._use_ref and (k0 + i + L - 1) // R < (k0 + e + L - 1) // R:
                    # the rolling load moves along the run: the reference at each block's reference frame
                    e2 = self._record_refs(k0 + i, k0 + e, m, self._roll_refs(i, e)) - k0
                else:
                    e2 = self._record_refs(k0 + i, k0 + e, m, self._ref_value()) - k0
                self._run_fast(events, lb, i, e2, tn)
            elif pend is not None and pend.label == lb:
                trig = self._pend_trigger(cur, pend, i, e)
                e_step = e if trig is None else trig + 1
                e2 = self._record_refs(k0 + i, k0 + e_step, m, self._ref_value()) - k0
                e_bulk = e2 if trig is None else min(trig, e2)
                if e_bulk > i:
                    self._grow_pend(pend, lb, i, e_bulk)
                if trig is not None and trig < e2:
                    self._one(events, trig, lb, tn)
            else:
                e2 = self._record_refs(k0 + i, k0 + i + 1, m, self._ref_value()) - k0
                self._one(events, i, lb, tn)
            i = e2
        return i

    def _one(self, events: list[Event], i: int, lb: int, tn: np.ndarray) -> None:
        """One frame through the general segmenter (transitions, bridging)."""
        k, t, _b, f, x = self._buf[:5]
        self._t_newest = float(tn[i])
        self._segment(events, int(k[i]), float(t[i]), lb, float(f[i]), None if x is None else float(x[i]))

    def _roll_refs(self, i: int, e: int) -> np.ndarray:
        """Reference before each frame of a roll run i..e-1 that goes on the current roll run."""
        f = self._buf[3][i:e]
        with np.errstate(invalid="ignore"):
            use = f >= self.contact_on_n  # (NaN: False)
        roll = self.roll
        cnt = np.concatenate(([0], np.cumsum(use)))[:-1]  # roll frames before each frame
        n = roll.n + cnt
        s = np.cumsum(np.concatenate(([roll.s], f[use])))[cnt]
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = np.where(n >= self.ref_k, s / np.maximum(n, 1), math.nan)
        if self.body_mass_kg:
            ref = np.where(n >= self.ref_k, ref, self.cfg.ref_body_frac * self.body_mass_kg * G_N_PER_KG)
        return ref

    def _run_fast(self, events: list[Event], lb: int, i: int, e: int, tn: np.ndarray) -> None:
        """Frames i..e-1 continue the current run (label `lb`, nothing pending): the common case."""
        k, _t, _b, f, x = self._buf[:5]
        cur = self._cur
        cur.end_k = int(k[e - 1]) + 1
        if lb < MOVE:
            return
        fs = f[i:e]
        a = cur.acc
        if lb == MOVE and x is None and e - i > 16:
            with np.errstate(invalid="ignore"):
                all_roll = bool((fs >= self.contact_on_n).all())  # (NaN: False)
            if all_roll:
                # every frame is loaded rolling: the run's and the rolling load's sums in one cumsum over
                # four rows (accumulate adds strictly in order along each row: the same sums as below)
                r = self.roll
                buf = np.empty((4, e - i + 1))
                buf[:, 0] = (a.s, a.s2, r.s, r.s2)
                buf[0, 1:] = fs
                np.multiply(fs, fs, out=buf[1, 1:])
                buf[2, 1:] = fs
                buf[3, 1:] = buf[1, 1:]
                a.s, a.s2, r.s, r.s2 = np.cumsum(buf, axis=1)[:, -1].tolist()
                f_max = float(fs.max())
                a.n += e - i
                a.f_max = max(a.f_max, f_max)
                r.n += e - i
                r.f_max = max(r.f_max, f_max)
                return
        fin = ~np.isnan(fs)
        if lb == STILL:
            self._ticks(events, cur, k[i:e], fs, fin, tn[i:e])
        fv = fs[fin]
        a.add_many(fv, None if x is None else x[i:e][fin], k[i:e][fin] if lb == STILL else None)
        if lb == MOVE:
            with np.errstate(invalid="ignore"):
                rv = fs[fs >= self.contact_on_n]
            if 0 < len(rv) <= 16:
                for fv in rv.tolist():
                    self.roll.add(fv, None)
            elif len(rv):
                r = self.roll
                r.n += len(rv)
                r.s = float(np.cumsum(np.concatenate(([r.s], rv)))[-1])
                r.s2 = float(np.cumsum(np.concatenate(([r.s2], rv * rv)))[-1])
                r.f_max = max(r.f_max, float(rv.max()))

    def _ticks(self, events: list[Event], cur: _Run, kk: np.ndarray, fs: np.ndarray, fin: np.ndarray,
               tn: np.ndarray) -> None:
        """`_tick` after each frame of a still run (before its statistics are added): confirmation
        when the run passes min_hold_s, a progress event every progress_s (`t_s` = release time)."""
        c = self.cfg
        start = cur.start_k
        t_start = self._t_of(start)
        q = 0
        if not self._hold_confirmed:
            q = int(np.searchsorted(kk, start + self.hold_k))  # first frame with end - start > hold_k
            if q >= len(kk):
                return
            tq = float(tn[q])
            self._hold_confirmed = True
            self._emit_kind(events, "hold", start, tq)
            events.append(HoldStarted(tq, t_start))
            self._last_progress_t = t_start + c.min_hold_s - c.progress_s
        tka = (kk + 1) * FRAME_S  # end of the run after each frame (s), as in _tick
        nt = len(tka)
        thr = c.progress_s - 1e-9
        last = self._last_progress_t
        # first frame with tk - last >= thr (monotone in tk): bisect close to it, then step exactly
        j = max(q, int(np.searchsorted(kk, (last + thr) / FRAME_S - 2.0)))
        while j < nt and not (float(tka[j]) - last >= thr):
            j += 1
        if j >= nt:
            return
        step = max(1, int(round(c.progress_s / FRAME_S)))
        # the frames that fire: after one at j, the first j2 > j with tk[j2] - tk[j] >= thr. Guessed as every
        # `step` frames, then checked with that very comparison (else found one by one, as _tick does)
        js = np.arange(j, nt, step)
        with np.errstate(invalid="ignore"):
            if not (((tka[js[1:]] - tka[js[:-1]]) >= thr).all() and ((tka[js[1:] - 1] - tka[js[:-1]]) < thr).all()
                    and not (tka[nt - 1] - tka[js[-1]] >= thr)):
                fire = [j]
                while True:
                    lj = tka[fire[-1]]
                    j2 = min(fire[-1] + step, nt)
                    while j2 - 1 > fire[-1] and tka[j2 - 1] - lj >= thr:
                        j2 -= 1
                    while j2 < nt and not (tka[j2] - lj >= thr):
                        j2 += 1
                    if j2 >= nt:
                        break
                    fire.append(j2)
                js = np.array(fire)
        # mean force of the run after each firing frame (cumsum adds in order, as frame by frame)
        cnt = np.cumsum(fin)[js]
        csum = np.cumsum(np.concatenate(([cur.acc.s], fs[fin])))[cnt]
        n_j = cur.acc.n + cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            means_a = np.where(n_j > 0, csum / n_j, math.nan)
        means = means_a.tolist()
        lasts = tka[js].tolist()
        tjs = tn[js].tolist()
        self._last_progress_t = lasts[-1]
        if self.progress_events:
            events.extend(HoldProgress(tj, t_start, round(lt - t_start, 3), round(mean, 2))
                          for tj, lt, mean in zip(tjs, lasts, means))
        if self.check_hold is not None and not self._hold_warned:
            roll_n = self.rolling_load_n  # (constant while a still run goes on)
            i0 = 0
            if self.hold_limit is not None:  # no tick before the first one above the limit warns
                over = np.flatnonzero(means_a > self.hold_limit(roll_n))
                i0 = int(over[0]) if len(over) else len(means)
            for i in range(i0, len(means)):
                msg = self.check_hold(means[i], roll_n)
                if msg:
                    self._hold_warned = True
                    w = WarningEvent(tjs[i], msg)
                    if self.progress_events:  # right after its progress event
                        events.insert(len(events) - len(means) + i + 1, w)
                    else:
                        events.append(w)
                    break

    def _pend_trigger(self, cur: _Run, pend: _Run, i: int, e: int) -> int | None:
        """First frame of i..e-1 (same label as the pending excursion) at which the excursion stands on
        its own: longer than it may be bridged, or (encoder) the roller left the hold's spot."""
        k, x = self._buf[0], self._buf[4]
        over = (k[i:e] + 1 - pend.start_k) > self._bridge_limit(cur.label, pend.label)
        if cur.label == STILL and x is not None and cur.acc.x_n:
            with np.errstate(invalid="ignore"):
                over |= np.abs(x[i:e] - cur.acc.x_s / cur.acc.x_n) > self.cfg.rock_cm
        j = int(np.argmax(over))
        return i + j if over[j] else None

    def _grow_pend(self, pend: _Run, lb: int, i: int, e: int) -> None:
        """Frames i..e-1 extend the pending excursion (as `_segment` does frame by frame)."""
        k, _t, _b, f, x = self._buf[:5]
        pend.end_k = int(k[e - 1]) + 1
        if lb not in (STILL, MOVE):
            return
        if self.first_x is None and x is not None:
            xs = x[i:e][~np.isnan(x[i:e])]
            if len(xs):
                self.first_x = float(xs[0])
        fs = f[i:e]
        fin = ~np.isnan(fs)
        pend.acc.add_many(fs[fin], None if x is None else x[i:e][fin], k[i:e][fin] if lb == STILL else None)

    def _candidates(self, mf: MotionFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Still-window candidates that do not depend on the rolling load (vectorised).

        Returns (steady, light_ok, mid_s, w_steady): `steady[k]` -- the window of `w_steady` frames
        ending at k is still: 0.0 whatever the rolling load, a level (N) when it is still only if that
        level is below the rolling load (`steady_light_frac`), inf when it is not still;
        `light_ok[k]` -- the light window ending at k is still if its level `mid_s[k]` (N) is light
        against the rolling load.
        """
        fr = mf.frames
        n = len(fr)
        c = self.cfg
        with np.errstate(invalid="ignore"):
            if self.has_encoder:
                # a window ending in a gap saw no motion only because nothing was measured
                enc_still = (mf.x_rng_cm < c.enc_still_cm) & fr.valid & np.isfinite(fr.x_cm)
                light_ok = np.zeros(n, bool)
                mid_s = np.zeros(n)
                steady = np.where(enc_still, 0.0, math.inf)
            else:
                hi_s = self._light_hi.process(mf.f_hi_s)[0]
                lo_s = self._light_lo.process(mf.f_lo_s)[1]
                mid_s = np.maximum(0.5 * (hi_s + lo_s), c.level_floor_n)
                mid_l = np.maximum(0.5 * (mf.f_hi_l + mf.f_lo_l), c.level_floor_n)
                tex_lim = c.tex_rel * mid_s + c.tex_floor_n
                if c.tex_noise_scale:  # fmax: NaN (noise not measured, e.g. 10 Hz) keeps the fixed rule
                    tex_lim = np.fmax(tex_lim, np.hypot(c.tex_rel * mid_s, mf.tex_noise_n))
                tex_x = mf.tex_n / tex_lim
                if c.tex_whole_window:
                    tex_ok_s = self._tex_s.process(tex_x)[0] < 1.0
                    # the steady path's 8 s window keeps the end-frame check: over 8 s the texture of
                    # sensor noise and link-gap edges (10 Hz sampling) peaks above the allowance too
                    # often, which split long holds (measured: long and gaps families lost 0.1-0.15 F1)
                    tex_ok_l = tex_x < 1.0
                else:
                    tex_ok_s = tex_ok_l = tex_x < 1.0
                span_l = mf.f_hi_l - mf.f_lo_l
                ok_l = tex_ok_l & fr.valid
                # quiet: 8 s without a trace of rolling texture (below quiet_tex of the allowance all along),
                # load swinging less than quiet_rel -- a hold with knee bends (10-30 % load shifts, no travel)
                quiet = (self._tex_q.process(tex_x)[0] < c.quiet_tex) & fr.valid & (span_l < c.quiet_rel * mid_l)
                periodic = quiet & (mf.rev_l >= c.quiet_rev_min)
                below = ok_l & (span_l < c.steady_rel * mid_l)  # still if below the rolling load
                if c.quiet_nonperiodic:
                    below |= quiet
                # steady holds an effective level, compared with steady_light_frac x the rolling load:
                # a periodic quiet window may be as heavy as quiet_frac x the rolling load
                lvl = np.where(below, mid_l, math.inf)
                lvl = np.minimum(lvl, np.where(periodic, mid_l * (c.steady_light_frac / c.quiet_frac), math.inf))
                steady = np.where(ok_l & (span_l < c.steady_rel_heavy * mid_l), 0.0, lvl)
                span_s = hi_s - lo_s
                light_ok = tex_ok_s & (span_s < c.light_rel * mid_s) & fr.valid
                if c.light_rev_min:
                    # a light window whose load swings widely but one way (a slow stroke's ramp) is not a
                    # hold: a limb moving during a hold swings the load back and forth
                    rev_s = self._rev_light.process(mf.rev_ch)
                    light_ok &= (span_s < c.light_mono_rel * mid_s) | (rev_s >= c.light_rev_min)
        w_steady = self.w_enc if self.has_encoder else self.w_l
        return steady, light_ok, mid_s, w_steady

    # ---- segmenter ------------------------------------------------------------------------
    def _resumes(self, cur: _Run, fv: float, xv: float | None) -> bool:
        """After a long gap: does the current state plausibly continue (not a new spot / load)?"""
        if cur.label != STILL:
            return True
        if xv is not None and xv == xv and cur.acc.x_n:
            return abs(xv - cur.acc.x_s / cur.acc.x_n) <= self.cfg.rock_cm
        m = cur.acc.mean
        return m == m and abs(fv - m) <= 0.25 * m

    def _bridge_limit(self, cur: int, p: int) -> int:
        if p == MISSING:
            return self.long_gap_k
        if p == OFF and cur in (STILL, MOVE):
            return self.drop_k
        if p == MOVE and cur == STILL:
            return self.blip_k
        return -1

    def _segment(self, events: list[Event], k: int, t: float, lab: int, fv: float, xv: float | None) -> None:
        if lab in (STILL, MOVE) and self.first_x is None and xv is not None and xv == xv:
            self.first_x = xv
        cur, pend = self._cur, self._pend
        if cur is None:
            self._cur = _Run(lab, k, k)
            self._begin(events, self._cur, t)
            self._add(events, self._cur, k, lab, fv, xv, t)
            return
        if pend is not None and pend.label == MISSING and lab != MISSING:
            # end of a link gap: short ones are bridged whatever follows; longer ones only when the
            # same state resumes (a hold: on the same spot / at the same load) -- else it counts as off
            n_gap = pend.end_k - pend.start_k
            if n_gap <= self.gap_k or (lab == cur.label and self._resumes(cur, fv, xv)):
                self._absorb(events, cur, pend)
                self._pend = None
            else:
                self._commit(events, pend, t)
            cur, pend = self._cur, self._pend
        if pend is not None:
            if lab == cur.label:  # excursion returned: bridged
                self._absorb(events, cur, pend)
                self._pend = None
            elif lab == pend.label:
                pend.end_k = k + 1
                self._acc_frame(pend, lab, fv, xv, k)
                if pend.end_k - pend.start_k > self._bridge_limit(cur.label, pend.label) or self._travelled(cur, xv):
                    self._commit(events, pend, t)
                return
            elif pend.label in (MISSING, OFF) and lab in (STILL, MOVE):
                # a short gap / dropout, then loaded again in another state: the gap belongs to
                # what came before it (bridged); the new state starts after it
                self._absorb(events, cur, pend)
                self._pend = None
            else:  # a third label: the excursion did not return, it stands on its own
                self._commit(events, pend, t)
                cur, pend = self._cur, None
        if lab == cur.label:
            self._add(events, cur, k, lab, fv, xv, t)
            return
        new = _Run(lab, k, k + 1)
        self._acc_frame(new, lab, fv, xv, k)
        if self._bridge_limit(cur.label, lab) >= 1 and not (lab == MOVE and self._travelled(cur, xv)):
            self._pend = new
        else:
            self._commit(events, new, t)

    def _travelled(self, cur: _Run, xv: float | None) -> bool:
        """Encoder: the roller left the hold's spot (beyond rocking distance) -- travel, not a fidget."""
        if cur.label != STILL or xv is None or cur.acc.x_n == 0:
            return False
        return abs(xv - cur.acc.x_s / cur.acc.x_n) > self.cfg.rock_cm

    def _acc_frame(self, run: _Run, lab: int, fv: float, xv: float | None, k: int) -> None:
        if lab in (STILL, MOVE) and fv == fv:
            run.acc.add(fv, xv if xv == xv else None)  # NaN position: encoder reading missing
            if lab == STILL:
                run.acc.add_blk(k, fv)

    def _add(self, events: list[Event], run: _Run, k: int, lab: int, fv: float, xv: float | None,
             t: float) -> None:
        run.end_k = k + 1
        self._acc_frame(run, lab, fv, xv, k)
        if lab == MOVE and fv == fv and fv >= self.contact_on_n:
            self.roll.add(fv, None)
        self._tick(events, t)

    def _absorb(self, events: list[Event], cur: _Run, pend: _Run) -> None:
        cur.acc.merge(pend.acc)
        if cur.label == MOVE:
            self._roll_merge(pend.acc)
        cur.end_k = pend.end_k

    def _roll_merge(self, acc: _Acc) -> None:
        self.roll.merge(acc)

    def _kind(self, run: _Run) -> str | None:
        if run.label in (OFF, MISSING):
            return "off"
        if run.label == MOVE:
            return "roll"
        return "hold" if self._hold_confirmed else None

    def _begin(self, events: list[Event], run: _Run, t: float) -> None:
        self._hold_confirmed = False
        self._hold_warned = False
        kind = self._kind(run)
        if kind is not None:
            self._emit_kind(events, kind, run.start_k, t)

    def _emit_kind(self, events: list[Event], kind: str, start_k: int, t: float) -> None:
        if self.segments and self.segments[-1][0] == kind:
            return
        prev = self.segments[-1][0] if self.segments else "off"
        if self.segments:
            self.segments[-1][2] = start_k
        self.segments.append([kind, start_k, None])
        if kind != prev:
            events.append(StateEvent(t, kind, prev, self._t_of(start_k)))

    def _t_of(self, k: int) -> float:
        t = k * FRAME_S
        if self.t_first_s is not None and t < self.t_first_s:
            return self.t_first_s
        return t

    def _tick(self, events: list[Event], t: float) -> None:
        """Per released frame of the current run: hold confirmation and progress."""
        cur = self._cur
        if cur is None or cur.label != STILL:
            return
        dur_k = cur.end_k - cur.start_k
        if not self._hold_confirmed and dur_k > self.hold_k:  # newest frame >= 5 s after the start
            self._hold_confirmed = True
            self._emit_kind(events, "hold", cur.start_k, self._t_newest)
            events.append(HoldStarted(self._t_newest, self._t_of(cur.start_k)))
            self._last_progress_t = self._t_of(cur.start_k) + self.cfg.min_hold_s - self.cfg.progress_s
        if self._hold_confirmed:
            tk = cur.end_k * FRAME_S
            if tk - self._last_progress_t >= self.cfg.progress_s - 1e-9:
                self._last_progress_t = tk
                if self.progress_events:
                    events.append(HoldProgress(self._t_newest, self._t_of(cur.start_k),
                                               round(tk - self._t_of(cur.start_k), 3), round(cur.acc.mean, 2)))
                if self.check_hold is not None and not self._hold_warned:
                    msg = self.check_hold(cur.acc.mean, self.rolling_load_n)
                    if msg:
                        self._hold_warned = True
                        events.append(WarningEvent(self._t_newest, msg))

    def _commit(self, events: list[Event], new: _Run, t: float) -> None:
        """The current run ended where `new` starts; `new` becomes the current run."""
        self._close(events, self._cur, t)
        self._cur, self._pend = new, None
        self._begin(events, new, t)
        if new.label == MOVE:
            self._roll_merge(new.acc)
        self._tick(events, t)

    def _close(self, events: list[Event], run: _Run | None, t: float) -> None:
        if run is None:
            return
        if run.label == STILL:
            if run.end_k - run.start_k >= self.hold_k:
                if not self._hold_confirmed:  # (finish() on a run confirmed only now)
                    self._hold_confirmed = True
                    self._emit_kind(events, "hold", run.start_k, t)
                    events.append(HoldStarted(t, self._t_of(run.start_k)))
                hold = self._hold_dict(run)
                self.holds.append(hold)
                events.append(HoldEnded(t, hold))
            else:  # too short for a hold: a pause in rolling
                self._emit_kind(events, "roll", run.start_k, t)
                self.roll.merge(run.acc)

    def _hold_dict(self, run: _Run) -> dict[str, Any]:
        a = run.acc
        start_s = self._t_of(run.start_k)
        end_s = run.end_k * FRAME_S
        travel = None
        spot = None
        if self.has_encoder and a.x_n:
            travel = a.x_max - a.x_min
            spot = a.x_s / a.x_n - (self.first_x or 0.0)
        stats = {"start_s": start_s, "end_s": end_s, "duration_s": end_s - start_s,
                 "mean_force_n": a.mean, "force_cv": a.cv, "slow_cv": a.slow_cv, "max_force_n": a.f_max,
                 "travel_cm": travel, "spot_cm": spot, "rolling_load_n": self.rolling_load_n,
                 "body_mass_kg": self.body_mass_kg}
        if self.score_hold is not None:
            return self.score_hold(stats)
        return stats

    def finish(self) -> list[Event]:
        """End of stream: release every frame, close the open run, end the last segment."""
        events: list[Event] = []
        self._run(events, final=True)
        self._t_newest = t = self.t_last_s if self.t_last_s is not None else math.nan
        if self._pend is not None:
            self._commit(events, self._pend, t)
        self._close(events, self._cur, t)
        self._cur = None
        return events

    def segment_list(self, t_end_s: float) -> list[dict[str, Any]]:
        """Segments tiling [first sample, `t_end_s`] (after finish())."""
        out: list[dict[str, Any]] = []
        for i, (kind, k0, k1) in enumerate(self.segments):
            s = self._t_of(k0) if i else (self.t_first_s or 0.0)
            e = t_end_s if (k1 is None or i == len(self.segments) - 1) else k1 * FRAME_S
            if out and out[-1]["kind"] == kind:
                out[-1]["end_s"] = e
                continue
            if e > s or not out:
                out.append({"kind": kind, "start_s": s, "end_s": max(e, s)})
        return out
