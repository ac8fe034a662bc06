"""Reader/writer for holdsense-recording/1: round trips and every bad input of contracts.md §1."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from holdsense.io.recording import (RecordingError, RecordingReader, RecordingWriter, read_recording, sniff_format,
                                    write_recording)
from rollsignal import FLAG_GAP, FLAG_SAT, SampleChunk

HEADER = "# format: holdsense-recording/1\n# sample_rate_hz: 80\nt_s,force_n,angle_deg,raw_counts,flags\n"


def _chunk(n: int = 500, angle: bool = True, raw: bool = True) -> SampleChunk:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.011, 0.014, n))
    t -= t[0]
    flags = np.zeros(n, np.uint8)
    flags[10] = FLAG_GAP
    flags[20] = FLAG_SAT | FLAG_GAP
    return SampleChunk(t, rng.normal(100, 30, n), np.cumsum(rng.normal(0, 1, n)) if angle else None,
                       flags, np.round(rng.normal(84000, 500, n)) if raw else None)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("angle", [True, False])
def test_round_trip(tmp_path: Path, suffix: str, angle: bool) -> None:
    c = _chunk(angle=angle)
    meta = {"sample_rate_hz": 80, "calibration": {"tare_counts": 84210, "counts_to_n": [0.0, 0.0123, 0.0]},
            "body_mass_kg": 72, "region": "quads", "unknown_key": "kept"}
    p = tmp_path / f"r{suffix}"
    write_recording(p, c, meta)
    rec = read_recording(p)
    assert rec.metadata["format"] == "holdsense-recording/1"
    assert rec.metadata["calibration"]["counts_to_n"] == [0.0, 0.0123, 0.0]
    assert rec.body_mass_kg == 72 and rec.region == "quads" and rec.metadata["unknown_key"] == "kept"
    np.testing.assert_allclose(rec.samples.t_s, c.t_s, atol=1e-6)
    np.testing.assert_allclose(rec.samples.force_n, c.force_n, atol=1e-3)
    if angle:
        np.testing.assert_allclose(rec.samples.angle_deg, c.angle_deg, atol=1e-3)
    else:
        assert rec.samples.angle_deg is None
    np.testing.assert_array_equal(rec.samples.flags, c.flags)
    np.testing.assert_array_equal(rec.samples.raw_counts, c.raw_counts)
    assert sniff_format(p) == "holdsense-recording/1"


def test_streaming_writer_equals_whole(tmp_path: Path) -> None:
    c = _chunk()
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_recording(a, c)
    with RecordingWriter(b, has_angle=True, has_raw=True) as w:
        for part in c.split([1, 7, 64, 3, 200]):
            w.on_samples(part)
    assert a.read_text() == b.read_text()


def test_missing_cells_are_nan_and_unknown_columns_ignored(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("# format: holdsense-recording/1\nt_s,force_n,extra,angle_deg,flags\n0,1,x,,\n0.1,,y,2,gap|weird\n")
    rec = read_recording(p)
    assert np.isnan(rec.samples.force_n[1]) and np.isnan(rec.samples.angle_deg[0])
    assert rec.samples.flags[1] == FLAG_GAP
    assert rec.extra_columns["extra"] == ["x", "y"]


def test_half_written_last_line_skipped_with_warning(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text(HEADER + "0.0,1,0,1,\n0.0125,2,0,2,\n0.025,3,0.")
    err = io.StringIO()
    rec = read_recording(p, warn=err)
    assert len(rec.samples) == 2
    assert "half-written last line" in err.getvalue() and "line 6" in err.getvalue()


def test_truncated_gzip_keeps_complete_rows(tmp_path: Path) -> None:
    p = tmp_path / "t.csv.gz"
    body = HEADER + "".join(f"{i * 0.0125:.4f},{i},0,{i},\n" for i in range(5000))
    data = gzip.compress(body.encode())
    p.write_bytes(data[: len(data) // 2])
    err = io.StringIO()
    rec = read_recording(p, warn=err)
    assert 0 < len(rec.samples) < 5000
    # before: only 'line N: half-written last line skipped', as if the file were whole and its writer killed
    n = len(rec.samples) + 4  # 3 header lines, the complete rows, then the cut one
    want = f"{p}: gzip stream ends early (file cut short?); line {n}: half-written last line skipped"
    assert rec.warnings == [want] and err.getvalue() == f"holdsense: warning: {want}\n"


def _sync_flushed(text: str) -> bytes:
    """Gzip of `text` flushed (Z_SYNC_FLUSH) but never finished: what a recorder killed at a flush leaves."""
    import zlib

    z = zlib.compressobj(wbits=31)
    return z.compress(text.encode()) + z.flush(zlib.Z_SYNC_FLUSH)


def test_gzip_cut_at_a_line_end_says_so(tmp_path: Path) -> None:
    # before: no warning at all: every line complete, so the cut (no gzip trailer) went unsaid
    p = tmp_path / "t.csv.gz"
    p.write_bytes(_sync_flushed(HEADER + "".join(f"{i * 0.0125:.4f},{i},0,{i},\n" for i in range(100))))
    rec = read_recording(p, warn=None)
    assert len(rec.samples) == 100
    assert rec.warnings == [f"{p}: gzip stream ends early (file cut short?); the 103 complete lines before it "
                            "are used"]


def test_gzip_damaged_after_good_data_says_so(tmp_path: Path) -> None:
    p = tmp_path / "d.csv.gz"
    good = _sync_flushed(HEADER + "0.0,1,0,1,\n0.0125,2,0,2,\n")
    p.write_bytes(good + b"\xff" * 64)
    with RecordingReader.open(p, warn=None, block_bytes=len(good)) as r:  # the damage in a later block (2 MB each)
        rec = r.read_all()
    assert len(rec.samples) == 2
    assert rec.warnings == [f"{p}: gzip stream damaged, the rest of the file unreadable; the 5 complete lines "
                            "before it are used"]


def test_whole_gzip_and_plain_half_line_warn_as_before(tmp_path: Path) -> None:
    p = tmp_path / "w.csv.gz"
    p.write_bytes(gzip.compress((HEADER + "0.0,1,0,1,\n0.0125,2,0,2,\n").encode()))
    assert read_recording(p, warn=None).warnings == []
    p.write_bytes(gzip.compress((HEADER + "0.0,1,0,1,\n0.0125,2,0,2,\n0.025,3").encode()))  # whole stream
    assert read_recording(p, warn=None).warnings == [f"{p}: line 6: half-written last line skipped"]


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "no such file"),
        ("", "empty file"),
        ("# format: holdsense-recording/1\n# a: b\n", "no header"),
        ("t_s,force_n\n0,1\n", "not a holdsense recording"),
        ("# format: holdsense-recording/2\nt_s,force_n\n0,1\n", "unknown format version"),
        ("# format: other-thing/1\nt_s,force_n\n0,1\n", "unknown format"),
        ("# format: holdsense-recording/1\nt_s,angle_deg\n0,1\n", "required column 'force_n'"),
        ("# format: holdsense-recording/1\nforce_n\n1\n", "required column 't_s'"),
        ("# format: holdsense-recording/1\nt_s,force_n\n0,1\n0.1,abc\n", "line 4: column force_n: 'abc' is not a number"),
        ("# format: holdsense-recording/1\nt_s,force_n\n0,1\n0.2,1\n0.1,1\n", "line 5: t_s decreases"),
        ("# format: holdsense-recording/1\nt_s,force_n\n", "no samples"),
        ("# format: holdsense-recording/1\nt_s,force_n\n0,1\n0.1,1,5\n", "line 4: expected 2 fields"),
    ],
)
def test_bad_input_one_clear_error(tmp_path: Path, content: str | None, needle: str) -> None:
    p = tmp_path / "bad.csv"
    if content is not None:
        p.write_text(content)
    with pytest.raises(RecordingError) as ei:
        read_recording(p)
    msg = str(ei.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


def test_text_metadata_that_looks_like_json_reads_back_as_text(tmp_path: Path) -> None:
    # a protocol version "1.10" must not come back as the number 1.1
    meta = {"protocol": "1.10", "note": "true", "board": "esp32s3", "body_mass_kg": 72, "id": "72"}
    p = tmp_path / "m.csv"
    with RecordingWriter(p, meta) as w:
        w.write(SampleChunk(np.array([0.0, 0.0125]), np.array([1.0, 2.0])))
    got = read_recording(p).metadata
    assert got["protocol"] == "1.10" and got["note"] == "true" and got["id"] == "72"
    assert got["board"] == "esp32s3" and got["body_mass_kg"] == 72


@pytest.mark.parametrize("data, words", [
    (b"hello", "not a holdsense recording"),  # before: a 'half-written last line' warning came first
    (b"# format: holdsense-recording/1\rt_s,force_n\r0,1\r0.1,2\r", "lines end in CR alone"),
    (b"# format: holdsense-recording/1\n# started_utc: 2026-12", "no header row"),
])
def test_a_refused_file_gets_its_one_error_line_and_no_warning(tmp_path: Path, data: bytes, words: str) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    err = io.StringIO()
    with pytest.raises(RecordingError, match=words):
        read_recording(p, warn=err)
    assert err.getvalue() == ""


def test_gzip_cut_inside_the_head_says_so_in_the_error(tmp_path: Path) -> None:
    p = tmp_path / "h.csv.gz"
    data = gzip.compress(("# format: holdsense-recording/1\n" + "".join(f"# note{i}: {'x' * 60}\n" for i in range(400))
                          + "t_s,force_n\n0,1\n").encode())
    p.write_bytes(data[: len(data) // 3])
    err = io.StringIO()
    with pytest.raises(RecordingError, match=r"no header row .*\(gzip stream ends early"):
        read_recording(p, warn=err)
    assert err.getvalue() == ""
