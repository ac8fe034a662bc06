"""Physically grounded synthetic roller sessions with ground truth (numpy only, deterministic by seed).

    from holdsense.sim import simulate, Body, LoadCell, Encoder, corpus, load_scenario, list_families

    res = simulate("standard", seed=3)           # SimResult: .samples, .metadata, .labels, .body
    res.write("session.csv")                     # + session.labels.json
    body = Body("limb", seed=3)                  # true force / angle at any times (virtual device)
    body.force_n(t_s); body.angle_deg(t_s); body.segments; body.load_kg = 2.0

Scenario format and families: docs/scenarios.md.
"""
from .body import G_M_S2, MIN_HOLD_S, Body
from .sensors import ADC_MAX, ADC_MIN, AS5600_COUNTS, Encoder, LoadCell, force_from_counts, to_signed24
from .session import LABELS_FORMAT, SimResult, corpus, labels_path_for, simulate
from .spec import FORMAT, Scenario, ScenarioError, family_names, list_families, load_scenario

__all__ = [
    "ADC_MAX", "ADC_MIN", "AS5600_COUNTS", "Body", "Encoder", "FORMAT", "G_M_S2", "LABELS_FORMAT", "LoadCell",
    "MIN_HOLD_S", "Scenario", "ScenarioError", "SimResult", "corpus", "family_names", "force_from_counts",
    "labels_path_for", "list_families", "load_scenario", "simulate", "to_signed24",
]
