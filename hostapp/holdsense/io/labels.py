"""Labels (ground truth) as a file: `holdsense-labels/1` (docs/contracts.md §2).

`X.labels.json` beside a recording `X.csv` (or `X.xdf`, `X.hscap`)::

    {"format": "holdsense-labels/1",
     "source": "X.csv",
     "labeller": {"who": "anna", "how": "manual", "tool": "holdsense label 0.1.0", "date": "2026-12-04"},
     "labelled_kinds": ["hold", "roll"],
     "region": "calves", "side": "left",
     "segments": [{"kind": "hold", "start_s": 23.0, "end_s": 63.0, "side": "right", "region": "quads"}, ...],
     "notes": [{"t_s": 40.2, "text": "felt it let go"}]}

Only `format` and `segments` are required (the simulator's files have just
those and `scenario`). `labelled_kinds` says which kinds the labeller looked
for: time inside no segment is "none of those" (a person who marked only
holds says nothing about rolling vs off); absent, the segments tile the
recording and every kind (off, roll, hold) counts. `other` segments (standing
up, adjusting the roller) are left out of scoring. `side`/`region` on a
segment override the file's. Readers ignore keys they do not know.

Sources: a recording's `marker` column (`labels_from_markers`), a CSV of
spans (`labels_from_spans_csv`), LabRecorder marker streams in an XDF file
(`labels_from_xdf`), and the detector's own output (`labels_from_analysis`).
"""
from __future__ import annotations

import csv
import getpass
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..errors import UserError
from .markers import Marker, marker_from_word

LABELS_FORMAT = "holdsense-labels/1"
SPAN_KINDS = ("off", "roll", "hold", "other")
SCORED_KINDS = ("off", "roll", "hold")
SIDES = ("left", "right")
HOW = ("manual", "markers", "csv", "xdf-markers", "detector", "detector-corrected", "simulator")


class LabelsError(UserError):
    """A labels file or span source that cannot be used (one line, exit 2)."""


def labels_path_for(recording_path: str | os.PathLike[str]) -> Path:
    """X.csv / X.csv.gz / X.xdf / X.hscap -> X.labels.json beside it."""
    p = Path(recording_path)
    name = p.name
    for suffix in (".csv.gz", ".csv", ".xdfz", ".xdf", ".hscap"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = p.stem
    return p.with_name(name + ".labels.json")


def labeller(who: str | None, how: str, **extra: Any) -> dict[str, Any]:
    """The `labeller` block: who labelled, how, with which tool, when (UTC date). `who` defaults to the
    login name (getpass: $LOGNAME, $USER, ..., then the password database), as docs/labelling.md says."""
    d = {"who": who or _login_name(), "how": how,
         "tool": f"holdsense {__version__}", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    d.update({k: v for k, v in extra.items() if v is not None})
    return d


def simulator_labeller(generator: str) -> dict[str, Any]:
    """The `labeller` block of a generator's labels (contracts.md: `how` "simulator"), so a dataset of
    simulated sessions says who made its labels like any other."""
    return {"who": generator, "how": "simulator", "tool": f"holdsense {__version__} {generator}"}


def _login_name() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):  # no login name anywhere (a container's uid without a passwd entry)
        return "unknown"


def _num(v: Any, what: str, source: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise LabelsError(f"{source}: {what}: {v!r} is not a number") from None
    if not math.isfinite(x):
        raise LabelsError(f"{source}: {what}: {v!r} is not finite")
    return x


def validate(obj: Any, source: str) -> dict[str, Any]:
    """Check a labels object and return it with segments sorted by start (raises LabelsError, one line)."""
    if not isinstance(obj, dict):
        raise LabelsError(f"{source}: not a labels object (expected a JSON object)")
    fmt = obj.get("format")
    if not isinstance(fmt, str) or not fmt.startswith("holdsense-labels/"):
        raise LabelsError(f"{source}: not a holdsense labels file (format {fmt!r}, expected {LABELS_FORMAT})")
    if fmt.split("/", 1)[1].split(".")[0] != "1":
        raise LabelsError(f"{source}: unknown labels version '{fmt}' (this version reads {LABELS_FORMAT})")
    segs = obj.get("segments")
    if not isinstance(segs, list):
        raise LabelsError(f"{source}: 'segments' must be a list of spans")
    out = []
    for i, s in enumerate(segs):
        where = f"segment {i + 1}"
        if not isinstance(s, dict):
            raise LabelsError(f"{source}: {where}: not an object")
        kind = s.get("kind")
        if kind not in SPAN_KINDS:
            raise LabelsError(f"{source}: {where}: kind {kind!r} is not one of {', '.join(SPAN_KINDS)}")
        a = _num(s.get("start_s"), f"{where} start_s", source)
        b = _num(s.get("end_s"), f"{where} end_s", source)
        if a < 0 or b <= a:
            raise LabelsError(f"{source}: {where}: start_s {a:g} to end_s {b:g} is not a span (0 <= start < end)")
        side = s.get("side")
        if side is not None and side not in SIDES:
            raise LabelsError(f"{source}: {where}: side {side!r} is not left or right")
        region = s.get("region")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise LabelsError(f"{source}: {where}: region must be a name such as quads")
        out.append(dict(s, start_s=a, end_s=b))
    out.sort(key=lambda s: s["start_s"])
    for x, y in zip(out, out[1:]):
        if y["start_s"] < x["end_s"] - 1e-6:
            raise LabelsError(f"{source}: segments overlap: {x['kind']} {x['start_s']:g}-{x['end_s']:g} s and "
                              f"{y['kind']} {y['start_s']:g}-{y['end_s']:g} s")
    kinds = obj.get("labelled_kinds")
    if kinds is not None and (not isinstance(kinds, list) or not set(kinds) <= set(SCORED_KINDS) or not kinds):
        raise LabelsError(f"{source}: labelled_kinds must be a non-empty list of {', '.join(SCORED_KINDS)}")
    side = obj.get("side")
    if side is not None and side not in SIDES:
        raise LabelsError(f"{source}: side {side!r} is not left or right")
    return dict(obj, segments=out)


#: How far a span may end after the recording's last sample, in seconds: a span dragged to the end of the
#: labelling window, or a recorder killed before its last rows, is not a labels file of another recording.
END_TOLERANCE_S = 0.5


def check_within_recording(labels: dict[str, Any], t_end_s: float, source: str) -> None:
    """Raise LabelsError (one line naming `source`) when a span of validated `labels` ends more than
    END_TOLERANCE_S after the recording's last sample, `t_end_s` (seconds on its `t_s`): such labels were
    made for another recording or shifted in time, and scoring them would count the detector wrong for
    time it never saw. Used by `holdsense dataset check` and `holdsense evaluate` alike."""
    late = [s for s in labels["segments"] if s["end_s"] > t_end_s + END_TOLERANCE_S]
    if late:
        raise LabelsError(f"{source}: span {late[0]['start_s']:g}-{late[0]['end_s']:g} s ends after the "
                          f"recording ({t_end_s:.1f} s)")


def read_labels(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a labels file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelsError(f"{p}: no such labels file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise LabelsError(f"{p}: not valid JSON ({exc})") from None
    return validate(obj, str(p))


def write_labels(path: str | os.PathLike[str], obj: dict[str, Any]) -> Path:
    """Validate and write a labels file atomically (a crash leaves the old file, never half a file)."""
    p = Path(path)
    obj = validate(dict(obj, format=obj.get("format", LABELS_FORMAT)), str(p))
    obj = {"format": obj.pop("format"), **obj}
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, p)
    return p


def write_labelled_recording(path: str | os.PathLike[str], chunk: Any, metadata: dict[str, Any],
                             labels: dict[str, Any]) -> tuple[Path, Path]:
    """Write a generated session: the recording (holdsense-recording/1, .csv or .csv.gz) and its labels
    beside it (validated, atomic, with `source` naming the recording); returns (recording, labels) paths.
    One writer for the generators' `Session.write`, so their files come out alike."""
    from .recording import write_recording  # lazy: reading labels does not need the recording writer

    p = Path(path)
    write_recording(p, chunk, metadata)
    return p, write_labels(labels_path_for(p), dict(labels, source=p.name))


class GeneratedSession:
    """What the generators' `Session` dataclasses share: accessors of their samples and one writer.

    A subclass has `chunk` (SampleChunk), `metadata` (the recording header) and `labels` (this
    contract's object). Why: controlsim and tissuesim were written apart on purpose (their physics),
    but a session's files and the names tools read (`samples`, as holdsense.sim's results have) must
    come out alike.
    """

    chunk: Any
    metadata: dict[str, Any]
    labels: dict[str, Any]

    @property
    def samples(self) -> Any:
        return self.chunk

    @property
    def t_s(self) -> Any:
        return self.chunk.t_s

    @property
    def force_n(self) -> Any:
        return self.chunk.force_n

    @property
    def angle_deg(self) -> Any:
        return self.chunk.angle_deg

    @property
    def duration_s(self) -> float:
        return float(self.labels["duration_s"])

    def write(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write the recording (holdsense-recording/1; .csv or .csv.gz) and X.labels.json beside it;
        (recording, labels) paths."""
        return write_labelled_recording(path, self.chunk, self.metadata, self.labels)


def labelled_kinds(obj: dict[str, Any]) -> tuple[str, ...]:
    """The kinds a labels object speaks for (all three when it does not say)."""
    k = obj.get("labelled_kinds")
    return tuple(x for x in SCORED_KINDS if x in k) if k else SCORED_KINDS


# ------------------------------------------------------------------------------------------ sources
def labels_from_markers(markers: Iterable[Marker], t_end_s: float, *, source: str | None = None,
                        who: str | None = None, how: str = "markers") -> tuple[dict[str, Any], list[str]]:
    """Hold spans from "hold starts"/"hold ends" markers; (labels, warnings).

    A hold runs from a start to the next end. A start with no end before the
    next start (or the end of the recording) is closed there, with a warning;
    an end with no open hold is skipped with a warning. Notes are kept.
    """
    segs: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    warnings: list[str] = []
    open_at: float | None = None
    for m in sorted(markers, key=lambda m: m.t_s):
        if m.kind == "hold_start":
            if open_at is not None:
                warnings.append(f"hold started at {open_at:.2f} s has no end before the next start at "
                                f"{m.t_s:.2f} s: closed there")
                if m.t_s > open_at:
                    segs.append({"kind": "hold", "start_s": round(open_at, 4), "end_s": round(m.t_s, 4)})
            open_at = m.t_s
        elif m.kind == "hold_end":
            if open_at is None:
                warnings.append(f"hold end at {m.t_s:.2f} s without a start: skipped")
                continue
            if m.t_s > open_at:
                segs.append({"kind": "hold", "start_s": round(open_at, 4), "end_s": round(m.t_s, 4)})
            open_at = None
        else:
            notes.append({"t_s": round(m.t_s, 4), "text": m.text})
    if open_at is not None:
        warnings.append(f"hold started at {open_at:.2f} s has no end: closed at the end of the recording")
        if t_end_s > open_at:
            segs.append({"kind": "hold", "start_s": round(open_at, 4), "end_s": round(t_end_s, 4)})
    obj: dict[str, Any] = {"format": LABELS_FORMAT}
    if source:
        obj["source"] = Path(source).name
    obj.update(labeller=labeller(who, how), labelled_kinds=["hold"], segments=segs)
    if notes:
        obj["notes"] = notes
    return obj, warnings


def labels_from_spans_csv(path: str | os.PathLike[str], *, source: str | None = None,
                          who: str | None = None) -> dict[str, Any]:
    """Spans from a CSV with a header `start_s,end_s,kind[,side][,region][,note]` (one span per row).

    `labelled_kinds` are the scored kinds that appear (a file of holds only speaks for holds).
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = [(reader.line_num, row) for row in reader]  # the reader skips blank lines: keep real numbers
            fields = [f.strip() for f in (reader.fieldnames or [])]
    except FileNotFoundError:
        raise LabelsError(f"{p}: no such spans file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelsError(f"{p}: cannot read spans ({exc})") from None
    missing = [c for c in ("start_s", "end_s", "kind") if c not in fields]
    if missing:
        raise LabelsError(f"{p}: spans CSV lacks column{'' if len(missing) == 1 else 's'} {', '.join(missing)} (header: start_s,end_s,kind"
                          f"[,side][,region][,note])")
    segs = []
    for i, row in rows:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        s: dict[str, Any] = {"kind": row["kind"].lower(), "start_s": _num(row["start_s"], f"line {i}: start_s", str(p)),
                             "end_s": _num(row["end_s"], f"line {i}: end_s", str(p))}
        if s["kind"] not in SPAN_KINDS:
            raise LabelsError(f"{p}: line {i}: kind {row['kind']!r} is not one of {', '.join(SPAN_KINDS)}")
        for key in ("side", "region", "note"):
            if row.get(key):
                s[key] = row[key].lower() if key == "side" else row[key]
        # checked here as well as in validate(), so that the message names the CSV's line, not a span index
        if s["start_s"] < 0 or s["end_s"] <= s["start_s"]:
            raise LabelsError(f"{p}: line {i}: start_s {s['start_s']:g} to end_s {s['end_s']:g} is not a span "
                              f"(0 <= start < end)")
        if "side" in s and s["side"] not in SIDES:
            raise LabelsError(f"{p}: line {i}: side {row['side']!r} is not left or right")
        segs.append(s)
    if not segs:
        raise LabelsError(f"{p}: no spans")
    kinds = [k for k in SCORED_KINDS if any(s["kind"] == k for s in segs)] or ["hold"]
    obj = {"format": LABELS_FORMAT, **({"source": Path(source).name} if source else {}),
           "labeller": labeller(who, "csv", file=p.name), "labelled_kinds": kinds, "segments": segs}
    return validate(obj, str(p))


def labels_from_analysis(analysis: dict[str, Any], *, who: str | None = None,
                         how: str = "detector") -> dict[str, Any]:
    """The detector's segments as labels (`label --accept-detector`: a starting point to correct)."""
    segs = [{"kind": s["kind"], "start_s": round(float(s["start_s"]), 4), "end_s": round(float(s["end_s"]), 4)}
            for s in analysis.get("segments", []) if float(s["end_s"]) > float(s["start_s"])]
    obj = {"format": LABELS_FORMAT, "source": Path(str(analysis.get("source", ""))).name or None,
           "labeller": labeller(who, how), "segments": segs}
    if analysis.get("region"):
        obj["region"] = analysis["region"]
    return {k: v for k, v in obj.items() if v is not None}


def xdf_markers(path: str | os.PathLike[str], stream: str | None = None,
                marker_stream: str | None = None) -> tuple[list[Marker], float, list[str]]:
    """User markers in an XDF file, on the force stream's t_s; (markers, t_end_s, stream names used).

    Reads holdsense's own marker stream (`{"event": "mark", ...}` objects, docs/lab.md) and any other
    string stream (a lab's keyboard/marker app: "hold start", "hold_end", ...; other strings become
    notes). `marker_stream` restricts to one stream by name. Timing: LabRecorder's common clock.
    """
    from .xdf import _load, _pick_force_stream, _text

    p = Path(path)
    streams, _header, _notes = _load(p)
    force = _pick_force_stream(streams, stream, p)
    ts = force.get("time_stamps")
    if ts is None or len(ts) == 0:
        raise LabelsError(f"{p}: the force stream has no samples")
    t0, t_end = float(ts[0]), float(ts[-1]) - float(ts[0])
    out: list[Marker] = []
    used: list[str] = []
    strings = [s for s in streams if _text(s["info"], "channel_format") == "string"]
    if marker_stream:
        strings = [s for s in strings if _text(s["info"], "name").lower() == marker_stream.lower()]
        if not strings:
            raise LabelsError(f"{p}: no string stream named '{marker_stream}'")
    for s in strings:
        found = 0
        for stamp, sample in zip(s.get("time_stamps", []), s.get("time_series", [])):
            text = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
            t = float(stamp) - t0
            try:
                obj = json.loads(text)
            except (TypeError, ValueError):
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("event"), str):
                if obj["event"] == "mark" and obj.get("mark") in ("hold_start", "hold_end", "note"):
                    out.append(Marker(t, obj["mark"], str(obj.get("text", ""))))
                    found += 1
                continue  # the detector's own events are not ground truth
            if isinstance(text, str) and text.strip():
                out.append(marker_from_word(text, t))
                found += 1
        if found:
            used.append(_text(s["info"], "name"))
    return out, t_end, used
