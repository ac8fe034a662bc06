"""XDF import (holdsense.io.xdf): files written by the test's XDF writer, read back by real pyxdf.

Covers stream selection (holdsense Force among other devices' streams,
`--stream`), units, gaps, the marker comparison, and each bad input with its
one-line error (exit 2) through the real `holdsense analyze` CLI.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import lab_support as support
import xdf_writer as xw
pyxdf = pytest.importorskip("pyxdf", reason="pyxdf missing: install the lab extra (pip install -e '.[lab]')")

import rollsignal  # noqa: E402
from holdsense.cli import main  # noqa: E402
from holdsense.errors import UserError  # noqa: E402
from holdsense.listeners.lsl import marker_for_event  # noqa: E402
from holdsense.io.xdf import compare_holds, read_xdf  # noqa: E402
from holdsense.io.recording import write_recording  # noqa: E402

LSL_T0 = 51234.5  # an LSL clock reading (seconds since the recorder's boot): stamps are not session times


def _force_header(name="holdsense-1122", *, angle=True, unit="newtons", source_id="holdsense-force-AABBCC001122",
                  holdsense=True, type_="Force", fmt="double64"):
    chs = [{"label": "force_n", "unit": unit, "type": "Force"}]
    if angle:
        chs.append({"label": "angle_deg", "unit": "degrees", "type": "Angle"})
    extra = ("<acquisition><manufacturer>holdsense</manufacturer><model>holdsense-roller</model>"
             "<serial_number>AA:BB:CC:00:11:22</serial_number></acquisition>"
             "<holdsense><region>calves</region><body_mass_kg>72</body_mass_kg></holdsense>") if holdsense else ""
    return xw.stream_header_xml(name=name, type_=type_, channel_count=len(chs), nominal_srate=80.0,
                                channel_format=fmt, source_id=source_id, channels=chs, desc_extra=extra)


def _marker_header(force_name="holdsense-1122", source_id="holdsense-markers-AABBCC001122"):
    return xw.stream_header_xml(name=f"{force_name}-markers", type_="Markers", channel_count=1, nominal_srate=0.0,
                                channel_format="string", source_id=source_id,
                                desc_extra=f"<holdsense><force_stream>{force_name}</force_stream></holdsense>")


def _events_as_markers(chunk, offset_s: float) -> tuple[list[float], list[list[str]]]:
    """What LslMarkerOutlet would have pushed for this session: real Detector events, stamped alike."""
    det = rollsignal.Detector()
    events = []
    for part in chunk.split(list(range(40, len(chunk), 40))):
        events += det.process(part)
    events += det.finish()
    stamps, texts, holds = [], [], 0
    for ev in events:
        if ev.kind == "hold_started":
            holds += 1
        m = marker_for_event(ev, holds)
        if m is not None:
            t, obj = m
            stamps.append(t + offset_s)
            texts.append([json.dumps({k: v for k, v in obj.items() if v is not None}, separators=(",", ":"))])
    return stamps, texts


def _write_session_xdf(path: Path, chunk, *, markers=True, other_streams=True, chunk_n=500):
    offset = LSL_T0 - float(chunk.t_s[0])
    stamps = chunk.t_s + offset
    values = np.column_stack([chunk.force_n, chunk.angle_deg])
    with xw.XdfWriter(path) as w:
        if other_streams:  # a lab recording: EEG and a stimulus marker stream beside the roller
            w.add_stream(7, xw.stream_header_xml(name="BioSemi", type_="EEG", channel_count=2, nominal_srate=512.0,
                                                 channel_format="float32", source_id="biosemi-1"))
            w.add_stream(8, xw.stream_header_xml(name="PsychoPy", type_="Markers", channel_count=1,
                                                 nominal_srate=0.0, channel_format="string", source_id="pp"))
            w.write_samples(8, [LSL_T0 + 1.0], [["trial 1 start"]])
        w.add_stream(1, _force_header())
        w.write_clock_offset(1, LSL_T0, -0.0004)
        if markers:
            w.add_stream(2, _marker_header())
        for a in range(0, len(chunk), chunk_n):
            w.write_samples(1, stamps[a:a + chunk_n].tolist(), values[a:a + chunk_n])
            if other_streams and a == 0:
                w.write_samples(7, [LSL_T0 + k / 512 for k in range(64)], np.zeros((64, 2)))
            w.write_boundary()
        if markers:
            ms, mt = _events_as_markers(chunk, offset)
            w.write_samples(2, ms, mt)
        w.write_clock_offset(1, float(stamps[-1]), -0.0004)
    return offset


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The installed CLI in a subprocess (exit code, stdout, stderr as a user sees them)."""
    return subprocess.run(support.holdsense_cmd() + list(args), capture_output=True, text=True,
                          env=support.cli_env(), timeout=120)


def _main(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same CLI entry point in this process: most cases, without paying scipy's import per call."""
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), rc, out.out, out.err)


def test_writer_round_trip_through_pyxdf(tmp_path: Path) -> None:
    p = tmp_path / "w.xdf"
    with xw.XdfWriter(p) as w:
        w.add_stream(3, xw.stream_header_xml(name="n", type_="Force", channel_count=2, nominal_srate=100.0,
                                             channel_format="float32", source_id="s"))
        w.add_stream(4, xw.stream_header_xml(name="m", type_="Markers", channel_count=1, nominal_srate=0.0,
                                             channel_format="string"))
        w.write_samples(3, [10.0, None, 10.02], [[1, 2], [3, 4], [5, 6]])  # middle stamp deduced from the rate
        w.write_samples(4, [10.5, 11.0], [["a"], ["é" * 300]])  # 600-byte string: 4-byte length field
        w.write_clock_offset(3, 10.0, 0.0)
        w.write_clock_offset(3, 20.0, 0.0)
    streams, header = pyxdf.load_xdf(str(p), synchronize_clocks=False, dejitter_timestamps=False)
    by = {s["info"]["name"][0]: s for s in streams}
    np.testing.assert_allclose(by["n"]["time_stamps"], [10.0, 10.01, 10.02])
    np.testing.assert_allclose(by["n"]["time_series"], [[1, 2], [3, 4], [5, 6]])
    assert by["m"]["time_series"] == [["a"], ["é" * 300]]
    assert by["n"]["footer"]["info"]["sample_count"] == ["3"]
    assert header["info"]["version"] == ["1.0"]


def test_device_line_of_the_stream_is_the_recordings_verbatim(tmp_path: Path) -> None:
    """A holdsense stream carries the CSV header's device line (desc/holdsense/device): the XDF's metadata (and
    the --sessions table's `device`) then agree with the CSV it was recorded or replayed from (here a simulated
    session's, which the acquisition fields alone would call a holdsense-roller)."""
    line = "holdsense-sim 0.1.0 scenario=standard seed=24"
    chs = [{"label": "force_n", "unit": "newtons", "type": "Force"}]
    hdr = xw.stream_header_xml(
        name="holdsense-1122", type_="Force", channel_count=1, nominal_srate=80.0, channel_format="double64",
        source_id="holdsense-force-AABBCC001122", channels=chs,
        desc_extra=("<acquisition><manufacturer>holdsense</manufacturer><model>holdsense-roller</model>"
                    "<serial_number>AA:BB:CC:00:11:22</serial_number><firmware>0.3.0</firmware></acquisition>"
                    f"<holdsense><device>{line}</device></holdsense>"))
    x = tmp_path / "dev.xdf"
    with xw.XdfWriter(x) as w:
        w.add_stream(1, hdr)
        t = LSL_T0 + np.arange(200) / 80.0
        w.write_samples(1, list(t), np.full((200, 1), 100.0))
    assert read_xdf(x).metadata["device"] == line


def test_reads_holdsense_stream_among_others_and_lines_up_markers(tmp_path: Path, capsys) -> None:
    chunk = support.synthetic_session(support.STANDARD_PLAN, seed=5)
    x = tmp_path / "lab.xdf"
    _write_session_xdf(x, chunk)
    rec = read_xdf(x)
    assert rec.stream_name == "holdsense-1122"
    assert rec.region == "calves" and rec.body_mass_kg == 72
    assert rec.metadata["device"] == "holdsense-roller id=AA:BB:CC:00:11:22"
    # t_s: seconds from the stream's first sample, on the recorder's clock (the clock offset applied to all)
    np.testing.assert_allclose(rec.samples.t_s, chunk.t_s - chunk.t_s[0], atol=1e-6)
    np.testing.assert_array_equal(rec.samples.force_n, chunk.force_n)
    assert rec.marker_stream == "holdsense-1122-markers"
    # The CLI: same holds as the CSV of the same session, and every recorded hold lines up.
    csv = tmp_path / "lab.csv"
    write_recording(csv, chunk, {"sample_rate_hz": 80, "region": "calves", "body_mass_kg": 72})
    a_csv = json.loads(_main(capsys, "analyze", str(csv), "--json").stdout)
    r = _cli("analyze", str(x), "--json")
    assert r.returncode == 0, r.stderr
    a_xdf = json.loads(r.stdout)
    assert len(a_xdf["holds"]) == len(a_csv["holds"])
    for hx, hc in zip(a_xdf["holds"], a_csv["holds"]):
        assert (hx["start_s"], hx["end_s"]) == pytest.approx((hc["start_s"], hc["end_s"]), abs=1e-3)
        assert hx["score"] == hc["score"]
    m = a_xdf["markers"]
    assert m["matched"] == m["recorded_holds"] == len(a_csv["holds"]) == 2
    assert m["same_score"] == 2 and m["max_abs_diff_s"] <= 0.002
    assert m["events"]["hold_ended"] == 2 and m["events"]["state"] >= 4
    text = _main(capsys, "analyze", str(x)).stdout
    assert "Recorded markers (holdsense-1122-markers): 2 holds recorded, 2 found here, 2 line up" in text


def test_markers_that_disagree_are_reported(tmp_path: Path, capsys) -> None:
    chunk = support.synthetic_session(support.STANDARD_PLAN, seed=5)
    offset = LSL_T0 - float(chunk.t_s[0])
    x = tmp_path / "d.xdf"
    with xw.XdfWriter(x) as w:
        w.add_stream(1, _force_header())
        w.add_stream(2, _marker_header())
        w.write_samples(1, (chunk.t_s + offset).tolist(), np.column_stack([chunk.force_n, chunk.angle_deg]))
        ms, mt = _events_as_markers(chunk, offset)
        objs = [json.loads(t[0]) for t in mt]
        keep = [i for i, o in enumerate(objs) if not (o["event"] in ("hold_ended", "hold_started") and o["hold"] == 2)]
        ended = next(i for i in keep if objs[i]["event"] == "hold_ended")
        objs[ended]["score"] = 12  # the live run scored this hold differently
        # plus a hold the live run saw that this analysis does not (e.g. other profile live)
        extra = {"event": "hold_ended", "hold": 9, "start_s": 5.0, "end_s": 11.0, "duration_s": 6.0, "score": 30}
        w.write_samples(2, [ms[i] for i in keep] + [11.0 + offset],
                        [[json.dumps(objs[i])] for i in keep] + [[json.dumps(extra)]])
    r = _main(capsys, "analyze", str(x), "--json")
    m = json.loads(r.stdout)["markers"]
    assert (m["recorded_holds"], m["analysis_holds"], m["matched"], m["same_score"]) == (2, 2, 1, 0)
    assert len(m["unmatched_analysis"]) == 1 and m["unmatched_recorded"][0]["start_s"] == pytest.approx(5.0)
    text = _main(capsys, "analyze", str(x)).stdout
    assert "2 holds recorded, 2 found here, 1 line up" in text
    assert "recorded live" in text and "has no recorded marker" in text and "(score 30) not found here" in text


def test_stream_option_units_and_gaps(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(2)
    t = np.arange(2400) / 80.0
    t[1200:] += 2.0  # 2 s without samples: a link loss LabRecorder recorded as it happened
    kgf = 14.0 + rng.normal(0, 0.1, len(t))
    x = tmp_path / "other.xdf"
    with xw.XdfWriter(x) as w:
        for sid, name in ((1, "gauge-left"), (2, "gauge-right")):
            w.add_stream(sid, xw.stream_header_xml(
                name=name, type_="Force", channel_count=1, nominal_srate=80.0, channel_format="float32",
                source_id=name, channels=[{"label": "Fz", "unit": "kgf"}]))
            w.write_samples(sid, (t + 100).tolist(), kgf[:, None] * sid)
    r = _cli("analyze", str(x))
    assert r.returncode == 2
    assert "several force streams ('gauge-left' (Force), 'gauge-right' (Force)); choose one with --stream NAME" \
        in r.stderr
    rec = read_xdf(x, stream="gauge-right")
    np.testing.assert_allclose(rec.samples.force_n, kgf * 2 * 9.80665, rtol=1e-6)  # kgf converted to N
    assert rec.samples.angle_deg is None
    assert np.flatnonzero(rec.samples.flags & rollsignal.FLAG_GAP).tolist() == [1200]
    assert read_xdf(x, stream="GAUGE-LEFT").stream_name == "gauge-left"  # names match case-insensitively
    r = _main(capsys, "analyze", str(x), "--stream", "gauge-left", "--json")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["quality"]["gaps"] == 1 and "markers" not in a


@pytest.mark.parametrize("case, message", [
    ("not_xdf", "not an XDF file"),
    ("no_force", "no holdsense force stream (type Force) (streams: 'BioSemi' (EEG)); choose one with --stream"),
    ("wrong_name", "no stream named 'roller' (streams: 'holdsense-1122' (Force))"),
    ("empty", "stream 'holdsense-1122' has no samples"),
    ("unit", "force unit 'psi' is not one holdsense converts"),
    ("no_force_channel", "has no force channel (channels: x, y)"),
    ("text_stream", "holds text, not force samples"),
    ("missing", "no such file"),
])
def test_bad_xdf_inputs_give_one_line_and_exit_2(tmp_path: Path, capsys, case: str, message: str) -> None:
    x = tmp_path / f"{case}.xdf"
    stream = None
    if case == "not_xdf":
        x.write_text("t_s,force_n\n0,1\n")
    elif case != "missing":
        with xw.XdfWriter(x) as w:
            if case == "no_force":
                w.add_stream(1, xw.stream_header_xml(name="BioSemi", type_="EEG", channel_count=1,
                                                     nominal_srate=512.0, channel_format="float32"))
                w.write_samples(1, [1.0], [[0.0]])
            elif case == "text_stream":
                w.add_stream(1, _marker_header())
                w.write_samples(1, [1.0], [["x"]])
                stream = "holdsense-1122-markers"
            elif case == "no_force_channel":
                w.add_stream(1, xw.stream_header_xml(
                    name="holdsense-1122", type_="Force", channel_count=2, nominal_srate=80.0,
                    channel_format="float32", channels=[{"label": "x"}, {"label": "y"}]))
                w.write_samples(1, [1.0], [[0.0, 0.0]])
            else:
                w.add_stream(1, _force_header(unit="psi" if case == "unit" else "newtons"))
                if case != "empty":
                    w.write_samples(1, [1.0, 1.0125], [[1.0, 0.0], [2.0, 0.0]])
                if case == "wrong_name":
                    stream = "roller"
    args = ["analyze", str(x)] + (["--stream", stream] if stream else [])
    r = _cli(*args) if case == "not_xdf" else _main(capsys, *args)  # one through a real subprocess
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"holdsense: error: {x}: ") and message in lines[0], r.stderr
    with pytest.raises(UserError):
        read_xdf(x, stream)


def test_truncated_xdf_keeps_what_was_recorded(tmp_path: Path, capsys) -> None:
    """LabRecorder killed mid-write: pyxdf recovers the complete chunks; the warning travels in the analysis."""
    chunk = support.synthetic_session([("off", 2), ("roll", 8), ("hold", 20)], seed=1)
    x = tmp_path / "cut.xdf"
    _write_session_xdf(x, chunk, markers=False, other_streams=False, chunk_n=400)
    data = x.read_bytes()
    x.write_bytes(data[:len(data) - 5000])  # footer and part of the last samples chunk gone
    rec = read_xdf(x)
    assert 0.7 * len(chunk) < len(rec.samples) < len(chunk)
    assert rec.warnings and all(w.startswith("XDF: ") for w in rec.warnings)
    r = _main(capsys, "analyze", str(x), "--json")
    assert r.returncode == 0, r.stderr
    assert any("XDF" in w for w in json.loads(r.stdout)["quality"]["warnings"])


def test_stream_option_needs_an_xdf(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "a.csv"
    write_recording(csv, support.synthetic_session([("roll", 5)], seed=1), {"sample_rate_hz": 80})
    r = _main(capsys, "analyze", str(csv), "--stream", "x")
    assert r.returncode == 2 and "--stream x: picks a stream inside .xdf files" in r.stderr


def test_compare_holds_pairs_by_overlap() -> None:
    a = [{"start_s": 10.0, "end_s": 50.0, "score": 80}, {"start_s": 60.0, "end_s": 70.0, "score": 40},
         {"start_s": 100.0, "end_s": 106.0, "score": 20}]
    r = [{"start_s": 10.2, "end_s": 49.9, "score": 80}, {"start_s": 58.0, "end_s": 75.0, "score": 45},
         {"start_s": 200.0, "end_s": 230.0, "score": 90}]
    out = compare_holds(a, r)
    assert out["matched"] == 2 and out["same_score"] == 1
    assert out["pairs"][0]["start_diff_s"] == pytest.approx(-0.2) and out["pairs"][0]["end_diff_s"] == pytest.approx(0.1)
    assert out["max_abs_diff_s"] == pytest.approx(5.0)
    assert [u["start_s"] for u in out["unmatched_analysis"]] == [100.0]
    assert [u["start_s"] for u in out["unmatched_recorded"]] == [200.0]
    # a recorded hold twice as long as ours overlaps less than half its union: not the same hold
    assert compare_holds([{"start_s": 0.0, "end_s": 10.0}], [{"start_s": 0.0, "end_s": 25.0}])["matched"] == 0


def test_a_signalling_nan_in_the_force_is_a_missing_value_not_a_numpy_warning(tmp_path: Path) -> None:
    """A corrupt double can be a *signalling* NaN (found by the fuzzer, tests/host/test_properties.py): the unit
    conversion's multiply raised numpy's 'invalid value encountered in multiply' RuntimeWarning (an error under
    the test suite's filterwarnings, a stray warning on a user's stderr). It is a missing value like any NaN."""
    import warnings

    snan = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]
    t = np.arange(0, 20, 1 / 80)
    values = np.column_stack([150 + 40 * np.sin(t), t * 90])
    values[100, 0] = snan
    values[200, 1] = snan
    p = tmp_path / "snan.xdf"
    with xw.XdfWriter(p) as w:
        w.add_stream(1, _force_header())
        w.write_samples(1, (t + LSL_T0).tolist(), values)
    assert np.isnan(np.frombuffer(p.read_bytes(), dtype="<f8", count=1, offset=p.read_bytes().index(
        np.float64(snan).tobytes()))[0])  # (the bytes written are the signalling NaN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_xdf(p)
    assert np.isnan(rec.samples.force_n[100]) and np.isnan(rec.samples.angle_deg[200])
    assert np.isfinite(rec.samples.force_n[101])
