"""Every test runs with its own empty config directory: the athlete's profile (holdsense.userprofile)
is never read from or written to the real home, in this process or in CLI subprocesses (they inherit
the environment)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDSENSE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
