"""`holdsense analyze FOLDER --jobs N`: wall time on all cores against one core, in the same run (issue 18).

    python bench/parallel.py [--files 16] [--minutes 10] [--jobs N] [--repeat 2]

Simulates a folder of recordings (fixed seeds, `holdsense simulate`'s generator),
then times the real CLI (`python -m holdsense.cli analyze DIR --json`) with
`--jobs 1` and with `--jobs N` (default: every core), best of `--repeat`, and
checks the JSON Lines are byte-identical. Prints the ratio one-core / N-cores;
on an idle machine with C cores it approaches C (minus one fork-server start and
the per-file reads, which stay serial in the parent for the JSON output). A ratio
is the only figure that means anything on a shared machine: both runs see the same
load.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_folder(d: Path, files: int, minutes: float) -> None:
    from holdsense.io.recording import write_recording
    from holdsense.sim import load_scenario, simulate

    scenario = load_scenario("standard")
    for k in range(files):
        res = simulate(scenario, k, duration_s=minutes * 60.0)
        write_recording(d / f"s{k:03d}.csv", res.samples, res.metadata)


def _burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def machine_ceiling(jobs: int, n: int = 3_000_000) -> float:
    """What `jobs` processes can gain here right now: a pure CPU burn, serial vs a Pool (the baseline a
    shared or throttled machine sets; 2 idle cores give ~2)."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    for _ in range(2 * jobs):
        _burn(n)
    serial = time.perf_counter() - t0
    with mp.get_context("forkserver").Pool(jobs) as pool:
        pool.map(_burn, [n])  # start-up outside the timing
        t0 = time.perf_counter()
        pool.map(_burn, [n] * (2 * jobs))
        par = time.perf_counter() - t0
    return serial / par


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return dt, r.stdout


def main() -> int:
    from holdsense.lab.parallel import available_cores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each simulated session")
    ap.add_argument("--jobs", type=int, default=None, help="workers for the parallel run (default: all cores)")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs each")
    a = ap.parse_args()
    jobs = a.jobs or available_cores()
    with tempfile.TemporaryDirectory(prefix="hs-parallel-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        make_folder(d, a.files, a.minutes)
        print(f"folder: {a.files} recordings of {a.minutes:g} min ({time.perf_counter() - t0:.1f} s to simulate), "
              f"{available_cores()} core(s) available, parallel run with --jobs {jobs}")
        base = [sys.executable, "-m", "holdsense.cli", "analyze", str(d), "--json"]
        one, many, out1, outn = [], [], "", ""
        for _ in range(a.repeat):  # interleaved, so a load change hits both
            dt, out1 = timed(base + ["--jobs", "1"])
            one.append(dt)
            dt, outn = timed(base + ["--jobs", str(jobs)])
            many.append(dt)
        ceiling = machine_ceiling(jobs)
        same = out1 == outn
        b1, bn = min(one), min(many)
        print(f"--jobs 1: {b1:.2f} s   --jobs {jobs}: {bn:.2f} s   speed-up {b1 / bn:.2f}x "
              f"(ideal {min(jobs, a.files)}x); outputs identical: {same}")
        print(f"machine ceiling now (pure CPU burn, {jobs} processes vs 1): {ceiling:.2f}x; "
              f"--jobs efficiency against it: {b1 / bn / ceiling:.0%}")
        print(f"per file: {b1 / a.files * 1000:.0f} ms on one core, {bn / a.files * 1000:.0f} ms wall with {jobs}")
        try:
            print(f"load average during the run: {open('/proc/loadavg').read().split()[0]} on "
                  f"{os.cpu_count()} CPU(s) (a saturated machine cannot show a speed-up)")
        except OSError:
            pass
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
