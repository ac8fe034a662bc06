"""trajsim sensors and link: HX711 conversions, calibration, AS5600 angle, BLE loss, device timestamps.

What: from the true force on the physics grid, each HX711 conversion is the mean force over its
conversion period (its digital filter settles within one output period), mapped to 24-bit counts
(sensitivity, tare offset, quadratic non-linearity, temperature zero drift, noise), with
spurious codes (low bits all ones) and saturation at 0x7FFFFF / 0x800000, which the device flags
(FLAG_SAT). The device converts counts to newtons with its (slightly wrong) calibration
(holdsense.calibration.Calibration, the contract's polynomial). The
AS5600 angle is the shell rotation (travel / radius) with once-per-turn non-linearity, noise and
12-bit quantisation. Samples travel in BLE batches over a Gilbert-Elliott bursty-loss link with
reconnect gaps; the first sample after a loss is flagged FLAG_GAP. Timestamps are device time (s)
with read jitter. Why: these are the failure modes domain.md lists for the real parts.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal

from rollsignal.types import FLAG_GAP, FLAG_SAT

from .params import draw, draw_int

ADC_MAX = (1 << 23) - 1  # 0x7FFFFF
ADC_MIN = -(1 << 23)  # 0x800000 as a signed 24-bit value
AS5600_LSB_DEG = 360.0 / 4096.0


def sample_times(rng: np.random.Generator, rate_nominal_hz: float, end_s: float) -> tuple[np.ndarray, float]:
    """True conversion-end times (s) of an HX711 at nominal 10 or 80 SPS running at its own actual rate
    with slow wander, from ~0 to end_s; returns (times, actual mean rate in Hz)."""
    rate = draw(rng, "rate_80_hz" if rate_nominal_hz >= 40 else "rate_10_hz")
    wander = draw(rng, "rate_wander_frac")
    n_est = int(end_s * rate * 1.05) + 16
    a = math.exp(-1.0 / (rate * 60.0))  # wander correlation time ~60 s
    e = signal.lfilter([1.0], [1.0, -a], rng.normal(0.0, math.sqrt(1 - a * a), n_est)) * wander
    periods = 1.0 / (rate * (1.0 + e))
    t = rng.uniform(0.0, 1.0 / rate) + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    return t[t < end_s], rate


def conversions(grid_t_s: np.ndarray, grid_n: np.ndarray, t_s: np.ndarray, period_s: float) -> np.ndarray:
    """Mean of the grid force over each conversion window (t - period_s, t] (cumulative integral)."""
    dt = grid_t_s[1] - grid_t_s[0]
    c = np.concatenate([[0.0], np.cumsum(grid_n) * dt])
    tc = np.concatenate([[grid_t_s[0] - dt], grid_t_s])
    return (np.interp(t_s, tc, c) - np.interp(t_s - period_s, tc, c)) / period_s


def adc(rng: np.random.Generator, t_s: np.ndarray, force_n: np.ndarray, rate_nominal_hz: float,
        family: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Raw 24-bit counts (float64 holding integers) of the true force; and the sensor description
    (tare, sensitivity, device calibration coefficients)."""
    n = len(t_s)
    k = draw(rng, "counts_per_n", log=True)
    tare = float(round(draw(rng, "tare_counts")))
    beta = draw(rng, "nonlin_per_kn")
    noise = draw(rng, "adc_noise_80_counts" if rate_nominal_hz >= 40 else "adc_noise_10_counts")
    drift_c = draw(rng, "temp_drift_counts_per_c") * float(rng.choice([-1.0, 1.0]))
    temp = draw(rng, "temp_change_c") * (1.0 - np.exp(-t_s / draw(rng, "temp_tau_s")))
    counts = tare + k * force_n * (1.0 + beta * force_n / 1000.0) + drift_c * temp + rng.normal(0.0, noise, n)
    counts = np.round(counts)
    rate = draw(rng, "spurious_rate_dropouts" if family == "dropouts" else "spurious_rate")
    bits_lo, bits_hi = int(draw(rng, "spurious_bits")), 16
    spur = np.flatnonzero(rng.random(n) < rate)
    if len(spur):
        u = counts[spur].astype(np.int64) & 0xFFFFFF
        mask = (1 << rng.integers(bits_lo, bits_hi + 1, len(spur))) - 1
        u = u | mask
        counts[spur] = np.where(u >= (1 << 23), u - (1 << 24), u).astype(np.float64)
    counts = np.clip(counts, ADC_MIN, ADC_MAX)
    gain_err = draw(rng, "cal_gain_err")
    k_cal = k * (1.0 + gain_err)
    beta_cal = beta + float(rng.normal(0.0, 0.0003))
    c1 = 1.0 / k_cal
    c2 = -beta_cal / (1000.0 * k_cal * k_cal)
    cal = {"tare_counts": int(tare), "counts_to_n": [0.0, float(f"{c1:.6e}"), float(f"{c2:.6e}")],
           "residual_n": round(abs(gain_err) * 200.0 + 0.1, 2)}
    return counts, {"counts_per_n": k, "tare_counts": tare, "nonlin_per_kn": beta, "noise_counts": noise,
                    "temp_drift_counts_per_c": drift_c, "spurious_samples": len(spur), "calibration": cal}


def encoder(rng: np.random.Generator, position_cm: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Cumulative unwrapped AS5600 shell angle (deg, 0 at the first sample) for a travel position (cm)."""
    r_cm = draw(rng, "shell_radius_cm")
    sign = float(rng.choice([-1.0, 1.0]))  # mounting orientation
    theta = sign * position_cm / r_cm * 180.0 / math.pi
    theta0 = rng.uniform(0.0, 360.0)
    inl, ph = draw(rng, "angle_inl_deg"), rng.uniform(0, 2 * math.pi)
    meas = theta + inl * np.sin(np.radians(theta + theta0) + ph) + rng.normal(0, draw(rng, "angle_noise_lsb") *
                                                                          AS5600_LSB_DEG, len(theta))
    q = np.round((meas + theta0) / AS5600_LSB_DEG) * AS5600_LSB_DEG
    angle = q - q[0] if len(q) else q
    nan_rate = draw(rng, "angle_nan_rate")
    angle[rng.random(len(angle)) < nan_rate] = np.nan
    return angle, {"shell_radius_cm": r_cm, "angle_sign": sign}


def link(rng: np.random.Generator, t_s: np.ndarray, end_s: float, family: str) -> tuple[np.ndarray, list[dict]]:
    """Which samples arrive (bool mask) over a BLE link batching by time with bursty (Gilbert-Elliott)
    loss and, in the dropouts family, reconnects; plus the list of reconnect gaps."""
    flush_s = draw(rng, "flush_ms") / 1000.0
    pkt = np.floor(t_s / flush_s).astype(np.int64)
    n_pkt = int(pkt[-1]) + 1 if len(pkt) else 0
    p_enter = draw(rng, "loss_enter_prob_dropouts" if family == "dropouts" else "loss_enter_prob")
    p_leave, p_lost_bad = draw(rng, "loss_leave_prob"), draw(rng, "loss_in_bad")
    # two-state chain by run lengths (geometric sojourns): fast and exact
    lost_pkt = np.zeros(n_pkt, dtype=bool)
    i, bad = 0, False
    while i < n_pkt:
        p = p_leave if bad else p_enter
        run = int(rng.geometric(p)) if p > 0 else n_pkt
        if bad:
            lost_pkt[i:i + run] = rng.random(min(run, n_pkt - i)) < p_lost_bad
        i += run
        bad = not bad
    ok = ~lost_pkt[pkt] if n_pkt else np.ones(0, dtype=bool)
    gaps: list[dict] = []
    if family == "dropouts":
        n_rc = draw_int(rng, "reconnects_dropouts")
        starts = np.sort(rng.uniform(0.1 * end_s, 0.9 * end_s, n_rc))
        for a in starts:
            g = draw(rng, "reconnect_gap_s")
            ok &= ~((t_s >= a) & (t_s < a + g))
            gaps.append({"start_s": float(a), "gap_s": g})
    return ok, gaps


def saturation_bursts(rng: np.random.Generator, n: int, gaps: list[dict], t_s: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [i, j) of received samples forced to an ADC rail (brown-out around reconnects, dropouts)."""
    out = []
    n_b = draw_int(rng, "sat_bursts_dropouts")
    for k in range(n_b):
        if k < len(gaps) and rng.random() < 0.7:
            i = int(np.searchsorted(t_s, gaps[k]["start_s"] + gaps[k]["gap_s"]))
        else:
            i = int(rng.integers(0, max(n - 1, 1)))
        j = min(n, i + draw_int(rng, "sat_len_samples"))
        if i < j:
            out.append((i, j))
    return out


def device_timestamps(rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:
    """Device clock stamps (s): true time + read jitter, to the µs, non-decreasing."""
    j = rng.normal(0.0, draw(rng, "jitter_us") * 1e-6, len(t_s))
    td = np.round((t_s + np.abs(j) * 0.5 + j * 0.5) * 1e6) / 1e6
    return np.maximum.accumulate(np.maximum(td, 0.0))


def flags_for(ok: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """FLAG_SAT where counts sit on a rail, FLAG_GAP on the first received sample after lost ones."""
    rx = np.flatnonzero(ok)
    flags = np.zeros(len(rx), dtype=np.uint8)
    if len(rx) > 1:
        flags[1:][np.diff(rx) > 1] |= FLAG_GAP
    if len(rx) and rx[0] > 0:
        flags[0] |= FLAG_GAP
    sat = (counts >= ADC_MAX) | (counts <= ADC_MIN)
    flags[sat] |= FLAG_SAT
    return flags
