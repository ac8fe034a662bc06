"""Build the worked-example dataset: simulated labelled sessions in the publishable layout.

    python bench/make_example_dataset.py [--out datasets/example]     (or: make example-dataset)

A few short sessions from each generator (holdsense.sim; holdsense.quasistatic when present), fixed
seeds, written with their ground-truth labels and run through `holdsense dataset export`, so the
folder is exactly what a lab would publish (docs/dataset.md) and `holdsense dataset check` passes.
Sides are assigned alternately for the example only (the simulators have no left/right), so that
`holdsense evaluate datasets/example` shows its per-region/side table. Kept small (< 2 MB): 10 Hz
and 80 Hz sessions of 2-3 minutes, recordings gzip-compressed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIM_PLAN = [("standard", 11, 80, True), ("standard", 12, 10, False), ("limb", 13, 80, True),
            ("reposition", 14, 10, False), ("slow", 15, 80, False), ("gaps", 16, 10, True)]
DURATION_S = 150.0


def _label_meta(path: Path, who: str, side: str) -> None:
    lab = json.loads(path.read_text())
    lab["labeller"] = {"who": who, "how": "simulator", "tool": who}
    lab["side"] = side
    path.write_text(json.dumps(lab, indent=1) + "\n")


def build(tmp: Path) -> int:
    from holdsense.sim import simulate

    n = 0
    for k, (family, seed, rate, enc) in enumerate(SIM_PLAN):
        res = simulate(family, seed, rate_hz=rate, encoder=enc, duration_s=DURATION_S)
        rec, lab = res.write(tmp / f"sim-{family}-s{seed}-{rate}hz.csv")
        _label_meta(lab, "holdsense.sim", ("left", "right")[k % 2])
        n += 1
    try:
        from holdsense import quasistatic
    except ImportError:
        print("holdsense.quasistatic not available: example has the first generator only", file=sys.stderr)
        return n
    for k, (family, seed, rate, enc) in enumerate([("standard", 21, 10, True), ("limb", 22, 10, False),
                                                   ("reposition", 23, 10, True), ("fast", 24, 10, False)]):
        s = quasistatic.generate(family, seed, rate_hz=rate, encoder=enc)
        rec, lab = s.write(tmp / f"quasi-{family}-s{seed}-{rate}hz.csv")
        _label_meta(lab, "holdsense.quasistatic", ("left", "right")[k % 2])
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "datasets" / "example"))
    args = ap.parse_args(argv)
    from holdsense.cli import main as hs

    os.environ.setdefault("SOURCE_DATE_EPOCH", "1796342400")  # 2026-12-04: the datasheet's date, fixed

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="holdsense-example-") as d:
        n = build(Path(d))
        if out.exists():
            shutil.rmtree(out)
        rc = hs(["dataset", "export", d, "-o", str(out), "--gzip",
                 "--title", "holdsense worked example: simulated labelled roller sessions",
                 "--description", "Simulated sessions from holdsense's generators (not people), with the "
                                  "simulators' exact ground truth, laid out as a published dataset would be. "
                                  "Left/right sides are assigned alternately for the example only. "
                                  "Rebuild with `make example-dataset`.",
                 "--licence", "CC0-1.0",
                 "--consent", "not applicable: simulated data, no participants",
                 "--contact", "holdsense developers (issue tracker)",
                 "--shell", "simulated: smooth or ribbed shell, 14 cm diameter class (generator parameters)"])
    if rc:
        return rc
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {n} sessions, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
