"""`holdsense virtual-device --replay-capture FILE`: a roller that replays a raw wire capture.

Instead of running the firmware against the simulator, the device side of
the pty (or TCP socket) plays the bytes a real roller sent, from a
`holdsense-capture/1` file (holdsense.capture, docs/capture.md), with the
original timing divided by `speed`. The host's handshake and commands are
answered from the replies recorded in the capture (`ReplayEngine`), so
everything on the host — transport, decoder, lost-frame counting, gap and
reconnect handling, detector, recorder — runs on exactly what the roller
sent. A reconnect in the capture unplugs the pty here for the same (scaled)
time, so the host reconnects too. After the last record the device stays
connected, silent, and keeps answering commands.

The link parts (VirtualSerial, PtyEndpoint, TcpEndpoint, serve) are the
virtual device's own (holdsense.virtual.device).
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import sys
import termios
import time
from typing import Any, Callable, TextIO

from ..capture import End, LinkEnd, ReplayEngine, WaitHost, read_capture
from ..errors import UserError
from .device import PtyEndpoint, TcpEndpoint, VirtualSerial


class ReplayVirtualDevice:
    """A replayed roller on a pty (or 127.0.0.1 TCP). `await run(on_port)` serves until cancelled.

    speed: capture time per host second (2 = twice as fast); tx_wait_s: how
    long to wait (host seconds) for a recorded command the live host may never
    send before going on without it; min_unplug_s: shortest link drop for a
    recorded reconnect (host seconds).
    """

    def __init__(self, capture_path: str, *, speed: float = 1.0, link_path: str | None = None,
                 tcp_port: int | None = None, control_path: str | None = None, tx_wait_s: float = 5.0,
                 min_unplug_s: float = 0.2, out: TextIO | None = None) -> None:
        if not speed > 0:
            raise UserError("--speed must be > 0")
        self.capture = read_capture(capture_path)
        if not self.capture.links:
            raise UserError(f"{capture_path}: the capture has no link (no bytes were exchanged): nothing to replay")
        for w in self.capture.warnings:
            print(f"holdsense: warning: {w}", file=sys.stderr)
        self.engine = ReplayEngine(self.capture, out_packetized=False, tx_wait_s=tx_wait_s)
        self.speed = float(speed)
        self.link_path = link_path
        self.tcp_port = tcp_port
        self.control_path = control_path
        self.min_unplug_s = min_unplug_s
        self.out = out if out is not None else sys.stdout
        self.serial: VirtualSerial | None = None
        self.endpoint: PtyEndpoint | TcpEndpoint | None = None
        self._host_event: asyncio.Event | None = None
        self._plugged = True
        self.bytes_sent = 0
        self.done = False

    # --- link ---
    async def _open_endpoint(self) -> str:
        assert self.serial is not None
        if self.tcp_port is not None:
            if not isinstance(self.endpoint, TcpEndpoint):
                self.endpoint = TcpEndpoint(self.serial, self.tcp_port)
            url = await self.endpoint.open()
            self.tcp_port = self.endpoint.port
            return url
        if not isinstance(self.endpoint, PtyEndpoint):
            self.endpoint = PtyEndpoint(self.serial, self.link_path)
        return self.endpoint.open()

    async def _close_endpoint(self, remove_link: bool = False) -> None:
        if isinstance(self.endpoint, PtyEndpoint):
            self.endpoint.close(remove_link=remove_link)
        elif isinstance(self.endpoint, TcpEndpoint):
            await self.endpoint.close()

    async def _host_reader(self) -> None:
        """Every write of the host goes to the engine (which matches or answers its commands)."""
        assert self.serial is not None and self._host_event is not None
        while True:
            data = await self.serial.rx.get()
            self.engine.host_sent(data)
            self._host_event.set()

    async def _send(self, data: bytes) -> None:
        assert self.serial is not None
        self.serial.write(data)
        self.bytes_sent += len(data)
        await self.serial.drain()

    # --- playing ---
    async def _play(self) -> None:
        assert self._host_event is not None
        eng = self.engine
        anchor: tuple[float, float] | None = None  # (capture s, host monotonic s) of the last sync point
        wait_deadline: tuple[int, int, float] | None = None  # (link, item, host deadline) of a WaitHost
        while True:
            act = eng.step()
            if isinstance(act, list):
                for e in act:
                    if e.t_s is not None:
                        if anchor is None:
                            anchor = (e.t_s, time.monotonic())
                        due = anchor[1] + (e.t_s - anchor[0]) / self.speed
                        delay = due - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await self._send(e.data)
                continue
            if isinstance(act, WaitHost):
                key = (eng.link_i, eng.item_i)
                if wait_deadline is None or wait_deadline[:2] != key:
                    wait_deadline = (key[0], key[1], time.monotonic() + act.timeout_s
                                     if act.timeout_s is not None else float("inf"))
                left = wait_deadline[2] - time.monotonic()
                if left <= 0:
                    eng.skip_wait()
                    wait_deadline = None
                    anchor = (act.t_s, time.monotonic())
                    continue
                self._host_event.clear()
                try:
                    await asyncio.wait_for(self._host_event.wait(), None if left == float("inf") else left)
                except asyncio.TimeoutError:
                    pass
                # the host's command arrived (or the wait ran out): what was recorded after it plays from now
                anchor = (act.t_s, time.monotonic())
                continue
            if isinstance(act, LinkEnd):
                # the roller's link dropped here in the capture: drop ours for as long (scaled), then come back
                await self._send_pending()
                self._plugged = False
                await self._close_endpoint()
                await asyncio.sleep(max(self.min_unplug_s, act.gap_s / self.speed))
                await self._open_endpoint()
                self._plugged = True
                anchor = None
                continue
            assert isinstance(act, End)
            if not self.done:
                self.done = True
                print(f"replay finished: {self.bytes_sent} bytes sent; commands matched "
                      f"{eng.commands_matched}, answered from elsewhere in the capture {eng.commands_injected}, "
                      f"not sent by this host {eng.commands_skipped}", file=sys.stderr, flush=True)
            # stay connected and keep answering (e.g. the host's STOP)
            self._host_event.clear()
            await self._host_event.wait()

    async def _send_pending(self, timeout_s: float = 3.0) -> None:
        """Before a recorded link drop: everything recorded before it must reach the host (it did then).

        On a pty, wait until the host has read all that is queued for it (FIONREAD
        on the slave side); closing earlier would lose bytes the capture shows as received.
        """
        deadline = time.monotonic() + timeout_s
        if self.serial is not None and self.serial.tx:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.serial.drain(), timeout_s)
        ep = self.endpoint
        if isinstance(ep, PtyEndpoint) and ep.slave >= 0:
            # a pty hands written bytes to the slave side asynchronously (the kernel's flip buffer work):
            # give it a moment before FIONREAD can be trusted, and the host a moment after its last read
            await asyncio.sleep(0.1)
            while time.monotonic() < deadline:
                try:
                    waiting = struct.unpack("i", fcntl.ioctl(ep.slave, termios.FIONREAD, b"\0\0\0\0"))[0]
                except OSError:
                    break
                if waiting == 0:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(0.2)  # TCP: the kernel's buffers empty quickly on 127.0.0.1

    # --- control socket: {"query": true} ---
    def query(self) -> dict[str, Any]:
        q = self.engine.progress()
        q.update({"replay": True, "capture": self.capture.source, "bytes_sent": self.bytes_sent,
                  "done": self.done, "plugged": self._plugged, "speed": self.speed,
                  "port": self.endpoint.url if self.endpoint else None})
        return q

    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("expected a JSON object")
                    reply: dict[str, Any] = {"ok": True}
                    for key in obj:
                        if key == "query":
                            reply.update(self.query())
                        else:
                            raise ValueError(f"control key {key!r} does not apply to a replayed capture "
                                             f"(only 'query')")
                except (ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    # --- main ---
    async def run(self, on_port: Callable[[str], None] | None = None) -> None:
        """Open the port, report it, replay, keep answering until cancelled; always cleans up."""
        self.serial = VirtualSerial()
        self._host_event = asyncio.Event()
        control_server = None
        tasks: list[asyncio.Task[Any]] = []
        try:
            url = await self._open_endpoint()
            if self.control_path:
                try:
                    os.unlink(self.control_path)
                except FileNotFoundError:
                    pass
                control_server = await asyncio.start_unix_server(self._control_client, self.control_path)
            if on_port is not None:
                on_port(url)
            tasks = [asyncio.create_task(self._host_reader()), asyncio.create_task(self._play())]
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
            if control_server is not None:
                control_server.close()
                try:
                    os.unlink(self.control_path)  # type: ignore[arg-type]
                except OSError:
                    pass
            await self._close_endpoint(remove_link=True)
