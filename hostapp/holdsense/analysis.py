"""Analysis of recordings on the host: run rollsignal over a file, render text and plots.

Shared by `holdsense analyze`, reports and batch tools, so every front end
shows the same numbers (contracts.md §3).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import UserError
from .fmt import fmt_clock
from .io.recording import Recording

ANALYSIS_FORMAT = "holdsense-analysis/1"


def analyze_recording(rec: Recording, *, body_mass_kg: float | None = None,
                      profile: str | None = None) -> dict[str, Any]:
    """The holdsense-analysis/1 object for a recording.

    `body_mass_kg` overrides the recording's metadata (light pressure is then
    judged against body weight rather than the session's rolling load).
    """
    import rollsignal

    mass = body_mass_kg if body_mass_kg is not None else rec.body_mass_kg
    result = rollsignal.analyze(rec.samples, body_mass_kg=mass, profile=_profile(profile))
    return _finish(result.to_dict(source=rec.source), rec)


def analyze_path(path: str, *, body_mass_kg: float | None = None, profile: str | None = None,
                 stream: str | None = None,
                 fallback_body_mass_kg: Callable[[], float | None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(analysis, file metadata) = `analyze_recording(load_for_analysis(path))` and the recording's
    metadata, streamed for recording CSVs: the detector is fed each block of rows as the reader parses
    it, so memory stays flat in the file's length (streaming equals batch: the result is the same).
    Other formats (XDF, captures, "-" and pipes) are loaded whole. Body mass: `body_mass_kg`, else the
    file's header, else `fallback_body_mass_kg()` (the athlete's profile)."""
    import rollsignal

    from .io.recording import RecordingReader
    from .io.registry import DEFAULT, detect, is_stream

    if is_stream(path) or detect(path) is not DEFAULT:
        rec = load_for_analysis(path, stream=stream)
        if body_mass_kg is None and not rec.body_mass_kg and fallback_body_mass_kg is not None:
            body_mass_kg = fallback_body_mass_kg()
        return analyze_recording(rec, body_mass_kg=body_mass_kg, profile=profile), rec.metadata
    prof = _profile(profile)
    with RecordingReader.open(path) as reader:
        head = Recording(reader.source, reader.metadata, rollsignal.SampleChunk(*([],) * 2), reader.columns)
        mass = body_mass_kg if body_mass_kg is not None else head.body_mass_kg
        if body_mass_kg is None and not head.body_mass_kg and fallback_body_mass_kg is not None:
            mass = fallback_body_mass_kg()
        det = rollsignal.Detector(profile=prof, body_mass_kg=mass, progress_events=False)
        for chunk, _ in reader.chunks():
            det.process(chunk)
        det.finish()
        head.warnings = reader.warnings
    return _finish(det.result().to_dict(source=head.source), head), head.metadata


def _profile(profile: str | None):
    import rollsignal

    try:
        return rollsignal.load_profile(profile) if profile else None
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"unknown profile '{profile}' ({exc})") from None


def _finish(out: dict[str, Any], rec: Recording) -> dict[str, Any]:
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
                 f"off {fmt_clock(s['off_s'])}; {s['holds']} hold{'' if s['holds'] == 1 else 's'}, "
                 f"{s['holds_over_30s']} over 30 s; "
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
                  title: str | None = None, body_mass_kg: float | None = None, profile: str | None = None,
                  units: str = "N") -> None:
    """Force (and roller position in cm when present) with segments by verdict, gaps, the light-pressure
    band and the 30 s marks (holdsense.plots). `body_mass_kg` overrides the recording's metadata; forces
    are drawn in `units` (N, kg or lb)."""
    import rollsignal

    from .plots import save_analysis_plot

    mass = body_mass_kg if body_mass_kg is not None else rec.body_mass_kg
    prof = rollsignal.load_profile(profile) if profile else None
    from .io.markers import markers_of

    save_analysis_plot(rec.samples, a, out_path, title=title, body_mass_kg=mass, profile=prof, units=units,
                       markers=markers_of(rec))
