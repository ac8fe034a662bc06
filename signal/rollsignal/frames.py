"""Frames: the uniform device-time grid every stage after the resampler works on.

Samples arrive at 10-92 Hz with jitter (an HX711 at "80 SPS" delivers 78-92), so
filters designed for a nominal rate would be wrong. The resampler puts the
signal on a fixed grid `t_s = k * FRAME_S` computed from device time stamps
only; from there on a filter's cut-off in Hz means what it says, and frame `k`
of a stream is the same frame whatever the chunking.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterable

import numpy as np

#: Frame period (s). 20 Hz resolves the fastest motion of interest (strokes of
#: 0.6 s per direction, knee bends up to 1 Hz) and matches the 0.05 s grid the
#: accuracy benchmark scores on.
FRAME_S = 0.05


@dataclass(frozen=True)
class Frames:
    """A run of consecutive frames on the `k * FRAME_S` grid.

    `k` frame index (int64), `t_s` frame time (s), `force_n` force (N; after the
    low-pass and auto-zero stages, the filtered zeroed force), `valid` False where
    no trustworthy sample was near (gap, dropout, saturation), `x_cm` roller
    position along the roll path (cm; None without encoder), `loaded` contact
    state (None until the contact stage ran), `offset_n` offset removed by the
    auto-zero (None before it ran).
    """

    k: np.ndarray
    t_s: np.ndarray
    force_n: np.ndarray
    valid: np.ndarray
    x_cm: np.ndarray | None = None
    loaded: np.ndarray | None = None
    offset_n: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.k)

    @staticmethod
    def empty(has_x: bool) -> "Frames":
        return Frames(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, bool),
                      np.empty(0) if has_x else None)

    def with_(self, **kw: object) -> "Frames":
        return replace(self, **kw)

    @staticmethod
    def concat(parts: Iterable["Frames"]) -> "Frames":
        """Join runs in order (fields present in every part survive)."""
        parts = [p for p in parts]
        if not parts:
            return Frames.empty(False)
        out = {}
        for f in fields(Frames):
            vals = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in vals) else np.concatenate(vals)
        return Frames(**out)
