"""Motion features: is the roller moving under the body, or is the body still on it?

With the encoder the answer is direct: roller travel. A still window is one in
which the roller position spans less than `enc_still_cm` (0.06 cm over 0.5 s);
rolling covers 7.5-17.5 cm per 0.6-8 s stroke (1-30 cm/s), while a hold only
sways by millimetres -- knee bends and posture shifts move load, not the roller.

Without the encoder only the force tells, and the hard cases are exactly where
force alone is ambiguous (domain.md). Three physical cues are measured here;
the state machine (which knows the session's rolling load) combines them:

* level and short-window modulation (`f_hi_s`/`f_lo_s`, 2 s): holds are
  usually *lighter* than rolling (10-25 % vs 25-40 % body weight). A light load
  may swing a lot -- a knee bend shifts load by 10-30 % -- and still be a hold,
  because what moves is a limb, not the body over the roller.
* long-window modulation (`f_hi_l`/`f_lo_l`, 8 s): rolling moves the load
  with the stroke (the share of weight on the roller changes as the roller
  moves along the limb, plus a bump at each reversal); a window as long as
  the slowest stroke (8 s per direction) always sees that swing, so a
  heavy, steady stretch is a hold only when even 8 s of it stays in a narrow
  band. This is what keeps slow rolling from looking like a hold at its
  reversals.
* texture (`tex_n`): rms of the force in the 2-6 Hz band (4th order). The shell is
  ribbed (the seed article asks for a "tread-like" surface), so the roller
  travelling under tissue puts a fast ripple on the load; breathing (0.2-0.3
  Hz) and knee bends (<= 1 Hz) do not. Re-positioning (short, irregular
  motion) also shows up here.

* reversals (`rev_ch`, `rev_l`): how often the load's swing changed side (see `_Reversals`). A
  limb moving during a hold swings the load back and forth; slow rolling ramps it one way along
  each 4-8 s stroke. The state machine lets a quiet or light window with a wide swing count as
  still only when the swing goes back and forth.

All windows are trailing (they end at the current frame) and use max/min
filters or recursive filters, so the features are exact under any chunking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from .filters import butter_sos, forward_fill, sosfilt_state, sosfilt_zi_of
from .frames import FRAME_S, Frames

ENC_WINDOW_S = 0.5
SHORT_WINDOW_S = 2.0
LONG_WINDOW_S = 8.0
TEXTURE_BAND_HZ = (2.0, 6.0)
TEXTURE_TAU_S = 0.5
#: texture rms (2-6 Hz, after resampling to frames) of white sensor noise, per N of noise rms per
#: sample. Measured (ten minutes of pure noise through Resampler/LowPass/Motion): mean 0.50-0.52
#: with real clock jitter, 0.62 when frames fall on samples (linear interpolation averages two
#: samples, a frame on a sample does not); the envelope (0.5 s) of that noise peaks at about twice
#: its mean (99.9th percentile 0.95-1.24, max 1.09-1.53). TEXTURE_NOISE_PER_N is that peak level:
#: texture below it can be sensor noise alone.
TEXTURE_NOISE_PER_N = 1.25
#: hysteresis of the reversal counter, as a fraction of the trailing 2 s load range
REV_HYST = 0.25
#: ... and never below this fraction of the load: breathing and rib ripple (a few %) are not a swing
REV_REL = 0.05


def frames_in(window_s: float) -> int:
    return max(1, int(round(window_s / FRAME_S)))


@dataclass(frozen=True)
class MotionFrames:
    """Per-frame inputs of the state machine (all arrays of one length)."""

    frames: Frames
    f_hi_s: np.ndarray
    f_lo_s: np.ndarray
    f_hi_l: np.ndarray
    f_lo_l: np.ndarray
    tex_n: np.ndarray
    tex_noise_n: np.ndarray  # texture sensor noise alone can reach (N; NaN: noise not estimated)
    rev_ch: np.ndarray  # 1 where the load's swing reversed (see _Reversals), else 0
    rev_l: np.ndarray  # load swing reversals within the trailing 8 s window (count)
    x_rng_cm: np.ndarray | None

    def __len__(self) -> int:
        return len(self.frames)


class _Trailing:
    """Trailing max/min over a fixed number of frames, with history carried between chunks.

    `want`: "both", or "max" / "min" when only one is used (the other is returned as None, not computed).
    """

    def __init__(self, n: int, want: str = "both") -> None:
        if want not in ("both", "max", "min"):
            raise ValueError(f"want: both, max or min, not {want!r}")
        self.n = n
        self.want = want
        self._hist: np.ndarray | None = None

    def process(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        hi = lo = None
        if len(x) == 0:
            return (None if self.want == "min" else np.empty(0)), (None if self.want == "max" else np.empty(0))
        if self._hist is None:  # stream start: replicate the first value (same in batch)
            self._hist = np.full(self.n - 1, x[0])
        ext = np.concatenate((self._hist, x))
        origin = (self.n - 1) // 2  # shift the window so it ends at the current sample
        if self.want != "min":
            hi = ndimage.maximum_filter1d(ext, self.n, origin=origin, mode="nearest")[self.n - 1 :]
        if self.want != "max":
            lo = ndimage.minimum_filter1d(ext, self.n, origin=origin, mode="nearest")[self.n - 1 :]
        self._hist = ext[len(ext) - (self.n - 1) :] if self.n > 1 else ext[:0]
        return hi, lo


class _TrailingSum:
    """Trailing sum of integers over a fixed number of frames, history carried (exact under any chunking)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._hist = np.zeros(n - 1, np.int64)

    def process(self, x: np.ndarray) -> np.ndarray:
        h = np.concatenate((self._hist, x.astype(np.int64)))
        c = np.concatenate(([0], np.cumsum(h)))
        out = c[self.n:] - c[: len(x)]
        self._hist = h[len(h) - (self.n - 1):]
        return out


class _Reversals:
    """Load swing reversals: 1 at each frame where the load's swing changed side (exact under any chunking).

    The load is classed above / below the middle of its trailing 2 s range when it is more than
    max(`REV_HYST` of that range, `REV_REL` of the load) away from it (else it keeps its previous
    class); a reversal is a change of class. A knee bend (0.1-1 Hz) swings the load around its
    level: 2 reversals per cycle, 2-16 in 8 s. Slow rolling moves the load monotonically along each
    4-8 s stroke: the trailing 2 s middle follows the ramp and the load stays on one side of it, so
    the class changes only at the stroke's reversals, 1-2 in 8 s. Breathing and rib ripple (a few %)
    stay inside the hysteresis.
    """

    def __init__(self) -> None:
        self._last_cls = 0

    def process(self, f: np.ndarray, hi_s: np.ndarray, lo_s: np.ndarray) -> np.ndarray:
        if len(f) == 0:
            return np.empty(0, np.int8)
        mid = 0.5 * (hi_s + lo_s)
        d = np.maximum(REV_HYST * (hi_s - lo_s), REV_REL * np.abs(mid))
        cls = np.where(f > mid + d, 1, np.where(f < mid - d, -1, 0))
        ext = np.concatenate(([self._last_cls], cls))
        # undecided frames keep the previous class (forward fill of the non-zero classes)
        idx = np.where(ext != 0, np.arange(len(ext)), 0)
        np.maximum.accumulate(idx, out=idx)
        filled = ext[idx]
        self._last_cls = int(filled[-1])
        return ((filled[1:] != filled[:-1]) & (filled[:-1] != 0)).astype(np.int8)


class Motion:
    """Computes `MotionFrames` from frames that went through low-pass, auto-zero and contact."""

    def __init__(self) -> None:
        self._short = _Trailing(frames_in(SHORT_WINDOW_S))
        self._long = _Trailing(frames_in(LONG_WINDOW_S))
        self._enc = _Trailing(frames_in(ENC_WINDOW_S))
        self._rev = _Reversals()
        self._rev_l = _TrailingSum(frames_in(LONG_WINDOW_S))
        self._band = butter_sos(4, TEXTURE_BAND_HZ, "bandpass")  # (designed once per process)
        self._band_zi: np.ndarray | None = None
        a = FRAME_S / TEXTURE_TAU_S
        self._env_b, self._env_a = np.array([a]), np.array([1.0, -(1.0 - a)])
        self._env_zi = np.zeros(1)
        self._last_f = np.nan
        self._last_x = np.nan

    def process(self, frames: Frames) -> MotionFrames:
        n = len(frames)
        f_ok = frames.valid & np.isfinite(frames.force_n)
        f = forward_fill(frames.force_n, f_ok, self._last_f)
        if n:
            self._last_f = float(f[-1])
        # before the first valid frame there is nothing to measure: treat as zero load
        f = np.where(np.isfinite(f), f, 0.0)
        hi_s, lo_s = self._short.process(f)
        hi_l, lo_l = self._long.process(f)
        raw = frames.force_raw_n if frames.force_raw_n is not None else frames.force_n
        raw = np.where(np.isfinite(raw), raw, f)
        if n and self._band_zi is None:
            self._band_zi = sosfilt_zi_of(4, TEXTURE_BAND_HZ, "bandpass") * raw[0]
        if n:
            band, self._band_zi = sosfilt_state(self._band, raw, self._band_zi)
            env, self._env_zi = sps.lfilter(self._env_b, self._env_a, band * band, zi=self._env_zi)
            tex = np.sqrt(np.maximum(env, 0.0))
        else:
            tex = np.empty(0)
        x_rng = None
        if frames.x_cm is not None:
            x = forward_fill(frames.x_cm, np.isfinite(frames.x_cm), self._last_x)
            if n:
                self._last_x = float(x[-1])
            x = np.where(np.isfinite(x), x, 0.0)
            hi, lo = self._enc.process(x)
            x_rng = hi - lo
        noise = frames.noise_n if frames.noise_n is not None else np.full(n, np.nan)
        rev = self._rev.process(f, hi_s, lo_s)
        return MotionFrames(frames, hi_s, lo_s, hi_l, lo_l, tex, TEXTURE_NOISE_PER_N * noise, rev,
                            self._rev_l.process(rev), x_rng)
