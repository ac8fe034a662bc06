"""`import rollsignal` stays cheap: the scipy-backed detector loads on first use (CLI start-up time)."""
from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_types_import_without_scipy() -> None:
    out = _run("import sys, rollsignal; from rollsignal import SampleChunk, load_profile; "
               "print('scipy' in sys.modules, 'rollsignal.detector' in sys.modules)")
    assert out == "False False"


def test_detector_names_load_lazily() -> None:
    out = _run("import sys, rollsignal; d = rollsignal.Detector; from rollsignal import analyze; "
               "print('scipy' in sys.modules, d is rollsignal.detector.Detector, 'analyze' in dir(rollsignal))")
    assert out == "True True True"


def test_unknown_attribute_is_an_attribute_error() -> None:
    out = _run("import rollsignal\ntry:\n    rollsignal.nope\nexcept AttributeError as e:\n    print('ok', e)")
    assert out.startswith("ok") and "nope" in out
