"""`holdsense` console script: discovers sub-commands in holdsense.commands.

Exit codes (contracts.md §3): 0 ok, 2 bad input / no device (one line on
stderr, never a traceback), 1 internal error. Set HOLDSENSE_DEBUG=1 to see
tracebacks of internal errors.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import Sequence

from . import __version__, commands
from .errors import UserError, one_line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default is exit 2 too; keep it one line
        # Spelled like every other error ("holdsense: error: ..."), so scripts match one prefix; the message
        # names the option ("argument --body-mass: ...").
        self.exit(2, f"holdsense: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="holdsense", description="holdsense: hold a tight spot, don't just roll around on it.")
    parser.add_argument("--version", action="version", version=f"holdsense {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (one line already printed: exit 2), --help or --version (0)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        rc = args.func(args)
    except UserError as exc:
        print(f"holdsense: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # internal error: exit 1, short message unless debugging
        if os.environ.get("HOLDSENSE_DEBUG"):
            raise
        print(f"holdsense: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
