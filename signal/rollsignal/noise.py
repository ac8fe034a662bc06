"""Causal estimate of the load cell's broadband noise (N rms per sample), sample by sample.

Why: the force-only texture veto (motion.py, 2-6 Hz rms) must not mistake sensor noise
for the ribbed shell travelling under tissue. HX711 noise is white: 0.3-0.8 N rms on a
good cell, 2-3 N on a poor one or with a noisy supply; a fixed allowance that covers
the first turns every hold of the second into "roll".

How: the 4th difference of consecutive samples, d = x[i] - 4 x[i-1] + 6 x[i-2] - 4 x[i-3] + x[i-4],
is a high-pass filter that gives white noise of rms `sigma` an rms of sqrt(70) sigma, while it
attenuates a sinusoid of frequency f by (2 sin(pi f / fs))^4: at 80 Hz sampling rolling strokes
(<= 0.8 Hz) by 1e-7 and even 6 Hz rib texture by 0.047. The median of |d| over a block of
`window` such differences is robust to the few large values at load steps and spikes:
sigma = median|d| / (0.6745 sqrt 70). Blocks are consecutive (not sliding): the estimate
changes once per block (1.6 s at 80 Hz), which is all a sensor property needs, and a
median per block costs a twentieth of a sliding median per sample -- the estimator was
the detector's most expensive stage.

Only differences whose four sample intervals are all <= `max_dt_s` (rate >= 60 Hz) count:
at 10-40 Hz body motion and texture are no longer negligible in d, so there is no
estimate (NaN) and the detector keeps its fixed allowance. Until the first block is
complete the estimate is NaN as well.

Streaming: the differences form a subsequence of the sample stream that does not depend
on chunking, blocks are counted along that subsequence from the stream start, and the
unfinished block is carried between calls, so per-sample estimates are identical for any
chunking.
"""
from __future__ import annotations

import math

import numpy as np

#: order of the difference: the 4th difference passes white noise with gain sqrt(70) and 6 Hz
#: (the top of the texture band) at 80 Hz sampling with gain 0.047, so even strong rib texture
#: (1 % of a 230 N rolling load) adds < 5 % to the estimate of 0.3 N noise (a 2nd difference let
#: that texture raise the estimate, and the allowance, enough to hide rolling)
ORDER = 4
#: median |d| of white noise with unit rms: median |N(0, 1)| times sqrt(C(2*ORDER, ORDER))
_MEDIAN_ABS_D = 0.6744897501960817 * math.sqrt(math.comb(2 * ORDER, ORDER))


class NoiseEstimator:
    """Per-sample broadband noise rms (N) of the force: median |4th difference| per block of differences.

    `window`: usable differences per block (127, odd so the median is one value: 1.6 s at 80 Hz;
    long enough for a stable median -- relative spread ~10 % -- short enough to follow a change of cell).
    `max_dt_s`: widest sample interval for which a difference is used (1/60 s: an HX711 at "80 SPS"
    runs 78-92 Hz; at 40 Hz 6 Hz texture passes nearly unattenuated).
    """

    def __init__(self, window: int = 127, max_dt_s: float = 1.0 / 60.0) -> None:
        self.window = int(window)
        self.max_dt_s = float(max_dt_s)
        self._t_prev = np.full(ORDER, np.nan)  # last ORDER valid samples (oldest first)
        self._v_prev = np.full(ORDER, np.nan)
        self._part = np.empty(0)  # |d| of the unfinished block
        self._last = math.nan  # estimate after the last sample

    def process(self, t_s: np.ndarray, force_n: np.ndarray) -> np.ndarray:
        """Noise rms (N) after each of the given valid samples (NaN where not yet known / rate too low)."""
        n = len(t_s)
        if n == 0:
            return np.empty(0)
        # Few passes, two scratch arrays: on a long chunk every fresh 48 k-sample temporary costs page
        # faults that outweigh the arithmetic. The differences are the same subtractions np.diff does.
        m = n + ORDER
        buf = np.concatenate((self._t_prev, t_s))
        self._t_prev = buf[-ORDER:].copy()
        dt = np.subtract(buf[1:], buf[:-1], out=np.empty(m - 1))
        fast = dt <= self.max_dt_s  # (NaN before the first samples: such differences are not used)
        vx = np.concatenate((self._v_prev, force_n), out=buf)
        self._v_prev = vx[-ORDER:].copy()
        a, b = vx, dt
        for i in range(ORDER):  # a[j] - a[j-1] ORDER times, ping-ponging between the two arrays
            np.subtract(a[1 : m - i], a[: m - 1 - i], out=b[: m - 1 - i])
            a, b = b, a
        d = a[:n]
        # usable: finite, and all ORDER intervals of the difference fast
        use = np.isfinite(d)
        if fast[ORDER:].all():  # (the usual case) only the first ORDER differences can span a slow interval
            q = min(n, ORDER)
            for i in range(ORDER):
                use[:q] &= fast[i : i + q]
        else:
            for i in range(ORDER):
                use &= fast[i : i + n]
        n_use = int(np.count_nonzero(use))
        if n_use == 0:
            return np.full(n, self._last)
        a = np.abs(d, out=d)
        if n_use < n:
            a = a[use]
        w = self.window
        h = len(self._part)
        ext = np.concatenate((self._part, a)) if h else a
        n_blk = len(ext) // w
        self._part = ext[n_blk * w :].copy()
        if not n_blk:
            return np.full(n, self._last)
        # median of each block: w is odd, so it is the middle element (what np.median returns, exactly);
        # partitioned in place (ext is scratch)
        blocks = ext[: n_blk * w].reshape(n_blk, w)
        if w % 2:
            blocks.partition(w // 2, axis=1)
            med = blocks[:, w // 2] / _MEDIAN_ABS_D
        else:
            med = np.median(blocks, axis=1) / _MEDIAN_ABS_D
        # each sample carries the estimate after the latest usable difference up to it: the estimate
        # switches to block b's median at the sample whose difference completes block b
        ends = np.arange(1, n_blk + 1) * w - h  # usable differences of this call that complete each block
        at = ends - 1 if n_use == n else np.flatnonzero(use)[ends - 1]
        vals = np.concatenate(([self._last], med))
        self._last = float(med[-1])
        return np.repeat(vals, np.diff(np.concatenate(([0], at, [n]))))
