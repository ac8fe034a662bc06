"""`holdsense deploy --port P`: copy the installed firmware (holdsense_fw + main.py) to a board with mpremote.

The firmware deployed is the `holdsense_fw` package installed with this host
app, so host and firmware speak the same protocol version. If the board runs
holdsense firmware already, it is first asked to EXIT to the MicroPython
REPL (the app disables Ctrl-C so a 0x03 byte in a frame cannot stop it);
then mpremote copies the files and soft-resets the board, which starts the
new firmware.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import DeviceError, UserError

#: main.py written when the installed holdsense_fw does not carry its own entry text (manifest.MAIN_PY).
DEFAULT_MAIN_PY = "from holdsense_fw.app import main; main()\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="copy the firmware to a MicroPython board with mpremote",
                       description="Copy the holdsense firmware installed with this host app (the holdsense_fw "
                                   "package and a one-line main.py) to a MicroPython board with mpremote, then "
                                   "soft-reset it so the roller starts.")
    p.add_argument("--port", metavar="P", required=True, help="the board's serial port (e.g. /dev/ttyACM0)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the mpremote command instead of running it (the port need not exist)")
    p.add_argument("--no-exit", action="store_true",
                   help="do not ask running holdsense firmware to return to the REPL first")
    p.set_defaults(func=run)


def mpremote_command() -> list[str]:
    """How to run mpremote: $HOLDSENSE_MPREMOTE, the installed module, or one on PATH; UserError if none."""
    env = os.environ.get("HOLDSENSE_MPREMOTE")
    if env:
        cmd = shlex.split(env)
        if not cmd or shutil.which(cmd[0]) is None:
            raise UserError(f"mpremote not found: HOLDSENSE_MPREMOTE={env!r} is not a program")
        return cmd
    if importlib.util.find_spec("mpremote") is not None:
        return [sys.executable, "-m", "mpremote"]
    found = shutil.which("mpremote")
    if found:
        return [found]
    raise UserError("mpremote not found: install it with 'pip install mpremote' (or pip install 'holdsense[dev]')")


def firmware_files() -> tuple[Path, list[Path], str]:
    """The installed holdsense_fw package: its folder, its .py files (relative), and the main.py text."""
    spec = importlib.util.find_spec("holdsense_fw")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the holdsense_fw firmware package is not installed with this holdsense")
    pkg = Path(list(spec.submodule_search_locations)[0])
    files = sorted(p.relative_to(pkg) for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise UserError(f"{pkg}: the firmware package holds no files")
    # the firmware package says what its one-line main.py is (holdsense_fw.manifest.MAIN_PY), so a wheel
    # install (which has no firmware/main.py) deploys the same entry as a clone
    try:
        from holdsense_fw import manifest

        main_py = getattr(manifest, "MAIN_PY", None)
    except Exception:  # noqa: BLE001 - a firmware import problem must not hide the copy
        main_py = None
    if not main_py:
        beside = pkg.parent / "main.py"  # a clone / editable install: firmware/main.py
        main_py = beside.read_text() if beside.is_file() else DEFAULT_MAIN_PY
    return pkg, files, main_py


def build_command(mp: list[str], port: str, pkg: Path, files: list[Path], main_path: Path) -> list[str]:
    """One mpremote invocation chaining: make folders, copy every file, copy main.py, soft-reset."""
    dirs = sorted({str(Path("holdsense_fw") / f.parent) for f in files} | {"holdsense_fw"}, key=len)
    mk = ("import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"
          % [d.replace(os.sep, "/") for d in dirs])
    cmd = mp + ["connect", port, "exec", mk]
    for f in files:
        cmd += ["+", "fs", "cp", str(pkg / f), ":" + str(Path("holdsense_fw") / f).replace(os.sep, "/")]
    cmd += ["+", "fs", "cp", str(main_path), ":main.py", "+", "soft-reset"]
    return cmd


def ask_firmware_to_exit(port: str) -> bool:
    """If holdsense firmware answers on `port`, ask it back to the REPL; False when nothing answered."""
    from ..link.device import Device

    try:
        dev = Device.open(port, handshake_timeout_s=1.0, reconnect=False)
    except DeviceError:
        return False
    try:
        dev.exit_to_repl()
        return True
    except DeviceError:
        return False
    finally:
        dev.close()


def dry_run(args: argparse.Namespace, mp: list[str], pkg: Path, files: list[Path], main_py: str) -> int:
    """Print what a deploy would run, touching neither the port (it may not exist yet: a board to be plugged
    in, a command to paste elsewhere) nor the file system. main.py is named relative to the current folder,
    with the text it must hold, because a real deploy writes it to a temporary file that would be gone."""
    if not args.no_exit:
        print(f"# first, holdsense deploy asks holdsense firmware on {args.port} to return to the REPL "
              "(--no-exit skips it)")
    text = main_py.strip().replace("\n", "\\n")  # one line (it is: holdsense_fw.manifest.MAIN_PY)
    print(f"# needs ./main.py holding: {text}")
    print(shlex.join(build_command(mp, args.port, pkg, files, Path("main.py"))))
    return 0


def run(args: argparse.Namespace) -> int:
    port = args.port
    mp = mpremote_command()
    pkg, files, main_py = firmware_files()
    if args.dry_run:
        return dry_run(args, mp, pkg, files, main_py)
    if "://" not in port and not os.path.exists(port):
        raise UserError(f"{port}: no such serial port (is the board plugged in? try 'holdsense devices')")
    with tempfile.TemporaryDirectory(prefix="holdsense-deploy-") as tmp:
        main_path = Path(tmp) / "main.py"
        main_path.write_text(main_py)
        cmd = build_command(mp, port, pkg, files, main_path)
        if not args.no_exit and ask_firmware_to_exit(port):
            print(f"holdsense firmware on {port} returned to the REPL", file=sys.stderr)
        print(f"copying {len(files)} firmware files and main.py to {port} ...", file=sys.stderr)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise UserError(f"{port}: mpremote did not finish within 300 s (is it a MicroPython board?)") from None
        except OSError as exc:
            raise UserError(f"cannot run mpremote ({exc})") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise UserError(f"{port}: mpremote failed: {last}")
    print(f"deployed holdsense_fw ({len(files)} files) and main.py to {port}; the board restarted")
    return 0
