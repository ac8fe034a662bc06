"""Causal low-pass of the force on the frame grid (scipy.signal.sosfilt with carried state).

Never filtfilt: a zero-phase filter looks into the future, so a live detector
could not reproduce it. The cut-off keeps everything a body does on a roller
(strokes up to ~0.8 Hz, knee bends up to 1 Hz, breathing 0.18-0.33 Hz;
domain.md) and removes ADC noise. Group delay at low frequencies is
`GROUP_DELAY_S`; the state machine back-dates force-derived boundaries by it.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._scipy import sosfilt_kernel as _sosfilt_kernel  # sosfilt's C kernel, without scipy.signal's import
from ._scipy import sps
from .designs import FRAME_S_DESIGNED, STORED_DESIGNS, design_key
from .frames import FRAME_S, Frames

CUTOFF_HZ = 2.0
ORDER = 2


def forward_fill(values: np.ndarray, ok: np.ndarray, carry: float) -> np.ndarray:
    """Replace entries where `ok` is False with the last ok value (`carry` before the first)."""
    if ok.all():  # (the usual case: a copy, without the index arithmetic)
        return values.copy()
    idx = np.where(ok, np.arange(len(values)), -1)
    np.maximum.accumulate(idx, out=idx)
    ext = np.concatenate((values, [carry]))
    return ext[idx]  # idx -1 picks the appended carry


@functools.lru_cache(maxsize=None)
def butter_sos(order: int, cutoff_hz: float | tuple[float, float], btype: str = "lowpass") -> np.ndarray:
    """`scipy.signal.butter(..., fs=1 / FRAME_S, output="sos")`, designed once per process (or stored).

    Why: the design (zpk2sos) costs ~0.5-1.4 ms per filter, more than filtering ten minutes of frames;
    every Detector (one per `analyze`) would redo it. Treat the result as read-only.
    """
    stored = STORED_DESIGNS.get(design_key(order, cutoff_hz, btype)) if FRAME_S == FRAME_S_DESIGNED else None
    if stored is not None:
        return np.array(stored[0], dtype=np.float64)
    return sps.butter(order, cutoff_hz, btype=btype, fs=1.0 / FRAME_S, output="sos")


@functools.lru_cache(maxsize=None)
def sosfilt_zi_of(order: int, cutoff_hz: float | tuple[float, float], btype: str = "lowpass") -> np.ndarray:
    """`scipy.signal.sosfilt_zi` of `butter_sos(...)`, computed once (steady state for a unit step)."""
    return sps.sosfilt_zi(butter_sos(order, cutoff_hz, btype))


def sosfilt_state(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`scipy.signal.sosfilt(sos, x, zi=zi)` for a 1-D float64 signal, without its per-call overhead.

    Why: the streaming detector filters a few frames per call, where sosfilt's argument validation and
    axis juggling cost ~10x the filtering. The same C kernel does the arithmetic, so the output is
    bit-identical to sosfilt (tests/dsp/test_streaming.py checks it).
    """
    if _sosfilt_kernel is None or x.dtype != np.float64 or sos.dtype != np.float64:
        return sps.sosfilt(sos, x, zi=zi)  # (the real scipy.signal, imported on first use)
    y = np.array(x, dtype=np.float64, order="C").reshape(1, -1)  # the kernel works in place
    z = np.array(zi, dtype=np.float64, order="C").reshape(1, sos.shape[0], 2)
    try:
        _sosfilt_kernel(sos, y, z)
    except TypeError:  # a scipy whose private kernel takes other arguments: the public function
        return sps.sosfilt(sos, x, zi=zi)
    return y[0], z[0]


class LowPass:
    """Butterworth low-pass (order 2, 2 Hz) on frames; invalid frames are filled with the last valid input."""

    def __init__(self, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER) -> None:
        self._design = (order, cutoff_hz)
        self.sos = butter_sos(order, cutoff_hz)
        self._zi: np.ndarray | None = None
        self._last_in = math.nan

    @property
    def group_delay_s(self) -> float:
        """Low-frequency group delay (s) of the filter."""
        w, gd = sps.group_delay(sps.sos2tf(self.sos), w=[0.05], fs=1.0 / FRAME_S)
        return float(gd[0]) * FRAME_S

    def process(self, frames: Frames) -> Frames:
        """Filter `frames.force_n`; returns frames with the filtered force (validity unchanged)."""
        if len(frames) == 0:
            return frames
        x = forward_fill(frames.force_n, frames.valid & np.isfinite(frames.force_n), self._last_in)
        if self._zi is None:
            first = np.flatnonzero(np.isfinite(x))
            if len(first) == 0:  # nothing valid yet: pass NaNs through, filter not started
                return frames
            i0 = int(first[0])
            self._zi = sosfilt_zi_of(*self._design) * x[i0]
            y0 = np.full(i0, np.nan)
            y1, self._zi = sosfilt_state(self.sos, x[i0:], self._zi)
            y = np.concatenate((y0, y1))
        else:
            y, self._zi = sosfilt_state(self.sos, x, self._zi)
        self._last_in = float(x[-1])
        return frames.with_(force_n=y)
