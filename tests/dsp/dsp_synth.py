"""A small, independent session generator for the DSP tests (physics from docs/detector.md / domain.md).

Deliberately separate from holdsense.sim: the detector is tested against two
independent renderings of the same physics, so it cannot lean on one
simulator's quirks. Phases: ("off", s), ("roll", s, {...}), ("hold", s, {...}),
("repo", s) -- re-positioning, labelled roll.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from rollsignal import FLAG_GAP, FLAG_SAT, SampleChunk

G = 9.80665


def session(phases: list[tuple], *, mass_kg: float = 72.0, rate_hz: float = 80.0, encoder: bool = True,
            seed: int = 0, noise_n: float = 0.5, drift_n: float = 3.0, spikes_per_min: float = 0.0,
            gaps: list[tuple[float, float]] | None = None, sat: list[tuple[float, float]] | None = None,
            jitter: float = 0.1) -> tuple[SampleChunk, list[dict[str, Any]]]:
    """Render phases to samples; returns (chunk, true segments)."""
    rng = np.random.default_rng(seed)
    bw = mass_kg * G
    total = sum(p[1] for p in phases)
    # irregular device time: mean rate with jitter (real "80 SPS" parts wander)
    dt = (1.0 / rate_hz) * (1 + jitter * (rng.random(int(total * rate_hz * 1.3) + 10) - 0.5))
    t = np.cumsum(dt) - dt[0]
    t = t[t < total]
    force = np.zeros_like(t)
    x = np.zeros_like(t)
    segs: list[dict[str, Any]] = []
    t0, x0, level_prev = 0.0, 0.0, 0.0
    for ph in phases:
        kind, dur = ph[0], float(ph[1])
        opt = ph[2] if len(ph) > 2 else {}
        m = (t >= t0) & (t < t0 + dur)
        tl = t[m] - t0
        if kind == "off":
            f = np.zeros_like(tl)
            xx = np.full_like(tl, x0)
        elif kind == "roll":
            stroke = opt.get("stroke_s", 2.0)
            travel = opt.get("travel_cm", 12.0)
            frac = opt.get("frac", 0.32)
            ph_ = math.pi * tl / stroke
            xx = x0 + travel * 0.5 * (1 - np.cos(ph_))  # back and forth, stroke_s per direction
            lever = opt.get("lever", 0.12) * np.cos(ph_)  # load share follows position along the limb
            bump = opt.get("bump", 0.05) * np.exp(-0.5 * ((np.abs(((tl / stroke) + 0.5) % 1 - 0.5)) * stroke / 0.2) ** 2)
            speed = np.abs(travel * 0.5 * math.pi / stroke * np.sin(ph_))
            rib = 0.01 * np.sin(2 * math.pi * (xx / 2.0)) * np.minimum(1, speed)  # ribbed shell under tissue
            f = frac * bw * (1 + lever + bump + rib + 0.02 * np.sin(2 * math.pi * 0.25 * tl))
            x0 = float(xx[-1]) if len(xx) else x0
        elif kind == "hold":
            frac = opt.get("frac", 0.18)
            br = opt.get("breath", 0.03) * np.sin(2 * math.pi * opt.get("breath_hz", 0.25) * tl)
            limb_hz = opt.get("limb_hz", 0.0)
            limb = opt.get("limb", 0.15) * 0.5 * (1 - np.cos(2 * math.pi * limb_hz * tl)) if limb_hz else 0.0
            if limb_hz and opt.get("limb_bouts"):  # knee bends in bouts (start_s, end_s) within the hold, rest between
                limb = limb * sum(((tl >= a) & (tl < b)) for a, b in opt["limb_bouts"])
            step = sum(opt.get("step", 0.06) * (tl > s) for s in opt.get("shifts", []))
            sink = opt.get("sink", 0.03) * (1 - np.exp(-tl / 20.0))
            f = frac * bw * (1 + br + limb + step + sink)
            xx = np.full_like(tl, x0) + 0.05 * np.sin(2 * math.pi * 0.1 * tl)
        elif kind == "repo":
            frac = opt.get("frac", 0.25)
            shift = opt.get("travel_cm", 8.0) * (1 if rng.random() < 0.5 else -1)
            u = np.clip(tl / dur, 0, 1)
            stepwise = u + 0.08 * np.sin(2 * math.pi * 3 * u)
            xx = x0 + shift * np.clip(stepwise, 0, 1)
            f = frac * bw * (1 + 0.25 * np.sin(2 * math.pi * 1.3 * tl + rng.random() * 6) * np.sin(math.pi * u))
            x0 = x0 + shift
        else:
            raise ValueError(kind)
        # smooth load transitions (stepping on/off, settling into a hold)
        settle = 0.4
        w = np.clip(tl / settle, 0, 1)
        f = level_prev + (f - level_prev) * (w * w * (3 - 2 * w))
        force[m] = f
        x[m] = xx
        level_prev = float(f[-1]) if len(f) else level_prev
        lab = {"off": "off", "roll": "roll", "hold": "hold", "repo": "roll"}[kind]
        if segs and segs[-1]["kind"] == lab:
            segs[-1]["end_s"] = t0 + dur
        else:
            segs.append({"kind": lab, "start_s": t0, "end_s": t0 + dur})
        t0 += dur
    force = force + drift_n * np.sin(2 * math.pi * t / max(total, 1) * 0.5) + rng.normal(0, noise_n, len(t))
    flags = np.zeros(len(t), np.uint8)
    if spikes_per_min:
        idx = rng.choice(len(t), int(spikes_per_min * total / 60), replace=False)
        force[idx] += rng.choice([-1, 1], len(idx)) * rng.uniform(50, 600, len(idx))
    for a, b in sat or []:
        mm = (t >= a) & (t < b)
        flags[mm] |= FLAG_SAT
        force[mm] = 1e4
    keep = np.ones(len(t), bool)
    for a, b in gaps or []:
        keep &= ~((t >= a) & (t < b))
        after = np.flatnonzero(t >= b)
        if len(after):
            flags[after[0]] |= FLAG_GAP
    angle = np.degrees(x / 7.5) + rng.normal(0, 0.03, len(t))
    chunk = SampleChunk(t[keep], force[keep], angle[keep] if encoder else None, flags[keep])
    return chunk, segs


def standard(seed: int = 0, **kw: Any) -> tuple[SampleChunk, list[dict[str, Any]]]:
    """Off, roll, hold 45 s, roll, hold 60 s with knee bends, off."""
    return session([("off", 4), ("roll", 20), ("hold", 45), ("roll", 12),
                    ("hold", 60, {"limb_hz": 0.4}), ("roll", 8), ("off", 4)], seed=seed, **kw)
