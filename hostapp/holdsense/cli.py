"""`holdsense` console script: discovers sub-commands in holdsense.commands.

Start-up pays only for the command that runs: the sub-command's module is
imported when that command is given; `holdsense --help` lists the commands
from their modules' source (the name and help of each `add_parser` call,
read with `ast`) without importing any of them (bench/startup.py measures it).

Exit codes (contracts.md §3): 0 ok, 2 bad input / no device (one line on
stderr, never a traceback), 1 internal error. Set HOLDSENSE_DEBUG=1 to see
tracebacks of internal errors.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__, commands
from .errors import UserError, one_line

TYPE_CHECKING = False  # not typing's: importing typing alone is a tenth of `holdsense --help`
if TYPE_CHECKING:
    import ast
    from typing import Sequence


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default is exit 2 too; keep it one line
        # Spelled like every other error ("holdsense: error: ..."), so scripts match one prefix; the message
        # names the option ("argument --body-mass: ...").
        self.exit(2, f"holdsense: error: {one_line(message)}\n")


def _new_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = _Parser(prog="holdsense", description="holdsense: hold a tight spot, don't just roll around on it.")
    parser.add_argument("--version", action="version", version=f"holdsense {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    return parser, sub


def _module_names() -> list[str]:
    # os.listdir, not pkgutil/pathlib: their imports alone cost more than the rest of `--help`
    return sorted(f[:-3] for f in os.listdir(commands.__path__[0]) if f.endswith(".py") and not f.startswith("_"))


def _add_parser_call(source: str) -> ast.Call | None:
    """The first `add_parser(...)` call in a module's source, parsed on its own (parsing whole modules
    would cost more than the rest of `holdsense --help`)."""
    import ast  # only for `holdsense --help` and unknown commands

    start = source.find(".add_parser(")
    end = start
    while start >= 0:
        end = source.find(")", end + 1)
        if end < 0:
            return None
        try:
            node = ast.parse(source[start + 1:end + 1], mode="eval").body
        except SyntaxError:
            continue  # that ")" was inside the call: take the next one
        return node if isinstance(node, ast.Call) else None
    return None


def build_parser() -> argparse.ArgumentParser:
    """The full parser: every sub-command's module imported and registered."""
    parser, sub = _new_parser()
    for name in _module_names():
        importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    return parser


def command_table() -> dict[str, tuple[str, str | None]]:
    """{command name: (module name, one-line help)}, read from the command modules' source, none imported.

    The name and help are the literal arguments of the module's `add_parser(...)` call; a module
    whose call is not literal is listed under its module name with `help=None` (and imported
    when run, as always)."""
    import ast

    table: dict[str, tuple[str, str | None]] = {}
    folder = commands.__path__[0]
    for module in _module_names():
        name, text = module.replace("_", "-"), None
        try:
            with open(os.path.join(folder, f"{module}.py"), encoding="utf-8") as fh:
                node = _add_parser_call(fh.read())
        except (OSError, UnicodeDecodeError):
            node = None
        if node is not None and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = node.args[0].value
            text = next((k.value.value for k in node.keywords if k.arg == "help"
                         and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)), None)
        table[name] = (module, text)
    return table


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """A parser that imports only the sub-command named in `argv` (no top-level option takes a value, so
    the first word not starting with '-' is the command); without one, the commands are listed from
    `command_table()` so `holdsense --help` and "invalid choice" errors import none of them."""
    word = next((a for a in argv if not a.startswith("-")), None)
    parser, sub = _new_parser()
    module = word.replace("-", "_") if word else None
    if module and not module.startswith("_") and os.path.isfile(os.path.join(commands.__path__[0], f"{module}.py")):
        # the usual case: command "capture-info" is module capture_info, no table needed
        importlib.import_module(f"{commands.__name__}.{module}").register(sub)
        if word in sub.choices:
            return parser
        parser, sub = _new_parser()
    table = command_table()
    if word in table:
        importlib.import_module(f"{commands.__name__}.{table[word][0]}").register(sub)
        return parser
    for name, (_, text) in table.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


#: BLAS threads: one per process unless the user says otherwise. holdsense has no large matrix products (the
#: segmenter's model, ~30 features per 0.25 s step, sums its layers in a fixed order without BLAS), so
#: OpenBLAS's extra threads only spin on the cores (numpy's import alone took twice the CPU with them), and
#: `analyze --jobs N` workers would each start their own.
#: Results do not depend on it (the recordings' analyses are byte-identical either way). Set before any
#: command imports numpy; inherited by worker processes.
BLAS_THREADS_DEFAULT = {"OPENBLAS_NUM_THREADS": "1"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for key, value in BLAS_THREADS_DEFAULT.items():
        os.environ.setdefault(key, value)
    parser = _parser_for(argv)
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
