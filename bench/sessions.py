"""Labelled sessions for the accuracy bench and the segmenter fit, from either generator or a folder.

* generator "sim": holdsense.sim (the project's first simulator), families from its scenario files;
  smooth shell = the family's scenario with rib_frac 0.
* generator "quasi": holdsense.quasistatic (an independently designed quasi-static body-on-roller
  model, branch gen), when installed.
* generator "control": holdsense.controlsim (a third, independently designed generator: the person as a
  delayed feedback controller on a Hunt-Crossley foam contact), when installed.
* generator "tissue": holdsense.tissuesim (a fourth, independently designed generator: posture-controlled
  sinking onto viscoelastic tissue and foam, behaviour from a semi-Markov grammar), when installed.
* generator "traj": holdsense.trajsim (a fifth, independently designed generator: human-like stroke
  trajectories over a person-specific load profile along the limb, tender-spot search), when installed.
* a dataset folder: recordings (holdsense-recording/1, *.csv / *.csv.gz) each with X.labels.json
  (holdsense-labels/1) beside it -- so a lab can refit on its own labelled data.

Every session comes as a `Session` (name, family, generator, samples, true segments, metadata).
Sessions cycle through rate (10 / 80 Hz) x encoder (on / off) x shell (ribbed / smooth), so a
corpus of n per family covers every combination when n is a multiple of 8.
"""
from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from rollsignal import SampleChunk

GENERATORS = ("sim", "quasi", "control", "tissue", "traj")
#: bench name -> module of the independently designed generators (holdsense.sim is called differently)
BUILTIN_MODULES = {"quasi": "holdsense.quasistatic", "control": "holdsense.controlsim", "tissue": "holdsense.tissuesim",
                   "traj": "holdsense.trajsim"}
COMBOS = list(itertools.product((10, 80), (True, False), ("ribbed", "smooth")))
#: rate x shell, for corpora recorded with the encoder (force-only = the same session without its angle)
RATE_SHELL = list(itertools.product((10, 80), ("ribbed", "smooth")))


@dataclass
class Session:
    name: str
    family: str
    generator: str
    samples: SampleChunk
    segments: list[dict[str, Any]]
    rate_hz: float | None = None
    encoder: bool | None = None
    shell: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # a generator's seed (None: a recording from a folder)


def installed(generator: str) -> bool:
    """Whether `generator` can run here (sim always; the others when their module is importable)."""
    if generator == "sim":
        return True
    if generator not in BUILTIN_MODULES:
        return False
    try:
        importlib.import_module(BUILTIN_MODULES[generator])
    except ImportError:
        return False
    return True


def available() -> list[str]:
    """The generators installed here, in GENERATORS order."""
    return [g for g in GENERATORS if installed(g)]


def families(generator: str) -> list[str]:
    if generator == "sim":
        from holdsense.sim import family_names
        return list(family_names())
    if generator in BUILTIN_MODULES:
        return list(importlib.import_module(BUILTIN_MODULES[generator]).FAMILIES)
    raise ValueError(f"unknown generator {generator!r} ({', '.join(GENERATORS)})")


def generate(generator: str, family: str, seed: int, rate_hz: float, encoder: bool, shell: str) -> Session:
    """One labelled session of `family` from `generator`."""
    if generator == "sim":
        from holdsense.sim import simulate
        from holdsense.sim.spec import load_scenario
        scn: Any = family
        if shell == "smooth":
            sc = load_scenario(family)
            spec = dict(sc.spec, rib_frac=0.0)
            spec.setdefault("name", sc.name)
            scn = spec
        res = simulate(scn, seed, rate_hz=rate_hz, encoder=encoder)
        return Session(f"sim/{family}-s{seed}-{rate_hz:g}hz-{'enc' if encoder else 'force'}-{shell}", family, "sim",
                       res.samples, res.labels["segments"], rate_hz, encoder, shell, res.metadata, seed)
    if generator in BUILTIN_MODULES:  # the independent generators: built-in families, one generate() signature
        res = importlib.import_module(BUILTIN_MODULES[generator]).generate(family, seed, rate_hz=rate_hz,
                                                                           encoder=encoder, shell=shell)
        return Session(f"{generator}/{family}-s{seed}-{rate_hz:g}hz-{'enc' if encoder else 'force'}-{shell}", family,
                       generator, res.chunk, res.labels["segments"], rate_hz, encoder, shell, dict(res.metadata), seed)
    raise ValueError(f"unknown generator {generator!r}")


def corpus(generator: str, n_per_family: int, seed0: int = 0, fams: list[str] | None = None) -> Iterator[Session]:
    """n sessions per family with the encoder, cycling rate (10 / 80 Hz) x shell (ribbed / smooth).

    Every session has the angle; drop it (`force_only`) for the force-only evaluation of the same session.
    """
    for fam in fams or families(generator):
        for i in range(n_per_family):
            rate, shell = RATE_SHELL[i % len(RATE_SHELL)]
            yield generate(generator, fam, seed0 + i, rate, True, shell)


def force_only(c: SampleChunk) -> SampleChunk:
    """The same samples without the encoder angle."""
    return SampleChunk(c.t_s, c.force_n, None, c.flags, c.raw_counts)


def training_segments(labels: dict[str, Any], t_end_s: float) -> list[dict[str, Any]]:
    """The labels' segments, with the time a hold-only labelling (markers: `labelled_kinds` ["hold"])
    left unmarked filled as `roll`.

    Why: a marker file says "here I held" and, by omission, "here I did not"; the fit learns hold
    against loaded non-hold frames (unloaded ones are dropped by the contact stage anyway), so the
    unmarked loaded time must count as non-hold, not as unlabelled "off" (which the fit skips: it
    would then see holds only).
    """
    from holdsense.io.labels import labelled_kinds

    segs = sorted((dict(s) for s in labels.get("segments", []) if s.get("kind") in ("off", "roll", "hold")),
                  key=lambda s: s["start_s"])
    if "roll" in labelled_kinds(labels):
        return segs
    out: list[dict[str, Any]] = []
    t = 0.0
    for s in segs:
        if s["start_s"] > t:
            out.append({"kind": "roll", "start_s": t, "end_s": s["start_s"]})
        out.append(s)
        t = max(t, s["end_s"])
    if t_end_s > t:
        out.append({"kind": "roll", "start_s": t, "end_s": t_end_s})
    return out


def folder(path: str | Path) -> Iterator[Session]:
    """Recordings with X.labels.json beside them (X.csv or X.csv.gz)."""
    from holdsense.io.recording import read_recording
    p = Path(path)
    for rec_path in sorted(list(p.glob("*.csv")) + list(p.glob("*.csv.gz"))):
        stem = rec_path.name.removesuffix(".gz").removesuffix(".csv")
        lab_path = rec_path.with_name(stem + ".labels.json")
        if not lab_path.is_file():
            continue
        with open(lab_path, encoding="utf-8") as fh:
            labels = json.load(fh)
        rec = read_recording(rec_path, warn=None)
        segments = training_segments(labels, float(rec.samples.t_s[-1]) if len(rec.samples.t_s) else 0.0)
        fam = str(labels.get("family") or (labels.get("scenario") or {}).get("name") or "folder") \
            if isinstance(labels.get("scenario"), (dict, type(None))) else str(labels.get("scenario"))
        yield Session(f"folder/{stem}", fam, "folder", rec.samples, segments,
                      rec.metadata.get("sample_rate_hz"), rec.samples.angle_deg is not None, None, rec.metadata)
