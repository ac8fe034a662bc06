"""`holdsense recalibrate FILE --calibration CAL.json -o OUT`: recompute force_n from raw_counts.

Why: a force number is only as good as its calibration, and a calibration is sometimes found
wrong (or improved) after the session. Recordings keep the ADC's `raw_counts`, so the force can
be recomputed later. Everything else in the file stays byte-for-byte the same (other metadata,
timestamps, angle, flags, unknown columns, number formatting); only the `force_n` cells change,
the `calibration` metadata line is replaced by the new one and the old one is kept as
`calibration_previous`, so the step can be traced and undone.
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..calibration import Calibration, load_calibration
from ..errors import UserError
from ._options import output_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recalibrate", help="recompute force_n of a recording from its raw_counts with a new calibration",
        description="Recompute force_n from raw_counts with the calibration in CAL.json (the JSON that "
                    "`holdsense calibrate --save CAL.json` writes, or a hand-made {\"tare_counts\", "
                    "\"counts_to_n\"} object). Everything else in the recording is kept; the new "
                    "calibration goes into the metadata, the old one is kept as calibration_previous.")
    p.add_argument("file", metavar="FILE", help="recording (holdsense-recording/1, .csv or .csv.gz) with raw_counts")
    p.add_argument("--calibration", required=True, metavar="CAL.json", help="calibration JSON file")
    p.add_argument("-o", "--output", type=output_path, required=True, metavar="OUT",
                   help="output recording (.csv or .csv.gz)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def recalibrate_text(text: str, cal: Calibration, source: str) -> tuple[str, dict[str, float]]:
    """The recording `text` with force_n recomputed by `cal`; plus a few statistics.

    Raises UserError when the recording cannot be read or has no raw_counts to work from.
    """
    # imported here, not at the top: `holdsense recalibrate --help` must not pay for numpy and rollsignal
    import numpy as np

    from ..io.recording import format_meta_value, parse_recording_text

    rec = parse_recording_text(text, source, warn=sys.stderr)
    if "raw_counts" not in rec.columns:
        raise UserError(f"{source}: no raw_counts column: this recording cannot be re-calibrated "
                        "(record with a firmware/host that stores raw ADC counts)")
    raw = rec.samples.raw_counts
    assert raw is not None
    if not np.isfinite(raw).any():
        raise UserError(f"{source}: raw_counts column is empty: nothing to re-calibrate")

    new_force = np.asarray(cal.apply(raw), dtype=float)
    cells = np.char.mod("%.3f", np.where(np.isfinite(new_force), new_force, 0.0)).astype(object)
    cells[~np.isfinite(new_force)] = ""  # no raw reading: the force stays missing

    lines = text.split("\n")
    # Text ending in a newline leaves "" last; otherwise the last line is half-written (a killed
    # recorder) and the reader skipped it: drop it either way.
    complete = lines[:-1]
    header_idx = next(i for i, ln in enumerate(complete) if ln.strip() and not ln.strip().startswith("#"))
    columns = [c.strip() for c in complete[header_idx].split(",")]
    fi = columns.index("force_n")

    old_cal = rec.metadata.get("calibration")
    meta_out: list[str] = []
    replaced = False
    for ln in complete[:header_idx]:
        key = ln.strip()[1:].partition(":")[0].strip() if ln.strip().startswith("#") else None
        if key == "calibration":
            meta_out.append(f"# calibration: {format_meta_value(cal.to_dict())}")
            replaced = True
        elif key in ("calibration_previous", "recalibrated_utc"):
            continue  # superseded by the lines written below
        else:
            meta_out.append(ln)
    if not replaced:
        meta_out.insert(1 if meta_out else 0, f"# calibration: {format_meta_value(cal.to_dict())}")
    if old_cal is not None:
        meta_out.append(f"# calibration_previous: {format_meta_value(old_cal)}")
    meta_out.append(f"# recalibrated_utc: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}")

    out = meta_out + [complete[header_idx]]
    k = 0
    for ln in complete[header_idx + 1:]:
        if not ln.strip():
            out.append(ln)
            continue
        fields = ln.split(",")
        fields[fi] = cells[k]
        out.append(",".join(fields))
        k += 1
    if k != len(cells):  # the parser and this rewrite must agree row for row
        raise RuntimeError(f"row count mismatch ({k} rows rewritten, {len(cells)} parsed)")

    old_force = rec.samples.force_n
    both = np.isfinite(old_force) & np.isfinite(new_force)
    diff = new_force[both] - old_force[both]
    stats = {"samples": float(len(cells)), "missing_raw": float(np.sum(~np.isfinite(raw))),
             "mean_change_n": float(np.mean(diff)) if diff.size else 0.0,
             "max_abs_change_n": float(np.max(np.abs(diff))) if diff.size else 0.0}
    return "\n".join(out) + "\n", stats


def run(args: argparse.Namespace) -> int:
    from ..io.recording import read_recording

    src = Path(args.file)
    dst = Path(args.output)
    cal = load_calibration(args.calibration)
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise UserError(f"{dst}: output must differ from the input (the original recording is never overwritten)")
    from .record import check_output

    check_output(str(dst), args.overwrite)  # an existing file is replaced only when asked, as in record
    from ..io.xdf import is_xdf

    if src.is_file() and is_xdf(src):
        # an XDF's force stream carries no raw ADC counts (docs/lab.md): say that, not "not UTF-8 text"
        raise UserError(f"{src}: an XDF file; recalibrate works on holdsense CSV recordings (.csv, .csv.gz) "
                        "with a raw_counts column")
    rec = read_recording(src, warn=None)  # clear errors for missing/corrupt files, gzip handled
    del rec
    raw_bytes = src.read_bytes()
    if raw_bytes[:2] == b"\x1f\x8b":
        from ..io.recording import gunzip_tolerant  # same tolerant decoder the reader uses
        raw_bytes = gunzip_tolerant(raw_bytes)[0]
    text_in = raw_bytes.decode("utf-8")
    text_out, stats = recalibrate_text(text_in, cal, str(src))

    data = text_out.encode("utf-8")
    if dst.suffix == ".gz":
        data = gzip.compress(data)
    tmp = dst.with_name(dst.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{dst}: cannot write ({exc.strerror or exc})") from None
    missing = int(stats["missing_raw"])
    print(f"{dst}: {int(stats['samples'])} samples re-calibrated"
          + (f" ({missing} without raw_counts left empty)" if missing else "")
          + f"; force changed by {stats['mean_change_n']:+.2f} N on average, "
            f"{stats['max_abs_change_n']:.2f} N at most")
    return 0
