"""Measured properties of generated sessions: the "Measured properties" table of docs/scenarios.md.

Run: `python -m holdsense.tissuesim.measure [n_per_family]` (default 6; seeds 0..n-1, 80 Hz, encoder on).
Loads are the true force (before the sensor) as a share of body weight.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import FAMILIES, Session, generate


def session_properties(s: Session) -> dict[str, Any]:
    """Per-session figures: rolling load, its swing, hold loads, strokes, knee swings, re-positions, loss."""
    bw = s.labels["body_mass_kg"] * 9.81
    g = s.grid
    rolling = (g["phase"] == 1) & (g["gate"] >= 1.0)
    f = g["f_true"]
    holds = [x for x in s.labels["segments"] if x["kind"] == "hold"]
    strokes = [st["t1"] - st["t0"] for st in s.plan.strokes if not st["hesitation"]]
    knee = []
    for h in s.plan.holds:
        for b in h["limb"]:
            i0, i1 = int(b["t0"] * 200), int((b["t0"] + b["dur_s"]) * 200)
            knee.append((np.percentile(f[i0:i1], 95) - np.percentile(f[i0:i1], 5)) / bw)
    repos = [(e["t1"] - e["t0"], e["cm"]) for e in s.plan.episodes if e["kind"] == "repos"]
    st = s.labels["scenario"]["sensors"]
    return dict(duration_s=s.duration_s,
                roll_med_bw=float(np.median(f[rolling]) / bw) if rolling.any() else np.nan,
                roll_swing_bw=float((np.percentile(f[rolling], 95) - np.percentile(f[rolling], 5)) / bw)
                if rolling.any() else np.nan,
                hold_bw=[h["force_frac_bw"] for h in holds], strokes=strokes, knee=knee, repos=repos,
                lost_pct=100.0 * st["samples_lost"] / st["samples_converted"])


def table(n_per_family: int = 6) -> str:
    """Markdown table of measured properties, n sessions per family."""
    rows = ["| family | duration s | rolling load median /BW | rolling p5-p95 swing /BW | hold mean /BW "
            "(median, range) | one-way strokes s (median, p5-p95) | knee swing /BW (median, range) | "
            "re-positions s / cm (range) | samples lost % |",
            "|---|---|---|---|---|---|---|---|---|"]

    def rng_txt(v: list[float], fmt: str = ".2f") -> str:
        return f"{min(v):{fmt}}-{max(v):{fmt}}" if v else "-"

    for fam in FAMILIES:
        ps = [session_properties(generate(fam, seed, rate_hz=80.0, encoder=True)) for seed in range(n_per_family)]
        dur = [p["duration_s"] for p in ps]
        rm = [p["roll_med_bw"] for p in ps]
        sw = [p["roll_swing_bw"] for p in ps]
        hb = [x for p in ps for x in p["hold_bw"]]
        stv = [x for p in ps for x in p["strokes"]]
        kn = [x for p in ps for x in p["knee"]]
        rp = [x for p in ps for x in p["repos"]]
        lost = [p["lost_pct"] for p in ps]
        rows.append(
            f"| `{fam}` | {rng_txt(dur, '.0f')} | {np.median(rm):.2f} ({rng_txt(rm)}) | {np.median(sw):.2f} "
            f"({rng_txt(sw)}) | {np.median(hb):.2f} ({rng_txt(hb)}) | {np.median(stv):.2f} "
            f"({np.percentile(stv, 5):.2f}-{np.percentile(stv, 95):.2f}) | "
            + (f"{np.median(kn):.3f} ({rng_txt(kn, '.3f')})" if kn else "-") + " | "
            + (f"{rng_txt([r[0] for r in rp], '.1f')} / {rng_txt([r[1] for r in rp], '.1f')}" if rp else "-")
            + f" | {np.median(lost):.2f} ({rng_txt(lost)}) |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(int(sys.argv[1]) if len(sys.argv) > 1 else 6))
