"""trajsim: the fifth labelled-session generator, built from human-like roller trajectories.

What: `generate(family, seed)` returns a `Session` (samples as a rollsignal SampleChunk with
device timestamps, `holdsense-labels/1` ground truth, recording metadata and truth arrays).
The person's roller position is a sequence of minimum-jerk strokes with stroke-to-stroke
variability and pressure-seeking near tender spots (slowing, back-and-forth search, settling);
the load is a person-specific Gaussian-process anatomy profile of position times a chosen
posture share, with breathing, creep, posture shifts, related-limb bouts and arm bracing at
reversals; HX711 / AS5600 / BLE models make the recording (see behaviour.py, body.py,
sensors.py; every range in params.RANGES, documented in docs/scenarios.md "Fifth generator").
Why: the detector must be judged on a world designed independently of the ones it was tuned on.
Deterministic per (family, seed, rate_hz, encoder, shell); behaviour does not depend on the
sensor choices, so the same seed at 10 and 80 Hz is the same person doing the same session.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from rollsignal.types import FLAG_SAT, SampleChunk

from ..calibration import Calibration
from ..io.labels import LABELS_FORMAT, GeneratedSession, simulator_labeller
from . import behaviour, body, sensors
from .behaviour import STATE_NAMES
from .params import FAMILIES, FAMILY_DESCRIPTIONS, RANGES, STYLES, draw, ranges_table_md, table_rows

__all__ = ["FAMILIES", "FAMILY_DESCRIPTIONS", "RANGES", "Session", "generate", "corpus", "ranges_table_md",
           "table_rows", "GENERATOR"]

GENERATOR = "trajsim"
SHELLS = ("ribbed", "smooth")
RATES_HZ = (10.0, 80.0)
_SALT = 0x7472616A  # "traj": keeps this generator's streams apart from any other's for the same seed


@dataclass
class Session(GeneratedSession):
    """One generated session: `chunk` (device samples), `labels` (holdsense-labels/1), `metadata`
    (recording header, contracts §1) and `truth` (ground-truth arrays at the received samples and
    event lists: holds, strokes, limb_bouts, shifts, link gaps)."""

    family: str
    seed: int
    chunk: SampleChunk
    labels: dict[str, Any]
    metadata: dict[str, Any]
    truth: dict[str, Any] = field(repr=False)


def _check(family: str, seed: int, rate_hz: float | None, shell: str | None) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown trajsim family {family!r}: expected one of {', '.join(FAMILIES)}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"trajsim seed must be a non-negative integer, got {seed!r}")
    if rate_hz is not None and float(rate_hz) not in RATES_HZ:
        raise ValueError(f"trajsim rate_hz must be 10 or 80 (nominal HX711 rates), got {rate_hz!r}")
    if shell is not None and shell not in SHELLS:
        raise ValueError(f"unknown trajsim shell {shell!r}: expected 'ribbed' or 'smooth'")


def generate(family: str, seed: int, rate_hz: float | None = None, encoder: bool | None = None,
             shell: str | None = None) -> Session:
    """Generate one labelled session of `family` for `seed`.

    rate_hz: nominal HX711 rate, 10 or 80 (the actual rate is 9.75-11.5 or 78-92 Hz with jitter);
    encoder: True gives angle_deg, False a force-only build (angle_deg None); shell: "ribbed" (a rib
    ripple while the shell turns) or "smooth". None draws each from the seed. Raises ValueError for
    an unknown family, shell, rate or a negative seed. Length 200-520 s.
    """
    _check(family, seed, rate_hz, shell)
    ss = np.random.SeedSequence([int(seed), FAMILIES.index(family), _SALT])
    r_cfg, r_person, r_plan, r_body, r_sens, r_link = (np.random.default_rng(s) for s in ss.spawn(6))
    # configuration drawn from the seed (always drawn, then overridden, so draws never shift)
    cfg_rate = 80.0 if r_cfg.random() < 0.75 else 10.0
    cfg_enc = bool(r_cfg.random() < 0.6)
    cfg_shell = SHELLS[int(r_cfg.random() < 0.5)]
    target_s = draw(r_cfg, "session_s")
    rate_nominal = float(rate_hz) if rate_hz is not None else cfg_rate
    has_enc = bool(encoder) if encoder is not None else cfg_enc
    shell_name = shell if shell is not None else cfg_shell

    person = behaviour.draw_person(r_person)
    profile = body.draw_profile(r_person)
    planner = behaviour.Planner(r_plan, person, profile, target_s)
    if family == "mixed":
        styles = lambda: str(r_plan.choice(STYLES))  # noqa: E731
    else:
        fixed = "standard" if family == "dropouts" else family
        styles = lambda: fixed  # noqa: E731
    plan = planner.run(styles)

    grid = body.load_on_grid(r_body, person, profile, plan, shell_name)
    t_true, rate_actual = sensors.sample_times(r_sens, rate_nominal, plan.end_s)
    true_n = np.maximum(sensors.conversions(grid["t_s"], grid["load_n"], t_true, 1.0 / rate_actual), 0.0)
    counts, adc_info = sensors.adc(r_sens, t_true, true_n, rate_nominal, family)
    x_cm, _, _ = plan.position.eval(t_true)
    x_cm = x_cm + np.interp(t_true, grid["t_s"], grid["position_cm"] - plan.position.eval(grid["t_s"])[0])
    angle, enc_info = sensors.encoder(r_sens, x_cm)
    ok, rc_gaps = sensors.link(r_link, t_true, plan.end_s, family)
    idx = np.flatnonzero(ok)
    counts_rx = counts[idx].copy()
    sat_bursts: list[tuple[int, int]] = []
    if family == "dropouts":
        sat_bursts = sensors.saturation_bursts(r_link, len(idx), rc_gaps, t_true[idx])
        for i, j in sat_bursts:
            counts_rx[i:j] = sensors.ADC_MAX if r_link.random() < 0.5 else sensors.ADC_MIN
    flags = sensors.flags_for(ok, counts_rx)
    t_dev = sensors.device_timestamps(r_link, t_true)[idx]
    cal = adc_info["calibration"]
    force_n = Calibration(cal["tare_counts"], cal["counts_to_n"], cal["residual_n"]).apply(counts_rx)
    chunk = SampleChunk(t_dev, force_n, angle[idx] if has_enc else None, flags, counts_rx)

    segments = [{"kind": k, "start_s": round(float(a), 4), "end_s": round(float(b), 4)} for k, a, b in plan.segments]
    end_s = max(plan.end_s, float(t_dev[-1]) if len(t_dev) else 0.0)
    segments[-1]["end_s"] = math.ceil(end_s * 1e4 - 1e-6) / 1e4  # rounded up: the last sample stays inside
    duration_s = segments[-1]["end_s"]
    seg_t = np.array([s["start_s"] for s in segments])
    state = np.array([STATE_NAMES.index(s["kind"]) for s in segments], dtype=np.int8)[
        np.clip(np.searchsorted(seg_t, t_true[idx], side="right") - 1, 0, len(segments) - 1)]
    styles_used = [s["style"] for s in plan.sets]
    scenario = {"generator": GENERATOR, "family": family, "seed": int(seed), "styles": styles_used,
                "rate_hz": rate_nominal, "encoder": has_enc, "shell": shell_name,
                "body_mass_kg": round(person.mass_kg, 1), "holds": len(plan.holds),
                "description": FAMILY_DESCRIPTIONS[family]}
    labels = {"format": LABELS_FORMAT,
              "labeller": simulator_labeller(GENERATOR),
              "region": "quads", "duration_s": duration_s, "segments": segments, "scenario": scenario}
    metadata = {"sample_rate_hz": int(rate_nominal), "started_utc": "2026-01-01T00:00:00Z",
                "device": f"holdsense-roller fw=sim id={GENERATOR}-{family}-{int(seed)}",
                "calibration": adc_info["calibration"], "body_mass_kg": round(person.mass_kg, 1),
                "region": "quads", "encoder": has_enc, "shell": shell_name, "generator": GENERATOR,
                "family": family, "seed": int(seed), "actual_rate_hz": round(rate_actual, 3),
                "duration_s": round(duration_s, 3)}
    w_n = grid["body_weight_n"]
    truth = {
        "t_s": t_dev, "t_true_s": t_true[idx], "load_n": true_n[idx], "position_cm": x_cm[idx], "state": state,
        "state_names": STATE_NAMES,
        "limb_n": np.interp(t_true[idx], grid["t_s"], grid["limb_n"]),
        "breath_frac": np.interp(t_true[idx], grid["t_s"], grid["breath_frac"]),
        "share": np.interp(t_true[idx], grid["t_s"], grid["share"]),
        "body_weight_n": w_n, "body_mass_kg": person.mass_kg, "roll_share": person.roll_share,
        "holds": plan.holds, "strokes": plan.strokes, "limb_bouts": plan.limb_bouts, "shifts": plan.shifts,
        "sets": plan.sets, "reconnect_gaps": rc_gaps, "saturation_bursts": sat_bursts,
        "lost_samples": int(len(t_true) - len(idx)), "rate_actual_hz": rate_actual,
        "adc": adc_info, "encoder": enc_info, "sat_samples": int(np.count_nonzero(flags & FLAG_SAT)),
        "grid": {k: grid[k] for k in ("t_s", "load_n", "position_cm", "state", "limb_n")},
    }
    return Session(family=family, seed=int(seed), chunk=chunk, labels=labels, metadata=metadata, truth=truth)


def corpus(families: Iterable[str] | None = None, n_per_family: int = 8, seed0: int = 0) -> Iterator[Session]:
    """Sessions for each family (all FAMILIES by default), seeds seed0 .. seed0 + n_per_family - 1."""
    for fam in (tuple(families) if families is not None else FAMILIES):
        for k in range(n_per_family):
            yield generate(fam, seed0 + k)
