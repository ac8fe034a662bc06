"""Fixtures for the BLE tests: a private dbus-daemon per test, the fake BlueZ's virtual roller on it,
and the stand-in `bluetoothctl` first on PATH. The real bleak BlueZ backend does the rest.

Without `dbus-daemon` (Debian package `dbus`; `make test` installs it when run as root) these
tests skip and say so. No system bus is touched: DBUS_SYSTEM_BUS_ADDRESS points at the private one.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from holdsense.virtual.fakebluez import DBUS_PACKAGE, PrivateBus, find_dbus_daemon
from holdsense.virtual.process import send_control

HERE = Path(__file__).resolve().parent


def need_dbus() -> None:
    if find_dbus_daemon() is None:
        pytest.skip(f"dbus-daemon not found: install the Debian package '{DBUS_PACKAGE}' "
                    f"(`make test` does it when run as root) to run the BLE tests")


@pytest.fixture
def ble_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A private bus for this test; DBUS_SYSTEM_BUS_ADDRESS and PATH (stand-in bluetoothctl) set.
    Yields the environment for subprocesses."""
    need_dbus()
    bus = PrivateBus()
    addr = bus.start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
    monkeypatch.setenv("PATH", f"{HERE}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        yield dict(os.environ)
    finally:
        from holdsense.link.ble import BleLoop

        BleLoop.shutdown()  # bleak's BlueZ manager lives on that loop: the next test gets a fresh one
        bus.stop()


class Roller:
    """`holdsense virtual-device --ble` on the test's bus: name, address, control(), query()."""

    def __init__(self, proc: subprocess.Popen, name: str, address: str, control_path: str) -> None:
        self.proc, self.name, self.address, self.control_path = proc, name, address, control_path

    def control(self, obj: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        return send_control(self.control_path, obj, timeout_s)

    def query(self) -> dict[str, Any]:
        return self.control({"query": True})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def read_lines(proc: subprocess.Popen, n: int, timeout_s: float) -> list[str]:
    """The first `n` stdout lines of `proc` (read unbuffered, so select() sees every line), or fail
    with its stderr."""
    buf = b""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while buf.count(b"\n") < n:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        part = os.read(fd, 4096) if ready else b""
        if not part:
            proc.kill()
            proc.wait()
            err = proc.stderr.read() if proc.stderr else b""
            for f in (proc.stdout, proc.stderr):
                if f:
                    f.close()
            raise AssertionError(f"process did not start: {buf!r} {err[-2000:]!r}")
        buf += part
    return [x.decode().strip() for x in buf.split(b"\n")[:n]]


@pytest.fixture
def roller_factory(ble_env: dict[str, str], tmp_path: Path) -> Iterator:
    rollers: list[Roller] = []

    def start(*args: str, speed: float = 2.0, scenario: str = "standard") -> Roller:
        control = str(tmp_path / f"control{len(rollers)}.sock")
        cmd = [sys.executable, "-m", "holdsense.cli", "virtual-device", "--ble", "--bus",
               ble_env["DBUS_SYSTEM_BUS_ADDRESS"], "--control", control, "--speed", str(speed),
               "--scenario", scenario, "--loop", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=ble_env)
        ble_line, bus_line, control_line = read_lines(proc, 3, 60.0)
        _, name, address = ble_line.split()
        assert bus_line == f"DBUS_SYSTEM_BUS_ADDRESS={ble_env['DBUS_SYSTEM_BUS_ADDRESS']}"
        assert control_line == f"control: {control}"
        r = Roller(proc, name, address, control)
        rollers.append(r)
        return r

    yield start
    for r in rollers:
        r.stop()


@pytest.fixture
def roller(roller_factory) -> Roller:
    return roller_factory()


@pytest.fixture
def demo_env() -> dict[str, str]:
    """Environment for a `virtual-device --ble` demo run: stand-in bluetoothctl on PATH, no bus set yet
    (the virtual device starts its own and prints the address to export)."""
    need_dbus()
    env = dict(os.environ, PATH=f"{HERE}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    return env


@pytest.fixture
def first_lines():
    """read_lines(proc, n, timeout_s) for tests."""
    return read_lines
