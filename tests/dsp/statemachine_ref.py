"""Per-frame reference model of rollsignal's StateMachine, for tests only (not shipped).

This is the state machine as it was before it was vectorised (one Python iteration per frame,
frame-by-frame sums), with one change: the light path's reference for frame k is the rolling load
the segmenter had when it reached frame (k // REF_BLOCK_K) * REF_BLOCK_K - (delay + 1), exactly as
signal/rollsignal/statemachine.py defines it. The vectorised machine must give identical events,
segments, holds and scores (tests/dsp/test_statemachine.py). Candidates, the segmenter and the
accumulators are the production ones (imported), so only the labeller loop and the per-frame
release are re-implemented here.
"""
from __future__ import annotations

import math

from rollsignal.events import Event
from rollsignal.motion import MotionFrames
from rollsignal.statemachine import MISSING, MOVE, OFF, STILL, StateMachine

import numpy as np


class RefStateMachine(StateMachine):
    """Frame-by-frame labeller and release loop over the production segmenter."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._buf0: list = []
        self._iv: list[list[int]] = []
        self._k_newest = -1
        self._t_newest_all = math.nan
        self._snap0: dict = {}
        self._ref_start0 = None

    def _block_ref(self, k: int):
        b = k // self.ref_block_k
        if b not in self._snap0:
            assert b * self.ref_block_k - self.ref_lag_k < self._k_start
            return self._ref_start0
        return self._snap0[b]

    def finish(self) -> list[Event]:
        events: list[Event] = []
        self._t_newest = self._t_newest_all
        self._release(events, final=True)
        t = self._t_newest_all
        if self._pend is not None:
            self._commit(events, self._pend, t)
        self._close(events, self._cur, t)
        self._cur = None
        return events

    def process(self, mf: MotionFrames) -> list[Event]:
        fr = mf.frames
        n = len(fr)
        if n == 0:
            return []
        events: list[Event] = []
        c = self.cfg
        if self.t_first_s is None:
            self.t_first_s = float(fr.t_s[0])
            self._k_start = int(fr.k[0])
            self._ref_start0 = self._ref_n()
        self.t_last_s = float(fr.t_s[-1])
        f = fr.force_n
        base = np.where(~fr.valid, MISSING, np.where(fr.loaded, MOVE, OFF))
        steady, light_ok, mid_s, w_steady = self._candidates(mf)
        self._w_steady = w_steady
        x_list = fr.x_cm.tolist() if fr.x_cm is not None else [None] * n
        for k, t, b, fv, xv, st, lo, ms in zip(fr.k.tolist(), fr.t_s.tolist(), base.tolist(), f.tolist(), x_list,
                                               steady.tolist(), light_ok.tolist(), mid_s.tolist()):
            self._k_newest, self._t_newest_all = k, t
            self._buf0.append((k, t, b, fv, xv))
            cover_from = None
            ref = self._block_ref(k) if (lo or 0.0 < st < math.inf) else None
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
        buf = self._buf0
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
            if (k + self.ref_lag_k) % self.ref_block_k == 0:  # this block's reference frame
                self._snap0[(k + self.ref_lag_k) // self.ref_block_k] = self._ref_n()
            self._t_newest = self._t_newest_all
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

