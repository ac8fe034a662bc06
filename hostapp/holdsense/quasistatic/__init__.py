"""A second, independently designed session generator: a quasi-static body-on-roller model.

The roller's load follows from statics (lever arms along the body, support shared with hands
and feet that the person varies), strokes with trapezoid speed profiles and pauses at the
reversals, foam (soft foam low-passes and adds hysteresis), breathing, knee bends, posture
shifts, sinking, re-positions and step-offs; the HX711, AS5600 and the link add timing, noise,
drift, spurious codes, saturation and gaps. Every parameter is drawn per session from a
documented range (params.py; docs/scenarios.md, "Second generator: quasistatic").

    from holdsense.quasistatic import FAMILIES, generate, corpus
    s = generate("limb", 3)                  # rate, encoder, shell drawn
    s = generate("slow", 3, rate_hz=10, encoder=False, shell="smooth")
    s.write("slow.csv")                      # + slow.labels.json

Deterministic by (family, seed); overrides change only what they name (separate random
streams for the person, the body physics, the ADC, the link, the encoder and the drawn options).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rollsignal import SampleChunk
from rollsignal.types import FLAG_GAP

from ..io.labels import simulator_labeller
from .params import RANGES, Drawer
from .physics import G_M_S2, simulate_body
from .sensors import adc, as5600, conversion_average, link_losses, sample_times
from .timeline import build_timeline, person_draws

GENERATOR = "quasistatic"
FAMILIES: tuple[str, ...] = ("standard", "fast", "slow", "limb", "reposition", "mixed", "long", "dropouts")
FAMILY_DESCRIPTIONS: dict[str, str] = {
    "standard": "strokes 1.4-4 s, light (some heavy, some short) holds of 20-120 s, step-offs",
    "fast": "strokes 0.6-1.3 s, holds of 10-90 s",
    "slow": "strokes 4-8 s with long reversal pauses (by force alone close to a hold)",
    "limb": "every hold has knee-bend bouts swinging the load 3-15 % BW at 0.1-0.5 Hz",
    "reposition": "groups of 2-4 holds joined by 1-4 s re-positions of 2-8 cm",
    "mixed": "fast, standard and slow bouts; holds with/without knee bends, re-positions",
    "long": "holds of 60-180 s with 1-3 posture shifts and stronger sinking",
    "dropouts": "standard sessions over a poor link: gaps, lost samples, spurious codes, saturation",
}
_STREAMS = {"person": 0, "body": 1, "adc": 2, "link": 3, "encoder": 4, "options": 5, "clock": 6}
MIN_HOLD_S = 5.0


def _rng(family: str, seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), FAMILIES.index(family), _STREAMS[stream], 0x9517])


@dataclass
class QuasistaticSession:
    """One generated session: samples as a recording holds them, metadata, truth labels, truth arrays."""

    family: str
    seed: int
    t_s: np.ndarray
    force_n: np.ndarray
    angle_deg: np.ndarray | None
    flags: np.ndarray
    raw_counts: np.ndarray
    metadata: dict[str, Any]
    labels: dict[str, Any]
    truth: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def chunk(self) -> SampleChunk:
        return SampleChunk(self.t_s, self.force_n, self.angle_deg, self.flags, self.raw_counts.astype(np.float64))

    @property
    def samples(self) -> SampleChunk:
        """The same as `chunk` (the name holdsense.sim's results use, so tools can take either)."""
        return self.chunk

    @property
    def duration_s(self) -> float:
        return float(self.labels["duration_s"])

    def write(self, path_csv: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write the `holdsense-recording/1` file (.csv or .csv.gz) and `X.labels.json` beside it."""
        from ..io.recording import write_recording

        p = Path(path_csv)
        write_recording(p, self.chunk, self.metadata)
        lab = labels_path(p)
        lab.write_text(json.dumps(self.labels, indent=1) + "\n", encoding="utf-8")
        return p, lab


def labels_path(recording: str | os.PathLike[str]) -> Path:
    """`X.csv` / `X.csv.gz` -> `X.labels.json`."""
    p = Path(recording)
    name = p.name
    for suf in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suf):
            name = name[: -len(suf)]
            break
    return p.with_name(name + ".labels.json")


def _options(family: str, seed: int, rate_hz: float | None, enc: bool | None, shell: str | None) -> dict:
    rng = _rng(family, seed, "options")
    draw_rate = 10.0 if rng.random() < 0.3 else 80.0
    draw_enc = bool(rng.random() < 0.5)
    draw_shell = "ribbed" if rng.random() < 0.3 else "smooth"
    foam = "soft" if rng.random() < 0.5 else "firm"
    region = str(rng.choice(["quads", "hamstrings", "calves", "glutes", "it-band", "upper-back"]))
    if shell is not None and shell not in ("smooth", "ribbed"):
        raise ValueError(f"shell must be 'smooth' or 'ribbed', not {shell!r}")
    if rate_hz is not None and not (1.0 <= rate_hz <= 200.0):
        raise ValueError(f"rate_hz {rate_hz}: out of range")
    return {"rate_hz": float(rate_hz) if rate_hz is not None else draw_rate,
            "encoder": draw_enc if enc is None else bool(enc),
            "shell": draw_shell if shell is None else shell, "foam": foam, "region": region}


def generate(family: str, seed: int, *, rate_hz: float | None = None, encoder: bool | None = None,
             shell: str | None = None) -> QuasistaticSession:
    """One labelled session of `family` (see FAMILIES), deterministic by (family, seed).

    rate_hz: nominal HX711 rate (None: 10 or 80 drawn; the actual rate is 0.975-1.15 x nominal);
    encoder: AS5600 angle column (None: drawn); shell: "smooth" | "ribbed" (None: drawn, 70 % smooth).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    opt = _options(family, seed, rate_hz, encoder, shell)
    # --- the person and what they do
    dp = Drawer(family, _rng(family, seed, "person"))
    person = person_draws(dp, family)
    tl = build_timeline(dp, family, person)
    # --- body, foam, shell
    db = Drawer(family, _rng(family, seed, "body"))
    bp: dict[str, Any] = {"body_mass_kg": person["body_mass_kg"], "support_lever_m": person["support_lever_m"],
                          "lever_compensation_rel": person["lever_compensation_rel"],
                          "segment_length_cm": person["segment_length_cm"], "shell": opt["shell"], "foam": opt["foam"]}
    for name in ("direction_support_frac_bw", "tissue_profile_rel", "tissue_corr_cm", "breath_hz", "breath_depth_rel",
                 "breath_inhale_frac", "breath_rate_wander_rel", "support_wander_rel", "support_wander_tau_s",
                 "balance_tremor_rel", "rib_pitch_cm", "rib_depth_rel", "shell_slip_rel_smooth", "shell_slip_rel_ribbed",
                 "soft_foam_tau_s", "firm_foam_tau_s", "soft_foam_hyst_frac_bw", "firm_foam_hyst_frac_bw",
                 "foam_hyst_gain"):
        bp[name] = db(name)
    bp["direction_sign"] = float(db.rng.choice([-1.0, 1.0]))
    bp["shell_slip_rel"] = bp[f"shell_slip_rel_{opt['shell']}"]
    bp["foam_tau_s"] = bp[f"{opt['foam']}_foam_tau_s"]
    bp["foam_hyst_frac_bw"] = bp[f"{opt['foam']}_foam_hyst_frac_bw"]
    body = simulate_body(tl, bp, db.rng)
    # --- clock and ADC
    dc = Drawer(family, _rng(family, seed, "clock"))
    ratio = dc("rate_ratio")
    actual_hz = opt["rate_hz"] * ratio
    t_s, period = sample_times(dc.rng, tl.duration_s, actual_hz, dc("rate_wander_rel"), dc("read_jitter_ms"))
    f_true = conversion_average(body["t_s"], body["force_n"], t_s, period)
    da = Drawer(family, _rng(family, seed, "adc"))
    sp: dict[str, Any] = {}
    for name in ("counts_per_n", "tare_counts", "cal_gain_error_rel", "nonlinearity_rel_at_1kn", "noise_n_80sps",
                 "noise_ratio_10sps", "temp_rise_c", "temp_tau_s", "drift_counts_per_c", "spikes_per_min",
                 "sat_glitches_per_min"):
        sp[name] = da(name)
    sp["drift_sign"] = float(da.rng.choice([-1.0, 1.0]))
    sp["noise_n"] = sp["noise_n_80sps"] * (sp["noise_ratio_10sps"] if opt["rate_hz"] < 40 else 1.0)
    sb = da.range("spike_bits")
    sp["spike_bits"] = (sb.lo, sb.hi)
    sp["firmware_despike"] = bool(da.rng.random() < 0.5)
    ad = adc(da.rng, t_s, f_true, sp, tl.duration_s)
    # --- encoder
    de = Drawer(family, _rng(family, seed, "encoder"))
    ep = {"shell_radius_cm": de("shell_radius_cm"), "encoder_noise_deg": de("encoder_noise_deg"),
          "magnet_zero_deg": float(de.rng.uniform(0, 360))}
    shell_at = np.interp(t_s, body["t_s"], body["shell_cm"])
    angle = as5600(de.rng, shell_at, ep)
    # --- link
    dl = Drawer(family, _rng(family, seed, "link"))
    lp = {"link_gaps_per_min": dl("link_gaps_per_min"), "sample_drops_per_min": dl("sample_drops_per_min")}
    lg = dl.range("link_gap_s")
    lp["link_gap_s"] = (lg.lo, lg.hi)
    keep, lost = link_losses(dl.rng, t_s, lp, tl.duration_s)
    flags = ad["flags"].copy()
    gap_next = np.flatnonzero(np.diff(keep.astype(np.int8)) == 1) + 1  # first kept row after lost rows
    flags[gap_next] |= FLAG_GAP

    truth = {"t_s": t_s[keep], "force_n": f_true[keep], "shell_cm": shell_at[keep],
             "x_cm": np.interp(t_s[keep], body["t_s"], body["x_cm"]), "drift_n": ad["drift_n"][keep],
             "contact": np.interp(t_s[keep], body["t_s"], body["contact"])}
    segments = _segments(tl, body)
    W = body["weight_n"]
    scenario = {
        "generator": GENERATOR, "family": family, "seed": seed, **opt,
        "actual_rate_hz": round(actual_hz, 4),
        "person": {k: v for k, v in dp.values.items()},
        "body": {**db.values, "direction_sign": bp["direction_sign"]},
        "clock": dc.values, "adc": {**da.values, "drift_sign": sp["drift_sign"],
                                     "firmware_despike": sp["firmware_despike"]},
        "encoder_params": de.values, "link": dl.values,
        "phases": [_round_phase(p) for p in tl.phases],
        "holds": [_hold_record(h, W) for h in tl.holds],
        "events": {"spikes_t_s": ad["spikes_t_s"], "sat_t_s": ad["sat_t_s"], "lost_s": lost},
    }
    labels = {"format": "holdsense-labels/1", "labeller": simulator_labeller(GENERATOR), "segments": segments,
              "duration_s": round(tl.duration_s, 4),
              "body_mass_kg": round(person["body_mass_kg"], 1), "generator": GENERATOR, "scenario": scenario}
    metadata = {
        "sample_rate_hz": int(opt["rate_hz"]) if float(opt["rate_hz"]).is_integer() else opt["rate_hz"],
        "started_utc": "2026-01-01T00:00:00Z",
        "device": f"holdsense-quasistatic-sim fw=sim id=QS:{FAMILIES.index(family):02d}:{seed % 100000:05d}",
        "calibration": ad["calibration"],
        "body_mass_kg": round(person["body_mass_kg"], 1),
        "region": opt["region"],
        "generator": GENERATOR, "family": family, "scenario": family, "seed": seed,
        "encoder": opt["encoder"], "shell": opt["shell"], "foam": opt["foam"], "rate_hz": opt["rate_hz"],
    }
    return QuasistaticSession(family, seed, t_s[keep], ad["force_n"][keep].astype(np.float64),
                              angle[keep] if opt["encoder"] else None, flags[keep],
                              ad["raw_counts"][keep], metadata, labels, truth)


def _round_phase(p: dict) -> dict:
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in p.items()}


def _hold_record(h, W: float) -> dict:
    rec = {"start_s": round(float(h.t0), 4), "end_s": round(float(h.t_end), 4), "spot_cm": round(float(h.spot_cm), 3),
           "load_frac_bw": round(h.load_frac_bw, 4), "heavy": h.heavy, "sink_rel": round(h.sink_rel, 4),
           "sink_tau_s": round(h.sink_tau_s, 2), "rock_cm": round(h.rock_cm, 3),
           "posture_shifts": [{"t_s": round(a, 3), "step_rel": round(b, 4), "duration_s": round(c, 3)}
                              for a, b, c in h.shifts]}
    if h.limb:
        lb = h.limb
        rec["limb"] = {"swing_frac_bw": round(lb["swing_frac_bw"], 4), "swing_n": round(lb["swing_frac_bw"] * W, 2),
                       "hz": round(lb["hz"], 4), "sign": lb["sign"], "skew": round(lb["skew"], 3),
                       "continuous": lb["continuous"], "cycles": len(lb["cycles"]),
                       # each bend: start, end (s) and its depth relative to the swing
                       "bends": [[round(c0, 4), round(c0 + per, 4), round(dep, 4)] for c0, per, dep in lb["cycles"]]}
    return rec


def _segments(tl, body: dict) -> list[dict]:
    """Truth segments tiling [0, duration]: reposition -> roll, holds under 5 s -> roll, merged."""
    segs: list[dict] = []
    for p in tl.phases:
        kind = "roll" if p["kind"] == "reposition" else p["kind"]
        if kind == "hold" and p["end_s"] - p["start_s"] < MIN_HOLD_S:
            kind = "roll"
        t0, t1 = float(p["start_s"]), float(p["end_s"])
        if t1 <= t0:
            continue
        if segs and segs[-1]["kind"] == kind:
            segs[-1]["end_s"] = t1
        else:
            segs.append({"kind": kind, "start_s": t0, "end_s": t1})
    segs[0]["start_s"] = 0.0
    segs[-1]["end_s"] = tl.duration_s
    for a, b in zip(segs, segs[1:]):
        b["start_s"] = a["end_s"]  # exact tiling
    t, f, shell = body["t_s"], body["force_n"], body["shell_cm"]
    W = body["weight_n"]
    out = []
    for s in segs:
        seg = {"kind": s["kind"], "start_s": round(s["start_s"], 4), "end_s": round(s["end_s"], 4)}
        if s["kind"] == "hold":
            i0, i1 = np.searchsorted(t, [s["start_s"], s["end_s"]])
            mean_f = float(f[i0:i1].mean())
            seg.update(mean_force_n=round(mean_f, 2), force_frac_bw=round(mean_f / W, 4),
                       spot_cm=round(float(shell[i0:i1].mean()), 2),
                       travel_cm=round(float(shell[i0:i1].max() - shell[i0:i1].min()), 3))
        out.append(seg)
    # rounding can open hairline gaps: re-tie boundaries to the rounded values
    for a, b in zip(out, out[1:]):
        b["start_s"] = a["end_s"]
    return out


def corpus(n_per_family: int, seed0: int = 0, families: tuple[str, ...] | list[str] = FAMILIES,
           **kw: Any) -> Iterator[QuasistaticSession]:
    """`n_per_family` sessions of each family, seeds seed0, seed0+1, ...; keyword overrides go to generate."""
    for fam in families:
        for k in range(n_per_family):
            yield generate(fam, seed0 + k, **kw)


__all__ = ["FAMILIES", "FAMILY_DESCRIPTIONS", "GENERATOR", "QuasistaticSession", "RANGES", "corpus", "generate",
           "labels_path", "G_M_S2"]
