"""BLE link to a holdsense roller, on bleak, behind the same `Transport` interface as serial.

The roller (firmware/holdsense_fw/ble.py, docs/ble.md) advertises as
`holdsense-XXXX` with the holdsense service; its DATA characteristic notifies
one raw protocol frame per notification and its COMMAND characteristic takes
one raw CMD frame per write (docs/protocol.md, BLE). So:

- `BleTransport` is a packetized `Transport`: the notification callback only
  queues the bytes (bleak's model); `recv()` pops one notification = one frame;
  `write()` writes one frame. The `Device` client above it decodes, handshakes,
  counts lost/corrupt frames and reconnects with backoff exactly as on serial.
- bleak is asyncio; holdsense's device client is thread-based. All bleak calls
  run on one process-wide event loop in a daemon thread (`BleLoop`): bleak keeps
  one BlueZ manager per loop, so every connect and reconnect shares it. For
  asyncio programs, `Device.arecv()` / `Notifier.run_async()` await
  `BleTransport.wait_readable()` instead of blocking.
- `scan()` lists rollers from their adverts (name, address, RSSI, firmware
  version and battery from the manufacturer data) without connecting.
- No Bluetooth (no D-Bus system bus, no BlueZ, no adapter, adapter off) is a
  `DeviceError` with one line saying which, so `--ble` exits 2 and
  `holdsense devices` can say why BLE was skipped.
"""
from __future__ import annotations

import asyncio
import queue
import re
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import Any, Awaitable, Callable, TypeVar

from ..errors import DeviceError
from .transport import LinkLost, Transport

# Wire constants of the roller's GATT service (the firmware's holdsense_fw/ble.py; tests check both agree).
SERVICE_UUID = "4853e001-8a3d-4f6b-9c2e-5d7a1b0c3e42"
DATA_UUID = "4853e002-8a3d-4f6b-9c2e-5d7a1b0c3e42"
COMMAND_UUID = "4853e003-8a3d-4f6b-9c2e-5d7a1b0c3e42"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"
COMPANY_ID = 0xFFFF
ADV_MAGIC = b"hs"
NAME_PREFIX = "holdsense-"

_ADDRESS_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
T = TypeVar("T")


# --------------------------------------------------------------------------- the bleak event loop
class BleLoop:
    """One asyncio loop in a daemon thread for every bleak call of this process."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed() or not (cls._thread and cls._thread.is_alive()):
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                t = threading.Thread(target=main, name="holdsense-ble", daemon=True)
                t.start()
                started.wait(5)
                cls._loop, cls._thread = loop, t
            return cls._loop

    @classmethod
    def run(cls, coro: Awaitable[T], timeout_s: float) -> T:
        """Run `coro` on the BLE loop and wait for it (from any thread but the loop's own)."""
        loop = cls.get()
        fut = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
        try:
            return fut.result(timeout_s)
        except FutureTimeout:
            fut.cancel()
            raise TimeoutError(f"no answer within {timeout_s:g} s") from None

    @classmethod
    def shutdown(cls, timeout_s: float = 5.0) -> None:
        """Stop the loop thread (tests do this between private buses; the next call starts a fresh one)."""
        with cls._lock:
            loop, t = cls._loop, cls._thread
            cls._loop = cls._thread = None
        if loop is None:
            return

        async def _cancel_all() -> None:
            # bleak keeps one BlueZ manager (and its D-Bus connection) per loop and never closes it;
            # close it here, or its socket outlives the loop (a ResourceWarning, a stale bus next time)
            try:
                from bleak.backends.bluezdbus import manager as bluez_manager

                inst = bluez_manager._global_instances.pop(asyncio.get_running_loop(), None)
                if inst is not None and inst._bus is not None:
                    inst._bus.disconnect()
                    await asyncio.wait_for(inst._bus.wait_for_disconnect(), 2.0)
            except Exception:  # noqa: BLE001 - other platforms/versions: nothing to close
                pass
            me = asyncio.current_task()
            tasks = [x for x in asyncio.all_tasks() if x is not me]
            for x in tasks:
                x.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout_s)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        loop.call_soon_threadsafe(loop.stop)
        if t is not None:
            t.join(timeout_s)
        if not loop.is_running():
            loop.close()


# --------------------------------------------------------------------------- errors
def unavailable_reason(exc: BaseException) -> str | None:
    """Why BLE cannot work here, if `exc` says so (no bus, no BlueZ, no adapter, adapter off); else None."""
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return ("no D-Bus system bus (BlueZ is not running on this machine: install bluez and start "
                "bluetoothd, or for the virtual device export the DBUS_SYSTEM_BUS_ADDRESS it printed)")
    if isinstance(exc, PermissionError):
        return "not allowed to use the D-Bus system bus (permission denied)"
    if "ServiceUnknown" in text or "org.bluez was not provided" in text or "name is not activatable" in text:
        return "BlueZ (bluetoothd) is not running on the D-Bus system bus"
    if name == "BleakBluetoothNotAvailableError" or "No Bluetooth adapters" in text or "adapters found" in text:
        reason = getattr(exc, "reason", None)
        if reason is not None and "POWERED_OFF" in str(reason):
            return "the Bluetooth adapter is powered off (bluetoothctl power on)"
        return "no Bluetooth adapter found" if "powered" not in text.lower() else \
            "the Bluetooth adapter is powered off (bluetoothctl power on)"
    if sys.platform.startswith("linux") and name == "AuthError":
        return "the D-Bus system bus refused authentication"
    return None


def _device_error(target: str, exc: BaseException, what: str) -> DeviceError:
    why = unavailable_reason(exc)
    if why is not None:
        return DeviceError(f"BLE unavailable: {why}")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DeviceError(f"ble {target}: {what} failed ({text})")


# --------------------------------------------------------------------------- adverts and scanning
@dataclass
class Advert:
    """A roller heard advertising: name, address, RSSI (dBm) and what its manufacturer data says."""

    name: str
    address: str
    rssi_dbm: int | None
    protocol: int | None = None
    fw_version: str | None = None
    battery_pct: int | None = None
    streaming: bool | None = None
    ble_cal_writes: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_manufacturer_data(data: bytes) -> dict[str, Any] | None:
    """The roller's manufacturer data (after company id 0xFFFF): 'hs', proto major, fw major/minor/patch,
    battery % (255 unknown), state bits. None if it is someone else's."""
    if len(data) < 8 or data[:2] != ADV_MAGIC:
        return None
    pct = data[6]
    return {"protocol": data[2], "fw_version": f"{data[3]}.{data[4]}.{data[5]}",
            "battery_pct": None if pct > 100 else pct, "streaming": bool(data[7] & 0x01),
            "ble_cal_writes": bool(data[7] & 0x02)}


def _is_roller(name: str | None, uuids: list[str] | None) -> bool:
    return bool(name and name.startswith(NAME_PREFIX)) or SERVICE_UUID in [u.lower() for u in uuids or []]


def _advert(device: Any, adv: Any) -> Advert:
    name = adv.local_name or device.name or ""
    a = Advert(name=name, address=device.address, rssi_dbm=getattr(adv, "rssi", None))
    md = (adv.manufacturer_data or {}).get(COMPANY_ID)
    info = parse_manufacturer_data(bytes(md)) if md is not None else None
    if info:
        for k, v in info.items():
            setattr(a, k, v)
    return a


async def _scan(timeout_s: float, stop: Callable[[Advert], bool] | None = None) -> dict[str, tuple[Any, Advert]]:
    from bleak import BleakScanner

    found: dict[str, tuple[Any, Advert]] = {}
    done = asyncio.Event()

    def seen(device: Any, adv: Any) -> None:
        if not _is_roller(adv.local_name or device.name, adv.service_uuids):
            return
        a = _advert(device, adv)
        found[device.address] = (device, a)
        if stop is not None and stop(a):
            done.set()

    async with BleakScanner(detection_callback=seen):
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
    return found


def scan(timeout_s: float = 3.0) -> list[Advert]:
    """Rollers advertising within `timeout_s`, strongest first. DeviceError if BLE is unavailable."""
    try:
        found = BleLoop.run(_scan(timeout_s), timeout_s + 10)
    except DeviceError:
        raise
    except Exception as exc:  # noqa: BLE001 - bleak/dbus errors vary by platform and version
        raise _device_error("scan", exc, "scan") from None
    adverts = [a for _d, a in found.values()]
    adverts.sort(key=lambda a: -(a.rssi_dbm if a.rssi_dbm is not None else -999))
    return adverts


def matches(target: str, advert: Advert) -> bool:
    """`--ble` target: an address (any case) or a name (exact, case-insensitive; `1122` = `holdsense-1122`)."""
    t = target.strip()
    if _ADDRESS_RE.match(t):
        return advert.address.upper() == t.upper()
    name = advert.name.lower()
    return name == t.lower() or name == (NAME_PREFIX + t).lower()


def check_target(target: str) -> str:
    t = (target or "").strip()
    if not t or any(c.isspace() for c in t):
        raise DeviceError(f"--ble {target!r}: give the roller's name (holdsense-XXXX) or address "
                          f"(AA:BB:CC:DD:EE:FF); see 'holdsense devices'")
    return t


# --------------------------------------------------------------------------- the transport
class BleTransport(Transport):
    """One BLE connection to a roller; packetized (one notification = one raw frame).

    `target` is a name (`holdsense-1122`, or just `1122`) or an address. The
    constructor scans for it (up to `timeout_s`), connects, subscribes to DATA,
    and raises DeviceError if any of that fails. A link loss makes `recv`
    raise `LinkLost` once the notifications that arrived before it are read.
    """

    packetized = True
    live = True

    def __init__(self, target: str, *, timeout_s: float = 5.0) -> None:
        super().__init__()
        self.target = check_target(target)
        self.name = f"ble {self.target}"
        self.address: str | None = None
        self.device_name: str | None = None
        self.mtu: int | None = None
        self.advert: Advert | None = None
        self.notifications = 0
        self._q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lost = threading.Event()
        self._client: Any = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._waiters_lock = threading.Lock()
        try:
            BleLoop.run(self._connect(timeout_s), timeout_s + 15)
        except DeviceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _device_error(self.target, exc, "connect") from None

    async def _connect(self, timeout_s: float) -> None:
        from bleak import BleakClient

        t0 = time.monotonic()
        found = await _scan(timeout_s, stop=lambda a: matches(self.target, a))
        hit = [(d, a) for d, a in found.values() if matches(self.target, a)]
        if not hit:
            others = ", ".join(sorted(a.name for _d, a in found.values())) or "none"
            raise DeviceError(f"ble {self.target}: no holdsense roller of that name or address is advertising "
                              f"(heard within {timeout_s:g} s: {others}). Is it switched on, in range, and not "
                              f"connected to another phone or computer?")
        device, self.advert = hit[0]
        self.address, self.device_name = device.address, self.advert.name
        left = max(2.0, timeout_s - (time.monotonic() - t0))
        client = BleakClient(device, disconnected_callback=self._on_disconnect, timeout=left)
        await client.connect()
        try:
            svc = client.services.get_service(SERVICE_UUID)
            if svc is None or svc.get_characteristic(DATA_UUID) is None or svc.get_characteristic(COMMAND_UUID) is None:
                raise DeviceError(f"ble {self.target}: {self.address} has no holdsense service "
                                  f"(not a holdsense roller, or firmware too old: see 'holdsense deploy')")
            cmd = svc.get_characteristic(COMMAND_UUID)
            self.mtu = int(cmd.max_write_without_response_size) + 3  # BlueZ reports the ATT MTU on each char
            await client.start_notify(DATA_UUID, self._on_notify)
        except BaseException:
            await client.disconnect()
            raise
        self._client = client

    # -- bleak callbacks (on the BLE loop) --
    def _on_notify(self, _sender: Any, data: bytearray) -> None:
        self.notifications += 1
        self._q.put(bytes(data))
        self._wake()

    def _on_disconnect(self, _client: Any) -> None:
        self._lost.set()
        self._q.put(None)
        self._wake()

    def _wake(self) -> None:
        with self._waiters_lock:
            waiters = list(self._waiters)
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    # -- Transport --
    def _recv_chunk(self, timeout_s: float | None) -> bytes | None:
        try:
            if timeout_s is not None and timeout_s <= 0:
                item = self._q.get_nowait()
            else:
                item = self._q.get(timeout=timeout_s)
        except queue.Empty:
            if self._lost.is_set():
                raise LinkLost(f"{self.name}: link lost") from None
            return None
        if item is None:
            raise LinkLost(f"{self.name}: link lost (the roller went out of range or was switched off)")
        return item

    def _write(self, data: bytes) -> None:
        if self._lost.is_set() or self._client is None:
            raise LinkLost(f"{self.name}: link lost")
        try:
            # with response: a command is acknowledged at the ATT level (the firmware also answers it)
            BleLoop.run(self._client.write_gatt_char(COMMAND_UUID, data, response=True), 5.0)
        except Exception as exc:  # noqa: BLE001 - any bleak/dbus error while writing means the link is gone
            raise LinkLost(f"{self.name}: write failed ({exc})") from None

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # also after a link loss: then it sends nothing but releases this connection's D-Bus socket
            try:
                BleLoop.run(client.disconnect(), 5.0)
            except Exception:  # noqa: BLE001 - closing a link that is going away anyway
                pass
        self._lost.set()
        self._q.put(None)
        self._wake()

    async def wait_readable(self, timeout_s: float | None) -> bool:
        """Await (on any event loop) until a notification or a link loss is waiting; False on timeout."""
        if not self._q.empty():
            return True
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        entry = (loop, ev)
        with self._waiters_lock:
            self._waiters.append(entry)
        try:
            if not self._q.empty():
                return True
            try:
                await asyncio.wait_for(ev.wait(), timeout_s)
                return True
            except asyncio.TimeoutError:
                return False
        finally:
            with self._waiters_lock:
                self._waiters.remove(entry)

    def read_char(self, uuid: str, timeout_s: float = 5.0) -> bytes:
        """Read a characteristic (e.g. Battery Level 0x2A19, Firmware Revision 0x2A26)."""
        if self._client is None or self._lost.is_set():
            raise LinkLost(f"{self.name}: link lost")
        try:
            return bytes(BleLoop.run(self._client.read_gatt_char(uuid), timeout_s))
        except Exception as exc:  # noqa: BLE001
            raise DeviceError(f"{self.name}: cannot read {uuid} ({exc})") from None


class BleConnector:
    """A transport factory for `Device`: the first connect finds the roller by name or address,
    reconnects go straight to the address found (and scan for a shorter time, so the backoff keeps
    its rhythm)."""

    def __init__(self, target: str, *, timeout_s: float = 5.0, reconnect_timeout_s: float = 2.0) -> None:
        self.target = check_target(target)
        self.timeout_s = timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.address: str | None = None
        self.connects = 0

    def __call__(self) -> BleTransport:
        first = self.address is None
        t = BleTransport(self.address or self.target,
                         timeout_s=self.timeout_s if first else self.reconnect_timeout_s)
        t.name = f"ble {self.target}"
        self.address = t.address
        self.connects += 1
        return t


def open_ble_device(target: str, *, timeout_s: float = 5.0, **kwargs: Any):
    """Connect to the roller named `target` over BLE and handshake: a `holdsense.link.device.Device`."""
    from .device import Device

    connector = BleConnector(target, timeout_s=timeout_s)
    dev = Device(connector, name=f"ble {connector.target}", **kwargs)
    dev.connect()
    dev.ble = connector  # type: ignore[attr-defined]
    return dev
