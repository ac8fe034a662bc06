"""Replay a recording as a live sample stream, at real time or any speed.

python-can's `MessageSync` shape: each chunk is released when its last
sample is due,

    t_wakeup = playback_start + (t_last - t_first - t_skipped) / speed

so listeners (detector, live view, recorder, LSL) see the same stream they
would see from a roller, only from a file. A `Player` is a notifier source
(`recv(timeout_s)`; run it with `holdsense.listeners.notifier.Notifier(player,
listeners, start=False).run()`), and also iterable. Recorded gaps (`gap` flags) become
`Gap` messages before the chunk that starts with them, as from a device.

Time is read through `clock` and waited through `sleep` (both default to
the `time` module's, looked up at call time), so tests replace them and a
10-minute replay takes no wall time.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Iterator

import numpy as np

from rollsignal import FLAG_GAP

from ..errors import UserError
from ..messages import Gap, Info, Message, Samples
from .recording import Recording, read_recording


def parse_speed(text: str) -> float:
    """`--speed` value: a positive factor (1 = real time), or 0 / 'max' for as fast as possible."""
    t = str(text).strip().lower()
    if t in ("max", "inf", "0", "0.0"):
        return math.inf
    try:
        v = float(t.rstrip("x"))
    except ValueError:
        raise UserError(f"--speed: {text!r} is not a number (e.g. 1, 10, or max)") from None
    if not math.isfinite(v) or v < 0:
        raise UserError(f"--speed: {text!r} must be a positive number or 'max'")
    return math.inf if v == 0 else v


class Player:
    """Replays a recording's samples in chunks of about `chunk_s` seconds of recording time.

    `speed` 1 is real time, 10 ten times faster, `math.inf` as fast as the
    listeners take it. `skip_s` shortens silences in the recording longer than
    that many seconds (python-can's `skip`) so a long pause does not stall a demo.
    """

    def __init__(self, recording: Recording | str | os.PathLike[str], *, speed: float = 1.0,
                 chunk_s: float | None = None, skip_s: float | None = None,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], Any] | None = None) -> None:
        self.recording = recording if isinstance(recording, Recording) else read_recording(recording)
        if not speed > 0:
            raise ValueError("speed must be > 0 (math.inf for as fast as possible)")
        self.speed = float(speed)
        if chunk_s is None:
            chunk_s = 1.0 if math.isinf(self.speed) else 0.05  # 50 ms: what an 80 Hz link delivers, 20 views/s
        self.chunk_s = float(chunk_s)
        self._clock = clock
        self._sleep = sleep
        s = self.recording.samples
        t = s.t_s
        self._samples = s
        if len(t):
            dt = np.diff(t)
            excess = np.maximum(dt - skip_s, 0.0) if skip_s is not None else np.zeros_like(dt)
            self._t_play = t - t[0] - np.concatenate([[0.0], np.cumsum(excess)])
        else:
            self._t_play = np.empty(0)
        self._bounds = self._chunk_bounds()
        self._next = 0
        self._start: float | None = None
        self._sent_info = False

    def _chunk_bounds(self) -> list[tuple[int, int]]:
        t = self._t_play
        n = len(t)
        if n == 0:
            return []
        bins = np.floor(t / self.chunk_s).astype(np.int64)
        cuts = set((np.flatnonzero(np.diff(bins)) + 1).tolist())
        cuts |= set(np.flatnonzero(self._samples.flags & FLAG_GAP).tolist())  # a gap starts its own chunk
        cuts.discard(0)
        edges = [0] + sorted(cuts) + [n]
        return list(zip(edges[:-1], edges[1:]))

    # -- time ---------------------------------------------------------------------------------
    def _now(self) -> float:
        return (self._clock or time.monotonic)()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            (self._sleep or time.sleep)(seconds)

    # -- source interface ---------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The recording's metadata, plus its source path (what a device's `info` is for a live link)."""
        return {"source": self.recording.source, **self.recording.metadata}

    @property
    def duration_s(self) -> float:
        """Playback time at speed 1 (after `skip_s` shortening), in seconds."""
        return float(self._t_play[-1]) if len(self._t_play) else 0.0

    @property
    def position_s(self) -> float:
        """Recording time (s from the first sample) of the last sample released."""
        if self._next == 0:
            return 0.0
        stop = self._bounds[self._next - 1][1]
        return float(self._samples.t_s[stop - 1] - self._samples.t_s[0])

    def recv(self, timeout_s: float | None = None) -> list[Message] | None:
        """The next chunk's messages once it is due; [] if not due within `timeout_s`; None at the end."""
        if not self._sent_info:
            self._sent_info = True
            self._start = self._now()
            return [Info(self.info)]
        if self._next >= len(self._bounds):
            return None
        start, stop = self._bounds[self._next]
        if not math.isinf(self.speed):
            due = self._start + float(self._t_play[stop - 1]) / self.speed
            wait = due - self._now()
            if timeout_s is not None and wait > timeout_s:
                self._wait(timeout_s)
                return []
            self._wait(wait)
        self._next += 1
        chunk = self._samples.slice(start, stop)
        out: list[Message] = []
        if chunk.flags[0] & FLAG_GAP and start > 0:
            out.append(Gap(float(chunk.t_s[0]), "gap in recording", None))
        out.append(Samples(chunk))
        return out

    def __iter__(self) -> Iterator[Message]:
        """Messages in order, each when it is due (MessageSync style)."""
        while True:
            msgs = self.recv(None)
            if msgs is None:
                return
            yield from msgs
