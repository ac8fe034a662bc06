"""holdsense.controlsim: a third session generator -- the person as a delayed feedback controller.

Designed independently of holdsense.sim and holdsense.quasistatic (issue 14): the load on the roller is
an intended load the person aims for (their felt pressure) plus the disturbances of their own movement
(tissue height under the moving contact, the push driving the stroke, breathing, motor noise) corrected
partly and late by a feedback loop with a 100-250 ms sensorimotor delay and limited gain, then passed
through a Hunt-Crossley foam contact; strokes are minimum-jerk movements; knee bends act through the
leg's kinematics; sensors are an HX711 (own noise / drift / spurious codes / saturation), an AS5600 and a
bursty (Gilbert-Elliott) BLE link. Assumptions and ranges with sources: docs/scenarios.md,
"Third generator: controlsim"; values in holdsense.controlsim.params.

    from holdsense.controlsim import FAMILIES, generate
    s = generate("limb", seed=3, rate_hz=10, encoder=False, shell="smooth")
    s.chunk          # rollsignal.SampleChunk (device time stamps)
    s.labels         # holdsense-labels/1 (off / roll / hold tiling the session)
    s.write("x.csv") # recording + x.labels.json

Deterministic by (family, seed); `rate_hz`, `encoder`, `shell` override what they name only (the same
person doing the same session).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rollsignal import SampleChunk

from ..io.labels import GeneratedSession, simulator_labeller
from .body import Draw, Planner, Truth, draw_person, render
from .params import FAMILIES, FAMILY_DESCRIPTIONS, G
from .sensors import Sensed, draw_sensors, sense

__all__ = ["FAMILIES", "FAMILY_DESCRIPTIONS", "GENERATOR", "Session", "generate", "corpus", "labels_path"]

GENERATOR = "controlsim"
MIN_HOLD_S = 5.0  # a hold is where the roller does not travel for >= 5 s (docs/contracts.md)


@dataclass
class Session(GeneratedSession):
    """One generated session: samples as recorded, the truth behind them, labels and metadata."""

    family: str
    seed: int
    chunk: SampleChunk
    labels: dict[str, Any]
    metadata: dict[str, Any]
    truth: dict[str, np.ndarray]
    truth_grid: Truth
    sensed: Sensed

    @property
    def raw_counts(self) -> np.ndarray | None:
        return self.chunk.raw_counts

    @property
    def flags(self) -> np.ndarray:
        return self.chunk.flags


def labels_path(path: str | Path) -> Path:
    """X.csv / X.csv.gz -> X.labels.json."""
    from holdsense.io.labels import labels_path_for
    return labels_path_for(path)


def _rngs(family: str, seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams: the person and session plan, the device, the noise (so overrides keep the person)."""
    ss = np.random.SeedSequence([zlib.crc32(f"controlsim/{family}".encode()), int(seed)])
    a, b, c = ss.spawn(3)
    return np.random.default_rng(a), np.random.default_rng(b), np.random.default_rng(c)


def _labels(truth: Truth, phases: list[list[Any]], sensed: Sensed, person: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """Phases -> segments on the recording's clock (device time from its first sample), holds < 5 s -> roll."""
    W = person["body_mass_kg"] * G

    def dev(t_true: float) -> float:
        return t_true * (1.0 + sensed.ppm) - sensed.t0_dev_s

    t_end = dev(float(truth.t_s[-1]) + 1.0 / 200.0)
    segs: list[dict[str, Any]] = []
    for kind, t0, t1, info in phases:
        if kind == "hold" and t1 - t0 < MIN_HOLD_S:
            kind = "roll"
        a, b = max(dev(t0), 0.0), min(dev(t1), t_end)
        if b <= a:
            continue
        seg: dict[str, Any] = {"kind": kind, "start_s": round(a, 4), "end_s": round(b, 4)}
        if kind == "hold":
            m = (truth.t_s >= t0) & (truth.t_s < t1)
            f = truth.force_n[m]
            sh = truth.shell_cm[m]
            seg.update({"mean_force_n": round(float(np.mean(f)), 2), "force_frac_bw": round(float(np.mean(f)) / W, 4),
                        "spot_cm": round(float(np.median(sh)), 2), "travel_cm": round(float(np.ptp(sh)), 3)})
            if info.get("knee_bouts"):
                seg["note"] = "knee bends"
        if segs and segs[-1]["kind"] == kind and kind != "hold":
            segs[-1]["end_s"] = seg["end_s"]
        else:
            segs.append(seg)
    segs[0]["start_s"] = 0.0
    segs[-1]["end_s"] = round(t_end, 4)
    for x, y in zip(segs, segs[1:]):
        y["start_s"] = x["end_s"]
    return segs, round(t_end, 4)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return round(float(x), 6)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def generate(family: str, seed: int, rate_hz: float | None = None, encoder: bool | None = None,
             shell: str | None = None) -> Session:
    """One labelled session of `family` (FAMILIES) for `seed`.

    rate_hz: nominal HX711 rate (10 or 80; None: drawn, 80 with probability 0.7); encoder: AS5600 present
    (None: drawn, p 0.5); shell: "ribbed" / "smooth" (None: drawn, p 0.5).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")
    r_person, r_dev, r_noise = _rngs(family, seed)
    # the choices are always drawn, so an override leaves every other value as it was
    d_rate = 80.0 if r_dev.random() < 0.7 else 10.0
    d_enc = bool(r_dev.random() < 0.5)
    d_shell = "ribbed" if r_dev.random() < 0.5 else "smooth"
    rate = float(rate_hz) if rate_hz is not None else d_rate
    if not 1.0 <= rate <= 200.0:
        raise ValueError(f"rate_hz {rate} out of range (1-200; the HX711 offers 10 or 80)")
    enc = d_enc if encoder is None else bool(encoder)
    shl = d_shell if shell is None else shell
    if shl not in ("ribbed", "smooth"):
        raise ValueError(f"shell {shl!r}: ribbed or smooth")
    dp = Draw(r_person, family)
    person = draw_person(dp)
    plan = Planner(family, dp, person).build()
    ds = Draw(r_dev, family)
    dev = draw_sensors(ds, family)
    truth = render(plan, person, r_noise, shl)
    sensed = sense(truth, dev, person["shell_radius_cm"], rate, enc, np.random.default_rng(
        np.random.SeedSequence([zlib.crc32(f"controlsim/{family}".encode()), int(seed), int(rate * 1000)])))
    segs, t_end = _labels(truth, plan.phases, sensed, person)
    chunk = SampleChunk(sensed.t_s, sensed.force_n, sensed.angle_deg, sensed.flags, sensed.raw_counts)

    def dev_t(x: float) -> float:
        return round(x * (1.0 + sensed.ppm) - sensed.t0_dev_s, 4)

    scenario = {
        "generator": GENERATOR, "family": family, "seed": int(seed), "rate_hz": rate, "encoder": enc, "shell": shl,
        "person": {k: v for k, v in person.items()},
        "loop": truth.loop,
        "device": dev,
        "holds": [dict(h, start_s=dev_t(h["start_s"]), end_s=dev_t(h["end_s"]),
                       knee_bouts=[dict(b, t0_s=dev_t(b["t0_s"]), t1_s=dev_t(b["t1_s"])) for b in h.get("knee_bouts", [])])
                  for h in plan.holds],
        "strokes": [dict(s, t0_s=dev_t(s["t0_s"])) for s in plan.strokes],
        "repositions": [dict(r, t0_s=dev_t(r["t0_s"]), t1_s=dev_t(r["t1_s"])) for r in plan.repositions],
        "events": sensed.events,
    }
    W = person["body_mass_kg"] * G
    labels = {
        "format": "holdsense-labels/1",
        "labeller": simulator_labeller(GENERATOR),
        "generator": GENERATOR, "family": family,
        "segments": segs, "duration_s": t_end, "body_mass_kg": round(person["body_mass_kg"], 2),
        "scenario": _jsonable(scenario),
    }
    metadata = {
        "sample_rate_hz": rate, "device": f"holdsense-roller sim={GENERATOR}",
        "calibration": sensed.calibration, "body_mass_kg": round(person["body_mass_kg"], 1), "region": "quads",
        "generator": GENERATOR, "family": family, "scenario": family, "seed": int(seed), "encoder": enc, "shell": shl,
    }
    t_true = np.interp(sensed.t_s + sensed.t0_dev_s, truth.t_s * (1.0 + sensed.ppm), truth.t_s)
    tr = {"t_s": sensed.t_s, "force_n": sensed.true_force_n,
          "force_now_n": np.interp(t_true, truth.t_s, truth.force_n),
          "shell_cm": np.interp(t_true, truth.t_s, truth.shell_cm),
          "contact": np.interp(t_true, truth.t_s, truth.contact),
          "knee_n": np.interp(t_true, truth.t_s, truth.knee_n), "weight_n": np.full(1, W)}
    return Session(family, int(seed), chunk, labels, metadata, tr, truth, sensed)


def corpus(n_per_family: int, seed0: int = 0, families: tuple[str, ...] | list[str] = FAMILIES) -> Iterator[Session]:
    """n sessions per family, cycling 10 / 80 Hz x encoder on / off x ribbed / smooth."""
    combos = [(r, e, s) for r in (10.0, 80.0) for e in (True, False) for s in ("ribbed", "smooth")]
    for fam in families:
        for i in range(n_per_family):
            r, e, s = combos[i % len(combos)]
            yield generate(fam, seed0 + i, rate_hz=r, encoder=e, shell=s)
