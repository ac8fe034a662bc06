"""Resample: irregular device-time samples onto the fixed frame grid `k * FRAME_S`.

Time comes only from the device's `t_s`: a frame's value is the linear
interpolation between the valid samples either side of it. Where those two
samples are further apart than `max_interp_s` (a link gap, a run of
saturated or missing samples) the frame is marked invalid instead of being
invented; the state machine decides how long such a stretch may be bridged.

Streaming: a frame is emitted as soon as the sample after it has arrived (or
as soon as time has moved on far enough that it must be invalid), so its
value never depends on how the stream was chunked.
"""
from __future__ import annotations

import math

import numpy as np

from .frames import FRAME_S, Frames
from .types import FLAG_GAP, SampleChunk

#: Shell radius (cm) turning angle into travel: 7.5 cm typical (domain.md, "Sensors").
SHELL_RADIUS_CM = 7.5


class _Track:
    """Interpolation state of one signal (force or angle): the last valid sample seen, and before it
    (`_pre_t`/`_pre_v`, usually empty) the earlier samples a frame not yet emitted still lies between:
    frames are emitted up to the *slower* track's horizon, so the angle may have samples past the next
    frame while the force has not (a NaN force with a valid angle); dropping them made chunked and
    whole streams differ."""

    def __init__(self) -> None:
        self.t_last = -math.inf
        self.v_last = math.nan
        self._pre_t = np.empty(0)
        self._pre_v = np.empty(0)

    def horizon(self, t_valid: np.ndarray, t_any_max: float, max_interp_s: float) -> float:
        """Latest frame time whose value is final given the samples seen."""
        t_last = float(t_valid[-1]) if len(t_valid) else self.t_last
        if t_any_max > t_last + max_interp_s:
            return t_any_max  # whatever comes next is too far away: frames up to now are final
        return t_last

    def values(self, t_frames: np.ndarray, t_valid: np.ndarray, v_valid: np.ndarray,
               max_interp_s: float, t_keep_s: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated values at frame times and their validity; updates the carried samples, keeping
        those from the last one at or before `t_keep_s` (the next frame to emit) on."""
        # values at tx = carried samples + t_valid (and vx alike)
        ct, cv = self._carried()
        nv = len(t_valid)
        if nv:
            self.t_last, self.v_last = float(t_valid[-1]), float(v_valid[-1])
        if len(ct) > 1 or (nv and t_valid[-1] > t_keep_s):  # samples past the next frame: keep those it lies between
            self._carry(t_keep_s, ct, cv, t_valid, v_valid)
        if len(t_frames) == 0:
            return np.empty(0), np.empty(0, bool)
        if len(ct) > 1 or nv < 4096:  # a short chunk (live streaming): the concatenations are cheap, fewer calls
            tx = np.concatenate((ct, t_valid))
            nx = len(tx)
            j = np.searchsorted(tx, t_frames, side="right")  # tx[j-1] <= t < tx[j]
            jl = np.maximum(j - 1, 0)
            jr = np.minimum(j, nx - 1)
            t_left, t_right = tx[jl], tx[jr]
            vx = np.concatenate((cv, v_valid))
            vl, vr = vx[jl], vx[jr]
        else:
            # a long chunk gathers without building the concatenations: they are sample-long (4x the
            # frames), and every fresh long array costs page faults
            nx = nv + 1
            j, t_left, t_right, gather = self._gather_long(t_frames, t_valid, float(ct[0]), nv)
            vl, vr = gather(v_valid, float(cv[0]))
        exact = t_frames == t_left
        with np.errstate(invalid="ignore"):  # no valid sample yet: t_left is NaN, masked out by `ok` below
            ok = (j >= 1) & np.isfinite(t_left) & ((j < nx) & (t_right - t_left <= max_interp_s) | exact)
            w = np.where(t_right > t_left, (t_frames - t_left) / np.where(t_right > t_left, t_right - t_left, 1.0),
                         0.0)
        v = np.where(exact, vl, vl + w * (vr - vl))
        return np.where(ok, v, np.nan), ok

    def _carried(self) -> tuple[np.ndarray, np.ndarray]:
        """The carried samples (times, values), oldest first; the last is t_last/v_last."""
        if len(self._pre_t):
            return np.append(self._pre_t, self.t_last), np.append(self._pre_v, self.v_last)
        return np.array([self.t_last]), np.array([self.v_last])

    def _carry(self, t_keep_s: float, ct: np.ndarray, cv: np.ndarray, t_valid: np.ndarray,
               v_valid: np.ndarray) -> None:
        """Carry the samples of [ct, t_valid] from the last one at or before `t_keep_s` on (the last
        one is t_last/v_last, the rest go to _pre_t/_pre_v)."""
        c = int(np.searchsorted(t_valid, t_keep_s, side="right"))
        if c >= 1:
            self._pre_t, self._pre_v = t_valid[c - 1 : -1].copy(), v_valid[c - 1 : -1].copy()
        else:
            cc = max(int(np.searchsorted(ct, t_keep_s, side="right")) - 1, 0)
            self._pre_t = np.concatenate((ct[cc:], t_valid))[:-1]
            self._pre_v = np.concatenate((cv[cc:], v_valid))[:-1]

    @staticmethod
    def _gather_long(t_frames: np.ndarray, t_valid: np.ndarray, t_last0: float, nv: int):
        """(j, tx[j-1], tx[j], gather) for tx = [t_last0] + t_valid without building tx (nor vx)."""
        # j = searchsorted(tx, t_frames, "right"): tx[j-1] <= t < tx[j]
        j = np.searchsorted(t_valid, t_frames, side="right")
        j += t_frames >= t_last0
        jl = np.maximum(j - 1, 0)
        jr = np.minimum(j, nv)
        first_l = jl == 0  # tx[0] is the carried sample
        first_r = jr == 0
        il = np.maximum(jl - 1, 0)
        ir = np.maximum(jr - 1, 0)

        def gather(v: np.ndarray, v0: float) -> tuple[np.ndarray, np.ndarray]:
            if nv == 0:
                return np.full(len(t_frames), v0), np.full(len(t_frames), v0)
            left, right = v[il], v[ir]
            np.copyto(left, v0, where=first_l)
            np.copyto(right, v0, where=first_r)
            return left, right

        t_left, t_right = gather(t_valid, t_last0)
        return j, t_left, t_right, gather


class AngleUnwrap:
    """Undo an angle that wraps at 360 degrees (contracts.md §1 asks for a cumulative angle; a third-party
    recording may give the sensor's 0-360 reading, which jitters between 359.9 and 0.1 while the roller is
    still and would read as 47 cm of travel). Between two valid samples at most `max_dt_s` apart a step of
    more than 180 degrees is taken as a wrap: rolling turns the shell by at most ~80 degrees in 0.35 s
    (0.3 m/s on a 7.5 cm radius), so a real cumulative angle never makes such a step, and across a longer
    gap nothing is assumed. Streaming: each decision looks at one pair of samples, whatever the chunking.
    """

    def __init__(self, max_dt_s: float = 0.35) -> None:
        self.max_dt_s = max_dt_s
        self._t = math.nan  # last valid angle sample: time, raw value, offset added to it
        self._raw = math.nan
        self._off = 0.0
        self.wraps = 0

    def process(self, chunk: SampleChunk) -> SampleChunk:
        """The chunk with its angle unwrapped (the same chunk when nothing wraps)."""
        a = chunk.angle_deg
        if a is None or len(a) == 0:
            return chunk
        if self._off == 0.0 and math.isfinite(a[-1]):  # the usual case: a cumulative angle, no step near 180
            step = float(np.abs(np.diff(a)).max()) if len(a) > 1 else 0.0  # (NaN inside: the careful path)
            if step <= 180.0 and not abs(float(a[0]) - self._raw) > 180.0:  # (no previous sample: NaN, passes)
                self._t, self._raw = float(chunk.t_s[-1]), float(a[-1])
                return chunk
        ok = np.isfinite(a)
        ta, va = chunk.t_s[ok], a[ok]
        if len(va) == 0:
            return chunk
        d = np.diff(va, prepend=self._raw)
        dt = np.diff(ta, prepend=self._t)
        with np.errstate(invalid="ignore"):  # the stream's first sample: NaN step
            turns = np.where((np.abs(d) > 180.0) & (dt <= self.max_dt_s), -np.round(d / 360.0), 0.0)
        self._t, self._raw = float(ta[-1]), float(va[-1])
        if not turns.any() and self._off == 0.0:  # (the usual case: a cumulative angle, no copy)
            return chunk
        self.wraps += int(np.count_nonzero(turns))
        off = self._off + 360.0 * np.cumsum(turns)
        self._off = float(off[-1])
        out = a.copy()
        out[ok] = va + off
        return SampleChunk(chunk.t_s, chunk.force_n, out, chunk.flags, chunk.raw_counts)


class Resampler:
    """Streaming resampler from SampleChunk to Frames (force and, if present, roller position).

    `max_interp_s`: widest spacing of valid samples still interpolated (0.35 s
    covers 10 Hz with jitter and one or two lost samples). Counts link gaps
    (FLAG_GAP samples plus unflagged jumps wider than `max_interp_s`).
    """

    def __init__(self, max_interp_s: float = 0.35, shell_radius_cm: float = SHELL_RADIUS_CM) -> None:
        self.max_interp_s = max_interp_s
        self.cm_per_deg = math.pi / 180.0 * shell_radius_cm
        self._force = _Track()
        self._angle = _Track()
        self._k_next: int | None = None
        self._t_any = -math.inf
        self.has_angle: bool | None = None
        self.gaps = 0
        self.samples = 0
        self.t_first_s: float | None = None

    def process(self, chunk: SampleChunk) -> Frames:
        """Feed samples; returns the frames that became final."""
        if self.has_angle is None and len(chunk):
            self.has_angle = chunk.angle_deg is not None
        has_x = bool(self.has_angle)
        if len(chunk) == 0:
            return Frames.empty(has_x)
        t = chunk.t_s
        if self._k_next is None:
            self._k_next = int(math.ceil(t[0] / FRAME_S - 1e-9))
            if self._k_next * FRAME_S < t[0]:
                self._k_next += 1
            self.t_first_s = float(t[0])
        self.samples += len(t)
        # link gaps: flagged by the decoder, or visible as a hole in device time
        dt0 = float(t[0]) - self._t_any  # (the first interval, from the last sample of the previous chunk)
        any_flag = bool(chunk.flags.any())
        flagged = (chunk.flags & FLAG_GAP) != 0 if any_flag else None
        self.gaps += int((any_flag and bool(flagged[0])) or (math.isfinite(dt0) and dt0 > self.max_interp_s))
        if len(t) > 1:
            dt = np.diff(t)
            wide = dt > self.max_interp_s
            if any_flag or wide.any():  # (usually neither: no gap to count)
                if flagged is None:
                    flagged = np.zeros(len(t), bool)
                self.gaps += int(np.count_nonzero(flagged[1:] | (np.isfinite(dt) & wide)))
        self._t_any = float(t[-1])
        okf = np.isfinite(chunk.force_n)
        if okf.all():  # (the usual case: no copies)
            tf, vf = t, chunk.force_n
        else:
            tf, vf = t[okf], chunk.force_n[okf]
        horizon = self._force.horizon(tf, self._t_any, self.max_interp_s)
        if has_x:
            a = chunk.angle_deg if chunk.angle_deg is not None else np.full(len(t), np.nan)
            oka = np.isfinite(a)
            ta, va = t[oka], a[oka]
            horizon = min(horizon, self._angle.horizon(ta, self._t_any, self.max_interp_s))
        k_end = int(math.floor(horizon / FRAME_S + 1e-9)) if math.isfinite(horizon) else self._k_next - 1
        if k_end * FRAME_S > horizon:  # rounding: never emit a frame the samples do not reach yet
            k_end -= 1
        k = np.arange(self._k_next, max(k_end + 1, self._k_next), dtype=np.int64)
        self._k_next = max(k_end + 1, self._k_next)
        tk = k * FRAME_S
        t_keep = self._k_next * FRAME_S  # the next frame to emit
        force, valid = self._force.values(tk, tf, vf, self.max_interp_s, t_keep_s=t_keep)
        x = None
        if has_x:
            ang, _ = self._angle.values(tk, ta, va, self.max_interp_s, t_keep_s=t_keep)
            x = ang * self.cm_per_deg
        return Frames(k, tk, force, valid, x)

    def finish(self) -> Frames:
        """End of stream: frames between the last valid sample and the last sample are invalid."""
        return Frames.empty(bool(self.has_angle))
