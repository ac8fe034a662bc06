"""Every test runs with its own empty config directory: the athlete's profile (holdsense.userprofile)
is never read from or written to the real home, in this process or in CLI subprocesses (they inherit
the environment).

Ctrl-C: a shell starts background jobs (`make test &`, `nohup`) with SIGINT ignored, and an ignored
signal stays ignored across exec, so every CLI subprocess a test sends "Ctrl-C" would ignore it and the
Ctrl-C tests would fail for the launcher's sake. A user at a terminal has SIGINT at its default: so do
the tests and their subprocesses (a handler, unlike SIG_IGN, is reset to the default at exec)."""
from __future__ import annotations

import importlib.util
import signal
import sys

import pytest

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode for the three packages, once, before any test starts a CLI subprocess.

    With PYTHONDONTWRITEBYTECODE set (some CI runners and sandboxes set it) no `__pycache__` is ever
    written, so each of the several hundred `python -m holdsense.cli ...` subprocesses the suite starts
    compiled ~130 modules again: about 0.15 s of CPU each. compileall writes the same files a first
    import would write without that variable (gitignored; up-to-date ones are left alone). Only in the
    first process (the xdist controller, or the one process): the workers start after it."""
    if hasattr(config, "workerinput") or not sys.dont_write_bytecode:
        return
    import compileall

    for name in ("holdsense", "rollsignal", "holdsense_fw"):
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDSENSE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("HOLDSENSE_CLIENT", raising=False)  # a developer's current client must not leak in
