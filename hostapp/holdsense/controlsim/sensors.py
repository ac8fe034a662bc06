"""HX711 + load cells, AS5600 and the BLE link of holdsense.controlsim.

* HX711: conversions at 10 or 80 SPS nominal with a per-device rate factor (real "80 SPS" parts run
  78-92) and slow oscillator wander; each conversion is the mean of the load over its conversion period
  (the chip's sinc filter, approximated by a boxcar); the firmware timestamps the read after polling
  DOUT (latency jitter) on a device clock with a ppm error. Counts: tare (dead load of the shell + bridge
  offset) + sensitivity x force with a bow-shaped non-linearity, ADC noise (datasheet 50 / 90 nV rms at
  10 / 80 SPS, gain 128) + wiring noise, zero drift with temperature, spurious codes (low bits all
  ones, not flagged) and saturation codes (flagged `sat`). The calibration in the header carries a
  small gain error.
* AS5600: 12-bit code of the shell angle (rolling without slip, plus slip), noise and hysteresis,
  unwrapped by the host over the samples that arrive.
* Link: samples batched per notification (flushed every 25-50 ms), notifications lost by a
  Gilbert-Elliott two-state chain, plus link losses with reconnection; the first sample after a loss is
  flagged `gap`. Time stamps are the device's, so lost samples leave a hole in t_s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal as sps

from rollsignal.types import FLAG_GAP, FLAG_SAT

from .body import Draw, Truth

ADC_MAX = (1 << 23) - 1
ADC_MIN = -(1 << 23)
LSB_V = 2 * 0.5 * 4.3 / 128 / (1 << 24)  # full scale +-0.5 AVDD / gain over 24 bits (AVDD 4.3 V): ~2 nV
SHELL_KG = (0.4, 1.5)  # dead load of the shell on the cells (kg): tare


@dataclass
class Sensed:
    t_s: np.ndarray
    force_n: np.ndarray
    angle_deg: np.ndarray | None
    raw_counts: np.ndarray
    flags: np.ndarray
    true_force_n: np.ndarray  # conversion means of the true load at each delivered sample
    true_t_s: np.ndarray  # true time of each delivered sample
    ppm: float
    t0_dev_s: float
    calibration: dict[str, Any]
    drawn: dict[str, Any]
    events: dict[str, Any]


def draw_sensors(d: Draw, family: str) -> dict[str, Any]:
    """Per-device values (drawn before the rate is known, so a rate override keeps the device)."""
    s: dict[str, Any] = {}
    for k in ("rate_factor", "rate_wander", "clock_ppm", "poll_ms", "counts_per_n", "extra_noise_n", "nonlin_fs",
              "cal_err", "drift_counts_per_c", "temp_walk_c", "spurious_per_min", "enc_noise_lsb", "flush_ms",
              "ge_p_bad", "ge_p_good", "ge_loss_bad", "ge_loss_good", "reconnect_per_min", "reconnect_s"):
        s[k] = d(k)
    rng = d.rng
    s["enc_hyst_lsb"] = int(rng.integers(0, 4))
    s["bridge_offset_counts"] = float(rng.uniform(-150000, 150000))
    s["shell_kg"] = float(rng.uniform(*SHELL_KG))
    s["fs_load_n"] = float(rng.choice([1000.0, 2000.0, 4000.0]))  # 4 x 25 / 50 / 100 kg cells
    s["enc_offset_deg"] = float(rng.uniform(0, 360))
    s["rate_wander_period_s"] = float(rng.uniform(60, 300))
    s["sat_glitches"] = int(rng.integers(1, 4)) if family == "dropouts" else 0
    return s


def sense(truth: Truth, s: dict[str, Any], shell_radius_cm: float, rate_hz: float, encoder: bool,
          rng: np.random.Generator) -> Sensed:
    """Sample the true load (and shell travel) as the roller's electronics and link deliver them."""
    t, F = truth.t_s, truth.force_n
    fs = 1.0 / (t[1] - t[0])
    T_end = float(t[-1])
    # -- conversion times (true time) --
    period0 = 1.0 / (rate_hz * s["rate_factor"])
    n_max = int(T_end / period0) + 2
    ph = rng.uniform(0, 2 * np.pi)
    k = np.arange(n_max)
    wander = s["rate_wander"] * np.sin(2 * np.pi * k * period0 / s["rate_wander_period_s"] + ph)
    t_conv = rng.uniform(0.5, 1.0) * period0 + np.cumsum(period0 * (1.0 + wander))
    t_conv = t_conv[t_conv <= T_end]
    periods = np.diff(np.concatenate(([t_conv[0] - period0], t_conv)))
    # conversion = mean load over its period (boxcar ~ sinc1)
    cum = np.concatenate(([0.0], np.cumsum((F[1:] + F[:-1]) * 0.5) / fs))
    val = (np.interp(t_conv, t, cum) - np.interp(t_conv - periods, t, cum)) / periods
    n = len(t_conv)
    # -- counts --
    cpn = s["counts_per_n"]
    tare = s["bridge_offset_counts"] + s["shell_kg"] * 9.80665 * cpn
    u = np.clip(val / s["fs_load_n"], 0.0, 1.0)
    nonlin = s["nonlin_fs"] * s["fs_load_n"] * 4.0 * u * (1.0 - u)
    adc_nv = 50.0 if rate_hz < 40 else 90.0
    noise = rng.normal(0.0, adc_nv * 1e-9 / LSB_V, n) + rng.normal(0.0, s["extra_noise_n"] * cpn, n)
    sos = sps.butter(1, 1.0 / 120.0, fs=1.0 / period0, output="sos")
    temp = sps.sosfilt(sos, rng.normal(size=n + 200))[200:]
    temp = np.cumsum(temp)
    temp = (temp - temp[0]) / max(float(np.ptp(temp)), 1e-9) * s["temp_walk_c"]
    drift = s["drift_counts_per_c"] * temp
    raw = np.round(tare + cpn * (val + nonlin) + noise + drift)
    flags = np.zeros(n, np.uint8)
    events: dict[str, Any] = {"spurious_t_s": [], "sat_t_s": [], "lost_samples": 0, "reconnects": []}
    # spurious codes: low bits all ones (a long-wire glitch), not flagged by the device
    n_sp = rng.poisson(s["spurious_per_min"] * T_end / 60.0)
    sp_idx = np.unique(rng.integers(1, n, n_sp)) if n_sp else np.zeros(0, int)
    raw_i = raw.astype(np.int64)
    for i in sp_idx:
        bits = int(rng.integers(8, 17))
        raw_i[i] = raw_i[i] | ((1 << bits) - 1)
    # saturation glitches (brown-out / loose wire on the poor-link sessions): flagged
    sat_idx: list[int] = []
    for _ in range(s["sat_glitches"]):
        i0 = int(rng.integers(1, max(n - 20, 2)))
        ln = int(rng.integers(1, 8))
        code = ADC_MAX if rng.random() < 0.7 else ADC_MIN
        raw_i[i0:i0 + ln] = code
        sat_idx += list(range(i0, min(i0 + ln, n)))
    raw_i = np.clip(raw_i, ADC_MIN, ADC_MAX)
    flags[(raw_i >= ADC_MAX) | (raw_i <= ADC_MIN)] |= FLAG_SAT
    # -- timestamps on the device clock --
    ppm = s["clock_ppm"] * 1e-6
    latency = rng.uniform(0.0, s["poll_ms"] / 1000.0, n)
    t_dev = (t_conv + latency) * (1.0 + ppm)
    # -- encoder --
    angle_code = None
    enc_noise = rng.normal(0.0, s["enc_noise_lsb"], n)  # drawn either way: encoder on / off keeps the force
    if encoder:
        shell = np.interp(t_conv + latency, t, truth.shell_cm)
        deg = shell / shell_radius_cm * 180.0 / np.pi + s["enc_offset_deg"]
        codes_f = deg * 4096.0 / 360.0 + enc_noise
        h = s["enc_hyst_lsb"]
        if h:
            out = np.empty(n)
            last = np.floor(codes_f[0])
            for i, v in enumerate(codes_f):
                if abs(v - last) > h:
                    last = np.floor(v)
                out[i] = last
            codes_f = out
        angle_code = np.mod(np.floor(codes_f), 4096.0)
    # -- link: batches per notification, Gilbert-Elliott loss, reconnects --
    per_note = max(1, int(round(s["flush_ms"] / 1000.0 / period0)))
    n_note = (n + per_note - 1) // per_note
    lost_note = np.zeros(n_note, bool)
    bad = False
    r = rng.random((n_note, 2))
    for j in range(n_note):
        bad = (r[j, 0] < s["ge_p_bad"]) if not bad else (r[j, 0] >= s["ge_p_good"])
        lost_note[j] = r[j, 1] < (s["ge_loss_bad"] if bad else s["ge_loss_good"])
    lost = np.repeat(lost_note, per_note)[:n]
    n_rc = rng.poisson(s["reconnect_per_min"] * T_end / 60.0)
    for _ in range(n_rc):
        ta = rng.uniform(5.0, max(T_end - 10.0, 6.0))
        dur = s["reconnect_s"] * rng.uniform(0.5, 1.5)
        lost |= (t_conv >= ta) & (t_conv < ta + dur)
        events["reconnects"].append([float(ta), float(dur)])
    lost[0] = lost[-1] = False
    keep = ~lost
    # a gap flag lands on the first delivered sample after lost ones
    lost_before = np.zeros(n, bool)
    idx = np.flatnonzero(keep)
    if len(idx) > 1:
        lost_before[idx[1:]] = np.diff(idx) > 1
    flags[lost_before] |= FLAG_GAP
    events["lost_samples"] = int(lost.sum())
    # -- calibration (header) and the host's force --
    cpn_cal = cpn * (1.0 + s["cal_err"])
    tare_cal = float(np.round(tare + rng.normal(0.0, 20.0)))
    calib = {"tare_counts": int(tare_cal), "counts_to_n": [0.0, 1.0 / cpn_cal, 0.0],
             "residual_n": round(abs(s["cal_err"]) * 50.0 + 0.2, 2)}
    force = (raw_i - tare_cal) / cpn_cal
    t0 = float(t_dev[idx[0]])
    ts = t_dev[idx] - t0
    ang = None
    if angle_code is not None:
        ang = np.unwrap(angle_code[idx], period=4096.0) * 360.0 / 4096.0
        ang = ang - ang[0]
    events["spurious_t_s"] = [float(ts[np.searchsorted(idx, i)]) for i in sp_idx if keep[i]]
    events["sat_t_s"] = sorted({float(ts[np.searchsorted(idx, i)]) for i in sat_idx if keep[i]})
    return Sensed(ts, force[idx], ang, raw_i[idx].astype(np.float64), flags[idx], val[idx], t_conv[idx], ppm, t0,
                  calib, s, events)
