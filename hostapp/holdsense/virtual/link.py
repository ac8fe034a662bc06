"""The device side of a virtual roller's link, shared by the simulated roller (holdsense.virtual.device),
the replayed capture (holdsense.virtual.replay) and both of them over BLE (holdsense.virtual.bledevice).

One implementation of the plumbing around whatever produces the bytes:

- `VirtualSerial`: asyncio-style streams the firmware (or the replay) reads
  and writes; the endpoint below moves the bytes.
- `PtyEndpoint` (a pseudo-terminal, optional stable `--link` symlink),
  `TcpEndpoint` (127.0.0.1, for pyserial `socket://` URLs) and `BleEndpoint`
  (a fake BlueZ peripheral on a private D-Bus, holdsense.virtual.fakebluez).
- `LinkServer`: the base class: opens the endpoint, serves the `--control`
  socket (JSON lines), drops and restores the link (`unplug_for`), reports the
  port, cleans up. Subclasses say what to do once the link is up (`_start`),
  how to answer control objects (`_control`) and what to report (`query`).
- `serve(dev)`: runs one until SIGTERM/SIGINT/SIGHUP and prints the lines a
  user or a test reads (`port: …`, or `ble: NAME ADDRESS` and
  `DBUS_SYSTEM_BUS_ADDRESS=…`, then `control: …`).
"""
from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import sys
import tty
from dataclasses import dataclass
from typing import Any, Callable, TextIO

from ..errors import UserError, one_line

#: The virtual board's unique id (holdsense.virtual.shims.FakeBoard) doubles as its BLE address.
DEFAULT_BLE_ADDRESS = "7C:DF:A1:00:11:22"


class VirtualSerial:
    """The device side of the USB serial link, as asyncio-style streams for the firmware.

    `read(n)` / `write(data)` / `drain()` are what holdsense_fw.app's serial
    tasks call (the same calls as MicroPython's asyncio streams). While the
    link is unplugged, drain() waits: the firmware's tx task stalls, its sample
    queue fills and samples are dropped and counted, as on a stalled USB port.
    """

    def __init__(self) -> None:
        self.rx: asyncio.Queue[bytes] = asyncio.Queue()
        self.tx = bytearray()
        self.connected = asyncio.Event()
        self._send: Callable[[bytes], int] | None = None  # non-blocking sender; returns bytes taken
        # raw access for holdsense.virtual.usb.StrictUsb (MicroPython semantics), set by the endpoint:
        self.raw_read: Callable[[], bytes] | None = None           # bytes waiting now, bypassing the loop
        self.wait_readable: Callable[[float], None] | None = None  # block until bytes (or timeout, s)
        self.host_pending: Callable[[], int | None] | None = None  # bytes sent the host has not read

    async def read(self, n: int) -> bytes:
        return await self.rx.get()

    def write(self, data: bytes) -> None:
        self.tx += data

    async def drain(self) -> None:
        while self.tx:
            if self._send is None:
                await self.connected.wait()
                continue
            try:
                n = self._send(bytes(self.tx))
            except BlockingIOError:
                n = 0
            except OSError:
                n = len(self.tx)  # host side went away mid-write: bytes are lost, like a real cable pull
            del self.tx[:n]
            if self.tx:
                await asyncio.sleep(0.005)


#: Where pseudo-terminals live (Linux, macOS): a symlink to one of these is a link a virtual roller made.
PTY_PREFIXES = ("/dev/pts/", "/dev/ttys")


def is_pty_link(path: str) -> bool:
    """True when `path` is a symlink to a pseudo-terminal (live or already freed): one a virtual roller left.

    Only such a link is replaced by `--link`; anything else at the path is the user's and is never touched."""
    try:
        target = os.readlink(path)
    except OSError:  # missing, or not a symlink
        return False
    return target.startswith(PTY_PREFIXES)


def check_link_path(path: str) -> None:
    """UserError (exit 2) unless `path` can take the pty's symlink: nothing there, or an earlier virtual
    roller's link (a symlink to a pty, left by one that was killed); its folder must exist and be writable."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise UserError(one_line(f"--link {path}: is a directory (give a file name for the link)"))
    if os.path.lexists(path) and not is_pty_link(path):
        raise UserError(one_line(f"--link {path}: exists already and is not a virtual roller's link (a symlink "
                                 "to a pty); remove it or pick another name"))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(one_line(f"--link {path}: folder {parent} does not exist"))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(one_line(f"--link {path}: cannot write in {parent}"))


class PtyEndpoint:
    """A pseudo-terminal whose slave the host opens (pyserial); optional stable symlink.

    The symlink replaces only an earlier virtual roller's link (`check_link_path`), never a user's file,
    and `close` removes it only while it is still the link this endpoint made."""

    def __init__(self, serial: VirtualSerial, link_path: str | None) -> None:
        self.serial = serial
        self.link_path = link_path
        self.master = self.slave = -1
        self.path = ""
        self._link_made: str | None = None  # the pty path our symlink points at, while it is ours
        self._opened = False

    async def open(self) -> str:
        if self.link_path and not self._opened:
            check_link_path(self.link_path)  # before the pty: a refused --link leaves nothing behind
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.link_path:
            self._make_link()
        self._opened = True
        asyncio.get_running_loop().add_reader(self.master, self._readable)
        self.serial._send = lambda b: os.write(self.master, b)
        from .usb import pty_hooks

        pty_hooks(self.serial, self.master, self.slave)
        self.serial.connected.set()
        return self.path

    def _make_link(self) -> None:
        """Point link_path at the pty: atomically (a host polling the name never sees it half-made), and
        only over nothing or a virtual roller's link. Refused at the first open (UserError); when the path
        was taken while unplugged, the pty comes back without its name and a warning says why."""
        assert self.link_path
        try:
            check_link_path(self.link_path)
        except UserError as exc:
            if not self._opened:
                raise
            print(f"holdsense: warning: {exc}; the pty is {self.path}, without the link", file=sys.stderr,
                  flush=True)
            return
        # a fresh temporary name: an existing file there is not ours to delete
        tmp = ""
        for _ in range(100):
            tmp = f"{self.link_path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            try:
                os.symlink(self.path, tmp)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise UserError(one_line(f"--link {self.link_path}: cannot make the link "
                                         f"({exc.strerror or exc})")) from None
        else:
            raise UserError(one_line(f"--link {self.link_path}: cannot make the link (no free temporary name)"))
        try:
            os.replace(tmp, self.link_path)
        except OSError as exc:
            os.unlink(tmp)
            raise UserError(one_line(f"--link {self.link_path}: cannot make the link "
                                     f"({exc.strerror or exc})")) from None
        self._link_made = self.path

    def _remove_link(self) -> None:
        """Remove link_path only while it is still our symlink to our pty (a user may have replaced it)."""
        made, self._link_made = self._link_made, None
        if not (self.link_path and made):
            return
        try:
            if os.path.islink(self.link_path) and os.readlink(self.link_path) == made:
                os.unlink(self.link_path)
        except OSError:
            pass

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:  # BlockingIOError included: nothing after all
            return
        if data:
            self.serial.rx.put_nowait(data)

    async def close(self, remove_link: bool = False) -> None:
        self.serial.connected.clear()
        self.serial._send = None
        self.serial.raw_read = self.serial.wait_readable = self.serial.host_pending = None
        if self.master >= 0:
            asyncio.get_running_loop().remove_reader(self.master)
            for fd in (self.master, self.slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1
        if remove_link:
            self._remove_link()

    @property
    def url(self) -> str:
        return self.path


class TcpEndpoint:
    """127.0.0.1 TCP server for pyserial `socket://` URLs; one client at a time (a new one replaces it)."""

    def __init__(self, serial: VirtualSerial, port: int) -> None:
        self.serial = serial
        self.port = port
        self.server: asyncio.AbstractServer | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.url

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = writer

        def send(b: bytes) -> int:
            # the transport buffers; a host that stops reading fills it and we stall like a socket
            if writer.is_closing():
                raise OSError("closed")
            if writer.transport.get_write_buffer_size() > 65536:
                return 0
            writer.write(b)
            return len(b)

        self.serial._send = send
        self.serial.host_pending = lambda: None if writer.is_closing() else writer.transport.get_write_buffer_size()
        self.serial.connected.set()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                self.serial.rx.put_nowait(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                self.serial._send = None
                self.serial.host_pending = None
                self.serial.connected.clear()
            writer.close()

    async def close(self, remove_link: bool = False) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.serial._send = None
        self.serial.connected.clear()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


async def cancel_tasks(tasks: list[asyncio.Task]) -> None:
    """Cancel `tasks` and wait for each to end (whatever it raised: the roller is going away), so no
    task of a finished boot or replay runs on."""
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except (asyncio.CancelledError, Exception):
            pass


def check_ble_address(address: str) -> str:
    """`7C:DF:A1:00:11:22` (any case) → upper case; UserError otherwise."""
    parts = address.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise UserError(f"--ble-address {address}: expected six hex bytes like 7C:DF:A1:00:11:22")
    return address.upper()


@dataclass
class BleOptions:
    """How to serve over BLE: bus_address None starts a private dbus-daemon for the device's lifetime;
    mtu is the ATT MTU the fake link negotiates (247 = the firmware's preference)."""

    bus_address: str | None = None
    address: str = DEFAULT_BLE_ADDRESS
    mtu: int = 247

    def __post_init__(self) -> None:
        self.address = check_ble_address(self.address)
        if not 23 <= int(self.mtu) <= 517:
            raise UserError(f"--ble-mtu {self.mtu}: an ATT MTU is 23..517")


class BleEndpoint:
    """One roller on a fake BlueZ (holdsense.virtual.fakebluez): opened once, kept until the end.

    Unlike a pty, a BLE link is not re-created by the device: the peripheral
    stays, links come and go (`link_loss`), so `open()` after the first time
    only returns the description again.
    """

    def __init__(self, opts: BleOptions) -> None:
        self.opts = opts
        self.bus_address = opts.bus_address
        self.private_bus: Any = None
        self.bluez: Any = None
        self.peripheral: Any = None

    async def open(self) -> str:
        if self.bluez is None:
            from .fakebluez import FakeBlueZ, PrivateBus

            if self.bus_address is None:
                self.private_bus = PrivateBus()
                self.bus_address = self.private_bus.start()
            self.bluez = FakeBlueZ()
            await self.bluez.start(self.bus_address)
            self.peripheral = self.bluez.add_peripheral(self.opts.address, mtu=self.opts.mtu)
        return self.url

    @property
    def url(self) -> str:
        p = self.peripheral
        return f"ble {p.name} {p.address}" if p is not None else "ble"

    async def close(self, remove_link: bool = False) -> None:
        """remove_link: the device stops (the bus and the fake BlueZ go); otherwise only the connection drops."""
        if not remove_link:
            if self.peripheral is not None:
                await self.peripheral.disconnect("link loss")
            return
        if self.bluez is not None:
            await self.bluez.stop()
            self.bluez = None
        if self.private_bus is not None:
            self.private_bus.stop()
            self.private_bus = None


class LinkServer:
    """Base of every virtual roller: its link endpoint, control socket, and lifetime.

    link_path: a stable name for the pty (a symlink, like /dev/serial/by-id/...: gone while unplugged,
    back with the new pty); tcp_port:
    serve `socket://127.0.0.1:PORT` instead (0 picks one); ble: serve as a BLE
    peripheral on a fake BlueZ instead; control_path: a Unix socket taking JSON
    lines (`_control`); out: where `serve` prints the port lines.
    """

    def __init__(self, *, link_path: str | None = None, tcp_port: int | None = None,
                 ble: BleOptions | None = None, control_path: str | None = None, out: TextIO | None = None) -> None:
        if ble is not None and (link_path or tcp_port is not None):
            raise UserError("--ble replaces the pty: it cannot be combined with --link or --tcp")
        self.link_path = link_path
        self.tcp_port = tcp_port
        self.ble = ble
        self.control_path = control_path
        self.out = out if out is not None else sys.stdout
        self.serial: VirtualSerial | None = None
        self.endpoint: PtyEndpoint | TcpEndpoint | BleEndpoint | None = None
        self._plugged = True

    # --- the link ---
    @property
    def peripheral(self) -> Any:
        """The fake BLE peripheral (None unless serving over BLE)."""
        return self.endpoint.peripheral if isinstance(self.endpoint, BleEndpoint) else None

    @property
    def bus_address(self) -> str | None:
        return self.endpoint.bus_address if isinstance(self.endpoint, BleEndpoint) else None

    async def _open_endpoint(self) -> str:
        if self.endpoint is None:
            assert self.serial is not None
            if self.ble is not None:
                self.endpoint = BleEndpoint(self.ble)
            elif self.tcp_port is not None:
                self.endpoint = TcpEndpoint(self.serial, self.tcp_port)
            else:
                self.endpoint = PtyEndpoint(self.serial, self.link_path)
        url = await self.endpoint.open()
        if isinstance(self.endpoint, TcpEndpoint):
            self.tcp_port = self.endpoint.port
        return url

    async def _close_endpoint(self, remove_link: bool = False) -> None:
        if self.endpoint is not None:
            await self.endpoint.close(remove_link=remove_link)

    async def unplug_for(self, host_s: float) -> None:
        """The cable out (or the roller out of radio range) for `host_s` host seconds, then back."""
        if not self._plugged:
            return
        self._plugged = False
        try:
            if isinstance(self.endpoint, BleEndpoint):
                await self.endpoint.peripheral.link_loss(host_s)  # adverts resume after host_s
            else:
                # the name goes with the device, as udev removes a by-id link: left in place it would point
                # at a freed pty number the next virtual roller may get, and a host reconnecting by it would
                # open that one (the host refuses another roller, but its handshake still disturbs it)
                await self._close_endpoint(remove_link=True)
                await asyncio.sleep(host_s)
                await self._open_endpoint()
        finally:
            self._plugged = True

    def announce_lines(self, url: str) -> list[str]:
        """What `serve` prints once the link is up (first line: how to reach the roller)."""
        if isinstance(self.endpoint, BleEndpoint):
            p = self.endpoint.peripheral
            lines = [f"ble: {p.name} {p.address}", f"DBUS_SYSTEM_BUS_ADDRESS={self.endpoint.bus_address}"]
        else:
            lines = [f"port: {url}"]
        if self.control_path:
            lines.append(f"control: {self.control_path}")
        return lines

    # --- what subclasses provide ---
    async def _start(self) -> None:
        """The link is open: start producing bytes (tasks go in self._tasks)."""

    async def _stop(self) -> None:
        """Cancel what _start started (called before the link closes)."""

    async def _serve(self) -> None:
        """Run until cancelled (default: forever)."""
        await asyncio.Event().wait()

    async def _cleanup(self) -> None:
        """After the link closed (temporary files...)."""

    def query(self) -> dict[str, Any]:
        return {"port": self.endpoint.url if self.endpoint else None, "plugged": self._plugged}

    async def _control(self, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        reply: dict[str, Any] = {"ok": True}
        for key in obj:
            if key != "query":
                raise ValueError(f"unknown control key {key!r}")
            reply.update(self.query())
        return reply

    # --- control socket ---
    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    reply = await self._control(json.loads(line))
                except (ValueError, TypeError, KeyError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    # --- main ---
    async def run(self, on_port: Callable[[str], None] | None = None) -> None:
        """Open the link, start, report the port, serve until cancelled; always cleans up."""
        self.serial = VirtualSerial()
        control_server = None
        try:
            url = await self._open_endpoint()
            await self._start()
            if self.control_path:
                try:
                    os.unlink(self.control_path)
                except FileNotFoundError:
                    pass
                control_server = await asyncio.start_unix_server(self._control_client, self.control_path)
            if on_port is not None:
                on_port(url)
            await self._serve()
        finally:
            await self._stop()
            if control_server is not None:
                control_server.close()
                try:
                    os.unlink(self.control_path)  # type: ignore[arg-type]
                except OSError:
                    pass
            await self._close_endpoint(remove_link=True)
            await self._cleanup()


def serve(dev: LinkServer) -> int:
    """Run `dev` until SIGTERM/SIGINT/SIGHUP; prints `announce_lines` first (each flushed)."""

    def announce(url: str) -> None:
        for line in dev.announce_lines(url):
            print(line, file=dev.out, flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # SIGHUP: its terminal (or tmux pane) was closed; stop cleanly too, so the --link symlink goes
        for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                loop.add_signal_handler(sig, task.cancel)
        try:
            await dev.run(announce)
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    except OSError as exc:
        if dev.ble is not None and exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            raise UserError(f"cannot reach the D-Bus at {dev.ble.bus_address}: {exc.strerror}") from exc
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise UserError(f"cannot open the virtual device's port: {exc.strerror}") from exc
        raise
    return 0
