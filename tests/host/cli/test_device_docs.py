"""The `holdsense device ...` commands the docs tell users to run are commands the CLI has (the power-up
checklist once named `holdsense info` and `holdsense cue`, which did not exist): each one the docs spell
out parses with the real parser, as the subcommand it names."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = ["hardware/README.md", "firmware/README.md", "docs/ble.md", "docs/live.md", "docs/calibration.md",
        "docs/overview.md"]


def doc_commands() -> list[tuple[str, str]]:
    """(file, command) for every `holdsense device ...` in backticks or at the start of a code-block line;
    spans with placeholders for choices (`10|80`, `...`) are left out."""
    out = []
    for name in DOCS:
        text = (ROOT / name).read_text(encoding="utf-8")
        spans = re.findall(r"`(holdsense device [^`]*)`", text.replace("\n", " "))
        spans += [ln.split("#")[0].strip() for ln in text.splitlines() if ln.startswith("holdsense device ")]
        out += [(name, s) for s in spans if "|" not in s and "..." not in s]
    return out


@pytest.mark.parametrize("name", DOCS)
def test_every_command_these_docs_name_exists(name: str) -> None:
    from holdsense.cli import command_table

    text = (ROOT / name).read_text(encoding="utf-8")
    named = set(re.findall(r"`holdsense ([a-z][a-z-]*)", text))
    named |= {ln.split()[1] for ln in text.splitlines() if re.match(r"holdsense [a-z]", ln)}
    assert named - set(command_table()) == set(), name


def test_the_docs_name_device_commands() -> None:
    files = {f for f, _ in doc_commands()}
    assert {"hardware/README.md", "firmware/README.md", "docs/ble.md", "docs/live.md"} <= files


@pytest.mark.parametrize("where,command", doc_commands())
def test_a_device_command_in_the_docs_parses(where: str, command: str) -> None:
    from holdsense.cli import build_parser

    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{where}: `{command}` does not parse") from exc
    assert args.command == "device" and args.device_command == argv[1], (where, command)
