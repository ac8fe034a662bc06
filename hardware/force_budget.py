#!/usr/bin/env python3
"""Force budget of the holdsense roller: counts per newton, resolution, noise floor, full scale.

Run `python hardware/force_budget.py` for the Markdown table that hardware/README.md embeds
(hardware/draw.py refreshes it there), `--json` for the numbers.

Datasheet facts used (Avia Semiconductor HX711 datasheet, "Key electrical characteristics"):
* channel A, gain 128: full-scale differential input ±0.5·AVDD/128 (±20 mV at AVDD = 5 V);
* output: 24-bit two's complement, 0x800000…0x7FFFFF, i.e. ±2^23 counts over that range;
* input-referred noise at gain 128: 50 nV rms at 10 SPS (RATE low), 90 nV rms at 80 SPS (RATE high);
* input offset drift ±6 nV/°C and gain drift ±5 ppm/°C at gain 128.
The bridge is excited from AVDD (board pin E+), so counts per newton do not depend on the
excitation voltage (ratiometric); the noise in newtons does (the noise is a voltage).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass

G_MPS2 = 9.80665
ADC_HALF_RANGE_COUNTS = 2 ** 23
GAIN = 128
NOISE_V_RMS = {10: 50e-9, 80: 90e-9}        # HX711 datasheet, gain 128
OFFSET_DRIFT_V_PER_C = 6e-9                  # HX711 datasheet, gain 128
PEAK_TO_PEAK_PER_RMS = 6.6                   # 99.9 % of Gaussian noise lies within ±3.3 σ


@dataclass(frozen=True)
class Build:
    """One load-cell arrangement feeding one HX711 channel A."""

    name: str
    cells: str
    rated_total_kg: float        # sum of the cells' rated capacities
    output_mv_per_v: float       # bridge output at the rated total load, per volt of excitation
    excitation_v: float          # E+ − E− = AVDD as measured on the HX711 board
    safe_overload: float = 1.5   # cells' safe overload, fraction of rated


BUILDS = [
    Build("reference", "2 × 100 kg full-bridge bar cells, outputs in parallel", 200.0, 2.0, 3.1),
    Build("budget", "4 × 50 kg half-bridge cells in one bridge (combinator)", 200.0, 1.0, 3.1),
]


def budget(b: Build) -> dict[str, float | str]:
    """Every figure of the force budget for one build (units in the keys)."""
    rated_n = b.rated_total_kg * G_MPS2
    v_per_n = b.output_mv_per_v * 1e-3 * b.excitation_v / rated_n            # bridge output per newton
    counts_per_v = ADC_HALF_RANGE_COUNTS / (0.5 * b.excitation_v / GAIN)     # AVDD = excitation
    counts_per_n = v_per_n * counts_per_v
    clip_n = (0.5 / GAIN) / (b.output_mv_per_v * 1e-3) * rated_n              # ADC saturates (no offset)
    out: dict[str, float | str] = {
        "build": b.name, "cells": b.cells,
        "excitation_v": b.excitation_v,
        "rated_full_scale_n": rated_n,
        "safe_overload_n": rated_n * b.safe_overload,
        "adc_clip_n": clip_n,
        "signal_at_full_scale_mv": v_per_n * rated_n * 1e3,
        "adc_input_range_mv": 0.5 * b.excitation_v / GAIN * 1e3,
        "counts_per_n": counts_per_n,
        "counts_at_full_scale": counts_per_n * rated_n,
        "resolution_n_per_count": 1.0 / counts_per_n,
        "offset_drift_n_per_c": OFFSET_DRIFT_V_PER_C / v_per_n,
    }
    for rate, noise_v in NOISE_V_RMS.items():
        noise_n = noise_v / v_per_n
        out[f"noise_{rate}sps_counts_rms"] = noise_v * counts_per_v
        out[f"noise_{rate}sps_n_rms"] = noise_n
        out[f"noise_free_{rate}sps_n"] = PEAK_TO_PEAK_PER_RMS * noise_n
        out[f"noise_free_bits_{rate}sps"] = math.log2(rated_n / (PEAK_TO_PEAK_PER_RMS * noise_n))
    return out


ROWS = [
    ("Cells", "cells", "{}"),
    ("Excitation E+ − E− (= AVDD, measure it)", "excitation_v", "{:.1f} V"),
    ("Rated full scale (sum of cells)", "rated_full_scale_n", "{:.0f} N"),
    ("Safe overload (150 % of rated)", "safe_overload_n", "{:.0f} N"),
    ("Bridge signal at full scale", "signal_at_full_scale_mv", "{:.2f} mV"),
    ("HX711 input range at gain 128 (±0.5·AVDD/128)", "adc_input_range_mv", "±{:.2f} mV"),
    ("ADC saturates at (zero offset aside)", "adc_clip_n", "{:.0f} N"),
    ("Counts per newton", "counts_per_n", "{:.0f}"),
    ("Counts at full scale", "counts_at_full_scale", "{:,.0f}"),
    ("Resolution (1 count)", "resolution_n_per_count", "{:.5f} N"),
    ("Noise floor at 10 SPS (50 nV rms)", "noise_10sps_n_rms", "{:.3f} N rms"),
    ("Noise at 10 SPS in counts", "noise_10sps_counts_rms", "{:.0f} counts rms"),
    ("Noise-free resolution at 10 SPS (6.6 σ)", "noise_free_10sps_n", "{:.2f} N"),
    ("Noise floor at 80 SPS (90 nV rms)", "noise_80sps_n_rms", "{:.3f} N rms"),
    ("Noise at 80 SPS in counts", "noise_80sps_counts_rms", "{:.0f} counts rms"),
    ("Noise-free resolution at 80 SPS (6.6 σ)", "noise_free_80sps_n", "{:.2f} N"),
    ("Noise-free bits over full scale, 80 SPS", "noise_free_bits_80sps", "{:.1f} bits"),
    ("HX711 offset drift (±6 nV/°C)", "offset_drift_n_per_c", "{:.4f} N/°C"),
]


def markdown(builds: list[Build] = BUILDS) -> str:
    """The force-budget table (one column per build), as embedded in hardware/README.md."""
    figures = [budget(b) for b in builds]
    lines = ["| Quantity | " + " | ".join(f"{b.name} build" for b in builds) + " |",
             "|---|" + "---|" * len(builds)]
    for label, key, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(f[key]) for f in figures) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if args.json:
        print(json.dumps([{"build": asdict(b), "budget": budget(b)} for b in BUILDS], indent=2))
    else:
        print(markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
