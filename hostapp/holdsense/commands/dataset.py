"""`holdsense dataset export INPUT... -o DIR [--licence ...]` and `holdsense dataset check DIR` (docs/dataset.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from ..fmt import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="export a labelled dataset folder ready to publish, or check one",
                       description="Labelled recordings as a folder ready to publish (recordings, labels, a "
                                   "datasheet README, datasheet.json, SHA-256 checksums, a loader), and a checker "
                                   "for such folders (docs/dataset.md).")
    dsub = p.add_subparsers(dest="dataset_command", metavar="export|check", parser_class=type(p))
    e = dsub.add_parser("export", help="write a dataset folder from labelled recordings")
    e.add_argument("inputs", nargs="+", metavar="INPUT", help="recordings (CSV, .hscap, .xdf) or folders of them, "
                                                             "each with X.labels.json beside it")
    e.add_argument("-o", "--output", required=True, metavar="DIR", help="dataset folder to write (new or empty)")
    e.add_argument("--title", help="dataset title")
    e.add_argument("--description", help="a paragraph for the README")
    e.add_argument("--licence", "--license", dest="licence", metavar="NAME", help="licence, e.g. CC-BY-4.0")
    e.add_argument("--consent", metavar="TEXT",
                   help="how participants consented to publication (ethics approval, consent form)")
    e.add_argument("--contact", metavar="TEXT", help="who answers questions about the data")
    e.add_argument("--sensor", metavar="TEXT", help="sensor description (default: from the roller's build)")
    e.add_argument("--shell", metavar="TEXT", help="roller shell: diameter, length, foam, texture")
    e.add_argument("--gzip", action="store_true", help="write recordings as .csv.gz")
    e.add_argument("--include-unlabelled", action="store_true", help="also export recordings without labels")
    e.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    e.set_defaults(func=run_export)
    c = dsub.add_parser("check", help="validate a dataset folder (exit 2 with one line per problem)")
    c.add_argument("folder", metavar="DIR")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_export(args: argparse.Namespace) -> int:
    from ..lab.dataset import TO_FILL, export_dataset

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        # the export makes its own folder, not a tree of them: a typo in the path should not go unnoticed
        raise UserError(f"-o {out}: folder {out.parent} does not exist")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"-o {out}: folder is not empty (use --overwrite to write into it)")
    for p in args.inputs:
        if not Path(p).exists():
            raise UserError(f"{p}: no such file or folder")
    info = {k: getattr(args, k) for k in ("title", "description", "licence", "consent", "contact", "sensor", "shell")}
    sheet = export_dataset(args.inputs, out, info=info, include_unlabelled=args.include_unlabelled,
                           compress=args.gzip)
    n = len(sheet["sessions"])
    print(f"{out}: {plural(n, 'session')}, {plural(sum(s['holds_labelled'] for s in sheet['sessions']), 'labelled hold')}; "
          f"README.md, datasheet.json, load_dataset.py, SHA256SUMS")
    todo = [k for k in ("title", "licence", "consent", "contact", "shell") if sheet.get(k) == TO_FILL]
    if todo:
        print(f"holdsense: note: fill in {', '.join(todo)} (--{' --'.join(todo)}) before publishing; "
              f"'holdsense dataset check' reports them", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..lab.dataset import check_dataset

    problems, facts = check_dataset(args.folder)
    for line in problems:
        print(f"holdsense: {line}", file=sys.stderr)
    if problems:
        print(f"holdsense: {args.folder}: {plural(len(problems), 'problem')}", file=sys.stderr)
        return 2
    print(f"{args.folder}: ok: {plural(int(facts['sessions']), 'session')}, {facts['duration_s'] / 60:.1f} min, "
          f"{plural(int(facts['holds']), 'labelled hold')}; checksums match")
    return 0
