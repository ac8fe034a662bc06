"""Start-up pays only for the command that runs (issue 16): checked by what gets imported, not by timing
(the timing against `python -c pass` is bench/startup.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "serial", "rollsignal", "matplotlib", "rich", "bleak")


def _imported_after(args: list[str]) -> set[str]:
    code = ("import sys, contextlib, io\n"
            "from holdsense.cli import main\n"
            "try:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"        main({args!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r} or m.startswith('holdsense.'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_top_level_help_imports_no_command() -> None:
    mods = _imported_after(["--help"])
    assert not {m for m in mods if m.split(".")[0] in HEAVY}, mods
    assert not {m for m in mods if m.startswith("holdsense.commands.")}, mods


def _commands() -> list[str]:
    from holdsense.cli import command_table  # reads the command modules' source, imports none of them

    return sorted(command_table())


@pytest.mark.parametrize("command", _commands())
def test_a_command_help_imports_that_command_only_and_nothing_heavy(command: str) -> None:
    mods = _imported_after([command, "--help"])
    commands = {m for m in mods if m.startswith("holdsense.commands.") and not m.split(".")[-1].startswith("_")}
    assert commands <= {f"holdsense.commands.{command.replace('-', '_')}", "holdsense.commands.record",
                        "holdsense.commands.history"}, commands  # live/session reuse record's/history's helpers
    assert not {m for m in mods if m.split(".")[0] in HEAVY}, mods


def test_help_lists_every_command_with_its_help() -> None:
    from holdsense.cli import build_parser, command_table

    table = command_table()
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert set(table) == set(sub.choices)
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert {k: v for k, (_, v) in table.items()} == helps


def test_no_help_text_shows_a_doubled_percent_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse %-formats `help=` strings (so they need %%) but not `description=`: a %% there shows as is."""
    from holdsense.cli import build_parser

    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: a phrase is found whole
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    texts = {name: p.format_help() for name, p in sub.choices.items()} | {"(holdsense)": full.format_help()}
    assert [name for name, text in texts.items() if "%%" in text] == []
    assert "light-pressure band, 10-25 % of body weight" in texts["profile"]


def test_python_dash_m_holdsense_is_the_console_script() -> None:
    """`python -m holdsense` (no scripts folder on PATH, or a chosen interpreter) runs the same CLI, with the same
    program name and exit codes, and stays as light as `holdsense --help`."""
    out = subprocess.run([sys.executable, "-m", "holdsense", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: holdsense "), out.stderr
    bad = subprocess.run([sys.executable, "-m", "holdsense", "analyze", "/nonexistent.csv"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("holdsense: error: /nonexistent.csv"), bad.stderr
    code = ("import runpy, sys, contextlib, io\nsys.argv = ['holdsense', '--help']\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    runpy.run_module('holdsense', run_name='__main__')\n"
            f"print(' '.join(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n")
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert not mods.stdout.split(), mods.stdout
