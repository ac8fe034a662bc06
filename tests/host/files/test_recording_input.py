"""The streaming recording reader (holdsense.io.recording.RecordingReader) and the input forms and time
checks of issue 16/18: blocks of any size give the same recording, "-" / pipes / FIFOs are read once,
a byte-order mark is accepted, symlink loops and unreadable files are named, and a damaged time column
is one error line with its row number (never a crash, a MemoryError or a negative t_s)."""
from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from holdsense.io.recording import (MAX_GAP_S, MAX_T_S, RecordingError, RecordingReader, parse_recording_text,
                                    read_recording, write_recording)
from holdsense.io.registry import open_reader
from rollsignal import FLAG_GAP, FLAG_SAT, SampleChunk

HEAD = "# format: holdsense-recording/1\n# body_mass_kg: 70\nt_s,force_n\n"


def _chunk(n: int = 3000, seed: int = 0) -> SampleChunk:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.010, 0.015, n))
    f = np.round(rng.normal(100, 30, n), 2)
    f[rng.random(n) < 0.01] = np.nan
    flags = np.zeros(n, np.uint8)
    flags[rng.random(n) < 0.02] = FLAG_SAT
    flags[rng.random(n) < 0.01] |= FLAG_GAP
    return SampleChunk(t, f, np.round(rng.normal(0, 90, n), 2), flags, np.round(rng.normal(1e5, 1e3, n)))


def _same(a, b) -> None:
    for name in ("t_s", "force_n", "angle_deg", "flags", "raw_counts"):
        np.testing.assert_array_equal(getattr(a.samples, name), getattr(b.samples, name), err_msg=name)
    assert a.metadata == b.metadata and a.columns == b.columns and a.warnings == b.warnings


@pytest.mark.parametrize("compressed", [False, True])
def test_any_block_size_gives_the_same_recording(tmp_path: Path, compressed: bool) -> None:
    """Streaming equals batch: random small blocks (splitting lines, gzip members and the header) read the
    same samples, metadata and warnings as one big block; a half-written last line is still skipped."""
    path = tmp_path / ("r.csv.gz" if compressed else "r.csv")
    write_recording(path, _chunk(), {"body_mass_kg": 70, "region": "calf"})
    if compressed:  # a killed writer: no newline at the end (and, compressed, no gzip trailer)
        raw = gzip.decompress(path.read_bytes()) + b"12.5,1"
        path.write_bytes(gzip.compress(raw)[:-8])
    else:
        path.write_bytes(path.read_bytes() + b"12.5,1")
    whole = read_recording(path, warn=None)
    assert len(whole.samples) == 3000 and whole.warnings and "half-written" in whole.warnings[0]
    rng = np.random.default_rng(7)
    for block in [1, 7, 100, *rng.integers(2, 5000, 5).tolist()]:
        with RecordingReader.open(path, warn=None, block_bytes=int(block)) as r:
            got = r.read_all()
        _same(whole, got)


def test_errors_name_the_line_across_block_boundaries(tmp_path: Path) -> None:
    rows = [f"{k * 0.0125:.4f},1.0" for k in range(2000)]
    rows[1500] = "18.7500,abc"
    text = HEAD + "\n".join(rows) + "\n"
    for block in (64, 1 << 20):
        with pytest.raises(RecordingError, match=r"line 1504: column force_n: 'abc' is not a number"):
            RecordingReader(__import__("io").BytesIO(text.encode()), "x.csv", block_bytes=block).read_all()
    rows[1500] = "1.0000,1.0"  # decreasing, found where it happens even when the step spans two blocks
    with pytest.raises(RecordingError, match=r"x.csv: line 1504: t_s decreases \(1 after 18.7375\)"):
        RecordingReader(__import__("io").BytesIO((HEAD + "\n".join(rows) + "\n").encode()), "x.csv",
                        block_bytes=50).read_all()


@pytest.mark.parametrize("cell, message", [
    ("inf", r"line 6: t_s is not finite \(inf\)"),
    ("nan", r"line 6: t_s is missing"),
    ("", r"line 6: t_s is missing"),
    ("1e300", r"line 6: t_s 1e\+300 s is beyond 1e\+06 s"),
    ("-0.5", r"line 6: t_s is negative \(-0.5\)"),
    ("0.01", r"line 6: t_s decreases \(0.01 after 0.0125\)"),
])
def test_a_damaged_time_column_is_one_line_with_the_row(cell: str, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        parse_recording_text(HEAD + f"0,1\n0.0125,1\n{cell},1\n0.05,1\n", "t.csv", warn=None)


def test_a_time_jump_is_rejected_before_the_analysis_pays_for_it(tmp_path: Path) -> None:
    """A 1e9 s jump used to end in MemoryError (exit 1); a pause beyond MAX_GAP_S is refused, with its row,
    and one just inside the limits still reads."""
    p = tmp_path / "jump.csv"
    p.write_text(HEAD + "0,1\n0.0125,1\n1e9,1\n")
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "line 6: t_s 1e+09 s is beyond" in r.stderr, r.stderr
    with pytest.raises(RecordingError, match=rf"line 6: t_s jumps by {MAX_GAP_S + 1:g} s"):
        parse_recording_text(HEAD + f"0,1\n0.0125,1\n{MAX_GAP_S + 1.0125},1\n", "j.csv", warn=None)
    ok = parse_recording_text(HEAD + f"0,1\n{MAX_GAP_S},1\n", "j.csv", warn=None)  # exactly the limit: fine
    assert ok.samples.t_s.tolist() == [0.0, MAX_GAP_S]
    steps = "".join(f"{k * MAX_GAP_S},1\n" for k in range(int(MAX_T_S // MAX_GAP_S) + 1))
    assert parse_recording_text(HEAD + steps, "j.csv", warn=None).samples.t_s[-1] <= MAX_T_S


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Editors on some systems save UTF-8 with a BOM; it used to read as "no format line"."""
    plain = tmp_path / "plain.csv"
    write_recording(plain, _chunk(200), {"body_mass_kg": 70})
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    gz = tmp_path / "bom.csv.gz"
    gz.write_bytes(gzip.compress(bom.read_bytes()))
    for p in (bom, gz):
        _same(read_recording(plain, warn=None), read_recording(p, warn=None))
        assert open_reader(p).samples.t_s[0] == read_recording(plain).samples.t_s[0]


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def test_dash_and_pipes_are_read_once(tmp_path: Path) -> None:
    """`analyze -` reads standard input; /dev/stdin on a pipe too (it was opened once to sniff the format and
    again to read, so the reader saw a truncated or empty stream)."""
    p = tmp_path / "r.csv"
    write_recording(p, _chunk(3000), {"body_mass_kg": 70})
    expected = _cli("analyze", str(p), "--json")
    assert expected.returncode == 0
    data = p.read_bytes()
    for target in ("-", "/dev/stdin"):
        r = _cli("analyze", target, "--json", input=data.decode())
        assert r.returncode == 0, r.stderr
        assert r.stdout.replace('"source": "<stdin>"', "").replace(f'"source": "{target}"', "") \
            == expected.stdout.replace(f'"source": "{p}"', "")
    cap = Path(__file__).resolve().parents[2] / "captures" / "session.hscap"
    with open(cap, "rb") as fh:  # a capture on standard input: spooled, decoded as from the file
        r = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", "-", "--json"], stdin=fh,
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '"<stdin>"' in r.stdout, r.stderr


def test_a_fifo_is_streamed_and_one_without_writer_does_not_hang(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    write_recording(p, _chunk(2000), {"body_mass_kg": 70})
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    r = _cli("analyze", str(fifo))  # nobody writes: one line, exit 2, at once
    assert r.returncode == 2 and r.stderr.strip() == (f"holdsense: error: {fifo}: a FIFO with no writer (nothing "
                                                      f"arrived in 3 s)"), r.stderr

    def writer() -> None:
        with open(fifo, "wb") as fh:  # blocks until the reader opens the FIFO
            fh.write(p.read_bytes())

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    rec = open_reader(fifo, warn=None)
    th.join(10)
    _same(read_recording(p, warn=None), rec)


def test_symlink_loops_and_unreadable_files_are_named(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    r = _cli("analyze", str(a))
    assert r.returncode == 2 and r.stderr.strip() == (f"holdsense: error: {a}: symbolic link loop (the link "
                                                      f"points, through other links, back to itself)")
    dangling = tmp_path / "gone.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(RecordingError, match="broken symbolic link"):
        read_recording(dangling)
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop root, so 'permission denied' cannot be shown")
    locked = tmp_path / "locked.csv"
    write_recording(locked, _chunk(10), {})
    locked.chmod(0)
    r = _cli("analyze", str(locked))
    assert r.returncode == 2 and "permission denied" in r.stderr and r.stderr.count("\n") == 1


def _held_session(n: int = 4800) -> SampleChunk:
    """60 s: off, a 45 s still load of 150 N (force only), off."""
    t = np.arange(n) / 80.0
    f = np.where((t > 5) & (t < 50), 150.0, 0.0) + np.random.default_rng(0).normal(0, 0.3, n)
    return SampleChunk(t, np.round(f, 2))


@pytest.mark.parametrize("mass", ["-5", "0.5", "nan", "1e9", "seventy"])
def test_an_implausible_body_mass_in_the_header_is_ignored_with_a_warning(tmp_path: Path, mass: str) -> None:
    """`--body-mass -5` is refused (docs/options.md: 10-400 kg); the same value in a file's header used to
    reach the scoring as it was ("you held at -305 % of your body weight", "nan %"). It is now treated as
    absent, as a header without the key is, and the analysis says why."""
    from holdsense.analysis import analyze_path, analyze_recording

    path = tmp_path / "s.csv"
    write_recording(path, _held_session(), {})
    text = path.read_text().replace("# format: holdsense-recording/1\n",
                                    f"# format: holdsense-recording/1\n# body_mass_kg: {mass}\n", 1)
    path.write_text(text)
    rec = read_recording(path, warn=None)
    assert rec.body_mass_kg is None
    note = re.compile(rf"{re.escape(str(path))}: body_mass_kg \S+ is not a plausible body mass \(10-400 kg\): ignored")
    for a in (analyze_path(str(path), warn=io.StringIO())[0], analyze_recording(rec)):
        assert a["holds"], a
        assert all("body weight" not in line for h in a["holds"] for line in h["feedback"]), a["holds"]
        assert any(note.match(w) for w in a["quality"]["warnings"]), a["quality"]["warnings"]
    no_key = tmp_path / "plain.csv"
    write_recording(no_key, _held_session(), {})
    plain = analyze_recording(read_recording(no_key, warn=None))
    assert [h["feedback"] for h in plain["holds"]] == [h["feedback"] for h in analyze_recording(rec)["holds"]]


def test_a_plausible_body_mass_in_the_header_is_used(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_recording(path, _held_session(), {"body_mass_kg": 72})
    rec = read_recording(path, warn=None)
    assert rec.body_mass_kg == 72 and not rec.warnings
