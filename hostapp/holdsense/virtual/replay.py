"""`holdsense virtual-device --replay-capture FILE [--ble]`: a roller that replays a raw wire capture.

Instead of running the firmware against the simulator, the device side of
the link plays the bytes a real roller sent, from a `holdsense-capture/1`
file (holdsense.io.capture, docs/capture.md), with the original timing divided
by `speed`. The host's handshake and commands are answered from the replies
recorded in the capture (`ReplayEngine`), so everything on the host —
transport, decoder, lost-frame counting, gap, reconnect and reboot handling,
detector, recorder — runs on exactly what the roller sent. A reconnect in the
capture drops the link here for the same (scaled) time, so the host
reconnects too. After the last record the device stays connected, silent,
and keeps answering commands.

Links: a pty (default), 127.0.0.1 TCP (`socket://`), or the fake BLE
peripheral (`--ble`, holdsense.virtual.fakebluez): there every captured frame
is one notification carrying the frame's bytes unchanged (docs/capture.md,
"Replaying onto BLE"). The plumbing (endpoints, control socket, serve) is
holdsense.virtual.link's, shared with the simulated roller.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import struct
import sys
import termios
import time
from typing import Any, TextIO

from ..io.capture import K_DEVICE, read_capture
from .capture import End, LinkEnd, ReplayEngine, WaitHost
from ..errors import UserError
from .device import ble_query
from .link import (DEFAULT_BLE_ADDRESS, BleEndpoint, BleOptions, LinkServer, PtyEndpoint, cancel_tasks,
                   check_ble_address)


def capture_ble_address(capture: Any) -> str | None:
    """The BLE address the captured roller had: its BLE link's address, else its device id when that is a
    MAC (a holdsense board's unique id is its MAC), else None."""
    for ln in capture.links:
        addr = ln.info.get("address")
        if isinstance(addr, str):
            with contextlib.suppress(UserError):
                return check_ble_address(addr)
    for r in capture.records:
        if r.kind == K_DEVICE and isinstance(r.obj, dict):
            did = str(r.obj.get("device_id", ""))
            if len(did) == 12 and all(c in "0123456789abcdefABCDEF" for c in did):
                return ":".join(did[i:i + 2] for i in range(0, 12, 2)).upper()
    return None


class ReplayBleLink:
    """What the fake peripheral asks of the roller's BLE side (holdsense_fw.ble.BleLink's interface), for a
    replay: the advert and Device Information from the captured INFO; writes go to the replay engine; the
    notifications are pushed by the replay itself (tx_step does nothing)."""

    has_battery = False  # the replay cannot answer battery reads it never saw

    def __init__(self, device: "ReplayVirtualDevice") -> None:
        from holdsense_fw import ble as fwble

        self.fwble = fwble
        self.device = device
        info: dict[str, Any] = {}
        for r in device.capture.records:
            if r.kind == K_DEVICE and isinstance(r.obj, dict):
                info = r.obj
                break
        self.fw_version = str(info.get("fw_version", "0.0.0"))
        self.board = str(info.get("board", "unknown"))
        self.device_id = str(info.get("device_id", "unknown"))
        self.connections = 0
        self.writes = 0

    def manufacturer_data(self) -> bytes:
        return self.fwble.manufacturer_payload(self.fw_version, 255, 0)

    def device_information(self) -> dict[int, bytes]:
        fw = self.fwble
        return {fw.MANUFACTURER_NAME: fw.MANUFACTURER.encode(), fw.MODEL_NUMBER: self.board.encode(),
                fw.SERIAL_NUMBER: self.device_id.encode(), fw.FIRMWARE_REVISION: self.fw_version.encode()}

    def battery_level(self) -> bytes:
        return b"\x00"

    def on_connect(self, now_ms: int | None = None) -> None:
        self.connections += 1

    def on_mtu(self, mtu: int) -> None:
        pass

    def on_disconnect(self, now_ms: int) -> None:
        pass

    def on_write(self, data: bytes) -> None:
        self.writes += 1
        self.device.host_wrote(bytes(data))

    def tx_step(self, now_ms: int, notify: Any) -> None:
        pass


class ReplayVirtualDevice(LinkServer):
    """A replayed roller on a pty, 127.0.0.1 TCP, or the fake BLE peripheral. `await run(on_port)` serves
    until cancelled.

    speed: capture time per host second (2 = twice as fast; reboots keep their original timing, see
    ReplayEngine.replay_s); tx_wait_s: how long to wait (host seconds) for a recorded command the live
    host may never send before going on without it; min_unplug_s: shortest link drop for a recorded
    reconnect (host seconds); ble: serve on the fake BlueZ (address None: the captured roller's).
    """

    def __init__(self, capture_path: str, *, speed: float = 1.0, link_path: str | None = None,
                 tcp_port: int | None = None, ble: BleOptions | None = None, control_path: str | None = None,
                 tx_wait_s: float = 5.0, min_unplug_s: float = 0.2, out: TextIO | None = None) -> None:
        super().__init__(link_path=link_path, tcp_port=tcp_port, ble=ble, control_path=control_path, out=out)
        if not speed > 0:
            raise UserError("--speed must be > 0")
        self.capture = read_capture(capture_path)
        if not self.capture.links:
            raise UserError(f"{capture_path}: the capture has no link (no bytes were exchanged): nothing to replay")
        for w in self.capture.warnings:
            print(f"holdsense: warning: {w}", file=sys.stderr)
        self.engine = ReplayEngine(self.capture, out_packetized=ble is not None, tx_wait_s=tx_wait_s)
        if ble is not None:
            need = max((ln.max_frame for ln in self.engine.links), default=0) + 3
            if ble.mtu < need:
                raise UserError(f"--ble-mtu {ble.mtu}: the capture has frames of {need - 3} bytes; replayed "
                                f"unchanged, one per notification, they need an ATT MTU of at least {need}")
        self.speed = float(speed)
        self.min_unplug_s = min_unplug_s
        self._host_event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.bytes_sent = 0
        self.done = False

    # --- the host's writes ---
    def host_wrote(self, data: bytes) -> None:
        """Every write of the host goes to the engine (which matches or answers its commands)."""
        self.engine.host_sent(data)
        if self._host_event is not None:
            self._host_event.set()

    async def _host_reader(self) -> None:
        assert self.serial is not None
        while True:
            self.host_wrote(await self.serial.rx.get())

    # --- sending ---
    async def _send(self, data: bytes) -> None:
        if isinstance(self.endpoint, BleEndpoint):
            await self._notify(data)
        else:
            assert self.serial is not None
            self.serial.write(data)
            await self.serial.drain()
        self.bytes_sent += len(data)

    async def _notify(self, frame: bytes) -> None:
        """One notification, once a central is connected and subscribed (a roller notifies nobody else);
        a notification the (simulated) stack refuses is retried, as the firmware does."""
        p = self.peripheral
        while True:
            if p.connected and p.data_char is not None and p.data_char.notifying:
                try:
                    p.notify(frame)
                    return
                except OSError:
                    pass
            await asyncio.sleep(0.005)

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
                        due = anchor[1] + eng.replay_s(anchor[0], e.t_s, self.speed)
                        now = time.monotonic()
                        if due > now:
                            await asyncio.sleep(due - now)
                        elif eng.in_realtime_span(e.t_s):
                            # behind schedule (a loaded machine, a slow link) in a reboot span: catching up
                            # would shorten the host time between the old boot's last samples and the new
                            # boot's first, by which the host places the new time base (every later t_s early,
                            # and a --duration of the capture's length then never reached); time the rest
                            # of the span from now instead
                            anchor = (e.t_s, now)
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
                await self.unplug_for(max(self.min_unplug_s, eng.replay_s(act.t_s, act.t_s + act.gap_s,
                                                                          self.speed)))
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
            # TCP: the kernel's buffers empty quickly on 127.0.0.1; BLE: the notifications are D-Bus signals
            # already on the bus, ahead of the disconnection's, and the host handles them in order
            await asyncio.sleep(0.2)

    # --- control socket: {"query": true} ---
    def query(self) -> dict[str, Any]:
        q = self.engine.progress()
        q.update(super().query())
        q.update({"replay": True, "capture": self.capture.source, "bytes_sent": self.bytes_sent,
                  "done": self.done, "speed": self.speed, "realtime_spans": self.engine.realtime_spans})
        if self.peripheral is not None:
            q["ble"] = dict(ble_query(self.peripheral), bus=self.bus_address, writes=self.peripheral.link.writes,
                            connections=self.peripheral.link.connections)
        return q

    async def _control(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict) and any(k != "query" for k in obj):
            bad = next(k for k in obj if k != "query")
            raise ValueError(f"control key {bad!r} does not apply to a replayed capture (only 'query')")
        return await super()._control(obj)

    # --- lifetime (LinkServer) ---
    async def _start(self) -> None:
        self._host_event = asyncio.Event()
        if self.peripheral is not None:
            self.peripheral.attach(ReplayBleLink(self))
            self._tasks = [asyncio.create_task(self._play())]
        else:
            self._tasks = [asyncio.create_task(self._host_reader()), asyncio.create_task(self._play())]

    async def _serve(self) -> None:
        await asyncio.gather(*self._tasks)

    async def _stop(self) -> None:
        await cancel_tasks(self._tasks)
        self._tasks = []


def replay_ble_options(capture_path: str, *, bus_address: str | None, address: str | None,
                       mtu: int) -> BleOptions:
    """BLE options for replaying `capture_path`: the given address, else the captured roller's, else the
    virtual roller's default."""
    if address is None:
        address = capture_ble_address(read_capture(capture_path)) or DEFAULT_BLE_ADDRESS
    return BleOptions(bus_address, address, mtu)
