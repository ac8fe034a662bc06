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
#: for the compressed outputs (a .csv.gz, a capture): ~8 bytes a sample, so 60 kB took the roller ~10 s to fill;
#: this is still several of their half-second flushes, the last one cut by the limit
COMPRESSED_LIMIT_BYTES = 16_000


def file_size_limit(limit_bytes: int = LIMIT_BYTES) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def record(*args: str, limit_bytes: int = LIMIT_BYTES) -> subprocess.CompletedProcess:
    """`holdsense record` under the file size limit; a recorder that hangs instead of stopping fails here."""
    return subprocess.run([sys.executable, "-m", "holdsense.cli", "record", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: file_size_limit(limit_bytes), env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.parametrize("name", ["full.csv", "full.csv.gz"])
def test_record_stops_with_one_error_line_when_the_file_cannot_grow(roller, tmp_path, name):
    r = roller(speed=10.0)
    out = tmp_path / name
    limit = COMPRESSED_LIMIT_BYTES if name.endswith(".gz") else LIMIT_BYTES
    p = record("--port", r.link, "-o", str(out), "--quiet", limit_bytes=limit)  # no --duration: only the fault ends it
    assert p.returncode == 2, p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {out}: cannot write the recording: "), \
        p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    kept_s = float(errors[0].split("at least the first ")[1].split(" s ")[0])
    # the file stays a valid recording with at least what the message promises (a half row may be cut)
    rec = read_recording(out)
    s = rec.samples
    print(f"{name}: {len(s)} rows kept, {kept_s} s promised")
    assert len(s) > 80 and s.t_s[-1] >= kept_s > 0
    assert np.all(np.diff(s.t_s) > 0)
    assert os.path.getsize(out) <= limit


def test_session_whose_recording_cannot_grow_stores_what_was_kept(roller, tmp_path):
    """A guided session hits the file size limit: it ends at once with the recording's error line (exit 2),
    and the history keeps an entry for what the recording kept, flagged as stopped early, scored exactly as
    `holdsense analyze` scores the kept file (it stored nothing before)."""
    import json

    r = roller(speed=10.0)
    out, db, answers = tmp_path / "s.csv", tmp_path / "history.sqlite3", tmp_path / "a.json"
    answers.write_text(json.dumps({"region": "quads", "before": {"pain": 4}, "after": {"pain": 3}}))
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "session", "--port", r.link, "-o", str(out),
                        "--answers", str(answers), "--db", str(db), "--sound", "off", "--body-mass", "70"],
                       capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
                       preexec_fn=file_size_limit, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {out}: cannot write the recording: "), \
        p.stderr
    assert "stored in the history with what was kept" in errors[0] and "Traceback" not in p.stderr
    assert "Stored as session 1 in" in p.stdout and "stopped early" in p.stdout, p.stdout[-2000:]

    from holdsense.analysis import analyze_path
    from holdsense.coaching.history import History

    kept, _ = analyze_path(str(out), body_mass_kg=70.0, warn=None)
    h = History.open(db, readonly=True)
    try:
        (s,) = h.sessions()
    finally:
        h.close()
    assert s.recording_path == str(out.resolve()) and s.after is not None and s.after.pain_0_10 == 3
    assert s.recording_stopped is not None and "cannot write the recording" in s.recording_stopped["reason"]
    kept_s = kept["summary"]["duration_s"]
    assert kept_s > 5 and s.recording_stopped["kept_s"] == pytest.approx(kept_s, abs=0.05)
    assert s.summary == kept["summary"] and s.holds == kept["holds"]  # what the file kept, nothing more
    hist = subprocess.run([sys.executable, "-m", "holdsense.cli", "history", "--db", str(db)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert hist.returncode == 0 and "s.csv (stopped early" in hist.stdout, hist.stdout + hist.stderr


def test_session_whose_history_cannot_be_written_either_says_so(roller, tmp_path):
    """The recording stops early and the history refuses the entry too (here: locked by another program; a full
    disk refuses it the same way): the one error line says that no history entry was stored, and the summary
    does not claim otherwise."""
    import json
    import sqlite3

    from holdsense.coaching.history import History

    r = roller(speed=10.0)
    out, db, answers = tmp_path / "s.csv", tmp_path / "history.sqlite3", tmp_path / "a.json"
    answers.write_text(json.dumps({"region": "quads"}))
    History.open(db).close()
    proc = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "session", "--port", r.link, "-o", str(out),
                             "--answers", str(answers), "--db", str(db), "--sound", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            preexec_fn=file_size_limit, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        head = ""
        while "(guiding" not in head:  # the history is open: now another program takes it
            line = proc.stdout.readline()
            assert line, head
            head += line
        lock.execute("BEGIN EXCLUSIVE")
        rest, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        lock.close()
    assert proc.returncode == 2, err
    errors = [ln for ln in err.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {out}: cannot write the recording: "), err
    assert "; no history entry was stored (" in errors[0] and "locked" in errors[0], errors[0]
    assert "NOT stored in the history" in rest and "Stored as session" not in rest, rest[-1500:]
    h = History.open(db, readonly=True)
    try:
        assert h.sessions() == []
    finally:
        h.close()


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
    p = record("--port", r.link, "-o", "/dev/null", "--overwrite", "--capture", str(cap), "--quiet",
               limit_bytes=COMPRESSED_LIMIT_BYTES)
    assert p.returncode == 2, p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense:")]
    assert len(errors) == 1 and errors[0].startswith(f"holdsense: error: {cap}: cannot write the capture: "), \
        p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    from holdsense.io.capture import read_capture

    c = read_capture(cap)
    print(f"capture: {len(c.records)} records kept")
    assert len(c.records) > 10 and not c.complete
    assert os.path.getsize(cap) <= COMPRESSED_LIMIT_BYTES
