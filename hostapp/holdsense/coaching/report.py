"""Session report a lab can hand out: HTML (self-contained, one page) or PDF (one or more pages).

Input is the holdsense-analysis/1 object (contracts.md §3) plus, when at hand,
the recording's samples (for the trace) and the before/after tests (from the
session history). Output:
- HTML: one file, no external resources (the trace is an embedded PNG), A4
  print styles so "print to PDF" from a browser also gives one page;
- PDF: A4 pages drawn with matplotlib's PdfPages (no browser needed): every hold
  with all its feedback, continued on further pages when it does not fit one.

What it shows: the force trace with shaded hold/roll segments and each hold's
number and score; each hold with score, grade and feedback; session totals;
the advice; the before/after test and its change; data-quality notes; the
guidance the scores are measured against, and the safety lines.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .flow import SAFETY_LINES, MovementTest, TestChange, advice_for, compare_tests, find_region, session_score
from ..errors import UserError
from ..fmt import plural
from ..userprofile import format_body_mass
from ..verdict import NOT_JUDGED_WORDS, TONE_TEXT_COLOURS, hold_tone, score_tone, shown_score

G_N_PER_KG = 9.80665
FORCE_COLOR = "#1f3b57"
MAX_PLOT_POINTS = 3000  # min/max envelope above this: keeps the PNG small and every peak visible


def _same_spot(inp: "ReportInput") -> list[str] | None:
    """The holds table's "same spot" column: "as #1" for a hold on the spot of an earlier hold, "new" for the
    first on its spot, "–" when its spot is not known;
    None (no column) when no spot was held twice or there is no encoder. Why: a hold's `spot_cm` ("-8 cm",
    from the first contact along the roll path) means nothing to a client; "as #1" does."""
    from rollsignal import load_profile
    from rollsignal.scoring import same_spot

    first = same_spot(inp.holds, float(load_profile().session["spot_radius_cm"]))
    if not any(g is not None and g != i for i, g in enumerate(first)):
        return None
    # "new" for the first hold on its spot: "–" there read as a missing value beside a cut-off hold's "–" score
    return [("–" if g is None else "new" if g == i else f"as #{g + 1}") for i, g in enumerate(first)]


@dataclass
class ReportInput:
    """Everything a report shows. `samples` may be None (then no trace, the rest still reads)."""

    analysis: dict[str, Any]
    samples: Any = None  # rollsignal.SampleChunk
    metadata: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    before: MovementTest | None = None
    after: MovementTest | None = None
    title: str = "holdsense session report"
    history_note: str | None = None  # e.g. "before/after from history session 12"
    client: str | None = None  # whose session: --client, else the athlete's profile name
    units: str = "N"  # forces shown in N, kg or lb (the athlete's profile)

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.analysis.get("holds") or [])

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.analysis.get("summary") or {})

    @property
    def advice(self) -> list[str]:
        """The summary's advice, without asking for the before/after test when both were recorded."""
        return advice_for(self.summary.get("advice") or [], self.before, self.after)

    @property
    def body_mass_kg(self) -> float | None:
        v = self.metadata.get("body_mass_kg")
        try:
            return float(v) if v not in (None, "") else None
        except (TypeError, ValueError):
            return None

    @property
    def region_name(self) -> str | None:
        r = self.region or self.metadata.get("region")
        if not r:
            return None
        try:
            return find_region(str(r)).name
        except UserError:
            return str(r)

    @property
    def change(self) -> TestChange | None:
        if self.before is None and self.after is None:
            return None
        return compare_tests(self.before, self.after)


# --- formatting helpers ---------------------------------------------------------------

def mmss(t_s: float | None) -> str:
    """Seconds → m:ss (h:mm:ss from an hour)."""
    if t_s is None or not math.isfinite(float(t_s)):
        return "–"
    t = int(round(float(t_s)))
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _pct(part: float | None, whole: float | None) -> str:
    if not part or not whole:
        return "0 %"
    return f"{100.0 * part / whole:.0f} %"


def _rom_change(ch: Any) -> str:
    """The range of motion's change column: degrees, or a distance in cm (a test measured as one: "30 cm" ->
    "20 cm" was shown as no change, "–")."""
    if ch.rom_delta_deg is None and ch.rom_delta_cm is not None:
        return _num(ch.rom_delta_cm, "{:+g} cm")
    return _num(ch.rom_delta_deg, "{:+.0f}°")


def _num(v: Any, fmt: str = "{:.0f}", none: str = "–") -> str:
    if v is None:
        return none
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return none if not math.isfinite(f) else fmt.format(f)


def score_color(score: float | None) -> str:
    """A session score's text colour: green / amber / red by its band (holdsense.verdict.score_tone), the
    same in HTML and PDF. A hold's score is coloured by `hold_color` (its verdict, not only its number)."""
    return TONE_TEXT_COLOURS.get(score_tone(score) or "not_judged", TONE_TEXT_COLOURS["not_judged"])


def hold_color(hold: dict[str, Any]) -> str:
    """A hold's score colour: its one verdict (holdsense.verdict.hold_tone, as on the live page and the
    plots): red for a too-hard hold whatever its number, at most amber for a too-short or fairly firm one,
    grey for one cut off short (shown "–")."""
    return TONE_TEXT_COLOURS.get(hold_tone(hold) or "not_judged", TONE_TEXT_COLOURS["not_judged"])


def totals(inp: ReportInput) -> list[tuple[str, str, str]]:
    """The session totals as (label, value, small note) triples, in the order shown."""
    s = inp.summary
    dur = s.get("duration_s")
    holds = inp.holds
    n = s.get("holds", len(holds))
    return [
        ("Session score", _num(session_score(inp.analysis)), "of 100"),
        ("Duration", mmss(dur), "whole recording"),
        ("Holding", mmss(s.get("hold_s")), f"{_pct(s.get('hold_s'), dur)} of session"),
        ("Rolling", mmss(s.get("roll_s")), f"{_pct(s.get('roll_s'), dur)} of session"),
        # (a card's caption has the width of "11 % of session": the lost link said as briefly)
        ("Off the roller", mmss(s.get("off_s")),
         f"{_pct(s.get('off_s'), dur)}; link lost {mmss(s.get('lost_s'))}" if (s.get("lost_s") or 0) >= 0.5
         else f"{_pct(s.get('off_s'), dur)} of session"),
        ("Holds", _num(n), "loaded and still ≥ 5 s"),
        ("Holds ≥ 30 s", _num(s.get("holds_over_30s")), "release window"),
        ("Longest hold", mmss(max((h.get("duration_s") or 0.0 for h in holds), default=None)), "min:s"),
    ]


def _force_label(inp: ReportInput, force_n: Any) -> str:
    from ..userprofile import format_force

    try:
        fv = float(force_n)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(fv):
        return "–"
    f = format_force(fv, inp.units)
    m = inp.body_mass_kg
    if m:
        f += f" ({100.0 * fv / (m * G_N_PER_KG):.0f} % BW)"
    return f


def local_time(iso_utc: Any) -> str:
    """An ISO 8601 UTC time as local time with its zone: '2026-11-24 11:00 CET (UTC+01:00)'.

    Local = this computer's zone (TZ). A value that does not parse is returned as it was."""
    import datetime as dt

    text = str(iso_utc).strip()
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    loc = d.astimezone()
    off = loc.strftime("%z")
    off_text = f"UTC{off[:3]}:{off[3:]}" if off else "UTC"
    name = loc.tzname() or ""
    if name in ("UTC", "GMT") and off in ("+0000", ""):
        zone = "UTC"
    else:
        zone = off_text if not name or name.startswith(("+", "-")) or name == off_text else f"{name} ({off_text})"
    return f"{loc.strftime('%Y-%m-%d %H:%M')} {zone}"


# --- the trace figure ---------------------------------------------------------------------

def _envelope(t: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per bin so a long trace plots fast with every peak kept."""
    n = len(t)
    if n <= max_points:
        return t, y
    bins = max_points // 2
    edges = np.linspace(0, n, bins + 1).astype(int)
    tt, yy = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = y[a:b]
        if b <= a:
            continue
        ok = np.isfinite(seg)
        if not ok.any():
            tt += [t[a], t[b - 1]]
            yy += [np.nan, np.nan]
            continue
        i_min = a + int(np.nanargmin(seg))
        i_max = a + int(np.nanargmax(seg))
        for i in sorted((i_min, i_max)):
            tt.append(t[i])
            yy.append(y[i])
    return np.asarray(tt), np.asarray(yy)


def draw_trace(ax: Any, inp: ReportInput, *, compact: bool = False, right_in: float | None = None) -> None:
    """Force over time (holdsense.plots): segments with holds coloured by verdict, gaps as gaps, the
    light-pressure band, the 30 s marks, each hold labelled '#n score'. The legend takes as few rows as keep
    it left of `right_in` (inches from the figure's left edge: the PDF page's margin), else of the figure's
    edge."""
    from ..inputcheck import clean_samples, in_time_order
    from ..plots import declutter_labels, draw_force, gap_spans

    t_end = float(inp.summary.get("duration_s") or 0.0)
    if inp.samples is not None and len(inp.samples):
        # impossible values (a saturated 24-bit code through the calibration: -1e5 N) are left out, as the
        # analysis left them out and `analyze --plot` does: one of them would set the scale of the whole trace
        # (and so would one time stamp far ahead, which the detector's time guard dropped too)
        samples, _ = clean_samples(in_time_order(inp.samples))
        t = np.asarray(samples.t_s, dtype=float)
        f = np.asarray(samples.force_n, dtype=float)
        t_end = max(t_end, float(t[-1]))
        tp, fp = _envelope(t, f, MAX_PLOT_POINTS)
        gaps = gap_spans(t)
    else:
        tp = fp = None
        gaps = []
        ax.text(0.5, 0.5, "trace not available (recording not found)", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    handles = draw_force(ax, tp, fp, inp.analysis, body_mass_kg=inp.body_mass_kg, t_scale=60.0, compact=True,
                         gaps=gaps, units=inp.units)
    if t_end > 0:
        ax.set_xlim(0, t_end / 60)
    ax.set_xlabel("time (min)")
    ax.grid(alpha=0.25, lw=0.5)
    # 8 pt (readable on A4), in as few rows as fit the figure's width
    renderer = ax.figure.canvas.get_renderer()
    # the PDF page's right margin, else the figure's edge
    right_px = ax.figure.bbox.width - 2 if right_in is None else right_in * ax.figure.dpi
    for ncols in range(max(1, len(handles)), 0, -1):
        leg = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=ncols, fontsize=8,
                        frameon=False, borderaxespad=0.2, handlelength=1.5, columnspacing=1.0)
        if leg.get_window_extent(renderer).x1 <= right_px:
            break
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    declutter_labels(ax)


def trace_png(inp: ReportInput, width_in: float = 7.4, height_in: float = 2.2, dpi: int = 200) -> bytes:
    """The trace figure as PNG bytes, drawn at the size the A4 page shows it (190 mm wide), so its 8 pt text
    prints at 8 pt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, height_in), layout="constrained")
    try:
        fig.canvas.draw()  # the constrained layout first: label decluttering measures the final axes
        draw_trace(ax, inp)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


# --- HTML --------------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1b2733; max-width: 190mm; margin: 0 auto; padding: 8px; }
h1 { font-size: 17pt; margin: 0; }
h2 { font-size: 11.5pt; margin: 12px 0 4px; color: #1f3b57; border-bottom: 1px solid #d5dde5; }
.sub { color: #5a6b7b; margin: 2px 0 8px; }
.totals { display: grid; grid-template-columns: repeat(8, 1fr); gap: 4px; margin: 6px 0; }
.total { background: #f2f5f8; border-radius: 5px; padding: 4px 6px; }
.total .label { font-size: 7.5pt; color: #5a6b7b; font-weight: 600; }
.total .value { font-size: 12pt; font-weight: 600; }
.total.score .value { font-size: 16pt; }
.total .tnote { font-size: 7pt; color: #6b7b8b; }
img.trace { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; padding: 3px 5px; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
th { font-size: 8pt; color: #5a6b7b; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.score { font-weight: 700; font-size: 10.5pt; text-align: right; }
td ul { margin: 0; padding-left: 14px; }
td.fb { font-size: 8.5pt; }
td.fb b.grade { font-size: 9pt; }
section > ul { margin: 4px 0; padding-left: 18px; font-size: 9.5pt; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.note { color: #5a6b7b; font-size: 8.5pt; }
.warn { color: #a33; }
footer { margin-top: 8px; font-size: 7pt; color: #6b7b8b; border-top: 1px solid #d5dde5; padding-top: 4px; }
body.dense table { font-size: 8pt; }
body.dense th, body.dense td { padding: 1px 4px; }
body.dense img.trace { max-height: 50mm; width: auto; max-width: 100%; margin: 0 auto; }
body.dense td.fb { font-size: 7.8pt; }
body.dense .totals { margin: 3px 0; }
body.dense section > ul, body.dense .note { font-size: 8.3pt; }
body.dense section > ul { margin: 2px 0; }
body.dense footer { margin-top: 4px; font-size: 6.5pt; padding-top: 2px; }
body.dense { line-height: 1.25; }
body.dense #quality { margin: 4px 0; }
body.dense footer p { margin: 2px 0; }
body.dense header h1 { font-size: 15pt; }
body.dense .total .tnote, body.dense .device, body.dense p.movement { display: none; }
body.dense .total { padding: 2px 5px; }
body.dense h2 { margin-top: 7px; }
@media print { body { padding: 0; } }
"""


def _text_lines(inp: ReportInput, max_feedback: int | None = None) -> int:
    """Rough count of printed lines the holds table and the advice column take (for choosing the layout)."""
    holds = sum(1 + sum(math.ceil(len(str(x)) / 95) for x in (h.get("feedback") or [])[:max_feedback])
                for h in inp.holds)
    advice = sum(math.ceil(len(str(x)) / 55) for x in inp.advice)
    return holds + max(advice, 7)  # the before/after table takes about 7 lines beside the advice


def _dense(inp: ReportInput) -> bool:
    """Tighter layout when the holds, their feedback and the advice would not fit one A4 page otherwise.

    Thresholds checked by printing reports of the bundled and simulated sessions with headless Chromium.
    """
    return len(inp.holds) > 10 or _text_lines(inp) > 22


def _max_feedback(inp: ReportInput) -> int | None:
    """How many feedback lines per hold fit one page: all, or the first two / the first one when crowded."""
    if len(inp.holds) > 10:
        return 1
    return None if _text_lines(inp) <= 44 else 2


def render_html(inp: ReportInput) -> str:
    """The whole report as one self-contained HTML page (A4 print styles)."""
    e = html.escape
    a = inp.analysis
    md = inp.metadata
    source = Path(str(a.get("source") or md.get("source") or "recording")).name
    sub_bits = [f"Recording <b>{e(source)}</b>"]  # joined with " · "; the device is hidden when dense
    if inp.client:
        sub_bits.insert(0, f'Client <b class="client">{e(inp.client)}</b>')
    if md.get("started_utc"):
        sub_bits.append(f"started {e(local_time(md['started_utc']))}")
    if inp.region_name:
        sub_bits.append(f"region <b>{e(inp.region_name)}</b>")
    if inp.body_mass_kg:
        sub_bits.append(f"body mass {e(format_body_mass(inp.body_mass_kg, inp.units))}")
    if md.get("device"):
        sub_bits.append(f'<span class="device">{e(str(md["device"]))}</span>')
    sub_html = " · ".join(sub_bits[:-1] if md.get("device") and _dense(inp) else sub_bits)

    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{e(inp.title)} – {e(source)}</title><style>{_CSS}</style></head>"
             + ('<body class="dense">' if _dense(inp) else "<body>"),
             f"<header><h1>{e(inp.title)}</h1><p class=\"sub\">{sub_html}</p></header>"]

    # totals
    parts.append('<section id="totals"><div class="totals">')
    for i, (label, value, note) in enumerate(totals(inp)):
        style = f' style="color:{score_color(session_score(inp.analysis))}"' if i == 0 else ""
        parts.append(f'<div class="total{" score" if i == 0 else ""}" data-key="{e(label)}">'
                     f'<div class="label">{e(label)}</div><div class="value"{style}>{e(value)}</div>'
                     f'<div class="tnote">{e(note)}</div></div>')
    parts.append("</div></section>")

    # trace
    png = trace_png(inp)
    parts.append(f'<section id="trace"><img class="trace" alt="force trace with hold and roll segments" '
                 f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></section>')

    # holds
    holds = inp.holds
    max_fb = _max_feedback(inp)  # keep to one page: fewer feedback lines per hold when crowded
    parts.append('<section id="holds"><h2>Holds</h2>')
    if not holds:
        parts.append("<p>No holds in this session: the roller never stayed loaded and still for 5 s. "
                     "Find a tender spot and stay on it for 30 s or more.</p>")
    else:
        same = _same_spot(inp)
        has_spot = same is not None
        parts.append('<table class="holds"><thead><tr><th>#</th><th class="num">start</th>'
                     '<th class="num">held</th><th class="num">mean force</th>'
                     + ('<th class="num">same spot</th>' if has_spot else "")
                     + '<th class="num">score</th><th>grade and feedback</th></tr></thead><tbody>')
        for i, h in enumerate(holds, 1):
            fb = list(h.get("feedback") or [])
            if max_fb is not None and len(fb) > max_fb:
                fb = fb[:max_fb] + [f"(+{len(fb) - max_fb} more: holdsense analyze)"]
            fb_html = "<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in fb) + "</ul>" if fb else ""
            spot = f'<td class="num">{same[i - 1]}</td>' if same is not None else ""
            parts.append(
                f'<tr class="hold"><td>{i}</td><td class="num">{mmss(h.get("start_s"))}</td>'
                f'<td class="num">{_num(h.get("duration_s"), "{:.0f} s")}</td>'
                f'<td class="num">{e(_force_label(inp, h.get("mean_force_n")))}</td>{spot}'
                f'<td class="score" style="color:{hold_color(h)}"'
                + (f' title="{e(NOT_JUDGED_WORDS)}"' if hold_tone(h) == "not_judged" else "")
                + f'>{e(shown_score(h))}</td>'
                f'<td class="fb"><b class="grade">{e(str(h.get("grade") or ""))}</b>{fb_html}</td></tr>')
        parts.append("</tbody></table>")
    parts.append("</section>")

    # advice + before/after side by side
    parts.append('<div class="cols"><section id="advice"><h2>Advice</h2>')
    advice = inp.advice
    parts.append("<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in advice) + "</ul>" if advice
                 else "<p class=\"note\">No advice: a well-paced session.</p>")
    parts.append('</section><section id="before-after"><h2>Before / after test</h2>')
    parts.append(_before_after_html(inp))
    parts.append("</section></div>")

    # quality / warnings
    q = dict(a.get("quality") or {})
    qbits = []
    if q.get("sample_rate_hz"):
        qbits.append(f"{float(q['sample_rate_hz']):.1f} Hz")
    qbits.append(plural(int(q.get('gaps') or 0), "gap"))
    qbits.append(plural(int(q.get('saturated_samples') or 0), "saturated sample"))
    warn = [str(w) for w in (q.get("warnings") or [])]
    parts.append(f'<p class="note" id="quality">Data quality: {e(", ".join(qbits))}.'
                 + (" " + "; ".join(f'<span class="warn">{e(w)}</span>' for w in warn) + _stop(warn) if warn else "")
                 + "</p>")

    parts.append("<footer><p><b>Guidance:</b> be patient: hold a tight spot 30 s to a few minutes with light, "
                 "sustained pressure; don't just roll around; a related limb may move while holding; test the "
                 "area before and after (self-myofascial-release guidance; see docs/coaching.md). "
                 f"{e(' '.join(SAFETY_LINES))}</p>"
                 f"<p>holdsense {e(__version__)} · analysis {e(str(a.get('format', '')))}"
                 + (f" · {e(inp.history_note)}" if inp.history_note else "") + "</p></footer>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _stop(warnings: list[str]) -> str:
    """The full stop after the data-quality warnings (none when the last one already ends a sentence)."""
    return "" if not warnings or warnings[-1].rstrip().endswith((".", "!", "?")) else "."


def _before_after_html(inp: ReportInput) -> str:
    e = html.escape
    ch = inp.change
    if ch is None:
        return ("<p class=\"note\">No before/after test recorded for this recording. A guided "
                "<code>holdsense session</code> asks for one and keeps it in the history.</p>")
    b, a = inp.before or MovementTest(), inp.after or MovementTest()
    mv = b.movement or a.movement
    rows = [("Pain (0–10)", _num(b.pain_0_10), _num(a.pain_0_10), _num(ch.pain_delta, "{:+.0f}")),
            ("Range of motion", b.rom_words or "–", a.rom_words or "–", _rom_change(ch)),
            ("Ease (0–10)", _num(b.ease_0_10), _num(a.ease_0_10), _num(ch.ease_delta, "{:+.0f}"))]
    out = [f"<p class=\"note movement\">Movement: {e(mv)}</p>" if mv else "",
           '<table class="tests"><thead><tr><th></th><th>before</th><th>after</th><th class="num">change</th>'
           "</tr></thead><tbody>"]
    for label, bv, av, d in rows:
        if bv == "–" and av == "–":
            continue  # not asked / skipped both times
        out.append(f"<tr data-test=\"{e(label)}\"><td>{e(label)}</td><td>{e(bv)}</td><td>{e(av)}</td>"
                   f"<td class=\"num\">{e(d)}</td></tr>")
    out.append("</tbody></table>")
    verdict = ch.lines[-1] if ch.lines else ""
    out.append(f"<p><b>{e(verdict)}</b></p>")
    return "".join(out)


def write_html(inp: ReportInput, path: str | Path) -> None:
    try:
        Path(path).write_text(render_html(inp), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write report ({exc.strerror or exc})") from None


# --- PDF ----------------------------------------------------------------------------------

PAGE_W_IN, PAGE_H_IN = 8.27, 11.69  # A4
PDF_MARGIN_IN = 0.55
LINE_IN = 0.15  # one 7-8 pt text line
#: characters of 7.2 pt text in the 3.8 in feedback column (checked with pdftotext -bbox: inside the margin)
FEEDBACK_WRAP = 74
FOOTER_WRAP = 130


def write_pdf(inp: ReportInput, path: str | Path) -> None:
    """A4 pages with matplotlib's PdfPages: header, totals, trace, every hold (continued on more pages
    when they do not fit), advice, before/after, data quality; the guidance, safety lines and
    "page n of N" in every page's footer. Text is embedded as TrueType (selectable, searchable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context({"pdf.fonttype": 42}):
        pages = _PdfPages(inp)
        try:
            pages.draw_all()
            try:
                with PdfPages(path, metadata={"Title": f"{inp.title}", "Creator": f"holdsense {__version__}"}) as pdf:
                    for fig in pages.figs:
                        pdf.savefig(fig)
            except OSError as exc:
                raise UserError(f"{path}: cannot write report ({exc.strerror or exc})") from None
        finally:
            for fig in pages.figs:
                plt.close(fig)


#: `code` spans in report text (the HTML shows them as <code>, the PDF in quotes)
_CODE = re.compile(r"`([^`]+)`")


def _join_lines(items: list[str], sep: str, width: int) -> list[str]:
    """Items joined with `sep` into lines of at most `width` characters (an item longer than that alone)."""
    lines: list[str] = []
    for it in items:
        if lines and len(lines[-1]) + len(sep) + len(it) <= width:
            lines[-1] += sep + it
        else:
            lines.append(it)
    return lines


class _PdfPages:
    """Top-down layout over as many A4 pages as the content needs (y in inches from the page top)."""

    def __init__(self, inp: ReportInput) -> None:
        self.inp = inp
        self.W, self.H, self.m = PAGE_W_IN, PAGE_H_IN, PDF_MARGIN_IN
        foot = ("Guidance: be patient: hold a tight spot 30 s to a few minutes with light, sustained pressure; "
                "don't just roll around; a related limb may move while holding; test the area before and after. "
                + " ".join(SAFETY_LINES))
        self.footer_lines = textwrap.wrap(foot, FOOTER_WRAP)
        self.footer_h = 0.13 * (len(self.footer_lines) + 1) + 0.12
        self.figs: list[Any] = []
        self.fig: Any = None
        self.y = self.m

    # -- page mechanics
    @property
    def bottom(self) -> float:
        return self.H - self.m - self.footer_h

    def new_page(self) -> None:
        import matplotlib.pyplot as plt

        self.fig = plt.figure(figsize=(self.W, self.H))
        self.figs.append(self.fig)
        self.y = self.m
        if len(self.figs) > 1:  # a continuation page says whose report it is
            who = " · ".join(x for x in (self.inp.client, self._source()) if x)
            self.text(self.m, f"{self.inp.title} (continued) · {who}", size=8.5, color="#5a6b7b", dy=0.3)

    def ensure(self, h_in: float) -> bool:
        """Start a new page unless `h_in` more inches fit on this one; True when a page was started."""
        if self.y + h_in > self.bottom:
            self.new_page()
            return True
        return False

    def text(self, x_in: float, s: str, size: float = 8.5, dy: float | None = None, y_in: float | None = None,
             **kw: Any) -> None:
        y = self.y if y_in is None else y_in
        s = _CODE.sub(r"“\1”", s)  # `code` as the HTML's <code>: no literal backticks in the PDF
        self.fig.text(x_in / self.W, 1 - y / self.H, s, fontsize=size, va="top", **kw)
        if y_in is None:
            self.y += dy if dy is not None else size / 72 * 1.45

    def _source(self) -> str:
        return Path(str(self.inp.analysis.get("source") or "recording")).name

    # -- content
    def draw_all(self) -> None:
        self.new_page()
        self.header()
        self.totals()
        self.trace()
        self.holds()
        self.advice_and_tests()
        self.quality()
        self.footers()

    def header(self) -> None:
        inp, md = self.inp, self.inp.metadata
        self.text(self.m, inp.title, size=16, weight="bold", color=FORCE_COLOR, dy=0.34)
        if inp.client:
            self.text(self.m, f"Client: {inp.client}", size=10.5, weight="bold", color="#1b2733", dy=0.22)
        bits = [f"Recording {self._source()}"]
        if md.get("started_utc"):
            bits.append(f"started {local_time(md['started_utc'])}")
        if inp.region_name:
            bits.append(f"region {inp.region_name}")
        if inp.body_mass_kg:
            bits.append(f"body mass {format_body_mass(inp.body_mass_kg, inp.units)}")
        for ln in _join_lines(bits, " · ", 110):  # break between items, never inside one
            self.text(self.m, ln, size=8.5, color="#5a6b7b", dy=0.17)
        self.y += 0.1

    def totals(self) -> None:
        tl = totals(self.inp)
        col_w = (self.W - 2 * self.m) / len(tl)
        y = self.y
        for i, (label, value, note) in enumerate(tl):
            x = self.m + i * col_w
            self.text(x, label.upper(), size=5.6, color="#5a6b7b", y_in=y)
            self.text(x, value, size=13 if i == 0 else 10, weight="bold", y_in=y + 0.13,
                      color=score_color(session_score(self.inp.analysis)) if i == 0 else "#1b2733")
            self.text(x, note, size=5.4, color="#6b7b8b", y_in=y + 0.36)
        self.y = y + 0.58

    def trace(self) -> None:
        trace_h = 2.6
        # the legend sits above the axes (0.35 in), tick labels and the x label below (0.4 in)
        top, bottom = self.y + 0.35, self.y + trace_h - 0.4
        W, H = self.W, self.H
        left = self.m + 0.62  # room for the tick labels and the y label inside the margin
        ax = self.fig.add_axes((left / W, 1 - bottom / H, (W - self.m - 0.05 - left) / W, (bottom - top) / H))
        draw_trace(ax, self.inp, compact=True, right_in=W - self.m)
        leg = ax.get_legend()
        if leg is not None:
            # a legend of three rows (a session with every verdict: fairly firm, too short, too hard, cut
            # off) is taller than the 0.35 in: the axes move down under it, or it covered the totals' notes
            leg_h = leg.get_window_extent(self.fig.canvas.get_renderer()).height / self.fig.dpi
            extra = max(0.0, leg_h + 0.03 - 0.35)
            if extra:
                top, bottom, trace_h = top + extra, bottom + extra, trace_h + extra
                ax.set_position((left / W, 1 - bottom / H, (W - self.m - 0.05 - left) / W, (bottom - top) / H))
        self.y += trace_h + 0.1

    _COLS = ((0.0, "#"), (0.3, "start"), (0.75, "held"), (1.2, "mean force"), (2.4, "same spot"), (2.95, "score"),
             (3.35, "grade / feedback"))

    def _table_head(self, has_spot: bool) -> None:
        for x, label in self._COLS:
            if label != "same spot" or has_spot:
                self.text(self.m + x, label, size=7, color="#5a6b7b", dy=0)
        self.y += 0.17

    def holds(self) -> None:
        holds = self.inp.holds
        self.ensure(0.6)
        self.text(self.m, "Holds", size=11, weight="bold", color=FORCE_COLOR, dy=0.24)
        if not holds:
            self.text(self.m, "No holds in this session: find a tender spot and stay on it for 30 s or more.", dy=0.2)
            return
        same = _same_spot(self.inp)
        has_spot = same is not None
        self._table_head(has_spot)
        xs = [self.m + x for x, _ in self._COLS]
        for i, h in enumerate(holds, 1):
            fb = [str(x) for x in (h.get("feedback") or [])]
            lines = [str(h.get("grade") or "")]
            for x in fb:
                wrapped = textwrap.wrap(x, FEEDBACK_WRAP - 2) or [""]
                lines += ["• " + wrapped[0]] + ["   " + w for w in wrapped[1:]]
            need = LINE_IN * len(lines) + 0.07
            if self.ensure(need):
                self.text(self.m, f"Holds (continued, from #{i})", size=11, weight="bold", color=FORCE_COLOR,
                          dy=0.24)
                self._table_head(has_spot)
            y0 = self.y
            cells = [str(i), mmss(h.get("start_s")), _num(h.get("duration_s"), "{:.0f} s"),
                     _force_label(self.inp, h.get("mean_force_n")),
                     same[i - 1] if same is not None else ""]
            for x, val in zip(xs[:5], cells):
                self.text(x, val, size=8, y_in=y0)
            self.text(xs[5], shown_score(h), size=9, weight="bold", color=hold_color(h), y_in=y0)
            for k, ln in enumerate(lines):
                self.text(xs[6], ln, size=8 if k == 0 else 7.2, weight="bold" if k == 0 else "normal",
                          color="#1b2733" if k == 0 else "#37474f", dy=LINE_IN)
            self.y += 0.07

    def _advice_lines(self) -> list[str]:
        out = []
        for x in (self.inp.advice or ["No advice: a well-paced session."]):
            for k, ln in enumerate(textwrap.wrap(str(x), 56)):
                out.append(("• " if k == 0 else "   ") + ln)
        return out

    def advice_and_tests(self) -> None:
        inp = self.inp
        advice = self._advice_lines()
        ch = inp.change
        rows: list[tuple[str, str, str, str]] = []
        if ch is not None:
            b, af = inp.before or MovementTest(), inp.after or MovementTest()
            rows = [("Pain (0–10)", _num(b.pain_0_10), _num(af.pain_0_10), _num(ch.pain_delta, "{:+.0f}")),
                    ("Range of motion", b.rom_words or "–", af.rom_words or "–", _rom_change(ch)),
                    ("Ease (0–10)", _num(b.ease_0_10), _num(af.ease_0_10), _num(ch.ease_delta, "{:+.0f}"))]
            rows = [r for r in rows if not (r[1] == "–" and r[2] == "–")]
            verdict = textwrap.wrap(ch.lines[-1], 50) if ch.lines else []
            cells = [[textwrap.wrap(v, 16 if k else 26) or [""] for k, v in enumerate(r)] for r in rows]
            right_h = 0.24 + 0.16 + sum(0.05 + 0.135 * max(len(c) for c in cs) for cs in cells) + 0.17 * len(verdict)
        else:
            none = textwrap.wrap("No before/after test recorded for this recording. A guided `holdsense session` "
                                 "asks for one and keeps it in the history.", 56)
            right_h = 0.24 + LINE_IN * len(none)
        left_h = 0.24 + LINE_IN * len(advice)
        self.y += 0.12
        self.ensure(max(left_h, right_h) + 0.05)
        y_cols = self.y
        self.text(self.m, "Advice", size=11, weight="bold", color=FORCE_COLOR, dy=0.24)
        for ln in advice:
            self.text(self.m, ln, size=7.8, dy=LINE_IN)
        y_left = self.y
        self.y = y_cols
        x2 = self.W / 2 + 0.1
        self.text(x2, "Before / after test", size=11, weight="bold", color=FORCE_COLOR, dy=0.24)
        if ch is None:
            for ln in none:
                self.text(x2, ln, size=7.8, color="#5a6b7b", dy=LINE_IN)
        else:
            xs = (x2, x2 + 1.25, x2 + 2.15, x2 + 3.0)
            for x, lab in zip(xs, ("", "before", "after", "change")):
                self.text(x, lab, size=7, color="#5a6b7b", y_in=self.y)
            self.y += 0.16
            for cs in cells:
                for x, c in zip(xs, cs):
                    self.text(x, "\n".join(c), size=7.8, y_in=self.y, linespacing=1.15)
                self.y += 0.05 + 0.135 * max(len(c) for c in cs)
            for ln in verdict:
                self.text(x2, ln, size=8, weight="bold", dy=0.17)
        self.y = max(self.y, y_left) + 0.1

    def quality(self) -> None:
        q = dict(self.inp.analysis.get("quality") or {})
        bits = []
        if q.get("sample_rate_hz"):
            bits.append(f"{float(q['sample_rate_hz']):.1f} Hz")
        bits.append(plural(int(q.get('gaps') or 0), "gap"))
        bits.append(plural(int(q.get('saturated_samples') or 0), "saturated sample"))
        warn = [str(w) for w in (q.get("warnings") or [])]
        # the warnings joined by '; ' as in `analyze`'s text report, not run together
        text = "Data quality: " + ", ".join(bits) + "." + (" " + "; ".join(warn) + _stop(warn) if warn else "")
        lines = textwrap.wrap(text, 125)
        self.ensure(LINE_IN * len(lines) + 0.05)
        for ln in lines:
            self.text(self.m, ln, size=7.2, color="#5a6b7b", dy=0.14)

    def footers(self) -> None:
        n = len(self.figs)
        for k, fig in enumerate(self.figs, 1):
            self.fig = fig
            last = f"holdsense {__version__} · analysis {self.inp.analysis.get('format', '')}" + (
                f" · {self.inp.history_note}" if self.inp.history_note else "") + f" · page {k} of {n}"
            lines = self.footer_lines + [last]
            y = self.H - self.m - 0.13 * len(lines)
            for ln in lines:
                self.text(self.m, ln, size=6.3, color="#6b7b8b", y_in=y)
                y += 0.13


def write_report(inp: ReportInput, out: str | Path) -> str:
    """Write HTML or PDF by the output's suffix; returns the kind written."""
    suffix = Path(out).suffix.lower()
    if suffix in (".html", ".htm"):
        write_html(inp, out)
        return "html"
    if suffix == ".pdf":
        write_pdf(inp, out)
        return "pdf"
    raise UserError(f"{out}: unknown report type '{suffix or '(none)'}' (use .html or .pdf)")
