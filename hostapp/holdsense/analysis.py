"""Analysis of recordings on the host: run rollsignal over a file, render text and plots.

Shared by `holdsense analyze`, reports and batch tools, so every front end
shows the same numbers (contracts.md §3).
"""
from __future__ import annotations

import os
import sys
import zlib
from typing import IO, Any, Callable, Iterable

from .errors import UserError, one_line
from .fmt import fmt_clock, lost_note, plural
from .inputcheck import StreamChecks, check_times, clean_samples, in_time_order, input_warnings
from .io.recording import Recording
from .verdict import shown_score

ANALYSIS_FORMAT = "holdsense-analysis/1"


def analyze_recording(rec: Recording, *, body_mass_kg: float | None = None,
                      profile: str | None = None) -> dict[str, Any]:
    """The holdsense-analysis/1 object for a recording.

    `body_mass_kg` overrides the recording's metadata (light pressure is then
    judged against body weight rather than the session's rolling load).
    """
    import rollsignal

    mass = body_mass_kg if body_mass_kg is not None else rec.body_mass_kg
    prof = _profile(profile)
    check_times(rec.samples, rec.source)
    samples, n_impossible = clean_samples(rec.samples)  # the same check DetectorListener makes live
    result = rollsignal.analyze(samples, body_mass_kg=mass, profile=prof)
    return _finish(result.to_dict(source=rec.source), rec, input_warnings(samples, n_impossible))


def analyze_path(path: str, *, body_mass_kg: float | None = None, profile: str | None = None,
                 stream: str | None = None,
                 fallback_body_mass_kg: Callable[[Recording], float | None] | None = None,
                 warn: IO[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(analysis, file metadata) = `analyze_recording(load_for_analysis(path))` and the recording's
    metadata, streamed for recording CSVs: the detector is fed each block of rows as the reader parses
    it, so memory stays flat in the file's length (streaming equals batch: the result is the same).
    Other formats (XDF, captures, "-" and pipes) are loaded whole. Body mass: `body_mass_kg`, else the
    file's header, else `fallback_body_mass_kg(recording)` (the profile of the person it is of). The fallback is
    called once the header is read, for every file (a streamed CSV's recording has no samples yet), so it may
    also refuse the file with a UserError: `analyze` refuses a recording whose header names someone other
    than its --client."""
    import rollsignal

    from .io.recording import RecordingReader
    from .io.registry import DEFAULT, detect, is_stream

    if is_stream(path) or detect(path) is not DEFAULT:
        rec = load_for_analysis(path, stream=stream, warn=warn)
        fallback = fallback_body_mass_kg(rec) if fallback_body_mass_kg is not None else None
        if body_mass_kg is None and not rec.body_mass_kg:
            body_mass_kg = fallback
        return analyze_recording(rec, body_mass_kg=body_mass_kg, profile=profile), rec.metadata
    prof = _profile(profile)
    with RecordingReader.open(path, warn=sys.stderr if warn is None else warn) as reader:
        head = Recording(reader.source, reader.metadata, rollsignal.SampleChunk(*([],) * 2), reader.columns)
        mass = body_mass_kg if body_mass_kg is not None else head.body_mass_kg
        fallback = fallback_body_mass_kg(head) if fallback_body_mass_kg is not None else None
        if body_mass_kg is None and not head.body_mass_kg:
            mass = fallback
        det = rollsignal.Detector(profile=prof, body_mass_kg=mass, progress_events=False)
        checks = StreamChecks(head.source)  # what analyze_recording checks, block by block
        for chunk, _ in reader.chunks_ahead():  # the next block is parsed while the detector works on this one
            det.process(checks.feed(chunk))
        checks.finish()
        det.finish()
        head.warnings = reader.warnings
    return _finish(det.result().to_dict(source=head.source), head, checks.warnings()), head.metadata


def _profile(profile: str | None):
    import rollsignal

    try:
        return rollsignal.load_profile(profile) if profile else None
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise UserError(profile_error(profile, exc)) from None


def _finish(out: dict[str, Any], rec: Recording, notes: list[str] | None = None) -> dict[str, Any]:
    notes = list(rec.warnings) + list(notes or [])
    if notes:
        out.setdefault("quality", {}).setdefault("warnings", []).extend(notes)
    if rec.region:
        out.setdefault("region", rec.region)
    compare = getattr(rec, "compare_markers", None)  # XDF input: how our holds line up with recorded markers
    if compare is not None:
        markers = compare(out)
        if markers is not None:
            out["markers"] = markers
    return out


# Names recordings have: in a folder, such a file is one of the batch's files (analysed, or its own error entry
# when it cannot be read: corrupt, empty, a newer format), never silently left out (contracts.md §3).
RECORDING_SUFFIXES = (".csv", ".csv.gz", ".xdf", ".xdfz", ".hscap")
_CSV_SUFFIXES = (".csv", ".csv.gz")


def profile_error(name: str, exc: BaseException) -> str:
    """One message for a guidance profile that does not load (rollsignal's own message names it already)."""
    msg = str(exc.args[0]) if exc.args else str(exc)
    return msg if name in msg else f"unknown profile '{name}' ({msg})"


def expand_inputs(paths: Iterable[str], *, warn: IO[str] | None = None,
                  problems: dict[str, str] | None = None) -> list[str]:
    """Files as given; a folder means the recordings directly in it, sorted by name (contracts.md §3).

    In a folder, a file named like a recording (`.csv`, `.csv.gz`, `.xdf`,
    `.xdfz`, `.hscap`) is taken whatever is in it, so one that cannot be read
    (random bytes, empty, a newer format, a `.gz` that is not gzip, no
    permission) fails as its own error entry instead of vanishing from the
    batch. The one exception is a `.csv` that is plainly another table (a
    `--table` or `--sessions` output, a spans file: a header row without `t_s`
    or `force_n` and no `#` metadata): it is skipped with a `note:` line on
    `warn` (default stderr). Files with other names are taken when their
    content is a recording this version reads (`holdsense.io.registry`), and
    otherwise ignored without a word (notes, labels, a datasheet).

    With `problems` (a batch): a folder that cannot be listed or holds no
    recording stays in the list in its place, and `problems[folder]` says why,
    so it is an error entry of its own and the other inputs go on; without it,
    a folder that cannot be listed raises UserError and an empty one adds nothing.
    """
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            try:
                names = sorted(os.listdir(p))
            except OSError as exc:
                why = f"{p}: cannot list the folder ({exc.strerror or exc})"
                if problems is None:
                    raise UserError(why) from None
                out.append(p)
                problems[p] = why
                continue
            before = len(out)
            for name in names:
                full = os.path.join(p, name)
                if not os.path.isfile(full):
                    continue
                take, note = _folder_member(full)
                if take:
                    out.append(full)
                elif note:
                    print(one_line(f"holdsense: note: {full}: {note}, skipped"),
                          file=sys.stderr if warn is None else warn)
            if problems is not None and len(out) == before:
                out.append(p)
                problems[p] = f"{p}: no recordings found in this folder"
        else:
            out.append(p)
    return out


def _folder_member(path: str) -> tuple[bool, str | None]:
    """(take the file into the batch, why it is skipped when a note is due)."""
    from .io.registry import is_readable

    lower = path.lower()
    if lower.endswith(_CSV_SUFFIXES):
        other = _other_table(path)
        return (False, other) if other else (True, None)
    if lower.endswith(RECORDING_SUFFIXES):
        return True, None
    try:  # by content: LabRecorder files and captures under other names sit beside recordings
        return is_readable(path), None
    except (OSError, EOFError, zlib.error):
        return False, None


def _other_table(path: str) -> str | None:
    """Why a `.csv`/`.csv.gz` is plainly some other table than a recording, or None when it may be one.

    Only a clean case counts: readable UTF-8 text whose first line is a header of
    two or more columns, neither `t_s` nor `force_n` among them, and no `#`
    metadata before it. Anything doubtful (binary, empty, a `.gz` that is not
    gzip, CR-only line endings, a newer `format:`) is left to the reader, whose
    error names it.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(wbits=31).decompress(head, 4096)
        elif path.lower().endswith(".gz"):  # a .gz that is not gzip: damaged, the reader's to name
            return None
    except (OSError, EOFError, zlib.error):
        return None
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    first, nl, _ = head.lstrip(b" \t\n").partition(b"\n")
    if not nl:  # no complete first line in reach (or CR-only line endings): not plainly anything
        return None
    try:
        line = first.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    cells = [c.strip() for c in line.split(",")]
    if line.startswith("#") or "\r" in line or "\0" in line or len(cells) < 2 or not all(cells):
        return None
    if any(c in ("t_s", "force_n") for c in cells):  # a recording that lost its metadata: the reader says so
        return None
    shown = line if len(line) <= 40 else line[:37] + "..."
    return f"a table with columns '{shown}', not a recording (no '# format:' line)"


def load_for_analysis(path: str, *, stream: str | None = None, warn: IO[str] | None = None) -> Recording:
    """Read a recording for analysis through the format table (`holdsense.io.registry.open_reader`):
    holdsense CSV, an XDF file's force stream (`stream` picks one by name), or a raw wire capture.
    The reader's warnings (a half-written last line) go to `warn` (default: stderr)."""
    from .io.registry import open_reader

    return open_reader(path, stream=stream, warn=sys.stderr if warn is None else warn)


def render_text(a: dict[str, Any]) -> str:
    """The human-readable report of one analysis."""
    s = a["summary"]
    q = a.get("quality", {})
    rate = q.get("sample_rate_hz")  # None when too few samples to tell (one sample, or all at one time)
    lines = [f"{a['source']}: {fmt_clock(s['duration_s'])} session, "
             + (f"{rate:.1f} Hz" if isinstance(rate, (int, float)) else "sample rate unknown")
             + (f", region {a['region']}" if a.get("region") else "")]
    lines.append("")
    lines.append("Timeline")
    for seg in a["segments"]:
        dur = seg["end_s"] - seg["start_s"]
        label = {"off": "off the roller", "roll": "rolling", "hold": "HOLDING"}[seg["kind"]]
        lost = seg.get("lost_s") or 0.0
        if lost >= 0.9 * dur:
            label = "no data (link lost)"
        elif lost >= 0.5:
            label += f" (link lost {lost:.1f} s of it)"
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
        # a hold cut off short has no score to read (its length is not judged: holdsense.verdict), as on the
        # page and in the report; it printed "score 100/100: cut off: length not judged"
        score = shown_score(h)
        lines.append(f"  #{i} at {fmt_clock(h['start_s'])}: {h['duration_s']:.0f} s, {h['mean_force_n']:.0f} N"
                     f" (cv {h['force_cv']:.2f}{where})  "
                     + (f"score {score}/100: " if score != "–" else "no score: ") + f"{h['grade']}"
                     # a plain-text line has no colour to say a firm hold is not "good": say it in words
                     + (f" ({h['pressure']})" if h.get("pressure") == "fairly firm" else ""))
        for fb in h.get("feedback", []):
            lines.append(f"       - {fb}")
    lines.append("")
    lines.append(f"Session: holding {fmt_clock(s['hold_s'])}, rolling {fmt_clock(s['roll_s'])}, "
                 f"off {fmt_clock(s['off_s'])}{lost_note(s)}; {s['holds']} hold{'' if s['holds'] == 1 else 's'}, "
                 f"{s['holds_over_30s']} over 30 s; "
                 f"session score {s['session_score']}/100")
    for adv in s.get("advice", []):
        lines.append(f"  * {adv}")
    if a.get("markers"):
        from .io.xdf import render_marker_lines

        lines.extend(render_marker_lines(a["markers"]))
    warn = list(q.get("warnings", []))
    if q.get("gaps") and not any("link gap" in w for w in warn):  # the detector's warning already counts them
        warn.insert(0, f"{plural(int(q['gaps']), 'gap')} in the data (bridged)")
    if q.get("saturated_samples") and not any("saturated" in w for w in warn):  # likewise the detector's
        warn.insert(0, f"{plural(int(q['saturated_samples']), 'saturated ADC sample')} ignored")
    if warn:
        lines.append("Data quality: " + "; ".join(warn))
    return "\n".join(lines)


def plot_analysis(rec: Recording, a: dict[str, Any], out_path: str | os.PathLike[str], *,
                  title: str | None = None, body_mass_kg: float | None = None, profile: str | None = None,
                  units: str = "N") -> None:
    """Force (and roller position in cm when present) with segments by verdict, gaps, the light-pressure
    band and the 30 s marks (holdsense.plots). `body_mass_kg` overrides the recording's metadata; forces
    are drawn in `units` (N, kg or lb). Impossible values (inputcheck) are left out, as the analysis left
    them out: a 1e300 cell would otherwise send matplotlib's tick search into a minutes-long loop; so are
    samples the detector's time guard dropped (one stamp 9e6 s ahead would stretch the time axis to it)."""
    import rollsignal

    from .plots import save_analysis_plot

    mass = body_mass_kg if body_mass_kg is not None else rec.body_mass_kg
    prof = rollsignal.load_profile(profile) if profile else None
    from .io.markers import markers_of

    samples, _ = clean_samples(in_time_order(rec.samples))  # (the samples the detector took)
    try:
        save_analysis_plot(samples, a, out_path, title=title, body_mass_kg=mass, profile=prof, units=units,
                           markers=markers_of(rec))
    except OSError as exc:  # a folder that vanished, /proc, a full disk: the user's to fix, not a bug
        raise UserError(f"{out_path}: cannot write the plot ({exc.strerror or exc})") from None
