"""Run the `holdsense` CLI as a subprocess so that a rare hang can be understood from the failure alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, Callable


def run_cli(args: list[Any], *, timeout: float = 120, env: dict[str, str] | None = None,
            diagnose: Callable[[], Any] | None = None) -> subprocess.CompletedProcess:
    """`python -m holdsense.cli ARGS` with stdin closed and its output captured. If it outlives `timeout`
    seconds, fail with its thread stacks (faulthandler, dumped on SIGABRT), its output and `diagnose()`
    (for example the virtual device's own state), taken while it still hangs."""
    e = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=e)
    try:
        out, err = proc.communicate(timeout=timeout)
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
        raise AssertionError(f"holdsense {args[0]} still running after {timeout} s; state: {state}\n"
                             f"stdout tail: {out[-1500:]}\nstderr (with its stacks): {err[-6000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
