"""Regenerate the bundled demo recordings in recordings/ (`make recordings`).

Each recording is a fixed (family, seed, options) of the simulator, so the
files are reproducible; the checks below make sure each still shows what it is
bundled for (a changed simulator that breaks one fails here, loudly, instead
of silently shipping a dull demo).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from holdsense.sim import simulate

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 2_000_000

# name: (family, seed, simulate() overrides, what it must show)
RECORDINGS = {
    "demo-standard": ("standard", 24, {},
                      "encoder, 80 Hz, ~6.6 min: rolling, 5 holds (77 s ... 14 s), one heavy hold, a step-off"),
    "demo-force-only": ("standard", 9, {"encoder": False},
                        "force-only roller (no encoder), 80 Hz, ~7 min, 5 holds"),
    "demo-limb": ("limb", 7, {},
                  "hamstrings, knee bends during every hold (0.45-0.68 Hz), encoder, 80 Hz, ~6.4 min"),
}


def _check(name: str, res) -> None:
    seg = res.labels["segments"]
    holds = [s["end_s"] - s["start_s"] for s in seg if s["kind"] == "hold"]
    problems = []
    if not 300 <= res.duration_s <= 500:
        problems.append(f"duration {res.duration_s:.0f} s")
    if len(holds) < 3 or max(holds) <= 30:
        problems.append(f"holds {holds}")
    if not any(s["kind"] == "roll" for s in seg):
        problems.append("no rolling")
    if name == "demo-standard":
        if min(holds) >= 30:
            problems.append("no short hold")
        if not any(s["kind"] == "off" for s in seg[1:-1]):
            problems.append("no step-off")
        if res.samples.angle_deg is None:
            problems.append("no encoder")
    if name == "demo-force-only" and res.samples.angle_deg is not None:
        problems.append("has an encoder")
    if name == "demo-limb":
        limb = [p for p in res.labels["scenario"]["phases"] if p["kind"] == "hold"]
        if not all(p["limb_hz"] > 0 for p in limb):
            problems.append("a hold without limb movement")
    if problems:
        raise SystemExit(f"{name}: no longer shows what it is bundled for: {'; '.join(problems)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "recordings"), help="output folder (default: recordings/)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (family, seed, overrides, what) in RECORDINGS.items():
        res = simulate(family, seed, **overrides)
        _check(name, res)
        rec, lab = res.write(out / f"{name}.csv")
        size = rec.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{rec}: {size} bytes, over the {MAX_BYTES} budget")
        holds = [round(s["end_s"] - s["start_s"]) for s in res.labels["segments"] if s["kind"] == "hold"]
        print(f"{rec.relative_to(ROOT) if rec.is_relative_to(ROOT) else rec}: {family} seed {seed}, "
              f"{res.duration_s:.0f} s, {len(res.samples)} samples, {size / 1e6:.2f} MB, holds {holds} s — {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
