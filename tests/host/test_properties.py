"""Property-based tests (hypothesis): hostile files never make an internal error; the wire decoder loses
only what garbage touched, and counts it (issue 18 item 5).

For the readers the property is "a clean result or a UserError": any other
exception (TypeError, IndexError, MemoryError, a numpy warning made an error by
pytest's filterwarnings) is an internal error a user would see as exit 1. The
files are generated from a grammar of the format (recordings) or by mutating
real files (a capture from tests/captures, an XDF written like LabRecorder
does), then analysed end to end when they read. Bounded (max_examples,
deadline off for a shared 2-core machine) to stay within `make test`;
`bench/fuzz.py --examples N` runs the same properties for longer.
"""
from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holdsense.analysis import analyze_recording, load_for_analysis
from holdsense.errors import UserError
from holdsense.link.frames import FrameDecoder, FrameType, encode_frame, serial_wrap

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "captures" / "session.hscap"
# FUZZ_EXAMPLES scales every property (bench/fuzz.py sets it); the defaults keep `make test` short.
SCALE = float(os.environ.get("HOLDSENSE_FUZZ_SCALE", "1"))


def _n(examples: int) -> int:
    return max(1, int(examples * SCALE))


# A failing 100 kB file would otherwise turn hypothesis's "large repr" notice into the reported error.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")

BOUNDED = dict(deadline=None, database=None, derandomize=SCALE == 1,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


_WORK = tempfile.TemporaryDirectory(prefix="hs-props-")


def _write(name: str, data: bytes) -> str:
    p = Path(_WORK.name) / name
    p.write_bytes(data)
    return str(p)


def _read_and_analyze(path: str) -> None:
    """The property: reading and analysing either works or says why in one UserError line."""
    try:
        rec = load_for_analysis(path, warn=_NULL)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return
    n = len(rec.samples)
    assert n > 0 and len(rec.samples.force_n) == n
    t = rec.samples.t_s
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) >= 0)
    try:
        out = analyze_recording(rec)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return
    assert out["format"] == "holdsense-analysis/1"
    segs = out["segments"]
    assert segs and all(s["end_s"] >= s["start_s"] for s in segs)


class _Null:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


_NULL = _Null()

# ------------------------------------------------------------------------------------------ recordings
# Plausible device times: the time column's own extremes (1e300, jumps of 1e9 s, negative) are the
# reader's time-sanity rules (issue 18 item 2); everything else in a cell is fair game here.
_time = st.floats(min_value=0.0, max_value=7200.0, allow_nan=False)
_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-2**40, 2**40).map(str),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e999", "0x10", "1_000", "١٢", "--1", "1,5", "\"1\"",
                     "1e-320", "+0", "-0", ".5", "5.", "1e5", "3e300", "-3e300"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=",\n\r\x00"), max_size=6),
)
_flags = st.sampled_from(["", "gap", "sat", "spike", "sat|gap", "bogus", "gap|", "|", "sat|sat|spike"])
_meta_line = st.one_of(
    st.sampled_from(["# sample_rate_hz: 80", "# sample_rate_hz: -1", "# sample_rate_hz: nan", "# body_mass_kg: 72",
                     "# body_mass_kg: -5", "# body_mass_kg: 1e308", "# body_mass_kg: \"heavy\"", "# region: quads",
                     "# region: ", "# calibration: {\"tare_counts\": 1, \"counts_to_n\": [0, 0.01]}",
                     "# calibration: {broken", "# calibration: [1, 2]", "#", "# :", "# started_utc: yesterday",
                     "# format: holdsense-recording/1", "# format: holdsense-recording/2"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"),
            max_size=30).map(lambda s: "# " + s),
)
_header = st.sampled_from([
    "t_s,force_n", "t_s,force_n,angle_deg,raw_counts,flags", "t_s,force_n,flags", "force_n,t_s",
    "t_s,force_n,angle_deg", "t_s,force_n,extra", "t_s,t_s,force_n", "t_s", "t_s, force_n ,flags",
    "t_s,force_n,angle_deg,raw_counts,flags,notes", "",
])


@st.composite
def recording_text(draw) -> bytes:
    lines = []
    fmt = draw(st.sampled_from(["# format: holdsense-recording/1", "# format: holdsense-recording/1.7",
                                "# format: holdsense-recording/", "# format: other/1", "#format:holdsense-recording/1",
                                ""]))
    if fmt:
        lines.append(fmt)
    lines += draw(st.lists(_meta_line, max_size=4))
    header = draw(_header)
    lines.append(header)
    n = draw(st.integers(0, 120))
    t = 0.0
    for _ in range(n):
        t += draw(st.sampled_from([0.0125, 0.0125, 0.0125, 0.011, 0.0, 0.5, 3.0, -0.01]))
        row = []
        for j, name in enumerate(header.split(",")):
            name = name.strip()
            if name == "t_s" and draw(st.integers(0, 9)):
                row.append(f"{max(t, 0.0):.4f}")
            elif name == "flags":
                row.append(draw(_flags))
            elif name in ("force_n", "angle_deg", "raw_counts") and draw(st.integers(0, 4)):
                row.append(f"{draw(st.floats(-2000, 2000, allow_nan=False)):.2f}")
            else:
                row.append(draw(_cell))
        if draw(st.integers(0, 30)) == 0:
            row = row[:-1] if len(row) > 1 else row + ["x"]  # a field short or long
        lines.append(",".join(row))
    if draw(st.integers(0, 10)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "   ", "# late comment", "\x00"])))
    text = "\n".join(lines)
    if draw(st.booleans()):
        text += "\n"  # else: a half-written last line
    if draw(st.integers(0, 8)) == 0:
        text = text.replace("\n", "\r\n")
    raw = text.encode("utf-8")
    if draw(st.integers(0, 8)) == 0:
        raw = b"\xef\xbb\xbf" + raw  # a byte-order mark
    if draw(st.integers(0, 12)) == 0:
        k = draw(st.integers(0, len(raw)))
        raw = raw[:k] + draw(st.binary(max_size=8)) + raw[k:]  # a few random bytes (maybe not UTF-8)
    return raw


@settings(max_examples=_n(60), **BOUNDED)
@given(raw=recording_text(), compress=st.sampled_from(["no", "no", "gz", "gz-cut"]))
def test_recording_reader_clean_result_or_user_error(raw: bytes, compress: str) -> None:
    name = "r.csv"
    if compress != "no":
        name = "r.csv.gz"
        raw = gzip.compress(raw)
        if compress == "gz-cut":
            raw = raw[:max(1, len(raw) // 2)]
    _read_and_analyze(_write(name, raw))


# ------------------------------------------------------------------------------------------ captures
_CAPTURE_RAW = zlib.decompress(CAPTURE.read_bytes(), wbits=31)


@st.composite
def mutated_bytes(draw, base: bytes, max_edits: int = 4) -> bytes:
    """`base` with a few edits: flipped bytes, a cut, an insertion, a deleted span, a duplicated span."""
    b = bytearray(base)
    for _ in range(draw(st.integers(1, max_edits))):
        if not b:
            break
        op = draw(st.sampled_from(["flip", "flip", "cut", "insert", "delete", "dup", "zero"]))
        i = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del b[i:i + draw(st.integers(1, 64))]
        elif op == "dup":
            span = bytes(b[i:i + draw(st.integers(1, 64))])
            b[i:i] = span
        else:
            b[i:i + 8] = bytes(len(b[i:i + 8]))
    return bytes(b)


@settings(max_examples=_n(40), **BOUNDED)
@given(content=mutated_bytes(_CAPTURE_RAW), how=st.sampled_from(["gz", "gz", "gz-cut", "raw"]))
def test_capture_reader_clean_result_or_user_error(content: bytes, how: str) -> None:
    data = gzip.compress(content, compresslevel=1) if how != "raw" else content
    if how == "gz-cut":
        data = data[:max(2, len(data) * 3 // 4)]
    _read_and_analyze(_write("c.hscap", data))


# ------------------------------------------------------------------------------------------ XDF
def _xdf_base() -> bytes:
    pytest.importorskip("pyxdf", reason="pyxdf missing: install the lab extra (pip install -e '.[lab]')")
    import xdf_writer as xw
    p = Path(_WORK.name) / "base.xdf"
    t = np.arange(0, 30, 1 / 80)
    force = 150 + 40 * np.sin(t)
    with xw.XdfWriter(p) as w:
        w.add_stream(1, xw.stream_header_xml(
            name="holdsense-1122", type_="Force", channel_count=2, nominal_srate=80.0, channel_format="double64",
            source_id="holdsense-force-1", channels=[{"label": "force_n", "unit": "newtons", "type": "Force"},
                                                     {"label": "angle_deg", "unit": "degrees", "type": "Angle"}]))
        w.add_stream(2, xw.stream_header_xml(name="m", type_="Markers", channel_count=1, nominal_srate=0.0,
                                             channel_format="string", source_id="mk"))
        w.write_clock_offset(1, 1000.0, -0.001)
        for a in range(0, len(t), 400):
            w.write_samples(1, (t[a:a + 400] + 1000).tolist(), np.column_stack([force, t * 90])[a:a + 400])
            w.write_boundary()
        w.write_samples(2, [1005.0], [["hold"]])
    return p.read_bytes()


_XDF_BASE: list[bytes] = []


def _xdf_cached() -> bytes:
    if not _XDF_BASE:
        _XDF_BASE.append(_xdf_base())
    return _XDF_BASE[0]


@settings(max_examples=_n(60), **BOUNDED)
@given(raw=st.deferred(lambda: mutated_bytes(_xdf_cached())))
def test_xdf_reader_clean_result_or_user_error(raw: bytes) -> None:
    _read_and_analyze(_write("x.xdf", raw))


# ------------------------------------------------------------------------------------------ wire decoder
_frame = st.builds(
    lambda t, seq, payload: serial_wrap(encode_frame(t, seq, payload)),
    st.sampled_from([int(x) for x in FrameType]), st.integers(0, 0xFFFF), st.binary(max_size=200))
# Garbage shorter than the decoder's no-delimiter limit (4 max frames): then the decoded frames must not
# depend on how the stream was split into reads either.
_garbage = st.binary(min_size=1, max_size=300)


@settings(max_examples=_n(200), **BOUNDED)
@given(items=st.lists(st.tuples(st.booleans(), _frame, _garbage), min_size=1, max_size=40),
       cuts=st.lists(st.integers(1, 400), max_size=30))
def test_frame_decoder_keeps_every_untouched_frame_and_counts_losses(items, cuts) -> None:
    stream = bytearray()
    untouched: list[bytes] = []
    sent = 0
    for is_garbage, frame, junk in items:
        if is_garbage:
            stream += junk
            continue
        if not stream or stream[-1] == 0:  # nothing glued in front of it: it must come out
            untouched.append(frame)
        stream += frame
        sent += 1
    stream = bytes(stream)

    def run(sizes: list[int]):
        dec = FrameDecoder()
        out, i = [], 0
        for s in sizes:
            out += dec.feed(stream[i:i + s])
            i += s
        out += dec.feed(stream[i:])
        return dec, out

    dec, out = run(cuts)
    whole_dec, whole = run([])
    got = [serial_wrap(encode_frame(f.type, f.seq, f.payload)) for f in out]
    assert got == [serial_wrap(encode_frame(f.type, f.seq, f.payload)) for f in whole]  # any split: same frames
    it = iter(got)  # every untouched frame, in order (garbage may add a lucky CRC-valid frame between them)
    assert all(any(g == u for g in it) for u in untouched)
    # Losses counted: every complete delimited run is a frame or an error, none vanishes silently.
    parts = [p for p in stream.split(b"\x00")[:-1] if p]
    assert dec.frames + dec.errors == len(parts) == whole_dec.frames + whole_dec.errors
    assert dec.frames == len(out)
    assert len(out) >= len(untouched)
    if not any(g for g, _, _ in items):
        assert len(out) == sent and dec.errors == 0
