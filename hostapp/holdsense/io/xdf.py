"""Read LabRecorder `.xdf` files for analysis, and line our holds up with the recorded markers.

`read_xdf(path, stream=None)` finds the holdsense force stream (type `Force`,
made by holdsense, or the one named with `--stream`), turns it into a
Recording the analysis runs on (`t_s` = seconds since the stream's first
sample, on the recording's synchronised clock) and, when the file also holds
the roller's `Markers` stream, keeps its recorded holds so `analyze` can
report how its own holds line up with them (docs/lab.md).

pyxdf is imported lazily (see `holdsense.lab.require`); the helpers that
only look at bytes or dicts (`is_xdf`, `compare_holds`, `render_marker_lines`)
work without it.
"""
from __future__ import annotations

import json
import math
import os
import warnings as pywarnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rollsignal import FLAG_GAP, SampleChunk

from ..errors import UserError
from ..fmt import plural
from .recording import Recording
from ..lab import require

XDF_MAGIC = b"XDF:"
XDF_SUFFIXES = (".xdf", ".xdfz")
# A hold found by analysis and one in the recorded markers are "the same hold" when their
# time spans overlap by at least this fraction of their union (intersection over union).
MATCH_MIN_IOU = 0.5

_FORCE_UNITS = {"": 1.0, "n": 1.0, "newton": 1.0, "newtons": 1.0,
                "kgf": 9.80665, "kg": 9.80665, "kilogram-force": 9.80665,
                "lbf": 4.4482216152605, "lb": 4.4482216152605}
_ANGLE_UNITS = {"": 1.0, "deg": 1.0, "degree": 1.0, "degrees": 1.0, "°": 1.0,
                "rad": 180.0 / math.pi, "radian": 180.0 / math.pi, "radians": 180.0 / math.pi}


class XdfError(UserError):
    """An XDF file (or stream in it) that cannot be analysed; one line naming the file."""


@dataclass
class XdfRecording(Recording):
    """A Recording made from one stream of an XDF file, with the recorded hold markers when present."""

    stream_name: str = ""
    marker_stream: str | None = None
    recorded_holds: list[dict[str, Any]] | None = None
    marker_counts: dict[str, int] = field(default_factory=dict)

    def compare_markers(self, analysis: dict[str, Any]) -> dict[str, Any] | None:
        """The `markers` section of the analysis object (None without a recorded marker stream)."""
        if self.recorded_holds is None:
            return None
        out = compare_holds(analysis.get("holds", []), self.recorded_holds)
        out = {"stream": self.marker_stream, "events": dict(self.marker_counts), **out}
        return out


def is_xdf(path: str | os.PathLike[str], *, strict: bool = False) -> bool:
    """True for an XDF file: an `XDF:` magic (gzip for `.xdfz`) whatever its name, or (unless
    `strict`, used when picking files out of a folder) an `.xdf`/`.xdfz` name."""
    p = str(path)
    named = p.lower().endswith(XDF_SUFFIXES)
    if named and not strict:
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head == XDF_MAGIC or (p.lower().endswith(".xdfz") and head[:2] == b"\x1f\x8b")


def _text(d: Any, key: str, default: str = "") -> str:
    """pyxdf's XML dicts wrap every value in a list: d[key][0]."""
    if not isinstance(d, dict):
        return default
    v = d.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    if v is None or isinstance(v, (dict, list)):
        return default
    return str(v)


def _child(d: Any, key: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        return {}
    v = d.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    return v if isinstance(v, dict) else {}


def _channels(info: dict[str, Any]) -> list[dict[str, str]]:
    chs = _child(_child(info, "desc"), "channels").get("channel") or []
    return [{"label": _text(c, "label"), "unit": _text(c, "unit"), "type": _text(c, "type")} for c in chs
            if isinstance(c, dict)]


def _describe(s: dict[str, Any]) -> str:
    info = s["info"]
    return f"'{_text(info, 'name')}' ({_text(info, 'type') or 'no type'})"


def _is_holdsense(info: dict[str, Any]) -> bool:
    acq = _child(_child(info, "desc"), "acquisition")
    return (_text(acq, "manufacturer").lower() == "holdsense" or _text(info, "name").startswith("holdsense")
            or _text(info, "source_id").startswith("holdsense-"))


def _load(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """pyxdf.load_xdf with its log messages and warnings collected (they go into quality.warnings)."""
    import logging  # here, not at the top: `analyze` of a CSV asks is_xdf() and should not pay for logging

    pyxdf = require("pyxdf")
    notes: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage().split("\n")[0])

    logger = logging.getLogger("pyxdf.pyxdf")
    handler = _Collect(level=logging.WARNING)
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # ours to report, once, in the analysis
    try:
        with pywarnings.catch_warnings(record=True) as caught:
            pywarnings.simplefilter("always")
            # Our outlet stamps from the device clock already: keep those stamps (no dejitter),
            # but apply LabRecorder's clock offsets so every stream shares the recorder's clock.
            streams, header = pyxdf.load_xdf(str(path), synchronize_clocks=True, dejitter_timestamps=False)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyxdf raises many types on a broken file
        raise XdfError(f"{path}: not a readable XDF file ({type(exc).__name__}: {exc})") from None
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate
    notes.extend(str(w.message) for w in caught)
    return streams, header, [f"XDF: {n}" for n in dict.fromkeys(notes)]


def _pick_force_stream(streams: list[dict[str, Any]], wanted: str | None, path: Path) -> dict[str, Any]:
    listing = ", ".join(_describe(s) for s in streams) or "none"
    if wanted:
        for key in ("name", "source_id"):
            hits = [s for s in streams if _text(s["info"], key) == wanted]
            if not hits:
                hits = [s for s in streams if _text(s["info"], key).lower() == wanted.lower()]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise XdfError(f"{path}: {len(hits)} streams are called '{wanted}'; name one by its source id")
        raise XdfError(f"{path}: no stream named '{wanted}' (streams: {listing})")
    numeric = [s for s in streams if _text(s["info"], "channel_format") != "string"]
    force = [s for s in numeric if _text(s["info"], "type").lower() == "force"]
    ours = [s for s in force if _is_holdsense(s["info"])]
    for group in (ours, force):
        if len(group) == 1:
            return group[0]
        if len(group) > 1:
            names = ", ".join(_describe(s) for s in group)
            raise XdfError(f"{path}: several force streams ({names}); choose one with --stream NAME")
    raise XdfError(f"{path}: no holdsense force stream (type Force) (streams: {listing}); "
                   f"choose one with --stream NAME")


def _channel_index(chs: list[dict[str, str]], prefix: str) -> int | None:
    labels = [c["label"].lower() for c in chs]
    for i, lab in enumerate(labels):
        if lab == f"{prefix}_n" or lab == f"{prefix}_deg":
            return i
    for i, lab in enumerate(labels):
        if lab.startswith(prefix):
            return i
    return None


def _pick_marker_stream(streams: list[dict[str, Any]], force: dict[str, Any]) -> dict[str, Any] | None:
    """The roller's marker stream: declared for this force stream, else named after it, else the only
    Markers stream whose samples are holdsense marker JSON."""
    finfo = force["info"]
    fname = _text(finfo, "name")
    fsid = _text(finfo, "source_id")
    markers = [s for s in streams if s is not force and _text(s["info"], "channel_format") == "string"]
    for s in markers:
        hs = _child(_child(s["info"], "desc"), "holdsense")
        if _text(hs, "force_stream") == fname and fname:
            return s
    for s in markers:
        info = s["info"]
        if _text(info, "name") == f"{fname}-markers" or (
                fsid.startswith("holdsense-force-") and _text(info, "source_id") == fsid.replace("-force-", "-markers-", 1)):
            return s
    ours = [s for s in markers if _text(s["info"], "type").lower() == "markers" and _parse_markers(s)[0]]
    return ours[0] if len(ours) == 1 else None


def _parse_markers(s: dict[str, Any]) -> tuple[list[tuple[float, dict[str, Any]]], int]:
    """(stamp, marker object) of every holdsense marker in a string stream, and how many were not ours."""
    out: list[tuple[float, dict[str, Any]]] = []
    foreign = 0
    for stamp, sample in zip(s.get("time_stamps", []), s.get("time_series", [])):
        text = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
        try:
            obj = json.loads(text)
        except (TypeError, ValueError):
            foreign += 1
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            out.append((float(stamp), obj))
        else:
            foreign += 1
    return out, foreign


def _recorded_holds(markers: list[tuple[float, dict[str, Any]]], t0: float) -> list[dict[str, Any]]:
    """Holds as recorded by the live detector, on the force stream's t_s (LSL stamps minus its first stamp).

    The end is the hold_ended marker's stamp; the start is its hold_started
    marker's stamp when both are there, else the end minus the duration.
    """
    starts: dict[Any, float] = {}
    for stamp, m in markers:
        if m["event"] == "hold_started":
            starts[m.get("hold")] = stamp
    holds = []
    for stamp, m in markers:
        if m["event"] != "hold_ended":
            continue
        dur = m.get("duration_s")
        end = stamp - t0
        start_stamp = starts.get(m.get("hold")) if m.get("hold") is not None else None
        if start_stamp is not None and start_stamp <= stamp:
            start = start_stamp - t0
        elif isinstance(dur, (int, float)):
            start = end - float(dur)
        else:
            continue
        holds.append({"start_s": start, "end_s": end, "duration_s": end - start,
                      "score": m.get("score"), "grade": m.get("grade"), "hold": m.get("hold")})
    holds.sort(key=lambda h: h["start_s"])
    return holds


def read_xdf(path: str | os.PathLike[str], stream: str | None = None) -> XdfRecording:
    """Load one force stream of an XDF file as a Recording for analysis (see module docstring).

    Raises XdfError (a UserError: one line, exit 2) for a missing or unreadable
    file, no matching stream, a non-numeric stream, no force channel, a force
    unit it cannot convert, or no samples.
    """
    p = Path(path)
    if not p.exists():
        raise XdfError(f"{p}: no such file")
    if p.is_dir():
        raise XdfError(f"{p}: is a directory")
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise XdfError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if head != XDF_MAGIC and not (p.name.lower().endswith(".xdfz") and head[:2] == b"\x1f\x8b"):
        raise XdfError(f"{p}: not an XDF file (it does not start with 'XDF:')")

    streams, header, notes = _load(p)
    if not streams:
        raise XdfError(f"{p}: no streams in the file")
    s = _pick_force_stream(streams, stream, p)
    info = s["info"]
    name = _text(info, "name")
    if _text(info, "channel_format") == "string":
        raise XdfError(f"{p}: stream '{name}' holds text, not force samples")
    chs = _channels(info)
    nch = int(_text(info, "channel_count", "0") or 0) or (len(chs) or 1)
    fi = _channel_index(chs, "force")
    if fi is None:
        if nch == 1:
            fi = 0
        else:
            labels = ", ".join(c["label"] or "?" for c in chs) or "no labels"
            raise XdfError(f"{p}: stream '{name}' has no force channel (channels: {labels})")
    ai = _channel_index(chs, "angle")
    f_unit = chs[fi]["unit"].strip().lower() if fi < len(chs) else ""
    if f_unit not in _FORCE_UNITS:
        raise XdfError(f"{p}: stream '{name}': force unit '{chs[fi]['unit']}' is not one holdsense converts "
                       f"(N, kgf, lbf)")
    a_scale = 1.0
    if ai is not None:
        a_unit = chs[ai]["unit"].strip().lower()
        if a_unit in _ANGLE_UNITS:
            a_scale = _ANGLE_UNITS[a_unit]
        else:
            # An angle we cannot interpret is left out, not guessed.
            notes.append(f"XDF: angle unit '{chs[ai]['unit']}' not understood; angle ignored")
            ai = None

    ts = np.asarray(s.get("time_stamps", []), dtype=np.float64)
    data = np.asarray(s.get("time_series", []), dtype=np.float64)
    if len(ts) == 0:
        raise XdfError(f"{p}: stream '{name}' has no samples")
    if data.ndim == 1:
        data = data[:, None]
    keep = np.isfinite(ts)
    if not keep.all():
        notes.append(f"XDF: {plural(int((~keep).sum()), 'sample')} without a valid time stamp dropped")
        ts, data = ts[keep], data[keep]
    if np.any(np.diff(ts) < 0):
        order = np.argsort(ts, kind="stable")
        ts, data = ts[order], data[order]
        notes.append("XDF: time stamps out of order; samples sorted by time")
    t0 = float(ts[0])
    t_s = ts - t0
    # (a corrupt double may be a signalling NaN, which makes numpy warn 'invalid value' in the multiply: it is
    # a missing value like any NaN, dropped where samples enter the detector, holdsense.inputcheck)
    with np.errstate(invalid="ignore"):
        force_n = data[:, fi] * _FORCE_UNITS[f_unit]
        angle_deg = data[:, ai] * a_scale if ai is not None else None

    srate = float(_text(info, "nominal_srate", "0") or 0)
    flags = np.zeros(len(t_s), dtype=np.uint8)
    if len(t_s) > 2:
        dt = np.diff(t_s)
        typical = 1.0 / srate if srate > 0 else float(np.median(dt))
        # Marked as the recording format marks lost samples, so the analysis counts and bridges them.
        flags[1:][dt > max(3.0 * typical, 0.1)] |= FLAG_GAP

    hs = _child(_child(info, "desc"), "holdsense")
    acq = _child(_child(info, "desc"), "acquisition")
    metadata: dict[str, Any] = {"format": "xdf", "stream": name, "source_id": _text(info, "source_id"),
                                "sample_rate_hz": srate or None}
    # holdsense's own device line when the stream carries it (the CSV header's, verbatim), else built from
    # the standard acquisition fields
    dev = _text(hs, "device") or " ".join(
        x for x in (_text(acq, "model"), f"fw={_text(acq, 'firmware')}" if _text(acq, "firmware") else "",
                    f"id={_text(acq, 'serial_number')}" if _text(acq, "serial_number") else "") if x)
    if dev:
        metadata["device"] = dev
    for key in ("region", "body_mass_kg", "started_utc"):
        if _text(hs, key):
            metadata[key] = _text(hs, key)
    dt_hdr = _text(_child(header or {}, "info"), "datetime")
    if dt_hdr:
        metadata["recorded_at"] = dt_hdr
    metadata = {k: v for k, v in metadata.items() if v not in (None, "")}

    samples = SampleChunk(t_s, force_n, angle_deg, flags)
    rec = XdfRecording(source=str(p), metadata=metadata, samples=samples,
                       columns=["t_s", "force_n"] + (["angle_deg"] if angle_deg is not None else []),
                       warnings=notes, stream_name=name)
    ms = _pick_marker_stream(streams, s)
    if ms is not None:
        parsed, _foreign = _parse_markers(ms)
        rec.marker_stream = _text(ms["info"], "name")
        counts: dict[str, int] = {}
        for _, m in parsed:
            counts[m["event"]] = counts.get(m["event"], 0) + 1
        rec.marker_counts = counts
        rec.recorded_holds = _recorded_holds(parsed, t0)
    return rec


def compare_holds(analysis_holds: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> dict[str, Any]:
    """How the analysis's holds line up with recorded ones (same time base, seconds).

    Pairs are made greedily by overlap (intersection over union ≥ 0.5), best
    overlap first, each hold used once. Returns counts, the pairs with their
    start/end differences and both scores, and what is left unmatched.
    """
    cands = []
    for i, a in enumerate(analysis_holds):
        for j, r in enumerate(recorded):
            inter = min(a["end_s"], r["end_s"]) - max(a["start_s"], r["start_s"])
            union = max(a["end_s"], r["end_s"]) - min(a["start_s"], r["start_s"])
            if inter > 0 and union > 0 and inter / union >= MATCH_MIN_IOU:
                cands.append((inter / union, i, j))
    cands.sort(key=lambda c: -c[0])
    used_a: set[int] = set()
    used_r: set[int] = set()
    pairs = []
    for iou, i, j in cands:
        if i in used_a or j in used_r:
            continue
        used_a.add(i)
        used_r.add(j)
        a, r = analysis_holds[i], recorded[j]
        pairs.append({"start_s": round(a["start_s"], 3), "recorded_start_s": round(r["start_s"], 3),
                      "start_diff_s": round(a["start_s"] - r["start_s"], 3),
                      "end_diff_s": round(a["end_s"] - r["end_s"], 3),
                      "score": a.get("score"), "recorded_score": r.get("score"), "overlap": round(iou, 3)})
    pairs.sort(key=lambda p: p["start_s"])
    diffs = [abs(p["start_diff_s"]) for p in pairs] + [abs(p["end_diff_s"]) for p in pairs]
    return {
        "recorded_holds": len(recorded),
        "analysis_holds": len(analysis_holds),
        "matched": len(pairs),
        "same_score": sum(1 for p in pairs if p["score"] == p["recorded_score"]),
        "max_abs_diff_s": round(max(diffs), 3) if diffs else None,
        "pairs": pairs,
        "unmatched_analysis": [{"start_s": round(a["start_s"], 3), "end_s": round(a["end_s"], 3),
                                "score": a.get("score")}
                               for i, a in enumerate(analysis_holds) if i not in used_a],
        "unmatched_recorded": [{"start_s": round(r["start_s"], 3), "end_s": round(r["end_s"], 3),
                                "score": r.get("score")}
                               for j, r in enumerate(recorded) if j not in used_r],
    }


def render_marker_lines(m: dict[str, Any]) -> list[str]:
    """Text report lines for the `markers` section of an analysis."""
    from ..fmt import fmt_clock

    head = (f"Recorded markers ({m.get('stream') or 'marker stream'}): {plural(int(m['recorded_holds']), 'hold')} recorded, "
            f"{m['analysis_holds']} found here, {m['matched']} line up")
    if m["matched"]:
        head += (f" (start/end within {m['max_abs_diff_s']:.2f} s; "
                 f"{m['same_score']} of {m['matched']} with the same score)")
    lines = [head]
    for p in m["pairs"]:
        if p["score"] != p["recorded_score"]:
            lines.append(f"  hold at {fmt_clock(p['start_s'])}: score {p['score']} here, "
                         f"{p['recorded_score']} recorded live")
    for a in m["unmatched_analysis"]:
        lines.append(f"  hold at {fmt_clock(a['start_s'])} (score {a['score']}) has no recorded marker")
    for r in m["unmatched_recorded"]:
        where = "before this stream starts" if r["start_s"] < 0 else "not found here"
        lines.append(f"  recorded hold at {fmt_clock(max(0.0, r['start_s']))} (score {r['score']}) {where}")
    return lines
