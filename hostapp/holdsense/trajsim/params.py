"""trajsim parameters: every randomised range, its unit, its source and what it sets.

Why one table: the bench evaluates the detector on worlds it was never tuned to, so every
number this generator draws must be visible, bracketed wide and tied to a measured figure
(/work/shared/guide/domain.md, cited as "domain: ...") or to a named source or assumption.
`ranges_table_md()` renders the table that docs/scenarios.md carries (a test keeps them in step).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

G_M_S2 = 9.81  # standard gravity (m/s^2): body weight in newtons = mass_kg * G_M_S2

FAMILIES: tuple[str, ...] = ("standard", "fast", "slow", "limb", "reposition", "mixed", "long", "dropouts")

FAMILY_DESCRIPTIONS: dict[str, str] = {
    "standard": "min-jerk strokes of 1.5-4 s one way, light holds of 20-120 s (some heavy), step-offs between sets",
    "fast": "fast strokes of 0.6-1.3 s one way, holds of 10-90 s",
    "slow": "slow strokes of 4-8 s one way with 0.5-4.5 s pauses at reversals (never still for 5 s: rolling)",
    "limb": "every hold has related-limb bouts (knee bends at 0.1-0.5 Hz swinging the load by 3-15 % BW)",
    "reposition": "sets are groups of 2-4 holds joined by 1-4 s re-positions of 2-8 cm",
    "mixed": "each set drawn from standard, fast, slow, limb, reposition or long within one session",
    "long": "holds of 60-180 s with 1-2 posture shifts, creep and slow drift",
    "dropouts": "standard behaviour over a lossy BLE link: bursty loss, reconnect gaps of 0.5-4 s, "
                "spurious codes, saturation",
}

# Behaviour styles a set can be drawn in ("mixed" draws one per set; "dropouts" behaves as standard).
STYLES: tuple[str, ...] = ("standard", "fast", "slow", "limb", "reposition", "long")

_D = "domain"
# name: (lo, hi, unit, source, what)
RANGES: dict[str, tuple[float, float, str, str, str]] = {
    # --- session and person
    "session_s": (200.0, 520.0, "s", "brief; domain: sets of 30-120 s (Behm 2020)", "target session length"),
    "body_mass_kg": (45.0, 120.0, "kg", f"{_D}: athletes weigh 45-120 kg", "body mass"),
    "roll_share": (0.25, 0.40, "BW", f"{_D}: rolling force 25-40 % BW (Baumgart 2019)",
                   "person's mean share of body weight on the roller while rolling"),
    "light_hold_share": (0.10, 0.25, "BW", f"{_D}: light holds ~10-25 % BW", "felt load a person holds at (light)"),
    "heavy_hold_share": (0.30, 0.50, "BW", f"{_D}: people also hold heavier, 30-50 % BW",
                         "felt load of a heavy hold"),
    "heavy_hold_prob": (0.10, 0.35, "1", "brief: 'some heavy holds' (assumption)", "chance a hold is heavy"),
    "hold_share_jitter": (0.03, 0.12, "1", "assumption", "hold-to-hold relative spread of the held load"),
    "profile_amp": (0.05, 0.15, "1", "assumption; keeps rolling load inside domain's 25-40 % BW band",
                    "relative SD of the person's anatomy load profile along the limb (Gaussian process)"),
    "profile_len_cm": (3.0, 12.0, "cm", "assumption: muscle-belly/tendon features along a 30-40 cm segment",
                       "length scale of the anatomy profile"),
    "body_foam_hz": (2.5, 8.0, "Hz", "assumption: body mass on soft foam (domain: ~68 cm2 at ~33 kPa, Curran 2008)",
                     "natural frequency of the body-on-foam support (2nd-order low-pass of the load)"),
    "body_foam_zeta": (0.3, 0.9, "1", "assumption", "damping ratio of the body-on-foam support"),
    "tremor_frac": (0.002, 0.010, "1", "physiological tremor 8-12 Hz (Elble & Koller 1990); assumption on size",
                    "rms of 8-12 Hz tremor as a fraction of load"),
    "wander_roll_frac": (0.02, 0.06, "1", "assumption", "slow posture wander of the rolling load (relative SD)"),
    "wander_hold_frac": (0.003, 0.015, "1", f"{_D}: force is not flat while holding", "slow wander while holding"),
    "wander_tau_s": (3.0, 15.0, "s", "assumption", "correlation time of posture wander"),
    # --- strokes (min-jerk trajectories)
    "stroke_cm": (7.5, 17.5, "cm", f"{_D}: travel 7.5-17.5 cm each way", "person's mean one-way stroke travel"),
    "stroke_cv": (0.08, 0.25, "1", "assumption: stroke-to-stroke variability of self-paced movement",
                  "log-SD of stroke duration and travel"),
    "centre_walk_cm": (0.5, 2.5, "cm", "assumption", "stroke-to-stroke random walk of the stroke centre"),
    "stroke_standard_s": (1.5, 4.0, "s", f"{_D}: 1.4-4 s per direction; Behm 2020: 2-4 s", "one-way stroke, standard"),
    "stroke_fast_s": (0.6, 1.3, "s", f"{_D}: people also roll fast (0.6-1.3 s)", "one-way stroke, fast"),
    "stroke_slow_s": (4.0, 8.0, "s", f"{_D}: very slow 4-8 s", "one-way stroke, slow"),
    "pause_standard_s": (0.0, 0.5, "s", "assumption", "pause at a reversal, standard"),
    "pause_fast_s": (0.0, 0.2, "s", "assumption", "pause at a reversal, fast"),
    "pause_slow_s": (0.5, 4.5, "s", "contracts: a hold is >= 5 s still, so shorter pauses are rolling",
                     "pause at a reversal, slow"),
    "roll_phase_s": (8.0, 40.0, "s", "domain: ~33 strokes/min self-paced (Sezik 2024); assumption on length",
                     "rolling before a search and hold"),
    "arm_brace": (0.1, 0.5, "1", "brief: arm push/pull at reversals (assumption on size)",
                  "load taken by the arms per unit body mass x |acceleration| along the limb"),
    "arm_tilt": (-0.3, 0.3, "1", "assumption", "signed load change per unit body mass x acceleration"),
    "texture_frac": (0.005, 0.03, "1", "seed: ribbed / tread-like shell (assumption on size)",
                     "rib ripple of the load while the shell turns (ribbed shell only)"),
    "rib_pitch_cm": (1.5, 3.0, "cm", "assumption", "rib spacing along the shell circumference"),
    # --- pressure-seeking and holds
    "search_slow_strokes": (1.0, 3.0, "count", "brief: people slow down near a tender spot", "slowing strokes"),
    "search_slow_factor": (1.2, 1.8, "1", "assumption", "duration growth per slowing stroke"),
    "search_moves": (2.0, 5.0, "count", "brief: search back and forth", "small search moves before settling"),
    "search_cm": (1.0, 4.0, "cm", "assumption", "travel of one search move"),
    "search_move_s": (0.8, 2.5, "s", "assumption", "duration of one search move"),
    "search_pause_s": (0.2, 1.5, "s", "assumption (< 5 s, so rolling)", "pause between search moves"),
    "hold_standard_s": (20.0, 120.0, "s", f"{_D}: holds 30-120 s in studies; brief 20-120 s", "hold, standard"),
    "hold_fast_s": (10.0, 90.0, "s", "brief", "hold, fast family"),
    "hold_limb_s": (30.0, 120.0, "s", f"{_D}: 30-120 s; seed: 30 s to a few minutes", "hold, limb family"),
    "hold_group_s": (15.0, 60.0, "s", "assumption: several holds per set fit a 30-120 s set (Behm 2020)",
                     "hold inside a re-position group"),
    "hold_long_s": (60.0, 180.0, "s", f"{_D}: 90 s trigger-point hold (Wilke 2018); seed: a few minutes",
                    "hold, long family"),
    "holds_per_set": (1.0, 2.0, "count", f"{_D}: 1-3 sets of 30-120 s (Behm 2020)", "holds per set (not grouped)"),
    "group_holds": (2.0, 4.0, "count", "brief", "holds in a re-position group"),
    "settle_s": (0.8, 3.0, "s", "assumption", "ramp from rolling load to the held load after the roller stops"),
    "unsettle_s": (0.4, 1.5, "s", "assumption", "ramp from the held load back to rolling load"),
    "press_change_prob": (0.1, 0.5, "1", "brief: settle and sometimes press harder or lighter; Grabow 2018",
                          "chance of a deliberate pressure change in a hold"),
    "press_change_frac": (0.05, 0.20, "1", "Grabow 2018: 50-90 % of maximal tolerable pressure",
                          "size of a deliberate pressure change (relative)"),
    "shift_frac": (0.03, 0.10, "1", f"{_D}: posture shift, a step in load of up to ~10 %", "posture shift size"),
    "shift_s": (0.3, 1.5, "s", "assumption", "duration of a posture shift"),
    "shift_prob": (0.1, 0.4, "1", "assumption", "chance of one posture shift in a non-long hold"),
    "long_shifts": (1.0, 2.0, "count", f"{_D}: shift posture once or twice", "posture shifts in a long hold"),
    "creep_frac": (0.01, 0.06, "1", f"{_D}: the body creeps and settles", "creep of the held load (relative)"),
    "creep_tau_s": (10.0, 60.0, "s", "assumption", "creep time constant"),
    "drift_long_frac_per_min": (0.005, 0.04, "1/min", f"{_D}: people sink slowly", "slow drift in long holds"),
    "breath_hz": (0.18, 0.33, "Hz", f"{_D}: breathing at 0.18-0.33 Hz", "mean breathing rate"),
    "breath_frac": (0.01, 0.05, "1", f"{_D}: modulates force by a few percent", "breathing modulation (half p-p)"),
    "breath_rate_cv": (0.05, 0.20, "1", "assumption: quasi-periodic breathing", "breath-rate variability"),
    "breath_harmonic": (0.0, 0.3, "1", "assumption: inhale shorter than exhale", "2nd-harmonic share of the breath"),
    "limb_hz": (0.1, 0.5, "Hz", f"brief; {_D}: knee bends ~0.1-1 Hz", "related-limb movement rate"),
    "limb_swing_frac": (0.036, 0.15, "BW", "brief: 3-15 % of body weight swing", "limb-bout load swing (max p-p)"),
    "limb_cycles": (2.0, 8.0, "count", "assumption", "knee bends per bout"),
    "limb_rest_s": (3.0, 12.0, "s", "assumption", "rest between limb bouts"),
    "limb_prob": (0.1, 0.4, "1", "seed: move a related limb (assumption on how often)",
                  "chance a hold outside the limb family has limb bouts"),
    "rock_mm": (0.0, 0.5, "mm", f"assumption; {_D}: the roller does not travel", "roller rocking from limb bouts"),
    # --- transitions
    "step_ramp_s": (0.4, 1.5, "s", "assumption", "step on / step off load ramp"),
    "step_move_cm": (0.5, 3.0, "cm", "assumption", "travel while stepping on or off"),
    "off_start_s": (1.0, 6.0, "s", "assumption", "unloaded time before the first set"),
    "off_between_s": (4.0, 25.0, "s", f"{_D}: people step off between sets", "unloaded time between sets"),
    "off_end_s": (1.0, 6.0, "s", "assumption", "unloaded time after the last set"),
    "repos_s": (1.0, 4.0, "s", f"{_D}: re-position is 1-4 s of short irregular loaded motion", "re-position time"),
    "repos_cm": (2.0, 8.0, "cm", "brief", "re-position travel"),
    "repos_dip_frac": (0.2, 0.6, "1", "assumption: weight taken on the hands to move", "load dip while re-positioning"),
    "repos_submoves": (1.0, 3.0, "count", "assumption: irregular motion", "sub-movements of a re-position"),
    # --- sensors
    "rate_80_hz": (78.0, 92.0, "Hz", f"{_D}: real '80 SPS' HX711 parts run 78-92 SPS", "actual rate at nominal 80"),
    "rate_10_hz": (9.75, 11.5, "Hz", f"{_D}: same oscillator spread (78-92 of 80) scaled to 10 SPS",
                   "actual rate at nominal 10"),
    "rate_wander_frac": (0.001, 0.005, "1", "assumption: oscillator temperature drift", "slow rate wander (SD)"),
    "jitter_us": (20.0, 300.0, "us", "assumption: ticks_us read latency", "timestamp jitter (SD)"),
    "counts_per_n": (250.0, 4000.0, "counts/N", "HX711 gain 128 (+-0.5 AVDD/128 full scale) with 1-2 mV/V cells "
                     "totalling 100-800 kg", "ADC sensitivity (log-uniform)"),
    "tare_counts": (-400000.0, 400000.0, "counts", "assumption: bridge imbalance", "zero offset"),
    "adc_noise_80_counts": (20.0, 90.0, "counts", "HX711 datasheet: 90 nV rms at 80 SPS, gain 128 (+ board)",
                            "ADC noise at nominal 80"),
    "adc_noise_10_counts": (12.0, 50.0, "counts", "HX711 datasheet: 50 nV rms at 10 SPS, gain 128 (+ board)",
                            "ADC noise at nominal 10"),
    "temp_drift_counts_per_c": (10.0, 60.0, "counts/degC", f"{_D}: zero drifts tens of counts per degC",
                                "zero drift coefficient"),
    "temp_change_c": (-3.0, 3.0, "degC", "assumption: warm-up in the hand and room", "temperature change"),
    "temp_tau_s": (60.0, 600.0, "s", "assumption", "temperature time constant"),
    "cal_gain_err": (-0.02, 0.02, "1", "assumption: two-point calibration error", "device gain error"),
    "nonlin_per_kn": (-0.003, 0.003, "1/kN", "assumption (load-cell non-linearity, widened)", "quadratic term"),
    "spurious_rate": (0.0, 0.001, "1/sample", f"{_D}: spurious codes common on long wires", "spurious code rate"),
    "spurious_rate_dropouts": (0.0005, 0.005, "1/sample", f"{_D}: spurious codes", "spurious code rate, dropouts"),
    "spurious_bits": (8.0, 16.0, "bits", f"{_D}: all ones in the low bits", "low bits set by a spurious code"),
    "shell_radius_cm": (6.5, 8.0, "cm", f"{_D}: shell radius 7.5 cm typical", "shell radius (travel = angle x r)"),
    "angle_inl_deg": (0.1, 1.0, "deg", "AS5600 datasheet: integral non-linearity (bracketed wide)",
                      "once-per-turn angle error"),
    "angle_noise_lsb": (0.3, 1.5, "LSB", "AS5600 datasheet: 12-bit output", "angle noise (1 LSB = 360/4096 deg)"),
    "angle_nan_rate": (0.0, 0.001, "1/sample", "assumption: failed I2C reads", "missing angle values"),
    # --- link
    "flush_ms": (25.0, 50.0, "ms", f"{_D}: flush every 25-50 ms", "BLE batch interval"),
    "loss_enter_prob": (0.0, 2e-4, "1/packet", "assumption: a clean link drops rarely", "good->bad link, clean"),
    "loss_enter_prob_dropouts": (1e-3, 1e-2, "1/packet", "assumption: Gilbert-Elliott bursty loss",
                                 "good->bad link, dropouts"),
    "loss_leave_prob": (0.1, 0.5, "1/packet", "assumption", "bad->good link per packet"),
    "loss_in_bad": (0.3, 0.9, "1", "assumption", "packet loss probability in the bad state"),
    "reconnects_dropouts": (1.0, 4.0, "count", "brief", "reconnects in a dropouts session"),
    "reconnect_gap_s": (0.5, 4.0, "s", "brief; domain: reconnects lose data", "reconnect gap"),
    "sat_bursts_dropouts": (1.0, 3.0, "count", f"{_D}: output saturates at 0x7FFFFF / 0x800000",
                            "saturation bursts (brown-out around a reconnect)"),
    "sat_len_samples": (1.0, 20.0, "samples", "assumption", "length of a saturation burst"),
}


def draw(rng: np.random.Generator, name: str, log: bool = False) -> float:
    """One value of RANGES[name], uniform (or log-uniform with `log`) between lo and hi."""
    lo, hi = RANGES[name][0], RANGES[name][1]
    if log and lo > 0:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def draw_int(rng: np.random.Generator, name: str) -> int:
    """An integer count of RANGES[name], uniform over lo..hi inclusive."""
    lo, hi = RANGES[name][0], RANGES[name][1]
    return int(rng.integers(int(round(lo)), int(round(hi)) + 1))


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) < 0.01 or abs(x) >= 1e5:
        return f"{x:.0e}" if abs(x) < 0.01 else f"{x:.0f}"
    return f"{x:g}"


def ranges_table_md() -> str:
    """The RANGES as a markdown table (name, range, unit, what, source): the table docs/scenarios.md carries."""
    rows = ["| name | range | unit | what | source |", "|---|---|---|---|---|"]
    for name, (lo, hi, unit, source, what) in RANGES.items():
        rows.append(f"| `{name}` | {_fmt(lo)} - {_fmt(hi)} | {unit} | {what} | {source} |")
    return "\n".join(rows) + "\n"


def table_rows() -> list[dict[str, Any]]:
    """RANGES as dicts (for tools that want the table as data)."""
    return [dict(name=k, lo=v[0], hi=v[1], unit=v[2], source=v[3], what=v[4]) for k, v in RANGES.items()]
