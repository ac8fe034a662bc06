"""`holdsense virtual-device --ble`: the virtual roller on a fake BlueZ instead of a pty.

The firmware App, the fake HX711/AS5600 and the simulated body are the
virtual device's (holdsense.virtual.device); only the link differs: the
firmware's own BLE logic (`holdsense_fw.ble.BleLink`) serves a fake
`org.bluez` peripheral on a private D-Bus (holdsense.virtual.fakebluez), so
the host's real bleak backend finds, connects and streams from it. The link
plumbing (endpoint, control socket, serve) is holdsense.virtual.link's, the
same for the simulated and the replayed roller (`--replay-capture FILE --ble`).

First stdout lines:

    ble: holdsense-1122 7C:DF:A1:00:11:22
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/holdsense-dbus-.../bus.sock

Export the second line in the shell that runs the host (`holdsense live --ble
holdsense-1122`), so bleak talks to this bus instead of the system's.
"""
from __future__ import annotations

from typing import Any

from .device import VirtualDevice
from .link import DEFAULT_BLE_ADDRESS, BleOptions, check_ble_address, serve

DEFAULT_ADDRESS = DEFAULT_BLE_ADDRESS
check_address = check_ble_address
serve_ble = serve

__all__ = ["BleVirtualDevice", "DEFAULT_ADDRESS", "check_address", "serve_ble"]


class BleVirtualDevice(VirtualDevice):
    """A VirtualDevice whose link is BLE on a fake BlueZ.

    bus_address: an existing private bus to serve on (tests start their own);
    None starts a private dbus-daemon for the lifetime of the device.
    mtu: the ATT MTU the fake link negotiates (247 = the firmware's preference).
    """

    def __init__(self, scenario: str = "standard", *, bus_address: str | None = None,
                 ble_address: str = DEFAULT_ADDRESS, mtu: int = 247, **kwargs: Any) -> None:
        super().__init__(scenario, ble=BleOptions(bus_address, ble_address, mtu), **kwargs)
