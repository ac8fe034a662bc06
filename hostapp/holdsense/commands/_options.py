"""Command-line options shared by every command that talks to a roller or runs the detector.

One helper adds the connection options to a parser (`--port` now; the BLE
transport adds `--ble NAME|ADDRESS` here, and every command gets it), and one
opens whatever the options name. Session options (`--body-mass`, `--region`,
`--profile`, `--duration`, `-o`) are added the same way, so all commands spell
and check them alike.
"""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import UserError

#: The live web page's port (`--web-port`): fixed, so a phone can keep a bookmark.
DEFAULT_WEB_PORT = 8765


def add_connection_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """`--port P`: a serial device (/dev/ttyACM0, a pty such as /tmp/roller) or a pyserial URL;
    or `--ble NAME|ADDRESS`: a roller over Bluetooth LE (holdsense.link.ble)."""
    g = parser.add_argument_group("connection")
    g.add_argument("--port", metavar="P",
                   help="serial port or pyserial URL (/dev/ttyACM0, /tmp/roller, socket://host:port, rfc2217://...)")
    g.add_argument("--ble", metavar="NAME|ADDRESS",
                   help="a roller over Bluetooth LE: its name (holdsense-1122) or address (see 'holdsense devices')")
    g.add_argument("--timeout", type=float, default=3.0, metavar="S", dest="connect_timeout_s",
                   help="seconds to wait for the roller to answer (default 3)")
    parser.set_defaults(_connection_required=required)


def connection_target(args: argparse.Namespace) -> str:
    """A short description of what the options connect to (for messages)."""
    if getattr(args, "ble", None):
        return f"ble {args.ble}"
    return getattr(args, "port", None) or "?"


def user_profile(args: argparse.Namespace | None = None) -> Any:
    """The athlete's stored profile (holdsense.userprofile), loaded once per command run."""
    from .. import userprofile

    cached = getattr(args, "_user_profile", None) if args is not None else None
    if cached is None:
        cached = userprofile.load()
        if args is not None:
            args._user_profile = cached
    return cached


def apply_default_link(args: argparse.Namespace) -> None:
    """No --port and no --ble: use the profile's default link (`holdsense profile --link`), if any."""
    if getattr(args, "port", None) or getattr(args, "ble", None):
        return
    from ..userprofile import default_link_args

    port, ble = default_link_args(user_profile(args).default_link)
    if port:
        args.port = port
    elif ble:
        args.ble = ble


def profile_body_mass(args: argparse.Namespace) -> float | None:
    """--body-mass if given, else the profile's body mass (None when neither is set)."""
    mass = getattr(args, "body_mass_kg", None)
    return mass if mass is not None else user_profile(args).body_mass_kg


def check_connection_options(args: argparse.Namespace) -> None:
    if getattr(args, "port", None) and getattr(args, "ble", None):
        raise UserError("--port and --ble both given: choose one link to the roller")
    if getattr(args, "_connection_required", True):
        apply_default_link(args)
    if getattr(args, "_connection_required", True) and not (getattr(args, "port", None) or getattr(args, "ble", None)):
        raise UserError("no roller given: use --port P or --ble NAME (see 'holdsense devices' for the rollers "
                        "found; 'holdsense profile --link' sets a default)")
    t = getattr(args, "connect_timeout_s", 3.0)
    if t is not None and not t > 0:
        raise UserError(f"--timeout {t:g}: must be a positive number of seconds")


def open_device(args: argparse.Namespace, **kwargs: Any):
    """Open and handshake the roller named by the connection options (a `holdsense.link.device.Device`)."""
    from ..link.device import Device

    check_connection_options(args)
    if getattr(args, "ble", None):
        from ..link.ble import open_ble_device

        return open_ble_device(args.ble, timeout_s=args.connect_timeout_s,
                               handshake_timeout_s=args.connect_timeout_s, **kwargs)
    return Device.open(args.port, handshake_timeout_s=args.connect_timeout_s, **kwargs)


def add_session_options(parser: argparse.ArgumentParser, *, region: bool = True, duration: bool = False,
                        output: bool = False) -> None:
    """`--body-mass KG`, `--region NAME`, `--profile NAME`, and optionally `--duration S`, `-o FILE`."""
    g = parser.add_argument_group("session")
    g.add_argument("--body-mass", type=float, metavar="KG", dest="body_mass_kg",
                   help="body mass in kg: light pressure is judged against body weight")
    if region:
        g.add_argument("--region", metavar="NAME", help="body region being rolled (quads, calves, ...)")
    g.add_argument("--profile", metavar="NAME", help="guidance profile for scoring (default: be-patient)")
    if duration:
        g.add_argument("--duration", type=float, metavar="S", dest="duration_s",
                       help="stop after S seconds (default: until Ctrl-C)")
    if output:
        g.add_argument("-o", "--output", metavar="FILE", help="recording file to write (.csv or .csv.gz)")


def check_session_options(args: argparse.Namespace) -> None:
    mass = getattr(args, "body_mass_kg", None)
    if mass is not None and not (10 <= mass <= 400):
        raise UserError(f"--body-mass {mass:g} kg is not a plausible body mass (10–400 kg)")
    dur = getattr(args, "duration_s", None)
    if dur is not None and not dur > 0:
        raise UserError(f"--duration {dur:g}: must be a positive number of seconds")
    region = getattr(args, "region", None)
    if region is not None and (not region.strip() or "\n" in region):
        raise UserError("--region: give a name such as quads, calves, hamstrings")


def load_profile_option(args: argparse.Namespace) -> Any:
    """The rollsignal profile named by `--profile`, or None for the default."""
    name = getattr(args, "profile", None)
    if not name:
        return None
    import rollsignal

    try:
        return rollsignal.load_profile(name)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"unknown profile '{name}' ({exc})") from None


def add_web_options(parser: Any) -> None:
    g = parser.add_argument_group("web page")
    g.add_argument("--web", action="store_true",
                   help="serve a live page for a phone or laptop (big state, hold timer, force, scores)")
    g.add_argument("--lan", action="store_true",
                   help="serve the page on the local network with a secret token in its URL (printed with "
                        "a QR code); implies --web")
    g.add_argument("--web-port", type=int, default=DEFAULT_WEB_PORT, metavar="N",
                   help=f"port for the page (default {DEFAULT_WEB_PORT}; 0 picks a free one)")
    g.add_argument("--web-host", metavar="ADDR", help="address to bind (default 127.0.0.1; with --lan 0.0.0.0)")
    g.add_argument("--no-browser", action="store_true", help="do not open a browser on the page")


def check_web_options(args: Any) -> None:
    if getattr(args, "lan", False):
        args.web = True
    port = getattr(args, "web_port", DEFAULT_WEB_PORT)
    if not 0 <= port <= 65535:
        raise UserError(f"--web-port {port}: not a port number (0-65535)")
