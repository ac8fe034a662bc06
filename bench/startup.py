"""Start-up cost of the CLI (not part of make test): `holdsense --help` and every `holdsense COMMAND --help`
against `python -c pass` in the same run (issue 16: each under 0.15 s more than a bare interpreter).

    python bench/startup.py [--runs 15] [--commands analyze,record]

Each command runs `--runs` times, interleaved with the baseline so machine load hits all alike; the
figure is the best run of each (start-up has no useful variance above its floor, only noise from
other processes). Also lists the heavy modules (numpy, scipy, serial, rollsignal, matplotlib, rich,
bleak) each command's `--help` imports: there should be none.

Bytecode: the commands run as an installed package runs, from compiled bytecode (pip compiles it at
install; an editable install writes it on first import). An environment with PYTHONDONTWRITEBYTECODE
set (this lab's machines) would instead re-compile holdsense's modules from source on every start,
which is not what users pay: the variable is dropped for the timed processes, and a warm-up run of
each command writes the bytecode before timing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

TARGET_S = 0.15
HEAVY = ("numpy", "scipy", "serial", "rollsignal", "matplotlib", "rich", "bleak")
# The installed console script when there is one (what users run), else the same entry point via -c.
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "holdsense")
_HS = [_SCRIPT] if os.path.isfile(_SCRIPT) else [sys.executable, "-c",
                                                 "import sys; from holdsense.cli import main; sys.exit(main())"]
#: the environment of the timed processes: bytecode is written and used, as in an installed package
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cases(commands: list[str] | None = None) -> dict[str, list[str]]:
    """{label: argv}: the baseline, `holdsense --help`, then `holdsense COMMAND --help` for every command
    (`commands`: only these)."""
    from holdsense.cli import command_table  # reads the command modules' source, imports none of them

    names = list(command_table()) if not commands else commands
    out = {"python -c pass": [sys.executable, "-c", "pass"], "holdsense --help": [*_HS, "--help"]}
    for name in sorted(names, key=lambda n: (n != "analyze", n)):  # analyze first: the named case
        out[f"holdsense {name} --help"] = [*_HS, name, "--help"]
    return out


def run_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - t0


def heavy_imports(args: list[str]) -> list[str]:
    code = ("import sys, runpy, contextlib, io\n"
            f"sys.argv = ['holdsense', *{args!r}]\n"
            "try:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        runpy.run_module('holdsense.cli', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV).stdout
    return [m for m in out.strip().split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--commands", default="", help="comma-separated sub-commands (default: all)")
    a = ap.parse_args()
    CASES = cases([c for c in a.commands.split(",") if c])
    for cmd in CASES.values():  # warm-up: writes the bytecode, fills the OS file cache
        run_once(cmd)
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(a.runs):
        for name, cmd in CASES.items():
            times[name].append(run_once(cmd))
    base = min(times["python -c pass"])
    print(f"load average {os.getloadavg()[0]:.1f}; best of {a.runs} runs each")
    print(f"  {'python -c pass':34s} {base * 1000:7.1f} ms")
    ok = True
    for name in list(CASES)[1:]:
        best = min(times[name])
        extra = best - base
        heavy = heavy_imports(CASES[name][len(_HS):])
        good = extra < TARGET_S and not heavy
        ok &= good
        print(f"  {name:34s} {best * 1000:7.1f} ms  = pass + {extra * 1000:6.1f} ms (target < {TARGET_S * 1000:.0f} ms)"
              f"  heavy imports: {', '.join(heavy) or 'none'}  {'OK' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
