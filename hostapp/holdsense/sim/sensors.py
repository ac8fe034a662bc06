"""Sensor models: the HX711 load-cell chain and the AS5600 magnetic encoder.

`LoadCell.counts(force_n, t_s)` turns true force into the signed 24-bit codes an
HX711 delivers (tare offset with slow temperature drift, gain, small quadratic
non-linearity, noise, occasional spurious codes, saturation at the rails);
`Encoder.raw_counts(angle_deg)` turns true shell angle into AS5600 RAW ANGLE
codes (12 bit, 4096 per turn). The virtual device feeds these codes to its
shimmed sensor pins; `simulate()` uses the same objects offline.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

ADC_MAX = (1 << 23) - 1  # 0x7FFFFF: HX711 positive rail (domain.md: flag it, never trust it)
ADC_MIN = -(1 << 23)  # 0x800000 as a signed code
AS5600_COUNTS = 4096  # 12-bit RAW ANGLE per turn


def force_from_counts(raw_counts: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Calibrated force (N) from raw counts: Σ counts_to_n[k]·(raw − tare)^k (contracts.md §1)."""
    d = np.asarray(raw_counts, dtype=np.float64) - float(calibration["tare_counts"])
    coeffs = calibration["counts_to_n"]
    out = np.zeros_like(d)
    for c in reversed(coeffs):  # Horner, ascending-power coefficients
        out = out * d + float(c)
    return out


class _Drift:
    """Slow zero drift (counts) as an analytic function of time: defined for any t, no state.

    Temperature drift of the bridge and ADC is tens of counts per degC (domain.md);
    a body warming the roller moves the zero by a few degC over minutes.
    """

    def __init__(self, rng: np.random.Generator, amplitude_counts: float) -> None:
        self.amplitude = amplitude_counts
        self.f_hz = rng.uniform(1 / 1800.0, 1 / 120.0, 4)
        self.phase = rng.uniform(0.0, 2 * math.pi, 4)
        self.w = rng.uniform(0.3, 1.0, 4)
        self.w /= float(np.sum(self.w))
        self.trend = rng.normal(0.0, 0.5) * amplitude_counts / 600.0  # counts per second
        self.zero = float(np.sum(self.w * np.sin(self.phase)))

    def __call__(self, t_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        out = np.zeros_like(t)
        for f, p, w in zip(self.f_hz, self.phase, self.w):
            out += w * np.sin(2 * math.pi * f * t + p)
        # starts at 0 drift at t=0; saturating trend so a 24-h stream stays bounded
        trend = self.trend * 600.0 * np.tanh(t / 600.0)
        return self.amplitude * (out - self.zero) + trend


class LoadCell:
    """HX711 + load cells: force (N) -> signed 24-bit ADC codes.

    counts = tare + drift(t) + k·F + q·F² + noise, clipped at ±2^23, where
    k = counts_per_n (81.3 counts/N, i.e. 0.0123 N/count, contracts.md §1) and
    q gives `nonlinearity_frac` relative error at 1000 N. Noise is specified at
    80 SPS and scales with (rate_hz/80)^0.3: the 10 SPS mode averages longer
    (HX711 datasheet: ~50 vs 90 nV rms). Spurious codes set the low 8..19 bits
    to ones (long-wire glitches, domain.md); saturation events pin a short run
    of samples at a rail. Faults are drawn per sample, so a streaming caller
    (virtual device) gets the same statistics as a batch one.
    """

    def __init__(self, *, tare_counts: float = 84210.0, counts_per_n: float = 81.3, noise_n: float = 0.5,
                 rate_hz: float = 80.0, offset_drift_counts: float = 150.0, nonlinearity_frac: float = 0.0005,
                 spike_rate_hz: float = 0.0, saturation_per_min: float = 0.0, saturation_samples: int = 2,
                 seed: int | np.random.SeedSequence = 0) -> None:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence([int(seed), 11])
        kids = ss.spawn(2)
        self.rng = np.random.default_rng(kids[0])
        self.tare_counts = float(tare_counts)
        self.counts_per_n = float(counts_per_n)
        self.quad_counts_per_n2 = float(nonlinearity_frac) * self.counts_per_n / 1000.0
        self.rate_hz = float(rate_hz)
        self.noise_counts = float(noise_n) * self.counts_per_n * (self.rate_hz / 80.0) ** 0.3
        self.drift = _Drift(np.random.default_rng(kids[1]), float(offset_drift_counts))
        self.spike_rate_hz = float(spike_rate_hz)
        self.saturation_per_min = float(saturation_per_min)
        self.saturation_samples = int(saturation_samples)
        self._sat_left = 0
        self._sat_code = ADC_MAX

    @classmethod
    def from_scenario(cls, resolved: dict[str, Any], *, rate_hz: float | None = None,
                      seed: int | np.random.SeedSequence = 0) -> "LoadCell":
        """The load cell described by a resolved scenario's `sensor` block."""
        s = resolved["sensor"]
        return cls(tare_counts=s["tare_counts"], counts_per_n=s["counts_per_n"], noise_n=s["noise_n"],
                   rate_hz=rate_hz if rate_hz is not None else resolved["rate_hz"],
                   offset_drift_counts=s["offset_drift_counts"], nonlinearity_frac=s["nonlinearity_frac"],
                   spike_rate_hz=s["spike_rate_hz"], saturation_per_min=s["saturation_per_min"],
                   saturation_samples=s["saturation_samples"], seed=seed)

    def ideal_counts(self, force_n: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Noise-free ADC reading (float counts) for force_n at times t_s: offset, drift, gain, non-linearity."""
        f = np.asarray(force_n, dtype=np.float64)
        return self.tare_counts + self.drift(t_s) + self.counts_per_n * f + self.quad_counts_per_n2 * f * f

    def counts(self, force_n: "np.ndarray | float", t_s: "np.ndarray | float") -> np.ndarray:
        """Signed 24-bit ADC codes (int64) for true force_n (N) at times t_s (s), with noise and faults."""
        f = np.atleast_1d(np.asarray(force_n, dtype=np.float64))
        t = np.broadcast_to(np.atleast_1d(np.asarray(t_s, dtype=np.float64)), f.shape)
        c = self.ideal_counts(f, t) + self.rng.normal(0.0, 1.0, f.shape) * self.noise_counts
        c = np.clip(np.rint(c), ADC_MIN, ADC_MAX).astype(np.int64)
        n = len(c)
        if self.spike_rate_hz > 0:
            hit = self.rng.uniform(size=n) < self.spike_rate_hz / self.rate_hz
            if hit.any():
                bits = self.rng.integers(8, 20, int(hit.sum()))
                c[hit] = to_signed24((c[hit] & 0xFFFFFF) | ((1 << bits) - 1))
        if self.saturation_per_min > 0 or self._sat_left:
            p = self.saturation_per_min / 60.0 / self.rate_hz
            start = self.rng.uniform(size=n) < p
            for i in range(n):  # short loop only over this chunk; runs may span chunks
                if self._sat_left == 0 and start[i]:
                    self._sat_left = max(1, int(self.rng.integers(1, 2 * self.saturation_samples + 1)))
                    self._sat_code = ADC_MAX if self.rng.uniform() < 0.7 else ADC_MIN
                if self._sat_left:
                    c[i] = self._sat_code
                    self._sat_left -= 1
        return c

    @staticmethod
    def saturated(counts: np.ndarray) -> np.ndarray:
        """True where a code sits on a rail (0x7FFFFF or 0x800000): the value is not trustworthy."""
        c = np.asarray(counts)
        return (c >= ADC_MAX) | (c <= ADC_MIN)

    def calibration(self, *, gain_error_frac: float = 0.0, tare_counts: float | None = None,
                    max_force_n: float = 1500.0) -> dict[str, Any]:
        """The calibration a user would end up with: {"tare_counts", "counts_to_n", "residual_n"}.

        `counts_to_n` is the least-squares quadratic inverse of the true transfer
        (as a multi-point calibration would find) times (1 + gain_error_frac),
        i.e. the residual error of a real calibration with an imperfect reference
        mass. `tare_counts` defaults to the zero at t=0. `residual_n` is the RMS
        error of the calibrated force over 0..max_force_n.
        """
        f = np.linspace(0.0, max_force_n, 301)
        d = self.counts_per_n * f + self.quad_counts_per_n2 * f * f
        A = np.stack([d, d * d], axis=1)
        (a, b), *_ = np.linalg.lstsq(A, f, rcond=None)
        # What the calibration procedure can see: how well its curve fits its own
        # (noisy, averaged) points. The reference mass's error (gain_error_frac) is invisible to it.
        resid = float(np.sqrt(np.mean((a * d + b * d * d - f) ** 2))) + self.noise_counts / self.counts_per_n / 4.0
        a *= 1.0 + gain_error_frac
        b *= 1.0 + gain_error_frac
        tare = self.tare_counts + float(self.drift(np.array([0.0]))[0]) if tare_counts is None else tare_counts
        return {"tare_counts": int(round(tare)), "counts_to_n": [0.0, float(f"{a:.8g}"), float(f"{b:.6g}")],
                "residual_n": round(resid, 3)}


def to_signed24(u: np.ndarray) -> np.ndarray:
    """Interpret unsigned 24-bit values as two's-complement signed codes."""
    u = np.asarray(u, dtype=np.int64) & 0xFFFFFF
    return np.where(u >= (1 << 23), u - (1 << 24), u)


class Encoder:
    """AS5600 magnetic angle sensor on the shell: true angle (deg) -> RAW ANGLE codes 0..4095.

    The magnet sits at an arbitrary angle (`zero_deg`), readings carry a little
    noise (`noise_deg`) and 12-bit quantisation (0.088 deg). `unwrap_deg` turns a
    code stream back into a cumulative angle, as the firmware/host do.
    """

    def __init__(self, *, noise_deg: float = 0.03, zero_deg: float | None = None,
                 seed: int | np.random.SeedSequence = 0) -> None:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence([int(seed), 12])
        self.rng = np.random.default_rng(ss)
        self.noise_deg = float(noise_deg)
        self.zero_deg = float(self.rng.uniform(0.0, 360.0)) if zero_deg is None else float(zero_deg)

    def raw_counts(self, angle_deg: "np.ndarray | float") -> np.ndarray:
        """AS5600 RAW ANGLE codes (int64, 0..4095) for true shell angles (deg)."""
        a = np.atleast_1d(np.asarray(angle_deg, dtype=np.float64)) + self.zero_deg
        a = a + self.rng.normal(0.0, self.noise_deg, a.shape) if self.noise_deg > 0 else a
        return np.mod(np.floor(a / 360.0 * AS5600_COUNTS + 0.5), AS5600_COUNTS).astype(np.int64)

    @staticmethod
    def unwrap_deg(raw_counts: np.ndarray, start_counts: int | None = None) -> np.ndarray:
        """Cumulative angle (deg) from a code stream, relative to `start_counts` (default: the first code).

        Steps larger than half a turn between samples are taken as wraps; at
        10 SPS that allows ~1800 deg/s (~2.4 m/s of travel on a 7.5 cm shell).
        """
        r = np.asarray(raw_counts, dtype=np.int64)
        if len(r) == 0:
            return np.empty(0)
        ref = int(r[0]) if start_counts is None else int(start_counts)
        steps = np.diff(np.concatenate([[ref], r]))
        steps = (steps + AS5600_COUNTS // 2) % AS5600_COUNTS - AS5600_COUNTS // 2
        return np.cumsum(steps) * (360.0 / AS5600_COUNTS)
