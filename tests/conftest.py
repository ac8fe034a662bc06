"""Every test runs with its own empty config directory: the athlete's profile (holdsense.userprofile)
is never read from or written to the real home, in this process or in CLI subprocesses (they inherit
the environment).

Ctrl-C: a shell starts background jobs (`make test &`, `nohup`) with SIGINT ignored, and an ignored
signal stays ignored across exec, so every CLI subprocess a test sends "Ctrl-C" would ignore it and the
Ctrl-C tests would fail for the launcher's sake. A user at a terminal has SIGINT at its default: so do
the tests and their subprocesses (a handler, unlike SIG_IGN, is reset to the default at exec)."""
from __future__ import annotations

import signal

import pytest

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDSENSE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("HOLDSENSE_CLIENT", raising=False)  # a developer's current client must not leak in
