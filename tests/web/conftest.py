"""Real-browser fixtures: Playwright for Python driving Debian's Chromium (not a downloaded one).

Skips with a message naming what to install when Chromium or Playwright is missing (`make test` as root
installs Debian's `chromium` through .ci/sysdeps; `pip install -e '.[dev]'` brings Playwright).
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    env = os.environ.get("HOLDSENSE_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


# module scope, not session: while sync_playwright() is open its event loop counts as running in the
# main thread, so any later test in the same worker that calls asyncio.run() (the firmware board tests)
# fails with "cannot be called from a running event loop"; pytest closes a module's fixture before the
# next module's tests run
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = chromium_path()
    if exe is None:
        pytest.skip("Chromium not found: install Debian's 'chromium' package (apt-get install chromium), "
                    "or set HOLDSENSE_CHROMIUM to a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python not installed: pip install -e '.[dev]' (or pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class HoldsenseProcess:
    """A `holdsense ...` subprocess serving the web page; `url` is the page's URL it printed."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, start_timeout_s: float = 90.0) -> None:
        self.log = log
        self._err = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
        self.url = ""
        deadline = time.monotonic() + start_timeout_s
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                line = self.proc.stderr.readline()
                if not line and self.proc.poll() is not None:
                    break
                self._err.write(line)
                m = re.search(r"web page: (http://\S+)", line)
                if m:
                    self.url = m.group(1)
                    break
        if not self.url:
            self.stop()
            raise RuntimeError(f"holdsense did not serve the page: {log.read_text()}")
        # keep draining stderr to the log (a full pipe would block the process)
        import threading

        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self._err.write(line)
                self._err.flush()
            except ValueError:
                return

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        drainer = getattr(self, "_drainer", None)
        if drainer is not None:
            drainer.join(5)  # the pipe ends with the process
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        try:
            self._err.close()
        except ValueError:
            pass
        return self.proc.returncode


@pytest.fixture
def hs_env(tmp_path: Path) -> dict[str, str]:
    """Environment for holdsense subprocesses: a private config dir (profile), unbuffered output, CI-like."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HOLDSENSE_CONFIG_DIR=str(tmp_path / "config"))
    env.pop("HOLDSENSE_HISTORY", None)
    return env


@pytest.fixture
def serve_page(tmp_path: Path, hs_env: dict[str, str]) -> Iterator[object]:
    """serve_page(args...) -> HoldsenseProcess; every process is stopped at the end of the test."""
    procs: list[HoldsenseProcess] = []

    def start(*args: str) -> HoldsenseProcess:
        p = HoldsenseProcess(list(args), hs_env, tmp_path / f"holdsense-{len(procs)}.log")
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()
