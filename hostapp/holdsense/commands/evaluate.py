"""`holdsense evaluate FILES_OR_FOLDER... [--json] [--plot OUT.png] [--jobs N]`: the detector against labels.

Each recording (CSV, .hscap, XDF) with `X.labels.json` beside it is analysed and
scored (holdsense.lab.evaluate): a table per file and in total, per body region
and side when labelled; `--json` one holdsense-evaluation/1 object (contracts.md §5).
A folder means the recordings directly in it that have labels beside them.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from ..errors import UserError
from ..fmt import plural
from ._options import add_jobs_option, integer, plot_path

#: `--worst N`: panels of 2.4 in at 100 dpi; beyond a hundred the image is too tall to look through (24,000 px)
worst_panels = integer(1, 100, what="a number of plot panels")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score the detector against labelled recordings (F1, boundary errors)",
                       description="Compare the detector with the labels (X.labels.json beside each recording): "
                                   "frame-level hold and roll F1, event-level hold F1, boundary errors, per file "
                                   "and in total, per body region and side when labelled.")
    p.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER", help="labelled recordings or folders of them")
    p.add_argument("--labels", metavar="FILE.labels.json", help="labels for a single FILE (default: beside it)")
    p.add_argument("--json", action="store_true", help="one holdsense-evaluation/1 JSON object on stdout")
    p.add_argument("--plot", type=plot_path, metavar="OUT.png",
                   help="plot the worst disagreements about holding (any image type matplotlib writes)")
    p.add_argument("--worst", type=worst_panels, default=6, metavar="N", help="panels in --plot (default 6)")
    add_jobs_option(p)
    p.add_argument("--stream", metavar="NAME", help="in .xdf files: the force stream")
    p.set_defaults(func=run)


def _inputs(paths: list[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(recordings to score, recordings in folders skipped for lack of labels, (folder, why) for each folder
    with no labelled recording in it)."""
    from ..analysis import expand_inputs
    from ..io.labels import labels_path_for

    files: list[str] = []
    skipped: list[str] = []
    empty: list[tuple[str, str]] = []
    for p in paths:
        if Path(p).is_dir():
            found = expand_inputs([p])
            labelled = [f for f in found if labels_path_for(f).is_file()]
            files += labelled
            skipped += [f for f in found if f not in labelled]
            if not labelled:
                empty.append((p, f"{p}: no labelled recordings in this folder"
                                  + (f" ({plural(len(found), 'recording')} without X.labels.json)" if found else "")))
        else:
            files.append(p)
    return files, skipped, empty


def run(args: argparse.Namespace) -> int:
    from ..lab.evaluate import (EVALUATION_FORMAT, evaluate_file, file_entry, plot_disagreements, pool,
                                render_table)
    from ..lab.parallel import map_files

    # a path that is not there: the one error line when it is the only input; among others, an entry of its own
    missing = [p for p in args.files if not os.path.exists(p)]
    if missing and len(args.files) == 1:
        raise UserError(f"{missing[0]}: no such file or folder")
    files, skipped, empty = _inputs([p for p in args.files if p not in missing])
    if args.labels and (len(files) != 1 or Path(args.files[0]).is_dir()):
        raise UserError("--labels goes with a single FILE (in a folder, labels sit beside each recording)")
    if not files:
        raise UserError("no labelled recordings in " + ", ".join(args.files)
                        + (f" ({plural(len(skipped), 'recording')} without X.labels.json)" if skipped else "")
                        + (f" (no such file or folder: {', '.join(missing)})" if missing else ""))
    for f in skipped:
        print(f"holdsense: note: {f}: no labels beside it, skipped", file=sys.stderr)
    fn = functools.partial(evaluate_file, labels_path=args.labels, stream=args.stream)
    results, failed = [], []
    for p, why in [(p, f"{p}: no such file or folder") for p in missing] + empty:
        failed.append((p, why))
        print(f"holdsense: error: {why}", file=sys.stderr)
    for path, outcome in map_files(fn, files, jobs=args.jobs):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, UserError):
                outcome = UserError(f"{path}: {type(outcome).__name__}: {outcome}")
            failed.append((path, str(outcome)))
            print(f"holdsense: error: {outcome}", file=sys.stderr)
            continue
        results.append(outcome)
    if not results:
        return 2
    entries = [file_entry(r) for r in results]
    total = pool(results)
    if args.plot:
        n = plot_disagreements(results, args.plot, worst=args.worst)
        print(f"plot of the {'worst disagreement' if n == 1 else f'{n} worst disagreements'} written to {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps({"format": EVALUATION_FORMAT, "files": entries, "total": total,
                          "failed": [{"source": p, "error": e} for p, e in failed]}, indent=1))
    else:
        print(render_table(entries, total))
    if failed:
        print(f"holdsense: {len(failed)} of {plural(len(files) + len(missing) + len(empty), 'file')} failed: "
              f"{', '.join(p for p, _ in failed)}",
              file=sys.stderr)
        return 2
    return 0
