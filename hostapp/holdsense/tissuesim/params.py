"""Every randomised quantity of the tissuesim generator as data: range, unit, why, source.

Each session draws every value below per seed (uniformly in [lo, hi] unless the
name says otherwise), so one family yields many different people, rollers and
links. Family-specific ranges are named ``<family>.<what>``; the rest apply to
every family. The table in docs/scenarios.md ("Fourth generator: tissuesim") is
`ranges_table_md()` verbatim, and a test keeps the two equal.

Sources are cited by the short names used in docs/scenarios.md: "domain" is
/work/shared/guide/domain.md (figures from the literature and datasheets),
"scenarios" is the top of docs/scenarios.md (labels contract, families table).
"""
from __future__ import annotations

from typing import NamedTuple


class Range(NamedTuple):
    """A drawn quantity: [lo, hi] in `unit`; `why` it matters; `source` of the figure."""

    lo: float
    hi: float
    unit: str
    why: str
    source: str


FAMILIES: tuple[str, ...] = ("standard", "fast", "slow", "limb", "reposition", "mixed", "long", "dropouts")

FAMILY_DESCRIPTIONS: dict[str, str] = {
    "standard": "rolling at 1.4-4 s per direction, light holds of 30-120 s plus a short one (8-20 s), "
                "a step-off between sets, sometimes a heavy (30-50 % BW) hold",
    "fast": "fast rolling, 0.6-1.3 s per direction, holds of 10-90 s",
    "slow": "very slow rolling and ironing, 4-8 s per direction: by force alone easy to mistake for a hold",
    "limb": "knee-bend bouts during holds (0.1-0.8 Hz, irregular, 3-15 % BW swing) with the roller not travelling",
    "reposition": "chains of 3-6 spots, 1-4 s irregular loaded moves of 2-8 cm between holds",
    "mixed": "fast, standard and slow bouts, searching, ironing, holds with and without limb movement, "
             "re-positions, step-offs",
    "long": "holds of 2-5 minutes with 1-3 posture shifts (4-10 % steps) and slow sinking (arm fatigue)",
    "dropouts": "a poor link: 1-3 reconnect gaps per minute (0.3-3 s), 2-6 lost notifications per minute, "
                "spurious codes, saturation glitches (flagged sat), more zero drift",
}

D = "domain"  # short names, expanded in the docs' Sources list
S = "scenarios"
B = "design brief (assumption)"

RANGES: dict[str, Range] = {
    # ------------------------------------------------------------------ person and session
    "body_mass_kg": Range(45, 120, "kg", "the athlete", f"{D}: athletes weigh 45-120 kg"),
    "session_s": Range(240, 600, "s", "session length (long: 360-600)", f"{S}: typically 4-10 minutes"),
    "off_start_s": Range(1.5, 6, "s", "unloaded roller before stepping on", f"{D}: step off, force ~0 with drift"),
    "off_end_s": Range(1.5, 5, "s", "unloaded tail", f"{D}: step off, force ~0 with drift"),
    "off_between_sets_s": Range(6, 30, "s", "rest between sets", f"{D}: 1-3 sets (Behm 2020)"),
    "step_s": Range(0.3, 0.8, "s", "stepping on/off: contact ramp", f"{S}: stepping-on time 0.3-0.8 s"),
    "roll_load_bw": Range(0.25, 0.40, "BW", "load the person aims for while rolling",
                          f"{D}: rolling 25-40 % BW (Baumgart 2019)"),
    "hold_light_bw": Range(0.10, 0.25, "BW", "light-hold load", f"{D}: light holds ~10-25 % BW"),
    "hold_heavy_bw": Range(0.30, 0.50, "BW", "heavy-hold load", f"{D}: people also hold heavier, 30-50 % BW"),
    "breath_hz": Range(0.18, 0.33, "Hz", "breathing rate (wanders +-8 %)", f"{D}: 0.18-0.33 Hz"),
    "breath_load_frac": Range(0.01, 0.04, "of load", "breathing modulation of posture, as load",
                              f"{D}: breathing modulates force by a few percent"),
    "sway_load_frac": Range(0.004, 0.015, "of load", "postural sway (0.05-0.6 Hz noise), rms",
                            f"{D}: force during holds is not flat, body creeps and settles"),
    "roll_shift_frac": Range(0.02, 0.06, "of load", "weight shift at stroke reversals (arms push-pull)", B),
    "roll_wander_frac": Range(0.03, 0.08, "of load", "slow posture wander within a rolling bout, rms", B),
    # ------------------------------------------------------------------ tissue and foam (contact)
    "tissue_k0_n_per_mm": Range(4, 20, "N/mm", "initial tissue stiffness A*B",
                                "E 20-80 kPa in vivo (Zheng & Mak 1999) x ~68 cm2 contact (domain: Curran 2008) "
                                "/ 15-40 mm tissue"),
    "tissue_b_per_mm": Range(0.05, 0.15, "1/mm", "exponential stiffening F=A(exp(B u)-1)",
                             "Fung 1993 exponential law; e-fold per 7-20 mm of compression"),
    "foam_k_soft_n_per_mm": Range(12, 40, "N/mm", "soft foam initial stiffness",
                                  "E ~30-120 kPa x ~68 cm2 / 15-30 mm (domain: Curran 2008 area)"),
    "foam_k_firm_n_per_mm": Range(40, 140, "N/mm", "firm foam initial stiffness",
                                  "E ~0.1-0.35 MPa x ~68 cm2 / 8-18 mm (domain: Curran 2008 area)"),
    "foam_h_soft_mm": Range(15, 30, "mm", "soft foam compressible thickness (densifies)", B),
    "foam_h_firm_mm": Range(8, 18, "mm", "firm foam compressible thickness (densifies)", B),
    "relax_g1": Range(0.02, 0.07, "of load", "fast relaxation branch share", "QLV (Fung 1993); Van Loocke 2008"),
    "relax_tau1_s": Range(0.3, 1.0, "s", "fast relaxation time", "brief: 0.3-20 s; Van Loocke 2008"),
    "relax_g2": Range(0.02, 0.07, "of load", "middle branch share", "QLV (Fung 1993); Van Loocke 2008"),
    "relax_tau2_s": Range(1.5, 5.0, "s", "middle relaxation time", "brief: 0.3-20 s; Van Loocke 2008"),
    "relax_g3": Range(0.02, 0.09, "of load", "slow branch share (sum of shares 6-23 %)",
                      "brief: a few to ~20 %; Van Loocke 2008"),
    "relax_tau3_s": Range(8, 20, "s", "slow relaxation time", "brief: 0.3-20 s; Van Loocke 2008"),
    "contact_len_cm": Range(4, 9, "cm", "contact length along the limb: averages the profile, sets wash-out",
                            f"{D}: ~68 cm2 contact (Curran 2008) over an 8-15 cm wide limb"),
    "slip_frac": Range(0.0, 0.03, "", "skin-shell slip: limb moves slightly more than the shell", B),
    # tissue thickness profile along the limb (mm of extra compression under the contact)
    "profile_grad_mm_per_cm": Range(-0.12, 0.12, "mm/cm", "girth change along the limb", B),
    "profile_bellies": Range(1, 3, "count", "muscle bellies", B),
    "profile_belly_mm": Range(1.0, 3.5, "mm", "belly bulge", B),
    "profile_belly_sigma_cm": Range(3, 8, "cm", "belly width", B),
    "profile_landmarks": Range(0, 2, "count", "bony/tendinous landmarks (thin tissue)", B),
    "profile_landmark_mm": Range(1.0, 3.0, "mm", "landmark dip", B),
    "profile_landmark_sigma_cm": Range(1.0, 3.0, "cm", "landmark width", B),
    "profile_texture_mm": Range(0.2, 0.8, "mm", "smooth random texture (spline, 4-6 cm knots)", B),
    # ------------------------------------------------------------------ kinematics
    "fast.stroke_s": Range(0.6, 1.3, "s", "one-way stroke duration", f"{D}: fast 0.6-1.3 s"),
    "standard.stroke_s": Range(1.4, 4.0, "s", "one-way stroke duration", f"{D}: 1.4-4 s typical"),
    "slow.stroke_s": Range(4.0, 8.0, "s", "one-way stroke duration", f"{D}: very slow 4-8 s"),
    "stroke_cm": Range(7.5, 17.5, "cm", "stroke length", f"{D}: 7.5-17.5 cm each way"),
    "stroke_cv": Range(0.06, 0.2, "", "per-stroke variation of duration and length", f"{D}: ~33 strokes/min (Sezik 2024)"),
    "stroke_bell_ab": Range(1.6, 3.5, "", "asymmetric bell: v ~ s^(a-1)(1-s)^(b-1), a and b drawn", B),
    "p_trapezoid": Range(0.0, 0.5, "", "share of strokes with a trapezoidal velocity profile", B),
    "trapezoid_ramp_frac": Range(0.15, 0.35, "", "accel/decel share of a trapezoidal stroke", B),
    "reversal_pause_s": Range(0.05, 0.6, "s", "pause at stroke reversals (person mean)", B),
    "hesitation_p": Range(0.02, 0.10, "per stroke", "mid-stroke hesitations", B),
    "hesitation_s": Range(0.3, 1.5, "s", "hesitation length (< 5 s: still rolling)", f"{S}: still < 5 s is roll"),
    "centre_walk_cm": Range(0.5, 3.0, "cm", "drift of the stroke centre per stroke", B),
    "warmup_s": Range(20, 60, "s", "warm-up rolling after stepping on", f"{D}: sets of 30-120 s (Behm 2020)"),
    "roll_bout_s": Range(8, 45, "s", "rolling between holds", f"{D}: sets of 30-120 s (Behm 2020)"),
    "search_strokes": Range(3, 8, "count", "searching strokes before settling", B),
    "search_cm": Range(1, 5, "cm", "searching stroke length", B),
    "search_stroke_s": Range(0.4, 1.5, "s", "searching stroke duration", B),
    "search_pause_s": Range(0.1, 1.0, "s", "pause between searching strokes", B),
    "iron_strokes": Range(2, 4, "count", "ironing strokes (no reversal pause)", B),
    "iron_stroke_s": Range(4.0, 8.0, "s", "ironing stroke duration", f"{D}: very slow 4-8 s"),
    "iron_load_bw": Range(0.28, 0.42, "BW", "ironing load", f"{D}: rolling 25-40 % BW"),
    "repos_s": Range(1.0, 4.0, "s", "re-position duration", f"{D}: 1-4 s of short, irregular, loaded motion"),
    "repos_cm": Range(2.0, 8.0, "cm", "re-position net travel", "brief: 2-8 cm"),
    "repos_load_frac": Range(0.5, 0.85, "of hold load", "unweighting while sliding to the next spot", B),
    "settle_s": Range(0.5, 2.0, "s", "posture settling after the stop (part of the hold)", f"{S}: settles over ~1 s"),
    # ------------------------------------------------------------------ holds
    "standard.hold_s": Range(30, 120, "s", "hold duration", f"{D}: 30-120 s in studies"),
    "standard.short_hold_s": Range(8, 20, "s", "the one short hold", f"{S}: short one 8-20 s"),
    "fast.hold_s": Range(10, 90, "s", "hold duration", f"{S}: fast family 10-90 s"),
    "slow.hold_s": Range(20, 90, "s", "hold duration", f"{D}: 30-120 s in studies, shorter ones too"),
    "limb.hold_s": Range(30, 120, "s", "hold duration", f"{D}: 30-120 s in studies"),
    "reposition.hold_s": Range(10, 60, "s", "hold per spot", f"{D}: 30 s-2 min per area, split over spots"),
    "mixed.hold_s": Range(10, 120, "s", "hold duration", f"{D}: 30-120 s; {S}"),
    "long.hold_s": Range(120, 300, "s", "hold duration", f"{S}: holds of 2-5 minutes; {D}: a few minutes"),
    "dropouts.hold_s": Range(20, 100, "s", "hold duration", f"{D}: 30-120 s in studies"),
    "rock_mm": Range(0.05, 0.3, "mm", "breathing rocking of the still roller (peak)", "brief: < 0.5 mm per 0.5 s"),
    "hold_drift_mm": Range(0.0, 2.0, "mm", "slow roll of the shell over a whole hold", "brief: < 1 cm total"),
    "fidget_per_min": Range(0.0, 2.0, "1/min", "fidgets while still (< 1 s load blips)", B),
    "fidget_s": Range(0.2, 0.9, "s", "fidget length", B),
    "fidget_frac": Range(0.03, 0.10, "of load", "fidget amplitude", B),
    "p_contract": Range(0.1, 0.4, "per hold", "holds with contract-relax cycles", B),
    "contract_cycles": Range(1, 3, "count", "contract-relax cycles", B),
    "contract_s": Range(3, 8, "s", "tensing", "brief: 3-8 s"),
    "contract_rest_s": Range(4, 12, "s", "relax between cycles", B),
    "contract_kappa": Range(0.1, 0.4, "", "tissue stiffening when tensed (load step of a few %)", B),
    "limb_hz": Range(0.1, 0.8, "Hz", "knee-bend cadence", f"{D}: roughly 0.1-1 Hz"),
    "limb_swing_bw": Range(0.03, 0.13, "BW", "load swing of a knee bend, peak to peak (breathing on top: 3-15 %)",
                           "brief: 3-15 % BW"),
    "limb_bout_s": Range(8, 30, "s", "knee-bend bout", B),
    "limb_rest_s": Range(4, 15, "s", "rest between bouts", B),
    "limb_jitter": Range(0.1, 0.3, "", "cycle-to-cycle period and amplitude variation", B),
    "limb_rock_mm": Range(0.03, 0.15, "mm", "shell rocking from the moving limb (peak)", "brief: < 0.5 mm per 0.5 s"),
    "shift_frac": Range(0.04, 0.10, "of load", "posture shift step (either sign)", f"{D}: a step of up to ~10 %"),
    "shift_ramp_s": Range(0.5, 2.0, "s", "posture shift duration", B),
    "creep_delay_s": Range(20, 60, "s", "arm fatigue sets in after", B),
    "creep_per_min": Range(-0.03, 0.06, "of load/min", "posture creep: sinking (+) or easing off (-)",
                           f"{D}: the body creeps and settles"),
    "long.creep_per_min": Range(0.02, 0.06, "of load/min", "slow sinking in long holds", f"{D}: and sink slowly"),
    # ------------------------------------------------------------------ sensors
    "adc_rate_factor": Range(0.975, 1.15, "x nominal", "HX711 oscillator: '80 SPS' runs 78-92",
                             f"{D}: real 80 SPS parts run 78-92 SPS"),
    "adc_rate_wander": Range(0.0005, 0.003, "", "slow rate wander (oscillator temperature)", B),
    "clock_ppm": Range(-50, 50, "ppm", "device clock error (crystal tolerance + ageing)", B),
    "ts_jitter_ms": Range(0.05, 1.5, "ms", "time-stamp latency jitter (poll / interrupt)", B),
    "adc_noise_x": Range(1.0, 4.0, "x datasheet", "noise over the datasheet's 50 nV (10 SPS) / 90 nV (80 SPS) rms "
                         "(1 LSB = 2.33 nV at gain 128)", "HX711 datasheet; wiring pick-up"),
    "counts_per_n": Range(100, 2000, "counts/N", "load-cell sensitivity x excitation / LSB",
                          "0.5-1 mV/V cells, 100-300 kg total, 3.3-5 V, HX711 gain 128"),
    "cal_gain_err": Range(-0.015, 0.015, "", "calibration gain error", B),
    "cal_residual_n": Range(0.1, 0.8, "N", "calibration fit residual (header)", B),
    "tare_offset_counts": Range(-300000, 300000, "counts", "bridge imbalance at zero load", B),
    "tempco_counts_per_c": Range(10, 60, "counts/degC", "zero drift", f"{D}: tens of counts per degC"),
    "temp_rise_c": Range(0.5, 3.0, "degC", "roller warms up (body, electronics)", B),
    "temp_tau_s": Range(120, 600, "s", "warm-up time constant", B),
    "spurious_per_min": Range(0.0, 0.5, "1/min", "spurious codes (low bits all ones)", f"{D}: common on long wires"),
    "spurious_bits": Range(8, 16, "bits", "low bits forced to ones", f"{D}: all ones in the low bits"),
    "shell_radius_cm": Range(7.0, 8.0, "cm", "shell radius (travel = angle x radius)", f"{D}: 7.5 cm typical"),
    "enc_noise_lsb": Range(0.3, 1.0, "LSB", "AS5600 angle noise rms (12 bit: 0.088 deg)", "AS5600 datasheet"),
    "enc_inl_deg": Range(0.1, 1.0, "deg", "AS5600 integral non-linearity (magnet misalignment)", "AS5600 datasheet"),
    "enc_nan_p": Range(0.0, 2e-4, "per sample", "I2C read failures (NaN angle)", B),
    "rib_pitch_cm": Range(1.2, 2.5, "cm", "rib spacing around the shell", f"{D}: seed asks for a ribbed shell"),
    "rib_frac": Range(0.02, 0.06, "of load", "rib ripple, a function of shell angle (still = no ripple)", B),
    "notif_flush_ms": Range(25, 50, "ms", "BLE notification flush interval", f"{D}: flush every 25-50 ms"),
    "lost_notif_per_min": Range(0.0, 0.5, "1/min", "lost notifications (normal link)", B),
    "dropouts.lost_notif_per_min": Range(2, 6, "1/min", "lost notifications", f"{S}: 2-6 dropouts per minute"),
    "dropouts.gaps_per_min": Range(1, 3, "1/min", "reconnect gaps", f"{S}: 1-3 link gaps per minute"),
    "dropouts.gap_s": Range(0.3, 3.0, "s", "reconnect gap length", f"{S}: 0.3-3 s"),
    "dropouts.spurious_per_min": Range(1, 6, "1/min", "spurious codes", f"{S}: spurious codes"),
    "dropouts.sat_per_min": Range(0.2, 1.0, "1/min", "saturation glitches (1-4 samples at a rail)",
                                  f"{S}: saturation glitches; {D}: flag it"),
    "dropouts.tempco_x": Range(2, 4, "x", "more zero drift", f"{S}: more zero drift"),
}

# Per-family grammar knobs (probabilities of the semi-Markov transitions and which paces a bout may take).
# Probabilities are design choices that give each family its character (docs/scenarios.md, "Built-in families").
GRAMMAR: dict[str, dict] = {
    "standard": dict(paces=("standard",), p_search=0.35, p_iron=0.05, p_limb=0.1, p_repos=0.15, chain=(1, 2),
                     sets=(2, 3), shifts=(0, 1), p_heavy_session=0.5, short_hold=True, p_contract_scale=1.0),
    "fast": dict(paces=("fast",), p_search=0.3, p_iron=0.0, p_limb=0.1, p_repos=0.1, chain=(1, 2),
                 sets=(1, 3), shifts=(0, 1), p_heavy_session=0.2, short_hold=False, p_contract_scale=1.0),
    "slow": dict(paces=("slow",), p_search=0.3, p_iron=0.4, p_limb=0.1, p_repos=0.1, chain=(1, 2),
                 sets=(1, 2), shifts=(0, 1), p_heavy_session=0.2, short_hold=False, p_contract_scale=1.0),
    "limb": dict(paces=("standard",), p_search=0.3, p_iron=0.05, p_limb=0.9, p_repos=0.1, chain=(1, 2),
                 sets=(1, 2), shifts=(0, 1), p_heavy_session=0.2, short_hold=False, p_contract_scale=0.5),
    "reposition": dict(paces=("standard",), p_search=0.3, p_iron=0.05, p_limb=0.1, p_repos=1.0, chain=(3, 6),
                       sets=(1, 2), shifts=(0, 1), p_heavy_session=0.2, short_hold=False, p_contract_scale=1.0),
    "mixed": dict(paces=("fast", "standard", "slow"), p_search=0.4, p_iron=0.2, p_limb=0.4, p_repos=0.4,
                  chain=(1, 3), sets=(1, 3), shifts=(0, 1), p_heavy_session=0.4, short_hold=False,
                  p_contract_scale=1.0),
    "long": dict(paces=("standard",), p_search=0.3, p_iron=0.05, p_limb=0.2, p_repos=0.1, chain=(1, 1),
                 sets=(1, 2), shifts=(1, 3), p_heavy_session=0.2, short_hold=False, p_contract_scale=1.0),
    "dropouts": dict(paces=("standard", "fast"), p_search=0.3, p_iron=0.05, p_limb=0.2, p_repos=0.15,
                     chain=(1, 2), sets=(1, 3), shifts=(0, 1), p_heavy_session=0.3, short_hold=False,
                     p_contract_scale=1.0),
}

#: Whole-session draws that are categorical (probabilities; documented in docs/scenarios.md).
P_RIBBED = 0.35  # shell drawn per seed: smooth by default, ribbed in about a third of sessions
P_ENCODER = 0.5
P_RATE_80 = 0.5
P_FIRM_FOAM = 0.5


def family_range(family: str, what: str) -> Range:
    """The range `what` for `family`: `<family>.<what>` when it exists, else the common one."""
    return RANGES.get(f"{family}.{what}") or RANGES[what]


def ranges_table_md() -> str:
    """The parameters-and-ranges table of docs/scenarios.md (markdown), generated from RANGES."""
    def fmt(v: float) -> str:
        return f"{v:g}"

    rows = ["| parameter | range | unit | why | source |", "|---|---|---|---|---|"]
    for name, r in RANGES.items():
        rows.append(f"| `{name}` | {fmt(r.lo)} to {fmt(r.hi)} | {r.unit} | {r.why} | {r.source} |")
    return "\n".join(rows)
