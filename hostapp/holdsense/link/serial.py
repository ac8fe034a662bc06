"""The serial transport: a port or pyserial URL as a `Transport` (see `holdsense.link.transport`)."""
from __future__ import annotations

import os

import serial

from ..errors import DeviceError
from .transport import LinkLost, Transport


def _looks_like_url(port: str) -> bool:
    return "://" in port


class SerialTransport(Transport):
    """A serial port or pyserial URL (`/dev/ttyACM0`, a pty path, `socket://`, `rfc2217://`, `loop://`).

    USB CDC ignores the baud rate; 115200 suits a real UART bridge (CP210x,
    CH340) at 80 Hz with room to spare. A local device path is opened
    exclusively, so a second holdsense process gets a clear "busy" error
    instead of both silently stealing each other's bytes.
    """

    live = True

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
            if exclusive and "exclusively lock" in str(exc):
                # pyserial's flock refusal ("[Errno 11] ... Resource temporarily unavailable") names no culprit
                raise DeviceError(f"{port}: cannot open serial port: it is in use by another program (another "
                                  "holdsense live, record or session?); close that one and try again") from None
            raise DeviceError(f"{port}: cannot open serial port ({_short(exc)})") from None
        self._timeout_s: float | None = 0.1

    def fileno(self) -> int | None:
        try:
            return self._serial.fileno()
        except (AttributeError, serial.SerialException, OSError):
            return None

    def pending(self) -> int:
        """Bytes already waiting in the OS buffer (0 when unknown): lets the device client drain them in one go."""
        try:
            return self._serial.in_waiting
        except (serial.SerialException, OSError, TypeError, AttributeError):
            return 0

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
