"""The roller's electronics: HX711 sample clock and conversion, load-cell codes, calibration,
AS5600 encoder and the link (dropouts, gaps). Figures: docs/scenarios.md (quasistatic)."""
from __future__ import annotations

import numpy as np

from rollsignal.types import FLAG_SAT, FLAG_SPIKE

from .physics import ou

ADC_MAX = 0x7FFFFF
ADC_MIN = -0x800000
ENCODER_CODES = 4096


def sample_times(rng: np.random.Generator, duration_s: float, rate_hz: float, wander_rel: float,
                 jitter_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Device timestamps (s, from 0, whole microseconds) and each sample's conversion period (s).

    The HX711 converts back to back at its own oscillator's rate (which wanders slowly);
    the firmware reads each result after a jittered latency."""
    n = int(duration_s * rate_hz * 1.02) + 2
    period = (1.0 / rate_hz) * (1 + wander_rel * np.clip(ou(rng, n, 1.0 / rate_hz, 60.0), -3, 3))
    ready = np.cumsum(period)
    lat = np.minimum(np.abs(rng.normal(0.0, jitter_ms * 1e-3, n)), 0.4 * period)
    t = ready + lat
    t = np.round((t - t[0]) * 1e6) / 1e6
    keep = t <= duration_s
    return t[keep], period[keep]


def conversion_average(t_grid: np.ndarray, f_grid: np.ndarray, t_s: np.ndarray, period_s: np.ndarray) -> np.ndarray:
    """Mean of the force over each conversion window [t - period, t] (the HX711 integrates)."""
    dt = t_grid[1] - t_grid[0]
    c = np.concatenate([[0.0], np.cumsum((f_grid[1:] + f_grid[:-1]) * 0.5 * dt)])
    hi = np.interp(t_s, t_grid, c)
    lo = np.interp(t_s - period_s, t_grid, c, left=0.0)
    lo = np.where(t_s - period_s < 0, -(period_s - t_s) * f_grid[0], lo)
    return (hi - lo) / period_s


def to_signed24(code: np.ndarray) -> np.ndarray:
    code = code & 0xFFFFFF
    return np.where(code >= 0x800000, code - 0x1000000, code)


def adc(rng: np.random.Generator, t_s: np.ndarray, force_n: np.ndarray, sp: dict, duration_s: float) -> dict:
    """Load-cell codes with drift, noise, spurious codes and saturation glitches; calibration as a
    user would have it; the force the device reports. Returns arrays and the event lists."""
    n = len(t_s)
    g = sp["counts_per_n"]
    temp_c = sp["temp_rise_c"] * (1 - np.exp(-t_s / sp["temp_tau_s"])) + 0.1 * np.interp(
        t_s, np.linspace(0, duration_s, 64), np.cumsum(rng.normal(0, 0.15, 64)))
    drift = sp["drift_sign"] * sp["drift_counts_per_c"] * temp_c
    noise_n = sp["noise_n"]
    true_counts = (sp["tare_counts"] + drift + g * force_n * (1 + sp["nonlinearity_rel_at_1kn"] * force_n / 1000.0)
                   + rng.normal(0.0, noise_n * g, n))
    raw = np.clip(np.round(true_counts), ADC_MIN, ADC_MAX).astype(np.int64)
    flags = np.zeros(n, dtype=np.uint8)
    flags[(raw == ADC_MAX) | (raw == ADC_MIN)] |= FLAG_SAT
    # saturation glitches: a loose contact pins a short run at a rail
    sats = []
    for _ in range(rng.poisson(sp["sat_glitches_per_min"] * duration_s / 60.0)):
        i = int(rng.integers(1, max(2, n - 5)))
        k = int(rng.integers(1, 5))
        raw[i:i + k] = ADC_MAX if rng.random() < 0.5 else ADC_MIN
        flags[i:i + k] |= FLAG_SAT
        sats.append(round(float(t_s[i]), 6))
    # spurious codes: the low bits read as ones
    spikes = []
    for _ in range(rng.poisson(sp["spikes_per_min"] * duration_s / 60.0)):
        i = int(rng.integers(1, max(2, n - 1)))
        if flags[i]:
            continue
        bits = int(rng.integers(int(sp["spike_bits"][0]), int(sp["spike_bits"][1]) + 1))
        mask = (1 << bits) - 1
        bad = int(to_signed24(np.array([(int(raw[i]) & 0xFFFFFF) | mask]))[0])
        if sp["firmware_despike"]:
            # firmware with a 3-point median: replaces the code and flags it
            raw[i] = int(np.median([raw[i - 1], bad, raw[min(i + 1, n - 1)]]))
            flags[i] |= FLAG_SPIKE
        else:
            raw[i] = bad
        spikes.append(round(float(t_s[i]), 6))
    # the user's calibration: tare from ~40 unloaded readings, gain from a reference mass
    tare_cal = sp["tare_counts"] + drift[0] + rng.normal(0.0, noise_n * g / np.sqrt(40))
    gain_cal = g * (1 + sp["cal_gain_error_rel"])
    calibration = {"tare_counts": int(round(tare_cal)), "counts_to_n": [0.0, round(1.0 / gain_cal, 9), 0.0],
                   "residual_n": round(float(abs(sp["cal_gain_error_rel"]) * 100.0), 3)}
    # report with the rounded calibration, as a reader recalibrating from the header would
    force_rep = (raw - calibration["tare_counts"]) * calibration["counts_to_n"][1]
    return {"raw_counts": raw, "force_n": force_rep, "flags": flags, "drift_n": drift / g,
            "calibration": calibration, "spikes_t_s": spikes, "sat_t_s": sats}


def as5600(rng: np.random.Generator, shell_cm: np.ndarray, sp: dict) -> np.ndarray:
    """AS5600 reading unwrapped on the device: cumulative degrees from 0, 12-bit steps."""
    deg = np.degrees(shell_cm / sp["shell_radius_cm"]) + sp["magnet_zero_deg"]
    deg = deg + rng.normal(0.0, sp["encoder_noise_deg"], len(deg))
    code = np.floor(np.mod(deg, 360.0) / 360.0 * ENCODER_CODES).astype(np.int64) % ENCODER_CODES
    step = np.diff(code, prepend=code[0])
    step = (step + ENCODER_CODES // 2) % ENCODER_CODES - ENCODER_CODES // 2
    return np.cumsum(step) * (360.0 / ENCODER_CODES)


def link_losses(rng: np.random.Generator, t_s: np.ndarray, sp: dict, duration_s: float) -> tuple[np.ndarray, list]:
    """Rows that reach the host (bool mask) and the lost stretches [(t0, t1)]."""
    n = len(t_s)
    keep = np.ones(n, dtype=bool)
    lost = []
    for _ in range(rng.poisson(sp["link_gaps_per_min"] * duration_s / 60.0)):
        t0 = rng.uniform(1.0, max(1.5, duration_s - 2.0))
        t1 = t0 + sp["link_gap_s"][0] + rng.random() * (sp["link_gap_s"][1] - sp["link_gap_s"][0])
        keep[(t_s >= t0) & (t_s < t1)] = False
    for _ in range(rng.poisson(sp["sample_drops_per_min"] * duration_s / 60.0)):
        i = int(rng.integers(1, max(2, n - 3)))
        keep[i:i + int(rng.integers(1, 4))] = False
    keep[0] = True
    keep[-1] = True
    idx = np.flatnonzero(~keep)
    if len(idx):
        starts = idx[np.concatenate([[True], np.diff(idx) > 1])]
        ends = idx[np.concatenate([np.diff(idx) > 1, [True]])]
        lost = [(round(float(t_s[a]), 6), round(float(t_s[b]), 6)) for a, b in zip(starts, ends)]
    return keep, lost
