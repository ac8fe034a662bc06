"""State machine OFF / ROLL / HOLD over frames, with bridging and back-dated holds.

Two layers, both a single pass over frames in time order (the only per-frame
Python loop of the detector; it runs at the 20 Hz frame rate, not the sample
rate, and does a handful of comparisons per frame):

1. Labeller. Each frame gets one label: MISSING (no trustworthy sample near
   it), OFF (nobody on the roller), STILL or MOVE. A frame is STILL when some
   *still window* covers it (morphological opening: a window is still when
   what it saw was still; every frame inside such a window is still). Still
   windows come from the motion features (see motion.py):

   * encoder: the roller spanned < `enc_still_cm` within 0.5 s;
   * force only, "steady" path: 8 s in which force stayed within
     `steady_rel` of its level and no rolling texture -- catches holds at any
     load, including holds as heavy as rolling;
   * force only, "light" path: 2 s at a level clearly below the rolling load
     seen so far (`light_frac`), swinging less than `light_rel`, no rolling
     texture -- a person holding light while bending the knee shifts load by
     10-30 % but stays far below their rolling load.

   Covered frames are released at once; a frame is released as MOVE only
   when no window that could still cover it is left (latency = window length).

2. Segmenter. Runs of equal labels, with bridging: a MISSING run up to
   `gap_bridge_s` continues whatever was before it (link gaps, dropouts); an
   OFF run up to `dropout_s` inside a loaded stretch is a dropout, not a
   step-off; a MOVE run up to `blip_s` between STILL runs is a fidget, not
   motion. A STILL run that lasts `min_hold_s` (5 s) is a hold from its first
   frame (back-dated); shorter STILL runs (the pause at a stroke reversal, a
   brief stop while re-positioning) are rolling. Re-positioning -- 1-4 s of
   irregular loaded motion between two spots -- is longer than a fidget, so
   it splits two holds and is labelled roll.

The session's rolling load (mean force over frames finalised as roll) is
carried here; it feeds the light path and the scoring, both using only what
was seen so far, so live and offline results agree exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .events import Event, HoldEnded, HoldProgress, HoldStarted, StateEvent, WarningEvent
from .frames import FRAME_S
from .motion import (ENC_WINDOW_S, LONG_WINDOW_S, SHORT_WINDOW_S, TEXTURE_TAU_S, MotionFrames, _Trailing,
                     frames_in)

MISSING, OFF, MOVE, STILL = 0, 1, 2, 3
G_N_PER_KG = 9.80665
BLOCK_K = 200  # 10 s of frames: longer than a knee-bend cycle (0.1-1 Hz), shorter than a creep or a shift


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
    steady_light_frac: float = 0.85  # "below the rolling load": clearly below it (holds 10-25 % vs rolling 25-40 % BW)
    light_frac: float = 0.75  # light hold: level below this fraction of the rolling load
    light_rel: float = 0.6  # span / level within 2 s allowed for a light hold (knee bends)
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

    def __init__(self, has_encoder: bool, body_mass_kg: float | None = None,
                 config: StateConfig | None = None,
                 score_hold: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 check_hold: Callable[[float, float | None], str | None] | None = None,
                 contact_on_n: float = 25.0) -> None:
        self.cfg = config or StateConfig()
        self.has_encoder = has_encoder
        self.body_mass_kg = body_mass_kg
        self.score_hold = score_hold
        self.check_hold = check_hold
        self.contact_on_n = contact_on_n
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
        self._light_hi = _Trailing(self.w_light - self.w_s + 1)
        self._light_lo = _Trailing(self.w_light - self.w_s + 1)
        # Trailing max of texture / its allowance over each still window (force only): a window is still
        # only when the roller travelled nowhere inside it, not just at its last frame. The texture
        # envelope lags the motion: texture in a window's first `tex_lag_s` belongs to motion before the
        # window (the decaying tail of the rolling before a hold), so it is not checked.
        lag_k = frames_in(c.tex_lag_s)
        self._tex_s = _Trailing(max(self.w_light - lag_k, 1))
        self._tex_q = _Trailing(max(self.w_l - lag_k, 1))
        # labeller buffers: frames not yet released (k, t, base label, force, x) and cover marks
        self._buf: list[tuple[int, float, int, float, float | None]] = []
        self._iv: list[list[int]] = []  # merged [k0, k1] intervals of frames inside still windows
        self._k_newest = -1
        self._t_newest = math.nan
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
    def process(self, mf: MotionFrames) -> list[Event]:
        fr = mf.frames
        n = len(fr)
        if n == 0:
            return []
        events: list[Event] = []
        c = self.cfg
        if self.t_first_s is None:
            self.t_first_s = float(fr.t_s[0])
        self.t_last_s = float(fr.t_s[-1])
        f = fr.force_n
        base = np.where(~fr.valid, MISSING, np.where(fr.loaded, MOVE, OFF))
        steady, light_ok, mid_s, w_steady = self._candidates(mf)
        x_list = fr.x_cm.tolist() if fr.x_cm is not None else [None] * n
        for k, t, b, fv, xv, st, lo, ms in zip(fr.k.tolist(), fr.t_s.tolist(), base.tolist(), f.tolist(), x_list,
                                               steady.tolist(), light_ok.tolist(), mid_s.tolist()):
            self._k_newest, self._t_newest = k, t
            self._buf.append((k, t, b, fv, xv))
            cover_from = None
            ref = self._ref_n() if (lo or 0.0 < st < math.inf) else None
            # st: 0 -- steady at any load; a level (N) -- steady only if that level is below the rolling load
            if st == 0.0 or (st < math.inf and ref is not None and st < c.steady_light_frac * ref):
                cover_from = k - w_steady + 1
            if lo:
                if ref is not None and ms < c.light_frac * ref:
                    cs = k - self.w_light + 1
                    cover_from = cs if cover_from is None else min(cover_from, cs)
            if cover_from is not None:
                self._mark_covered(cover_from, k)
            self._release(events, final=False)
        return events

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
                below = (ok_l & (span_l < c.steady_rel * mid_l)) | quiet  # still if below the rolling load
                steady = np.where(ok_l & (span_l < c.steady_rel_heavy * mid_l), 0.0, np.where(below, mid_l, math.inf))
                light_ok = tex_ok_s & ((hi_s - lo_s) < c.light_rel * mid_s) & fr.valid
        w_steady = self.w_enc if self.has_encoder else self.w_l
        return steady, light_ok, mid_s, w_steady

    def _mark_covered(self, k0: int, k1: int) -> None:
        """Frames k0..k1 lie in a still window. Intervals arrive with non-decreasing k1."""
        iv = self._iv
        if iv and k0 <= iv[-1][1] + 1:
            iv[-1][1] = max(iv[-1][1], k1)
            if k0 < iv[-1][0]:
                iv[-1][0] = k0
                while len(iv) > 1 and iv[-2][1] + 1 >= iv[-1][0]:  # swallow intervals it now touches
                    lo_, hi_ = iv.pop()
                    iv[-1][0] = min(iv[-1][0], lo_)
                    iv[-1][1] = max(iv[-1][1], hi_)
        else:
            iv.append([k0, k1])

    def _is_covered(self, k: int) -> bool:
        iv = self._iv
        while iv and iv[0][1] < k:  # frames are released in order: older intervals are done
            iv.pop(0)
        return bool(iv) and iv[0][0] <= k
    def _release(self, events: list[Event], final: bool) -> None:
        buf = self._buf
        i = 0
        n = len(buf)
        limit = self._k_newest - self.delay
        on_n = self.contact_on_n
        roll = self.roll
        while i < n:
            k, t, b, fv, xv = buf[i]
            if b == MOVE:
                if self._is_covered(k):
                    b = STILL
                elif not final and k > limit:
                    break  # a later window may still cover it
            cur = self._cur
            if self._pend is None and cur is not None and b == cur.label:
                # fast path (most frames): the current run goes on (same as _segment -> _add)
                cur.end_k = k + 1
                if b >= MOVE and fv == fv:
                    a = cur.acc
                    a.n += 1
                    a.s += fv
                    a.s2 += fv * fv
                    if fv > a.f_max:
                        a.f_max = fv
                    if b == STILL:
                        a.add_blk(k, fv)
                    if b == MOVE and fv >= on_n:
                        roll.n += 1
                        roll.s += fv
                        roll.s2 += fv * fv
                        if fv > roll.f_max:
                            roll.f_max = fv
                    if xv is not None and xv == xv:
                        a.x_n += 1
                        a.x_s += xv
                        if xv < a.x_min:
                            a.x_min = xv
                        if xv > a.x_max:
                            a.x_max = xv
                if b == STILL:
                    self._tick(events, t)
            else:
                self._segment(events, k, t, b, fv, xv)
            i += 1
        if i:
            del buf[:i]

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
        self._release(events, final=True)
        t = self._t_newest
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
