"""Start `holdsense virtual-device` as a subprocess for tests and tools.

    with spawn(scenario="standard", speed=10, link="/tmp/roller") as dev:
        dev.port              # pty path (or socket:// URL with tcp=0)
        dev.control({"load_kg": 5})   # -> the device's JSON reply
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator


def send_control(control_path: str, obj: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """One JSON line to a virtual device's --control socket; its one-line JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(control_path)
        s.sendall((json.dumps(obj) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            part = s.recv(65536)
            if not part:
                break
            buf += part
    return json.loads(buf)


class VirtualDeviceProcess:
    """A running virtual device: `port` (None over BLE), `control_path`, `proc`; `control(obj)` sends one
    command. Over BLE (`spawn(ble=True)`): `ble_name`, `ble_address` and `bus_address` (the private D-Bus to
    give bleak as DBUS_SYSTEM_BUS_ADDRESS)."""

    def __init__(self, proc: subprocess.Popen[str], port: str | None, control_path: str, *,
                 ble_name: str | None = None, ble_address: str | None = None, bus_address: str | None = None) -> None:
        self.proc = proc
        self.port = port
        self.control_path = control_path
        self.ble_name = ble_name
        self.ble_address = ble_address
        self.bus_address = bus_address

    def control(self, obj: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Send one JSON object to the --control socket and return the device's reply."""
        return send_control(self.control_path, obj, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def spawn(scenario: str = "standard", *, seed: int = 0, speed: float = 1.0, rate_hz: int = 80,
          encoder: bool = True, loop: bool = False, wait_for_start: bool = False, link: str | None = None,
          tcp: int | None = None, ble: bool = False,
          extra_args: list[str] | None = None, start_timeout_s: float = 30.0) -> Iterator[VirtualDeviceProcess]:
    """Run `holdsense virtual-device` with a private control socket; yields once its port is up.
    ble: serve on a fake BlueZ on its own private D-Bus instead of a pty (needs dbus-daemon)."""
    tmp = tempfile.mkdtemp(prefix="holdsense-vd-")
    control = os.path.join(tmp, "control.sock")
    cmd = [sys.executable, "-m", "holdsense.cli", "virtual-device", "--scenario", scenario, "--seed", str(seed),
           "--speed", str(speed), "--rate", str(rate_hz), "--control", control]
    if not encoder:
        cmd.append("--no-encoder")
    if loop:
        cmd.append("--loop")
    if wait_for_start:
        cmd.append("--wait-for-start")
    if link:
        cmd += ["--link", link]
    if tcp is not None:
        cmd += ["--tcp", str(tcp)]
    if ble:
        cmd.append("--ble")
    cmd += extra_args or []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    dev = None
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], start_timeout_s)
        line = proc.stdout.readline() if ready else ""
        bus = proc.stdout.readline() if line.startswith("ble: ") else ""  # printed right after, flushed
        if not (line.startswith("port: ") or bus.startswith("DBUS_SYSTEM_BUS_ADDRESS=")):
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"virtual device did not start: {line!r} {err.strip()}")
        if bus:
            _, name, address = line.split()
            dev = VirtualDeviceProcess(proc, None, control, ble_name=name, ble_address=address,
                                       bus_address=bus.strip().partition("=")[2])
        else:
            dev = VirtualDeviceProcess(proc, line[len("port: "):].strip(), control)
        yield dev
    finally:
        if dev is not None:
            dev.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f:
                f.close()
        try:
            os.rmdir(tmp)
        except OSError:
            pass
