"""docs/options.md lists every checked option of every command: each argument parsed by a type from
holdsense/commands/_options.py (any argparse type but plain str, and not hidden from --help) has a row in
its table whose first cell names the option (or the positional's metavar) and whose second cell names the
command (`device rate`, or `device` for every device subcommand). The page had fallen behind the parser
(--web-port and --usb-host-buffer were missing)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PATH_TYPES = ("output file", "plot file")


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in (ROOT / "docs" / "options.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        text = line.replace("\\|", "\x00")  # the `on\|off` cell's escaped bar is not a cell border
        cells = [c.strip().replace("\x00", "|") for c in text.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] not in ("option", "---"):
            rows.append((cells[0], cells[1]))
    return rows


def _checked_arguments() -> list[tuple[str, str]]:
    """(command path, option or metavar) of every typed, visible argument; output paths apart (they are
    named in the paragraph under the table)."""
    from holdsense.cli import build_parser

    out: list[tuple[str, str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, path + [name])
            elif a.type not in (None, str) and a.help is not argparse.SUPPRESS:
                if getattr(a.type, "__name__", "") in PATH_TYPES:
                    continue
                out.append((" ".join(path), a.option_strings[0] if a.option_strings else str(a.metavar)))

    walk(build_parser(), [])
    return out


def _names_command(cell: str, command: str) -> bool:
    words = set(re.findall(r"[a-z][a-z-]*", cell))
    top = command.split()[0]
    return command in cell if " " in command and command in cell else (top in words)


def test_every_checked_option_has_a_row() -> None:
    rows = _rows()
    missing = []
    for command, option in _checked_arguments():
        if not any(re.search(rf"`{re.escape(option)}(`| )", opt) or opt.strip("`") == option
                   for opt, cmds in rows if _names_command(cmds, command)):
            missing.append(f"{command} {option}")
    assert missing == [], "docs/options.md has no row for: " + ", ".join(missing)


def test_every_row_names_a_real_option() -> None:
    arguments = _checked_arguments()
    options = {o for _, o in arguments}
    for opt, _ in _rows():
        name = re.match(r"`([^` ]+)", opt).group(1)
        assert name in options, f"docs/options.md lists {name}, which no command takes with a checked type"


def test_every_checked_output_path_is_named() -> None:
    """The paragraph under the table names each output option with its commands: `-o`/`--output` (record, ...)."""
    from holdsense.cli import build_parser

    text = (ROOT / "docs" / "options.md").read_text(encoding="utf-8").replace("\n", " ").split("Output paths are checked", 1)[1]
    missing = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, path + [name])
            elif getattr(a.type, "__name__", "") in PATH_TYPES:
                m = re.search(rf"`{re.escape(a.option_strings[0])}`[^(]*\(([^)]*)\)", text)
                if not m or path[0] not in re.findall(r"[a-z][a-z-]*", m.group(1)):
                    missing.append(f"{' '.join(path)} {a.option_strings[0]}")

    walk(build_parser(), [])
    assert missing == [], "docs/options.md does not name the output check of: " + ", ".join(missing)
