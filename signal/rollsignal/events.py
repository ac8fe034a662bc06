"""Detector events (docs/architecture.md): each has `kind` and `t_s`, the device time it was emitted at."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StateEvent:
    """The state changed to `state` (off/roll/hold); `start_s` is the back-dated start of the new state."""

    t_s: float
    state: str
    previous: str
    start_s: float
    kind: str = field(default="state", init=False)


@dataclass(frozen=True)
class HoldStarted:
    """A hold was confirmed at `t_s` (>= 5 s still); it started at `start_s` (back-dated).

    `confidence`: calibrated probability (0-1) that this is a true hold, from the evidence up to the
    confirmation (None when unknown); the final figure is in the HoldEnded hold dict.
    """

    t_s: float
    start_s: float
    confidence: float | None = None
    kind: str = field(default="hold_started", init=False)


@dataclass(frozen=True)
class HoldProgress:
    """About once a second while holding: time held so far and mean force so far."""

    t_s: float
    start_s: float
    duration_s: float
    mean_force_n: float
    kind: str = field(default="hold_progress", init=False)


@dataclass(frozen=True)
class HoldEnded:
    """A hold ended; `hold` is shaped like one entry of `holds` in contracts.md §3."""

    t_s: float
    hold: dict[str, Any]
    kind: str = field(default="hold_ended", init=False)


@dataclass(frozen=True)
class WarningEvent:
    """Something the person should know now (e.g. force far above their rolling load)."""

    t_s: float
    message: str
    kind: str = field(default="warning", init=False)


Event = StateEvent | HoldStarted | HoldProgress | HoldEnded | WarningEvent


def event_to_dict(ev: Event) -> dict[str, Any]:
    """Plain dict of an event (for JSON lines, LSL markers, logs)."""
    return asdict(ev)
