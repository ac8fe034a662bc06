"""A fake BlueZ (`org.bluez`) on a private D-Bus, so the real bleak backend runs without a radio.

bleak's BlueZ backend only talks D-Bus: it opens the *system* bus (dbus-fast
takes the address from `DBUS_SYSTEM_BUS_ADDRESS`), reads the object tree with
`GetManagedObjects`, follows `InterfacesAdded`/`InterfacesRemoved`/
`PropertiesChanged`, and calls a handful of methods (docs/ble.md lists them).
This module answers exactly that, the way BlueZ does:

- `PrivateBus`: a `dbus-daemon` of our own (unix socket in a temp dir, our
  ~15-line config allowing anyone to own `org.bluez`); no system bus is touched.
- `FakeBlueZ`: adapter `/org/bluez/hci0` (Adapter1: Powered, Roles with
  `central`, discovery methods) and its peripherals.
- `FakePeripheral`: one roller, `Device1` at `/org/bluez/hci0/dev_XX_..`; while
  the adapter discovers and the roller advertises it re-sends RSSI every
  100 ms (BlueZ reports a device to a scanner only when it announces itself).
  Connect: `Connected=True`, the GATT objects exported at BlueZ's exact paths
  (`<dev>/serviceXXXX/charYYYY`), then `ServicesResolved=True`. Link loss: stop
  notifying, `ServicesResolved=False`, GATT objects removed, `Connected=False`.
  Notifications are `PropertiesChanged` of the DATA characteristic's `Value`.

The peripheral's behaviour is the firmware's own: a `holdsense_fw.ble.BleLink`
over the firmware `App` decides what to notify (batching by age and MTU, retries,
command gating); writes to COMMAND go to `BleLink.on_write`. Test knobs mimic
the radio: `link_loss(s)` (out of range for s seconds), `corrupt_next(n)`
(flip a bit in the next n notifications on the air), `notify_budget`
(a slow link: at most N notifications per second, the rest refused by the "stack").

Nothing here needs root, a Bluetooth adapter or BlueZ: only `dbus-daemon`
(Debian package `dbus`).
"""
# No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures from the annotations.
import asyncio
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Callable, Optional

from dbus_fast import BusType, DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

from ..errors import DeviceError

ADAPTER_PATH = "/org/bluez/hci0"
ADAPTER_ADDRESS = "00:1A:7D:DA:71:0F"
RSSI_PERIOD_S = 0.1
DBUS_PACKAGE = "dbus"  # the Debian package that has dbus-daemon

# A private bus: session-type (no system policy), EXTERNAL auth (uid of the socket peer), and a policy
# that lets this user own org.bluez (the stock system policy reserves it for bluetoothd).
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow receive_sender="*"/>
  </policy>
  <limit name="max_replies_per_connection">4096</limit>
</busconfig>
"""


def find_dbus_daemon() -> Optional[str]:
    """Path of dbus-daemon, or None (then BLE tests skip: install the Debian package `dbus`)."""
    return shutil.which("dbus-daemon")


class PrivateBus:
    """A private dbus-daemon on a unix socket in a temporary directory.

    `start()` returns its address (give it to bleak as DBUS_SYSTEM_BUS_ADDRESS);
    `stop()` kills it and removes the directory. Use as a context manager.
    """

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""
        self.dir = ""

    def start(self, timeout_s: float = 10.0) -> str:
        daemon = find_dbus_daemon()
        if daemon is None:
            raise DeviceError(f"dbus-daemon not found: install the Debian package '{DBUS_PACKAGE}' "
                              f"(apt-get install {DBUS_PACKAGE}) for the fake BlueZ")
        self.dir = tempfile.mkdtemp(prefix="holdsense-dbus-")
        conf = os.path.join(self.dir, "bus.conf")
        sock = os.path.join(self.dir, "bus.sock")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(socket=sock))
        self.proc = subprocess.Popen([daemon, "--nofork", "--nopidfile", "--print-address=1", "--config-file", conf],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("unix:"):
            err = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
            self.stop()
            raise DeviceError(f"dbus-daemon did not start ({err.strip() or 'no address printed'})")
        self.address = line
        return line

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    def __enter__(self) -> "PrivateBus":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- D-Bus objects
class Adapter1(ServiceInterface):
    """org.bluez.Adapter1: powered, central role, discovery sessions."""

    def __init__(self, bluez: "FakeBlueZ") -> None:
        super().__init__("org.bluez.Adapter1")
        self._bluez = bluez
        self._sessions = 0
        self._filter: dict = {}

    @property
    def discovering(self) -> bool:
        return self._sessions > 0

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821,N802 - D-Bus names and signatures
        return ADAPTER_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":  # noqa: F821,N802
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":  # noqa: F821,N802
        return "holdsense-fake-hci0"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":  # noqa: F821,N802
        return "holdsense fake adapter"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> "b":  # noqa: F821,N802
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> "b":  # noqa: F821,N802
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":  # noqa: F821,N802
        return self.discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":  # noqa: F821,N802
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":  # noqa: F821,N802
        return []

    @method()
    def SetDiscoveryFilter(self, properties: "a{sv}") -> None:  # noqa: F821,N802
        self._filter = dict(properties)

    @method()
    def GetDiscoveryFilters(self) -> "as":  # noqa: F821,N802
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]

    @method()
    def StartDiscovery(self) -> None:  # noqa: N802
        self._sessions += 1
        if self._sessions == 1:
            self.emit_properties_changed({"Discovering": True})
            self._bluez.discovery_changed(True)

    @method()
    def StopDiscovery(self) -> None:  # noqa: N802
        if self._sessions == 0:
            raise DBusError("org.bluez.Error.Failed", "No discovery started")
        self._sessions -= 1
        if self._sessions == 0:
            self.emit_properties_changed({"Discovering": False})
            self._bluez.discovery_changed(False)

    @method()
    def RemoveDevice(self, device: "o") -> None:  # noqa: F821,N802
        pass  # the fake keeps its peripherals (they are in range); BlueZ would forget the bond


class Device1(ServiceInterface):
    """org.bluez.Device1 of one peripheral."""

    def __init__(self, peripheral: "FakePeripheral") -> None:
        super().__init__("org.bluez.Device1")
        self._p = peripheral

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821,N802
        return self._p.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":  # noqa: F821,N802
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":  # noqa: F821,N802
        return self._p.name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":  # noqa: F821,N802
        return self._p.name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":  # noqa: F821,N802
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":  # noqa: F821,N802
        return self._p.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":  # noqa: F821,N802
        return self._p.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> "b":  # noqa: F821,N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":  # noqa: F821,N802
        return self._p.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":  # noqa: F821,N802
        return list(self._p.uuids)

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> "a{qv}":  # noqa: F821,N802
        return {k: Variant("ay", v) for k, v in self._p.manufacturer_data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> "a{sv}":  # noqa: F821,N802
        return {}

    @method()
    async def Connect(self) -> None:  # noqa: N802
        await self._p.connect()

    @method()
    async def Disconnect(self) -> None:  # noqa: N802
        await self._p.disconnect("host")

    @method()
    def Pair(self) -> None:  # noqa: N802
        raise DBusError("org.bluez.Error.NotSupported", "the holdsense roller does not bond")

    @method()
    def CancelPairing(self) -> None:  # noqa: N802
        pass


class GattService1(ServiceInterface):
    def __init__(self, uuid: str, device_path: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.uuid = uuid
        self.device_path = device_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":  # noqa: F821,N802
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":  # noqa: F821,N802
        return self.device_path

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":  # noqa: F821,N802
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Includes(self) -> "ao":  # noqa: F821,N802
        return []


class GattCharacteristic1(ServiceInterface):
    """A characteristic: `read` returns `value`; `on_write(bytes)` takes writes; notify via `notify()`."""

    def __init__(self, uuid: str, service_path: str, flags: list, peripheral: "FakePeripheral", *,
                 value: bytes = b"", read: Optional[Callable[[], bytes]] = None,
                 on_write: Optional[Callable[[bytes], None]] = None) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.uuid = uuid
        self.service_path = service_path
        self.flags = list(flags)
        self.value = bytes(value)
        self.notifying = False
        self._p = peripheral
        self._read = read
        self._on_write = on_write

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":  # noqa: F821,N802
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":  # noqa: F821,N802
        return self.service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":  # noqa: F821,N802
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":  # noqa: F821,N802
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":  # noqa: F821,N802
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":  # noqa: F821,N802
        return self._p.mtu

    def _check_link(self) -> None:
        if not self._p.connected:
            raise DBusError("org.bluez.Error.Failed", "Not connected")

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":  # noqa: F821,N802
        self._check_link()
        if "read" not in self.flags:
            raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")
        if self._read is not None:
            self.value = bytes(self._read())
        off = options.get("offset")
        start = int(off.value) if isinstance(off, Variant) else 0
        return self.value[start:]

    @method()
    def WriteValue(self, value: "ay", options: "a{sv}") -> None:  # noqa: F821,N802
        self._check_link()
        if not ({"write", "write-without-response"} & set(self.flags)):
            raise DBusError("org.bluez.Error.NotPermitted", "Write not permitted")
        if len(value) > 512:
            raise DBusError("org.bluez.Error.InvalidValueLength", "Invalid Length")
        if self._on_write is not None:
            self._on_write(bytes(value))

    @method()
    def StartNotify(self) -> None:  # noqa: N802
        self._check_link()
        if "notify" not in self.flags and "indicate" not in self.flags:
            raise DBusError("org.bluez.Error.NotSupported", "Operation is not supported")
        if not self.notifying:
            self.notifying = True
            self.emit_properties_changed({"Notifying": True})

    @method()
    def StopNotify(self) -> None:  # noqa: N802
        if self.notifying:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})

    def notify(self, value: bytes) -> bool:
        """Send one notification (a PropertiesChanged of Value), as BlueZ does; False if unsubscribed."""
        if not self.notifying:
            return False
        self.value = bytes(value)
        self.emit_properties_changed({"Value": self.value})
        return True


# ----------------------------------------------------------------------------- the peripheral
def _uuid16(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


class FakePeripheral:
    """A holdsense roller seen through BlueZ; its radio logic is the firmware's `BleLink`.

    `attach(ble_link)` (at each firmware boot) gives it the firmware side. While
    attached and not connected it advertises (RSSI updates while the adapter
    discovers) with the firmware's manufacturer data; `connect()`/`disconnect()`
    are what Device1's methods do; `link_loss(s)` drops the link from the
    roller's side and keeps it out of range for s seconds.
    """

    def __init__(self, bluez: "FakeBlueZ", address: str, *, mtu: int = 247) -> None:
        from holdsense_fw import ble as fwble

        self.fwble = fwble
        self.bluez = bluez
        self.address = address.upper()
        self.path = f"{ADAPTER_PATH}/dev_{self.address.replace(':', '_')}"
        mac = bytes(int(x, 16) for x in self.address.split(":"))
        self.name = fwble.adv_name(mac)
        self.mtu = int(mtu)
        self.connected = False
        self.services_resolved = False
        self.rssi = -58
        self.uuids = [fwble.SERVICE_UUID]
        self.manufacturer_data: dict[int, bytes] = {}
        self.link: Any = None  # holdsense_fw.ble.BleLink of the running firmware
        self.in_range = True
        self.notify_budget_per_s: Optional[float] = None  # None: the radio takes every notification
        self._budget = 0.0
        self._budget_t = time.monotonic()
        self._corrupt = 0
        self._rng = random.Random(0)
        self.device_if = Device1(self)
        self._gatt: list[tuple[str, ServiceInterface]] = []
        self.data_char: Optional[GattCharacteristic1] = None
        self.stats = {"notifications": 0, "corrupted": 0, "unsubscribed_drops": 0, "refused": 0, "writes": 0,
                      "connections": 0, "link_losses": 0, "truncated": 0}
        self._tasks: list[asyncio.Task] = []

    # --- firmware side ---
    def attach(self, link: Any) -> None:
        """A (re)booted firmware's BleLink: a reboot drops any connection, like a real roller's."""
        if self.connected:
            asyncio.get_running_loop().create_task(self.disconnect("reboot"))
        self.link = link
        self.refresh_advert()

    def refresh_advert(self) -> None:
        if self.link is None:
            return
        data = {self.fwble.COMPANY_ID: bytes(self.link.manufacturer_data())}
        if data != self.manufacturer_data:
            self.manufacturer_data = data
            self.device_if.emit_properties_changed({"ManufacturerData": {k: Variant("ay", v) for k, v in
                                                                         data.items()}})

    @property
    def advertising(self) -> bool:
        return self.link is not None and self.in_range and not self.connected

    # --- GATT objects, exported at BlueZ's paths while connected ---
    def _build_gatt(self) -> list[tuple[str, ServiceInterface]]:
        fw = self.fwble
        link = self.link
        objs: list[tuple[str, ServiceInterface]] = []
        handle = 0x000A

        def service(uuid: str) -> str:
            nonlocal handle
            path = f"{self.path}/service{handle:04x}"
            objs.append((path, GattService1(uuid, self.path)))
            handle += 1
            return path

        def char(svc: str, uuid: str, flags: list, **kw: Any) -> GattCharacteristic1:
            nonlocal handle
            path = f"{svc}/char{handle:04x}"
            c = GattCharacteristic1(uuid, svc, flags, self, **kw)
            objs.append((path, c))
            handle += 2  # value handle + CCCD/declaration, as a real GATT table spaces them
            return c

        s = service(fw.SERVICE_UUID)
        self.data_char = char(s, fw.DATA_UUID, ["notify"])
        char(s, fw.COMMAND_UUID, ["write", "write-without-response"], on_write=self._on_write)
        handle = 0x0020
        if link.has_battery:
            s = service(_uuid16(fw.BATTERY_SERVICE))
            char(s, _uuid16(fw.BATTERY_LEVEL), ["read", "notify"], read=lambda: self.link.battery_level())
        handle = 0x0030
        s = service(_uuid16(fw.DEVICE_INFO_SERVICE))
        for uuid16, value in link.device_information().items():
            char(s, _uuid16(uuid16), ["read"], value=value)
        return objs

    def _on_write(self, data: bytes) -> None:
        self.stats["writes"] += 1
        if self.link is not None:
            from holdsense_fw import compat

            command = getattr(self.link, "command", None)  # a replayed roller has no firmware link
            if command is None:
                self.link.on_write(data)
                return
            # as the board's rx task: the reply is notified at once (BleLink.command), not at the next poll
            command(data, compat.ticks_ms(), self.notify)

    async def connect(self) -> None:
        if self.connected:
            return
        if not self.in_range or self.link is None:
            await asyncio.sleep(0.2)
            raise DBusError("org.bluez.Error.Failed", "le-connection-failed: Connection Failed to be Established")
        from holdsense_fw import compat

        self.connected = True
        self.stats["connections"] += 1
        self.device_if.emit_properties_changed({"Connected": True})
        bus = self.bluez.bus
        self._gatt = self._build_gatt()
        for path, obj in self._gatt:
            bus.export(path, obj)
        self.link.on_connect(compat.ticks_ms())
        self.link.on_mtu(self.mtu)
        self.services_resolved = True
        self.device_if.emit_properties_changed({"ServicesResolved": True})

    async def disconnect(self, reason: str = "host") -> None:
        """Drop the link (host request, link loss or reboot), in BlueZ's order."""
        if not self.connected:
            return
        from holdsense_fw import compat

        for _path, obj in self._gatt:
            if isinstance(obj, GattCharacteristic1) and obj.notifying:
                obj.StopNotify()
        self.services_resolved = False
        self.device_if.emit_properties_changed({"ServicesResolved": False})
        bus = self.bluez.bus
        for path, obj in reversed(self._gatt):
            bus.unexport(path, obj)
        self._gatt = []
        self.data_char = None
        self.connected = False
        self.device_if.emit_properties_changed({"Connected": False})
        if self.link is not None:
            self.link.on_disconnect(compat.ticks_ms())
        if reason != "host":
            self.stats["link_losses"] += 1
        self.refresh_advert()

    async def link_loss(self, out_of_range_s: float) -> None:
        """The roller goes out of range: the link drops now, adverts come back after `out_of_range_s`."""
        self.in_range = False
        await self.disconnect("link loss")
        await asyncio.sleep(out_of_range_s)
        self.in_range = True

    def corrupt_next(self, n: int = 1) -> None:
        """Flip one bit in each of the next `n` notifications on the air (the host's CRC must catch it)."""
        self._corrupt += int(n)

    # --- the radio: what the firmware's tx task calls ---
    def notify(self, frame: bytes) -> None:
        """BleLink's notify(): raises OSError when the (simulated) stack has no room."""
        if not self.connected or self.data_char is None:
            raise OSError("not connected")
        if self.notify_budget_per_s is not None:
            now = time.monotonic()
            self._budget = min(2.0, self._budget + (now - self._budget_t) * self.notify_budget_per_s)
            self._budget_t = now
            if self._budget < 1.0:
                self.stats["refused"] += 1
                raise OSError("ENOMEM: notification buffers full")
            self._budget -= 1.0
        value = bytes(frame)
        if len(value) > self.mtu - 3:
            value = value[: self.mtu - 3]  # ATT truncates a notification to MTU - 3
            self.stats["truncated"] += 1
        if self._corrupt > 0:
            self._corrupt -= 1
            b = bytearray(value)
            i = self._rng.randrange(3, max(4, len(b) - 2))  # inside the payload: the CRC must catch it
            b[i] ^= 1 << self._rng.randrange(8)
            value = bytes(b)
            self.stats["corrupted"] += 1
        if self.data_char.notify(value):
            self.stats["notifications"] += 1
        else:
            self.stats["unsubscribed_drops"] += 1

    async def tx_task(self) -> None:
        """The firmware's tx loop (holdsense_fw.ble.run's, with this radio): poll every POLL_MS device ms."""
        from holdsense_fw import compat

        fw = self.fwble
        while True:
            await compat.sleep_ms(fw.POLL_MS)
            link = self.link
            if link is None:
                continue
            link.tx_step(compat.ticks_ms(), self.notify)

    async def advertise_task(self) -> None:
        """While the adapter discovers and the roller advertises: an RSSI update every 100 ms."""
        n = 0
        while True:
            await asyncio.sleep(RSSI_PERIOD_S)
            n += 1
            if n % 50 == 0:
                self.refresh_advert()  # battery and state in the advert, like ADV_REFRESH_MS on the board
            if self.advertising and self.bluez.adapter.discovering:
                self.rssi = -58 + self._rng.randint(-4, 4)
                self.device_if.emit_properties_changed({"RSSI": self.rssi})


class FakeBlueZ:
    """`org.bluez` on a bus: one adapter (hci0) and its peripherals. `await start(address)`, `await stop()`."""

    def __init__(self) -> None:
        self.bus: Any = None
        self.adapter = Adapter1(self)
        self.peripherals: list[FakePeripheral] = []
        self._tasks: list[asyncio.Task] = []

    async def start(self, bus_address: str) -> None:
        from dbus_fast.constants import RequestNameReply

        self.bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
        reply = await self.bus.request_name("org.bluez")
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            raise DeviceError(f"cannot own org.bluez on {bus_address} ({reply.name})")
        self.bus.export(ADAPTER_PATH, self.adapter)

    def add_peripheral(self, address: str, *, mtu: int = 247) -> FakePeripheral:
        p = FakePeripheral(self, address, mtu=mtu)
        self.bus.export(p.path, p.device_if)
        self.peripherals.append(p)
        self._tasks += [asyncio.create_task(p.tx_task()), asyncio.create_task(p.advertise_task())]
        return p

    def discovery_changed(self, on: bool) -> None:
        if on:  # announce at once, as an advert heard right after StartDiscovery
            for p in self.peripherals:
                if p.advertising:
                    p.device_if.emit_properties_changed({"RSSI": p.rssi})

    async def stop(self) -> None:
        for p in self.peripherals:
            try:
                await p.disconnect("shutdown")
            except Exception:  # noqa: BLE001 - the bus may be gone already
                pass
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None
