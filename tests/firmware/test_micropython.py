"""The firmware's pure modules under the real MicroPython interpreter (WebAssembly port on Node).

`make test` installs the npm package from tests/firmware/package.json (`make node`);
without node/npm or node_modules this test skips and says what to install.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PKG = HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


@pytest.mark.micropython
def test_firmware_under_real_micropython():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: install nodejs and npm, then `make node` (MicroPython WebAssembly tests)")
    if not PKG.exists():
        pytest.skip("MicroPython WebAssembly port missing: run `make node` (npm install in tests/firmware)")
    res = subprocess.run([node, str(HERE / "run_micropython.mjs"), str(ROOT / "firmware"),
                          str(ROOT / "tests" / "golden" / "protocol_vectors.json"), str(HERE / "mp_checks.py")],
                         capture_output=True, text=True, timeout=120, cwd=HERE)
    assert res.returncode == 0, f"MicroPython checks failed:\n{res.stdout}\n{res.stderr}"
    assert "micropython (1, 27" in res.stdout and "vectors ok 42" in res.stdout and "MP-OK" in res.stdout
