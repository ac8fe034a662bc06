"""The Detector's device-time guard: which samples are in time order, decided with a small fixed holdback.

Every later stage needs device time that is finite and never decreases (contracts.md §1). Data
that breaks it comes in two shapes, told apart here the same whatever the chunking:

* a sample whose time is not finite, or earlier than the latest time taken, is dropped
  (`dropped`): a library user's unsorted data, a restarted clock that was not re-based;
* a sample whose time jumps more than `jump_s` ahead of the latest time taken is *suspect*: a link
  gap looks like that, but so does one corrupt time stamp (a flipped bit, 100.0 -> 9e6 -> 100.0125).
  Taken at once, a corrupt one made every later sample "backwards" and the rest of the session was
  lost (and 9e6 s of frames would be allocated). So the jump and the samples that continue from it
  are held back until `confirm_n` samples after the jump continued from it (a real gap: all are
  taken, in order); if time instead comes back to before the jump first, the jump and the samples
  held with it are dropped (`outliers`) and the stream goes on from before it. A stream that ends
  on a jump not yet confirmed drops it too (a lone last sample 9e6 s ahead says nothing but costs
  9e6 s of frames). The stream's first samples are held the same way (the first sample may be the
  corrupt one; nothing comes before it), but taken at the end of a shorter stream.

Each sample's fate depends only on the samples before it and at most `confirm_n` after it (not
counting samples dropped meanwhile), so a live detector waits at most `confirm_n` samples longer
after a real gap, at most `confirm_n` samples are held, and streaming equals batch exactly (a
pending run is replayed with the next chunk: same samples, same decisions).
"""
from __future__ import annotations

import math

import numpy as np

from .types import SampleChunk

#: A forward step of device time larger than this (s) is suspect until confirmed. Above every
#: sample spacing the roller streams (10 Hz idle decimated by 8 is 0.8 s) and the link's short
#: losses, so ordinary data never waits; a corrupt stamp less than this ahead costs at most this
#: much time of samples (dropped as backwards) instead.
JUMP_S = 1.0
#: Samples after a suspect jump that must continue from it before it is taken (a real gap). A serial
#: or BLE frame carries a few samples (20-25 ms of them), so a frame whose header time is corrupt
#: (all its samples shifted alike) is recognised as well as one corrupt sample; at 80 Hz this holds
#: a real gap's first samples back 0.1 s, at 10 Hz 0.8 s.
CONFIRM_N = 8


def take(chunk: SampleChunk, idx: np.ndarray) -> SampleChunk:
    """The chunk's samples at `idx` (indices or a boolean mask), as a new chunk."""
    return SampleChunk(chunk.t_s[idx], chunk.force_n[idx], None if chunk.angle_deg is None else chunk.angle_deg[idx],
                       chunk.flags[idx], None if chunk.raw_counts is None else chunk.raw_counts[idx])


class TimeGuard:
    """Streaming filter keeping the samples whose device time is in order (see the module docstring).

    `process(chunk)` returns the samples taken so far (a pending suspect run is kept back), `finish()`
    the rest. Counters: `dropped` (time not finite or backwards), `outliers` (jumps ahead that time
    came back from, or that the stream ended on). For refusing such data (`holdsense analyze`):
    `first_nonfinite` and `first_backwards` = (sample number from 0, its time, the time it went back
    from), or None.
    """

    def __init__(self, jump_s: float = JUMP_S, confirm_n: int = CONFIRM_N) -> None:
        self.jump_s = float(jump_s)
        self.confirm_n = int(confirm_n)
        self.t_max = -math.inf  # latest device time taken
        self.t_first: float | None = None  # first device time taken
        self.dropped = 0
        self.outliers = 0
        self.first_nonfinite: tuple[int, float, float] | None = None
        self.first_backwards: tuple[int, float, float] | None = None
        self._held: SampleChunk | None = None  # the pending run's samples (a suspect jump and those after it)
        self._seen = 0  # samples fed so far (for the sample numbers above)

    @property
    def held(self) -> int:
        """Samples held back now (at most `confirm_n`)."""
        return 0 if self._held is None else len(self._held)

    def process(self, chunk: SampleChunk) -> SampleChunk:
        """The samples now known to be in time order (the chunk itself in the usual case)."""
        t = chunk.t_s
        n = len(t)
        if n == 0:
            return chunk
        if self._held is None:
            # the usual chunk: continues from the last time taken, no step back or ahead by more than jump_s
            # (NaN anywhere makes a comparison False: one diff and two reductions)
            d0 = t[0] - self.t_max
            if 0.0 <= d0 <= self.jump_s:
                if n == 1:
                    ok = True
                else:
                    d = np.diff(t)
                    ok = bool(d.min() >= 0.0) and bool(d.max() <= self.jump_s)
                if ok:
                    self._took(t)
                    self._seen += n
                    return chunk
            if math.isfinite(self.t_max):
                kept = self._without_jumps(chunk)
                if kept is not None:
                    self._seen += n
                    return kept
            n_held = 0
        else:
            n_held = len(self._held)
            chunk = SampleChunk.concat((self._held, chunk))
            self._held = None
        keep, run = self._classify(chunk.t_s, n_held)
        self._seen += n
        if len(run):
            self._held = take(chunk, np.asarray(run))
        kept = chunk if not len(run) and keep.all() else take(chunk, keep)  # (a whole first chunk: no copy)
        if len(kept):
            self._took(kept.t_s)
        return kept

    def finish(self) -> SampleChunk | None:
        """End of stream: the held samples when they are the stream's first ones, else None (a jump the
        stream ended on before it was confirmed: dropped and counted in `outliers`)."""
        held, self._held = self._held, None
        if held is None:
            return None
        if math.isfinite(self.t_max):
            self.outliers += len(held)
            return None
        self._took(held.t_s)
        return held

    def _took(self, t: np.ndarray) -> None:
        if self.t_first is None:
            self.t_first = float(t[0])
        self.t_max = float(t[-1])

    def _without_jumps(self, chunk: SampleChunk) -> SampleChunk | None:
        """The chunk by the backwards rule alone (vectorised) when no sample it keeps jumps ahead by more
        than jump_s (then the two rules agree); None otherwise."""
        t = chunk.t_s
        tt = np.where(np.isfinite(t), t, -math.inf)
        before = np.maximum.accumulate(np.concatenate(([self.t_max], tt)))
        keep = np.isfinite(t) & (t >= before[:-1])
        if (t[keep] - before[:-1][keep] > self.jump_s).any():
            return None
        n_bad = len(t) - int(np.count_nonzero(keep))
        if n_bad:
            self.dropped += n_bad
            fin = np.isfinite(t)
            if self.first_nonfinite is None and not fin.all():
                i = int(np.argmin(fin))
                self.first_nonfinite = (self._seen + i, float(t[i]), float(before[i]))
            back = fin & ~keep
            if self.first_backwards is None and back.any():
                i = int(np.argmax(back))
                self.first_backwards = (self._seen + i, float(t[i]), float(before[i]))
        if not keep.any():
            return take(chunk, keep)
        self.t_max = float(before[-1])
        if self.t_first is None:
            self.t_first = float(t[keep][0])
        return chunk if not n_bad else take(chunk, keep)

    def _classify(self, t: np.ndarray, n_held: int) -> tuple[np.ndarray, list[int]]:
        """(keep mask, indices of the pending run) for times `t` whose first `n_held` are the run held
        from before (replayed: they were a jump and samples continuing from it, so they are held again).

        One sample at a time by the rule in the module docstring, but a stretch of samples each at most
        jump_s after the one before (most of any chunk) is decided at once."""
        n = len(t)
        keep = np.zeros(n, bool)
        jump_s, confirm_n = self.jump_s, self.confirm_n
        d = np.diff(t)
        with np.errstate(invalid="ignore"):
            # starts of stretches: i where t[i] does not follow t[i-1] by a step in [0, jump_s] (NaN included)
            starts = np.flatnonzero(~((d >= 0.0) & (d <= jump_s))) + 1
        t_max = self.t_max
        run: list[int] = []
        p0 = p_last = math.nan  # the run's first and latest time
        seen = self._seen - n_held  # sample number of t[0]
        i = 0
        si = 0  # starts[si] is the first stretch start > i
        while i < n:
            while si < len(starts) and starts[si] <= i:
                si += 1
            e = int(starts[si]) if si < len(starts) else n  # t[i+1:e] each follow the one before
            ti = float(t[i])
            if ti != ti:
                self.dropped += 1
                if self.first_nonfinite is None:
                    self.first_nonfinite = (seen + i, ti, t_max)
                i += 1
                continue
            if run and ti < p_last:
                if t_max <= ti < p0:  # time came back from before the jump: the run was corrupt
                    self.outliers += len(run)
                    run = []
                else:  # before the run's latest time (within the run, or before every time taken)
                    ref = t_max if ti < t_max else p_last
                    i = self._drop_stretch(t, i, e, ref, seen)
                    continue
            if run:  # continues from the jump
                run.append(i)
                p_last = ti
                need = confirm_n + 1 - len(run)
                if e - i - 1 < need:  # the stretch ends before the run is confirmed: it all joins the run
                    run.extend(range(i + 1, e))
                    p_last = float(t[e - 1])
                    i = e
                    continue
                # confirmed: a real gap. The run, and the rest of the stretch, are taken
                keep[run] = True
                keep[i + 1:e] = True
                t_max = float(t[e - 1])
                run = []
                i = e
                continue
            if ti < t_max:
                i = self._drop_stretch(t, i, e, t_max, seen)
                continue
            if ti - t_max > jump_s:  # suspect (the stream's first sample too: t_max is -inf)
                run = [i]
                p0 = p_last = ti
                need = confirm_n
                if e - i - 1 < need:
                    run.extend(range(i + 1, e))
                    p_last = float(t[e - 1])
                    i = e
                    continue
                keep[i:e] = True
                t_max = float(t[e - 1])
                run = []
                i = e
                continue
            keep[i:e] = True  # follows the latest time taken, and the stretch follows it
            t_max = float(t[e - 1])
            i = e
        self.t_max = t_max
        return keep, run

    def _drop_stretch(self, t: np.ndarray, i: int, e: int, ref: float, seen: int) -> int:
        """Drop t[i] (before `ref`) and the samples after it in its stretch that are before `ref` too; returns
        the index of the next sample to decide."""
        # the stretch t[i:e] never decreases: the samples before ref are a prefix of it
        k = i + int(np.searchsorted(t[i:e], ref, side="left"))
        k = max(k, i + 1)
        self.dropped += k - i
        if self.first_backwards is None:
            self.first_backwards = (seen + i, float(t[i]), ref)
        return k
