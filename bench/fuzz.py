"""The property-based tests of issue 18, run long (not part of make test).

    python bench/fuzz.py [--examples 2000] [-k decoder] [--seed N]

Runs tests/host/test_properties.py (recording, capture and XDF readers on
generated hostile files; the wire decoder on garbage-laced streams) and
tests/dsp/test_streaming_properties.py (Detector streaming == batch) with the
example counts scaled so the largest property gets about `--examples` cases, and
randomised (`make test` runs them derandomised and bounded to ~20 s). A failure
prints hypothesis's shrunk example: a minimal hostile file to turn into a test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the largest default max_examples among the properties (the frame decoder's)
BASE_EXAMPLES = 200


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=2000, help="examples for the largest property (default 2000)")
    ap.add_argument("-k", default=None, help="pytest -k expression: run only matching properties")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    a = ap.parse_args()
    env = dict(os.environ, HOLDSENSE_FUZZ_SCALE=str(max(a.examples, 1) / BASE_EXAMPLES))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0",
           str(ROOT / "tests" / "host" / "test_properties.py"),
           str(ROOT / "tests" / "dsp" / "test_streaming_properties.py"), "--durations", "0"]
    if a.k:
        cmd += ["-k", a.k]
    if a.seed is not None:
        cmd += [f"--hypothesis-seed={a.seed}"]
    print(" ".join(cmd), f"(HOLDSENSE_FUZZ_SCALE={env['HOLDSENSE_FUZZ_SCALE']})", flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
