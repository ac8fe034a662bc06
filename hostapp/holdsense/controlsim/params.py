"""Drawn ranges of holdsense.controlsim, each tied to a source (docs/scenarios.md, "Third generator").

Every value is drawn per session, uniformly in [lo, hi] (log-uniformly where `log` is set), from the
session's own random stream, so a (family, seed) pair always gives the same person and session.
The sources are written here (not read from the project's guide at run time: a user's clone has
no guide).
"""
from __future__ import annotations

from typing import Any

G = 9.80665  # m/s^2
FS_HZ = 200.0  # internal simulation rate (Hz): well above the 80 SPS ADC, the 2-8 Hz rib texture and tremor

SOURCES: dict[str, str] = {
    "domain": "project guide domain.md (figures from Baumgart 2019, Behm 2020, Curran 2008, Sezik 2024, "
              "HX711/AS5600 datasheets; quoted in docs/scenarios.md)",
    "winter": "Winter DA (2009) Biomechanics and Motor Control of Human Movement, 4th ed., Wiley, Table 4.1 "
              "(segment masses / body mass, segment lengths / height, centres of mass; after Dempster 1955)",
    "dempster": "Dempster WT (1955) Space requirements of the seated operator, WADC-TR-55-159",
    "flash": "Flash T, Hogan N (1985) The coordination of arm movements: an experimentally confirmed "
             "mathematical model, J Neurosci 5:1688 (minimum-jerk point-to-point movements)",
    "franklin": "Franklin DW, Wolpert DM (2011) Computational mechanisms of sensorimotor control, Neuron 72:425 "
                "(feedback delays of ~100-250 ms; noise, delay and limited gain of human feedback)",
    "harris": "Harris CM, Wolpert DM (1998) Signal-dependent noise determines motor planning, Nature 394:780",
    "jones": "Jones KE, Hamilton AF, Wolpert DM (2002) Sources of signal-dependent noise during isometric "
             "force production, J Neurophysiol 88:1533 (force SD grows with force, CV of a few %)",
    "zajac": "Zajac FE (1989) Muscle and tendon: properties, models, scaling, and application to biomechanics "
             "and motor control, Crit Rev Biomed Eng 17:359 (activation / deactivation time constants)",
    "tremor": "McAuley JH, Marsden CD (2000) Physiological and pathological tremors and rhythmic central motor "
              "control, Brain 123:1545 (physiological tremor 8-12 Hz, small)",
    "hunt": "Hunt KH, Crossley FRE (1975) Coefficient of restitution interpreted as damping in vibroimpact, "
            "J Appl Mech 42:440 (contact force k*d^n + lambda*d^n*d')",
    "ansur": "Gordon CC et al. (2014) 2012 Anthropometric Survey of U.S. Army Personnel (ANSUR II), "
             "NATICK/TR-15/007 (thigh circumference ~55-65 cm, knee ~37-42 cm: girth changes of cm along a segment)",
    "hx711": "Avia Semiconductor HX711 datasheet (10 / 80 SPS; input noise 50 / 90 nV rms at gain 128; "
             "24-bit two's complement, 0x7FFFFF / 0x800000 at over-range)",
    "as5600": "ams AS5600 datasheet (12-bit angle, 4096 per turn; hysteresis setting 0-3 LSB)",
    "gilbert": "Gilbert EN (1960) Capacity of a burst-noise channel, Bell Syst Tech J 39:1253; Elliott EO "
               "(1963) Estimates of error rates for codes on burst-noise channels, ibid. 42:1977",
    "bluetooth": "Bluetooth Core Specification 5.x, Vol 6 Part B 4.5 (connection interval 7.5 ms-4 s, "
                 "supervision timeout 100 ms-32 s: a lost link is noticed after a timeout and reconnected)",
    "loadcell": "OIML R60 / typical strain-gauge load-cell datasheets (non-linearity 0.02-0.1 % of full scale, "
                "zero temperature coefficient; calibration with a known mass to ~0.5-1 %)",
    "crystal": "MCU crystal / RC oscillator tolerances (crystal +-10-100 ppm)",
    "assumption": "assumption of this generator, bracketed wide on purpose (no published raw data: domain.md "
                  "says published foam-rolling data are summaries)",
}

# name: (lo, hi, unit, source key, note) -- drawn per session unless the note says otherwise
RANGES: dict[str, tuple[float, float, str, str, str]] = {
    # --- the person -----------------------------------------------------------------------------
    "body_mass_kg": (45.0, 120.0, "kg", "domain", "athletes weigh 45-120 kg"),
    "height_m": (1.55, 1.98, "m", "ansur", "stature"),
    "segment_len_frac_h": (0.22, 0.26, "1/height", "winter", "thigh length 0.245 H (rolled segment)"),
    "m_eff_frac": (0.15, 0.40, "1/BW", "winter", "mass riding on the contact: thigh 0.100 BW per leg + pelvis share"),
    "leg_mass_frac": (0.055, 0.067, "1/BW", "winter", "leg + foot 0.061 BW (knee bends move it)"),
    "roll_frac_bw": (0.25, 0.40, "1/BW", "domain", "rolling load 25-40 % BW (Baumgart 2019 ~32-34 %)"),
    "light_hold_frac_bw": (0.10, 0.25, "1/BW", "domain", "light holds well below rolling force"),
    "heavy_hold_frac_bw": (0.30, 0.50, "1/BW", "domain", "some people hold heavier"),
    # --- the feedback controller ---------------------------------------------------------------
    "delay_s": (0.10, 0.25, "s", "franklin", "sensorimotor feedback delay"),
    "crossover_x_delay": (0.15, 0.75, "rad", "franklin", "loop crossover x delay (limited gain; < pi/2 stable)"),
    "dc_compensation": (0.40, 0.95, "1", "assumption", "share of a slow disturbance the person corrects"),
    "activation_tau_s": (0.02, 0.08, "s", "zajac", "muscle activation low-pass"),
    "motor_cv": (0.005, 0.025, "1", "jones", "signal-dependent force noise (SD / force)"),
    "motor_bw_hz": (1.0, 4.0, "Hz", "harris", "band of the motor noise"),
    "tremor_frac": (0.001, 0.005, "1", "tremor", "tremor amplitude / load"),
    "tremor_hz": (8.0, 12.0, "Hz", "tremor", "physiological tremor"),
    # --- disturbances the controller fights -----------------------------------------------------
    "tissue_h_std_cm": (0.15, 1.2, "cm", "ansur", "tissue height profile along the segment (girth change)"),
    "posture_k_n_per_cm": (5.0, 50.0, "N/cm", "assumption", "series stiffness of arms/feet posture to the contact"),
    "push_coupling": (-0.6, 0.6, "1", "assumption", "vertical share of the push (arm inclination)"),
    "rolling_resistance": (0.03, 0.15, "1", "assumption", "foam rolling resistance / load"),
    "breath_hz": (0.18, 0.33, "Hz", "domain", "breathing rate"),
    "breath_frac": (0.01, 0.05, "1", "domain", "breathing modulation of the load (a few %)"),
    "tender_press_less": (0.0, 0.35, "1", "assumption", "people press less on a tender spot (share of load)"),
    "tender_slow_down": (0.0, 0.6, "1", "assumption", "strokes over a tender spot take longer by this share"),
    "tender_spots": (1, 3, "count", "assumption", "tender spots along the segment"),
    "tender_width_cm": (1.5, 5.0, "cm", "assumption", "width (sd) of a tender spot"),
    # --- strokes (minimum jerk) ------------------------------------------------------------------
    "travel_cm": (7.5, 17.5, "cm", "domain", "travel each way around the tender spot"),
    "stroke_cv": (0.05, 0.2, "1", "assumption", "stroke-to-stroke variability of duration / travel"),
    "hesitation_p": (0.0, 0.15, "1", "assumption", "share of strokes with a 0.2-0.8 s hesitation"),
    "roll_bout_s": (10.0, 60.0, "s", "domain", "rolling between holds (33 strokes/min, Sezik 2024)"),
    "step_on_s": (0.3, 1.2, "s", "assumption", "load ramp when stepping on / off"),
    "off_s": (3.0, 20.0, "s", "domain", "step-offs between sets"),
    "settle_s": (0.5, 2.0, "s", "assumption", "target change from rolling to holding load (through the loop)"),
    "unload_lead_s": (-0.5, 0.3, "s", "assumption", "target change starts this long after the roller stops"),
    # --- holds -----------------------------------------------------------------------------------
    "creep_frac": (-0.06, 0.08, "1", "domain", "the body creeps and settles during a hold"),
    "creep_tau_s": (5.0, 40.0, "s", "assumption", "creep time constant"),
    "posture_shift_frac": (0.02, 0.10, "1", "domain", "posture shift: a load step of up to ~10 %"),
    "posture_shift_s": (0.3, 1.0, "s", "assumption", "duration of a posture shift"),
    "hold_rock_cm": (0.005, 0.04, "cm", "assumption", "shell rocking in a hold (sub-mm: a static load on bearings)"),
    "knee_hz": (0.1, 1.0, "Hz", "domain", "knee bends while on the quads (log-uniform)"),
    "knee_swing_frac_bw": (0.03, 0.15, "1/BW", "domain", "load swing of a knee bend"),
    "knee_range_deg": (40.0, 110.0, "deg", "assumption", "knee flexion range of a bend"),
    "knee_bout_s": (6.0, 30.0, "s", "assumption", "knee-bend bout"),
    # --- contact: Hunt-Crossley through foam ------------------------------------------------------
    "indent_cm_at_250n": (1.0, 3.5, "cm", "domain", "firm to soft foam (Curran 2008: ~68 cm2 at ~33 kPa)"),
    "hc_exponent": (1.2, 1.8, "1", "hunt", "contact exponent n (1.5: Hertz)"),
    "contact_zeta": (0.3, 0.8, "1", "assumption", "damping ratio of the body on the contact (tissue + muscle)"),
    "shell_radius_cm": (5.0, 7.5, "cm", "domain", "shell radius (7.5 cm typical; 10-15 cm rollers)"),
    "slip_frac": (-0.02, 0.02, "1", "assumption", "skin / clothing slip on the shell"),
    "rib_height_mm": (1.0, 5.0, "mm", "assumption", "ribbed shell: rib height"),
    "rib_pitch_cm": (1.5, 3.5, "cm", "assumption", "ribbed shell: rib pitch (2-6 Hz at rolling speed)"),
    "rib_bridge": (0.05, 0.4, "1", "assumption", "share of the contact stiffness the ribs load"),
    "eccentricity_mm": (0.1, 1.0, "mm", "assumption", "shell runout (once per turn, both shells)"),
    # --- HX711 and load cells -------------------------------------------------------------------
    "rate_factor": (0.975, 1.15, "1", "domain", "real '80 SPS' parts run 78-92 SPS (same factor at 10 SPS)"),
    "rate_wander": (0.0, 0.005, "1", "assumption", "slow oscillator wander over a session"),
    "clock_ppm": (-100.0, 100.0, "ppm", "crystal", "device clock error"),
    "poll_ms": (0.5, 5.0, "ms", "assumption", "firmware polling of DOUT: timestamp latency"),
    "counts_per_n": (40.0, 700.0, "counts/N", "hx711", "bridge sensitivity x gain 128 over the 24-bit range"),
    "extra_noise_n": (0.1, 1.2, "N rms", "assumption", "wiring / mechanical noise beyond the ADC's"),
    "nonlin_fs": (0.0002, 0.001, "1", "loadcell", "non-linearity / full scale"),
    "cal_err": (-0.01, 0.01, "1", "loadcell", "calibration gain error"),
    "drift_counts_per_c": (10.0, 60.0, "counts/degC", "domain", "zero drift, tens of counts per degC"),
    "temp_walk_c": (0.2, 3.0, "degC", "assumption", "temperature wander over a session"),
    "spurious_per_min": (0.0, 1.0, "1/min", "domain", "spurious codes (all ones in low bits)"),
    # --- AS5600 ----------------------------------------------------------------------------------
    "enc_noise_lsb": (0.2, 1.0, "LSB rms", "as5600", "angle noise"),
    "enc_hyst_lsb": (0, 3, "LSB", "as5600", "hysteresis setting"),
    # --- link (Gilbert-Elliott per notification) --------------------------------------------------
    "flush_ms": (25.0, 50.0, "ms", "domain", "samples batched per notification, flushed by time"),
    "ge_p_bad": (1e-4, 2e-3, "1", "gilbert", "good->bad per notification"),
    "ge_p_good": (0.2, 0.7, "1", "gilbert", "bad->good per notification"),
    "ge_loss_bad": (0.3, 0.9, "1", "gilbert", "loss in the bad state"),
    "ge_loss_good": (0.0, 5e-4, "1", "gilbert", "loss in the good state"),
    "reconnect_per_min": (0.0, 0.1, "1/min", "bluetooth", "link lost and re-established"),
    "reconnect_s": (0.5, 4.0, "s", "bluetooth", "supervision timeout + reconnection"),
}

LOG_RANGES = {"knee_hz", "counts_per_n", "ge_p_bad", "posture_k_n_per_cm"}

# per-family overrides of the ranges above (same meaning)
FAMILY_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "dropouts": {"ge_p_bad": (2e-3, 1.5e-2), "ge_p_good": (0.03, 0.3), "reconnect_per_min": (0.5, 2.0),
                 "spurious_per_min": (2.0, 20.0), "extra_noise_n": (0.3, 1.5), "temp_walk_c": (1.0, 5.0)},
    "long": {"creep_frac": (-0.08, 0.12), "creep_tau_s": (15.0, 60.0)},
}

# stroke duration (s, one way) and reversal pause (s) by rolling style
STROKE_STYLES: dict[str, dict[str, tuple[float, float]]] = {
    "fast": {"stroke_s": (0.6, 1.3), "pause_s": (0.0, 0.2)},
    "standard": {"stroke_s": (1.4, 4.0), "pause_s": (0.0, 0.6)},
    "slow": {"stroke_s": (4.0, 8.0), "pause_s": (0.5, 2.5)},
}

FAMILIES: tuple[str, ...] = ("standard", "fast", "slow", "limb", "reposition", "mixed", "long", "dropouts")

FAMILY_DESCRIPTIONS: dict[str, str] = {
    "standard": "strokes 1.4-4 s, light holds of 20-120 s (some heavy, one short 8-20 s), step-offs between sets",
    "fast": "strokes 0.6-1.3 s, holds of 10-90 s",
    "slow": "strokes 4-8 s with 0.5-2.5 s reversal pauses, slowed further on tender spots",
    "limb": "every hold has knee-bend bouts (0.1-1 Hz, 3-15 % BW swing) through the leg's kinematics",
    "reposition": "groups of 2-4 holds joined by 1-4 s irregular re-positions of 2-8 cm",
    "mixed": "fast, standard and slow bouts; holds with / without knee bends; re-positions; step-offs",
    "long": "holds of 60-180 s with 1-3 posture shifts and stronger creep",
    "dropouts": "standard sessions over a bursty link (Gilbert-Elliott), reconnects, spurious codes, saturation",
}

# family plan: hold durations (s), heavy-hold probability, knee-bend probability, re-position groups
FAMILY_PLAN: dict[str, dict[str, Any]] = {
    "standard": {"styles": ("standard",), "hold_s": (20.0, 120.0), "p_heavy": 0.2, "p_knee": 0.0,
                 "p_group": 0.0, "short_hold": True},
    "fast": {"styles": ("fast",), "hold_s": (10.0, 90.0), "p_heavy": 0.15, "p_knee": 0.0, "p_group": 0.0,
             "short_hold": False},
    "slow": {"styles": ("slow",), "hold_s": (20.0, 90.0), "p_heavy": 0.15, "p_knee": 0.0, "p_group": 0.0,
             "short_hold": False},
    "limb": {"styles": ("standard",), "hold_s": (25.0, 120.0), "p_heavy": 0.15, "p_knee": 1.0, "p_group": 0.0,
             "short_hold": False},
    "reposition": {"styles": ("standard",), "hold_s": (12.0, 60.0), "p_heavy": 0.15, "p_knee": 0.0,
                   "p_group": 1.0, "short_hold": False},
    "mixed": {"styles": ("fast", "standard", "slow"), "hold_s": (15.0, 120.0), "p_heavy": 0.2, "p_knee": 0.5,
              "p_group": 0.4, "short_hold": False},
    "long": {"styles": ("standard",), "hold_s": (60.0, 180.0), "p_heavy": 0.15, "p_knee": 0.0, "p_group": 0.0,
             "short_hold": False},
    "dropouts": {"styles": ("standard",), "hold_s": (20.0, 120.0), "p_heavy": 0.2, "p_knee": 0.0,
                 "p_group": 0.0, "short_hold": True},
}

SESSION_S = (200.0, 520.0)  # target session length (domain: 1-3 sets of 30-120 s per area, plus rolling)


def ranges_for(family: str) -> dict[str, tuple[float, float]]:
    """The (lo, hi) of every drawn value for `family`."""
    out = {k: (float(v[0]), float(v[1])) for k, v in RANGES.items()}
    out.update(FAMILY_RANGES.get(family, {}))
    return out


def ranges_table_md() -> str:
    """Markdown table of the ranges (for docs/scenarios.md: kept in step by a test)."""
    rows = ["| value | range | unit | source | what |", "|---|---|---|---|---|"]
    for k, (lo, hi, unit, src, note) in RANGES.items():
        fam = "; ".join(f"{f}: {FAMILY_RANGES[f][k][0]:g}-{FAMILY_RANGES[f][k][1]:g}"
                        for f in FAMILY_RANGES if k in FAMILY_RANGES[f])
        rng = f"{lo:g}-{hi:g}" + (" (log)" if k in LOG_RANGES else "") + (f" ({fam})" if fam else "")
        rows.append(f"| `{k}` | {rng} | {unit} | {src} | {note} |")
    return "\n".join(rows)
