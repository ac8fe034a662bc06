"""Auto-zero: follow the load cell's offset drift while nobody is on the roller.

The HX711 zero drifts with temperature (tens of counts per degree C; domain.md),
i.e. a few newtons over a session. While the roller is unloaded the force is
near zero and steady; those frames feed a slow exponential average of the
offset, which is then held while someone is on the roller (the drift is slow
next to a set). "Unloaded" is decided without the offset estimate itself --
|force| within `zero_band_n` of zero and steady for a second -- so the stage
is a plain recursive filter over a subsequence and streams exactly.
"""
from __future__ import annotations

import numpy as np

from ._scipy import sps  # lfilter without scipy.signal's package import (_scipy.py says why)
from .frames import FRAME_S, Frames
from .filters import forward_fill


class AutoZero:
    """Offset tracker. `zero_band_n`: widest offset followed (a body on the roller is >= ~45 N:
    10 % of a 45 kg athlete). `steady_n`: largest change over 0.5 s / 1 s of an unloaded roller.
    `tau_s`: time constant of the offset average."""

    def __init__(self, zero_band_n: float = 20.0, steady_n: float = 1.5, tau_s: float = 2.0) -> None:
        self.zero_band_n = zero_band_n
        self.steady_n = steady_n
        a = FRAME_S / tau_s
        self._b, self._a = np.array([a]), np.array([1.0, -(1.0 - a)])
        self._hist = np.full(20, np.nan)  # last 1 s of input (frames), for the steadiness test
        self.offset_n = 0.0  # device is tared at start: begin from zero
        self.max_abs_offset_n = 0.0

    def process(self, frames: Frames) -> Frames:
        """Subtract the tracked offset; returns frames with zeroed force and `offset_n`."""
        n = len(frames)
        if n == 0:
            return frames.with_(offset_n=np.empty(0))
        f = frames.force_n
        ext = np.concatenate((self._hist, f))
        h = len(self._hist)
        ok = frames.valid & np.isfinite(f)
        with np.errstate(invalid="ignore"):
            steady = (np.abs(f - ext[h - 10 : h - 10 + n]) < self.steady_n) & (np.abs(f - ext[:n]) < self.steady_n)
            cand = ok & steady & (np.abs(f) < self.zero_band_n)
        self._hist = ext[-h:]
        idx = np.flatnonzero(cand)
        if len(idx):
            y, _ = sps.lfilter(self._b, self._a, f[idx], zi=[-self._a[1] * self.offset_n])  # state = (1-a) y[-1]
            off_c = np.zeros(n)
            off_c[idx] = y
            offset = forward_fill(off_c, cand, self.offset_n)
            self.offset_n = float(y[-1])
            self.max_abs_offset_n = max(self.max_abs_offset_n, float(np.max(np.abs(y))))
        else:
            offset = np.full(n, self.offset_n)
        return frames.with_(force_n=f - offset, offset_n=offset)
