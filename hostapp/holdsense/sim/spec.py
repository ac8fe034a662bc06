"""Scenario files: loading, validation and per-seed resolution (docs/scenarios.md).

A scenario is JSON. Any numeric field may be written as

* a number: used as is;
* ``[lo, hi]``: drawn uniformly per seed (integers for integer fields, bounds inclusive);
* ``{"choice": [a, b, ...], "weights": [...]}``: one option picked per seed (options may
  themselves be ranges, or whole phases / phase groups inside ``phases``).

so one *family* file yields many different sessions. ``resolve(seed)`` turns the
spec into a concrete scenario (plain numbers, a flat list of phases) that is
stored in the labels file, so every session can be regenerated and audited.
"""
from __future__ import annotations

import copy
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

FORMAT = "holdsense-scenario/1"
FAMILIES_DIR = Path(__file__).with_name("scenarios")
PHASE_KINDS = ("off", "roll", "hold", "reposition")


class ScenarioError(UserError):
    """A scenario that cannot be used (unknown name, bad JSON, out-of-range value)."""


# --- schema: field -> (lo, hi, type). type: "float", "int", "bool", "str" ---------------
_TOP: dict[str, tuple[float, float, str]] = {
    "body_mass_kg": (20.0, 250.0, "float"),
    "rate_hz": (5.0, 100.0, "float"),  # nominal; HX711 offers 10 or 80 SPS (domain.md)
    "encoder": (0, 1, "bool"),
    "shell_radius_cm": (2.0, 20.0, "float"),
    "breathing_hz": (0.05, 1.0, "float"),  # 0.18-0.33 Hz typical (domain.md)
    "step_s": (0.05, 5.0, "float"),  # time to step on / off the roller
    "rib_spacing_cm": (0.3, 20.0, "float"),
    "rib_frac": (0.0, 0.2, "float"),
    "region": (0, 0, "str"),
    "name": (0, 0, "str"),
    "description": (0, 0, "str"),
    "format": (0, 0, "str"),
}
_SENSOR: dict[str, tuple[float, float, str]] = {
    "tare_counts": (-8e6, 8e6, "float"),
    "counts_per_n": (1.0, 1e5, "float"),
    "noise_n": (0.0, 50.0, "float"),
    "offset_drift_counts": (0.0, 1e5, "float"),
    "nonlinearity_frac": (0.0, 0.05, "float"),
    "gain_error_frac": (0.0, 0.1, "float"),
    "spike_rate_hz": (0.0, 5.0, "float"),
    "saturation_per_min": (0.0, 60.0, "float"),
    "saturation_samples": (1, 200, "int"),
    "dropouts_per_min": (0.0, 60.0, "float"),
    "dropout_samples": (1, 200, "int"),
    "link_gaps_per_min": (0.0, 30.0, "float"),
    "link_gap_s": (0.02, 120.0, "float"),
    "rate_factor": (0.5, 1.5, "float"),
    "jitter_s": (0.0, 0.01, "float"),
    "encoder_noise_deg": (0.0, 5.0, "float"),
}
_PHASE_COMMON: dict[str, tuple[float, float, str]] = {
    "kind": (0, 0, "str"),
    "note": (0, 0, "str"),
    "duration_s": (0.05, 36000.0, "float"),
    "force_frac": (0.0, 1.5, "float"),
    "breathing_frac": (0.0, 0.3, "float"),
    "wobble_frac": (0.0, 0.3, "float"),
    "settle_s": (0.02, 30.0, "float"),
    "probability": (0.0, 1.0, "float"),
}
_PHASE: dict[str, dict[str, tuple[float, float, str]]] = {
    "off": {"duration_s": _PHASE_COMMON["duration_s"], "note": (0, 0, "str"), "kind": (0, 0, "str"),
            "probability": (0.0, 1.0, "float")},
    "roll": {**_PHASE_COMMON,
             "stroke_s": (0.2, 30.0, "float"),
             "stroke_jitter": (0.0, 0.6, "float"),
             "travel_cm": (0.5, 60.0, "float"),
             "travel_jitter": (0.0, 0.6, "float"),
             "lever_frac": (0.0, 0.6, "float"),
             "bump_frac": (0.0, 0.6, "float"),
             "dwell_s": (0.0, 5.0, "float"),
             "stroke_asymmetry": (0.0, 0.5, "float"),
             "pause_prob": (0.0, 0.5, "float"),
             "pause_s": (0.2, 4.5, "float"),
             "spot_cm": (-1000.0, 1000.0, "float")},
    "hold": {**_PHASE_COMMON,
             "limb_hz": (0.0, 3.0, "float"),
             "limb_frac": (0.0, 1.0, "float"),
             "limb_duty": (0.0, 1.0, "float"),
             "posture_shifts": (0, 50, "int"),
             "posture_step_frac": (0.0, 0.4, "float"),
             "sink_frac": (-0.6, 0.6, "float"),
             "sink_tau_s": (0.5, 3600.0, "float"),
             "sway_cm": (0.0, 5.0, "float")},
    "reposition": {**_PHASE_COMMON,
                   "travel_cm": (0.0, 100.0, "float"),
                   "irregularity_frac": (0.0, 1.0, "float")},
}
_GROUP = {"repeat": (0, 1000, "int"), "phases": (0, 0, "list"), "probability": (0.0, 1.0, "float"),
          "note": (0, 0, "str")}

# Defaults: figures from domain.md (cited per line).
TOP_DEFAULTS: dict[str, Any] = {
    "body_mass_kg": 72.0,
    "rate_hz": 80.0,
    "encoder": True,
    "shell_radius_cm": 7.5,  # typical shell radius (domain.md)
    "breathing_hz": 0.25,  # 0.18-0.33 Hz (domain.md)
    "step_s": 0.5,
    "rib_spacing_cm": 2.0,  # ribbed / tread-like shell surface (seed article)
    "rib_frac": 0.01,
    "region": "quads",
}
SENSOR_DEFAULTS: dict[str, Any] = {
    "tare_counts": 84210.0,  # contracts.md §1 example
    "counts_per_n": 81.3,  # 0.0123 N/count (contracts.md §1)
    "noise_n": 0.5,  # HX711 at 80 SPS, gain 128: tens of counts rms
    "offset_drift_counts": 150.0,  # tens of counts per degC (domain.md), a few degC per session
    "nonlinearity_frac": 0.0005,  # load-cell non-linearity ~0.05 % at 1000 N
    "gain_error_frac": 0.002,  # reference-mass / procedure error of a user calibration
    "spike_rate_hz": 0.01,  # spurious codes on long wires (domain.md)
    "saturation_per_min": 0.0,
    "saturation_samples": 2,
    "dropouts_per_min": 0.0,
    "dropout_samples": 2,
    "link_gaps_per_min": 0.0,
    "link_gap_s": 1.0,
    "rate_factor": [0.975, 1.15],  # "80 SPS" parts run 78-92 SPS (domain.md)
    "jitter_s": 0.0003,
    "encoder_noise_deg": 0.03,
}
PHASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "off": {},
    "roll": {
        "force_frac": 0.32,  # 25-40 % BW, ~32-34 % for the thigh (Baumgart et al. 2019)
        "stroke_s": 2.0,  # 1.4-4 s per direction typical (domain.md)
        "stroke_jitter": 0.12,
        "travel_cm": 12.0,  # 7.5-17.5 cm each way (domain.md)
        "travel_jitter": 0.12,
        "lever_frac": 0.10,
        "bump_frac": 0.06,
        "dwell_s": 0.08,
        "stroke_asymmetry": 0.1,  # one direction up to 10 % quicker
        "pause_prob": 0.03,  # share of reversals with a brief stop
        "pause_s": 2.5,  # longest brief stop (s); always < 5 s, the shortest hold
        "breathing_frac": 0.02,
        "wobble_frac": 0.03,
        "settle_s": 0.5,
    },
    "hold": {
        "force_frac": 0.18,  # light: 10-25 % BW (domain.md)
        "breathing_frac": 0.03,  # a few percent (domain.md)
        "wobble_frac": 0.01,
        "limb_hz": 0.0,  # knee bends 0.1-1 Hz when used (domain.md)
        "limb_frac": 0.15,
        "limb_duty": 1.0,
        "posture_shifts": 0,
        "posture_step_frac": 0.06,  # steps up to ~10 % (domain.md)
        "sink_frac": 0.03,
        "sink_tau_s": 20.0,
        "sway_cm": 0.15,
        "settle_s": 0.7,  # settling from rolling to holding load: most of it within ~2 s
    },
    "reposition": {
        "force_frac": 0.22,
        "travel_cm": 8.0,
        "irregularity_frac": 0.25,
        "breathing_frac": 0.02,
        "wobble_frac": 0.04,
        "settle_s": 0.3,
    },
}


@dataclass
class Scenario:
    """A scenario spec (possibly with ranges and choices); `resolve(seed)` makes it concrete."""

    name: str
    description: str
    spec: dict[str, Any]
    source: str = "<dict>"
    _validated: bool = field(default=False, repr=False)

    @property
    def name_key(self) -> int:
        """A stable number from the name, mixed into every seed: families differ for equal seeds."""
        return zlib.crc32(self.name.encode("utf-8"))

    def resolve(self, seed: int = 0, *, overrides: dict[str, Any] | None = None,
                duration_s: float | None = None) -> dict[str, Any]:
        """Concrete scenario for `seed`: numbers only, phases flattened, defaults filled in.

        `overrides` replace top-level fields after all draws (so a rate or body-mass
        override does not change the rest of the session). `duration_s` cuts the
        phase list at that time, or appends re-drawn copies of the phase list
        until it is long enough.
        """
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0, self.name_key]))
        top: dict[str, Any] = {}
        for key, default in TOP_DEFAULTS.items():
            spec = self.spec.get(key, default)
            top[key] = _resolve_value(spec, rng, _TOP[key][2])
        sensor_spec = {**SENSOR_DEFAULTS, **self.spec.get("sensor", {})}
        sensor = {k: _resolve_value(v, rng, _SENSOR[k][2]) for k, v in sensor_spec.items()}
        phases = _expand_phases(self.spec.get("phases", []), rng)
        if duration_s is not None:
            ext_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7, self.name_key]))
            total = sum(p["duration_s"] for p in phases)
            guard = 0
            while total < duration_s and guard < 10000:
                more = _expand_phases(self.spec.get("phases", []), ext_rng)
                if not more:
                    break
                phases.extend(more)
                total += sum(p["duration_s"] for p in more)
                guard += 1
            phases = _truncate(phases, duration_s)
        if overrides:
            for k, v in overrides.items():
                if v is None:
                    continue
                if k not in _TOP:
                    raise ScenarioError(f"unknown scenario override '{k}'")
                if _TOP[k][2] in ("float", "int", "bool"):
                    _check_number(k, v, _TOP[k])
                top[k] = v
        if not phases:
            raise ScenarioError(f"scenario '{self.name}': no phases")
        return {"format": FORMAT, "name": self.name, "description": self.description, "seed": int(seed),
                **top, "sensor": sensor, "phases": phases}


def _truncate(phases: list[dict[str, Any]], duration_s: float) -> list[dict[str, Any]]:
    out, t = [], 0.0
    for p in phases:
        if t >= duration_s - 1e-9:
            break
        q = dict(p)
        if t + q["duration_s"] > duration_s:
            q["duration_s"] = round(duration_s - t, 6)
        out.append(q)
        t += q["duration_s"]
    return out


def _resolve_value(spec: Any, rng: np.random.Generator, typ: str) -> Any:
    """One draw of a value spec (number, [lo, hi] range, or {"choice": [...]})."""
    if isinstance(spec, dict) and "choice" in spec:
        opts = spec["choice"]
        w = spec.get("weights")
        p = None if w is None else np.asarray(w, float) / float(np.sum(w))
        return _resolve_value(opts[int(rng.choice(len(opts), p=p))], rng, typ)
    if isinstance(spec, list) and len(spec) == 2 and all(_is_num(x) for x in spec):
        lo, hi = float(spec[0]), float(spec[1])
        if typ == "int":
            return int(rng.integers(int(round(lo)), int(round(hi)) + 1))
        return round(float(rng.uniform(lo, hi)), 4)
    if typ == "int" and _is_num(spec):
        return int(round(spec))
    if typ == "float" and _is_num(spec):
        return float(spec)
    return spec


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _expand_phases(items: list[Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Flatten groups / choices / optional phases into concrete phases with defaults."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and "choice" in item and "kind" not in item:
            opts = item["choice"]
            w = item.get("weights")
            p = None if w is None else np.asarray(w, float) / float(np.sum(w))
            item = opts[int(rng.choice(len(opts), p=p))]
            out.extend(_expand_phases([item], rng))
            continue
        if isinstance(item, list):  # a choice may pick a whole sub-list
            out.extend(_expand_phases(item, rng))
            continue
        prob = _resolve_value(item.get("probability", 1.0), rng, "float")
        if prob < 1.0 and rng.uniform() >= prob:
            continue
        if "phases" in item:
            n = _resolve_value(item.get("repeat", 1), rng, "int")
            for _ in range(n):
                out.extend(_expand_phases(item["phases"], rng))
            continue
        kind = item["kind"]
        schema = _PHASE[kind]
        merged = {**PHASE_DEFAULTS[kind], **{k: v for k, v in item.items() if k not in ("probability",)}}
        ph: dict[str, Any] = {"kind": kind}
        for k, v in merged.items():
            if k == "kind":
                continue
            ph[k] = _resolve_value(v, rng, schema[k][2])
        out.append(ph)
    return out


# --- validation -------------------------------------------------------------------------

def _check_number(where: str, v: Any, rule: tuple[float, float, str]) -> None:
    lo, hi, typ = rule
    if typ == "bool":
        if not isinstance(v, bool):
            raise ScenarioError(f"{where}: expected true or false, got {json.dumps(v)}")
        return
    if not _is_num(v) or not math.isfinite(float(v)):
        raise ScenarioError(f"{where}: expected a number, got {json.dumps(v)}")
    if not lo <= float(v) <= hi:
        raise ScenarioError(f"{where}: {v} is outside {lo:g}..{hi:g}")


def _check_spec(where: str, spec: Any, rule: tuple[float, float, str]) -> None:
    """Validate a value spec: every number it can produce must lie within the rule's bounds."""
    typ = rule[2]
    if isinstance(spec, dict):
        if set(spec) - {"choice", "weights"} or not isinstance(spec.get("choice"), list) or not spec["choice"]:
            raise ScenarioError(f"{where}: a choice is written {{\"choice\": [..], \"weights\": [..]}}")
        _check_weights(where, spec)
        for k, opt in enumerate(spec["choice"]):
            _check_spec(f"{where}.choice[{k}]", opt, rule)
        return
    if typ == "str":
        if not isinstance(spec, str):
            raise ScenarioError(f"{where}: expected text, got {json.dumps(spec)}")
        return
    if isinstance(spec, list):
        if typ == "bool" or len(spec) != 2 or not all(_is_num(x) for x in spec):
            raise ScenarioError(f"{where}: a range is written [low, high], got {json.dumps(spec)}")
        if spec[0] > spec[1]:
            raise ScenarioError(f"{where}: range [{spec[0]}, {spec[1]}] has low > high")
        for x in spec:
            _check_number(where, x, rule)
        return
    _check_number(where, spec, rule)


def _check_weights(where: str, spec: dict[str, Any]) -> None:
    w = spec.get("weights")
    if w is None:
        return
    if (not isinstance(w, list) or len(w) != len(spec["choice"]) or not all(_is_num(x) and x >= 0 for x in w)
            or sum(w) <= 0):
        raise ScenarioError(f"{where}: weights must be non-negative numbers, one per choice")


def _check_phases(where: str, items: Any, depth: int = 0) -> None:
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: expected a list of phases")
    if depth > 8:
        raise ScenarioError(f"{where}: phase groups nested too deeply")
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if isinstance(item, list):
            _check_phases(w, item, depth + 1)
            continue
        if not isinstance(item, dict):
            raise ScenarioError(f"{w}: expected a phase object")
        if "choice" in item and "kind" not in item:
            if set(item) - {"choice", "weights"} or not isinstance(item["choice"], list) or not item["choice"]:
                raise ScenarioError(f"{w}: a phase choice is {{\"choice\": [phase, ...], \"weights\": [..]}}")
            _check_weights(w, item)
            _check_phases(f"{w}.choice", item["choice"], depth + 1)
            continue
        if "phases" in item:
            unknown = set(item) - set(_GROUP)
            if unknown:
                raise ScenarioError(f"{w}: unknown field{'' if len(unknown) == 1 else 's'} in phase group: {', '.join(sorted(unknown))}")
            for k in ("repeat", "probability"):
                if k in item:
                    _check_spec(f"{w}.{k}", item[k], _GROUP[k])
            _check_phases(f"{w}.phases", item["phases"], depth + 1)
            continue
        kind = item.get("kind")
        if kind not in _PHASE:
            raise ScenarioError(f"{w}: phase kind must be one of {', '.join(PHASE_KINDS)}, got {json.dumps(kind)}")
        if "duration_s" not in item:
            raise ScenarioError(f"{w}: {kind} phase needs duration_s")
        schema = _PHASE[kind]
        unknown = set(item) - set(schema)
        if unknown:
            raise ScenarioError(f"{w}: unknown field{'' if len(unknown) == 1 else 's'} for a {kind} phase: {', '.join(sorted(unknown))}")
        for k, v in item.items():
            if k != "kind":
                _check_spec(f"{w}.{k}", v, schema[k])


def validate_spec(spec: Any, source: str) -> None:
    """Raise ScenarioError (one line naming `source` and the field) for anything unusable."""
    try:
        if not isinstance(spec, dict):
            raise ScenarioError("expected a JSON object")
        fmt = spec.get("format", FORMAT)
        if fmt != FORMAT:
            raise ScenarioError(f"unknown scenario format {json.dumps(fmt)} (this version reads {FORMAT})")
        unknown = set(spec) - set(_TOP) - {"sensor", "phases"}
        if unknown:
            raise ScenarioError(f"unknown field{'' if len(unknown) == 1 else 's'}: {', '.join(sorted(unknown))}")
        for k, v in spec.items():
            if k in _TOP:
                _check_spec(k, v, _TOP[k])
        sensor = spec.get("sensor", {})
        if not isinstance(sensor, dict):
            raise ScenarioError("sensor: expected an object")
        unknown = set(sensor) - set(_SENSOR)
        if unknown:
            raise ScenarioError(f"sensor: unknown field{'' if len(unknown) == 1 else 's'}: {', '.join(sorted(unknown))}")
        for k, v in sensor.items():
            _check_spec(f"sensor.{k}", v, _SENSOR[k])
        if "phases" not in spec:
            raise ScenarioError("no 'phases' list")
        _check_phases("phases", spec["phases"])
        if not spec["phases"]:
            raise ScenarioError("'phases' is empty")
    except ScenarioError as exc:
        raise ScenarioError(f"scenario {source}: {exc}") from None


# --- loading ------------------------------------------------------------------------------

def list_families() -> list[tuple[str, str]]:
    """Built-in scenario families as (name, one-line description), sorted by name."""
    out = []
    for p in sorted(FAMILIES_DIR.glob("*.json")):
        with open(p, encoding="utf-8") as fh:
            spec = json.load(fh)
        out.append((p.stem, str(spec.get("description", "")).split("\n")[0]))
    return out


def family_names() -> list[str]:
    return [n for n, _ in list_families()]


def load_scenario(scenario: "str | Path | dict[str, Any] | Scenario") -> Scenario:
    """A Scenario from a built-in family name, a JSON file path, a dict, or a Scenario (returned as is)."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        spec = copy.deepcopy(scenario)
        name = str(spec.get("name", "custom"))
        validate_spec(spec, f"'{name}'")
        return Scenario(name, str(spec.get("description", "")), spec, "<dict>", True)
    text = str(scenario)
    builtin = FAMILIES_DIR / f"{text}.json"
    if "/" not in text and "\\" not in text and not text.endswith(".json") and builtin.is_file():
        path = builtin
    else:
        path = Path(text)
        if not path.is_file():
            names = ", ".join(family_names())
            raise ScenarioError(f"unknown scenario '{text}' (not a file; built-in families: {names})")
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario {path}: bad JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {path}: cannot read ({exc})") from None
    validate_spec(spec, str(path) if path != builtin else f"'{text}'")
    name = str(spec.get("name", path.stem.removesuffix(".scenario")))
    return Scenario(name, str(spec.get("description", "")), spec, str(path), True)
