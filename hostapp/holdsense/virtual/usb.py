"""A USB serial port with MicroPython's semantics, for the firmware running in the virtual roller.

On a board the firmware's USB link is `sys.stdin.buffer` / `sys.stdout.buffer`.
MicroPython on an ESP32 gives them semantics a kind stand-in would hide:

- `read(n)` blocks until **n** bytes arrived: the whole interpreter (every asyncio
  task, sampling included) stops meanwhile. `StrictUsb.read` really blocks the
  virtual device's thread (its event loop), capped at `block_cap_s` host seconds
  so a frozen firmware still lets a test end (`read_cap_hits` counts those).
- Writes block while the host does not read: the USB packet (64 bytes at full
  speed) waits until the host's side has room. ESP32-C3 USB-Serial-JTAG waits up
  to about 200 ms per packet and then gives up on the packet (MicroPython's
  `usb_serial_jtag_tx_strn`); ESP32-S3 TinyUSB CDC waits up to about 500 ms
  (`MICROPY_HW_USB_CDC_TX_TIMEOUT`). Those are the `USB_PORTS` figures, in device time.
  The host's side is its driver buffer (Linux N_TTY: 4096 bytes by default,
  `host_buffer`): bytes the host application has not read yet are counted with
  FIONREAD on the pty, so a host that pauses reading fills it and then blocks the
  device, as a real cable does.
- `ioctl(MP_STREAM_POLL, flags)` answers select.poll the way MicroPython's stream
  protocol does: POLLIN when bytes are waiting, POLLOUT when a packet fits now.

Every blocking wait is recorded (`max_block_us`, `blocked_us`, device µs) and reported
to `on_block(t0_us, t1_us)`, so the virtual device lets the HX711 overwrite the
conversions that fell into the freeze, as the chip on a board does.
"""
from __future__ import annotations

import fcntl
import os
import select
import termios
import time
from dataclasses import dataclass
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: link.py imports pty_hooks from here
    from .link import VirtualSerial

MP_STREAM_POLL = 3
POLLIN = 0x0001
POLLOUT = 0x0004
PACKET = 64                 # USB full-speed bulk packet


@dataclass(frozen=True)
class UsbTiming:
    """How one board's USB serial blocks a writer whose host does not read."""

    name: str
    packet_timeout_ms: int   # device ms a packet waits for room before it is given up
    gives_up: bool           # after a timeout, further packets are dropped at once until the host reads


USB_PORTS = {
    # MicroPython ports/esp32/usb_serial_jtag.c: USB_SERIAL_JTAG_WRITE_TIMEOUT_MS, then
    # terminal_connected = false (writes are dropped until the host reads again)
    "c3": UsbTiming("ESP32-C3 USB-Serial-JTAG", 200, True),
    # shared/tinyusb/mp_usbd_cdc.c: MICROPY_HW_USB_CDC_TX_TIMEOUT (500 ms) per write
    "s3": UsbTiming("ESP32-S3 TinyUSB CDC", 500, False),
}
HOST_BUFFER = 4096          # Linux N_TTY read buffer: what the host kernel takes before the app reads


class StrictUsb:
    """`sys.stdin.buffer` and `sys.stdout.buffer` of a board, over a VirtualSerial endpoint (pty or TCP).

    clock_us: the device clock (µs); speed: device time per host second (timeouts are device time).
    """

    def __init__(self, serial: VirtualSerial, clock_us: Callable[[], int], *, port: str = "s3",
                 host_buffer: int = HOST_BUFFER, speed: float = 1.0, block_cap_s: float = 3.0,
                 on_block: Callable[[int, int], None] | None = None,
                 freeze: Callable[[int], Any] | None = None) -> None:
        if port not in USB_PORTS:
            raise ValueError(f"USB port model {port!r}: one of {sorted(USB_PORTS)}")
        self.serial = serial
        self.clock_us = clock_us
        self.timing = USB_PORTS[port]
        self.host_buffer = int(host_buffer)
        self.speed = float(speed)
        self.block_cap_s = float(block_cap_s)
        self.on_block = on_block
        # freeze(t_us) -> context manager holding the board's clock: a write the host takes at once
        # costs the board no time, however long this host took to run it (its scheduling is not the board's)
        self.freeze = freeze
        self._rx = bytearray()
        self._given_up = False
        # POLLOUT promised a packet's room: the next write of one packet goes out without waiting
        # (TinyUSB's FIFO keeps that promise; a pty counts bytes just written only once the kernel's
        # worker has moved them, so its count can jump between the poll and the write)
        self._promised = False
        self.max_block_us = 0          # longest time one call kept the firmware waiting (device µs)
        self.blocked_us = 0            # all of it
        self.read_cap_hits = 0         # reads that would have blocked longer than block_cap_s
        self.dropped_bytes = 0         # packets the port gave up on (host not reading)
        self.written_bytes = 0

    # --- helpers ---
    def _pull(self) -> None:
        q = self.serial.rx
        while not q.empty():
            self._rx += q.get_nowait()
        raw = self.serial.raw_read
        if raw is not None:
            data = raw()
            if data:
                self._rx += data

    def _record(self, t0_us: int) -> None:
        t1 = self.clock_us()
        d = t1 - t0_us
        if d > 0:
            self.blocked_us += d
            self.max_block_us = max(self.max_block_us, d)
            if self.on_block is not None:
                self.on_block(t0_us, t1)

    def _room(self) -> int | None:
        """Bytes the host side takes now (None: nobody connected: writes vanish, as on a board)."""
        pending = self.serial.host_pending
        if self.serial._send is None or pending is None:
            return None
        p = pending()
        if p is None:
            return None
        return self.host_buffer - p

    # --- MicroPython stream protocol ---
    def ioctl(self, req: int, arg: int) -> int:
        if req != MP_STREAM_POLL:
            return 0
        ev = 0
        if arg & POLLIN:
            self._pull()
            if self._rx:
                ev |= POLLIN
        if arg & POLLOUT:
            room = self._room()
            if room is not None and room >= PACKET:  # no host (cable out): not writable, as TinyUSB
                ev |= POLLOUT
                self._promised = True
        return ev

    def read(self, n: int = -1) -> bytes:
        """Blocks until `n` bytes arrived (MicroPython's stdin), stopping the whole firmware."""
        self._pull()
        if n is None or n < 0:
            n = max(1, len(self._rx))
        if len(self._rx) < n:
            t0 = self.clock_us()
            deadline = time.monotonic() + self.block_cap_s
            while len(self._rx) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.read_cap_hits += 1
                    break
                wait = self.serial.wait_readable
                if wait is not None:
                    wait(min(left, 0.05))
                else:
                    time.sleep(min(left, 0.005))
                self._pull()
            self._record(t0)
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def readinto(self, buf: bytearray) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def write(self, data: bytes) -> int:
        """Blocks while the host does not read, one 64-byte packet at a time, up to the port's
        timeout per packet; then the packet is lost (and on the C3 the port gives up until the
        host reads again)."""
        data = bytes(data)
        t0 = self.clock_us()
        room = self._room()
        if self._promised and room is not None and len(data) <= PACKET:
            room = max(room, len(data))
        self._promised = False
        if room is None or room >= len(data):  # the host takes it all now: no time passes on the board
            with (self.freeze(t0) if self.freeze is not None else nullcontext()):
                if room is not None:
                    if self._send(data):
                        self.written_bytes += len(data)
                        self._given_up = False
                        return len(data)
                else:
                    self.dropped_bytes += len(data)
                    return len(data)
        timeout_s = self.timing.packet_timeout_ms / 1000.0 / self.speed
        blocked = False
        for i in range(0, len(data), PACKET):
            pkt = data[i:i + PACKET]
            deadline = time.monotonic() + timeout_s
            while True:
                room = self._room()
                if room is None:
                    self.dropped_bytes += len(pkt)
                    break  # nobody there: the bytes vanish at once
                if room >= len(pkt):
                    self._given_up = False
                    if self._send(pkt):
                        self.written_bytes += len(pkt)
                        break
                elif self._given_up:
                    self.dropped_bytes += len(pkt)
                    break
                if time.monotonic() >= deadline:
                    self.dropped_bytes += len(pkt)
                    self._given_up = self.timing.gives_up
                    break
                blocked = True
                time.sleep(0.0005)
        if blocked:
            self._record(t0)
        return len(data)

    def _send(self, pkt: bytes) -> bool:
        send = self.serial._send
        if send is None:
            return True
        try:
            n = send(pkt)
        except BlockingIOError:
            return False
        except OSError:
            return True  # host went away mid-write: lost like a cable pull
        return n == len(pkt)

    def write_nowait(self, data: bytes) -> None:
        """Bytes the board prints outside the firmware's control (boot banner, line noise): sent
        if the host has room, else lost."""
        for i in range(0, len(data), PACKET):
            room = self._room()
            pkt = data[i:i + PACKET]
            if room is not None and room >= len(pkt):
                self._send(pkt)


def pty_hooks(serial: VirtualSerial, master: int, slave: int) -> None:
    """Give `serial` the raw access StrictUsb needs on a pty: read without the event loop, wait for
    bytes, and count what the host has not read yet (FIONREAD on the slave)."""

    def raw_read() -> bytes:
        try:
            return os.read(master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def wait_readable(timeout_s: float) -> None:
        try:
            select.select([master], [], [], timeout_s)
        except (OSError, ValueError):
            time.sleep(timeout_s)

    def host_pending() -> int | None:
        try:
            buf = fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return None
        return int.from_bytes(buf, "little")

    serial.raw_read = raw_read
    serial.wait_readable = wait_readable
    serial.host_pending = host_pending
