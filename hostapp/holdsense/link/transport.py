"""Byte transports: the one place where bytes enter and leave the host.

Shaped after python-can's `BusABC`: a backend implements only
`_recv_chunk(timeout_s)` and `_write(data)`; the base class gives `recv()`,
`write()`, iteration (`for data in transport:`), context management and taps
(callbacks that see every chunk received and sent, with host time — what a
raw wire capture needs). Decoding is *not* done here: every transport hands
raw bytes to the same `FrameDecoder` (pyserial's Packetizer shape).

`SerialTransport` opens ports only through `serial.serial_for_url`, so a
device path (`/dev/ttyACM0`, a pty such as `/tmp/roller`), `socket://host:port`,
`rfc2217://host:port` and `loop://` all work with the same code.

A BLE transport (bleak) fits the same interface: its notification callback
queues each notification, `_recv_chunk` pops one, and `packetized = True`
tells the device client that one chunk is one whole frame.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Iterator

import serial

from .errors import DeviceError

#: A tap sees every chunk of bytes: (direction "rx" or "tx", bytes, host time in s since the epoch).
Tap = Callable[[str, bytes, float], None]


class LinkLost(OSError):
    """The link went away (device unplugged, pty closed, socket dropped): reconnecting may help."""


class Transport:
    """A byte link to a device. Subclasses implement `_recv_chunk` and `_write`.

    `recv(timeout_s)` returns the bytes that arrived (at least one byte) or
    None when nothing came within `timeout_s` seconds; it raises `LinkLost`
    when the link is gone. `write(data)` sends bytes, raising `LinkLost` too.
    """

    #: True when each received chunk is exactly one frame (BLE notifications), False for a byte stream.
    packetized: bool = False
    #: Short human-readable name of the link, e.g. "serial /tmp/roller".
    name: str = "transport"

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


def _looks_like_url(port: str) -> bool:
    return "://" in port


class SerialTransport(Transport):
    """A serial port or pyserial URL (`/dev/ttyACM0`, a pty path, `socket://`, `rfc2217://`, `loop://`).

    USB CDC ignores the baud rate; 115200 suits a real UART bridge (CP210x,
    CH340) at 80 Hz with room to spare. A local device path is opened
    exclusively, so a second holdsense process gets a clear "busy" error
    instead of both silently stealing each other's bytes.
    """

    def __init__(self, port: str, *, baudrate: int = 115200, write_timeout_s: float = 2.0,
                 exclusive: bool | None = None) -> None:
        super().__init__()
        self.port = port
        self.name = f"serial {port}"
        kwargs: dict = {"baudrate": baudrate, "timeout": 0.1, "write_timeout": write_timeout_s}
        if exclusive is None:
            exclusive = not _looks_like_url(port)
        if exclusive:
            kwargs["exclusive"] = True
        if not _looks_like_url(port) and not os.path.exists(port):
            raise DeviceError(f"{port}: no such serial port (is the roller plugged in? try 'holdsense devices')")
        try:
            self._serial = serial.serial_for_url(port, **kwargs)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"{port}: cannot open serial port ({_short(exc)})") from None
        self._timeout_s: float | None = 0.1

    def fileno(self) -> int | None:
        try:
            return self._serial.fileno()
        except (AttributeError, serial.SerialException, OSError):
            return None

    def _recv_chunk(self, timeout_s: float | None) -> bytes | None:
        ser = self._serial
        try:
            waiting = ser.in_waiting
            if waiting:
                return ser.read(waiting)
            if timeout_s != self._timeout_s:
                # Changing the timeout reconfigures the port (tcsetattr): only when it really changes.
                ser.timeout = timeout_s
                self._timeout_s = timeout_s
            first = ser.read(1)
            if not first:
                return None
            more = ser.in_waiting
            return first + ser.read(more) if more else first
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial internals after the fd vanished under it.
            raise LinkLost(f"{self.port}: link lost ({_short(exc)})") from None

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)  # blocks until written or write_timeout (no tcdrain: a pty may never drain)
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.port}: write failed ({_short(exc)})") from None

    def _close(self) -> None:
        try:
            self._serial.close()
        except (serial.SerialException, OSError):
            pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def open_transport(port: str, **kwargs) -> Transport:
    """Open `port` (device path or pyserial URL) as a transport."""
    return SerialTransport(port, **kwargs)
