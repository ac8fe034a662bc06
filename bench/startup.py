"""Start-up cost of the CLI (not part of make test): `holdsense --help` and `holdsense analyze --help`
against `python -c pass` in the same run (issue 16: each under 0.15 s more than a bare interpreter).

    python bench/startup.py [--runs 15]

Each command runs `--runs` times, interleaved with the baseline so machine load hits all alike; the
figure is the best run of each (start-up has no useful variance above its floor, only noise from
other processes). Also lists the heavy modules (numpy, scipy, serial, rollsignal, matplotlib, rich)
each command imports: there should be none.
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
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "holdsense --help": [*_HS, "--help"],
    "holdsense analyze --help": [*_HS, "analyze", "--help"],
}


def run_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.strip().split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(a.runs):
        for name, cmd in CASES.items():
            times[name].append(run_once(cmd))
    base = min(times["python -c pass"])
    print(f"load average {os.getloadavg()[0]:.1f}; best of {a.runs} runs each")
    print(f"  {'python -c pass':28s} {base * 1000:7.1f} ms")
    ok = True
    for name in list(CASES)[1:]:
        best = min(times[name])
        extra = best - base
        heavy = heavy_imports(CASES[name][len(_HS):])
        good = extra < TARGET_S and not heavy
        ok &= good
        print(f"  {name:28s} {best * 1000:7.1f} ms  = pass + {extra * 1000:6.1f} ms (target < {TARGET_S * 1000:.0f} ms)"
              f"  heavy imports: {', '.join(heavy) or 'none'}  {'OK' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
