"""Sensors and link: the HX711 load-cell ADC, the AS5600 angle sensor and a BLE link that loses data.

HX711 (datasheet): an integrating sigma-delta converter, 10 or 80 SPS from its
own oscillator (a real "80 SPS" part runs 78-92, domain.md), so each output is
the force averaged over its conversion period. Input-referred noise 50 nV rms
at 10 SPS and 90 nV at 80 SPS with gain 128; 1 LSB = 2 x 19.5 mV / 2^24 =
2.33 nV at AVDD 5 V, so ~21 / ~39 counts rms, times a wiring factor. Codes are
24-bit two's complement; the rails 0x7FFFFF / 0x800000 mean saturation (flagged
`sat`). Spurious codes (low bits all ones, long wires) and a temperature zero
drift (tens of counts per degC) are added. The device time-stamps each sample
with its own clock (ppm error) plus a small latency jitter.

AS5600: 12-bit angle (0.088 deg per LSB) of the shell, read with each force
sample; noise, integral non-linearity (magnet misalignment) and rare I2C read
failures (NaN). The host unwraps it to a cumulative angle from 0.

Link: samples go out in notifications flushed every 25-50 ms (domain.md); a lost
notification loses its samples, a reconnect loses everything for 0.3-3 s; the
first sample after any loss carries FLAG_GAP.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rollsignal import FLAG_GAP, FLAG_SAT

LSB_NV = 2 * 19.5e6 / 2**24  # nV per count at gain 128, AVDD 5 V
CODE_MAX = 2**23 - 1
CODE_MIN = -(2**23)


@dataclass
class SensorOut:
    """What the device delivered, plus the true time of each delivered sample (for truth arrays)."""

    t_s: np.ndarray           # device time, from 0
    force_n: np.ndarray
    raw_counts: np.ndarray
    flags: np.ndarray
    angle_deg: np.ndarray | None
    t_true_s: np.ndarray       # true time of each delivered sample
    t_first_true_s: float      # true time of the first conversion (device t = 0)
    clock_scale: float         # device seconds per true second
    calibration: dict[str, Any]
    stats: dict[str, Any]


def hx711_times(rng: np.random.Generator, rate_hz: float, wander: float, t_end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Conversion end times (true s) and periods: rate with a slow oscillator wander."""
    n_max = int(t_end_s * rate_hz * 1.01) + 8
    # slow wander: a random walk smoothed over ~30 s, scaled to the drawn relative size
    k = max(1, int(30 * rate_hz))
    walk = np.cumsum(rng.normal(0, 1, n_max))
    walk = np.convolve(walk, np.ones(k) / k, mode="same")
    walk = (walk - walk.mean()) / max(float(np.std(walk)), 1e-12)
    period = (1.0 / rate_hz) * (1.0 + wander * walk)
    t = rng.uniform(0.0, 1.0 / rate_hz) + np.cumsum(period)
    keep = t < t_end_s
    return t[keep], period[keep]


def to_code24(v: np.ndarray) -> np.ndarray:
    return np.clip(np.round(v), CODE_MIN, CODE_MAX).astype(np.int64)


def simulate_sensors(t_grid: np.ndarray, force_grid: np.ndarray, x_grid: np.ndarray, *, rate_nom_hz: float,
                     encoder: bool, dev: dict[str, Any], rng_noise: np.random.Generator,
                     rng_enc: np.random.Generator, rng_link: np.random.Generator) -> SensorOut:
    """Sample the true force (and shell travel) as the roller's electronics and link would deliver them.

    dev: the device's drawn parameters (rate factor, gain, offsets, drift, link rates...).
    """
    dt = t_grid[1] - t_grid[0]
    rate = rate_nom_hz * dev["adc_rate_factor"]
    t_k, per = hx711_times(rng_noise, rate, dev["adc_rate_wander"], t_grid[-1])
    n = len(t_k)
    # integrating converter: mean force over each conversion period
    integ = np.concatenate(([0.0], np.cumsum(0.5 * (force_grid[1:] + force_grid[:-1]) * dt)))
    f_avg = (np.interp(t_k, t_grid, integ) - np.interp(t_k - per, t_grid, integ)) / per
    # counts
    noise_nv = 50.0 if rate_nom_hz <= 20 else 90.0
    noise_counts = dev["adc_noise_x"] * noise_nv / LSB_NV
    temp = dev["temp_rise_c"] * (1.0 - np.exp(-t_k / dev["temp_tau_s"]))
    zero = dev["tare_offset_counts"] + dev["tempco_counts_per_c"] * temp
    raw = zero + dev["counts_per_n"] * f_avg + rng_noise.normal(0.0, noise_counts, n)
    code = to_code24(raw)
    flags = np.zeros(n, dtype=np.uint8)
    flags[(code == CODE_MAX) | (code == CODE_MIN)] |= FLAG_SAT
    # spurious codes: low bits all ones (in the 24-bit two's complement word)
    n_sp = rng_noise.poisson(dev["spurious_per_min"] * t_k[-1] / 60.0)
    sp_idx = rng_noise.integers(0, n, n_sp)
    for i in sp_idx:
        bits = int(rng_noise.integers(int(dev["spurious_bits_lo"]), int(dev["spurious_bits_hi"]) + 1))
        u = int(code[i]) & 0xFFFFFF
        u |= (1 << bits) - 1
        code[i] = u - (1 << 24) if u & 0x800000 else u
    # saturation glitches: a loose connector drives the input to a rail for 1-4 samples
    n_sat = rng_noise.poisson(dev["sat_per_min"] * t_k[-1] / 60.0)
    for _ in range(n_sat):
        i = int(rng_noise.integers(int(2 * rate), n))
        ln = int(rng_noise.integers(1, 5))
        code[i:i + ln] = CODE_MAX if rng_noise.random() < 0.5 else CODE_MIN
        flags[i:i + ln] |= FLAG_SAT
    # calibration as the device stores it: tare at power-up (roller unloaded), gain with a small error
    n_tare = max(3, int(0.5 * rate))
    tare = int(round(float(np.median(code[:n_tare]))))
    c1 = (1.0 + dev["cal_gain_err"]) / dev["counts_per_n"]
    calibration = {"tare_counts": tare, "counts_to_n": [0.0, c1, 0.0], "residual_n": round(dev["cal_residual_n"], 3)}
    force = c1 * (code - tare).astype(float)
    # device clock: scale error + latency jitter (never backwards)
    scale = 1.0 + dev["clock_ppm"] * 1e-6
    t0 = float(t_k[0])
    jit = np.abs(rng_noise.normal(0.0, dev["ts_jitter_ms"] * 1e-3, n))
    jit[0] = 0.0
    t_dev = np.maximum.accumulate((t_k - t0) * scale + jit)
    # AS5600
    angle = None
    if encoder:
        r_cm = dev["shell_radius_cm"]
        theta = np.interp(t_k, t_grid, x_grid) / r_cm * 180.0 / np.pi
        th_abs = dev["enc_theta0_deg"] + theta
        inl = dev["enc_inl_deg"] * (0.7 * np.sin(np.radians(th_abs) + dev["enc_inl_phase"])
                                    + 0.3 * np.sin(2 * np.radians(th_abs) + 1.3 * dev["enc_inl_phase"]))
        lsb = 360.0 / 4096
        counts = np.round((th_abs + inl) / lsb + rng_enc.normal(0.0, dev["enc_noise_lsb"], n))
        angle = (counts - counts[0]) * lsb
        nan = rng_enc.random(n) < dev["enc_nan_p"]
        nan[0] = False
        angle[nan] = np.nan
    # link: lost notifications and reconnect gaps (in device time; never in the first 2 s)
    keep = np.ones(n, dtype=bool)
    flush_s = dev["notif_flush_ms"] * 1e-3
    notif = np.floor(t_dev / flush_s).astype(np.int64)
    t_end = float(t_dev[-1])
    n_lost = rng_link.poisson(dev["lost_notif_per_min"] * t_end / 60.0)
    lost_t = rng_link.uniform(2.0, max(t_end, 2.5), n_lost)
    keep &= ~np.isin(notif, np.floor(lost_t / flush_s).astype(np.int64))
    gaps = []
    n_gap = rng_link.poisson(dev["gaps_per_min"] * t_end / 60.0)
    for _ in range(n_gap):
        g0 = float(rng_link.uniform(2.0, max(t_end - 2.0, 2.5)))
        gl = float(rng_link.uniform(dev["gap_s_lo"], dev["gap_s_hi"]))
        gaps.append((round(g0, 3), round(gl, 3)))
        keep &= ~((t_dev >= g0) & (t_dev < g0 + gl))
    keep[0] = True
    lost_before = np.concatenate(([False], ~keep[:-1]))
    flags = flags | np.where(lost_before, FLAG_GAP, 0).astype(np.uint8)
    idx = np.flatnonzero(keep)
    stats = dict(samples_converted=int(n), samples_lost=int(n - len(idx)), lost_notifications=int(n_lost),
                 reconnect_gaps=gaps, spurious_codes=int(n_sp), saturation_glitches=int(n_sat),
                 adc_rate_hz=round(rate, 3), noise_counts_rms=round(noise_counts, 2))
    return SensorOut(t_dev[idx], force[idx], code[idx].astype(float), flags[idx],
                     None if angle is None else angle[idx], t_k[idx], t0, scale, calibration, stats)
