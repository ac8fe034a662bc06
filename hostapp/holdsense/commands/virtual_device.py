"""`holdsense virtual-device`: the firmware's own code on a pty (or TCP), fed by the simulator."""
from __future__ import annotations

import argparse
from typing import Any

from ._options import finite_speed, integer, seed, tcp_port


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "virtual-device", help="run a simulated roller (the real firmware code) on a pseudo-terminal",
        description="Runs holdsense_fw's sampler, framing and commands under CPython with the simulator's "
                    "body behind fake HX711/AS5600 chips. First stdout line: 'port: <pty path or socket:// URL>'. "
                    "Runs until killed (SIGTERM/SIGINT).")
    p.add_argument("--scenario", default="standard", metavar="NAME|FILE",
                   help="scenario family name or JSON file (default: standard)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the simulated session (default 0)")
    p.add_argument("--link", metavar="PATH",
                   help="also make a symlink to the pty at PATH (a stable name: gone while unplugged, then "
                        "pointing at the new pty); only a free name or an earlier virtual roller's link (a "
                        "symlink to a pty) is taken, anything else there is refused")
    p.add_argument("--tcp", type=tcp_port, metavar="PORT",
                   help="serve on 127.0.0.1:PORT (socket:// URL) instead of a pty; 0 picks a free port")
    p.add_argument("--rate", type=int, default=80, choices=(10, 80), metavar="HZ",
                   help="HX711 rate setting, 10 or 80 SPS (default 80; a real part runs 78-92)")
    p.add_argument("--no-encoder", action="store_true", help="force-only build: no AS5600 fitted")
    p.add_argument("--speed", type=finite_speed, default=1.0, metavar="X", help="device time runs X times faster")
    p.add_argument("--loop", action="store_true", help="repeat the scenario instead of stepping off")
    p.add_argument("--wait-for-start", action="store_true",
                   help="the simulated person steps on when a host first starts streaming (record/live), so "
                        "the session begins with the scenario however late the host connects")
    p.add_argument("--control", metavar="PATH",
                   help='Unix socket taking JSON lines: {"load_kg": 5}, {"unplug_s": 3}, {"reboot": true}, '
                        '{"garbage_bytes": 200}, {"speed": 4} (--speed from now on; at most 4 when started at '
                        '1, any lower speed always), {"query": true}')
    p.add_argument("--state-dir", metavar="DIR",
                   help="keep the device's flash (calibration, settings) in DIR across runs; DIR is made if its "
                        "parent folder exists (default: temporary)")
    p.add_argument("--device-id", type=device_id_hex, metavar="HEX",
                   help="the board's unique id, 12 hex digits (default: one of its own, kept in --state-dir; "
                        "with --ble the BLE address)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="start with the firmware's nominal calibration instead of a bench-calibrated one")
    p.add_argument("--no-rate-pin", action="store_true", help="RATE not wired: set-rate answers 'unsupported'")
    p.add_argument("--replay-capture", metavar="FILE.hscap",
                   help="replay a raw wire capture (holdsense record --capture) instead of simulating: the "
                        "recorded bytes with their timing (scaled by --speed), the host's commands answered from "
                        "the recorded replies (docs/capture.md); --link/--tcp/--control apply, the simulator "
                        "options do not; with --ble the captured frames are notified by the fake BLE peripheral")
    p.add_argument("--ticks-offset-us", type=integer(0, 2**32 - 1, what="a tick offset"), default=0, help=argparse.SUPPRESS)  # tests: start near a wrap
    u = p.add_argument_group("USB link (strict: MicroPython's blocking semantics; holdsense.virtual.usb)")
    u.add_argument("--usb", default="s3", choices=("s3", "c3"),
                   help="whose USB serial to model: s3 TinyUSB CDC (a write waits up to 500 ms per packet) or c3 "
                        "USB-Serial-JTAG (200 ms, then gives up until the host reads); default s3")
    u.add_argument("--usb-host-buffer", type=integer(1, 1 << 24, what="a host buffer size in bytes"), default=None,
                   metavar="BYTES",
                   help="bytes the host side buffers before the device's writes block (default 4096, Linux N_TTY)")
    u.add_argument("--hard-irq", action="store_true",
                   help="ideal hard pin IRQs (exact edge stamps) instead of ESP32-like soft, late, coalesced ones")
    b = p.add_argument_group("BLE (instead of a pty; docs/ble.md)")
    b.add_argument("--ble", action="store_true",
                   help="serve over BLE on a fake BlueZ on a private D-Bus; prints 'ble: NAME ADDRESS' and "
                        "'DBUS_SYSTEM_BUS_ADDRESS=...' to export for the host")
    b.add_argument("--bus", metavar="ADDRESS", help="with --ble: serve on this D-Bus instead of starting one")
    b.add_argument("--ble-address", metavar="MAC",
                   help="with --ble: the roller's BLE address (its name is holdsense-<last two bytes>; default "
                        "7C:DF:A1:00:11:22, or with --replay-capture the captured roller's)")
    b.add_argument("--ble-mtu", type=integer(23, 517, what="an ATT MTU"), default=247, metavar="N", help="with --ble: ATT MTU of the link (default 247)")
    p.set_defaults(func=run)


def device_id_hex(text: str) -> str:
    """A board's unique id as 12 hex digits (6 bytes: what machine.unique_id() gives on an ESP32)."""
    from holdsense.virtual.device import parse_board_uid

    if parse_board_uid(text) is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not 12 hex digits")
    return text.upper()


def run(args: argparse.Namespace) -> int:
    from holdsense.errors import UserError
    from holdsense.virtual.link import DEFAULT_BLE_ADDRESS, BleOptions, serve

    if args.bus and not args.ble:
        raise UserError("--bus needs --ble")
    if args.replay_capture:
        from holdsense.virtual.replay import ReplayVirtualDevice, replay_ble_options

        ble = None
        if args.ble:
            ble = replay_ble_options(args.replay_capture, bus_address=args.bus, address=args.ble_address,
                                     mtu=args.ble_mtu)
        return serve(ReplayVirtualDevice(args.replay_capture, speed=args.speed, link_path=args.link,
                                         tcp_port=args.tcp, ble=ble, control_path=args.control))
    from holdsense.virtual.device import VirtualDevice

    ble = BleOptions(args.bus, args.ble_address or DEFAULT_BLE_ADDRESS, args.ble_mtu) if args.ble else None
    dev = VirtualDevice(args.scenario, seed=args.seed, rate_hz=args.rate, encoder=not args.no_encoder,
                        speed=args.speed, loop=args.loop, link_path=args.link, tcp_port=args.tcp, ble=ble,
                        control_path=args.control, state_dir=args.state_dir, calibrated=not args.uncalibrated,
                        rate_wired=not args.no_rate_pin, ticks_offset_us=args.ticks_offset_us,
                        wait_for_start=args.wait_for_start, usb_port=args.usb,
                        usb_host_buffer=args.usb_host_buffer, soft_irq=not args.hard_irq,
                        device_id=args.device_id)
    return serve(dev)
