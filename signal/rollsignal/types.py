"""Sample chunks: the one data shape that flows from decoder, player and reader into the DSP.

A chunk is a run of consecutive samples with device time stamps. Every stage and
every listener takes chunks, so a recording fed whole and a live stream fed in
8-sample pieces go through the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

# Per-sample flag bits (recording column `flags`, tokens joined by "|").
FLAG_SAT = 1  # ADC saturated: value not trustworthy
FLAG_GAP = 2  # first sample after lost samples / link gap / reboot
FLAG_SPIKE = 4  # value replaced by the despiker
FLAG_NAMES: dict[int, str] = {FLAG_SAT: "sat", FLAG_GAP: "gap", FLAG_SPIKE: "spike"}
FLAG_BITS: dict[str, int] = {v: k for k, v in FLAG_NAMES.items()}


def flags_to_text(bits: int) -> str:
    """Render a flag bitmask as the recording's `a|b` token text ("" for none)."""
    return "|".join(name for bit, name in FLAG_NAMES.items() if bits & bit)


def text_to_flags(text: str) -> int:
    """Parse `a|b` flag tokens; unknown tokens are ignored (forward compatible)."""
    bits = 0
    if text:
        for tok in text.split("|"):
            bits |= FLAG_BITS.get(tok.strip(), 0)
    return bits


@dataclass(frozen=True)
class SampleChunk:
    """Consecutive samples: time (s, device clock), force (N), optional angle and raw ADC counts.

    `angle_deg` is None on force-only builds; NaN marks a single missing value.
    `raw_counts` is None when unknown (float64 so NaN can mark a missing cell).
    `flags` holds FLAG_* bits per sample.
    """

    t_s: np.ndarray
    force_n: np.ndarray
    angle_deg: np.ndarray | None = None
    flags: np.ndarray | None = None
    raw_counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.t_s)
        object.__setattr__(self, "t_s", np.asarray(self.t_s, dtype=np.float64))
        object.__setattr__(self, "force_n", np.asarray(self.force_n, dtype=np.float64))
        if len(self.force_n) != n:
            raise ValueError("t_s and force_n differ in length")
        if self.angle_deg is not None:
            object.__setattr__(self, "angle_deg", np.asarray(self.angle_deg, dtype=np.float64))
            if len(self.angle_deg) != n:
                raise ValueError("angle_deg length differs")
        if self.raw_counts is not None:
            object.__setattr__(self, "raw_counts", np.asarray(self.raw_counts, dtype=np.float64))
            if len(self.raw_counts) != n:
                raise ValueError("raw_counts length differs")
        flags = np.zeros(n, dtype=np.uint8) if self.flags is None else np.asarray(self.flags, dtype=np.uint8)
        if len(flags) != n:
            raise ValueError("flags length differs")
        object.__setattr__(self, "flags", flags)

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def has_angle(self) -> bool:
        """True when the chunk carries the shell encoder's angle (then the detector judges stillness from the
        roller's position rather than from force alone)."""
        return self.angle_deg is not None

    def slice(self, start: int, stop: int) -> "SampleChunk":
        """Samples [start, stop) as a new chunk (views, no copy)."""
        return SampleChunk(
            self.t_s[start:stop],
            self.force_n[start:stop],
            None if self.angle_deg is None else self.angle_deg[start:stop],
            self.flags[start:stop],
            None if self.raw_counts is None else self.raw_counts[start:stop],
        )

    def split(self, sizes: Sequence[int]) -> list["SampleChunk"]:
        """Cut into consecutive chunks of the given sizes (the rest goes in a last chunk)."""
        out, i = [], 0
        for s in sizes:
            if i >= len(self):
                break
            out.append(self.slice(i, i + s))
            i += s
        if i < len(self):
            out.append(self.slice(i, len(self)))
        return out

    @staticmethod
    def concat(chunks: Iterable["SampleChunk"]) -> "SampleChunk":
        """Join chunks in order; angle/raw columns survive only if every chunk has them."""
        chunks = list(chunks)
        if not chunks:
            return SampleChunk(np.empty(0), np.empty(0))
        has_a = all(c.angle_deg is not None for c in chunks)
        has_r = all(c.raw_counts is not None for c in chunks)
        return SampleChunk(
            np.concatenate([c.t_s for c in chunks]),
            np.concatenate([c.force_n for c in chunks]),
            np.concatenate([c.angle_deg for c in chunks]) if has_a else None,
            np.concatenate([c.flags for c in chunks]),
            np.concatenate([c.raw_counts for c in chunks]) if has_r else None,
        )
