"""Small text helpers shared by layers that must not import each other (analysis text, capture summary,
XDF marker lines). Imports nothing from holdsense."""
from __future__ import annotations


def fmt_clock(t_s: float) -> str:
    """m:ss (or h:mm:ss) for a time in seconds."""
    t = int(round(t_s))
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def lost_note(summary: dict) -> str:
    """' (link lost m:ss of it)' when the analysis summary's off time includes time without samples
    (`lost_s`, contracts.md §3), else ''. Why: a dropped link is not the person stepping off, and the
    live view already counts it apart."""
    lost = summary.get("lost_s") or 0.0
    return f" (link lost {fmt_clock(lost)} of it)" if lost >= 0.5 else ""
