"""Byte transports: the one place where bytes enter and leave the host.

Shaped after python-can's `BusABC`: a backend implements only
`_recv_chunk(timeout_s)` and `_write(data)`; the base class gives `recv()`,
`write()`, iteration (`for data in transport:`), context management and taps
(callbacks that see every chunk received and sent, with host time — what a
raw wire capture needs). Decoding is *not* done here: every transport hands
raw bytes to the same `FrameDecoder` (pyserial's Packetizer shape).

`holdsense.link.serial.SerialTransport` opens ports only through
`serial.serial_for_url`, so a device path (`/dev/ttyACM0`, a pty such as
`/tmp/roller`), `socket://host:port`, `rfc2217://host:port` and `loop://` all
work with the same code.

A BLE transport (bleak) fits the same interface: its notification callback
queues each notification, `_recv_chunk` pops one, and `packetized = True`
tells the device client that one chunk is one whole frame.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterator


#: A tap sees every chunk of bytes: (direction "rx" or "tx", bytes, host time in s since the epoch).
Tap = Callable[[str, bytes, float], None]


class LinkLost(OSError):
    """The link went away (device unplugged, pty closed, socket dropped): reconnecting may help."""


class Transport:
    """A byte link to a device. Subclasses implement `_recv_chunk` and `_write`.

    `recv(timeout_s)` returns the bytes that arrived (at least one byte) or
    None when nothing came within `timeout_s` seconds; it raises `LinkLost`
    when the link is gone. `write(data)` sends bytes, raising `LinkLost` too.
    A byte-stream backend may also offer `pending() -> int`, the bytes already
    waiting (pyserial's `in_waiting`): the device client then drains them
    before decoding, one batch instead of one decode per OS read.
    """

    #: True when each received chunk is exactly one frame (BLE notifications), False for a byte stream.
    packetized: bool = False
    #: Short human-readable name of the link, e.g. "serial /tmp/roller".
    name: str = "transport"
    #: True for a link to a roller running now (serial, BLE): silence while streaming is probed (Device).
    #: False for replays of what was recorded (a capture), whose silences are the recording's.
    live: bool = False

    def __init__(self) -> None:
        self._taps: list[Tap] = []
        self._closed = False
        self._write_lock = threading.Lock()

    # -- to implement -------------------------------------------------------------------------
    def _recv_chunk(self, timeout_s: float | None) -> bytes | None:
        """Wait up to `timeout_s` (None = forever) for bytes; return them, or None on timeout."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        """Send all of `data`."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the link (idempotence is handled by `close`)."""

    def fileno(self) -> int | None:
        """A file descriptor that becomes readable when bytes arrive (for asyncio's add_reader), or None."""
        return None

    # -- given for free -----------------------------------------------------------------------
    def add_tap(self, tap: Tap) -> None:
        """Call `tap(direction, data, host_time_s)` for every chunk received ("rx") and sent ("tx")."""
        self._taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        self._taps.remove(tap)

    def recv(self, timeout_s: float | None = None) -> bytes | None:
        """Bytes received within `timeout_s` seconds, or None. Raises LinkLost when the link is gone."""
        if self._closed:
            raise LinkLost(f"{self.name}: closed")
        data = self._recv_chunk(timeout_s)
        if data and self._taps:
            t = time.time()
            for tap in self._taps:
                tap("rx", data, t)
        return data or None

    def write(self, data: bytes) -> None:
        """Send bytes (thread-safe: commands may be written while another thread receives)."""
        if self._closed:
            raise LinkLost(f"{self.name}: closed")
        with self._write_lock:
            self._write(bytes(data))
        if self._taps:
            t = time.time()
            for tap in self._taps:
                tap("tx", bytes(data), t)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the link; safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._close()

    def __iter__(self) -> Iterator[bytes]:
        """Yield received chunks until the link is lost or closed (python-can's `for msg in bus`)."""
        while not self._closed:
            try:
                data = self.recv(timeout_s=1.0)
            except LinkLost:
                return
            if data is not None:
                yield data

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{' closed' if self._closed else ''}>"
