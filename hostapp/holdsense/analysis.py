"""Analysis of recordings on the host: run rollsignal over a file, render text and plots.

Shared by `holdsense analyze`, reports and batch tools, so every front end
shows the same numbers (contracts.md §3).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from .errors import UserError
from .fmt import fmt_clock
from .io.recording import Recording

ANALYSIS_FORMAT = "holdsense-analysis/1"
SEGMENT_COLOURS = {"hold": "#2ca25f", "roll": "#fdae6b", "off": "#d9d9d9"}


def analyze_recording(rec: Recording, *, body_mass_kg: float | None = None,
                      profile: str | None = None) -> dict[str, Any]:
    """The holdsense-analysis/1 object for a recording.

    `body_mass_kg` overrides the recording's metadata (light pressure is then
    judged against body weight rather than the session's rolling load).
    """
    import rollsignal

    mass = body_mass_kg if body_mass_kg is not None else rec.body_mass_kg
    try:
        prof = rollsignal.load_profile(profile) if profile else None
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"unknown profile '{profile}' ({exc})") from None
    result = rollsignal.analyze(rec.samples, body_mass_kg=mass, profile=prof)
    out = result.to_dict(source=rec.source)
    if rec.warnings:
        out.setdefault("quality", {}).setdefault("warnings", []).extend(rec.warnings)
    if rec.region:
        out.setdefault("region", rec.region)
    compare = getattr(rec, "compare_markers", None)  # XDF input: how our holds line up with recorded markers
    if compare is not None:
        markers = compare(out)
        if markers is not None:
            out["markers"] = markers
    return out


def expand_inputs(paths: Iterable[str]) -> list[str]:
    """Files as given; a folder means the recordings directly in it, sorted by name (contracts.md §3)."""
    from .io.registry import is_readable

    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for name in sorted(os.listdir(p)):
                full = os.path.join(p, name)
                if os.path.isfile(full) and is_readable(full):  # LabRecorder files, captures sit beside recordings
                    found.append(full)
            out.extend(found)
        else:
            out.append(p)
    return out


def load_for_analysis(path: str, *, stream: str | None = None) -> Recording:
    """Read a recording for analysis through the format table (`holdsense.io.registry.open_reader`):
    holdsense CSV, an XDF file's force stream (`stream` picks one by name), or a raw wire capture."""
    from .io.registry import open_reader

    return open_reader(path, stream=stream)


def render_text(a: dict[str, Any]) -> str:
    """The human-readable report of one analysis."""
    s = a["summary"]
    q = a.get("quality", {})
    lines = [f"{a['source']}: {fmt_clock(s['duration_s'])} session, {q.get('sample_rate_hz', 0):.1f} Hz"
             + (f", region {a['region']}" if a.get("region") else "")]
    lines.append("")
    lines.append("Timeline")
    for seg in a["segments"]:
        dur = seg["end_s"] - seg["start_s"]
        label = {"off": "off the roller", "roll": "rolling", "hold": "HOLDING"}[seg["kind"]]
        lines.append(f"  {fmt_clock(seg['start_s']):>7} – {fmt_clock(seg['end_s']):<7} {dur:6.1f} s  {label}")
    lines.append("")
    holds = a["holds"]
    lines.append(f"Holds ({len(holds)})" if holds else "Holds: none (no still, loaded stretch of 5 s or more)")
    for i, h in enumerate(holds, 1):
        where = ""
        if h.get("travel_cm") is not None:
            where = f", travel {h['travel_cm']:.1f} cm"
        if h.get("spot_cm") is not None:
            where += f", spot at {h['spot_cm']:.1f} cm"
        lines.append(f"  #{i} at {fmt_clock(h['start_s'])}: {h['duration_s']:.0f} s, {h['mean_force_n']:.0f} N"
                     f" (cv {h['force_cv']:.2f}{where})  score {h['score']}/100: {h['grade']}")
        for fb in h.get("feedback", []):
            lines.append(f"       - {fb}")
    lines.append("")
    lines.append(f"Session: holding {fmt_clock(s['hold_s'])}, rolling {fmt_clock(s['roll_s'])}, "
                 f"off {fmt_clock(s['off_s'])}; {s['holds']} holds, {s['holds_over_30s']} over 30 s; "
                 f"session score {s['session_score']}/100")
    for adv in s.get("advice", []):
        lines.append(f"  * {adv}")
    if a.get("markers"):
        from .io.xdf import render_marker_lines

        lines.extend(render_marker_lines(a["markers"]))
    warn = list(q.get("warnings", []))
    if q.get("gaps"):
        warn.insert(0, f"{q['gaps']} gap(s) in the data (bridged)")
    if q.get("saturated_samples"):
        warn.insert(0, f"{q['saturated_samples']} saturated ADC sample(s) ignored")
    if warn:
        lines.append("Data quality: " + "; ".join(warn))
    return "\n".join(lines)


def plot_analysis(rec: Recording, a: dict[str, Any], out_path: str | os.PathLike[str], *,
                  title: str | None = None) -> None:
    """Force (and angle when present) with shaded hold/roll segments and each hold's score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    smp = rec.samples
    has_angle = smp.angle_deg is not None
    fig, axes = plt.subplots(2 if has_angle else 1, 1, figsize=(12, 6.5 if has_angle else 4.5),
                             sharex=True, squeeze=False)
    ax = axes[0][0]
    t_min = smp.t_s / 60.0
    for seg in a["segments"]:
        for axr in axes:
            axr[0].axvspan(seg["start_s"] / 60, seg["end_s"] / 60, color=SEGMENT_COLOURS[seg["kind"]],
                           alpha=0.35, lw=0)
    ax.plot(t_min, smp.force_n, lw=0.6, color="#08306b")
    ax.set_ylabel("force (N)")
    # Scale to the body's force, not to spurious ADC codes: outliers are drawn clipped at the top edge.
    top = float(max(1.0, _robust_max(smp.force_n)))
    for h in a["holds"]:
        mid = (h["start_s"] + h["end_s"]) / 2 / 60
        ax.annotate(f"{h['score']}\n{h['duration_s']:.0f} s", (mid, top * 1.02), ha="center", va="bottom",
                    fontsize=8, color="#00441b", fontweight="bold")
    y_top = top * 1.25
    ax.set_ylim(min(0.0, float(_finite_min(smp.force_n))) - 5, y_top)
    import numpy as np

    over = np.flatnonzero(np.nan_to_num(smp.force_n) > y_top)
    if len(over):
        ax.plot(t_min[over], np.full(len(over), y_top), "x", color="#cb181d", ms=4, clip_on=False,
                label="off-scale reading")
    ax.legend(handles=[Patch(color=SEGMENT_COLOURS[k], alpha=0.5, label=k) for k in ("hold", "roll", "off")],
              loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=3, frameon=False)
    if has_angle:
        ax2 = axes[1][0]
        ax2.plot(t_min, smp.angle_deg, lw=0.6, color="#54278f")
        ax2.set_ylabel("shell angle (deg)")
    draw_markers([axr[0] for axr in axes], rec, minutes=True)
    axes[-1][0].set_xlabel("time (min)")
    s = a["summary"]
    fig.suptitle(title or f"{Path(a['source']).name}: {s['holds']} holds ({s['holds_over_30s']} over 30 s), "
                 f"session score {s['session_score']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


MARKER_STYLE = {"hold_start": ("#006d2c", "▶ hold"), "hold_end": ("#a50f15", "hold ◀"), "note": ("#6a51a3", "")}


def draw_markers(axes: list[Any], rec: Recording, *, minutes: bool = False) -> int:
    """The person's markers of a recording (holdsense.io.markers) as dashed vertical lines; how many."""
    from .io.markers import markers_of

    marks = markers_of(rec)
    scale = 60.0 if minutes else 1.0
    for m in marks:
        colour, word = MARKER_STYLE.get(m.kind, ("#6a51a3", ""))
        for ax in axes:
            ax.axvline(m.t_s / scale, color=colour, ls="--", lw=1.0, alpha=0.9)
        label = word or (m.text[:24] + ("…" if len(m.text) > 24 else ""))
        axes[0].annotate(label, (m.t_s / scale, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                         va="top", ha="right", fontsize=7, color=colour)
    return len(marks)


def _robust_max(x) -> float:
    import numpy as np

    f = x[np.isfinite(x)]
    return float(np.percentile(f, 99.5)) if len(f) else 1.0


def _finite_min(x) -> float:
    import numpy as np

    f = x[np.isfinite(x)]
    return float(f.min()) if len(f) else 0.0
