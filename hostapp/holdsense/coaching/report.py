"""One-page session report a lab can hand out: HTML (self-contained) or PDF.

Input is the holdsense-analysis/1 object (contracts.md §3) plus, when at hand,
the recording's samples (for the trace) and the before/after tests (from the
session history). Output:
- HTML: one file, no external resources (the trace is an embedded PNG), A4
  print styles so "print to PDF" from a browser also gives one page;
- PDF: one A4 page drawn with matplotlib's PdfPages (no browser needed).

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
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .flow import SAFETY_LINES, MovementTest, TestChange, compare_tests, find_region
from ..errors import UserError

HOLD_COLOR = "#2e9d5b"
ROLL_COLOR = "#f0a23b"
FORCE_COLOR = "#1f3b57"
MAX_PLOT_POINTS = 3000  # min/max envelope above this: keeps the PNG small and every peak visible


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

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.analysis.get("holds") or [])

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.analysis.get("summary") or {})

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


def _num(v: Any, fmt: str = "{:.0f}", none: str = "–") -> str:
    if v is None:
        return none
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return none if not math.isfinite(f) else fmt.format(f)


def score_color(score: float | None) -> str:
    """Green / amber / red by score (the same bands in HTML and PDF)."""
    if score is None:
        return "#777777"
    if score >= 75:
        return "#1e7d45"
    if score >= 50:
        return "#b7791f"
    return "#c0392b"


def totals(inp: ReportInput) -> list[tuple[str, str, str]]:
    """The session totals as (label, value, small note) triples, in the order shown."""
    s = inp.summary
    dur = s.get("duration_s")
    holds = inp.holds
    n = s.get("holds", len(holds))
    return [
        ("Session score", _num(s.get("session_score")), "of 100"),
        ("Duration", mmss(dur), "whole recording"),
        ("Holding", mmss(s.get("hold_s")), f"{_pct(s.get('hold_s'), dur)} of session"),
        ("Rolling", mmss(s.get("roll_s")), f"{_pct(s.get('roll_s'), dur)} of session"),
        ("Off the roller", mmss(s.get("off_s")), f"{_pct(s.get('off_s'), dur)} of session"),
        ("Holds", _num(n), "loaded and still ≥ 5 s"),
        ("Holds ≥ 30 s", _num(s.get("holds_over_30s")), "release window"),
        ("Longest hold", mmss(max((h.get("duration_s") or 0.0 for h in holds), default=None)), "min:s"),
    ]


def _force_label(inp: ReportInput, force_n: Any) -> str:
    f = _num(force_n, "{:.0f} N")
    m = inp.body_mass_kg
    if m and force_n is not None:
        f += f" ({100.0 * float(force_n) / (m * 9.81):.0f} % BW)"
    return f


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


def draw_trace(ax: Any, inp: ReportInput, *, compact: bool = False) -> None:
    """Force over time, hold/roll segments shaded, each hold labelled '#n score'."""
    from matplotlib.patches import Patch

    segs = list(inp.analysis.get("segments") or [])
    t_end = float(inp.summary.get("duration_s") or 0.0)
    if inp.samples is not None and len(inp.samples):
        t = np.asarray(inp.samples.t_s, dtype=float)
        f = np.asarray(inp.samples.force_n, dtype=float)
        t_end = max(t_end, float(t[-1]))
        tp, fp = _envelope(t, f, MAX_PLOT_POINTS)
        ax.plot(tp / 60.0, fp, color=FORCE_COLOR, lw=0.7, label="force")
        f_top = float(np.nanpercentile(f, 99.5)) if np.isfinite(f).any() else 1.0
    else:
        f_top = max((float(h.get("mean_force_n") or 0) for h in inp.holds), default=100.0) * 1.6
        ax.text(0.5, 0.5, "trace not available (recording not found)", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    for s in segs:
        kind = s.get("kind")
        if kind in ("hold", "roll"):
            ax.axvspan(float(s["start_s"]) / 60, float(s["end_s"]) / 60, lw=0,
                       color=HOLD_COLOR if kind == "hold" else ROLL_COLOR, alpha=0.22 if kind == "hold" else 0.16)
    y_top = max(f_top, 1.0) * 1.22
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), y_top)
    for i, h in enumerate(inp.holds, 1):
        mid = (float(h["start_s"]) + float(h["end_s"])) / 2 / 60
        score = h.get("score")
        ax.text(mid, y_top * 0.97, f"#{i}\n{_num(score)}", ha="center", va="top",
                fontsize=6.5 if compact else 7.5, color=score_color(score), fontweight="bold")
    if t_end > 0:
        ax.set_xlim(0, t_end / 60)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("force (N)")
    ax.grid(alpha=0.25, lw=0.5)
    handles = [Patch(color=HOLD_COLOR, alpha=0.4, label="hold (#n = hold, score)"),
               Patch(color=ROLL_COLOR, alpha=0.35, label="roll / re-position")]
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=7, frameon=False,
              borderaxespad=0.2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def trace_png(inp: ReportInput, width_in: float = 10.0, height_in: float = 2.9, dpi: int = 150) -> bytes:
    """The trace figure as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, height_in), layout="constrained")
    try:
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
    advice = sum(math.ceil(len(str(x)) / 55) for x in (inp.summary.get("advice") or []))
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
    if md.get("started_utc"):
        sub_bits.append(f"started {e(str(md['started_utc']))}")
    if inp.region_name:
        sub_bits.append(f"region <b>{e(inp.region_name)}</b>")
    if inp.body_mass_kg:
        sub_bits.append(f"body mass {inp.body_mass_kg:g} kg")
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
        style = f' style="color:{score_color(inp.summary.get("session_score"))}"' if i == 0 else ""
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
        has_spot = any(h.get("spot_cm") is not None for h in holds)
        parts.append('<table class="holds"><thead><tr><th>#</th><th class="num">start</th>'
                     '<th class="num">held</th><th class="num">mean force</th>'
                     + ('<th class="num">spot</th>' if has_spot else "")
                     + '<th class="num">score</th><th>grade and feedback</th></tr></thead><tbody>')
        for i, h in enumerate(holds, 1):
            fb = list(h.get("feedback") or [])
            if max_fb is not None and len(fb) > max_fb:
                fb = fb[:max_fb] + [f"(+{len(fb) - max_fb} more: holdsense analyze)"]
            fb_html = "<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in fb) + "</ul>" if fb else ""
            spot = f'<td class="num">{_num(h.get("spot_cm"), "{:.0f} cm")}</td>' if has_spot else ""
            parts.append(
                f'<tr class="hold"><td>{i}</td><td class="num">{mmss(h.get("start_s"))}</td>'
                f'<td class="num">{_num(h.get("duration_s"), "{:.0f} s")}</td>'
                f'<td class="num">{e(_force_label(inp, h.get("mean_force_n")))}</td>{spot}'
                f'<td class="score" style="color:{score_color(h.get("score"))}">{_num(h.get("score"))}</td>'
                f'<td class="fb"><b class="grade">{e(str(h.get("grade") or ""))}</b>{fb_html}</td></tr>')
        parts.append("</tbody></table>")
    parts.append("</section>")

    # advice + before/after side by side
    parts.append('<div class="cols"><section id="advice"><h2>Advice</h2>')
    advice = list(inp.summary.get("advice") or [])
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
    qbits.append(f"{int(q.get('gaps') or 0)} gap(s)")
    qbits.append(f"{int(q.get('saturated_samples') or 0)} saturated sample(s)")
    warn = [str(w) for w in (q.get("warnings") or [])]
    parts.append(f'<p class="note" id="quality">Data quality: {e(", ".join(qbits))}.'
                 + "".join(f' <span class="warn">{e(w)}</span>' for w in warn) + "</p>")

    parts.append("<footer><p><b>Guidance:</b> be patient: hold a tight spot 30 s to a few minutes with light, "
                 "sustained pressure; don't just roll around; a related limb may move while holding; test the "
                 "area before and after (self-myofascial-release guidance; see docs/coaching.md). "
                 f"{e(' '.join(SAFETY_LINES))}</p>"
                 f"<p>holdsense {e(__version__)} · analysis {e(str(a.get('format', '')))}"
                 + (f" · {e(inp.history_note)}" if inp.history_note else "") + "</p></footer>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _before_after_html(inp: ReportInput) -> str:
    e = html.escape
    ch = inp.change
    if ch is None:
        return ("<p class=\"note\">No before/after test recorded for this recording. A guided "
                "<code>holdsense session</code> asks for one and keeps it in the history.</p>")
    b, a = inp.before or MovementTest(), inp.after or MovementTest()
    mv = b.movement or a.movement
    rows = [("Pain (0–10)", _num(b.pain_0_10), _num(a.pain_0_10), _num(ch.pain_delta, "{:+.0f}")),
            ("Range of motion", b.rom_words or "–", a.rom_words or "–", _num(ch.rom_delta_deg, "{:+.0f}°")),
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

def write_pdf(inp: ReportInput, path: str | Path) -> None:
    """One A4 page with matplotlib's PdfPages: header, totals, trace, holds, advice, before/after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    W, H = 8.27, 11.69  # A4 in inches
    fig = plt.figure(figsize=(W, H))
    try:
        _draw_pdf_page(fig, inp, W, H)
        try:
            with PdfPages(path, metadata={"Title": f"{inp.title}", "Creator": f"holdsense {__version__}"}) as pdf:
                pdf.savefig(fig)
        except OSError as exc:
            raise UserError(f"{path}: cannot write report ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


class _Cursor:
    """Top-down text layout on a figure, in inches from the top."""

    def __init__(self, fig: Any, W: float, H: float, margin_in: float = 0.55) -> None:
        self.fig, self.W, self.H, self.m = fig, W, H, margin_in
        self.y = margin_in

    def text(self, x_in: float, s: str, size: float = 8.5, dy: float | None = None, **kw: Any) -> None:
        self.fig.text(x_in / self.W, 1 - self.y / self.H, s, fontsize=size, va="top", **kw)
        self.y += dy if dy is not None else size / 72 * 1.45

    def room(self) -> float:
        return self.H - self.m - self.y


def _draw_pdf_page(fig: Any, inp: ReportInput, W: float, H: float) -> None:
    c = _Cursor(fig, W, H)
    m = c.m
    a, md = inp.analysis, inp.metadata
    source = Path(str(a.get("source") or "recording")).name
    c.text(m, inp.title, size=16, weight="bold", color=FORCE_COLOR, dy=0.32)
    bits = [f"Recording {source}"]
    if md.get("started_utc"):
        bits.append(f"started {md['started_utc']}")
    if inp.region_name:
        bits.append(f"region {inp.region_name}")
    if inp.body_mass_kg:
        bits.append(f"body mass {inp.body_mass_kg:g} kg")
    c.text(m, " · ".join(bits), size=8.5, color="#5a6b7b", dy=0.3)

    # totals strip
    tl = totals(inp)
    col_w = (W - 2 * m) / len(tl)
    for i, (label, value, note) in enumerate(tl):
        x = m + i * col_w
        fig.text(x / W, 1 - c.y / H, label.upper(), fontsize=6, color="#5a6b7b", va="top")
        fig.text(x / W, 1 - (c.y + 0.13) / H, value, fontsize=13 if i == 0 else 10, va="top", weight="bold",
                 color=score_color(inp.summary.get("session_score")) if i == 0 else "#1b2733")
        fig.text(x / W, 1 - (c.y + 0.36) / H, note, fontsize=5.8, color="#6b7b8b", va="top")
    c.y += 0.55

    # trace
    trace_h = 2.45
    # axes from 0.25 in below the cursor (legend above) to 0.4 in above the trace's bottom (ticks, x label)
    ax = fig.add_axes((m / W + 0.06, 1 - (c.y + trace_h - 0.4) / H, (W - 2 * m) / W - 0.07, (trace_h - 0.65) / H))
    draw_trace(ax, inp, compact=True)
    c.y += trace_h + 0.1

    # holds
    c.text(m, "Holds", size=11, weight="bold", color=FORCE_COLOR, dy=0.22)
    holds = inp.holds
    if not holds:
        c.text(m, "No holds in this session: find a tender spot and stay on it for 30 s or more.", dy=0.2)
    has_spot = any(h.get("spot_cm") is not None for h in holds)
    cols = [(m, "#"), (m + 0.3, "start"), (m + 0.75, "held"), (m + 1.2, "mean force"), (m + 2.3, "spot"),
            (m + 2.75, "score"), (m + 3.15, "grade / feedback")]
    if holds:
        for x, label in cols:
            if label != "spot" or has_spot:
                c.text(x, label, size=7, color="#5a6b7b", dy=0)
        c.y += 0.16
    wrap_chars = 88
    reserve_in = 2.1  # keep room for advice, before/after and footer
    shown = 0
    for i, h in enumerate(holds, 1):
        fb = [str(x) for x in (h.get("feedback") or [])]
        lines = [str(h.get("grade") or "")] + [ln for x in fb for ln in textwrap.wrap("• " + x, wrap_chars)]
        need = 0.15 * len(lines) + 0.06
        if c.room() - need < reserve_in:
            lines = lines[:2]
            need = 0.15 * len(lines) + 0.06
            if c.room() - need < reserve_in:
                break
        y0 = c.y
        for x, val in zip([cx for cx, _ in cols[:5]],
                          [str(i), mmss(h.get("start_s")), _num(h.get("duration_s"), "{:.0f} s"),
                           _force_label(inp, h.get("mean_force_n")),
                           _num(h.get("spot_cm"), "{:.0f} cm") if has_spot else ""]):
            c.y = y0
            c.text(x, val, size=8, dy=0)
        c.y = y0
        c.text(cols[5][0], _num(h.get("score")), size=9, weight="bold", color=score_color(h.get("score")), dy=0)
        for k, ln in enumerate(lines):
            c.text(cols[6][0], ln, size=8 if k == 0 else 7.2, weight="bold" if k == 0 else "normal",
                   color="#1b2733" if k == 0 else "#37474f", dy=0.15)
        c.y += 0.06
        shown += 1
    if shown < len(holds):
        c.text(m, f"… and {len(holds) - shown} more hold(s): see the HTML report or `holdsense analyze`.",
               size=7.5, color="#5a6b7b", dy=0.2)

    # advice (left) and before/after (right)
    c.y += 0.1
    y_cols = c.y
    c.text(m, "Advice", size=11, weight="bold", color=FORCE_COLOR, dy=0.22)
    for x in (inp.summary.get("advice") or ["No advice: a well-paced session."]):
        for k, ln in enumerate(textwrap.wrap(str(x), 58)):
            c.text(m, ("• " if k == 0 else "  ") + ln, size=7.8, dy=0.15)
    y_left = c.y
    c.y = y_cols
    x2 = W / 2 + 0.1
    c.text(x2, "Before / after test", size=11, weight="bold", color=FORCE_COLOR, dy=0.22)
    ch = inp.change
    if ch is None:
        for ln in textwrap.wrap("No before/after test recorded for this recording. A guided `holdsense session` "
                                "asks for one and keeps it in the history.", 58):
            c.text(x2, ln, size=7.8, color="#5a6b7b", dy=0.15)
    else:
        b, af = inp.before or MovementTest(), inp.after or MovementTest()
        for x, lab in ((x2, ""), (x2 + 1.0, "before"), (x2 + 2.0, "after"), (x2 + 3.0, "change")):
            c.text(x, lab, size=7, color="#5a6b7b", dy=0)
        c.y += 0.15
        for lab, bv, av, d in (("Pain (0–10)", _num(b.pain_0_10), _num(af.pain_0_10), _num(ch.pain_delta, "{:+.0f}")),
                               ("Range of motion", b.rom_words or "–", af.rom_words or "–",
                                _num(ch.rom_delta_deg, "{:+.0f}°")),
                               ("Ease (0–10)", _num(b.ease_0_10), _num(af.ease_0_10), _num(ch.ease_delta, "{:+.0f}"))):
            y0, nl = c.y, 1
            for x, v in ((x2, lab), (x2 + 1.0, bv), (x2 + 2.0, av), (x2 + 3.0, d)):
                wrapped = textwrap.wrap(v, 19 if x > x2 else 30) or [""]
                nl = max(nl, len(wrapped))
                fig.text(x / W, 1 - y0 / H, "\n".join(wrapped), fontsize=7.8, va="top", linespacing=1.15)
            c.y = y0 + 0.05 + 0.135 * nl
        for ln in textwrap.wrap(ch.lines[-1], 60):
            c.text(x2, ln, size=8, weight="bold", dy=0.16)
    c.y = max(c.y, y_left) + 0.1

    # footer at the bottom of the page
    foot = ("Guidance: be patient: hold a tight spot 30 s to a few minutes with light, sustained pressure; don't just "
            "roll around; a related limb may move while holding; test the area before and after. "
            + " ".join(SAFETY_LINES))
    lines = textwrap.wrap(foot, 150) + [f"holdsense {__version__}" + (f" · {inp.history_note}" if inp.history_note else "")]
    c.y = H - m - 0.13 * len(lines)
    for ln in lines:
        c.text(m, ln, size=6.3, color="#6b7b8b", dy=0.13)


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
