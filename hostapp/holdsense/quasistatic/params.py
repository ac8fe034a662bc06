"""Every randomised parameter of the quasi-static generator: range, unit and where the range comes from.

One table, used both to draw values (`draw`) and to document them (docs/scenarios.md,
section "Second generator: quasistatic" lists the same names; a test keeps the two in step).
Sources are abbreviated here; the full citations are in docs/scenarios.md:

- DOM: the project's domain notes (Baumgart et al. 2019; Behm et al. 2020; Sezik 2024;
  Wilke et al. 2018; Cheatham survey; HX711 and AS5600 datasheets) as quoted in docs/scenarios.md.
- WINTER: Winter D.A., Biomechanics and Motor Control of Human Movement, 4th ed. 2009,
  table 4.1 (segment lengths as fractions of height, segment masses as fractions of body mass).
- HX711: Avia Semiconductor HX711 datasheet (input noise 50 nV rms at 10 SPS, 90 nV rms at
  80 SPS, gain 128; output rails 0x7FFFFF / 0x800000; internal-oscillator rate tolerance).
- AS5600: ams AS5600 datasheet (12-bit, 4096 codes per turn).
- ASSUMED: a modelling choice of this generator, stated as such (no measurement exists:
  "no public raw foam-rolling force or motion dataset exists", domain notes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Range:
    """A uniformly drawn parameter: [lo, hi] in `unit`, justified by `basis`."""

    lo: float
    hi: float
    unit: str
    basis: str


# name -> Range. Keep names with their unit suffix (project convention).
RANGES: dict[str, Range] = {
    # --- person and posture (statics) ---
    "body_mass_kg": Range(45.0, 120.0, "kg", "DOM: athletes weigh 45-120 kg"),
    "segment_length_m": Range(0.25, 0.45, "m", "WINTER: thigh/shank ~0.245 x height, height 1.5-2.0 m, rollable part"),
    "support_lever_m": Range(0.45, 1.20, "m", "WINTER: distance hands/forearms (or the other support) to the segment's proximal end"),
    "rolling_load_frac_bw": Range(0.25, 0.40, "BW", "DOM: rolling 25-40 % BW (Baumgart 2019: ~32-34 % BW thigh)"),
    "lever_compensation_rel": Range(0.0, 0.7, "rel", "ASSUMED: people partly keep the pressure they feel as the roller travels"),
    "bout_load_jitter_rel": Range(0.0, 0.10, "rel", "ASSUMED: bout-to-bout change of chosen rolling load"),
    "light_hold_frac_bw": Range(0.10, 0.25, "BW", "DOM: light holds roughly 10-25 % BW"),
    "heavy_hold_frac_bw": Range(0.30, 0.50, "BW", "DOM: people also hold heavier, 30-50 % BW"),
    "support_wander_rel": Range(0.01, 0.05, "rel", "ASSUMED: hands/feet share drifts as a person holds position"),
    "support_wander_tau_s": Range(2.0, 12.0, "s", "ASSUMED: time scale of that drift"),
    "balance_tremor_rel": Range(0.002, 0.010, "rel", "ASSUMED: balance corrections, 0.5-3 Hz band"),
    "direction_support_frac_bw": Range(0.0, 0.04, "BW", "ASSUMED: arms push one way, pull the other during a stroke"),
    "tissue_profile_rel": Range(0.01, 0.05, "rel", "ASSUMED: tissue thickness under the roller varies along the segment"),
    "tissue_corr_cm": Range(1.0, 4.0, "cm", "ASSUMED: length scale of that variation (muscle bellies, tendons)"),
    "breath_hz": Range(0.18, 0.33, "Hz", "DOM: breathing modulates force at 0.18-0.33 Hz"),
    "breath_depth_rel": Range(0.01, 0.04, "rel", "DOM: by a few percent"),
    "breath_inhale_frac": Range(0.35, 0.48, "cycle", "ASSUMED: inhalation shorter than exhalation"),
    "breath_rate_wander_rel": Range(0.0, 0.10, "rel", "ASSUMED: breathing rate wanders"),
    # --- strokes ---
    "stroke_travel_cm": Range(7.5, 17.5, "cm", "DOM: travel 7.5-17.5 cm each way (taken as the one-way stroke length)"),
    "stroke_s_standard": Range(1.4, 4.0, "s", "DOM: 1.4-4 s per direction typical; Behm 2020: 2-4 s"),
    "stroke_s_fast": Range(0.6, 1.3, "s", "DOM: people also roll fast (0.6-1.3 s)"),
    "stroke_s_slow": Range(4.0, 8.0, "s", "DOM: or very slow (4-8 s)"),
    "stroke_jitter_rel": Range(0.05, 0.20, "rel", "ASSUMED: stroke-to-stroke variation"),
    "stroke_asymmetry_rel": Range(0.0, 0.25, "rel", "ASSUMED: one direction quicker than the other"),
    "stroke_accel_frac": Range(0.10, 0.45, "stroke", "ASSUMED: share of a stroke spent accelerating (trapezoid speed profile)"),
    "reversal_pause_s": Range(0.0, 0.5, "s", "ASSUMED: pause at each reversal (slow family 0.2-1.5 s)"),
    "centre_wander_cm": Range(0.5, 3.0, "cm", "ASSUMED: stroke centre drifts per stroke"),
    "brief_stop_p": Range(0.0, 0.05, "per reversal", "ASSUMED: a 1-3.5 s stop inside a bout (still rolling, < 5 s)"),
    "roll_bout_s": Range(10.0, 60.0, "s", "DOM: self-paced ~33 strokes/min (Sezik 2024); bouts of several strokes"),
    # --- holds ---
    "hold_s": Range(20.0, 120.0, "s", "DOM: holds 30-120 s in studies, 30 s-2 min coached; most 20-120 s"),
    "short_hold_s": Range(8.0, 20.0, "s", "ASSUMED: an occasional short hold, above the 5 s minimum"),
    "long_hold_s": Range(60.0, 180.0, "s", "DOM: 90 s trigger-point holds; guidance 30 s to a few minutes"),
    "hold_settle_s": Range(0.5, 2.0, "s", "ASSUMED: load moves from rolling to holding level after the stop"),
    "sink_rel": Range(0.02, 0.10, "rel", "DOM: the body creeps and settles during holds"),
    "sink_tau_s": Range(10.0, 60.0, "s", "ASSUMED: time constant of that settling"),
    "posture_shift_rel": Range(0.03, 0.10, "rel", "DOM: posture shifts, steps of up to ~10 % without travel"),
    "posture_shift_s": Range(0.3, 1.2, "s", "ASSUMED: duration of one shift"),
    "hold_rock_cm": Range(0.0, 0.3, "cm", "ASSUMED: millimetre rocking of the shell while holding"),
    "limb_swing_frac_bw": Range(0.03, 0.15, "BW", "issue 14: knee bends swing load by 3-15 % BW"),
    "limb_hz": Range(0.10, 0.50, "Hz", "issue 14 / DOM: knee bends roughly 0.1-0.5 (domain: up to 1) Hz"),
    "limb_cycles_per_bout": Range(2.0, 8.0, "cycles", "ASSUMED: knee bends come in bouts"),
    "limb_rest_s": Range(2.0, 12.0, "s", "ASSUMED: rest between bouts"),
    "limb_cycle_jitter_rel": Range(0.05, 0.20, "rel", "ASSUMED: each bend has its own period and depth"),
    # --- re-position, stepping on/off ---
    "reposition_s": Range(1.0, 4.0, "s", "DOM: re-position, 1-4 s of short irregular loaded motion"),
    "reposition_cm": Range(2.0, 8.0, "cm", "issue 14: small re-positions of 2-8 cm"),
    "reposition_unload_rel": Range(0.1, 0.5, "rel", "ASSUMED: the person half-lifts while shifting"),
    "off_s": Range(3.0, 20.0, "s", "DOM: people step off between sets"),
    "step_ramp_s": Range(0.4, 1.2, "s", "ASSUMED: stepping on or off takes under ~1 s"),
    # --- foam and shell ---
    "soft_foam_tau_s": Range(0.06, 0.20, "s", "ASSUMED: viscoelastic foam in parallel with stiff limbs low-passes load changes"),
    "firm_foam_tau_s": Range(0.01, 0.04, "s", "ASSUMED: firm foam barely delays them"),
    "soft_foam_hyst_frac_bw": Range(0.003, 0.012, "BW", "ASSUMED: foam hysteresis loop half-width (soft)"),
    "firm_foam_hyst_frac_bw": Range(0.001, 0.004, "BW", "ASSUMED: foam hysteresis loop half-width (firm)"),
    "foam_hyst_gain": Range(0.02, 0.08, "1", "ASSUMED: how fast the hysteresis offset builds (Dahl model)"),
    "rib_pitch_cm": Range(1.0, 3.0, "cm", "ASSUMED: ribbed shell pitch (design card: ribbed/tread-like shell)"),
    "rib_depth_rel": Range(0.01, 0.05, "rel", "ASSUMED: rib ripple as a share of the load"),
    "shell_radius_cm": Range(7.3, 7.7, "cm", "DOM: shell radius 7.5 cm typical"),
    "shell_slip_rel_smooth": Range(0.0, 0.05, "rel", "ASSUMED: skin/clothing slips on a smooth shell"),
    "shell_slip_rel_ribbed": Range(0.0, 0.015, "rel", "ASSUMED: ribs grab the skin"),
    # --- load cell and ADC ---
    "counts_per_n": Range(60.0, 110.0, "counts/N", "contracts example 0.0123 N/count (81 counts/N), cell spread"),
    "tare_counts": Range(20000.0, 300000.0, "counts", "ASSUMED: empty-roller offset of the bridge"),
    "cal_gain_error_rel": Range(-0.004, 0.004, "rel", "ASSUMED: user calibration with a reference mass"),
    "nonlinearity_rel_at_1kn": Range(-0.0005, 0.0005, "rel", "ASSUMED: load-cell non-linearity ~0.05 % FS"),
    "noise_n_80sps": Range(0.15, 0.8, "N rms", "HX711: input noise 90 nV rms at 80 SPS (x counts/N of a typical cell)"),
    "noise_ratio_10sps": Range(0.5, 0.6, "x", "HX711: 50 nV vs 90 nV rms, 10 vs 80 SPS"),
    "temp_rise_c": Range(-1.0, 4.0, "degC", "DOM: zero drifts with temperature"),
    "temp_tau_s": Range(120.0, 900.0, "s", "ASSUMED: roller warms over minutes"),
    "drift_counts_per_c": Range(10.0, 60.0, "counts/degC", "DOM: tens of counts per degC"),
    "rate_ratio": Range(0.975, 1.15, "x nominal", "DOM: '80 SPS' parts run 78-92 SPS"),
    "rate_wander_rel": Range(0.0, 0.003, "rel", "ASSUMED: oscillator drifts with temperature"),
    "read_jitter_ms": Range(0.05, 2.0, "ms rms", "ASSUMED: MicroPython read latency jitter"),
    "spikes_per_min": Range(0.0, 1.5, "1/min", "DOM: occasional spurious codes (all ones in low bits)"),
    "spike_bits": Range(6.0, 18.0, "bits", "DOM: all ones in the low bits"),
    "sat_glitches_per_min": Range(0.0, 0.2, "1/min", "DOM: output saturates at the rails, flag it"),
    "link_gaps_per_min": Range(0.0, 0.3, "1/min", "ASSUMED: a good link loses little"),
    "link_gap_s": Range(0.2, 3.0, "s", "ASSUMED: BLE/serial link gap length"),
    "sample_drops_per_min": Range(0.0, 1.0, "1/min", "ASSUMED: 1-3 lost samples"),
    "encoder_noise_deg": Range(0.01, 0.06, "deg rms", "AS5600: about 1 LSB (0.088 deg) of jitter"),
    # --- session ---
    "session_s": Range(180.0, 600.0, "s", "brief: sessions of ~3-10 min"),
}

# Family-specific overrides of the ranges above (same names).
FAMILY_RANGES: dict[str, dict[str, Range]] = {
    "slow": {"reversal_pause_s": Range(0.2, 1.5, "s", "ASSUMED: slow rollers linger at reversals"),
             "roll_bout_s": Range(20.0, 70.0, "s", "ASSUMED: enough 4-8 s strokes per bout")},
    "fast": {"roll_bout_s": Range(8.0, 40.0, "s", "ASSUMED"),
             "hold_s": Range(10.0, 90.0, "s", "ASSUMED: fast rollers hold shorter")},
    "long": {"session_s": Range(300.0, 600.0, "s", "room for 60-180 s holds"),
             "sink_rel": Range(0.05, 0.15, "rel", "DOM: long holds sink slowly")},
    "dropouts": {"link_gaps_per_min": Range(1.0, 4.0, "1/min", "ASSUMED: a poor link"),
                 "sample_drops_per_min": Range(2.0, 8.0, "1/min", "ASSUMED: a poor link"),
                 "spikes_per_min": Range(1.0, 6.0, "1/min", "DOM: spurious codes are common on long wires"),
                 "sat_glitches_per_min": Range(0.2, 1.0, "1/min", "ASSUMED: a loose connector")},
}


class Drawer:
    """Draws named parameters for one family from one generator and records every value."""

    def __init__(self, family: str, rng: np.random.Generator) -> None:
        self.family = family
        self.rng = rng
        self.values: dict[str, float] = {}

    def range(self, name: str) -> Range:
        return FAMILY_RANGES.get(self.family, {}).get(name) or RANGES[name]

    def __call__(self, name: str, record: bool = True) -> float:
        r = self.range(name)
        v = float(self.rng.uniform(r.lo, r.hi))
        if record:
            self.values[name] = round(v, 6)
        return v

    def local(self, name: str) -> float:
        """A per-event draw (not recorded at session level)."""
        return self(name, record=False)
