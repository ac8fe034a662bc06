"""Figures that explain a session: shared by `analyze --plot` and the report's trace.

What a reader should see at a glance, and how it is drawn:
- **gaps as gaps**: where the samples stop for longer than the resampler bridges
  (`GAP_S`), the line breaks and the span is hatched "no data"; no segment colour
  is drawn across it (no fake ramps, no rolling slivers over missing data);
- **the light-pressure band**: 10 % of body weight up to the scoring profile's
  `light_max_of_body` (25 % in be-patient), when the body mass is known;
- **the 30 s mark** (the profile's `release_s`): a dashed line `release_s` after
  the start of every hold that lasted that long (a shorter hold gets none: the
  line would fall in whatever followed it, as if 30 s had been reached there);
- **holds coloured by verdict**, the same judgement as the hold's feedback: light
  pressure and long enough (green), fairly firm (brown), too short (amber), too
  hard (red), from the hold's grade and pressure feedback (rollsignal's Scorer);
  every verdict but "good" is also hatched (`VERDICT_HATCHES`), in the plot and
  its legend, so the verdicts differ without colour (red-green colour blindness,
  grey-scale printing); each hold's label shows its score as every output shows
  it (holdsense.verdict: "–" for a hold cut off short), in its tone's text
  colour, dark enough on white (WCAG AA);
- **spikes above the scale** (spurious ADC codes) clipped at the top edge, each
  marked with a red x (legend: "spike (clipped)");
- **position in cm**, like the text: angle x shell radius (rollsignal's
  `SHELL_RADIUS_CM`), from the point of first contact, so a hold's `spot_cm` is
  its level on this axis (each hold's spot drawn as a short bar).

Artists carry a `gid` ("gap", "light-band", "release-mark", "hold-good", ...) so
tests can find them in the figure.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import verdict
from .fmt import plural  # ("1 hold", "2 holds"; importable from here as before)

#: Longest stretch without samples drawn as continuous (s): rollsignal's resampler bridges up to 0.35 s
#: (Resampler.max_interp_s); anything longer is missing data, drawn as a gap.
GAP_S = 0.35
#: Lower edge of the light-pressure band as a fraction of body weight (domain.md: light = 10-25 % BW);
#: the upper edge is the profile's `light_max_of_body`.
LIGHT_MIN_OF_BODY = 0.10
G_N_PER_KG = 9.80665

VERDICT_COLOURS = {"good": "#2ca25f", "firm": "#8c510a", "short": "#f0a202", "hard": "#d7301f", "cut": "#8c8c8c"}
#: Legend words ({rel}: the profile's release window in s).
VERDICT_LABELS = {"good": "hold: light, {rel} s reached", "firm": "hold: fairly firm",
                  "short": "hold: too short (< {rel} s)", "hard": "hold: too hard",
                  "cut": "hold: cut off (link lost or recording ended)"}
#: A hatch per verdict (None: plain), so a reader who cannot tell the colours apart (deuteranopia turns the
#: green "good" and the red "too hard" into the same khaki) still can; "////" is the gaps'.
VERDICT_HATCHES = {"good": None, "firm": "--", "short": "..", "hard": "xx", "cut": "++"}
HATCH_ALPHA = 0.6  # the hatch lines: darker than the 1/3-transparent fill, lighter than the force trace
CLIP_COLOUR = "#cb181d"
ROLL_COLOUR = "#9ecae1"
OFF_COLOUR = "#f4f4f4"
BAND_COLOUR = "#525252"  # neutral grey: reads as a zone over any segment colour
FORCE_COLOUR = "#08306b"
POSITION_COLOUR = "#54278f"
#: One colour per segment kind for label/detector strips (the labelling window, evaluate --plot); "off" a
#: shade darker than OFF_COLOUR so an off bar stands out on white.
KIND_COLOURS = {"hold": VERDICT_COLOURS["good"], "roll": ROLL_COLOUR, "off": "#d9d9d9", "other": "#9e9ac8"}


_KINDS = {"too_hard": "hard", "too_short": "short", "not_judged": "cut", "firm": "firm", None: "good"}


def hold_kind(hold: dict[str, Any]) -> str:
    """'hard', 'short', 'cut', 'firm' or 'good': how a hold's span is filled and hatched, from the one verdict
    every output shares (holdsense.verdict.hold_verdict: the Scorer's grade, 'cut' for a hold cut off under
    the release window by a lost link or the recording's end, its length not judged, and 'firm' when its
    `pressure` is fairly firm), so the colour never says "good" where the feedback says "lighten up"."""
    return _KINDS[verdict.hold_verdict(hold)]


def _profile(profile: Any) -> Any:
    import rollsignal

    return profile if profile is not None else rollsignal.load_profile()


def release_s(profile: Any = None) -> float:
    """The profile's release window (s): 30 s in be-patient."""
    return float(_profile(profile).criteria["duration"]["release_s"])


def light_band_n(body_mass_kg: float | None, profile: Any = None) -> tuple[float, float] | None:
    """(low, high) force in N of light pressure for this body mass; None without a body mass."""
    if not body_mass_kg:
        return None
    pr = _profile(profile).criteria["pressure"]
    w = float(body_mass_kg) * G_N_PER_KG
    return float(pr.get("light_min_of_body", LIGHT_MIN_OF_BODY)) * w, float(pr["light_max_of_body"]) * w


def gap_spans(t_s: np.ndarray, max_gap_s: float = GAP_S) -> list[tuple[float, float]]:
    """(last sample before, first sample after) of every stretch longer than `max_gap_s` without samples."""
    t = np.asarray(t_s, dtype=float)
    if len(t) < 2:
        return []
    dt = np.diff(t)
    idx = np.flatnonzero(dt > max_gap_s)
    return [(float(t[i]), float(t[i + 1])) for i in idx]


def break_at_gaps(t: np.ndarray, y: np.ndarray, gaps: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """t, y with a NaN point inside each gap, so a line plot breaks there instead of ramping across."""
    if not gaps or not len(t):
        return t, y
    mids = np.array([(a + b) / 2 for a, b in gaps])
    at = np.searchsorted(t, mids)
    return np.insert(np.asarray(t, float), at, mids), np.insert(np.asarray(y, float), at, np.nan)


def _gap_edges(gaps: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the gaps sorted by start, overlapping or touching ones merged (so that each
    span can be cut by a binary search instead of a pass over every gap)."""
    g = np.asarray(gaps, dtype=float).reshape(-1, 2)
    if not len(g):
        return np.empty(0), np.empty(0)
    g = g[np.argsort(g[:, 0], kind="stable")]
    reach = np.maximum.accumulate(g[:, 1])
    first = np.ones(len(g), bool)
    first[1:] = g[1:, 0] > reach[:-1]
    idx = np.flatnonzero(first)
    return g[idx, 0], np.maximum.reduceat(g[:, 1], idx)


def _minus_sorted(start: float, end: float, gs: np.ndarray, ge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(part starts, part ends) of [start, end] outside the disjoint sorted gaps [gs, ge]."""
    lo = int(np.searchsorted(ge, start, side="right"))  # the first gap ending after start
    hi = int(np.searchsorted(gs, end, side="left"))  # and the last starting before end
    if lo >= hi:
        return (np.array([start]), np.array([end])) if end > start else (np.empty(0), np.empty(0))
    a = np.concatenate(([start], ge[lo:hi]))
    b = np.concatenate((gs[lo:hi], [end]))
    keep = b > a
    return a[keep], b[keep]


#: Gaps per path of the hatched gap collection: Agg renders a hatch's pattern tile once per path, which for
#: 5000 one-gap paths took 3.6 s per axes; a compound path per 100 gaps takes 0.2 s (and one path of every
#: gap 0.8 s: a polygon with thousands of edges rasterises slowly).
HATCH_SPANS_PER_PATH = 100


def vspans(ax: Any, x0: np.ndarray, x1: np.ndarray, *, gid: str, zorder: float, per_path: int = 1,
           **style: Any) -> Any:
    """Spans [x0[i], x1[i]] (data x) over the axes' full height as one collection: what one `ax.axvspan`
    each draws, in one artist. A recording with thousands of short link gaps made thousands of patches,
    each transformed and drawn on its own: minutes to render (bench/plot_gaps.py). `per_path` > 1 puts
    that many spans in each path (a compound path: for hatching, HATCH_SPANS_PER_PATH)."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.path import Path

    x0 = np.asarray(x0, dtype=float)
    x1 = np.asarray(x1, dtype=float)
    verts = np.empty((len(x0), 4, 2))
    verts[:, 0, 0] = verts[:, 3, 0] = x0  # (x0, 0) (x1, 0) (x1, 1) (x0, 1), as axvspan's rectangle
    verts[:, 1, 0] = verts[:, 2, 0] = x1
    verts[:, :2, 1] = 0.0
    verts[:, 2:, 1] = 1.0
    tr = ax.get_xaxis_transform()
    if per_path > 1:
        paths = [Path.make_compound_path_from_polys(verts[i:i + per_path]) for i in range(0, len(verts), per_path)]
        coll = PathCollection(paths, transform=tr, zorder=zorder, **style)
    else:
        coll = PolyCollection(verts, closed=True, transform=tr, zorder=zorder, **style)
    coll.set_gid(gid)
    ax.add_collection(coll, autolim=False)
    if len(x0):  # the x data limits as axvspan sets them (the height is the axes', not data)
        ax.update_datalim(np.column_stack((np.concatenate((x0, x1)), np.zeros(2 * len(x0)))), updatey=False)
        ax.autoscale_view(scaley=False)
    return coll


def position_cm(t_s: np.ndarray, angle_deg: np.ndarray, segments: Sequence[dict[str, Any]],
                shell_radius_cm: float | None = None) -> np.ndarray:
    """Roller position along the roll path (cm): angle x shell radius, zero at the first contact (the
    start of the first roll or hold), the reference the analysis uses for `spot_cm`."""
    from rollsignal.resample import SHELL_RADIUS_CM

    r = SHELL_RADIUS_CM if shell_radius_cm is None else shell_radius_cm
    x = np.asarray(angle_deg, dtype=float) * math.pi / 180.0 * r
    ok = np.isfinite(x)
    if not ok.any():
        return x
    first = next((float(s["start_s"]) for s in segments if s.get("kind") in ("roll", "hold")), None)
    t = np.asarray(t_s, dtype=float)
    x0 = float(np.interp(first, t[ok], x[ok])) if first is not None else float(x[ok][0])
    return x - x0


def robust_top(force_n: np.ndarray) -> float:
    """Top of the force scale: the 99.5th percentile (spurious ADC codes are drawn clipped at the edge)."""
    f = np.asarray(force_n, dtype=float)
    f = f[np.isfinite(f)]
    return float(np.percentile(f, 99.5)) if len(f) else 1.0


def robust_bottom(force_n: np.ndarray) -> float:
    """Bottom of the force scale: 0, or the 0.5th percentile when the load cell read below zero for longer
    than a few stray samples (a saturated or spurious code far below zero is drawn clipped at the edge)."""
    f = np.asarray(force_n, dtype=float)
    f = f[np.isfinite(f)]
    return min(0.0, float(np.percentile(f, 0.5))) if len(f) else 0.0


def shade_segments(ax: Any, segments: Sequence[dict[str, Any]], holds: Sequence[dict[str, Any]],
                   gaps: Sequence[tuple[float, float]], t_scale: float, *, alpha: float = 0.33) -> None:
    """Roll/off/hold spans (holds in their verdict's colour), each minus the gaps, then the gaps hatched.

    One collection per gid (`vspans`), its spans in segment order, not one axvspan per span."""
    verdicts = {round(float(h["start_s"]), 2): hold_kind(h) for h in holds}
    gs, ge = _gap_edges(gaps)
    groups: dict[tuple[str, str, float, str | None], tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for seg in segments:
        kind = seg.get("kind")
        hatch = None
        if kind == "hold":
            v = verdicts.get(round(float(seg["start_s"]), 2), "good")
            colour, gid, hatch = VERDICT_COLOURS[v], f"hold-{v}", VERDICT_HATCHES[v]
        elif kind == "roll":
            colour, gid = ROLL_COLOUR, "roll"
        else:
            colour, gid = OFF_COLOUR, "off"
        a, b = _minus_sorted(float(seg["start_s"]), float(seg["end_s"]), gs, ge)
        parts = groups.setdefault((gid, colour, alpha if kind != "off" else 1.0, hatch), ([], []))
        parts[0].append(a)
        parts[1].append(b)
    for (gid, colour, al, hatch), (a, b) in groups.items():
        vspans(ax, np.concatenate(a) / t_scale, np.concatenate(b) / t_scale, gid=gid, zorder=0,
               per_path=HATCH_SPANS_PER_PATH if hatch else 1, **_span_style(colour, al, hatch))
    if len(gaps):
        g = np.asarray(gaps, dtype=float).reshape(-1, 2)
        vspans(ax, g[:, 0] / t_scale, g[:, 1] / t_scale, gid="gap", zorder=0.5, per_path=HATCH_SPANS_PER_PATH,
               facecolor="white", edgecolor="#969696", hatch="////", linewidth=0)


def _span_style(colour: str, alpha: float, hatch: str | None) -> dict[str, Any]:
    """Patch keywords for a segment span (and its legend entry): the fill `colour` at `alpha`, and `hatch`
    drawn in the same colour at HATCH_ALPHA (the patch's own alpha would make the hatch as faint as the fill)."""
    from matplotlib.colors import to_rgba

    kw: dict[str, Any] = {"facecolor": to_rgba(colour, alpha), "lw": 0}
    if hatch:
        kw.update(hatch=hatch, edgecolor=to_rgba(colour, HATCH_ALPHA))
    return kw


def unit_factor(units: str) -> float:
    """Display units per newton: 1 for N, 1/g for kg(-force), 1/(g x 0.4536) for lb(-force)."""
    from .userprofile import force_in_units

    return float(force_in_units(1.0, units))


def force_label(units: str) -> str:
    return "force (N)" if units == "N" else f"load ({units})"


def draw_force(ax: Any, t_s: np.ndarray | None, force_n: np.ndarray | None, analysis: dict[str, Any], *,
               body_mass_kg: float | None = None, profile: Any = None, t_scale: float = 60.0,
               compact: bool = False, gaps: Sequence[tuple[float, float]] | None = None,
               units: str = "N") -> list[Any]:
    """The force panel: segments by verdict, gaps, light band, 30 s marks, each hold's number and score.

    `t_s`/`force_n` may be a reduced (envelope) trace; `gaps` then come from the full trace. Forces are
    drawn in `units` (N, kg or lb: the athlete's profile). Returns legend handles.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    k = unit_factor(units)
    if force_n is not None:
        force_n = np.asarray(force_n, float) * k

    holds = list(analysis.get("holds") or [])
    segs = list(analysis.get("segments") or [])
    gaps = list(gaps or [])
    shade_segments(ax, segs, holds, gaps, t_scale)
    have = t_s is not None and force_n is not None and len(t_s) > 0
    if have:
        tt, ff = break_at_gaps(np.asarray(t_s, float), np.asarray(force_n, float), gaps)
        ax.plot(tt / t_scale, ff, lw=0.6, color=FORCE_COLOUR, zorder=3, gid="force")
        top = max(1.0, robust_top(force_n))
    else:
        top = max((float(h.get("mean_force_n") or 0) * k for h in holds), default=100.0 * k) * 1.3
    band = light_band_n(body_mass_kg, profile)
    if band is not None:
        band = (band[0] * k, band[1] * k)
    if band is not None:
        top = max(top, band[1] * 1.05)
    y_top = top * 1.25
    lo = robust_bottom(force_n) if have else 0.0
    ax.set_ylim(lo - 0.02 * y_top, y_top)
    rel = release_s(profile)
    present = {hold_kind(h) for h in holds}  # the legend explains the colours drawn, not every possible one
    handles: list[Any] = [Patch(**_span_style(VERDICT_COLOURS[k], 0.5, VERDICT_HATCHES[k]),
                                label=VERDICT_LABELS[k].format(rel=f"{rel:.0f}"))
                          for k in ("good", "firm", "short", "hard", "cut") if k in present]
    handles += [Patch(color=ROLL_COLOUR, alpha=0.5, label="rolling")]
    if gaps:
        handles.append(Patch(facecolor="white", edgecolor="#969696", hatch="////", label="no data (gap)"))
    if band is not None:
        ax.axhspan(band[0], band[1], color=BAND_COLOUR, alpha=0.13, lw=0, zorder=1, gid="light-band")
        for y in band:
            ax.axhline(y, color=BAND_COLOUR, lw=0.8, ls=(0, (6, 2)), zorder=1, gid="light-band-edge")
        bw = body_mass_kg * G_N_PER_KG * k
        pct = f"{100 * band[0] / bw:.0f}–{100 * band[1] / bw:.0f} %"
        handles.append(Patch(facecolor=BAND_COLOUR, alpha=0.3, label=f"light pressure ({pct} body weight)"))
    marked = False
    gs, ge = _gap_edges(gaps)
    for i, h in enumerate(holds, 1):
        s, e = float(h["start_s"]), float(h["end_s"])
        if float(h.get("duration_s", e - s)) >= rel:  # only where 30 s was reached: inside the hold
            ax.axvline((s + rel) / t_scale, ymin=0.0, ymax=0.78, color="#252525", lw=0.9, ls=(0, (3, 2)),
                       zorder=2, gid="release-mark")
            marked = True
        # the score as every output shows it (holdsense.verdict): "–" for a hold cut off short, in its tone's
        # text colour (dark enough on the white label box: the fills' amber was 2:1)
        score = verdict.shown_score(h)
        label = f"#{i} {score}" if compact else f"#{i}: {score}\n{h['duration_s']:.0f} s"
        colour = verdict.TONE_TEXT_COLOURS[verdict.hold_tone(h) or "not_judged"]
        # over the widest part of the hold that has data (not over a hatched gap)
        pa, pb = _minus_sorted(s, e, gs, ge)
        j = int(np.argmax(pb - pa)) if len(pa) else -1
        a, b = (float(pa[j]), float(pb[j])) if j >= 0 else (s, e)
        ax.text((a + b) / 2 / t_scale, top * 1.03, label, ha="center", va="bottom", fontsize=8,
                color=colour, fontweight="bold", zorder=4, gid="hold-label",
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.75))
    if marked:
        handles.append(Line2D([], [], color="#252525", lw=0.9, ls=(0, (3, 2)), label=f"{rel:.0f} s into the hold"))
    if have:
        over = np.flatnonzero(np.nan_to_num(np.asarray(force_n, float)) > y_top)
        if len(over):
            ax.plot(np.asarray(t_s)[over] / t_scale, np.full(len(over), y_top), "x", color=CLIP_COLOUR, ms=4,
                    clip_on=False, zorder=4, gid="clipped")
            handles.append(Line2D([], [], color=CLIP_COLOUR, marker="x", ms=4, ls="none",
                                  label="spike (clipped)"))
    ax.set_ylabel(force_label(units))
    return handles


def declutter_labels(ax: Any, gid: str = "hold-label", max_rows: int = 3) -> None:
    """Hold labels that would overlap their neighbours move down a row (up to `max_rows`); a label
    that still has no room is hidden (every hold is listed in the text and the report's table)."""
    texts = sorted((t for t in ax.texts if t.get_gid() == gid), key=lambda t: t.get_position()[0])
    if not texts:
        return
    renderer = ax.figure.canvas.get_renderer()
    # a label of a hold at the session's very start or end is kept inside the axes (centred on its hold, it
    # ran over the force scale's tick labels: "800#1 95")
    box = ax.get_window_extent(renderer)
    inv_x = ax.transData.inverted()
    for t in texts:
        bb = t.get_window_extent(renderer)
        # a margin for the label's box (its pad) and for text measured here a little narrower than a PDF
        # viewer draws it: flush with the axes' edge, the PDF report's "#5 –" lost its dash to the clip
        m = (0.15 + 0.25) * t.get_fontsize() * ax.figure.dpi / 72
        if bb.x0 < box.x0 + m:
            t.set_horizontalalignment("left")
            t.set_x(float(inv_x.transform((box.x0 + m, 0))[0]))
        elif bb.x1 > box.x1 - m:
            t.set_horizontalalignment("right")
            t.set_x(float(inv_x.transform((box.x1 - m, 0))[0]))
    if len(texts) < 2:
        return
    inv = ax.transData.inverted()
    right = [-math.inf] * max_rows  # right edge (pixels) of the last label placed in each row
    for t in texts:
        bb = t.get_window_extent(renderer)
        x, y0 = t.get_position()
        step = inv.transform((0, bb.height * 1.15))[1] - inv.transform((0, 0))[1]  # one row in data units
        for r in range(max_rows):
            if bb.x0 > right[r] + 3:
                t.set_y(y0 - r * step)
                right[r] = bb.x1
                break
        else:
            t.set_visible(False)


def draw_position(ax: Any, t_s: np.ndarray, angle_deg: np.ndarray, analysis: dict[str, Any], *,
                  t_scale: float = 60.0, gaps: Sequence[tuple[float, float]] | None = None) -> None:
    """The roller's position along the roll path in cm (the text's unit), each hold's spot as a bar."""
    segs = list(analysis.get("segments") or [])
    holds = list(analysis.get("holds") or [])
    gaps = list(gaps or [])
    shade_segments(ax, segs, holds, gaps, t_scale)
    x = position_cm(t_s, angle_deg, segs)
    tt, xx = break_at_gaps(np.asarray(t_s, float), x, gaps)
    ax.plot(tt / t_scale, xx, lw=0.6, color=POSITION_COLOUR, zorder=3, gid="position")
    for h in holds:
        if h.get("spot_cm") is not None:
            ax.plot([float(h["start_s"]) / t_scale, float(h["end_s"]) / t_scale], [h["spot_cm"]] * 2,
                    color="black", lw=1.6, alpha=0.6, zorder=4, solid_capstyle="butt", gid="spot")
    ax.set_ylabel("roller position (cm)")


def analysis_figure(samples: Any, a: dict[str, Any], *, title: str | None = None,
                    body_mass_kg: float | None = None, profile: Any = None, units: str = "N",
                    markers: Sequence[Any] = ()) -> Any:
    """The `analyze --plot` figure: force panel, and the position panel when the roller has an encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_angle = samples.angle_deg is not None and np.isfinite(samples.angle_deg).any()
    fig, axes = plt.subplots(2 if has_angle else 1, 1, figsize=(12, 6.8 if has_angle else 4.8), sharex=True,
                             squeeze=False, height_ratios=[3, 2] if has_angle else None)
    ax = axes[0][0]
    t = np.asarray(samples.t_s, float)
    dur = float(a["summary"].get("duration_s") or (t[-1] if len(t) else 0.0))
    t_scale = 60.0 if dur >= 120 else 1.0  # minutes for sessions, seconds for short clips
    gaps = gap_spans(t)
    handles = draw_force(ax, t, samples.force_n, a, body_mass_kg=body_mass_kg, profile=profile, t_scale=t_scale,
                         gaps=gaps, units=units)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=4, frameon=False)
    if has_angle:
        draw_position(axes[1][0], t, samples.angle_deg, a, t_scale=t_scale, gaps=gaps)
    draw_markers([r[0] for r in axes], markers, t_scale=t_scale)
    last = axes[-1][0]
    last.set_xlabel("time (min)" if t_scale == 60.0 else "time (s)")
    if len(t):
        last.set_xlim(min(0.0, t[0]) / t_scale, max(dur, t[-1]) / t_scale)
    for r in axes:
        r[0].grid(alpha=0.25, lw=0.5)
    s = a["summary"]
    fig.suptitle(title or f"{Path(str(a.get('source') or 'recording')).name}: {plural(int(s['holds']), 'hold')} "
                 f"({s['holds_over_30s']} over {release_s(profile):.0f} s), session score {s['session_score']}",
                 fontsize=11)
    fig.tight_layout()
    declutter_labels(ax)
    return fig


MARKER_STYLE = {"hold_start": ("#006d2c", "▶ hold"), "hold_end": ("#a50f15", "hold ◀"), "note": ("#6a51a3", "")}


def draw_markers(axes: Sequence[Any], markers: Sequence[Any], *, t_scale: float = 1.0) -> int:
    """Markers pressed while rolling (holdsense.io.markers.Marker: t_s, kind, text) as dashed vertical lines,
    labelled on the first axes; how many were drawn."""
    for m in markers:
        colour, word = MARKER_STYLE.get(m.kind, ("#6a51a3", ""))
        for ax in axes:
            ax.axvline(m.t_s / t_scale, color=colour, ls="--", lw=1.0, alpha=0.9)
        label = word or (m.text[:24] + ("…" if len(m.text) > 24 else ""))
        axes[0].annotate(label, (m.t_s / t_scale, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                         va="top", ha="right", fontsize=7, color=colour)
    return len(markers)


def save_figure(fig: Any, out_path: str | os.PathLike[str], dpi: int) -> None:
    """Write `fig` (png, pdf, svg by the suffix) and close it; a path that cannot be written is one
    UserError line, not a traceback."""
    import matplotlib.pyplot as plt

    from .errors import UserError

    try:
        fig.savefig(out_path, dpi=dpi)
    except (OSError, ValueError) as exc:
        raise UserError(f"{out_path}: cannot write plot ({exc})") from None
    finally:
        plt.close(fig)


def save_analysis_plot(samples: Any, a: dict[str, Any], out_path: str | os.PathLike[str], **kw: Any) -> None:
    """Draw `analysis_figure` to a file (png, pdf, svg by the suffix)."""
    save_figure(analysis_figure(samples, a, **kw), out_path, dpi=110)
