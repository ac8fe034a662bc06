"""Run the `holdsense` CLI as a subprocess so that a rare hang can be understood from the failure alone."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator


def cli_popen(args: list[Any], *, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
    """`python -m holdsense.cli ARGS` started with stdin closed, its output piped, and faulthandler on (so
    that `wait_cli` can have it print its thread stacks if it hangs)."""
    e = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    return subprocess.Popen([sys.executable, "-m", "holdsense.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=e, **kw)


def wait_cli(proc: subprocess.Popen, *, timeout: float = 120,
             diagnose: Callable[[], Any] | None = None) -> tuple[str, str]:
    """(stdout, stderr) of `proc` once it ends. If it outlives `timeout` seconds, fail with its thread stacks
    (faulthandler, dumped on SIGABRT), its output and `diagnose()` (for example the virtual device's own
    state), taken while it still hangs."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            state = diagnose() if diagnose is not None else None
        except Exception as exc:  # the hang may be the device's: say so rather than fail here
            state = f"(no answer: {exc!r})"
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"{' '.join(map(str, proc.args[3:5]))} still running after {timeout} s; "
                             f"state: {state}\nstdout tail: {out[-1500:]}\n"
                             f"stderr (with its stacks): {err[-6000:]}") from None


def run_cli(args: list[Any], *, timeout: float = 120, env: dict[str, str] | None = None,
            diagnose: Callable[[], Any] | None = None) -> subprocess.CompletedProcess:
    """`cli_popen` then `wait_cli`: the finished command."""
    proc = cli_popen(args, env=env)
    out, err = wait_cli(proc, timeout=timeout, diagnose=diagnose)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextlib.contextmanager
def running_cli(args: list[Any], *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """`cli_popen` for a test that acts while the command runs: killed (and reaped) if still running when
    the block is left, so a failed test leaves no recorder retrying behind it."""
    proc = cli_popen(args, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@contextlib.contextmanager
def virtual_roller_cli(tmp_path: Path, *, speed: float = 10.0, control: bool = False,
                       env: dict[str, str] | None = None) -> Iterator[tuple[str, str | None]]:
    """`holdsense virtual-device` (standard scenario, seed 3, looped) at `speed` x device time as a subprocess;
    yields (port path, control socket path or None). Its stderr goes to tmp_path/virtual-device.log."""
    link, ctl = tmp_path / "roller", tmp_path / "ctl.sock"
    log = open(tmp_path / "virtual-device.log", "w")
    cmd = [sys.executable, "-m", "holdsense.cli", "virtual-device", "--scenario", "standard", "--seed", "3",
           "--speed", str(speed), "--loop", "--link", str(link)] + (["--control", str(ctl)] if control else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                            env=env or dict(os.environ, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL)
    try:
        first = proc.stdout.readline()
        assert first.startswith("port:"), first + (tmp_path / "virtual-device.log").read_text()
        yield str(link), (str(ctl) if control else None)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        log.close()
