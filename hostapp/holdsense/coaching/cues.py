"""Cue outputs for the guided session: terminal line (+ bell), the roller's buzzer/LED, a host sound.

Hands are busy and eyes are on the ceiling (domain.md), so every audible cue
goes out three ways where it can:
- the terminal: a timestamped line, plus the terminal bell when stdout is a terminal;
- the roller: the firmware's CUE command (docs/protocol.md: pattern 1 short beep
  + flash, 2 double, 3 long, 4 rising "release window reached", 5 LED only);
- the host: speech (spd-say, espeak-ng, espeak, say) or else a tone played with
  paplay / pw-play / aplay / afplay, only where a sound device exists; silently
  skipped where not.

Roller and host sound run on one worker thread: a CUE command waits for the
roller's ACK, which the receive loop delivers, so it must never be sent from
the receive thread itself; and a sound player must not hold up the stream.
"""
from __future__ import annotations

import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import numpy as np

from .flow import Cue

# Roller CUE pattern per cue kind (protocol.md CUE); the 30 s milestone gets the rising "release window" pattern.
ROLLER_PATTERNS = {"start": (1, 1), "limb": (1, 1), "ended": (2, 1), "nudge": (3, 1), "too_hard": (3, 1),
                   "warning": (3, 2)}
TONE_RATE_HZ = 22050


def roller_pattern(cue: Cue) -> tuple[int, int] | None:
    """(pattern, repeat) for the roller's CUE command, None for text-only cues."""
    if not cue.audible:
        return None
    if cue.kind == "milestone":
        return (4, 1) if cue.milestone_s == 30 else (2, 1)
    return ROLLER_PATTERNS.get(cue.kind, (1, 1))


def spoken(cue: Cue) -> str:
    """A short phrase to speak: the cue's first sentence, with 's' spelled out."""
    first = cue.text.split(". ")[0].rstrip(".")
    return first.replace(" s:", " seconds:").replace(" s,", " seconds,").replace(" min:", " minutes:")


def fmt_t(t_s: float | None) -> str:
    if t_s is None or not math.isfinite(t_s):
        return "  –  "
    t = int(max(0.0, t_s))
    return f"{t // 60:2d}:{t % 60:02d}"


class TerminalCues:
    """Prints each cue as one line; rings the terminal bell for audible cues when `out` is a terminal."""

    def __init__(self, out: IO[str] | None = None, *, bell: bool | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.bell = tty if bell is None else bell

    def __call__(self, cue: Cue) -> None:
        mark = {"milestone": "⏱", "nudge": "→", "limb": "↻", "warning": "!", "too_hard": "!", "ended": "■", "start": "▶"}.get(cue.kind, " ")
        prefix = f"[{fmt_t(cue.t_s)}] {mark} " if cue.t_s is not None else "   "
        try:
            self.out.write(prefix + cue.text + ("\a" if self.bell and cue.audible else "") + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass


class RollerCues:
    """Sends the roller's CUE command (via `send(pattern, repeat)`, e.g. Device.cue); failures are counted, not fatal."""

    def __init__(self, send: Callable[[int, int], Any]) -> None:
        self.send = send
        self.sent = 0
        self.failed = 0

    def __call__(self, cue: Cue) -> None:
        pr = roller_pattern(cue)
        if pr is None:
            return
        try:
            self.send(*pr)
            self.sent += 1
        except Exception:  # noqa: BLE001  a cue must never end the session (the link may be reconnecting)
            self.failed += 1


def _write_tone(path: Path, freqs_hz: Iterable[float], each_s: float, volume: float = 0.35) -> None:
    parts = []
    for f in freqs_hz:
        n = int(TONE_RATE_HZ * each_s)
        t = np.arange(n) / TONE_RATE_HZ
        ramp = np.minimum(1.0, np.minimum(t, each_s - t) / 0.01)  # 10 ms fades: no clicks
        parts.append(np.sin(2 * np.pi * f * t) * ramp)
    x = (np.concatenate(parts) * volume * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TONE_RATE_HZ)
        w.writeframes(x.tobytes())


TONES = {"short": ([880.0], 0.15), "double": ([880.0, 0.0, 880.0], 0.12), "rising": ([523.0, 659.0, 784.0], 0.16),
         "long": ([440.0], 0.6)}


def _tone_for(cue: Cue) -> str:
    pr = roller_pattern(cue) or (1, 1)
    return {1: "short", 2: "double", 3: "long", 4: "rising"}.get(pr[0], "short")


def sound_device_present(snd_dir: str = "/dev/snd") -> bool:
    """A sound device or sound server is there (Linux: ALSA pcm nodes, PulseAudio/PipeWire socket; macOS: yes)."""
    if sys.platform == "darwin":
        return True
    try:
        if any(n.startswith("pcm") for n in os.listdir(snd_dir)):
            return True
    except OSError:
        pass
    if os.environ.get("PULSE_SERVER"):
        return True
    run = os.environ.get("XDG_RUNTIME_DIR")
    return bool(run) and (Path(run, "pulse", "native").exists() or Path(run, "pipewire-0").exists())


class HostSound:
    """Speech or a tone on the host, where a sound device and a player exist; otherwise does nothing.

    `detect()` returns None when there is nothing to play on, so callers skip it silently.
    """

    SPEAKERS = ("spd-say", "espeak-ng", "espeak", "say")
    PLAYERS = ("paplay", "pw-play", "aplay", "afplay")

    def __init__(self, player: str | None, speaker: str | None) -> None:
        self.player = player
        self.speaker = speaker
        self._dir: Path | None = None
        self.played: list[list[str]] = []

    @classmethod
    def detect(cls, *, snd_dir: str = "/dev/snd", path: str | None = None, speech: bool = True) -> "HostSound | None":
        if not sound_device_present(snd_dir):
            return None
        speaker = next((s for s in cls.SPEAKERS if shutil.which(s, path=path)), None) if speech else None
        player = next((p for p in cls.PLAYERS if shutil.which(p, path=path)), None)
        if speaker is None and player is None:
            return None
        return cls(shutil.which(player, path=path) if player else None,
                   shutil.which(speaker, path=path) if speaker else None)

    def _tone_file(self, name: str) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="holdsense-tones-"))
        p = self._dir / f"{name}.wav"
        if not p.exists():
            freqs, each = TONES[name]
            _write_tone(p, freqs, each)
        return p

    def __call__(self, cue: Cue) -> None:
        if not cue.audible:
            return
        if self.speaker:
            name = Path(self.speaker).name
            args = [self.speaker, "-w", spoken(cue)] if name == "spd-say" else [self.speaker, spoken(cue)]
        elif self.player:
            args = [self.player, str(self._tone_file(_tone_for(cue)))]
        else:
            return
        self.played.append(args)
        try:
            subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=15, check=False)
        except (OSError, subprocess.SubprocessError):
            pass  # no sound is never an error

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


class CueOutput:
    """Gives each cue to the terminal at once and to the slow outputs (roller, sound) on a worker thread."""

    def __init__(self, terminal: Callable[[Cue], Any] | None, slow: Iterable[Callable[[Cue], Any]] = ()) -> None:
        self.terminal = terminal
        self.slow = [s for s in slow if s is not None]
        self.given: list[Cue] = []
        self._q: queue.Queue[Cue | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.slow:
            self._thread = threading.Thread(target=self._work, name="holdsense-cues", daemon=True)
            self._thread.start()

    def __call__(self, cues: Iterable[Cue]) -> None:
        for c in cues:
            self.given.append(c)
            if self.terminal is not None:
                self.terminal(c)
            if self._thread is not None and c.audible:
                self._q.put(c)

    def _work(self) -> None:
        while True:
            c = self._q.get()
            if c is None:
                return
            for s in self.slow:
                try:
                    s(c)
                except Exception:  # noqa: BLE001  an output failing never stops the others or the session
                    pass

    def close(self, timeout_s: float = 5.0) -> None:
        """Finish what is queued (bounded), then stop the worker."""
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout_s)
            self._thread = None
        for s in self.slow:
            if hasattr(s, "close"):
                s.close()
