"""Small text helpers shared by layers that must not import each other (analysis text, capture summary,
XDF marker lines). Imports nothing from holdsense."""
from __future__ import annotations

from typing import Any


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 hold', '2 holds' (`words` for irregular plurals): counts a person reads, never 'hold(s)'.

    The twin of rollsignal.scoring.plural (the analysis's warnings and advice): this module stays importable
    without rollsignal and numpy, which a command's `--help` must not load (tests/host/cli/test_startup.py)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


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


# words that mark a feedback line as praise (or a note that asks nothing: a hold cut off by a lost link or
# the recording's end); the line worth reading is the first that asks for something
_PRAISE = (": good", "past the", "Stayed on the spot", "is fine", "is not judged")


def one_line_feedback(hold: dict[str, Any]) -> str | None:
    """The one feedback line worth reading from the floor: a safety line first, then the first line that
    asks for a change, else the first line. The live page's last-hold line and the guided session's
    hold-ended cue both say this one."""
    lines = [str(x) for x in (hold.get("feedback") or [])]
    if not lines:
        return None
    for line in lines:
        if line.startswith(("Very heavy", "Too hard")):
            return line
    for line in lines:
        if not any(p in line for p in _PRAISE):
            return line
    return lines[0]
