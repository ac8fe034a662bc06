"""`simulate()`: sample a Body through the sensor models into a recording plus ground-truth labels."""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from rollsignal import FLAG_GAP, FLAG_SAT, SampleChunk

from .. import __version__
from ..io.labels import labels_path_for, simulator_labeller
from .body import Body
from .sensors import Encoder, LoadCell, force_from_counts
from .spec import Scenario, family_names, load_scenario

LABELS_FORMAT = "holdsense-labels/1"


@dataclass
class SimResult:
    """A simulated session: samples (what a calibrated roller reports), header metadata, ground truth."""

    samples: SampleChunk
    metadata: dict[str, Any]
    labels: dict[str, Any]
    body: Body

    @property
    def duration_s(self) -> float:
        return self.body.duration_s

    def write(self, path: "str | os.PathLike[str]") -> tuple[Path, Path]:
        """Write the recording (CSV or CSV.gz) and its labels file beside it; returns both paths."""
        from ..io.recording import write_recording

        p = Path(path)
        write_recording(p, self.samples, self.metadata)
        lp = labels_path_for(p)
        with open(lp, "w", encoding="utf-8") as fh:
            json.dump(self.labels, fh, indent=1)
            fh.write("\n")
        return p, lp


def _device_clock(duration_s: float, rate_hz: float, jitter_s: float, rng: np.random.Generator) -> np.ndarray:
    """Sample times (s) of a free-running ADC read by a microcontroller: t[0] = 0, µs resolution.

    The HX711's own oscillator sets the conversion period (it wanders slowly by
    ~0.2 % and jitters by ~0.05 %); the firmware stamps each sample when it reads
    it, a fraction of a millisecond late by a varying amount.
    """
    n = int(duration_s * rate_hz * 1.02) + 16
    period = 1.0 / rate_hz
    k = np.arange(n, dtype=np.float64)
    wander = 0.002 * np.sin(2 * math.pi * k * period / rng.uniform(60.0, 300.0) + rng.uniform(0, 2 * math.pi))
    steps = period * (1.0 + wander + rng.normal(0.0, 0.0005, n))
    t_conv = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    t = t_conv + rng.uniform(0.0, jitter_s, n) if jitter_s > 0 else t_conv
    t = np.round(t - t[0], 6)
    t = np.maximum.accumulate(t)
    return t[t <= duration_s]


def simulate(scenario: "str | dict[str, Any] | Scenario" = "standard", seed: int = 0, *,
             rate_hz: float | None = None, encoder: bool | None = None, body_mass_kg: float | None = None,
             duration_s: float | None = None) -> SimResult:
    """Simulate one session of `scenario` (family name, JSON path, dict or Scenario) for `seed`.

    Deterministic: the same arguments give the same samples. Overrides
    (`rate_hz` nominal, `encoder`, `body_mass_kg`, `duration_s`) replace the
    scenario's values without changing any other draw. Samples come from the
    jittered device clock (t_s[0] = 0, actual rate 0.975-1.15 x nominal),
    force_n is the calibrated reading of the simulated ADC codes (so it carries
    drift, noise, spikes and the calibration's error), angle_deg is the
    unwrapped AS5600 reading (None without encoder); samples lost to dropouts
    or link gaps are absent and the next sample is flagged FLAG_GAP; samples on
    an ADC rail are flagged FLAG_SAT.
    """
    scn = load_scenario(scenario)
    overrides = {"rate_hz": rate_hz, "encoder": encoder, "body_mass_kg": body_mass_kg}
    resolved = scn.resolve(seed, overrides=overrides, duration_s=duration_s)
    body = Body(scn, seed, resolved=resolved)
    sensor = resolved["sensor"]
    ss = np.random.SeedSequence([int(seed), 2, scn.name_key])
    k_clock, k_cell, k_enc, k_fault, k_cal = ss.spawn(5)
    rate_nominal = float(resolved["rate_hz"])
    rate_actual = rate_nominal * float(sensor["rate_factor"])
    t = _device_clock(body.duration_s, rate_actual, float(sensor["jitter_s"]), np.random.default_rng(k_clock))

    # The HX711 integrates over its conversion period: average the force across it.
    period = 1.0 / rate_actual
    sub = np.array([-0.875, -0.625, -0.375, -0.125]) * period
    f_true = body.force_n((t[:, None] + sub[None, :]).clip(min=0.0)).mean(axis=1)
    cell = LoadCell.from_scenario(resolved, seed=k_cell)
    raw = cell.counts(f_true, t)
    cal_rng = np.random.default_rng(k_cal)
    # The device tared on the empty roller before the session: the mean of ~40 noisy readings.
    tare_measured = float(cell.ideal_counts(np.zeros(1), np.zeros(1))[0]) + float(
        cal_rng.normal(0.0, cell.noise_counts / math.sqrt(40.0)))
    calibration = cell.calibration(gain_error_frac=float(cal_rng.normal(0.0, sensor["gain_error_frac"])),
                                   tare_counts=tare_measured)
    force = force_from_counts(raw, calibration)
    flags = np.where(LoadCell.saturated(raw), FLAG_SAT, 0).astype(np.uint8)

    angle = None
    if resolved["encoder"]:
        enc = Encoder(noise_deg=float(sensor["encoder_noise_deg"]), seed=k_enc)
        angle = Encoder.unwrap_deg(enc.raw_counts(body.angle_deg(t)))

    keep = _faults(t, sensor, np.random.default_rng(k_fault))
    gap_next = np.zeros(len(t), dtype=bool)
    lost = np.flatnonzero(~keep)
    if len(lost):
        after = lost + 1
        after = after[after < len(t)]
        gap_next[after] = True
        gap_next &= keep
    flags = flags | np.where(gap_next, FLAG_GAP, 0).astype(np.uint8)
    samples = SampleChunk(t[keep], force[keep], None if angle is None else angle[keep], flags[keep],
                          raw[keep].astype(np.float64))

    region = resolved.get("region")
    metadata: dict[str, Any] = {
        "sample_rate_hz": int(rate_nominal) if float(rate_nominal).is_integer() else rate_nominal,
        "started_utc": "2026-01-01T00:00:00Z",
        "device": f"holdsense-sim {__version__} scenario={resolved['name']} seed={int(seed)}",
        "calibration": calibration,
        "body_mass_kg": round(body.body_mass_kg, 1),
        "region": region,
        "scenario": resolved["name"],
        "seed": int(seed),
        "encoder": bool(resolved["encoder"]),
    }
    labels = {
        "format": LABELS_FORMAT,
        "labeller": simulator_labeller("sim"),
        "segments": body.segments,
        "duration_s": round(body.duration_s, 4),
        "body_mass_kg": round(body.body_mass_kg, 1),
        "scenario": resolved,
    }
    return SimResult(samples=samples, metadata=metadata, labels=labels, body=body)


def _faults(t: np.ndarray, sensor: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Mask of samples that survive device dropouts (1-few samples) and link gaps (0.1-several s)."""
    n = len(t)
    keep = np.ones(n, dtype=bool)
    if n < 3:
        return keep
    dur_min = (t[-1] - t[0]) / 60.0
    for _ in range(int(rng.poisson(sensor["dropouts_per_min"] * dur_min))):
        i = int(rng.integers(1, n - 1))
        m = int(rng.integers(1, 2 * int(sensor["dropout_samples"]) + 1))
        keep[i:i + m] = False
    for _ in range(int(rng.poisson(sensor["link_gaps_per_min"] * dur_min))):
        start = float(rng.uniform(t[0] + 1.0, max(t[-1] - 1.0, t[0] + 1.0)))
        length = float(sensor["link_gap_s"]) * float(rng.uniform(0.5, 1.5))
        keep[(t >= start) & (t < start + length)] = False
    keep[0] = keep[-1] = True  # the recording spans the session
    return keep


def corpus(families: Iterable[str] | None = None, n_per_family: int = 6, seed0: int = 0, *,
           rate_hz_choices: Iterable[float] = (10, 80), encoder_choices: Iterable[bool] = (True, False),
           duration_s: float | None = None) -> Iterator[tuple[str, SimResult]]:
    """Labelled sessions for benchmarks: (name, SimResult) for each family x n_per_family.

    Session i of a family uses seed seed0 + i and cycles through every
    (rate, encoder) combination, so 6 per family covers 10/80 Hz x encoder/force-only.
    Names look like "limb-s3-80hz-enc" / "limb-s3-10hz-force".
    """
    fams = list(families) if families is not None else family_names()
    combos = list(itertools.product(list(rate_hz_choices), list(encoder_choices)))
    for fam in fams:
        for i in range(n_per_family):
            seed = seed0 + i
            rate, enc = combos[i % len(combos)]
            res = simulate(fam, seed, rate_hz=rate, encoder=enc, duration_s=duration_s)
            name = f"{fam}-s{seed}-{rate:g}hz-{'enc' if enc else 'force'}"
            yield name, res
