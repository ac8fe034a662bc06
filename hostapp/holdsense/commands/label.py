"""`holdsense label FILE [-o OUT] [--from-markers | --spans CSV | --accept-detector] [--who NAME]`.

Without a source option: the labelling window (holdsense.lab.labelling) over the
recording, starting from the labels file when it exists, else the markers in
the file, else nothing; the detector's segments are shown beside to correct.
With one, no window: the labels are made from that source and written (the
path for scripts and tests). Works on recordings, captures (.hscap) and XDF.
Labels file: holdsense-labels/1 (docs/contracts.md §2), X.labels.json by default.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import UserError
from ..fmt import plural
from ..io.labels import SIDES, labels_path_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="label holds/rolling in a recording (window, or from markers/spans)",
                       description="Label a recording (CSV, .hscap capture or LabRecorder .xdf): an interactive "
                                   "window over force (and angle) with the detector's segments beside to correct, "
                                   "or, with --from-markers / --spans / --accept-detector, without a window. "
                                   "Writes holdsense-labels/1 (X.labels.json beside the recording).")
    p.add_argument("file", metavar="FILE", help="recording, capture or XDF file")
    p.add_argument("-o", "--output", metavar="OUT.labels.json", help="labels file (default: beside FILE)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing labels file (the window loads and edits it instead)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from-markers", action="store_true",
                     help="hold spans from the markers pressed while recording (the 'marker' column; in XDF: "
                          "holdsense 'mark' events and string marker streams such as 'hold start'/'hold end')")
    src.add_argument("--spans", metavar="CSV", help="spans from a CSV: start_s,end_s,kind[,side][,region][,note]")
    src.add_argument("--accept-detector", action="store_true",
                     help="take the detector's segments as labels (a starting point to correct)")
    p.add_argument("--marker-stream", metavar="NAME", help="XDF: read markers from this string stream only")
    p.add_argument("--stream", metavar="NAME", help="XDF: the force stream (default: the holdsense Force stream)")
    p.add_argument("--who", metavar="NAME", help="who labelled (default: $USER)")
    p.add_argument("--region", metavar="NAME", help="body region of the session (quads, calves, ...)")
    p.add_argument("--side", choices=SIDES, help="side of the body for the session")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze_recording, load_for_analysis
    from ..io.labels import (labels_from_analysis, labels_from_markers, labels_from_spans_csv, read_labels,
                             write_labels, xdf_markers)
    from ..io.markers import markers_of
    from ..io.xdf import is_xdf

    out = Path(args.output) if args.output else labels_path_for(args.file)
    if not os.path.isfile(args.file):
        raise UserError(f"{args.file}: no such file" if not os.path.exists(args.file) else f"{args.file}: not a file")
    if args.region is not None and not args.region.strip():
        raise UserError("--region: give a name such as quads, calves")
    if out.is_dir():
        raise UserError(f"{out}: is a directory (give a file name with -o)")
    batch = args.from_markers or args.spans or args.accept_detector
    if batch and out.exists() and not args.overwrite:
        raise UserError(f"{out}: exists already (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    if (args.marker_stream or args.stream) and not is_xdf(args.file):
        raise UserError("--stream/--marker-stream pick streams inside .xdf files, and FILE is not one")
    rec = load_for_analysis(args.file, stream=args.stream)
    t_end = float(rec.samples.t_s[-1]) if len(rec.samples) else 0.0
    warnings: list[str] = []
    if args.from_markers:
        if is_xdf(args.file):
            marks, t_end_x, used = xdf_markers(args.file, args.stream, args.marker_stream)
            t_end = t_end_x
            how = "xdf-markers"
        else:
            marks, used, how = markers_of(rec), [], "markers"
        if not marks:
            raise UserError(f"{args.file}: no markers in this file (record with the marker keys, or --markers-from)")
        labels, warnings = labels_from_markers(marks, t_end, source=args.file, who=args.who, how=how)
        if used:
            labels["labeller"]["streams"] = used
    elif args.spans:
        labels = labels_from_spans_csv(args.spans, source=args.file, who=args.who)
    elif args.accept_detector:
        labels = labels_from_analysis(analyze_recording(rec), who=args.who)
    else:
        return _interactive(args, rec, out)
    for key, value in (("region", args.region or rec.region), ("side", args.side)):
        if value:
            labels[key] = value
    for w in warnings:
        print(f"holdsense: warning: {args.file}: {w}", file=sys.stderr)
    try:
        write_labels(out, labels)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None
    holds = sum(1 for s in labels["segments"] if s["kind"] == "hold")
    print(f"{out}: {plural(len(labels['segments']), 'span')}, {plural(holds, 'hold')}, from {labels['labeller']['how']}")
    return 0


def _interactive(args: argparse.Namespace, rec, out: Path) -> int:
    from ..analysis import analyze_recording
    from ..io.labels import labels_from_markers, read_labels
    from ..io.markers import markers_of
    from ..lab.labelling import LabelSession, LabelWindow, interactive_backend

    if interactive_backend() is None:
        raise UserError("the labelling window needs a display (DISPLAY is not set or no GUI toolkit such as "
                        "tkinter is installed); without one use --from-markers, --spans CSV or --accept-detector")
    t_end = float(rec.samples.t_s[-1])
    if out.exists():
        labels = read_labels(out)
        start = f"editing {out}"
    elif markers_of(rec):
        labels, _ = labels_from_markers(markers_of(rec), t_end, source=rec.source, who=args.who)
        start = "starting from the markers in the recording"
    else:
        labels, start = None, "no labels yet: select a stretch and press h/r/o/x (a: take the detector's)"
    analysis = analyze_recording(rec)
    session = LabelSession(labels, t_end_s=t_end)
    if labels is None:
        session.meta["source"] = Path(rec.source).name
    window = LabelWindow(rec, analysis, session, out, who=args.who, side=args.side,
                         region=args.region or rec.region, on_message=lambda s: print(s, file=sys.stderr))
    print(f"labelling {rec.source}: {start}; labels go to {out}", file=sys.stderr)
    window.show()
    if window.saved_path is None:
        print("no changes: nothing written", file=sys.stderr)
    return 0
