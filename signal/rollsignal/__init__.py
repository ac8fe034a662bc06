"""rollsignal: pure DSP for the holdsense roller (numpy/scipy only, no I/O).

Force (and optional encoder angle) in, segments OFF/ROLL/HOLD, holds and scores out.
Streaming (`Detector`) and batch (`analyze`) are built from the same stage objects.
"""
from .types import FLAG_GAP, FLAG_NAMES, FLAG_SAT, FLAG_SPIKE, SampleChunk, flags_to_text, text_to_flags

__all__ = [
    "FLAG_GAP", "FLAG_NAMES", "FLAG_SAT", "FLAG_SPIKE", "SampleChunk", "flags_to_text", "text_to_flags",
]
__version__ = "0.1.0"
