"""`holdsense analyze FILE... [--json] [--body-mass KG] [--profile NAME] [--plot OUT.png]` (contracts.md §3).

Lab additions (docs/lab.md): `.xdf` inputs (`--stream NAME` picks the force
stream), `--table OUT.csv` (one row per hold) and `--sessions OUT.csv` (one
row per session) for batches, with a progress bar on a terminal.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..analysis import analyze_recording, expand_inputs, load_for_analysis, plot_analysis, render_text
from ..errors import UserError
from ..lab.batch import BatchTables, progress
from ..io.xdf import is_xdf
from ._options import user_profile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse recordings: segments, holds, scores",
                       description="Analyse recordings (files or folders of recordings): when you rolled, "
                                   "when you held, and each hold scored against the guidance.")
    p.add_argument("files", nargs="+", metavar="FILE", help="recording(s) or folder(s) of recordings")
    p.add_argument("--json", action="store_true", help="JSON output (JSON Lines for several files)")
    p.add_argument("--body-mass", type=float, metavar="KG", dest="body_mass_kg",
                   help="body mass in kg (overrides the recording's metadata)")
    p.add_argument("--profile", metavar="NAME", help="guidance profile (default: be-patient)")
    p.add_argument("--plot", metavar="OUT.png", help="write a plot (several files: OUT-<name>.png)")
    lab = p.add_argument_group("lab (docs/lab.md)")
    lab.add_argument("--stream", metavar="NAME",
                     help="in .xdf files: the force stream to analyse (name or source id; default: the "
                          "holdsense Force stream)")
    lab.add_argument("--table", metavar="OUT.csv", help="write one CSV row per hold of every file")
    lab.add_argument("--sessions", metavar="OUT.csv", help="write one CSV row per file (session summary)")
    p.set_defaults(func=run)


def _plot_path(base: str, source: str, several: bool) -> str:
    if not several:
        return base
    b = Path(base)
    stem = Path(source).name.split(".")[0]
    return str(b.with_name(f"{b.stem}-{stem}{b.suffix or '.png'}"))


def _body_mass(args: argparse.Namespace, rec: Any) -> float | None:
    """--body-mass, else the recording's header, else the athlete's profile (`holdsense profile`)."""
    if args.body_mass_kg is not None or getattr(rec, "body_mass_kg", None):
        return args.body_mass_kg
    return user_profile(args).body_mass_kg


def run(args: argparse.Namespace) -> int:
    if args.body_mass_kg is not None and not (10 <= args.body_mass_kg <= 400):
        raise UserError(f"--body-mass {args.body_mass_kg:g} kg is not a plausible body mass (10–400 kg)")
    tables = BatchTables(getattr(args, "table", None), getattr(args, "sessions", None))
    stream = getattr(args, "stream", None)
    files = expand_inputs(args.files)
    if not files:
        raise UserError("no recordings found in " + ", ".join(args.files))
    if stream and not any(is_xdf(f) for f in files):
        raise UserError(f"--stream {stream}: picks a stream inside .xdf files, and none was given")
    several = len(files) > 1
    # With tables and no --json, stdout gets a summary instead of a report per file (a batch's output is the CSV).
    reports = args.json or not tables.active
    failed: list[str] = []
    show_bar = None if (not reports or not sys.stdout.isatty()) else False
    with progress(len(files), enabled=show_bar) as bar:
        for i, path in enumerate(files):
            bar.advance(Path(path).name)
            try:
                rec = load_for_analysis(path, stream=stream)
                result: dict[str, Any] = analyze_recording(rec, body_mass_kg=_body_mass(args, rec),
                                                           profile=args.profile)
                if args.plot:
                    plot_analysis(rec, result, _plot_path(args.plot, path, several),
                                  body_mass_kg=_body_mass(args, rec), profile=args.profile,
                                  units=user_profile(args).units)  # the athlete's units (profile)
            except UserError as exc:
                failed.append(path)
                tables.add_failure(path, str(exc))
                if args.json:
                    print(json.dumps({"source": path, "error": str(exc)}), flush=True)
                print(f"holdsense: error: {exc}", file=sys.stderr)
                if not several and not args.json and not tables.active:
                    return 2
                continue
            tables.add(path, result, rec.metadata)
            if not reports:
                continue
            if args.json:
                text = json.dumps(result, separators=(",", ":")) if several else json.dumps(result, indent=2)
                print(text, flush=True)
            else:
                if i:
                    print()
                print(render_text(result), flush=True)
    if tables.active:
        written = tables.write()
        if not args.json:
            print(f"analysed {len(files) - len(failed)} of {len(files)} file(s); wrote " + "; ".join(written))
    if failed and several:
        print(f"holdsense: {len(failed)} of {len(files)} file(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 2 if failed else 0
