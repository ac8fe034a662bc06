"""A recording that cannot be written any further (disk full, a file size limit) ends the session at
once with one clear error line and exit code 2; every row written before it stays readable.

The fault is the kernel's own: the recorder subprocess runs under RLIMIT_FSIZE, so its writes past the
limit fail with EFBIG exactly as a full disk fails them with ENOSPC (Python ignores SIGXFSZ). The roller
is the scripted pty roller (scripted_roller.py).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from holdsense.io.recording import read_recording
from holdsense.listeners.recorder import Until
from holdsense.io.recording import RecordingWriter
from rollsignal import SampleChunk

from scripted_roller import roller  # noqa: E402,F401  (fixture)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="a pty roller and RLIMIT_FSIZE")

LIMIT_BYTES = 60_000  # a few seconds of session: rows are ~35 bytes, 80 a second


def file_size_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def record(*args: str) -> subprocess.CompletedProcess:
    """`holdsense record` under the file size limit; a recorder that hangs instead of stopping fails here."""
    return subprocess.run([sys.executable, "-m", "holdsense.cli", "record", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, preexec_fn=file_size_limit,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.parametrize("name", ["full.csv", "full.csv.gz"])
def test_record_stops_with_one_error_line_when_the_file_cannot_grow(roller, tmp_path, name):
    r = roller(speed=10.0)
    out = tmp_path / name
    p = record("--port", r.link, "-o", str(out), "--quiet")  # no --duration: only the fault can end it
    assert p.returncode == 2, p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {out}: cannot write the recording: "), \
        p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    kept_s = float(errors[0].split("at least the first ")[1].split(" s ")[0])
    # the file stays a valid recording with at least what the message promises (a half row may be cut)
    rec = read_recording(out)
    s = rec.samples
    assert len(s) > 80 and s.t_s[-1] >= kept_s > 0
    assert np.all(np.diff(s.t_s) > 0)
    assert os.path.getsize(out) <= LIMIT_BYTES


def test_until_keeps_the_recording_when_another_listener_fails(tmp_path):
    """A display (or LSL) listener that raises is detached on its own; the file gets every sample and the
    error is re-raised at the end, after the file is closed."""
    t = np.arange(0, 10, 1 / 80)
    whole = SampleChunk(t, np.ones_like(t))
    writer = RecordingWriter(tmp_path / "s.csv")
    seen = []

    def broken_view(chunk: SampleChunk) -> None:
        seen.append(len(chunk))
        raise RuntimeError("a display bug")

    u = Until([writer, broken_view])
    for c in whole.split([8] * 100):
        u.on_samples(c)
    assert seen == [8] and not u.done.is_set() and not u.failed.is_set()
    with pytest.raises(RuntimeError, match="a display bug"):
        u.stop()
    assert len(read_recording(tmp_path / "s.csv").samples) == len(t)


def test_record_stops_with_one_error_line_when_the_capture_cannot_grow(roller, tmp_path):
    """The raw capture hits the limit (the recording goes to /dev/null, which has no size): the session ends
    with the capture's error instead of an internal error at close, and the capture decodes up to it."""
    r = roller(speed=10.0)
    cap = tmp_path / "s.hscap"
    p = record("--port", r.link, "-o", "/dev/null", "--overwrite", "--capture", str(cap), "--quiet")
    assert p.returncode == 2, p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {cap}: cannot write the capture: "), \
        p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    from holdsense.io.capture import read_capture

    c = read_capture(cap)
    assert len(c.records) > 10 and not c.complete
    assert os.path.getsize(cap) <= LIMIT_BYTES
