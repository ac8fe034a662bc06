"""Contact detection: is a body on the roller? Hysteresis on the zeroed force.

On above `on_n`, off below `off_n`: between the two the previous state holds,
so force hovering near a single threshold cannot chatter. The lightest
sensible load is ~10 % body weight of a 45 kg athlete (~44 N; domain.md), so
25 N on / 12 N off separates a body from offset drift and a hand brushing it.
Invalid frames keep the previous state (the state machine bridges them).
"""
from __future__ import annotations

import numpy as np

from .filters import forward_fill
from .frames import Frames


class Contact:
    """Streaming hysteresis contact detector."""

    def __init__(self, on_n: float = 25.0, off_n: float = 12.0) -> None:
        self.on_n = on_n
        self.off_n = off_n
        self._state = 0.0

    def process(self, frames: Frames) -> Frames:
        """Returns frames with `loaded` (bool per frame)."""
        if len(frames) == 0:
            return frames.with_(loaded=np.empty(0, bool))
        f = frames.force_n
        ok = frames.valid & np.isfinite(f)
        with np.errstate(invalid="ignore"):
            up = ok & (f > self.on_n)
            down = ok & (f < self.off_n)
        ev = np.where(up, 1.0, 0.0)
        state = forward_fill(ev, up | down, self._state)
        self._state = float(state[-1])
        return frames.with_(loaded=state > 0.5)
