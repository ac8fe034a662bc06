"""`holdsense devices [--probe PORT] [--json]`: find holdsense rollers on serial ports.

Only ports of USB boards a holdsense roller is built on are asked anything:
they are filtered by USB vendor/product id *before any byte is written*, so
a 3-D printer, a GPS or a modem on another port is never sent a command.
`--probe PORT` asks one port (any path or pyserial URL) regardless.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import DeviceError, UserError
from ..fmt import plural
from ._options import seconds, timeout_s

#: USB ids of boards and bridges a holdsense roller uses: (vid, pid or None for any, what).
KNOWN_USB: tuple[tuple[int, int | None, str], ...] = (
    (0x303A, None, "Espressif USB (ESP32-S3/C3)"),
    (0x10C4, 0xEA60, "Silicon Labs CP210x"),
    (0x1A86, 0x7523, "WCH CH340"),
    (0x1A86, 0x55D4, "WCH CH9102"),
    (0x0403, None, "FTDI"),
    (0x2E8A, None, "Raspberry Pi RP2040 (Pico W)"),
)


def board_kind(vid: int | None, pid: int | None) -> str | None:
    """What board a USB id belongs to, or None when it is not one holdsense runs on."""
    if vid is None:
        return None
    for kv, kp, what in KNOWN_USB:
        if vid == kv and (kp is None or pid == kp):
            return what
    return None


@dataclass
class Candidate:
    port: str
    usb: str
    vid: int | None
    pid: int | None
    serial_number: str | None = None


def candidate_ports(ports: Iterable[Any]) -> tuple[list[Candidate], list[Any]]:
    """Split pyserial ListPortInfo objects into known boards (to probe) and others (never touched)."""
    known, other = [], []
    for p in ports:
        what = board_kind(getattr(p, "vid", None), getattr(p, "pid", None))
        if what:
            known.append(Candidate(p.device, what, p.vid, p.pid, getattr(p, "serial_number", None)))
        else:
            other.append(p)
    return known, other


def probe(port: str, timeout_s: float = 1.5) -> dict[str, Any]:
    """Handshake one port; the roller's description, or DeviceError."""
    from ..link.device import Device

    dev = Device.open(port, handshake_timeout_s=timeout_s, reconnect=False)
    try:
        info = dev.info
        out: dict[str, Any] = {"port": port, "fw_version": info.fw_version,
                               "protocol": f"{info.proto_major}.{info.proto_minor}", "board": info.board,
                               "device_id": info.device_id, "sensors": info.sensor_names, "rate_hz": info.rate_hz,
                               "calibrated": info.calibration.fitted}
        try:
            out.update({k: v for k, v in dev.battery().items() if v is not None})
        except DeviceError:
            pass  # battery is optional; an older roller may not answer it
        return out
    finally:
        dev.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list holdsense rollers on serial ports and Bluetooth LE",
                       description="List holdsense rollers: serial ports of known USB boards (Espressif, CP210x, "
                                   "CH340/CH9102, FTDI, RP2040) are asked who they are; other ports are never "
                                   "written to. --probe asks one port (a path or pyserial URL). Rollers advertising over "
                                   "Bluetooth LE are listed with RSSI, firmware and battery (without connecting); if "
                                   "BLE is unavailable the serial rollers are still listed and the reason is given.")
    p.add_argument("--probe", metavar="PORT", help="ask one port, whatever it is")
    p.add_argument("--json", action="store_true", help="one JSON object per roller")
    p.add_argument("--timeout", type=timeout_s, default=1.5, metavar="S", dest="timeout_s",
                   help="seconds each port gets to answer (default 1.5)")
    p.add_argument("--ble-scan", type=seconds(0.0, 600.0, what="a scan time in seconds"), default=3.0, metavar="S", dest="ble_scan_s",
                   help="seconds to listen for Bluetooth LE rollers (default 3)")
    p.add_argument("--no-ble", action="store_true", help="serial ports only: no Bluetooth LE scan")
    p.set_defaults(func=run)


def describe(d: dict[str, Any]) -> str:
    bits = [d["port"], f"fw {d['fw_version']}", f"protocol {d['protocol']}", d["board"], f"id {d['device_id']}",
            "sensors " + "+".join(d["sensors"]), f"{d['rate_hz']} Hz",
            "calibrated" if d.get("calibrated") else "nominal calibration"]
    if d.get("battery_pct") is not None:
        bits.append(f"battery {d['battery_pct']}%")
    if d.get("usb"):
        bits.append(f"[{d['usb']}]")
    return "  ".join(bits)


def run(args: argparse.Namespace, *, list_ports: Callable[[], list[Any]] | None = None) -> int:
    if args.probe:
        d = probe(args.probe, args.timeout_s)  # DeviceError: one clear line, exit 2
        print(json.dumps(d) if args.json else describe(d))
        return 0
    if list_ports is None:
        from serial.tools import list_ports as lp

        list_ports = lp.comports
    known, other = candidate_ports(list_ports())
    found = 0
    for c in known:
        try:
            d = probe(c.port, args.timeout_s)
        except DeviceError as exc:
            print(f"holdsense: {c.port} ({c.usb}): not a holdsense roller: {exc}", file=sys.stderr)
            continue
        d["usb"] = c.usb
        found += 1
        print(json.dumps(d) if args.json else describe(d), flush=True)
    no_ble = getattr(args, "no_ble", False)
    ble_found = 0 if no_ble else list_ble(getattr(args, "ble_scan_s", 3.0), args.json)
    if not found:
        skipped = f"; {plural(len(other), 'other serial port')} not asked" if other else ""
        print(f"holdsense: no roller found on {plural(len(known), 'known USB board port')}{skipped}. "
              f"Is it plugged in (a data cable, not charge-only)? For a virtual device or a network "
              f"bridge, use --probe PORT.", file=sys.stderr)
    if not no_ble and ble_found == 0:
        print("holdsense: no roller heard over Bluetooth LE (switched on? not connected to another host?)",
              file=sys.stderr)
    return 0


def describe_ble(a: dict[str, Any]) -> str:
    bits = [a["name"], a["address"], "BLE",
            f"RSSI {a['rssi_dbm']} dBm" if a.get("rssi_dbm") is not None else "RSSI ?"]
    if a.get("fw_version"):
        bits.append(f"fw {a['fw_version']}")
    if a.get("protocol") is not None:
        bits.append(f"protocol {a['protocol']}")
    if a.get("battery_pct") is not None:
        bits.append(f"battery {a['battery_pct']}%")
    if a.get("streaming"):
        bits.append("(streaming)")
    return "  ".join(bits)


def list_ble(scan_s: float, as_json: bool) -> int | None:
    """Print the rollers heard over BLE; None (and why, on stderr) when BLE is unavailable."""
    if not scan_s > 0:
        raise UserError(f"--ble-scan {scan_s:g}: must be a positive number of seconds")
    from ..link import ble

    try:
        adverts = ble.scan(scan_s)
    except DeviceError as exc:
        print(f"holdsense: Bluetooth LE skipped: {str(exc).removeprefix('BLE unavailable: ')}", file=sys.stderr)
        return None
    for a in adverts:
        d = {"ble": a.name, **a.to_dict()}
        print(json.dumps(d) if as_json else describe_ble(d), flush=True)
    return len(adverts)
