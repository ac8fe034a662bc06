"""One verdict per hold, wherever a hold's score is shown: the live page, the terminal views, the report
(HTML and PDF), the plots' hold labels, `holdsense analyze` and the guided session's cues.

A hold's score (0-100, rollsignal's Scorer) is shown in one of three tones: green from `GOOD_FROM` (75),
amber from `FAIR_FROM` (50), red below. The number alone does not decide the tone, since the guidance
("light, sustained pressure; be patient: 30 s to a few minutes") can be missed with a high number:

- too hard (the grade says so): red whatever its number (a capped 50, or 60-70 with full length and
  steadiness credit, read amber "fair" beside "too hard");
- cut off under the release window by a lost link or the recording's end: no number at all ("–"): its
  length is not judged, its score is the other criteria's alone (100 for a light, steady 12 s) and the
  analysis leaves it out of the session's mean;
- too short (ended by the person before the release window) or fairly firm (above the light band,
  its feedback says "lighten up a little"): at most amber. Green says "this is what the guidance asks";
  a light, steady 29 s hold scores 82 but did not give the tissue the 30 s a release needs, so it is
  amber "almost: stay longer", as its grade says, and as the plots colour a too-short hold.

Light to import (no rollsignal, no numpy): `holdsense --help` and the history listing import it.
rollsignal's `is_cut_off` is imported only for a hold whose grade does not already say it was cut off.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

#: Score bands (0-100): green from GOOD_FROM, amber from FAIR_FROM, red below.
GOOD_FROM = 75
FAIR_FROM = 50
#: Tones, in order of merit: "good" (green), "fair" (amber), "poor" (red); "not_judged" shows no number.
TONES = ("good", "fair", "poor", "not_judged")
#: Text colours for a score on white paper or a white label box (report HTML and PDF, plot labels):
#: every one at least 4.5:1 against white (WCAG AA for small text; the plots' fill colours are 2-3:1,
#: the old amber text #f0a202 was 2.1:1) and still 4.5:1 on a plot label's box (white at 75 % over a
#: hold's fill).
TONE_TEXT_COLOURS = {"good": "#1e7d45", "fair": "#8a5a00", "poor": "#c0392b", "not_judged": "#616161"}
#: Terminal (rich) styles per tone.
TONE_STYLES = {"good": "bold green", "fair": "bold yellow", "poor": "bold red", "not_judged": "grey50"}
#: What a shown "–" means (the page's tooltip, the report's table).
NOT_JUDGED_WORDS = "no score: cut off before the release window, its length is not judged"


def hold_verdict(hold: Mapping[str, Any], release_s: float | None = None) -> str | None:
    """Why a finished hold's tone is not its number's band: "too_hard", "not_judged", "too_short",
    "firm", or None (its number's band stands).

    From the Scorer's grade and pressure (rollsignal.scoring): "too_hard" for a grade "too hard..."
    or pressure "too hard"; "not_judged" for a grade "cut off...", or, given `release_s` (the profile's
    release window, s), a hold cut off (`ended_by`: lost link, recording's end) under it whatever its
    stored grade said; "too_short" for "too short for a release"; "firm" for pressure "fairly firm".
    First match wins: a too-hard hold cut off at 12 s is "too_hard" (the pressure is the news)."""
    grade = str(hold.get("grade") or "")
    if grade.startswith("too hard") or hold.get("pressure") == "too hard":
        return "too_hard"
    if grade.startswith("cut off"):
        return "not_judged"
    d = hold.get("duration_s")
    if release_s is not None and hold.get("ended_by") and isinstance(d, (int, float)) and d < release_s:
        from rollsignal.scoring import is_cut_off  # (here: `holdsense --help` does not import rollsignal)

        if is_cut_off(dict(hold)):
            return "not_judged"
    if grade.startswith("too short"):
        return "too_short"
    if hold.get("pressure") == "fairly firm":
        return "firm"
    return None


def score_tone(score: Any) -> str | None:
    """The band of a plain score (0-100): "good", "fair" or "poor"; None without a number. For a
    session's score; a hold's tone is `hold_tone`."""
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != score:
        return None
    return "good" if score >= GOOD_FROM else "fair" if score >= FAIR_FROM else "poor"


def hold_tone(hold: Mapping[str, Any], release_s: float | None = None) -> str | None:
    """The one tone a hold's score is shown in: "good", "fair", "poor", "not_judged" (no number shown),
    or None (no score). See the module's docstring for the rule; `release_s` as in `hold_verdict`."""
    why = hold_verdict(hold, release_s)
    if why == "not_judged":
        return "not_judged"
    tone = score_tone(hold.get("score"))
    if tone is None:
        return None
    if why == "too_hard":
        return "poor"
    if why in ("too_short", "firm") and tone == "good":
        return "fair"
    return tone


def shown_score(hold: Mapping[str, Any], release_s: float | None = None) -> str:
    """The hold's score as text: its number, or "–" when not judged (cut off short) or missing."""
    if hold_tone(hold, release_s) in (None, "not_judged"):
        return "–"
    s = hold.get("score")
    return f"{s:.0f}" if isinstance(s, float) else str(s)


def mean_hold_score(holds: Sequence[Mapping[str, Any]], release_s: float | None = None) -> float | None:
    """Mean score of `holds` (0-100), by the session score's rule (rollsignal's Scorer.summarize, the same
    `is_cut_off_short`): a hold cut off under the release window `release_s` (s; default: the default
    profile's) is not judged on its length, so its number (often 100) stays out of the mean unless no hold
    was judged, a too-hard one too; None without any scored hold."""
    from rollsignal.scoring import is_cut_off_short  # (here: `holdsense --help` does not import rollsignal)

    release = _default_release_s() if release_s is None else release_s
    scored = [h for h in holds if isinstance(h.get("score"), (int, float))]
    judged = [h for h in scored if not is_cut_off_short(dict(h), release)] or scored
    return sum(float(h["score"]) for h in judged) / len(judged) if judged else None


@functools.lru_cache(maxsize=1)
def _default_release_s() -> float:
    """The default guidance profile's release window (s): what a stored analysis was scored with unless
    `--profile` said otherwise (the analysis does not record it)."""
    from rollsignal import load_profile

    return float(load_profile().criteria["duration"]["release_s"])
