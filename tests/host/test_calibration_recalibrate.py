"""`holdsense recalibrate`: real files, real subprocess CLI calls, every input it must refuse."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.calibration import Calibration
from holdsense.io.recording import read_recording, write_recording
from rollsignal import FLAG_GAP, SampleChunk

OLD = {"tare_counts": 84210, "counts_to_n": [0.0, 0.0004, 0.0], "residual_n": 0.4}
NEW = {"tare_counts": 84000.5, "counts_to_n": [0.0, 0.000456, 1e-13], "residual_n": 0.05, "model": "quadratic"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def _recording(path: Path, n: int = 2000, raw: bool = True) -> SampleChunk:
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.011, 0.014, n)) - 0.011
    counts = np.round(84210 + 2190 * np.abs(rng.normal(200, 80, n)))
    counts[5] = np.nan                         # one sample lost its raw reading
    flags = np.zeros(n, np.uint8)
    flags[n // 2] = FLAG_GAP
    force = (counts - 84210) * 0.0004
    angle = np.cumsum(rng.normal(0, 2, n))
    chunk = SampleChunk(t, force, angle, flags, counts if raw else None)
    write_recording(path, chunk, {"sample_rate_hz": 80, "calibration": OLD, "body_mass_kg": 72,
                                  "region": "quads", "device": "holdsense-roller fw=0.3.0"})
    return chunk


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_recalibrate_recomputes_force_and_keeps_the_rest(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"in{suffix}"
    chunk = _recording(src)
    cal_path = tmp_path / "cal.json"
    cal_path.write_text(json.dumps(NEW))
    out = tmp_path / f"out{suffix}"
    r = _cli("recalibrate", str(src), "--calibration", str(cal_path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "2000 samples re-calibrated" in r.stdout and "1 without raw_counts" in r.stdout
    if suffix == ".gz":
        assert out.read_bytes()[:2] == b"\x1f\x8b"
    before, after = read_recording(src), read_recording(out)
    expected = Calibration.from_dict(NEW).apply(chunk.raw_counts)
    np.testing.assert_allclose(after.samples.force_n[np.isfinite(expected)], expected[np.isfinite(expected)],
                               atol=0.0006)
    assert np.isnan(after.samples.force_n[5])
    # Everything else is untouched.
    for name in ("t_s", "angle_deg", "raw_counts", "flags"):
        np.testing.assert_array_equal(getattr(after.samples, name), getattr(before.samples, name))
    assert after.metadata["calibration"]["counts_to_n"] == NEW["counts_to_n"]
    assert after.metadata["calibration"]["model"] == "quadratic"
    assert after.metadata["calibration_previous"] == OLD
    for key in ("sample_rate_hz", "body_mass_kg", "region", "device"):
        assert after.metadata[key] == before.metadata[key]
    assert after.columns == before.columns
    # Re-calibrating the output again keeps only the latest previous calibration.
    again = tmp_path / f"again{suffix}"
    assert _cli("recalibrate", str(out), "--calibration", str(cal_path), "-o", str(again)).returncode == 0
    meta = read_recording(again).metadata
    assert meta["calibration_previous"]["counts_to_n"] == NEW["counts_to_n"]


def test_unknown_columns_and_formatting_survive(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("# format: holdsense-recording/1\n# note: hand made\n"
                   "t_s,force_n,raw_counts,temp_c,flags\n"
                   "0.0000,1.00,84210,21.5,\n\n0.0125,2.00,86400,21.5,gap\n")
    cal = tmp_path / "cal.json"
    cal.write_text('{"tare_counts": 84210, "counts_to_n": [0, 0.001]}')
    out = tmp_path / "out.csv"
    assert _cli("recalibrate", str(src), "--calibration", str(cal), "-o", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "# format: holdsense-recording/1" and "# note: hand made" in lines
    assert lines[1].startswith("# calibration: {")           # inserted right after the format line
    body = lines[lines.index("t_s,force_n,raw_counts,temp_c,flags"):]
    assert body[1:] == ["0.0000,0.000,84210,21.5,", "", "0.0125,2.190,86400,21.5,gap"]


def test_half_written_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("# format: holdsense-recording/1\nt_s,force_n,raw_counts,flags\n0.0,0.0,100,\n0.0125,1.0,20")
    cal = tmp_path / "cal.json"
    cal.write_text('{"tare_counts": 100, "counts_to_n": [0, 0.5]}')
    out = tmp_path / "out.csv"
    r = _cli("recalibrate", str(src), "--calibration", str(cal), "-o", str(out))
    assert r.returncode == 0 and "half-written" in r.stderr
    assert out.read_text().endswith("t_s,force_n,raw_counts,flags\n0.0,0.000,100,\n")


@pytest.mark.parametrize("case, message", [
    ("no_raw", "no raw_counts column"),
    ("empty_raw", "raw_counts column is empty"),
    ("bad_json", "not valid JSON"),
    ("json_no_slope", "missing 'counts_to_n'"),
    ("missing_cal", "no such file"),
    ("missing_rec", "no such file"),
    ("not_a_recording", "not a holdsense recording"),
    ("same_path", "output must differ"),
    ("xdf", "an XDF file; recalibrate works on holdsense CSV recordings"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str, message: str) -> None:
    src = tmp_path / "in.csv"
    _recording(src, n=50, raw=case != "no_raw")
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(NEW))
    out = tmp_path / "out.csv"
    if case == "empty_raw":
        src.write_text("# format: holdsense-recording/1\nt_s,force_n,raw_counts,flags\n0.0,1.0,,\n0.1,1.0,,\n")
    elif case == "bad_json":
        cal.write_text('{"tare_counts": 1, ')
    elif case == "json_no_slope":
        cal.write_text('{"tare_counts": 1}')
    elif case == "missing_cal":
        cal = tmp_path / "nope.json"
    elif case == "missing_rec":
        src = tmp_path / "nope.csv"
    elif case == "not_a_recording":
        src.write_text("hello,world\n1,2\n")
    elif case == "same_path":
        out = src
    elif case == "xdf":
        src = tmp_path / "one.xdf"
        src.write_bytes(b"XDF:\x01\x02\x6e\xff")
    r = _cli("recalibrate", str(src), "--calibration", str(cal), "-o", str(out))
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    if case != "same_path":
        assert not out.exists()


def test_missing_options_exit_2(tmp_path: Path) -> None:
    r = _cli("recalibrate", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and "--calibration" in r.stderr


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    """Like `record`: an existing OUT is never replaced silently; --overwrite (record's option) replaces it."""
    src = tmp_path / "in.csv"
    _recording(src)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(NEW))
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    r = _cli("recalibrate", str(src), "--calibration", str(cal), "-o", str(out))
    assert r.returncode == 2 and "exists already (use --overwrite to replace it)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and out.read_text() == "keep me\n"
    r = _cli("recalibrate", str(src), "--calibration", str(cal), "-o", str(out), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert read_recording(out).metadata["calibration"]["counts_to_n"] == NEW["counts_to_n"]
