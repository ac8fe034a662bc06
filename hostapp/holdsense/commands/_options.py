"""Command-line options shared by every command: their spelling, their checks, and their physical ranges.

One helper adds the connection options to a parser (`--port` now; the BLE
transport adds `--ble NAME|ADDRESS` here, and every command gets it), and one
opens whatever the options name. Session options (`--body-mass`, `--region`,
`--profile`, `--duration`, `-o`) are added the same way, so all commands spell
and check them alike.

Every numeric option of every command is parsed by one of the argparse types
below (`body_mass_kg`, `seconds(...)`, `speed_factor`, `count(...)`, ...):
each checks the value against a physical range when the command line is
parsed, before any work starts, and a bad value is one line on stderr and exit
code 2 (`holdsense: error: argument --body-mass: -5 kg is not a plausible body
mass (10-400 kg)`). Output paths (`output_path`, `plot_path`) are checked the
same way: their folder exists and is writable, a plot's image type is one
matplotlib writes. The ranges are listed in docs/options.md.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError

# ----------------------------------------------------------------------------------------- types

# Body mass a person on a foam roller can have (the detector judges light pressure against body weight).
BODY_MASS_RANGE_KG = (10.0, 400.0)
# Longest wait/duration any option takes (a week): beyond it a typo is likelier than an intent.
MAX_SECONDS = 7 * 24 * 3600.0


def _finite(text: str, what: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number ({what})") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number ({what})")
    return v


def _fmt(v: float) -> str:
    return f"{v:g}"


def number(lo: float, hi: float, *, unit: str = "", what: str, lo_open: bool = False,
           hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in [lo, hi] (`lo_open`/`hi_open` exclude the ends), named `what`."""
    u = f" {unit}" if unit else ""
    rng = f"{'more than ' if lo_open else ''}{_fmt(lo)}{u} to {'less than ' if hi_open else ''}{_fmt(hi)}{u}"

    def parse(text: str) -> float:
        v = _finite(text, what)
        if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
            raise argparse.ArgumentTypeError(f"{text.strip()}{u} is not {what} ({rng})")
        return v

    parse.__name__ = what  # argparse names the type in some of its own messages
    return parse


def integer(lo: int, hi: int, *, what: str) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            v = int(str(text).strip(), 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({what})") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text.strip()} is not {what} ({lo} to {hi})")
        return v

    parse.__name__ = what
    return parse


def seconds(lo: float = 0.0, hi: float = MAX_SECONDS, *, what: str = "a duration in seconds",
            lo_open: bool = True) -> Callable[[str], float]:
    """An argparse type: seconds, more than `lo` (or at least `lo` with lo_open=False) and at most `hi`."""
    return number(lo, hi, unit="s", what=what, lo_open=lo_open)


body_mass_kg = number(*BODY_MASS_RANGE_KG, unit="kg", what="a plausible body mass")
timeout_s = seconds(0.0, 3600.0, what="a timeout in seconds")
duration_s = seconds(0.0, MAX_SECONDS, what="a duration in seconds")
seed = integer(0, 2**32 - 1, what="a random seed")
tcp_port = integer(0, 65535, what="a TCP port")


#: The HX711's two conversion rates (samples per second): its RATE pin low or high.
HX711_RATES = (10, 80)


def hx711_rate(text: str) -> int:
    """`holdsense device rate HZ`: 10 or 80 (the HX711 has no other rate); `80sps`/`80hz` also taken."""
    t = str(text).strip().lower().removesuffix("sps").removesuffix("hz").strip()
    try:
        v = int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an HX711 rate (10 or 80 samples/s)") from None
    if v not in HX711_RATES:
        raise argparse.ArgumentTypeError(f"{text.strip()} is not an HX711 rate (10 or 80 samples/s)")
    return v


hx711_rate.__name__ = "HX711 rate"


def on_off(text: str) -> bool:
    """A switch given as a word: on/off (also yes/no, true/false, 1/0, enable/disable)."""
    t = str(text).strip().lower()
    if t in ("on", "yes", "true", "1", "enable", "enabled"):
        return True
    if t in ("off", "no", "false", "0", "disable", "disabled"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: say on or off")


on_off.__name__ = "on/off"


def speed_factor(text: str) -> float:
    """`--speed`: a factor > 0 (1 = real time, 10 = ten times faster), or 'max' (as fast as possible: inf)."""
    from ..io.player import parse_speed

    try:
        return parse_speed(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--speed: ")) from None


speed_factor.__name__ = "speed factor"


def finite_speed(text: str) -> float:
    """`--speed` of the virtual roller: a factor more than 0 and at most MAX_SPEED (its clock cannot run
    infinitely fast, so unlike `speed_factor` there is no 'max'; messages name only what is accepted)."""
    from ..io.player import MAX_SPEED

    t = str(text).strip()
    rng = f"more than 0 to {MAX_SPEED:g}, e.g. 1 or 10"
    if t.lower() in ("max", "inf"):
        raise argparse.ArgumentTypeError(f"{t}: the virtual roller needs a finite speed factor ({rng}): its "
                                         "clock cannot run infinitely fast")
    try:
        return speed_factor(t)
    except argparse.ArgumentTypeError:  # its message offers 'max', which is refused here
        raise argparse.ArgumentTypeError(f"{t} is not a speed factor for the virtual roller ({rng})") from None


finite_speed.__name__ = "speed factor"


def profile_name(text: str) -> str:
    """`--profile NAME`: a guidance profile rollsignal knows (checked once, at parse time)."""
    name = str(text).strip()
    import rollsignal

    try:
        rollsignal.load_profile(name)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        from ..analysis import profile_error

        raise argparse.ArgumentTypeError(profile_error(name, exc)) from None
    return name


profile_name.__name__ = "profile"


def _check_writable(text: str) -> Path:
    p = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file name")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text}: not writable")
    return p


def output_path(text: str) -> str:
    """An output file: its folder exists and is writable, and it is not a folder itself."""
    _check_writable(text)
    return text


output_path.__name__ = "output file"


def output_with_suffix(*suffixes: str) -> Callable[[str], str]:
    """An output file with one of `suffixes` (e.g. '.csv', '.csv.gz'), checked like `output_path`."""
    def parse(text: str) -> str:
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"{text}: unknown file type (use {' or '.join(suffixes)})")
        return output_path(text)

    parse.__name__ = "output file"
    return parse


def image_types() -> list[str]:
    """File suffixes (no dot) matplotlib can write here."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def plot_path(text: str) -> str:
    """`--plot OUT.png`: an image file type matplotlib writes (png, pdf, svg, ...), in a writable folder."""
    p = _check_writable(text)
    suffix = p.suffix.lower().lstrip(".")
    types = image_types()
    if suffix not in types:
        what = f"'.{suffix}'" if suffix else "no suffix"
        raise argparse.ArgumentTypeError(f"{text}: {what} is not an image type a plot can be written as "
                                         f"(use one of: {', '.join(types)})")
    return text


plot_path.__name__ = "plot file"


def add_jobs_option(parser: argparse.ArgumentParser) -> None:
    """`--jobs N`: files analysed in parallel worker processes (default: all cores)."""
    parser.add_argument("--jobs", "-j", type=integer(1, 1024, what="a number of worker processes"), default=None,
                        metavar="N", help="analyse this many files at once in worker processes "
                                          "(default: one per CPU core; 1: all in this process)")


# ----------------------------------------------------------------------------------------- option groups

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
    g.add_argument("--timeout", type=timeout_s, default=3.0, metavar="S", dest="connect_timeout_s",
                   help="seconds to wait for the roller to answer (default 3)")
    parser.set_defaults(_connection_required=required)


def connection_target(args: argparse.Namespace) -> str:
    """A short description of what the options connect to (for messages)."""
    if getattr(args, "ble", None):
        return f"ble {args.ble}"
    return getattr(args, "port", None) or "?"


def user_profile(args: argparse.Namespace | None = None) -> Any:
    """The stored profile of the person on the roller (holdsense.userprofile), loaded once per command run:
    the client's (`--client NAME`, else $HOLDSENSE_CLIENT, on the commands that take --client), else the
    default profile. An unknown client is a UserError naming the known ones (a typo must not start a new
    person's history)."""
    from .. import userprofile

    cached = getattr(args, "_user_profile", None) if args is not None else None
    if cached is None:
        name = current_client(args)
        if name is None:
            cached = userprofile.load()
        else:
            client = userprofile.load_client(name)
            if client is None:
                raise userprofile.unknown_client_error(name)
            cached = userprofile.with_roller_defaults(client, userprofile.load())
        if args is not None:
            args._user_profile = cached
    return cached


def client_name(text: str) -> str:
    """`--client NAME`: a client's name (spacing collapsed, at most 80 characters)."""
    from ..userprofile import check_name

    try:
        return check_name(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("name: ", "", 1)) from None


client_name.__name__ = "client name"


def add_client_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """`--client NAME`: whose session (profile, recording header, history); default $HOLDSENSE_CLIENT, else
    the default profile."""
    parser.add_argument("--client", metavar="NAME", type=client_name, default=None,
                        help=help or "whose session: that client's profile (holdsense profile --client NAME) and "
                                     "history; default: $HOLDSENSE_CLIENT, else your own (default) profile")


def current_client(args: argparse.Namespace | None) -> str | None:
    """The client the command is for: --client, else $HOLDSENSE_CLIENT; None for the default profile (and on
    commands without --client)."""
    if args is None or not hasattr(args, "client"):
        return None
    if args.client is not None:
        return args.client
    from ..userprofile import client_env

    return client_env()


def history_client(args: argparse.Namespace) -> str | None:
    """The name a session is stored under in the history: the client's name as their profile spells it, or
    None for the default profile (sessions stored without a client, as before clients existed)."""
    return user_profile(args).name if current_client(args) is not None else None


def recorded_person(args: argparse.Namespace) -> str | None:
    """The `client` header value of a recording made now: the client's name, else the default profile's
    name when one is set (None: the recording names nobody)."""
    return user_profile(args).name


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
    kwargs.setdefault("warn", lambda msg: print(f"holdsense: warning: {msg}", file=sys.stderr, flush=True))
    return Device.open(args.port, handshake_timeout_s=args.connect_timeout_s, **kwargs)


def add_session_options(parser: argparse.ArgumentParser, *, region: bool = True, duration: bool = False,
                        output: bool = False) -> None:
    """`--body-mass KG`, `--region NAME`, `--profile NAME`, and optionally `--duration S`, `-o FILE`."""
    g = parser.add_argument_group("session")
    g.add_argument("--body-mass", type=body_mass_kg, metavar="KG", dest="body_mass_kg",
                   help="body mass in kg: light pressure is judged against body weight")
    if region:
        g.add_argument("--region", metavar="NAME", help="body region being rolled (quads, calves, ...)")
    g.add_argument("--profile", type=profile_name, metavar="NAME",
                   help="guidance profile for scoring (default: be-patient)")
    if duration:
        g.add_argument("--duration", type=duration_s, metavar="S", dest="duration_s",
                       help="stop after S seconds (default: until Ctrl-C)")
    if output:
        g.add_argument("-o", "--output", type=output_path, metavar="FILE",
                       help="recording file to write (.csv or .csv.gz)")


def check_session_options(args: argparse.Namespace) -> None:
    """What the argparse types cannot check alone (the numbers were checked when parsed)."""
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
        from ..analysis import profile_error

        raise UserError(profile_error(name, exc)) from None


def add_web_options(parser: Any) -> None:
    g = parser.add_argument_group("web page")
    g.add_argument("--web", action="store_true",
                   help="serve a live page for a phone or laptop (big state, hold timer, force, scores)")
    g.add_argument("--lan", action="store_true",
                   help="serve the page on the local network with a secret token in its URL (printed with "
                        "a QR code); implies --web")
    g.add_argument("--web-port", type=tcp_port, default=DEFAULT_WEB_PORT, metavar="N",
                   help=f"port for the page (default {DEFAULT_WEB_PORT}; 0 picks a free one)")
    g.add_argument("--web-host", metavar="ADDR", help="address to bind (default 127.0.0.1; with --lan 0.0.0.0)")
    g.add_argument("--no-browser", action="store_true", help="do not open a browser on the page")


def terminal_view(args: argparse.Namespace, units: str = "N") -> Any:
    """The terminal view `live` and `replay` show (also beside the --web page): full screen on a terminal,
    plain lines off one or with --plain; forces in `units` (N, kg or lb)."""
    from ..listeners.live import make_view  # (rich and numpy: not for --help)

    return make_view(plain=True if getattr(args, "plain", False) else None, units=units)


def check_web_options(args: Any) -> None:
    if getattr(args, "lan", False):
        args.web = True
    port = getattr(args, "web_port", DEFAULT_WEB_PORT)
    if not 0 <= port <= 65535:
        raise UserError(f"--web-port {port}: not a port number (0-65535)")
