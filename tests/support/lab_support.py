"""Helpers shared by the lab tests (LSL, XDF, batch): loopback LSL config, synthetic sessions.

Imported by name (`import lab_support`): tests/support is on pytest's
pythonpath (pyproject.toml), since test folders are not packages. Sessions are
made here from synthetic arrays and written with holdsense.io.recording.
"""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

from rollsignal import SampleChunk

REPO = Path(__file__).resolve().parents[2]
LSL_CFG = REPO / "tests" / "lsl_loopback.cfg"


_SESSION_VAR = "HOLDSENSE_TEST_LSLAPICFG"


def session_lsl_config() -> str:
    """tests/lsl_loopback.cfg with a SessionID of this test process's own, written to a temp file.

    liblsl only resolves streams of its own session id, so two test runs on one
    machine (a developer's and CI's, two helpers') never see each other's
    streams, even with equal source ids. Shared through an environment
    variable, which CLI subprocesses inherit; liblsl reads its configuration
    once per process.
    """
    path = os.environ.get(_SESSION_VAR)
    if path and Path(path).is_file():
        return path
    text = LSL_CFG.read_text(encoding="utf-8").replace(
        "SessionID = holdsense-tests", f"SessionID = holdsense-tests-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fd, path = tempfile.mkstemp(prefix="holdsense-lsl-", suffix=".cfg")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    atexit.register(lambda: Path(path).unlink(missing_ok=True))
    os.environ[_SESSION_VAR] = path
    return path


def use_loopback_lsl() -> str:
    """Point liblsl at the loopback-only test config (before liblsl first reads it in this process)."""
    os.environ["LSLAPICFG"] = session_lsl_config()
    return os.environ["LSLAPICFG"]


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for `holdsense` subprocesses: loopback LSL in this run's session, this interpreter's packages."""
    env = dict(os.environ)
    env["LSLAPICFG"] = session_lsl_config()
    env.pop("HOLDSENSE_DEBUG", None)
    env.update(extra)
    return env


def holdsense_cmd() -> list[str]:
    return [sys.executable, "-m", "holdsense.cli"]


def synthetic_session(plan: list[tuple[str, float]], *, rate_hz: float = 80.0, seed: int = 0,
                      angle: bool = True, hold_force_n: float = 140.0) -> SampleChunk:
    """A session from a plan of (kind, seconds): 'off' (no load), 'roll' (loaded strokes: force
    swinging 90–210 N, shell turning back and forth) or 'hold' (steady load, shell still).

    Time stamps jitter like a real HX711 (rate wanders a few %), as the device clock reports them.
    """
    rng = np.random.default_rng(seed)
    ts, fs, angs = [], [], []
    t = 0.0
    a = 0.0
    for kind, dur in plan:
        n = int(dur * rate_hz)
        dt = rng.uniform(0.97, 1.03, n) / rate_hz
        tt = t + np.cumsum(dt) - dt[0]
        local = tt - tt[0]
        if kind == "off":
            f = rng.normal(0.0, 0.4, n)
            ang = np.full(n, a) + rng.normal(0, 0.05, n)
        elif kind == "roll":
            f = 150 + 60 * np.sin(2 * np.pi * 0.5 * local) + rng.normal(0, 3, n)
            ang = a + 300 * np.sin(2 * np.pi * 0.25 * local) + rng.normal(0, 0.2, n)
        elif kind == "hold":
            f = hold_force_n + rng.normal(0, 2.0, n)
            ang = np.full(n, a) + rng.normal(0, 0.05, n)
        else:
            raise ValueError(kind)
        a = float(ang[-1])
        ts.append(tt)
        fs.append(f)
        angs.append(ang)
        t = float(tt[-1]) + 1.0 / rate_hz
    return SampleChunk(np.round(np.concatenate(ts), 6), np.round(np.concatenate(fs), 3),
                       np.round(np.concatenate(angs), 3) if angle else None)


STANDARD_PLAN = [("off", 3), ("roll", 20), ("hold", 40), ("roll", 12), ("hold", 12), ("roll", 10), ("off", 4)]
