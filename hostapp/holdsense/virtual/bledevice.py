"""`holdsense virtual-device --ble`: the virtual roller on a fake BlueZ instead of a pty.

The firmware App, the fake HX711/AS5600 and the simulated body are the
virtual device's (holdsense.virtual.device); only the link differs: the
firmware's own BLE logic (`holdsense_fw.ble.BleLink`) serves a fake
`org.bluez` peripheral on a private D-Bus (holdsense.virtual.fakebluez), so
the host's real bleak backend finds, connects and streams from it.

First stdout lines:

    ble: holdsense-1122 7C:DF:A1:00:11:22
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/holdsense-dbus-.../bus.sock

Export the second line in the shell that runs the host (`holdsense live --ble
holdsense-1122`), so bleak talks to this bus instead of the system's.
"""
from __future__ import annotations

import asyncio
import errno
import signal
from typing import Any, Callable

from ..errors import UserError
from .device import VirtualDevice
from .fakebluez import FakeBlueZ, FakePeripheral, PrivateBus

#: The virtual board's unique id (holdsense.virtual.shims.FakeBoard) doubles as its BLE address.
DEFAULT_ADDRESS = "7C:DF:A1:00:11:22"


def check_address(address: str) -> str:
    parts = address.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise UserError(f"--ble-address {address}: expected six hex bytes like 7C:DF:A1:00:11:22")
    return address.upper()


class BleVirtualDevice(VirtualDevice):
    """A VirtualDevice whose link is BLE on a fake BlueZ.

    bus_address: an existing private bus to serve on (tests start their own);
    None starts a private dbus-daemon for the lifetime of the device.
    mtu: the ATT MTU the fake link negotiates (247 = the firmware's preference).
    """

    def __init__(self, scenario: str = "standard", *, bus_address: str | None = None,
                 ble_address: str = DEFAULT_ADDRESS, mtu: int = 247, **kwargs: Any) -> None:
        super().__init__(scenario, **kwargs)
        if not 23 <= mtu <= 517:
            raise UserError(f"--ble-mtu {mtu}: an ATT MTU is 23..517")
        self.bus_address = bus_address
        self.ble_address = check_address(ble_address)
        self.mtu = mtu
        self.private_bus: PrivateBus | None = None
        self.bluez: FakeBlueZ | None = None
        self.peripheral: FakePeripheral | None = None

    # --- the link ---
    async def _open_endpoint(self) -> str:
        if self.bluez is None:
            if self.bus_address is None:
                self.private_bus = PrivateBus()
                self.bus_address = self.private_bus.start()
            self.bluez = FakeBlueZ()
            await self.bluez.start(self.bus_address)
            self.peripheral = self.bluez.add_peripheral(self.ble_address, mtu=self.mtu)
        return f"ble {self.peripheral.name} {self.peripheral.address}"

    def _firmware_main(self) -> Any:
        from holdsense_fw.ble import BleLink

        assert self.peripheral is not None
        self.peripheral.attach(BleLink(self.app))  # a new boot: new firmware link; a connection drops
        return self.app.run(None)

    async def unplug(self, device_s: float) -> None:
        """Out of range for device_s (device seconds): the link drops, adverts resume afterwards."""
        if self.peripheral is not None:
            await self.peripheral.link_loss(device_s / self.speed)

    def garbage(self, n: int) -> None:
        """On BLE, noise shows as notifications failing their CRC: corrupt the next `n`."""
        if self.peripheral is not None:
            self.peripheral.corrupt_next(n)

    def query(self) -> dict[str, Any]:
        out = super().query()
        p = self.peripheral
        if p is not None:
            link = p.link
            out["ble"] = {"name": p.name, "address": p.address, "connected": p.connected, "mtu": p.mtu,
                          "stats": dict(p.stats), "bus": self.bus_address,
                          "link": None if link is None else {
                              "notified": link.notified, "retries": link.retries, "lost_frames": link.lost_frames,
                              "bad_writes": link.bad_writes, "connections": link.connections,
                              "dropped": link.link.queue.dropped, "next_index": link.link.queue.next_index,
                              "streaming": link.link.queue.enabled}}
        return out

    async def _control(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict) and self.peripheral is not None:
            obj = dict(obj)
            if "ble_notify_budget" in obj:  # a slow radio: at most N notifications per second (None: unlimited)
                v = obj.pop("ble_notify_budget")
                self.peripheral.notify_budget_per_s = None if v is None else float(v)
            if "ble_link_loss_s" in obj:  # same as unplug_s, in host seconds
                asyncio.create_task(self.peripheral.link_loss(float(obj.pop("ble_link_loss_s"))))
        return await super()._control(obj)

    async def run(self, on_port: Callable[[str], None] | None = None) -> None:
        try:
            await super().run(on_port)
        finally:
            if self.bluez is not None:
                await self.bluez.stop()
                self.bluez = None
            if self.private_bus is not None:
                self.private_bus.stop()
                self.private_bus = None


def serve_ble(dev: BleVirtualDevice) -> int:
    """Run `dev` until SIGTERM/SIGINT. stdout: `ble: <name> <address>`, then
    `DBUS_SYSTEM_BUS_ADDRESS=<address>`, then (with --control) `control: <path>`, each flushed."""

    def announce(_url: str) -> None:
        p = dev.peripheral
        assert p is not None
        print(f"ble: {p.name} {p.address}", file=dev.out, flush=True)
        print(f"DBUS_SYSTEM_BUS_ADDRESS={dev.bus_address}", file=dev.out, flush=True)
        if dev.control_path:
            print(f"control: {dev.control_path}", file=dev.out, flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await dev.run(announce)
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            raise UserError(f"cannot reach the D-Bus at {dev.bus_address}: {exc.strerror}") from exc
        raise
    return 0
