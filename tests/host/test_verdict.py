"""One verdict per hold (holdsense.verdict) in every output that shows a hold's score: the live page's
snapshot, the terminal views, the report (HTML and PDF), the plots' hold labels, `holdsense analyze`'s text
and the guided session's cue. Holds are scored by rollsignal's Scorer on made-up statistics (fast: no
recording to analyse)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from holdsense import verdict
from holdsense.verdict import TONE_TEXT_COLOURS, hold_tone, hold_verdict, shown_score
from rollsignal import load_profile
from rollsignal.scoring import Scorer

MASS_KG = 70.0
G = 9.80665


def _hold(d_s: float, frac_bw: float, ended_by: str = "rolling", start_s: float = 10.0) -> dict[str, Any]:
    return Scorer(load_profile()).score_hold({
        "start_s": start_s, "end_s": start_s + d_s, "duration_s": d_s, "mean_force_n": frac_bw * MASS_KG * G,
        "force_cv": 0.03, "slow_cv": None, "travel_cm": None, "spot_cm": None, "rolling_load_n": None,
        "body_mass_kg": MASS_KG, "ended_by": ended_by})


#: (hold, its tone, its shown score): one of each case the rule is about
CASES = {
    "light 45 s": (_hold(45.0, 0.15), "good", None),
    "too hard, capped 50": (_hold(38.0, 0.75), "poor", "50"),
    "cut off at 12 s": (_hold(12.0, 0.15, "link lost"), "not_judged", "–"),
    "light 29 s, too short": (_hold(29.0, 0.15), "fair", "82"),
    "fairly firm 60 s": (_hold(60.0, 0.28), "fair", None),
    "light 6 s": (_hold(6.0, 0.15), "fair", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_rule(case: str) -> None:
    hold, tone, shown = CASES[case]
    assert hold_tone(hold, 30.0) == hold_tone(hold) == tone, (case, hold["score"], hold["grade"])
    if shown is not None:
        assert shown_score(hold) == shown


def test_too_short_and_fairly_firm_holds_are_never_green() -> None:
    """A light, steady 29 s hold scores 82 (green by number) while its grade says "too short for a release":
    the guidance is 30 s to a few minutes, so it is amber; a fairly firm hold (its feedback: "lighten up a
    little") is amber too, as the plots colour it. Both go red below 50, as every score does."""
    short = _hold(29.0, 0.15)
    assert short["score"] >= verdict.GOOD_FROM and short["grade"] == "too short for a release"
    assert hold_verdict(short) == "too_short" and hold_tone(short) == "fair"
    firm = _hold(60.0, 0.28)
    assert firm["score"] >= verdict.GOOD_FROM and hold_verdict(firm) == "firm" and hold_tone(firm) == "fair"
    assert hold_tone(dict(short, score=40)) == hold_tone(dict(firm, score=40)) == "poor"
    # past the window, cut off by the recording's end: the time was held, the number stands
    assert hold_tone(_hold(45.0, 0.15, "end"), 30.0) == "good"
    # a too-hard hold cut off short: the pressure is the news, its number is shown in red
    hard_cut = _hold(12.0, 0.75, "link lost")
    assert hold_verdict(hard_cut, 30.0) == "too_hard" and shown_score(hard_cut) == str(hard_cut["score"])
    # a stored hold cut off short whose grade predates "cut off" (given the release window): not judged
    assert hold_tone(dict(_hold(12.0, 0.15), ended_by="end"), 30.0) == "not_judged"
    assert hold_tone({"grade": "release window reached"}) is None and shown_score({}) == "–"


def _luminance(hex_colour: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _over(fg: str, alpha: float, bg: str) -> str:
    return "#" + "".join(f"{round(alpha * int(fg[i:i + 2], 16) + (1 - alpha) * int(bg[i:i + 2], 16)):02x}"
                         for i in (1, 3, 5))


def test_score_text_colours_meet_wcag_aa_on_white_and_on_a_plot_label() -> None:
    """Scores are small text (report table 9 pt, plot labels 8 pt): 4.5:1 (WCAG AA) on white, and on a plot
    label's box (white at 75 % over a hold's fill at 33 % over white), for every fill."""
    from holdsense.plots import VERDICT_COLOURS

    for tone, colour in TONE_TEXT_COLOURS.items():
        assert _contrast(colour, "#ffffff") >= 4.5, tone
        for fill in VERDICT_COLOURS.values():
            box = _over("#ffffff", 0.75, _over(fill, 0.33, "#ffffff"))
            assert _contrast(colour, box) >= 4.5, (tone, fill, round(_contrast(colour, box), 2))


def _analysis(holds: list[dict[str, Any]]) -> dict[str, Any]:
    segs, t = [], 0.0
    for h in holds:
        segs += [{"kind": "roll", "start_s": t, "end_s": h["start_s"]},
                 {"kind": "hold", "start_s": h["start_s"], "end_s": h["end_s"]}]
        t = h["end_s"]
    return {"format": "holdsense-analysis/1", "source": "x.csv", "segments": segs, "holds": holds,
            "summary": {"duration_s": t, "hold_s": 0.0, "roll_s": 0.0, "off_s": 0.0, "holds": len(holds),
                        "holds_over_30s": 0, "session_score": 70, "advice": []},
            "quality": {"sample_rate_hz": 80.0, "gaps": 0, "saturated_samples": 0, "warnings": []}}


def test_every_output_shows_the_same_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's snapshot, the report's HTML table, the plot's hold labels, `analyze`'s text, the terminal's
    hold line and the guided session's cue: for each hold the same number (or none) in the same tone."""
    from matplotlib.figure import Figure
    from rich.console import Console

    from holdsense.analysis import render_text
    from holdsense.coaching.flow import _hold_ended_text
    from holdsense.coaching import report
    from holdsense.coaching.report import ReportInput, render_html
    from holdsense.listeners.live import LiveState, describe_event, render
    from holdsense.listeners.web import snapshot
    from holdsense.plots import draw_force

    holds, t = [], 20.0
    for hold, _, _ in CASES.values():
        holds.append(dict(hold, start_s=t, end_s=t + hold["duration_s"]))
        t += hold["duration_s"] + 20.0
    tones = [hold_tone(h) for h in holds]
    shown = [shown_score(h) for h in holds]
    a = _analysis(holds)

    st = LiveState(body_mass_kg=MASS_KG)
    st.holds, st.last_hold = holds, holds[-1]
    snap = snapshot(st)
    assert [x["tone"] for x in snap["holds"]] == tones
    assert [snap["holds"][i]["score"] for i, s in enumerate(shown) if s == "–"] == [holds[2]["score"]]  # raw data

    monkeypatch.setattr(report, "trace_png", lambda inp: b"")  # the table is checked here, the trace below (fast)
    html = render_html(ReportInput(analysis=a))
    cells = re.findall(r'<td class="score" style="color:(#[0-9a-f]{6})"[^>]*>([^<]*)</td>', html)
    assert cells == [(TONE_TEXT_COLOURS[tn], s) for tn, s in zip(tones, shown)]

    ax = Figure().add_subplot()
    draw_force(ax, None, None, a, body_mass_kg=MASS_KG)
    labels = [x for x in ax.texts if x.get_gid() == "hold-label"]
    assert [(x.get_color(), x.get_text().split("\n")[0].split(": ")[1]) for x in labels] == \
        [(TONE_TEXT_COLOURS[tn], s) for tn, s in zip(tones, shown)]

    text = render_text(a)
    for i, (h, s) in enumerate(zip(holds, shown), 1):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"  #{i} at"))
        said = f"score {s}/100: {h['grade']}" if s != "–" else f"no score: {h['grade']}"
        assert line.endswith(said + (" (fairly firm)" if h.get("pressure") == "fairly firm" else "")), line

    for h, tn, s in zip(holds, tones, shown):
        ev = type("Ev", (), {"kind": "hold_ended", "hold": h, "t_s": 0.0})()
        assert (f"score {s} (" in describe_event(ev)) == (s != "–") and \
            (f"score {h['score']}" in _hold_ended_text(h, 30.0)) == (s != "–")
        st.last_hold = h
        segs = list(Console(width=100, color_system="truecolor", force_terminal=True).render(render(st, 100, now=0.0)))
        assert f"score {s}" in "".join(seg.text for seg in segs)
        colours = {seg.style.color.name for seg in segs if seg.text.strip() == f"score {s}"}
        assert colours == {verdict.TONE_STYLES[tn].split()[-1]}, (tn, colours)


def test_mean_hold_score_leaves_out_holds_cut_off_short_as_the_session_score_does() -> None:
    """history --json's mean_hold_score (per session and per week) and the lab table's column averaged a cut-off
    12 s hold's 100 in with the judged holds, while the session score and every view leave it out."""
    from holdsense.coaching.history import SessionRecord, weekly_trends
    from holdsense.lab.batch import session_row

    judged, cut = _hold(45.0, 0.15), _hold(12.0, 0.15, "link lost")
    hard = _hold(38.0, 0.75)
    assert cut["score"] == 100 and judged["score"] < 100
    holds = [judged, cut, hard]
    want = (judged["score"] + hard["score"]) / 2
    assert verdict.mean_hold_score(holds) == pytest.approx(want)
    assert verdict.mean_hold_score([cut]) == 100  # nothing judged: the session score's rule, it stands alone
    assert verdict.mean_hold_score([]) is None
    # a too-hard hold cut off short is shown red with its number, yet the session score leaves it out of its
    # mean (rollsignal.scoring.is_cut_off_short): the mean here did not
    hard_cut = _hold(12.0, 0.75, "link lost")
    assert hold_verdict(hard_cut) == "too_hard" and shown_score(hard_cut) != "–"
    assert verdict.mean_hold_score([judged, hard_cut]) == judged["score"]
    summ = Scorer(load_profile()).summarize([{"kind": "hold", "start_s": 0.0, "end_s": 57.0}], [judged, hard_cut])
    assert summ["session_score"] == Scorer(load_profile()).summarize(
        [{"kind": "hold", "start_s": 0.0, "end_s": 57.0}], [judged])["session_score"]
    analysis = {"holds": holds, "summary": {"hold_s": 95.0}}
    rec = SessionRecord(started_utc="2026-11-02T10:00:00Z", region="quads", analysis=analysis, before=None,
                        after=None, source="replay")
    assert rec.mean_hold_score == pytest.approx(want)
    assert weekly_trends([rec])[0].mean_hold_score == pytest.approx(want)
    assert session_row("x.csv", analysis, {})["mean_hold_score"] == round(want, 1)
