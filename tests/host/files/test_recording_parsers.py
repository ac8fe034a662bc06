"""The recording reader's parsers agree (holdsense.io.recording): pyarrow's CSV reader (when installed), numpy's
loadtxt and the careful line-by-line parse. A block goes to the first that takes it; whichever does, the
samples, warnings and error messages must be the same, so the reader with pyarrow equals the reader without
it (HOLDSENSE_CSV_PARSER=numpy) on good and damaged files alike."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from holdsense.io import recording
from holdsense.io.recording import RecordingError, RecordingReader, _parse_arrow, _parse_fast, write_recording
from rollsignal import FLAG_SAT, SampleChunk

HEAD = "# format: holdsense-recording/1\nt_s,force_n,angle_deg,flags\n"

needs_arrow = pytest.mark.skipif(recording._arrow() is None,
                                 reason="pyarrow not installed (pip install pyarrow, or the 'lab' extra)")


def _read(text: str, arrow: bool, monkeypatch: pytest.MonkeyPatch, block: int | None = None):
    """(the Recording, or the RecordingError's message) of `text`, with or without pyarrow."""
    if not arrow:
        monkeypatch.setattr(recording, "_ARROW", False)
    try:
        return RecordingReader(io.BytesIO(text.encode()), "p.csv", warn=None, block_bytes=block).read_all()
    except RecordingError as exc:
        return str(exc)
    finally:
        monkeypatch.undo()


def _assert_same(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, str):
        assert a == b
        return
    for name in ("t_s", "force_n", "angle_deg", "flags", "raw_counts"):
        np.testing.assert_array_equal(getattr(a.samples, name), getattr(b.samples, name), err_msg=name)
    assert a.warnings == b.warnings and a.extra_columns == b.extra_columns and a.columns == b.columns


def _cells(rng: np.random.Generator, n: int) -> list[str]:
    """Numbers as people and programs write them: fixed and scientific notation, signs, leading zeros,
    long mantissas (rounding), tiny and huge exponents, whitespace."""
    out = []
    for _ in range(n):
        kind = rng.integers(0, 8)
        v = float(rng.normal(0, 10.0 ** int(rng.integers(-3, 6))))
        if kind == 0:
            out.append(f"{v:.{rng.integers(0, 18)}f}")
        elif kind == 1:
            out.append(f"{v:.{rng.integers(0, 20)}e}")
        elif kind == 2:
            out.append(repr(v))
        elif kind == 3:
            out.append(f"{rng.integers(0, 10 ** 17)}.{rng.integers(0, 10 ** 17):017d}")  # more digits than a double
        elif kind == 4:
            out.append(f"+{abs(v):.6f}")
        elif kind == 5:
            out.append(f"000{abs(v):.3f}")
        elif kind == 6:
            out.append(f"{rng.integers(1, 10)}.{rng.integers(0, 10 ** 6)}e{rng.integers(-330, 330)}")
        else:
            out.append(f" {v:.4f}")
    return out


@needs_arrow
def test_pyarrow_and_numpy_read_every_number_alike() -> None:
    rng = np.random.default_rng(16)
    cells = _cells(rng, 20_000)
    rows = [f"{k},{c},{c}," for k, c in enumerate(cells)]
    text = "\n".join(rows) + "\n"
    by_arrow = _parse_arrow(text, len(rows), 4, [0, 1, 2])
    by_numpy = _parse_fast(rows, 4, [0, 1, 2])
    assert by_arrow is not None and by_numpy is not None
    np.testing.assert_array_equal(by_arrow, by_numpy)
    by_python = np.array([[float(k), float(c), float(c)] for k, c in enumerate(cells)])  # correctly rounded
    np.testing.assert_array_equal(by_arrow, by_python)
    assert np.isinf(by_arrow).any() and (by_arrow == 0).any()  # overflow and underflow were in the draw


@needs_arrow
@pytest.mark.parametrize("cell", ["", " ", "abc", "1_0", "0x10", "1d3", "\u0661", "NA", "null", "1.2.3", '"1.5"'])
def test_pyarrow_refuses_what_numpy_refuses(cell: str) -> None:
    """A cell numpy's parser does not take is never read by pyarrow either (it goes to the careful path)."""
    rows = ["0,1,2,", f"0.0125,{cell},2,", "0.025,1,2,"]
    assert _parse_fast(rows, 4, [0, 1, 2]) is None
    assert _parse_arrow("\n".join(rows) + "\n", 3, 4, [0, 1, 2]) is None


@needs_arrow
@pytest.mark.parametrize("body", [
    "0,1,2,\n0.0125,1,2,\n",                          # plain
    "0,1,2,\n\n0.0125,1,2,\n",                        # a blank line
    "0,1,2,\n  \n0.0125,1,2,\n",                      # a whitespace-only line
    "0,1,2,\r\n0.0125,1,2,SAT\r\n",                   # CRLF, a flag
    "0,1,2,\n0.0125,,2,\n",                           # an empty (missing) force: NaN
    "0,1,2,\n0.0125,abc,2,\n",                        # not a number
    "0,1,2,\n0.0125,1,2\n",                           # a field short
    "0,1,2,\n0.0125,1,2,,\n",                         # a field too many
    "0,1,2,\n0.0125,inf,2,\n",                        # not finite
    "0,1,2,\n-1,1,2,\n",                              # t_s negative
    "0.5,1,2,\n0.25,1,2,\n",                          # t_s decreasing
    "0,1,2,\n0.0125,1,2,\n0.025,1\r0.0375,1,2,\n",     # a lone CR inside a line
    '0,1,2,\n0.0125,"1",2,\n',                        # quotes are not CSV quoting here
    "0,1,2,GAP|SAT\n0.0125,1,2,BOGUS\n",              # flags, one unknown
])
def test_with_and_without_pyarrow_the_same_recording_or_the_same_error(body: str, monkeypatch) -> None:
    text = HEAD + body
    for block in (None, 16):
        _assert_same(_read(text, True, monkeypatch, block), _read(text, False, monkeypatch, block))


def test_a_long_recording_reads_the_same_with_and_without_pyarrow(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(3)
    n = 60_000
    t = np.cumsum(rng.uniform(0.010, 0.015, n))
    f = np.round(rng.normal(100, 30, n), 3)
    f[rng.random(n) < 0.01] = np.nan
    flags = np.zeros(n, np.uint8)
    flags[rng.random(n) < 0.01] = FLAG_SAT
    path = tmp_path / "long.csv"
    write_recording(path, SampleChunk(t, f, np.round(rng.normal(0, 90, n), 3), flags), {"body_mass_kg": 70})
    text = path.read_text()
    _assert_same(_read(text, True, monkeypatch, 1 << 16), _read(text, False, monkeypatch, 1 << 16))


def test_reading_ahead_in_a_thread_gives_the_same_chunks_and_the_same_error(tmp_path: Path) -> None:
    """`chunks_ahead()` (what `analyze` uses: the next block parsed while the detector works) yields what
    `chunks()` yields, raises the same error after the same chunks, and stops its thread when closed early."""
    import threading

    rng = np.random.default_rng(5)
    n = 40_000
    t = np.cumsum(rng.uniform(0.010, 0.015, n))
    path = tmp_path / "r.csv"
    write_recording(path, SampleChunk(t, np.round(rng.normal(100, 30, n), 3)), {})
    good = path.read_text()
    lines = good.split("\n")
    lines[30_000] = lines[30_000].replace(",", ",abc", 1)  # a damaged row deep in the file
    bad = "\n".join(lines)

    def collect(text: str, ahead: bool):
        r = RecordingReader(io.BytesIO(text.encode()), "r.csv", warn=None, block_bytes=1 << 15)
        got, err = [], None
        try:
            for chunk, _ in (r.chunks_ahead() if ahead else r.chunks()):
                got.append(chunk)
        except RecordingError as exc:
            err = str(exc)
        return got, err

    for text in (good, bad):
        (a, err_a), (b, err_b) = collect(text, False), collect(text, True)
        assert err_a == err_b and len(a) == len(b) > 10
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.t_s, y.t_s)
            np.testing.assert_array_equal(x.force_n, y.force_n)
    assert err_b is not None and "line 30001: column force_n" in err_b
    before = threading.active_count()
    gen = RecordingReader(io.BytesIO(good.encode()), "r.csv", warn=None, block_bytes=1 << 15).chunks_ahead()
    next(gen)
    gen.close()
    assert threading.active_count() == before


@pytest.mark.parametrize("arrow", [True, False])
@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400"])
def test_an_infinite_cell_reads_the_same_whichever_parser_takes_its_block(cell: str, arrow: bool,
                                                                           monkeypatch) -> None:
    """A force of ±inf (or an overflowing 1e400) used to be read by numpy's and pyarrow's parsers as inf (then
    treated as an impossible force: missing, with a warning) but refused by the careful parse ("'inf' is not
    finite"), which takes a block as soon as anything else in it (here one empty cell, a missing angle) is
    beyond the fast parsers: the same cell was accepted or refused by what else was in its ~2 MB block."""
    if arrow and recording._arrow() is None:
        pytest.skip("pyarrow not installed")
    plain = HEAD + f"0,1,2,\n0.0125,{cell},2,\n0.025,1,2,\n"
    with_empty = HEAD + f"0,1,2,\n0.0125,{cell},2,\n0.025,1,,\n"
    a, b = _read(plain, arrow, monkeypatch), _read(with_empty, arrow, monkeypatch)
    assert not isinstance(b, str), b
    assert np.isinf(a.samples.force_n[1]) and np.array_equal(a.samples.force_n, b.samples.force_n)
    assert np.isnan(b.samples.angle_deg[2])
    # t_s is still refused the same way whichever parser read it
    for body in (f"0,1,2,\n{cell},1,2,\n", f"0,1,2,\n{cell},1,,\n"):
        msg = _read(HEAD + body, arrow, monkeypatch)
        assert isinstance(msg, str) and msg.startswith("p.csv: line 4: t_s is not finite"), msg


@pytest.mark.parametrize("arrow", [True, False])
@pytest.mark.parametrize("comment", ["# a note", "# a, b", "#", "  # indented"])
def test_a_comment_after_the_header_is_named_as_such(comment: str, arrow: bool, monkeypatch) -> None:
    """contracts.md §1 allows `#` lines before the header only; one among the rows used to be reported as
    "expected 4 fields, found 1" (or "'# a' is not a number"), which does not say what is wrong."""
    if arrow and recording._arrow() is None:
        pytest.skip("pyarrow not installed")
    msg = _read(HEAD + f"0,1,2,\n{comment}\n0.0125,1,2,\n", arrow, monkeypatch)
    assert msg == ("p.csv: line 4: a '#' line after the header row: metadata and comments go before the header "
                   "(contracts.md §1)")
    # a first cell that merely starts with '#' in a column the reader ignores is not an error
    text = "# format: holdsense-recording/1\nnote,t_s,force_n\n#1,0,1\n,0.0125,\n"
    rec = _read(text, arrow, monkeypatch)
    assert not isinstance(rec, str) and len(rec.samples) == 2 and np.isnan(rec.samples.force_n[1])
