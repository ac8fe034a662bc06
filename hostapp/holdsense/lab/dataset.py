"""A labelled dataset folder ready to publish, and its checker (`holdsense dataset export|check`).

Layout (docs/dataset.md), the one `holdsense evaluate DIR` and bench/fit_segmenter.py read::

    DIR/
      README.md            datasheet for people: sensor, rate, shell, consent, licence, columns, sessions
      datasheet.json       the same, for programs ("format": "holdsense-dataset/1")
      SHA256SUMS           `sha256sum -c SHA256SUMS` checks every file
      load_dataset.py      loader snippet: numpy + the standard library, no holdsense needed
      <session>.csv[.gz]   holdsense-recording/1 (captures and XDF streams are converted)
      <session>.labels.json  holdsense-labels/1 beside each recording

`check_dataset` returns one line per problem (empty: fine).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__

DATASET_FORMAT = "holdsense-dataset/1"
TO_FILL = "TO FILL IN"
CHECKSUMS = "SHA256SUMS"
REQUIRED_FIELDS = ("title", "licence", "consent", "sensor", "shell", "contact")
COLUMNS = {
    "t_s": "seconds since the recording started, from the roller's own clock (non-decreasing)",
    "force_n": "vertical load between body and roller, newtons",
    "angle_deg": "cumulative (unwrapped) rotation of the roller shell, degrees; absent on force-only rollers",
    "raw_counts": "the load cell ADC reading (HX711 counts), for re-calibration",
    "flags": "'|'-joined tokens: sat (ADC saturated), gap (first sample after lost samples), spike (despiked)",
    "marker": "markers pressed while rolling: hold_start, hold_end, note:<percent-encoded text>",
}
_RECORDING_SUFFIXES = (".csv", ".csv.gz")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _session_name(path: str) -> str:
    name = Path(path).name
    for suffix in (".csv.gz", ".csv", ".xdfz", ".xdf", ".hscap"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _summary(rec: Any, labels: dict[str, Any] | None) -> dict[str, Any]:
    t = rec.samples.t_s
    dur = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    segs = (labels or {}).get("segments", [])
    lab = (labels or {}).get("labeller") or {}
    return {
        "duration_s": round(dur, 1),
        "samples": int(len(t)),
        "rate_hz": round((len(t) - 1) / dur, 1) if dur > 0 else None,
        "nominal_rate_hz": rec.metadata.get("sample_rate_hz"),
        "encoder": rec.samples.angle_deg is not None,
        "region": (labels or {}).get("region") or rec.region,
        "side": (labels or {}).get("side"),
        "device": rec.metadata.get("device"),
        "body_mass_kg": rec.body_mass_kg,
        "labelled_kinds": (labels or {}).get("labelled_kinds") or (["off", "roll", "hold"] if labels else []),
        "holds_labelled": sum(1 for s in segs if s["kind"] == "hold"),
        "labelled_by": lab.get("how"),
    }


def export_dataset(inputs: list[str], out_dir: str | os.PathLike[str], *, info: dict[str, Any],
                   include_unlabelled: bool = False, compress: bool = False) -> dict[str, Any]:
    """Write the dataset folder; returns the datasheet. Raises UserError (one line) for bad input."""
    from ..analysis import expand_inputs, load_for_analysis
    from ..errors import UserError
    from ..io.labels import labels_path_for, read_labels, write_labels
    from ..io.recording import FORMAT, sniff_format, write_recording

    out = Path(out_dir)
    files = expand_inputs(inputs)
    if not files:
        raise UserError("no recordings found in " + ", ".join(inputs))
    plan = []
    for f in files:
        lp = labels_path_for(f)
        if not lp.is_file() and not include_unlabelled:
            raise UserError(f"{f}: no labels beside it ({lp.name}); label it first or use --include-unlabelled")
        plan.append((f, lp if lp.is_file() else None))
    names = [_session_name(f) for f, _ in plan]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"two inputs would both be named '{dup[0]}' in the dataset: rename one")
    out.mkdir(parents=True, exist_ok=True)
    old = out / CHECKSUMS
    if old.is_file():  # re-export into the same folder: remove what the previous export wrote, nothing else
        for line in old.read_text(encoding="utf-8", errors="replace").splitlines():
            name = line.strip().partition("  ")[2]
            if name and "/" not in name and (out / name).is_file():
                (out / name).unlink()
        old.unlink()
    sessions = []
    for (src, lp), name in zip(plan, names):
        rec = load_for_analysis(src)
        labels = read_labels(lp) if lp else None
        fmt = sniff_format(src)
        is_csv = fmt is not None and fmt.split(".")[0] == FORMAT and src.endswith(_RECORDING_SUFFIXES)
        gz = src.endswith(".gz") or compress
        dst = out / (name + (".csv.gz" if gz else ".csv"))
        if is_csv and src.endswith(".gz") == gz:
            shutil.copyfile(src, dst)  # byte for byte: what was recorded is what is published
        else:
            meta = {k: v for k, v in rec.metadata.items() if k != "format"}
            if not is_csv:
                meta["converted_from"] = Path(src).name
            write_recording(dst, rec.samples, meta)
        entry = {"recording": dst.name, **_summary(rec, labels)}
        if labels is not None:
            labels = dict(labels, source=dst.name)
            write_labels(out / (name + ".labels.json"), labels)
            entry["labels"] = name + ".labels.json"
        sessions.append(entry)
    rates = sorted({s["nominal_rate_hz"] for s in sessions if s["nominal_rate_hz"] is not None}, key=float)
    sheet = {
        "format": DATASET_FORMAT,
        "title": info.get("title") or TO_FILL,
        "description": info.get("description") or "",
        "licence": info.get("licence") or TO_FILL,
        "consent": info.get("consent") or TO_FILL,
        "contact": info.get("contact") or TO_FILL,
        "sensor": info.get("sensor") or "holdsense roller: HX711 24-bit ADC on load cells (force_n)"
                  + ("; AS5600 magnetic encoder on the shell (angle_deg)" if any(s["encoder"] for s in sessions) else ""),
        "shell": info.get("shell") or TO_FILL,
        "rate_hz": rates,
        "created_utc": _created_utc(),
        "tool": f"holdsense {__version__}",
        "recording_format": FORMAT,
        "labels_format": "holdsense-labels/1",
        "columns": COLUMNS,
        "sessions": sessions,
    }
    (out / "datasheet.json").write_text(json.dumps(sheet, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(render_readme(sheet), encoding="utf-8")
    (out / "load_dataset.py").write_text(LOADER, encoding="utf-8")
    write_checksums(out)
    return sheet


def _created_utc() -> str:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds: the example dataset rebuilds byte for byte)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch and epoch.isdigit() else datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_checksums(folder: Path) -> None:
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(folder.iterdir()) if p.is_file() and p.name != CHECKSUMS]
    (folder / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def render_readme(sheet: dict[str, Any]) -> str:
    """The datasheet for people (Markdown)."""
    s = sheet["sessions"]
    total_h = sum(x["duration_s"] for x in s) / 3600
    lines = [f"# {sheet['title']}", ""]
    if sheet.get("description"):
        lines += [sheet["description"], ""]
    lines += [
        f"{len(s)} labelled foam-rolling session{'' if len(s) == 1 else 's'}, {total_h:.2f} h in total, recorded with an instrumented roller "
        f"(holdsense). Made with {sheet['tool']} on {sheet['created_utc'][:10]}.", "",
        "| field | value |", "|---|---|",
        f"| sensor | {sheet['sensor']} |",
        f"| rate | nominal {', '.join(str(r) for r in sheet['rate_hz']) or 'unknown'} Hz (real rates wander; "
        f"times come from `t_s`) |",
        f"| shell | {sheet['shell']} |",
        f"| consent | {sheet['consent']} |",
        f"| licence | {sheet['licence']} |",
        f"| contact | {sheet['contact']} |", "",
        "## Files", "",
        "- `<session>.csv` / `.csv.gz`: one recording each, format `holdsense-recording/1` "
        "(`# key: value` metadata lines, then a CSV header and one row per sample).",
        "- `<session>.labels.json`: the ground truth, format `holdsense-labels/1`: spans "
        "`{kind: hold|roll|off|other, start_s, end_s[, side, region]}`, who labelled and how (`labeller`), "
        "and which kinds were labelled (`labelled_kinds`; absent = all of off/roll/hold, the spans tile the "
        "session; `[\"hold\"]` = only holds were marked, the rest is \"not hold\"). `other` spans are not scored.",
        "- `datasheet.json`: this sheet for programs; `SHA256SUMS`: check with `sha256sum -c SHA256SUMS`;",
        "- `load_dataset.py`: a loader needing only numpy.", "",
        "## Columns", "", "| column | meaning |", "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in sheet["columns"].items()]
    lines += ["", "## Sessions", "",
              "| recording | duration | rate | encoder | region | side | holds | labelled by |",
              "|---|---|---|---|---|---|---|---|"]
    for x in s:
        lines.append(f"| {x['recording']} | {x['duration_s']:.0f} s | {x['rate_hz'] or '–'} Hz | "
                     f"{'yes' if x['encoder'] else 'no'} | {x['region'] or '–'} | {x['side'] or '–'} | "
                     f"{x['holds_labelled']} | {x['labelled_by'] or '–'} |")
    lines += ["", "## Loading", "", "```python", "from load_dataset import load", "",
              "for s in load('.'):", "    print(s['name'], s['t_s'].shape, [(x['kind'], x['start_s'], x['end_s'])"
              " for x in s['labels']['segments']][:3])", "```", "",
              "With holdsense installed: `holdsense evaluate .` scores its detector against these labels; "
              "`holdsense dataset check .` validates the folder.", ""]
    return "\n".join(lines)


LOADER = '''"""Load a holdsense dataset folder (holdsense-dataset/1) with numpy and the standard library only.

    from load_dataset import load
    for s in load("path/to/dataset"):
        s["name"], s["metadata"], s["t_s"], s["force_n"], s.get("angle_deg"), s["labels"]["segments"]
"""
import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np


def read_recording(path):
    """(metadata dict, {column: array or list of str}) of a holdsense-recording/1 file (.csv or .csv.gz)."""
    raw = Path(path).read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\\x1f\\x8b" else raw).decode("utf-8")
    lines = text.split("\\n")
    meta, k = {}, 0
    while lines[k].startswith("#"):
        key, _, value = lines[k][1:].partition(":")
        try:
            meta[key.strip()] = json.loads(value)
        except ValueError:
            meta[key.strip()] = value.strip()
        k += 1
    rows = list(csv.reader(io.StringIO("\\n".join(lines[k:]))))
    header, rows = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    cols = {}
    for j, name in enumerate(header):
        cells = [r[j] for r in rows]
        if name in ("t_s", "force_n", "angle_deg", "raw_counts"):
            cols[name] = np.array([float(c) if c else np.nan for c in cells])
        else:
            cols[name] = cells
    return meta, cols


def load(folder="."):
    """Every session of the dataset, in the datasheet's order."""
    folder = Path(folder)
    sheet = json.loads((folder / "datasheet.json").read_text(encoding="utf-8"))
    for s in sheet["sessions"]:
        meta, cols = read_recording(folder / s["recording"])
        labels = json.loads((folder / s["labels"]).read_text(encoding="utf-8")) if s.get("labels") else None
        yield {"name": s["recording"].split(".")[0], "metadata": meta, "labels": labels, "session": s, **cols}


if __name__ == "__main__":
    import sys

    for s in load(sys.argv[1] if len(sys.argv) > 1 else "."):
        holds = [x for x in (s["labels"] or {}).get("segments", []) if x["kind"] == "hold"]
        print(f"{s['name']}: {len(s['t_s'])} samples, {s['t_s'][-1]:.0f} s, {len(holds)} labelled hold{'' if len(holds) == 1 else 's'}")
'''


def check_dataset(folder: str | os.PathLike[str]) -> tuple[list[str], dict[str, Any]]:
    """(problems, facts) of a dataset folder: one line per problem, each naming the file."""
    from ..errors import UserError
    from ..io.labels import check_within_recording, read_labels
    from ..io.recording import read_recording

    d = Path(folder)
    problems: list[str] = []
    facts: dict[str, Any] = {"sessions": 0, "holds": 0, "duration_s": 0.0}
    if not d.is_dir():
        return [f"{d}: not a folder"], facts
    sheet_path = d / "datasheet.json"
    sheet: dict[str, Any] = {}
    try:
        sheet = json.loads(sheet_path.read_text(encoding="utf-8"))
        if not isinstance(sheet, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        problems.append(f"{sheet_path}: missing (the datasheet for programs)")
    except (OSError, ValueError) as exc:
        problems.append(f"{sheet_path}: not valid JSON ({exc})")
        sheet = {}
    if sheet:
        if sheet.get("format") != DATASET_FORMAT:
            problems.append(f"{sheet_path}: format {sheet.get('format')!r}, expected {DATASET_FORMAT}")
        for key in REQUIRED_FIELDS:
            v = sheet.get(key)
            if not isinstance(v, str) or not v.strip():
                problems.append(f"{sheet_path}: '{key}' is missing")
            elif TO_FILL in v:
                problems.append(f"{sheet_path}: '{key}' is not filled in ({v!r})")
    for name in ("README.md", "load_dataset.py"):
        if not (d / name).is_file():
            problems.append(f"{d / name}: missing")
    # checksums: every listed file matches, every file is listed
    sums = d / CHECKSUMS
    listed: set[str] = set()
    if not sums.is_file():
        problems.append(f"{sums}: missing (write it with 'holdsense dataset export' or sha256sum)")
    else:
        for i, line in enumerate(sums.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
            if not m:
                if line.strip():
                    problems.append(f"{sums}: line {i}: not '<sha256>  <file>'")
                continue
            digest, name = m.groups()
            listed.add(name)
            p = d / name
            if not p.is_file():
                problems.append(f"{sums}: line {i}: {name} is listed but missing")
            elif sha256_file(p) != digest:
                problems.append(f"{p}: checksum does not match {CHECKSUMS} (changed after export?)")
        for p in sorted(d.iterdir()):
            if p.is_file() and p.name != CHECKSUMS and p.name not in listed:
                problems.append(f"{p}: not listed in {CHECKSUMS}")
    # sessions: every recording reads, has valid labels within its time span, and is in the datasheet
    in_sheet = {s.get("recording") for s in sheet.get("sessions", []) if isinstance(s, dict)} if sheet else set()
    recs = sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(_RECORDING_SUFFIXES))
    if not recs:
        problems.append(f"{d}: no recordings (*.csv, *.csv.gz)")
    for p in recs:
        try:
            rec = read_recording(p, warn=None)
        except UserError as exc:
            problems.append(str(exc))
            continue
        facts["sessions"] += 1
        facts["duration_s"] += rec.duration_s
        if rec.warnings:
            problems.append(f"{p}: {rec.warnings[0]}")
        if sheet and p.name not in in_sheet:
            problems.append(f"{p}: not in datasheet.json sessions")
        lp = d / (_session_name(p.name) + ".labels.json")
        if not lp.is_file():
            problems.append(f"{p}: no labels ({lp.name} missing)")
            continue
        try:
            labels = read_labels(lp)
        except UserError as exc:
            problems.append(str(exc))
            continue
        try:
            check_within_recording(labels, float(rec.samples.t_s[-1]), str(lp))
        except UserError as exc:
            problems.append(str(exc))
        facts["holds"] += sum(1 for s in labels["segments"] if s["kind"] == "hold")
    for name in sorted(in_sheet - {p.name for p in recs}):
        if name:
            problems.append(f"{sheet_path}: session {name} has no recording in the folder")
    return problems, facts


