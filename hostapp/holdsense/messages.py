"""The messages every layer shares, and the Listener interface that consumes them.

`Samples`, `Gap`, `Info`, `Status` are what a source (the device client in
`holdsense.link.device`, the `Player` in `holdsense.io.player`, a capture
replay) hands out and what `holdsense.listeners.notifier.Notifier` fans out
(python-can's `can/message.py`: the one low module everything imports).
This module imports nothing from holdsense.

One receive loop (serial, BLE, or a Player replaying a file) fans out to many
listeners: recorder, detector, live view, LSL outlet... (python-can's
Listener/Notifier shape). Callbacks run on the receive loop's thread and must
not block for long.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, Union

if TYPE_CHECKING:  # annotations only: importing rollsignal's types means numpy, which `--help` must not pay for
    from rollsignal import SampleChunk


#: No sample for this long (wall time) from a live roller: the link is lost (views say LINK LOST before the
#: link layer has noticed: a silent radio link can take seconds to time out; 80 Hz links deliver every ~50 ms),
#: and a marker pressed in such a silence is not recorded (holdsense.listeners.markers).
LINK_STALE_S = 0.6


class Listener:
    """Base class; override what you need. A plain function `f(chunk)` also works (see `as_listener`)."""

    def on_info(self, info: dict[str, Any]) -> None:
        """Device/recording metadata: at connect, after a reconnect, or from a file's header."""

    def on_samples(self, chunk: SampleChunk) -> None:
        """A chunk of consecutive samples, `t_s` on the session's time base (seconds)."""

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        """Samples were lost (link loss, reboot, dropped frames) before time `t_s`.

        The next chunk's first sample also carries FLAG_GAP, so a listener that
        only looks at chunks still sees the gap.
        """

    def on_status(self, status: dict[str, Any]) -> None:
        """Device status: battery, counters of lost/corrupt frames, errors."""

    def stop(self) -> None:
        """End of stream: flush and release resources. Called once."""


class _FunctionListener(Listener):
    def __init__(self, fn: Callable[[SampleChunk], Any]) -> None:
        self._fn = fn

    def on_samples(self, chunk: SampleChunk) -> None:
        self._fn(chunk)


def as_listener(obj: Listener | Callable[[SampleChunk], Any]) -> Listener:
    """Accept a Listener or a plain callable taking a SampleChunk."""
    if isinstance(obj, Listener):
        return obj
    if callable(obj):
        return _FunctionListener(obj)
    raise TypeError(f"not a listener: {obj!r}")


@dataclass
class Samples:
    """A chunk of consecutive samples on the session time base."""

    chunk: SampleChunk


@dataclass
class Gap:
    """Samples were lost before `t_s` (link loss, reboot, dropped frames); `lost_samples` if known."""

    t_s: float
    reason: str
    lost_samples: int | None = None


@dataclass
class Info:
    """Device or recording metadata (at connect, after a reconnect, from a file's header)."""

    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Status:
    """Device status: battery, lost/corrupt frame counters, errors, link state."""

    status: dict[str, Any] = field(default_factory=dict)


Message = Union[Samples, Gap, Info, Status]


class Source(Protocol):
    def recv(self, timeout_s: float | None = None) -> list[Message] | None: ...
