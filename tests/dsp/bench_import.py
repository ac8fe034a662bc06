"""Import a bench/ script as a module in DSP tests (bench/ is not a package; its scripts import their sibling
`sessions`, so bench/ is on sys.path while the import runs)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> ModuleType:
    """bench/<name>.py, imported once (later calls return the same module)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
