"""`holdsense analyze FILE... [--json] [--body-mass KG] [--profile NAME] [--plot OUT.png] [--client NAME]`
(contracts.md §3).

Whose recording each file is: the person its `client` header names (their profile, when stored here, gives
the body mass the header lacks and the plot's units), else `--client NAME` / $HOLDSENSE_CLIENT, else your own
profile. A `--client` that names someone other than a file's header does is that file's error (exit 2):
one person's profile is never used for another's recording (docs/profile.md).

Lab additions (docs/lab.md): `.xdf` inputs (`--stream NAME` picks the force
stream), `--table OUT.csv` (one row per hold) and `--sessions OUT.csv` (one
row per session) for batches, with a progress bar on a terminal.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..errors import UserError, one_line
from ..fmt import plural
from ._options import (add_client_option, add_jobs_option, body_mass_kg, output_path, plot_path, profile_name,
                       user_profile)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse recordings: segments, holds, scores",
                       description="Analyse recordings (files or folders of recordings): when you rolled, "
                                   "when you held, and each hold scored against the guidance.")
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings or folders of recordings")
    p.add_argument("--json", action="store_true", help="JSON output (JSON Lines for several files)")
    p.add_argument("--body-mass", type=body_mass_kg, metavar="KG", dest="body_mass_kg",
                   help="body mass in kg (overrides the recording's metadata)")
    p.add_argument("--profile", type=profile_name, metavar="NAME", help="guidance profile (default: be-patient)")
    p.add_argument("--plot", type=plot_path, metavar="OUT.png",
                   help="write a plot (several files: OUT-<name>.png, <name> the file's name without its "
                        ".csv/.csv.gz/...; any image type matplotlib writes)")
    add_client_option(p, help="whose recordings they are, for those whose header names nobody: that client's "
                              "profile (body mass, units); default: $HOLDSENSE_CLIENT, else your own. A recording "
                              "whose header names someone else is refused")
    add_jobs_option(p)
    lab = p.add_argument_group("lab (docs/lab.md)")
    lab.add_argument("--stream", metavar="NAME",
                     help="in .xdf files: the force stream to analyse (name or source id; default: the "
                          "holdsense Force stream)")
    lab.add_argument("--table", type=output_path, metavar="OUT.csv", help="write one CSV row per hold of every file")
    lab.add_argument("--sessions", type=output_path, metavar="OUT.csv",
                     help="write one CSV row per file (session summary)")
    p.set_defaults(func=run)


def plot_paths(base: str, files: list[str]) -> dict[str, str]:
    """Where `--plot BASE` puts each input's plot: BASE itself for one input, else `BASE-<name>` per input.

    `<name>` is the file's name without its recording suffix (`.csv.gz`, `.csv`, `.xdf`, `.xdfz`, `.hscap`;
    another name loses its last suffix only, `-` is `stdin`). Why not the stem alone: recordings of the same
    name in two folders (`a/s1.csv`, `b/s1.csv`), `s1.csv` beside `s1.csv.gz`, or dotted names (`s1.a.csv`,
    `s1.b.csv`) wrote one plot over the other without a word. A name met again (compared case-insensitively,
    as some file systems do) gets `-2`, `-3`, ... in input order.
    """
    if len(files) <= 1:
        return {f: base for f in files}
    from pathlib import Path  # not at the top: `analyze --help` skips pathlib's imports

    from ..analysis import RECORDING_SUFFIXES

    b = Path(base)
    suffix = b.suffix or ".png"
    out: dict[str, str] = {}
    taken: set[str] = set()
    for f in files:
        if f in out:  # the same path named twice: one plot
            continue
        name = "stdin" if f == "-" else os.path.basename(f.rstrip("/" + os.sep)) or f
        for suf in sorted(RECORDING_SUFFIXES, key=len, reverse=True):
            if name.lower().endswith(suf) and len(name) > len(suf):
                name = name[:-len(suf)]
                break
        else:
            name = os.path.splitext(name)[0] or name
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{name}-{n}"
        taken.add(candidate.casefold())
        out[f] = str(b.with_name(f"{b.stem}-{candidate}{suffix}"))
    return out


# What analyze_file imports on its first call (numpy and rollsignal's stages, the capture and XDF readers,
# pyarrow's CSV reader when installed): imported once in the fork server, not again in every worker. (A
# module that is not installed is skipped by the fork server.)
WORKER_PRELOAD = ("rollsignal.detector", "holdsense.virtual.capture", "holdsense.io.xdf", "holdsense.io.recording",
                  "pyarrow.csv")


@dataclass
class FileAnalysis:
    """What one worker sends back for one file: its analysis, or why it has none (all picklable)."""

    result: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    error: str | None = None
    internal: bool = False  # the error is a bug of ours (exit 1 alone, an error entry in a batch), not bad input
    stderr: str = ""  # reader warnings, printed by the parent in input order


@dataclass(frozen=True)
class AnalyzeOptions:
    stream: str | None
    body_mass_kg: float | None  # --body-mass: overrides the recording's header
    profile: str | None
    plot: str | None
    plot_paths: dict[str, str] | None = None  # input path -> its plot (plot_paths()), with --plot
    # the profile of --client / $HOLDSENSE_CLIENT / your own: for a recording whose header names nobody (its
    # body mass when neither --body-mass nor the header gives one, the plot's units)
    current: Any = None
    client: str | None = None  # --client NAME as given (checked): a header naming someone else is refused

    def person(self, rec: Any, path: str, warn: io.StringIO) -> Any:
        """The profile of the person recording `rec` (read from `path`) is of (userprofile.recording_person)."""
        from ..userprofile import UserProfile, recording_person

        return recording_person(rec.client, self.client, self.current or UserProfile(), path, warn)


def analyze_file(path: str, opts: AnalyzeOptions) -> FileAnalysis:
    """Read, analyse (and plot) one file; never raises for a file's problem: a batch goes on.

    Module-level (and its arguments picklable) so `--jobs` can run it in worker processes.
    """
    from ..analysis import analyze_path, analyze_recording, load_for_analysis, plot_analysis

    warn = io.StringIO()
    try:
        if opts.plot:  # the plot needs every sample in memory
            rec = load_for_analysis(path, stream=opts.stream, warn=warn)
            person = opts.person(rec, path, warn)
            mass = opts.body_mass_kg
            if mass is None and not rec.body_mass_kg:  # --body-mass, else the recording's header, else the profile
                mass = person.body_mass_kg
            result = analyze_recording(rec, body_mass_kg=mass, profile=opts.profile)
            plot_analysis(rec, result, (opts.plot_paths or {}).get(path, opts.plot), body_mass_kg=mass,
                          profile=opts.profile, units=person.units)
            metadata = rec.metadata
        else:  # streamed: the detector reads along with the reader, memory flat in the file's length
            result, metadata = analyze_path(
                path, body_mass_kg=opts.body_mass_kg, profile=opts.profile, stream=opts.stream, warn=warn,
                fallback_body_mass_kg=lambda rec: opts.person(rec, path, warn).body_mass_kg)
        return FileAnalysis(result=result, metadata=dict(metadata), stderr=warn.getvalue())
    except UserError as exc:
        return FileAnalysis(error=str(exc), stderr=warn.getvalue())
    except MemoryError:
        return FileAnalysis(error=f"{path}: too large to analyse in the memory available", stderr=warn.getvalue())
    except Exception as exc:  # a bug of ours on this file: reported as such, the batch goes on
        import traceback

        detail = traceback.format_exc() if os.environ.get("HOLDSENSE_DEBUG") else ""
        return FileAnalysis(error=f"{path}: internal error: {type(exc).__name__}: {exc}", internal=True,
                            stderr=warn.getvalue() + detail)


def _in_input_order(files: list[str], problems: dict[str, str], results: Any) -> Any:
    """(path, outcome) for every input in order: the analysed files' results with, in their places, an error
    entry for each folder `expand_inputs` had a problem with."""
    it = iter(results)
    for f in files:
        if f in problems:
            yield f, FileAnalysis(error=problems[f])
        else:
            yield next(it)


def _is_xdf(path: str) -> bool:
    from ..io.xdf import is_xdf  # only with --stream

    return is_xdf(path)


def run(args: argparse.Namespace) -> int:
    from ..lab.parallel import prestart, resolve_jobs

    jobs = getattr(args, "jobs", None)
    if resolve_jobs(jobs) > 1 and (len(args.files) > 1 or any(os.path.isdir(f) for f in args.files)):
        prestart(analyze_file, WORKER_PRELOAD)  # a batch: the workers' fork server imports while this process does
    # imported here, not at the top: `holdsense analyze --help` must not pay for numpy and rollsignal
    import json
    from pathlib import Path

    from ..analysis import expand_inputs, render_text
    from ..io.registry import is_stream
    from ..lab.batch import BatchTables, progress
    from ..lab.parallel import map_files

    tables = BatchTables(getattr(args, "table", None), getattr(args, "sessions", None))
    stream = getattr(args, "stream", None)
    # a folder given among other inputs that holds no recording (or cannot be listed) is an entry of its own
    problems: dict[str, str] = {}
    files = expand_inputs(args.files, problems=problems)
    readable = [f for f in files if f not in problems]
    if not readable:
        if len(files) == 1 and "cannot list" in problems[files[0]]:
            raise UserError(problems[files[0]])
        raise UserError("no recordings found in " + ", ".join(args.files))
    tables.check_inputs(readable)  # a table must never replace a recording it was made from
    if stream and not any(is_stream(f) or _is_xdf(f) for f in readable):  # a pipe is sniffed once, when read
        raise UserError(f"--stream {stream}: picks a stream inside .xdf files, and none was given")
    several = len(files) > 1
    # an unknown --client or $HOLDSENSE_CLIENT is refused before any file is read, as by session and live
    opts = AnalyzeOptions(stream=stream, body_mass_kg=args.body_mass_kg, profile=args.profile, plot=args.plot,
                          plot_paths=plot_paths(args.plot, files) if args.plot else None,
                          current=user_profile(args),
                          client=user_profile(args).name if args.client is not None else None)
    # With tables and no --json, stdout gets a summary instead of a report per file (a batch's output is the CSV).
    reports = args.json or not tables.active
    failed: list[str] = []
    internal = False
    show_bar = None if (not reports or not sys.stdout.isatty()) else False
    shown = 0
    with progress(len(files), enabled=show_bar) as bar:
        # stdin ("-") and pipes are read once, by this process: a worker could not read them
        jobs = 1 if any(is_stream(f) for f in readable) else jobs
        results = map_files(partial(analyze_file, opts=opts), readable, jobs=jobs, preload=WORKER_PRELOAD)
        for path, out in _in_input_order(files, problems, results):
            bar.advance(Path(path).name)
            if not isinstance(out, FileAnalysis):  # the worker itself died (WorkerCrashed) or could not answer
                out = FileAnalysis(error=f"{path}: internal error: {type(out).__name__}: {out}", internal=True)
            if out.stderr:
                sys.stderr.write(out.stderr)
            if out.error is not None:
                failed.append(path)
                internal = internal or out.internal
                tables.add_failure(path, out.error, reader_warnings=out.stderr)
                if args.json:
                    print(json.dumps({"source": path, "error": out.error}), flush=True)
                print(f"holdsense: {'' if out.internal else 'error: '}{one_line(out.error)}", file=sys.stderr,
                      flush=True)
                continue
            assert out.result is not None
            tables.add(path, out.result, out.metadata, reader_warnings=out.stderr)
            if not reports:
                continue
            if args.json:
                text = json.dumps(out.result, separators=(",", ":")) if several else json.dumps(out.result, indent=2)
                print(text, flush=True)
            else:
                if shown:
                    print()
                print(render_text(out.result), flush=True)
                shown += 1
    if tables.active:
        written = tables.write()
        if not args.json:
            print(f"analysed {len(files) - len(failed)} of {plural(len(files), 'file')}; wrote " + "; ".join(written))
    if failed and several:
        print(f"holdsense: {len(failed)} of {plural(len(files), 'file')} failed: {one_line(', '.join(failed))}",
              file=sys.stderr)
    if failed and not several and internal:
        return 1  # one file, and the failure is ours: the internal-error exit code (contracts.md §3)
    return 2 if failed else 0
