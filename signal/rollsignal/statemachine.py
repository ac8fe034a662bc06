"""Segment layer OFF / ROLL / HOLD over labelled frames, with bridging and back-dated holds.

Input: frames labelled by rollsignal.segmenter (`Labelled`: each loaded frame still or moving,
decided after a fixed lag, with the arrival time of the frame whose coming decided it). Each frame
gets one label: MISSING (no trustworthy sample near it), OFF (nobody on the roller), STILL or MOVE.

Runs of equal labels, with bridging: a MISSING run up to `gap_bridge_s` continues whatever was
before it (link gaps, dropouts); an OFF run up to `dropout_s` inside a loaded stretch is a dropout,
not a step-off; a MOVE run up to `blip_s` between STILL runs is a fidget, not motion. A STILL run
that lasts `min_hold_s` (5 s) is a hold from its first frame (back-dated); shorter STILL runs (the
pause at a stroke reversal, a brief stop while re-positioning) are rolling. Transitions go frame by
frame (`_segment`); a run continuing the current run or a pending excursion is added at once, with
hold confirmation and the progress events computed for the frames they fall on. Sums use np.cumsum
with the carried sum prepended, which adds strictly in order: bit-identical to adding frame by frame,
so the result does not depend on how the stream is chunked.

The events a frame causes (hold confirmed, progress) carry the time at which its label was decided
(`Labelled.t_release_s`): as early as the segmenter's fixed lag allows, the same live and offline.

The session's rolling load (mean force over frames finalised as roll) is carried here; it feeds the
scoring and safety warnings (the rolling load when the hold ends / when the warning is due), all
using only what was seen so far, so live and offline results agree exactly. Each hold also gets a
calibrated `confidence` (segmenter model: mean log-odds of hold over the hold and its duration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .events import Event, HoldEnded, HoldProgress, HoldStarted, StateEvent, WarningEvent
from .frames import FRAME_S
from .segmenter import Labelled

MISSING, OFF, MOVE, STILL = 0, 1, 2, 3
G_N_PER_KG = 9.80665
BLOCK_K = 200  # 10 s of frames: longer than a knee-bend cycle (0.1-1 Hz), shorter than a creep or a shift
APPROACH_LEVEL_S = 4.0  # the hold's level for approach_start: median force over its first 4 s (< min_hold_s)
#: What ended a hold, by the label of the run after it (a hold's `ended_by`, contracts.md §3): the person
#: rolled on, stepped off, the link to the roller was lost (a gap too long to bridge), or -- the end of the
#: stream, no run after it -- the recording ended. The last two cut the hold off: its length was not the
#: person's choice.
ENDED_BY = {MOVE: "rolling", OFF: "off", MISSING: "link lost", None: "end"}


def approach_start(force_n: np.ndarray, i0: int, i_lo: int, level_k: int, band: float, tol: float,
                   back_k: int) -> int:
    """Index at which the load's last approach to a hold's level began (force only).

    A hold starts when the roller stops; the load then eases (or settles) onto the hold's level for
    a second or more, and only after that is it quiet enough for the segmenter to call still. From
    the still run's first frame `i0`, walk back (at most `back_k` frames, never before `i_lo`, never
    across a missing frame) over frames within `band` x level of the level (median of
    `force_n[i0:i0+level_k]`), then on while the load keeps moving away from the level (a frame may
    come back towards it by at most `tol` x level). Returns `i0` when the load never left the band.
    `force_n`: the low-passed force of consecutive frames (N). Pure: the fit (bench/fit_segmenter.py)
    chooses band, tol and back_k with this very function.
    """
    seg = force_n[i0:i0 + level_k]
    seg = seg[seg == seg]
    if not len(seg):
        return i0
    lvl = float(np.median(seg))
    if not lvl > 0:
        return i0
    lo = max(i_lo, i0 - back_k, 0)
    f = force_n
    j = i0
    while j > lo and abs(float(f[j - 1]) - lvl) <= band * lvl:  # (NaN: not within: stops below)
        j -= 1
    if j == lo or not float(f[j - 1]) == float(f[j - 1]):
        return i0  # never left the band within reach (or a gap): the run's own start
    j -= 1  # the last frame outside the band
    while j > lo:
        prev = float(f[j - 1])
        if not prev == prev or (prev - float(f[j])) * math.copysign(1.0, float(f[j]) - lvl) < -tol * lvl:
            break
        j -= 1
    return j


@dataclass
class StateConfig:
    """Settings of the segment layer (defaults from domain.md figures, see docs/detector.md)."""

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
    ref_min_s: float = 3.0  # rolling seen before the rolling load counts as known
    progress_s: float = 1.0  # hold_progress period
    # a hold's steadiness (force_cv, slow_cv) is judged on its settled part: the load still sinks from the
    # stroke's level for 1-3 s after the roller stops, and rises as it moves off (docs/detector.md)
    settle_s: float = 3.0
    end_guard_s: float = 1.0
    min_settled_s: float = 3.0  # a settled part shorter than this: the whole still run is judged


@dataclass
class _Acc:
    """Running statistics of a stretch of frames (sums in frame order: exact under any chunking)."""

    n: int = 0
    s: float = 0.0
    x_min: float = math.inf
    x_max: float = -math.inf
    x_s: float = 0.0
    x_n: int = 0
    f_max: float = -math.inf

    def add(self, f: float, x: float | None) -> None:
        self.n += 1
        self.s += f
        if f > self.f_max:
            self.f_max = f
        if x is not None:
            self.x_n += 1
            self.x_s += x
            if x < self.x_min:
                self.x_min = x
            if x > self.x_max:
                self.x_max = x

    def add_many(self, f: np.ndarray, x: np.ndarray | None) -> None:
        """`add(f[i], x[i])` for each i in order, at once.

        `f` finite forces (N), `x` positions (cm; NaN = none) or None.
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
            return
        self.n += n
        self.s = float(np.cumsum(np.concatenate(([self.s], f)))[-1])
        self.f_max = max(self.f_max, float(f.max()))
        if x is not None:
            xs = x[~np.isnan(x)]
            if len(xs):
                self.x_n += len(xs)
                self.x_s = float(np.cumsum(np.concatenate(([self.x_s], xs)))[-1])
                self.x_min = min(self.x_min, float(xs.min()))
                self.x_max = max(self.x_max, float(xs.max()))

    def merge(self, o: "_Acc") -> None:
        self.n += o.n
        self.s += o.s
        self.f_max = max(self.f_max, o.f_max)
        self.x_n += o.x_n
        self.x_s += o.x_s
        self.x_min = min(self.x_min, o.x_min)
        self.x_max = max(self.x_max, o.x_max)

    @property
    def mean(self) -> float:
        return self.s / self.n if self.n else math.nan


def _cv(f: np.ndarray) -> float:
    """Standard deviation / mean of the forces `f` (N); NaN with fewer than 2 or a mean <= 0."""
    if len(f) < 2:
        return math.nan
    m = float(f.mean())
    return float(f.std()) / m if m > 0 else math.nan


def _block_cv(k: np.ndarray, f: np.ndarray) -> float:
    """How far the hold's level moved between its 10 s blocks of frame index `k` (blocks at least half
    covered): the smaller of the spreads / means of the blocks' 10th and of their 90th percentiles of
    `f`; NaN with fewer than 2 such blocks.

    Why the percentiles: a related limb moving (knee bends, in bouts) pushes the load one way from the
    level the hold returns to between bends, so one edge of the band stays put; pressure that creeps or
    sinks moves the whole band. Block means rose in every bout and read as drift.
    """
    if len(k) == 0:
        return math.nan
    b = k // BLOCK_K
    cuts = np.flatnonzero(b[1:] != b[:-1]) + 1
    lo, hi = [], []
    for part in np.split(f, cuts):
        if len(part) >= BLOCK_K // 2:
            p10, p90 = np.percentile(part, (10.0, 90.0))
            lo.append(p10)
            hi.append(p90)
    if len(lo) < 2:
        return math.nan
    spreads = [float(np.std(v)) / float(np.mean(v)) for v in (lo, hi) if np.mean(v) > 0]
    return min(spreads) if spreads else math.nan


@dataclass
class _Run:
    label: int
    start_k: int
    end_k: int  # exclusive
    acc: _Acc = field(default_factory=_Acc)
    z0: float = math.nan  # session sum of the clipped model log-odds before the run's first frame
    peak: float = -1.0  # highest running confidence seen while the still run was not yet confirmed
    report_k: int | None = None  # where a hold on this still run is reported to start (see approach_start)
    report_end_k: int | None = None  # where it is reported to end (exclusive; None: end_k)
    # (frame indices, forces, still?) of the run's finite frames, in chunks, kept while the run may become
    # a hold (a still run, or an excursion that may be bridged into one); None: not kept
    trace: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = field(default_factory=list)

    def keep(self, k: np.ndarray, f: np.ndarray, still: bool) -> None:
        """Keep frames `k` (indices) with forces `f` (N), all still or all moving, if the trace is kept."""
        if self.trace is None or not len(f):
            return
        self.trace.append((k, f, np.full(len(f), still)))
        if len(self.trace) > 256:  # live streaming adds a few frames at a time: one array, not thousands
            self.trace = [self.frames()]

    def frames(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frame indices, forces N, still?) of the kept trace, in time order."""
        tr = self.trace or []
        return (np.concatenate([t[0] for t in tr]), np.concatenate([t[1] for t in tr]),
                np.concatenate([t[2] for t in tr]))


class StateMachine:
    """Streaming OFF/ROLL/HOLD segment layer; `process(Labelled) -> events`, `finish() -> events`.

    `score_hold(stats) -> dict` is called when a hold ends with the hold's
    statistics and the context known at that moment (rolling load so far);
    `check_hold(mean_force_n, rolling_load_n) -> str | None` gives a safety
    warning while holding; `confidence(mean_z, duration_s) -> float` the hold's
    calibrated confidence (None: no confidence); `min_confidence`: a still run of
    min_hold_s or more is confirmed as a hold at the first frame at which its
    confidence so far reaches this (0: at once); `record_candidates`: keep every
    such run's peak running confidence in `candidates`; `approach` (band, tol,
    back_s): move a hold's reported start back to where the load's approach to it
    began (`approach_start`; force statistics stay over the still run); `end_back_s`:
    report a force-only hold that ends in rolling as ending this much earlier (the
    decoder places such ends late by about that much; fitted, in the model file).
    """

    def __init__(self, has_encoder: bool, body_mass_kg: float | None = None,
                 config: StateConfig | None = None,
                 score_hold: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 check_hold: Callable[[float, float | None], str | None] | None = None,
                 contact_on_n: float = 25.0, progress_events: bool = True,
                 hold_limit: Callable[[float | None], float] | None = None,
                 confidence: Callable[[float, float], float] | None = None,
                 min_confidence: float = 0.0, record_candidates: bool = False,
                 approach: dict[str, float] | None = None, end_back_s: float = 0.0) -> None:
        self.cfg = config or StateConfig()
        self.has_encoder = has_encoder
        self.body_mass_kg = body_mass_kg
        self.score_hold = score_hold
        self.check_hold = check_hold
        self.confidence = confidence
        # a still run >= min_hold_s becomes a hold only once its running confidence (the evidence so far)
        # reaches min_confidence: a hold force alone is unsure of is rolling until more evidence comes
        self.min_confidence = min_confidence
        self._gating = confidence is not None and (min_confidence > 0.0 or record_candidates)
        #: (start_k, end_k, peak running confidence) of every still run >= min_hold_s, when recording
        #: (bench/fit_segmenter.py chooses min_confidence from them)
        self.candidates: list[tuple[int, int, float]] | None = [] if record_candidates else None
        # force only: a hold's reported start is moved back to where the load's approach to it began
        # (approach_start; band, tol, back_s fitted, in the model file); the frames' force is kept long
        # enough for that (`_hk0`: frame index of `_hf[0]`)
        self.approach = approach if (approach and not has_encoder) else None
        self._hk0 = 0
        self._hf = np.empty(0)
        # force only: a hold that ends in rolling is reported to end end_back_k frames before the still
        # run did (the frames are already known then: live and batch place it alike)
        self.end_back_k = 0 if has_encoder else int(round(end_back_s / FRAME_S))
        self.contact_on_n = contact_on_n
        # False: no hold_progress events are made (analyze() keeps none); the safety check still runs at
        # the same ticks, so warnings and everything else are identical
        self.progress_events = progress_events
        # optional: the mean force (N) above which check_hold(f, rolling_load) warns (it must warn exactly
        # when f > hold_limit(rolling_load)); lets a long still run find its first warning tick with numpy
        self.hold_limit = hold_limit
        c = self.cfg
        self.blip_k = int(round((c.blip_s_encoder if has_encoder else c.blip_s_force) / FRAME_S))
        self.gap_k = int(round(c.gap_bridge_s / FRAME_S))
        self.long_gap_k = int(round(c.long_gap_bridge_s / FRAME_S))
        self.drop_k = int(round(c.dropout_s / FRAME_S))
        self.hold_k = int(round(c.min_hold_s / FRAME_S))
        self.ref_k = int(round(c.ref_min_s / FRAME_S))
        # frames being segmented, as columns (k, t_s, label, force_n, x_cm or None, z)
        self._buf: tuple[np.ndarray | None, ...] = (np.empty(0, np.int64),) + (None,) * 5
        self._t_newest = math.nan  # time the frame being segmented was released at
        # running sum of the clipped model log-odds over all frames (hold confidence): before each buffered
        # frame (`_zc`), before / after the frame being segmented, at the end of the closing run
        self._Z = 0.0
        self._zc = np.zeros(1)
        self._z_before = self._z_after = self._z_end = 0.0
        #: (mean log-odds, duration s) of each hold, in order (for fitting the confidence calibration)
        self.hold_evidence: list[tuple[float, float]] = []
        # segmenter
        self._cur: _Run | None = None
        self._pend: _Run | None = None
        self._hold_confirmed = False
        self._hold_warned = False
        self._last_progress_t = math.nan
        self.segments: list[list[Any]] = []  # [kind, start_k, end_k]
        self.holds: list[dict[str, Any]] = []
        self.roll = _Acc()  # frames finalised as roll (loaded)
        #: (start_k, end_k) of each link gap not bridged (counted as off): `lost_s` and the off segments'
        #: own `lost_s`, so that a lost link is told apart from nobody on the roller, as the live view does
        self.lost: list[tuple[int, int]] = []
        self.first_x: float | None = None  # roller position at the session's first contact
        self.t_first_s: float | None = None
        self.t_last_s: float | None = None
        self._t_end_s: float | None = None  # the stream's last sample time, given to finish()

    def _lost_spans(self) -> list[tuple[int, int]]:
        cur = self._cur
        return self.lost + ([(cur.start_k, cur.end_k)] if cur is not None and cur.label == MISSING else [])

    # ---- rolling load -------------------------------------------------------------------
    @property
    def rolling_load_n(self) -> float | None:
        """Mean force over everything finalised as rolling so far (None before enough rolling)."""
        return self.roll.mean if self.roll.n >= self.ref_k else None

    def process(self, lab: Labelled | None) -> list[Event]:
        """Feed labelled frames (consecutive, in order); returns the events they caused."""
        if lab is None or len(lab) == 0:
            return []
        fr = lab.frames
        events: list[Event] = []
        if self.t_first_s is None:
            self.t_first_s = float(fr.t_s[0])
        self.t_last_s = float(lab.t_release_s[-1])
        base = np.where(~fr.valid, MISSING, np.where(fr.loaded, MOVE, OFF)).astype(np.int8)
        labels = np.where(lab.still, STILL, base).astype(np.int8)
        self._buf = (fr.k, fr.t_s, labels, fr.force_n, fr.x_cm, lab.z)
        if self.approach is not None:
            if len(self._hf) and int(fr.k[0]) == self._hk0 + len(self._hf):
                self._hf = np.concatenate((self._hf, fr.force_n))
            else:
                self._hk0, self._hf = int(fr.k[0]), np.asarray(fr.force_n, float).copy()
        zc = np.where(np.isfinite(lab.z), np.clip(lab.z, -8.0, 8.0), 0.0)
        self._zc = np.cumsum(np.concatenate(([self._Z], zc)))  # adds in order: exact under any chunking
        self._Z = float(self._zc[-1])
        self._consume(events, labels, lab.t_release_s)
        self._t_newest = self.t_last_s
        if self.approach is not None:  # keep what a run starting later may still look back on
            keep = self.hold_k + int(round(self.approach["back_s"] / FRAME_S)) + 2
            if len(self._hf) > keep:
                self._hk0 += len(self._hf) - keep
                self._hf = self._hf[-keep:]
        return events

    def note_time(self, t_s: float) -> None:
        """The newest sample's time (frames may still be pending in the segmenter)."""
        self.t_last_s = t_s

    def _consume(self, events: list[Event], lab: np.ndarray, tn: np.ndarray) -> None:
        """Segment the buffered frames run by run."""
        n = len(lab)
        cuts = np.flatnonzero(lab[1:] != lab[:-1]) + 1
        ends = np.concatenate((cuts, [n])).tolist()
        ci = 0
        i = 0
        while i < n:
            while ends[ci] <= i:
                ci += 1
            e = ends[ci]
            lb = int(lab[i])
            cur, pend = self._cur, self._pend
            if pend is None and cur is not None and cur.label == lb:
                self._run_fast(events, lb, i, e, tn)
                i = e
            elif pend is not None and pend.label == lb:
                trig = self._pend_trigger(cur, pend, i, e)
                e_bulk = e if trig is None else trig
                if e_bulk > i:
                    self._grow_pend(pend, lb, i, e_bulk)
                if trig is not None:
                    self._one(events, trig, lb, tn)
                    i = trig + 1
                else:
                    i = e
            else:
                self._one(events, i, lb, tn)
                i += 1

    def _one(self, events: list[Event], i: int, lb: int, tn: np.ndarray) -> None:
        """One frame through the general segmenter (transitions, bridging)."""
        k, t, _b, f, x = self._buf[:5]
        self._t_newest = float(tn[i])
        self._z_before, self._z_after = float(self._zc[i]), float(self._zc[i + 1])
        # events carry the time the frame's label was decided (device time of the newest frame then)
        self._segment(events, int(k[i]), float(tn[i]), lb, float(f[i]), None if x is None else float(x[i]))

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
                # two rows (accumulate adds strictly in order along each row: the same sums as below)
                r = self.roll
                buf = np.empty((2, e - i + 1))
                buf[:, 0] = (a.s, r.s)
                buf[:, 1:] = fs
                a.s, r.s = np.cumsum(buf, axis=1)[:, -1].tolist()
                f_max = float(fs.max())
                a.n += e - i
                a.f_max = max(a.f_max, f_max)
                r.n += e - i
                r.f_max = max(r.f_max, f_max)
                return
        fin = ~np.isnan(fs)
        if lb == STILL:
            self._ticks(events, cur, k[i:e], fs, fin, tn[i:e], self._zc[i + 1:e + 1])
        fv = fs[fin]
        a.add_many(fv, None if x is None else x[i:e][fin])
        if lb == STILL:
            cur.keep(k[i:e][fin], fv, True)
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
                r.f_max = max(r.f_max, float(rv.max()))

    def _ticks(self, events: list[Event], cur: _Run, kk: np.ndarray, fs: np.ndarray, fin: np.ndarray,
               tn: np.ndarray, z_after: np.ndarray) -> None:
        """`_tick` after each frame of a still run (before its statistics are added): confirmation
        when the run passes min_hold_s, a progress event every progress_s (`t_s` = release time)."""
        c = self.cfg
        start = cur.start_k
        q = 0
        if not self._hold_confirmed:
            q = int(np.searchsorted(kk, start + self.hold_k))  # first frame with end - start > hold_k
            if q >= len(kk):
                return
            self._report_start(cur)
            if self._gating:
                p = self._first_confident(cur, z_after[q:].tolist(), (kk[q:] + 1 - start).tolist())
                if p is None:
                    return
                q += p
            tq = float(tn[q])
            self._hold_confirmed = True
            self._emit_kind(events, "hold", cur.report_k, tq)
            events.append(HoldStarted(tq, self._t_of(cur.report_k),
                                      self._conf(float(z_after[q]), cur.z0, int(kk[q]) + 1 - start)))
            self._last_progress_t = self._t_of(start) + c.min_hold_s - c.progress_s
        t_start = self._t_of(cur.report_k)
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
        pend.acc.add_many(fs[fin], None if x is None else x[i:e][fin])
        pend.keep(k[i:e][fin], fs[fin], lb == STILL)

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
            self._cur = _Run(lab, k, k, z0=self._z_before)
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
        new = _Run(lab, k, k + 1, z0=self._z_before)
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
            run.keep(np.array([k]), np.array([fv]), lab == STILL)

    def _add(self, events: list[Event], run: _Run, k: int, lab: int, fv: float, xv: float | None,
             t: float) -> None:
        run.end_k = k + 1
        self._acc_frame(run, lab, fv, xv, k)
        if lab == MOVE and fv == fv and fv >= self.contact_on_n:
            self.roll.add(fv, None)
        self._tick(events, t)

    def _absorb(self, events: list[Event], cur: _Run, pend: _Run) -> None:
        cur.acc.merge(pend.acc)
        if cur.trace is not None and pend.trace:
            cur.trace.extend(pend.trace)
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

    def _begin(self, events: list[Event], run: _Run, t: float, start_k: int | None = None) -> None:
        """`run` becomes the current one; its segment starts at `start_k` (None: its first frame)."""
        self._hold_confirmed = False
        self._hold_warned = False
        if run.label != STILL:
            run.trace = None  # (rolling and off stretches: only their sums are needed)
        kind = self._kind(run)
        if kind is not None:
            self._emit_kind(events, kind, run.start_k if start_k is None else start_k, t)

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
            self._report_start(cur)
            if not self._gating or self._first_confident(cur, [self._z_after], [dur_k]) is not None:
                self._hold_confirmed = True
                self._emit_kind(events, "hold", cur.report_k, self._t_newest)
                events.append(HoldStarted(self._t_newest, self._t_of(cur.report_k),
                                          self._conf(self._z_after, cur.z0, cur.end_k - cur.start_k)))
                self._last_progress_t = self._t_of(cur.start_k) + self.cfg.min_hold_s - self.cfg.progress_s
        if self._hold_confirmed:
            tk = cur.end_k * FRAME_S
            if tk - self._last_progress_t >= self.cfg.progress_s - 1e-9:
                self._last_progress_t = tk
                if self.progress_events:
                    events.append(HoldProgress(self._t_newest, self._t_of(cur.report_k),
                                               round(tk - self._t_of(cur.report_k), 3), round(cur.acc.mean, 2)))
                if self.check_hold is not None and not self._hold_warned:
                    msg = self.check_hold(cur.acc.mean, self.rolling_load_n)
                    if msg:
                        self._hold_warned = True
                        events.append(WarningEvent(self._t_newest, msg))

    def _commit(self, events: list[Event], new: _Run, t: float) -> None:
        """The current run ended where `new` starts; `new` becomes the current run."""
        self._z_end = new.z0
        moved_end_k = self._close(events, self._cur, t, into=new.label)
        self._cur, self._pend = new, None
        self._begin(events, new, t, moved_end_k)
        if new.label == MOVE:
            self._roll_merge(new.acc)
        self._tick(events, t)

    def _close(self, events: list[Event], run: _Run | None, t: float, into: int | None = None) -> int | None:
        """End `run` (`into`: the label of the run after it; None at the end of the stream). Returns where
        the next segment starts when a hold's reported end was moved (end_back_k), else None."""
        if run is None:
            return None
        if run.label == MISSING:
            self.lost.append((run.start_k, run.end_k))
        if run.label == STILL:
            n_k = run.end_k - run.start_k
            # long enough, and (force only) confident enough by now: a hold; else a pause in rolling
            is_hold = n_k >= self.hold_k and (self._hold_confirmed or not self._gating
                                              or self._first_confident(run, [self._z_end], [n_k]) is not None)
            if self.candidates is not None and n_k >= self.hold_k:  # (peak updated just above)
                self.candidates.append((run.start_k, run.end_k, run.peak))
            if is_hold:
                if not self._hold_confirmed:  # (finish() on a run confirmed only now)
                    self._report_start(run)
                    self._hold_confirmed = True
                    self._emit_kind(events, "hold", run.report_k, t)
                    events.append(HoldStarted(t, self._t_of(run.report_k),
                                              self._conf(self._z_end, run.z0, run.end_k - run.start_k)))
                if into == MOVE and self.end_back_k:
                    run.report_end_k = max(run.end_k - self.end_back_k, run.start_k + 1)
                hold = self._hold_dict(run, ENDED_BY.get(into, "end"))
                self.holds.append(hold)
                events.append(HoldEnded(t, hold))
                return run.report_end_k
            # too short for a hold (a pause in rolling), or never confident enough: rolling
            self._emit_kind(events, "roll", run.start_k, t)
            self.roll.merge(run.acc)
        return None

    def _report_start(self, run: _Run) -> None:
        """Set `run.report_k` once, when the still run first reaches min_hold_s (its first 4 s and what
        came before it are in the history then, whatever the chunking): the start of the load's
        approach within the rolling just before it (force only), else the run's first frame."""
        if run.report_k is not None:
            return
        run.report_k = run.start_k
        a = self.approach
        if a is None or not self.segments or self.segments[-1][0] != "roll":
            return  # (after an off stretch the hold starts at contact)
        lo_k = max(self.segments[-1][1] + 1, self._hk0)
        i0 = run.start_k - self._hk0
        if i0 < 0 or i0 >= len(self._hf):
            return
        i = approach_start(self._hf, i0, lo_k - self._hk0, int(round(APPROACH_LEVEL_S / FRAME_S)),
                           a["band"], a["tol"], int(round(a["back_s"] / FRAME_S)))
        run.report_k = self._hk0 + i

    def _first_confident(self, run: _Run, z_after: list[float], n_k: list[int]) -> int | None:
        """Index of the first frame (running log-odds sum `z_after`, run length `n_k` after it) at which
        the run's confidence reaches min_confidence, or None; the run's peak is updated on the way.
        One scalar evaluation per frame, the same whichever path (bulk or frame by frame) asks."""
        z0, thr = run.z0, self.min_confidence
        peak = run.peak
        for i, (z1, n) in enumerate(zip(z_after, n_k)):
            c = self._conf(float(z1), z0, int(n))
            if c > peak:
                peak = c
            if c >= thr:
                run.peak = peak
                return i
        run.peak = peak
        return None

    def _conf(self, z1: float, z0: float, n_k: int, record: bool = False) -> float | None:
        """Calibrated confidence of a hold of `n_k` frames whose log-odds sum went from z0 to z1."""
        mean_z = (z1 - z0) / max(n_k, 1)
        dur = n_k * FRAME_S
        if record:
            self.hold_evidence.append((mean_z, dur))
        if self.confidence is None:
            return None
        return round(self.confidence(mean_z, dur), 3)

    def _steadiness(self, run: _Run) -> tuple[float, float]:
        """(force_cv, slow_cv) of a hold's settled part: its frames from settle_s after the still run began
        to end_guard_s before the hold's reported end; the whole run when that leaves under min_settled_s.

        Why: the load sinks from the stroke's level for 1-3 s after the roller stops (and rises as it
        moves off), which made a quiet hold read as "varied by 15-18 %". The frames are the run's kept
        trace, the same arrays whatever the chunking, so live and batch agree.
        """
        if not run.trace:
            return math.nan, math.nan  # (no finite force in the whole run)
        c = self.cfg
        k, f, still = run.frames()
        end_k = run.end_k if run.report_end_k is None else run.report_end_k
        lo = run.start_k + int(round(c.settle_s / FRAME_S))
        hi = end_k - int(round(c.end_guard_s / FRAME_S))
        if hi - lo < int(round(c.min_settled_s / FRAME_S)):
            lo, hi = run.start_k, run.end_k
        m = (k >= lo) & (k < hi)
        return _cv(f[m]), _block_cv(k[m & still], f[m & still])

    def _hold_dict(self, run: _Run, ended_by: str) -> dict[str, Any]:
        """The hold's statistics (scored when a scorer is given); `ended_by` says what came after it."""
        a = run.acc
        start_s = self._t_of(run.report_k)  # (set when the run first reached min_hold_s)
        end_s = (run.end_k if run.report_end_k is None else run.report_end_k) * FRAME_S
        if ended_by == "end" and self._t_end_s is not None and self._t_end_s < end_s:
            # the run's end is the frame after its last one, up to 0.05 s past the last sample: a hold the
            # recording's end cut off ends with the recording, where its segment ends (never after it)
            end_s = max(self._t_end_s, start_s)
        travel = None
        spot = None
        if self.has_encoder and a.x_n:
            travel = a.x_max - a.x_min
            spot = a.x_s / a.x_n - (self.first_x or 0.0)
        force_cv, slow_cv = self._steadiness(run)
        stats = {"start_s": start_s, "end_s": end_s, "duration_s": end_s - start_s,
                 "mean_force_n": a.mean, "force_cv": force_cv, "slow_cv": slow_cv, "max_force_n": a.f_max,
                 "travel_cm": travel, "spot_cm": spot, "rolling_load_n": self.rolling_load_n,
                 "body_mass_kg": self.body_mass_kg, "ended_by": ended_by,
                 "confidence": self._conf(self._z_end, run.z0, run.end_k - run.start_k, record=True)}
        if self.score_hold is not None:
            return self.score_hold(stats)
        return stats

    def finish(self, t_end_s: float | None = None) -> list[Event]:
        """End of stream: release every frame, close the open run, end the last segment.

        `t_end_s`: the stream's last sample time (s, device clock), where the last segment ends
        (`segment_list`); a hold still open ends there too, not on the frame after it.
        """
        events: list[Event] = []
        self._t_end_s = t_end_s
        self._t_newest = t = self.t_last_s if self.t_last_s is not None else math.nan
        if self._pend is not None:
            self._commit(events, self._pend, t)
        self._z_end = self._Z
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
        spans = self._lost_spans()
        if spans:
            for seg in out:
                if seg["kind"] == "off":
                    lost = sum(max(0.0, min(b * FRAME_S, seg["end_s"]) - max(a * FRAME_S, seg["start_s"]))
                               for a, b in spans)
                    if lost > 0:
                        seg["lost_s"] = round(lost, 2)
        return out
