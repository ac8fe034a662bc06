"""Despike: remove isolated spurious HX711 codes and never trust saturated samples.

HX711s on long wires occasionally return a spurious code (low bits all ones):
one sample far off both neighbours. A 3-point median removes it (domain.md,
"Sensors"). Applied blindly a median also shaves real peaks and noise, so a
sample is replaced only when it sits further than `threshold` from the median
of itself and its two neighbours; replaced samples get FLAG_SPIKE. Saturated
samples (FLAG_SAT, output stuck at 0x7FFFFF/0x800000) carry no force
information: their force becomes NaN (missing), which later stages bridge.

Streaming: the median needs the next sample, so output lags input by one
sample; `finish()` releases the last one. Output for a stream is identical
whatever the chunking.
"""
from __future__ import annotations

import numpy as np

from .types import FLAG_GAP, FLAG_SAT, FLAG_SPIKE, SampleChunk


class Despiker:
    """Streaming 3-point-median despiker with saturation masking.

    `abs_threshold_n` + `rel_threshold` x |median| is the distance from the
    local median beyond which a sample counts as spurious. 8 N is far above HX711
    noise (< 1 N) and above what a body moves in one sample at 80 Hz (rolling
    load changes ~100 N/s), while spurious codes are tens to hundreds of N off.
    """

    def __init__(self, abs_threshold_n: float = 8.0, rel_threshold: float = 0.05) -> None:
        self.abs_threshold_n = abs_threshold_n
        self.rel_threshold = rel_threshold
        self._pending: SampleChunk | None = None  # last 1-2 samples awaiting their right neighbour
        self._prev_force: float = np.nan  # raw force of the sample before the pending one (NaN = none)
        self.spikes = 0
        self.saturated = 0

    def process(self, chunk: SampleChunk) -> SampleChunk:
        """Feed samples; returns the despiked samples that are now final (lags by one)."""
        if len(chunk) == 0:
            return chunk
        any_flag = bool(chunk.flags.any())  # (usually none: skips the per-flag passes)
        sat = (chunk.flags & FLAG_SAT) != 0 if any_flag else None
        n_sat = int(np.count_nonzero(sat)) if any_flag else 0
        if n_sat:  # (else the force is used as it is: no copy)
            self.saturated += n_sat
            force = np.where(sat, np.nan, chunk.force_n)
            chunk = SampleChunk(chunk.t_s, force, chunk.angle_deg, chunk.flags, chunk.raw_counts)
        work = chunk if self._pending is None else SampleChunk.concat([self._pending, chunk])
        n = len(work)
        if n < 2:
            self._pending = work
            return work.slice(0, 0)
        out = self._despike(work, self._prev_force, n - 1)
        self._prev_force = float(work.force_n[n - 2])  # raw (not despiked) left neighbour, as in batch
        self._pending = work.slice(n - 1, n)
        return out

    def finish(self) -> SampleChunk:
        """End of stream: the last sample has no right neighbour and passes unchanged."""
        p, self._pending = self._pending, None
        return p if p is not None else SampleChunk(np.empty(0), np.empty(0))

    def _despike(self, work: SampleChunk, prev_force: float, m: int) -> SampleChunk:
        """Despike samples 0..m-1 of `work` (sample m is their right neighbour)."""
        x = work.force_n
        left = np.concatenate(([prev_force], x[: m - 1]))
        right = x[1 : m + 1]
        c = x[:m]
        fl = work.flags[: m + 1]
        if (fl.any() and (fl & FLAG_GAP).any()) or prev_force != prev_force or np.isnan(x[: m + 1]).any():
            # no neighbour across a gap: lost samples in between make it unrelated
            gap_here = (work.flags[:m] & FLAG_GAP) != 0
            gap_next = (work.flags[1 : m + 1] & FLAG_GAP) != 0
            left = np.where(gap_here | np.isnan(left), c, left)
            right = np.where(gap_next | np.isnan(right), c, right)
        # med = max(min(l, r), min(max(l, r), c)) and thr = abs + rel x |med|, written into scratch arrays
        # (every fresh temporary of a long chunk costs page faults)
        med = np.minimum(left, right)
        hi = np.maximum(left, right, out=left)  # (left is a fresh array: scratch)
        np.minimum(hi, c, out=hi)
        np.maximum(med, hi, out=med)
        dev = np.subtract(c, med, out=hi)
        np.abs(dev, out=dev)
        spike = None
        if self.abs_threshold_n >= 0 and self.rel_threshold >= 0:
            # thr >= abs_threshold_n everywhere: only samples beyond it can be spikes (rare), and only
            # they get the full threshold (the same arithmetic, element by element)
            cand = np.flatnonzero(dev > self.abs_threshold_n)
            if len(cand):
                sub = dev[cand] > self.abs_threshold_n + self.rel_threshold * np.abs(med[cand])
                if sub.any():
                    spike = np.zeros(m, bool)
                    spike[cand] = sub
        else:
            spike = dev > self.abs_threshold_n + self.rel_threshold * np.abs(med)
            if not spike.any():
                spike = None
        flags = work.flags[:m]
        if spike is not None:
            self.spikes += int(np.count_nonzero(spike))
            c = np.where(spike, med, c)
            flags = flags.copy()
            flags[spike] |= FLAG_SPIKE
        return SampleChunk(work.t_s[:m], c, None if work.angle_deg is None else work.angle_deg[:m], flags,
                           None if work.raw_counts is None else work.raw_counts[:m])
