"""tissuesim: the fourth session generator -- posture-controlled sinking onto viscoelastic tissue and foam.

The person controls posture (how far the limb sinks onto the roller), not force.
The load is what the compressed stack gives back: Fung-type exponential tissue
in series with densifying foam (`body.Contact`), quasi-linear viscoelastic with
three relaxation branches (0.3-20 s) that rolling washes out (fresh material
enters the contact) and a stop lets relax, over a random tissue-thickness
profile along the limb. What the person does comes from a semi-Markov grammar
(`behaviour`); the electronics and the link from `sensors`. Every value is drawn
per seed from `params.RANGES` (documented with sources in docs/scenarios.md,
"Fourth generator: tissuesim").

    from holdsense.tissuesim import generate
    s = generate("limb", 3)              # rate, encoder and shell drawn per seed
    s.chunk, s.labels, s.metadata, s.truth
    s.write("limb.csv")                  # + limb.labels.json

Designed without reading the other generators' code or documentation sections.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from rollsignal import SampleChunk

from ..io.labels import GeneratedSession, simulator_labeller
from .behaviour import (PACE_RANGE, PHASES, Person, Plan, build_plan, gate_array, knots_to_arrays, limb_wave,
                        lowpass_noise, moves_to_x, raised)
from .body import Contact, relax, relaxed_share, tissue_profile
from .params import (FAMILIES, FAMILY_DESCRIPTIONS, P_ENCODER, P_FIRM_FOAM, P_RATE_80, P_RIBBED, RANGES,
                     family_range, ranges_table_md)
from .sensors import simulate_sensors

__all__ = ["FAMILIES", "FAMILY_DESCRIPTIONS", "GENERATOR", "PHASES", "RANGES", "Session", "generate", "corpus",
           "labels_path", "ranges_table_md"]

GENERATOR = "tissuesim"
GRID_HZ = 200.0  # simulation grid: ribs at up to ~50 Hz and 80 SPS conversions need a fine grid
SHELLS = ("smooth", "ribbed")
MIN_HOLD_S = 5.0  # contracts.md §3: a hold is still for at least 5 s
RATE_RANGE_HZ = (5.0, 100.0)


def labels_path(recording_path: str | os.PathLike[str]) -> Path:
    """X.csv / X.csv.gz -> X.labels.json beside it."""
    from ..io.labels import labels_path_for
    return labels_path_for(recording_path)


@dataclass
class Session(GeneratedSession):
    """One generated session: delivered samples, ground-truth labels, recording metadata, truth arrays."""

    family: str
    seed: int
    chunk: SampleChunk
    labels: dict[str, Any]
    metadata: dict[str, Any]
    truth: dict[str, np.ndarray]
    plan: Plan = field(repr=False)
    grid: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        md = self.metadata
        return f"{GENERATOR}-{self.family}-s{self.seed}-{md['sample_rate_hz']:g}hz-" \
               f"{'enc' if md['encoder'] else 'force'}-{md['shell']}"


# ------------------------------------------------------------------------------------------- draws
def _check(family: str, seed: Any, rate_hz: Any, encoder: Any, shell: Any) -> None:
    if family not in FAMILIES:
        raise ValueError(f"tissuesim: unknown family {family!r} (families: {', '.join(FAMILIES)})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"tissuesim: seed must be an integer >= 0, not {seed!r}")
    if rate_hz is not None:
        if isinstance(rate_hz, bool) or not isinstance(rate_hz, numbers.Real) or not math.isfinite(rate_hz) \
                or not RATE_RANGE_HZ[0] <= rate_hz <= RATE_RANGE_HZ[1]:
            raise ValueError(f"tissuesim: rate_hz must be {RATE_RANGE_HZ[0]:g}-{RATE_RANGE_HZ[1]:g} Hz "
                             f"(the HX711 offers 10 or 80), not {rate_hz!r}")
    if encoder is not None and not isinstance(encoder, (bool, np.bool_)):
        raise ValueError(f"tissuesim: encoder must be True, False or None, not {encoder!r}")
    if shell is not None and shell not in SHELLS:
        raise ValueError(f"tissuesim: shell must be one of {', '.join(SHELLS)} or None, not {shell!r}")


class _Drawer:
    """Uniform draws from RANGES (family-specific where defined), recorded for the scenario."""

    def __init__(self, rng: np.random.Generator, family: str, record: dict[str, Any]) -> None:
        self.rng, self.family, self.record = rng, family, record

    def __call__(self, name: str, key: str | None = None) -> float:
        r = family_range(self.family, name)
        v = float(self.rng.uniform(r.lo, r.hi))
        self.record[key or name] = round(v, 6)
        return v


def _draw_person(family: str, rng: np.random.Generator, scenario: dict[str, Any]) -> tuple[Person, dict[str, Any]]:
    rec: dict[str, Any] = {}
    draw = _Drawer(rng, family, rec)
    mass = draw("body_mass_kg")
    bw = mass * 9.81
    d: dict[str, Any] = {}
    sr = family_range(family, "session_s")
    d["session_s"] = float(rng.uniform(360.0 if family == "long" else sr.lo, sr.hi))
    rec["session_s"] = round(d["session_s"], 3)
    for k in ("off_start_s", "off_end_s", "step_s", "stroke_cv", "p_trapezoid", "reversal_pause_s", "hesitation_p",
              "centre_walk_cm", "rock_mm", "fidget_per_min", "p_contract", "limb_hz", "limb_swing_bw",
              "limb_rock_mm", "breath_hz", "breath_load_frac", "sway_load_frac", "roll_shift_frac",
              "roll_wander_frac", "stroke_cm", "limb_jitter"):
        d[k] = draw(k)
    ab = family_range(family, "stroke_bell_ab")
    d["bell_lo"], d["bell_hi"] = sorted(float(v) for v in rng.uniform(ab.lo, ab.hi, 2))
    if d["bell_hi"] - d["bell_lo"] < 0.3:  # keep the bells asymmetric
        d["bell_hi"] = min(ab.hi, d["bell_lo"] + 0.3)
    rec["bell_ab_span"] = [round(d["bell_lo"], 3), round(d["bell_hi"], 3)]
    d["stroke_s"] = {}
    d["roll_speed_cm_s"] = {}
    for pace, name in PACE_RANGE.items():
        r = family_range(family, name)
        d["stroke_s"][pace] = float(rng.uniform(r.lo, r.hi))
        d["roll_speed_cm_s"][pace] = d["stroke_cm"] / d["stroke_s"][pace]
    rec["stroke_s"] = {k: round(v, 3) for k, v in d["stroke_s"].items()}
    d["roll_load_n"] = draw("roll_load_bw") * bw
    d["hold_light_n"] = draw("hold_light_bw") * bw
    d["hold_heavy_n"] = draw("hold_heavy_bw") * bw
    d["iron_load_n"] = draw("iron_load_bw") * bw
    d["limb_sign"] = 1.0 if rng.random() < 0.7 else -1.0  # knee flexion mostly presses the thigh down
    rec["limb_sign"] = d["limb_sign"]
    scenario["person"] = rec
    return Person(mass, d), rec


def _draw_body(family: str, rng: np.random.Generator, firm: bool, scenario: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    draw = _Drawer(rng, family, rec)
    k0, b = draw("tissue_k0_n_per_mm"), draw("tissue_b_per_mm")
    kf = draw("foam_k_firm_n_per_mm") if firm else draw("foam_k_soft_n_per_mm")
    hf = draw("foam_h_firm_mm") if firm else draw("foam_h_soft_mm")
    g = [draw("relax_g1"), draw("relax_g2"), draw("relax_g3")]
    tau = [draw("relax_tau1_s"), draw("relax_tau2_s"), draw("relax_tau3_s")]
    if firm:  # firm (closed-cell) foam relaxes less: the tissue dominates the relaxation
        g = [gi * 0.85 for gi in g]
    L = draw("contact_len_cm")
    slip = draw("slip_frac")
    x_prof, prof, pdesc = tissue_profile(rng, draw, L)
    rec["profile"] = pdesc
    rec["relax_g_effective"] = [round(v, 5) for v in g]
    scenario["body"] = rec
    return dict(contact=Contact(k0 / b, b, kf, hf), g=g, tau=tau, L=L, slip=slip, x_prof=x_prof, prof=prof,
                )


def _draw_device(family: str, rng: np.random.Generator, scenario: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    draw = _Drawer(rng, family, rec)
    dev: dict[str, Any] = {}
    for k in ("adc_rate_factor", "adc_rate_wander", "clock_ppm", "ts_jitter_ms", "adc_noise_x", "counts_per_n",
              "cal_gain_err", "cal_residual_n", "tare_offset_counts", "tempco_counts_per_c", "temp_rise_c",
              "temp_tau_s", "spurious_per_min", "shell_radius_cm", "enc_noise_lsb", "enc_inl_deg", "enc_nan_p",
              "rib_pitch_cm", "rib_frac", "notif_flush_ms", "lost_notif_per_min"):
        dev[k] = draw(k)
    sb = family_range(family, "spurious_bits")
    dev["spurious_bits_lo"], dev["spurious_bits_hi"] = sb.lo, sb.hi
    dev["enc_theta0_deg"] = float(rng.uniform(0, 360))
    dev["enc_inl_phase"] = float(rng.uniform(0, 2 * np.pi))
    dev["rib_phase"] = float(rng.uniform(0, 2 * np.pi))
    if family == "dropouts":
        dev["gaps_per_min"] = draw("gaps_per_min")
        g = family_range(family, "gap_s")
        dev["gap_s_lo"], dev["gap_s_hi"] = g.lo, g.hi
        dev["sat_per_min"] = draw("sat_per_min")
        dev["tempco_counts_per_c"] *= draw("tempco_x")
    else:
        dev["gaps_per_min"], dev["gap_s_lo"], dev["gap_s_hi"], dev["sat_per_min"] = 0.0, 0.3, 3.0, 0.0
    rec.update({k: round(v, 6) for k, v in dev.items() if k not in rec and isinstance(v, float)})
    scenario["device"] = rec
    return dev


# ------------------------------------------------------------------------------------------- world
def _render(plan: Plan, person: Person, body: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The plan as arrays on the simulation grid: posture, compression, true force, shell travel, phases."""
    d = person.draws
    dt = 1.0 / GRID_HZ
    n = int(math.ceil(plan.end_s / dt)) + 1
    t = np.arange(n) * dt
    contact: Contact = body["contact"]
    x_shell = moves_to_x(t, plan.moves)
    target, share, ref = knots_to_arrays(t, plan.knots)
    gate = gate_array(t, plan.gates)
    phase = np.zeros(n, dtype=np.int8)
    code = {"off": 0, "roll": 1, "hold": 2, "search": 3, "iron": 4, "repos": 5, "step": 6, "step_off": 6}
    for e in plan.episodes:
        phase[int(round(e["t0"] / dt)):int(round(e["t1"] / dt))] = code[e["kind"]]
    rolling = np.isin(phase, (1, 3, 4, 5)).astype(float)
    # posture perturbations, as load the person's posture would change in the unrelaxed contact (N)
    f_br = d["breath_hz"] * (1.0 + 0.08 * lowpass_noise(rng, n, GRID_HZ, None, 0.02))
    ph = 2 * np.pi * np.cumsum(f_br) * dt
    breath_wave = (np.sin(ph) + 0.25 * np.sin(2 * ph + 0.8)) / 1.2
    pert = target * d["breath_load_frac"] * breath_wave
    pert += target * d["sway_load_frac"] * lowpass_noise(rng, n, GRID_HZ, 0.05, 0.6)
    wander = lowpass_noise(rng, n, GRID_HZ, None, 0.1)
    pert += target * d["roll_wander_frac"] * wander * np.convolve(rolling, np.ones(200) / 200, mode="same")
    for (t0, t1, sgn) in plan.roll_mods:  # arms push as the body moves one way, pull the other
        i0, i1 = int(t0 / dt), int(t1 / dt)
        s = (t[i0:i1] - t0) / max(t1 - t0, 1e-9)
        pert[i0:i1] += sgn * d["roll_shift_frac"] * target[i0:i1] * np.sin(np.pi * s)
    tone = np.ones(n)
    x_rock = np.zeros(n)
    limb_on = np.zeros(n, dtype=bool)
    bw = person.bw_n
    for h in plan.holds:
        i0, i1 = int(round(h["t0"] / dt)), int(round(h["t1"] / dt))
        i1x = min(n, i1 + int(0.5 * GRID_HZ))
        tt = t[i0:i1x]
        win = np.where(tt < h["t1"], 1.0, 1.0 - raised((tt - h["t1"]) / 0.5))  # hold-only posture, handed over
        hp = np.zeros(len(tt))
        base = h["target_n"]
        for (tf, ln, fr) in h["fidgets"]:
            m = (tt >= tf) & (tt < tf + ln)
            hp[m] += fr * base * np.sin(np.pi * (tt[m] - tf) / ln) ** 2
        for (ts, ramp, fr) in h["shifts"]:
            hp += fr * base * raised((tt - ts) / ramp)
        tc, rate = h["creep"]
        hp += np.clip(rate * base * np.maximum(tt - tc, 0.0) / 60.0, -0.12 * base, 0.12 * base)
        lw_all = np.zeros(len(tt))
        for bout in h["limb"]:
            m = (tt >= bout["t0"]) & (tt < bout["t0"] + bout["dur_s"])
            lw = limb_wave(tt[m] - bout["t0"], dict(bout, jitter=d["limb_jitter"]))
            lw_all[m] = lw
            hp[m] += d["limb_sign"] * bout["swing_bw"] * bw * lw
            limb_on[i0:i1x][m] = True
        pert[i0:i1x] += hp * win
        for (tcs, ln, kappa) in h["contracts"]:
            m = (tt >= tcs - 1) & (tt < tcs + ln + 1)
            s_in = raised((tt[m] - tcs + 0.6) / 0.6) * (1 - raised((tt[m] - tcs - ln) / 0.8))
            tone[i0:i1x][m] += kappa * s_in
        # the still roller rocks with breathing and the moving limb; the shell may creep round a little
        taper = raised((tt - h["t0"]) / 0.6) * (1 - raised((tt - h["t1"] + 0.6) / 0.6))
        x_rock[i0:i1x] += 0.1 * (h["rock_mm"] * breath_wave[i0:i1x] + h["limb_rock_mm"] * lw_all) * taper
        drift = 0.1 * h["drift_mm"] * np.clip((t - h["t0"]) / (h["t1"] - h["t0"]), 0.0, 1.0)
        x_rock += drift
    x = x_shell + x_rock
    x_limb = x * (1.0 + body["slip"])
    # posture: the compression giving the target once settled, minus the spot's thickness; what the
    # profile under the moving contact adds comes on top (the person does not track it)
    f_eq = target / (1.0 - share)
    f_aim = np.maximum(f_eq + pert / (1.0 - share), 0.02 * f_eq)
    c_post = contact.c_of_f(f_aim) - ref
    dT = np.interp(x_limb, body["x_prof"], body["prof"])
    c_loaded = np.maximum(c_post + dT, 0.3 * contact.c_of_f(f_eq))
    c = gate * c_loaded
    f_e = contact.f_of_c(c, tone)
    speed = np.gradient(x_limb, dt)
    f, relaxed = relax(f_e, speed, dt, body["g"], body["tau"], body["L"])
    return dict(t=t, x=x, x_limb=x_limb, gate=gate, c=c, f_e=f_e, f=f, relaxed=relaxed, phase=phase,
                limb=limb_on, tone=tone, target=target, speed=speed)


def _labels(plan: Plan, grid: dict[str, np.ndarray], person: Person, t_first: float, scale: float,
            duration_s: float) -> list[dict[str, Any]]:
    """Segments from the episodes (physical boundaries), on the device clock, with hold extras."""
    dt = 1.0 / GRID_HZ
    raw: list[dict[str, Any]] = []
    prev_loaded = "roll"
    for e in plan.episodes:
        k = e["kind"]
        if k == "off":
            kind = "off"
        elif k == "hold":
            kind = "hold" if e["t1"] - e["t0"] >= MIN_HOLD_S else "roll"
        elif k == "step_off":
            kind = prev_loaded
        else:
            kind = "roll"
        if kind != "off":
            prev_loaded = kind
        seg = dict(kind=kind, t0=e["t0"], t1=e["t1"], limb=bool(e.get("limb")))
        if raw and raw[-1]["kind"] == kind:
            raw[-1]["t1"] = e["t1"]
            raw[-1]["limb"] |= seg["limb"]
        else:
            raw.append(seg)
    out = []
    for s in raw:
        a = max(0.0, (s["t0"] - t_first) * scale)
        b = min(duration_s, (s["t1"] - t_first) * scale)
        if b - a < 1e-4:
            continue
        seg: dict[str, Any] = {"kind": s["kind"], "start_s": round(a, 4), "end_s": round(b, 4)}
        if s["kind"] == "hold":
            i0, i1 = int(round(s["t0"] / dt)), int(round(s["t1"] / dt))
            fm = float(np.mean(grid["f"][i0:i1]))
            xs = grid["x"][i0:i1]
            seg.update(mean_force_n=round(fm, 2), force_frac_bw=round(fm / person.bw_n, 4),
                       spot_cm=round(float(np.median(xs)), 2), travel_cm=round(float(xs.max() - xs.min()), 3))
            if s["limb"]:
                seg["note"] = "knee bends"
        out.append(seg)
    if out:
        out[0]["start_s"] = 0.0
        out[-1]["end_s"] = round(duration_s, 4)
        for x, y in zip(out, out[1:]):
            y["start_s"] = x["end_s"]
    return out


def generate(family: str, seed: int, rate_hz: float | None = None, encoder: bool | None = None,
             shell: str | None = None) -> Session:
    """One labelled session of `family` for `seed` (deterministic); None = drawn per seed.

    rate_hz (nominal, 5-100; the HX711 offers 10 or 80), encoder and shell override only what they name:
    the same person does the same session on the same roller.
    """
    _check(family, seed, rate_hz, encoder, shell)
    fam_i = FAMILIES.index(family)
    seed = int(seed)
    streams = [np.random.default_rng([seed, fam_i, k, 0x7155]) for k in range(7)]
    cat, r_person, r_body, r_dev, r_noise, r_enc, r_link = streams
    # categorical draws, always all of them in one order, so an override changes nothing else
    rate_draw = 80.0 if cat.random() < P_RATE_80 else 10.0
    enc_draw = bool(cat.random() < P_ENCODER)
    shell_draw = "ribbed" if cat.random() < P_RIBBED else "smooth"
    firm = bool(cat.random() < P_FIRM_FOAM)
    rate = float(rate_draw if rate_hz is None else rate_hz)
    enc = enc_draw if encoder is None else bool(encoder)
    shl = shell_draw if shell is None else shell
    scenario: dict[str, Any] = dict(generator=GENERATOR, family=family, seed=seed, rate_hz=rate, encoder=enc,
                                    shell=shl, foam="firm" if firm else "soft",
                                    drawn=dict(rate_hz=rate_draw, encoder=enc_draw, shell=shell_draw))
    person, _ = _draw_person(family, r_person, scenario)
    body = _draw_body(family, r_body, firm, scenario)
    dev = _draw_device(family, r_dev, scenario)
    g, tau, L = body["g"], body["tau"], body["L"]

    def comp(kind: str, speed: float) -> float:
        if kind == "hold":
            return relaxed_share(g, tau, 0.0, L, after_s=6.0)
        return relaxed_share(g, tau, speed, L)

    def profile_at(x_cm: float) -> float:
        return float(np.interp(x_cm * (1 + body["slip"]), body["x_prof"], body["prof"]))

    plan = build_plan(family, person, r_person, comp, profile_at)
    grid = _render(plan, person, body, np.random.default_rng([seed, fam_i, 9, 0x7155]))
    f_true = grid["f"]
    if shl == "ribbed":  # ribs: a function of shell angle, so a still shell gives a constant, not a ripple
        w = 2 * np.pi * grid["x"] / dev["rib_pitch_cm"] + dev["rib_phase"]
        f_true = f_true * (1.0 + dev["rib_frac"] * (np.sin(w) + 0.3 * np.sin(2 * w)) / 1.3)
    grid["f_true"] = f_true
    so = simulate_sensors(grid["t"], f_true, grid["x"], rate_nom_hz=rate, encoder=enc, dev=dev,
                          rng_noise=r_noise, rng_enc=r_enc, rng_link=r_link)
    chunk = SampleChunk(so.t_s, so.force_n, so.angle_deg, so.flags, so.raw_counts)
    duration_s = round(float(so.t_s[-1]), 4)
    segments = _labels(plan, grid, person, so.t_first_true_s, so.clock_scale, duration_s)
    scenario["plan"] = _plan_summary(plan)
    scenario["sensors"] = so.stats
    labels = {"format": "holdsense-labels/1", "labeller": simulator_labeller(GENERATOR), "segments": segments, "duration_s": duration_s,
              "body_mass_kg": round(person.body_mass_kg, 2), "scenario": scenario}
    metadata = {"sample_rate_hz": rate, "device": f"tissuesim-roller adc={so.stats['adc_rate_hz']}SPS",
                "calibration": so.calibration, "body_mass_kg": round(person.body_mass_kg, 2), "region": "quads",
                "generator": GENERATOR, "family": family, "scenario": family, "seed": seed, "shell": shl,
                "foam": scenario["foam"], "encoder": enc,
                "shell_radius_cm": round(dev["shell_radius_cm"], 3)}
    ti = so.t_true_s
    gi = np.minimum(np.round(ti * GRID_HZ).astype(np.int64), len(grid["t"]) - 1)
    truth = {"t_true_s": ti, "force_n": f_true[gi], "force_elastic_n": grid["f_e"][gi], "x_cm": grid["x"][gi],
             "contact": grid["gate"][gi] > 0, "posture_mm": grid["c"][gi], "relaxed_share": grid["relaxed"][gi],
             "phase": grid["phase"][gi], "limb": grid["limb"][gi], "tone": grid["tone"][gi]}
    return Session(family, seed, chunk, labels, metadata, truth, plan, grid)


def _plan_summary(plan: Plan) -> dict[str, Any]:
    """The resolved behaviour, compactly (true time, s): episodes, strokes, hold events."""
    def r(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 3)
        if isinstance(v, (list, tuple)):
            return [r(x) for x in v]
        if isinstance(v, dict):
            return {k: r(x) for k, x in v.items()}
        if isinstance(v, (np.floating, np.integer)):
            return r(v.item())
        return v
    return {"episodes": [r(e) for e in plan.episodes],
            "strokes": [[r(s["t0"]), r(s["t1"]), r(s["cm"]), s["pace"], s["hesitation"]] for s in plan.strokes],
            "holds": [r({k: v for k, v in h.items()}) for h in plan.holds]}


COMBOS = [(rate, enc, shell) for rate in (10.0, 80.0) for enc in (True, False) for shell in ("ribbed", "smooth")]


def corpus(families: Iterable[str] | None = None, n_per_family: int = 8, seed0: int = 0) -> Iterator[Session]:
    """n_per_family sessions per family (seeds seed0...), cycling 10/80 Hz x encoder on/off x ribbed/smooth."""
    fams = list(families) if families is not None else list(FAMILIES)
    for fam in fams:
        for i in range(n_per_family):
            rate, enc, shl = COMBOS[i % len(COMBOS)]
            yield generate(fam, seed0 + i, rate_hz=rate, encoder=enc, shell=shl)
