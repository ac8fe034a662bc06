"""rollsignal: pure DSP for the holdsense roller (numpy/scipy only, no I/O).

Force (and optional encoder angle) in, segments OFF/ROLL/HOLD, holds and scores out.
Streaming (`Detector`) and batch (`analyze`) are built from the same stage objects.

Only the light modules (types, events, profile: numpy and the standard library) are
imported eagerly; the detector and its stages (which need scipy, ~0.2-0.5 s to import)
load on first use of `Detector`, `analyze`, ... through the module `__getattr__`, so
`holdsense --help`, `record` and the other commands that only move samples start fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .events import Event, HoldEnded, HoldProgress, HoldStarted, StateEvent, WarningEvent, event_to_dict
from .profile import Profile, ProfileError, available_profiles, load_profile
from .types import FLAG_GAP, FLAG_NAMES, FLAG_SAT, FLAG_SPIKE, SampleChunk, flags_to_text, text_to_flags

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    from .detector import ANALYSIS_FORMAT, AnalysisResult, Detector, analyze, confirm_lag_s

_LAZY = {"ANALYSIS_FORMAT": "detector", "AnalysisResult": "detector", "Detector": "detector", "analyze": "detector",
         "confirm_lag_s": "detector"}

__all__ = [
    "ANALYSIS_FORMAT", "AnalysisResult", "Detector", "Event", "FLAG_GAP", "FLAG_NAMES", "FLAG_SAT", "FLAG_SPIKE",
    "HoldEnded", "HoldProgress", "HoldStarted", "Profile", "ProfileError", "SampleChunk", "StateEvent",
    "WarningEvent", "analyze", "available_profiles", "confirm_lag_s", "event_to_dict", "flags_to_text", "load_profile",
    "text_to_flags",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import the scipy-backed detector only when one of its names is first used (PEP 562)."""
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'rollsignal' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
