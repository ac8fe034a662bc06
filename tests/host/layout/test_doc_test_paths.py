"""The test files the floor docs point to exist: docs/web.md named tests/host/test_web.py and
tests/host/test_live_floor.py, which live in tests/host/listeners/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("doc", ["docs/web.md", "docs/live.md", "docs/ble.md"])
def test_named_test_files_exist(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/.-]+\.py)`", text))
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"{doc} names test files that do not exist: {missing}"
