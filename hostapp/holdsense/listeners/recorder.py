"""Running a live session: duration limit, progress line, clean stop on Ctrl-C / SIGTERM.

`RecordingWriter` (holdsense.io.recording) writes the file; this module adds
what `holdsense record` and `holdsense live` need around it:

- `Until`: forwards the stream to its listeners up to a duration of session
  (device) time, cutting the last chunk exactly, then says it is done. Device
  time, not wall time, so a test against a virtual device running 20× faster
  records 60 s of session in 3 s;
- `Progress`: the progress line (elapsed, measured sample rate, lost/corrupt
  frames, gaps, battery) on stderr — rewritten in place on a terminal, a
  line every few seconds in a log;
- `run_session`: starts the notifier, waits for the duration, end of stream,
  Ctrl-C or SIGTERM, and stops everything in order so the file is complete.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any, Callable, Iterator

from rollsignal import SampleChunk

from ..fmt import plural
from ..messages import Listener, as_listener
from .notifier import Notifier


class Until(Listener):
    """Passes the stream to `listeners` until session time `duration_s` (None: forever), then sets `done`.

    A listener that raises is detached and its error kept (re-raised by `stop()`); the others go on, so a
    display or LSL bug does not stop the recording. A listener marked `essential` (the RecordingWriter)
    that raises ends the session instead: `failed` and `done` are set, since recording on would lose
    every further sample without a word.
    """

    def __init__(self, listeners: list[Any], duration_s: float | None = None) -> None:
        self.listeners = [as_listener(x) for x in listeners]
        self.duration_s = duration_s
        self.done = threading.Event()
        self.failed = threading.Event()
        self.errors: list[BaseException] = []
        self._t0: float | None = None

    def _each(self, call: Callable[[Listener], Any]) -> None:
        for lst in list(self.listeners):
            try:
                call(lst)
            except Exception as exc:  # noqa: BLE001 - detach the faulty listener, keep the others
                self._detach(lst, exc)

    def _detach(self, lst: Listener, exc: BaseException) -> None:
        self.errors.append(exc)
        self.listeners.remove(lst)
        if getattr(lst, "essential", False):
            self.failed.set()
            self.done.set()
        try:
            lst.stop()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass

    def on_info(self, info: dict[str, Any]) -> None:
        self._each(lambda lst: lst.on_info(info))

    def on_samples(self, chunk: SampleChunk) -> None:
        if self.done.is_set() or len(chunk) == 0:
            return
        if self.duration_s is not None:
            if self._t0 is None:
                self._t0 = float(chunk.t_s[0])
            end = self._t0 + self.duration_s
            if chunk.t_s[-1] >= end:
                n = int((chunk.t_s < end).sum())
                chunk = chunk.slice(0, n)
                self.done.set()
        if len(chunk):
            self._each(lambda lst: lst.on_samples(chunk))

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        if not self.done.is_set():
            self._each(lambda lst: lst.on_gap(t_s, reason, lost_samples))

    def on_status(self, status: dict[str, Any]) -> None:
        self._each(lambda lst: lst.on_status(status))

    def stop(self) -> None:
        """Stop every listener (each gets stop(), even if one fails: the file gets closed); then re-raise
        the first error, a detached listener's first."""
        errors = list(self.errors)
        for lst in self.listeners:
            try:
                lst.stop()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        if errors:
            raise errors[0]


def fmt_elapsed(t_s: float) -> str:
    t = max(0, int(t_s))
    return f"{t // 3600:d}:{t // 60 % 60:02d}:{t % 60:02d}" if t >= 3600 else f"{t // 60:02d}:{t % 60:02d}"


class Progress(Listener):
    """The progress line: elapsed session time, measured rate, samples, lost/corrupt frames, gaps, battery.

    `stats` returns the link's counters (Device.stats). On a terminal the line
    is redrawn in place twice a second; otherwise a line every `log_interval_s`.
    """

    def __init__(self, out: IO[str] | None = None, *, stats: Callable[[], dict[str, Any]] | None = None,
                 label: str = "recording", tty: bool | None = None, log_interval_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, quiet: bool = False) -> None:
        self.out = out if out is not None else sys.stderr
        self.quiet = quiet  # count and time the session, print nothing (record --quiet)
        self.stats = stats
        self.label = label
        self.tty = (hasattr(self.out, "isatty") and self.out.isatty()) if tty is None else tty
        self.interval_s = 0.5 if self.tty else log_interval_s
        self._clock = clock
        self._last_print: float | None = None
        self._t0: float | None = None
        self.t_s = 0.0
        self.samples = 0
        self.gaps = 0
        self.battery_pct: float | None = None
        self.link = "ok"
        self._recent: deque = deque()  # (t_s, n) over the last few seconds, for the measured rate
        self._lock = threading.Lock()

    def on_samples(self, chunk: SampleChunk) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = float(chunk.t_s[0])
            self.t_s = float(chunk.t_s[-1])
            self.samples += len(chunk)
            self._recent.append((self.t_s, len(chunk)))
            while self._recent and self._recent[0][0] < self.t_s - 3.0:
                self._recent.popleft()
        self._maybe_print()

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        self.gaps += 1

    def on_status(self, status: dict[str, Any]) -> None:
        if status.get("battery_pct") is not None:
            self.battery_pct = status["battery_pct"]
        if isinstance(status.get("link"), str):
            self.link = status["link"]
        self._maybe_print(force=self.link != "ok")

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self._t0 is None else self.t_s - self._t0

    def rate_hz(self) -> float:
        """Samples per second of device time over the last ~3 s (the real rate: an '80 SPS' HX711 gives 78–92)."""
        with self._lock:
            if len(self._recent) < 2:
                return math.nan
            span = self._recent[-1][0] - self._recent[0][0]
            n = sum(k for _, k in list(self._recent)[1:])
        return n / span if span > 0 else math.nan

    def line(self) -> str:
        st = self.stats() if self.stats else {}
        rate = self.rate_hz()
        parts = [f"{self.label} {fmt_elapsed(self.elapsed_s)}",
                 f"{rate:5.1f} Hz" if math.isfinite(rate) else "  –   Hz",
                 plural(self.samples, "sample"),
                 f"lost {plural(st.get('lost_frames', 0), 'frame')}/{plural(st.get('lost_samples', 0), 'sample')}",
                 f"corrupt {st.get('corrupt_frames', 0)}"]
        if self.gaps:
            parts.append(f"gaps {self.gaps}")
        if st.get("reconnects"):
            parts.append(f"reconnects {st['reconnects']}")
        if self.battery_pct is not None:
            parts.append(f"battery {self.battery_pct:.0f}%")
        link = st.get("link", self.link)
        if link not in ("ok", None):
            parts.append(f"LINK {str(link).upper()}")
        return " · ".join(parts)

    def _maybe_print(self, force: bool = False) -> None:
        now = self._clock()
        if not force and self._last_print is not None and now - self._last_print < self.interval_s:
            return
        if self._last_print is None and not force:
            self._last_print = now  # first line after one interval, once there is a rate to show
            return
        self._last_print = now
        self._emit(self.line())

    def note(self, text: str) -> None:
        """A line of its own (a marker, a note being typed), above the progress line on a terminal."""
        if self.quiet and not text.startswith("note:"):
            return
        try:
            if self.tty:
                self.out.write("\r\x1b[2K" + text + ("\n" if text and not text.startswith("note:") else ""))
            elif text and not text.startswith("note:"):
                self.out.write(text + "\n")
            self.out.flush()
        except (ValueError, OSError):
            pass

    def _emit(self, text: str) -> None:
        if self.quiet:
            return
        try:
            if self.tty:
                self.out.write("\r\x1b[2K" + text)
            else:
                self.out.write(text + "\n")
            self.out.flush()
        except (ValueError, OSError):
            pass

    def stop(self) -> None:
        if self.tty and not self.quiet:
            self._emit(self.line())
            try:
                self.out.write("\n")
                self.out.flush()
            except (ValueError, OSError):
                pass


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM (kill, systemd, a test harness) and SIGHUP (the terminal was closed) stop like
    Ctrl-C: cleanly, the file complete."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    sigs = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_session(notifier: Notifier, until: Until, *, poll_s: float = 0.1,
                end_check: Callable[[], str | None] | None = None) -> str:
    """Wait until the duration is reached, the stream ends, or Ctrl-C/SIGTERM; stop everything cleanly.

    Returns why it ended: "duration", "end" (source ended), or "interrupted"; or the reason
    `end_check` returns, which is asked after every poll (for example Enter pressed on a terminal).
    When the recording cannot be written (`until.failed`) it ends at once and its error is raised.
    The notifier's stop() stops every listener once (the writer flushes and
    closes); source errors (a device that gave up reconnecting) are re-raised
    after that, so what was recorded is on disk first.
    """
    reason = "end"
    with sigterm_as_interrupt():
        try:
            while notifier.running:
                if until.done.wait(poll_s):
                    # failed: the recording cannot be written; stop() below re-raises its error
                    reason = "failed" if until.failed.is_set() else "duration"
                    break
                if end_check is not None and (other := end_check()) is not None:
                    reason = other
                    break
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            try:
                notifier.stop()
            except KeyboardInterrupt:  # a second Ctrl-C while flushing: finish flushing anyway
                notifier.stop()
    return reason


def default_recording_name(now: datetime | None = None) -> str:
    """`holdsense-YYYYmmdd-HHMMSS.csv` in the current folder."""
    return (now or datetime.now()).strftime("holdsense-%Y%m%d-%H%M%S.csv")
