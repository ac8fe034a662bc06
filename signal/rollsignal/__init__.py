"""rollsignal: pure DSP for the holdsense roller (numpy/scipy only, no I/O).

Force (and optional encoder angle) in, segments OFF/ROLL/HOLD, holds and scores out.
Streaming (`Detector`) and batch (`analyze`) are built from the same stage objects.
"""
from .detector import ANALYSIS_FORMAT, AnalysisResult, Detector, analyze
from .events import Event, HoldEnded, HoldProgress, HoldStarted, StateEvent, WarningEvent, event_to_dict
from .profile import Profile, ProfileError, available_profiles, load_profile
from .types import FLAG_GAP, FLAG_NAMES, FLAG_SAT, FLAG_SPIKE, SampleChunk, flags_to_text, text_to_flags

__all__ = [
    "ANALYSIS_FORMAT", "AnalysisResult", "Detector", "Event", "FLAG_GAP", "FLAG_NAMES", "FLAG_SAT", "FLAG_SPIKE",
    "HoldEnded", "HoldProgress", "HoldStarted", "Profile", "ProfileError", "SampleChunk", "StateEvent",
    "WarningEvent", "analyze", "available_profiles", "event_to_dict", "flags_to_text", "load_profile",
    "text_to_flags",
]
__version__ = "0.1.0"
