"""End to end: `holdsense replay FILE --lsl` (a subprocess) seen by LSL inlets, then recorded to XDF.

The test plays LabRecorder's part: it resolves the roller's Force and
Markers streams on the loopback, records everything, checks it against
`holdsense analyze --json` of the same file, writes what it received as an
XDF file (stream headers as the inlets report them, clock offsets from
`time_correction()`), and analyses that XDF with `holdsense analyze`.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import lab_support as support
import xdf_writer
support.use_loopback_lsl()
pylsl = pytest.importorskip("pylsl", reason="pylsl missing: install the lab extra (pip install -e '.[lab]')")

from holdsense.io.recording import read_recording, write_recording  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _session_file(tmp_path: Path) -> tuple[Path, str]:
    """A recording with a device id unique to this run (so concurrent test runs never see each other's
    streams): the bundled demo recording when the simulator has made it, else a synthetic session."""
    dev_id = "5E:" + ":".join(uuid.uuid4().hex[i:i + 2].upper() for i in range(0, 10, 2))
    out = tmp_path / "session.csv"
    bundled = support.REPO / "recordings" / "demo-standard.csv"
    if bundled.exists():
        rec = read_recording(bundled)
        meta = {k: v for k, v in rec.metadata.items() if k != "format"}
        meta["device"] = f"holdsense-roller fw=0.3.0 id={dev_id}"
        write_recording(out, rec.samples, meta)
    else:
        chunk = support.synthetic_session(support.STANDARD_PLAN, seed=11)
        write_recording(out, chunk, {"sample_rate_hz": 80, "device": f"holdsense-roller fw=0.3.0 id={dev_id}",
                                     "region": "quads", "body_mass_kg": 72})
    return out, re.sub(r"[^0-9A-F]", "", dev_id)


def _channels(info) -> list[tuple[str, str]]:
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit")))
        ch = ch.next_sibling()
    return out


def test_replay_lsl_streams_force_and_markers_matching_analyze_and_xdf(tmp_path: Path) -> None:
    rec_path, ident = _session_file(tmp_path)
    rec = read_recording(rec_path)
    n = len(rec.samples)

    analysis = subprocess.run(support.holdsense_cmd() + ["analyze", str(rec_path), "--json"], capture_output=True,
                              text=True, env=support.cli_env(), timeout=120)
    assert analysis.returncode == 0, analysis.stderr
    expected = json.loads(analysis.stdout)
    assert expected["holds"], "the session should contain holds"

    out_f = open(tmp_path / "replay.out", "w")
    err_f = open(tmp_path / "replay.err", "w")
    proc = subprocess.Popen(support.holdsense_cmd() + ["replay", str(rec_path), "--lsl", "--speed", "max",
                                                       "--lsl-wait", "60", "--plain"],
                            stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=support.cli_env())
    try:
        force_id, marker_id = f"holdsense-force-replay-{ident}", f"holdsense-markers-replay-{ident}"
        fs = pylsl.resolve_byprop("source_id", force_id, minimum=1, timeout=60)
        ms = pylsl.resolve_byprop("source_id", marker_id, minimum=1, timeout=60)
        assert fs and ms, (tmp_path / "replay.err").read_text()
        f_in = pylsl.StreamInlet(fs[0], max_buflen=3600)
        m_in = pylsl.StreamInlet(ms[0], max_buflen=3600)
        f_info = f_in.info(timeout=10)
        m_info = m_in.info(timeout=10)
        # Clock offsets first: the replay waits for our data connection (--lsl-wait), then runs at max speed.
        offsets = [(pylsl.local_clock(), f_in.time_correction(timeout=10), m_in.time_correction(timeout=10))]
        f_in.open_stream(timeout=10)
        m_in.open_stream(timeout=10)
        data: list = []
        stamps: list = []
        markers: list = []
        m_stamps: list = []
        deadline = time.monotonic() + 120
        idle = 0
        while time.monotonic() < deadline:
            d, ts = f_in.pull_chunk(timeout=0.2, max_samples=100000)
            data += d
            stamps += ts
            md, mts = m_in.pull_chunk(timeout=0.0, max_samples=1000)
            markers += [x[0] for x in md]
            m_stamps += mts
            if proc.poll() is not None:
                idle = 0 if d else idle + 1
                if len(stamps) >= n or idle > 10:  # all there, or 2 s of nothing after the replay ended
                    break
        md, mts = m_in.pull_chunk(timeout=1.0, max_samples=1000)
        markers += [x[0] for x in md]
        m_stamps += mts
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out_f.close()
        err_f.close()
    err = (tmp_path / "replay.err").read_text()
    assert proc.returncode == 0, err
    assert f"holdsense-replay-{ident[-4:]}" in err and "this computer only" in err

    # --- the force stream: every sample, device-clock spacing, metadata
    assert f_info.type() == "Force" and f_info.nominal_srate() == 80
    assert _channels(f_info) == [("force_n", "newtons"), ("angle_deg", "degrees")]
    assert m_info.type() == "Markers"
    stamps_a = np.asarray(stamps)
    data_a = np.asarray(data)
    assert len(stamps_a) == n
    np.testing.assert_allclose(data_a[:, 0], rec.samples.force_n, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(data_a[:, 1], rec.samples.angle_deg, atol=1e-9, equal_nan=True)
    # Played at max speed, yet stamped on the device clock: spacing equals the recording's t_s spacing.
    np.testing.assert_allclose(np.diff(stamps_a), np.diff(rec.samples.t_s), rtol=0, atol=1e-6)
    offset = stamps_a[0] - rec.samples.t_s[0]
    assert stamps_a[-1] - stamps_a[0] == pytest.approx(rec.samples.t_s[-1] - rec.samples.t_s[0], abs=1e-6)

    # --- the marker stream: JSON, stamped at the event times, agreeing with `analyze`
    objs = [json.loads(m) for m in markers]
    for stamp, o in zip(m_stamps, objs):
        t_event = {"state": o.get("start_s"), "hold_started": o.get("start_s"), "hold_ended": o.get("end_s"),
                   "warning": o.get("t_s"), "gap": o.get("t_s")}[o["event"]]
        assert stamp - offset == pytest.approx(t_event, abs=2e-3)
    ended = [o for o in objs if o["event"] == "hold_ended"]
    started = [o for o in objs if o["event"] == "hold_started"]
    assert len(ended) == len(started) == len(expected["holds"])
    for o, h, s in zip(ended, expected["holds"], started):
        assert o["start_s"] == pytest.approx(h["start_s"], abs=2e-3) == s["start_s"]
        assert o["end_s"] == pytest.approx(h["end_s"], abs=2e-3)
        assert o["duration_s"] == pytest.approx(h["duration_s"], abs=2e-3)
        assert o["score"] == h["score"] and o["grade"] == h["grade"]
        assert o["mean_force_n"] == pytest.approx(h["mean_force_n"], abs=0.01)
        assert o["hold"] == s["hold"]
        assert s["confirmed_s"] >= s["start_s"]
    states = [(o["state"], o["start_s"]) for o in objs if o["event"] == "state"]
    segs = expected["segments"]
    # every segment boundary of the analysis is a state marker (the first segment is the initial state)
    assert [k for k, _ in states] == [s["kind"] for s in segs[1:]] or \
        [k for k, _ in states] == [s["kind"] for s in segs]
    seg_starts = [s["start_s"] for s in segs if s["start_s"] > 0]
    np.testing.assert_allclose([t for _, t in states if t > 0], seg_starts, atol=2e-3)

    # --- what LabRecorder would have written: an XDF of both streams, analysed by holdsense
    # LabRecorder measures the offsets every few seconds while the outlet lives; the replay has ended
    # by now, so the last measurement stands for the end of the recording too.
    offsets.append((stamps_a[-1], offsets[0][1], offsets[0][2]))
    xdf = tmp_path / "session.xdf"
    with xdf_writer.XdfWriter(xdf) as w:
        w.add_stream(1, f_info.as_xml())
        w.add_stream(2, m_info.as_xml())
        w.write_clock_offset(1, offsets[0][0], offsets[0][1])
        w.write_clock_offset(2, offsets[0][0], offsets[0][2])
        for a in range(0, n, 1000):  # LabRecorder writes chunks as they arrive
            w.write_samples(1, stamps_a[a:a + 1000].tolist(), data_a[a:a + 1000])
            w.write_boundary()
        w.write_samples(2, list(m_stamps), [[m] for m in markers])
        w.write_clock_offset(1, offsets[1][0], offsets[1][1])
        w.write_clock_offset(2, offsets[1][0], offsets[1][2])
    r = subprocess.run(support.holdsense_cmd() + ["analyze", str(xdf), "--json"], capture_output=True, text=True,
                       env=support.cli_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["source"] == str(xdf)
    assert len(got["holds"]) == len(expected["holds"])
    for a, b in zip(got["holds"], expected["holds"]):
        assert a["start_s"] == pytest.approx(b["start_s"], abs=0.02)
        assert a["duration_s"] == pytest.approx(b["duration_s"], abs=0.02)
        assert a["score"] == b["score"]
    m = got["markers"]
    assert m["stream"] == m_info.name()
    assert m["recorded_holds"] == m["analysis_holds"] == m["matched"] == len(expected["holds"])
    assert m["same_score"] == m["matched"] and m["max_abs_diff_s"] <= 0.02
    assert m["unmatched_analysis"] == [] and m["unmatched_recorded"] == []
    text = subprocess.run(support.holdsense_cmd() + ["analyze", str(xdf)], capture_output=True, text=True,
                          env=support.cli_env(), timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"{m['matched']} line up" in text.stdout


def test_replay_lsl_without_pylsl_is_a_clear_error(tmp_path: Path) -> None:
    rec_path, _ = _session_file(tmp_path)
    code = ("import sys; sys.modules['pylsl'] = None\n"
            "from holdsense.cli import main; sys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "replay", str(rec_path), "--lsl", "--speed", "max"],
                       capture_output=True, text=True, env=support.cli_env(), timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "pip install 'holdsense[lab]'" in r.stderr
    r = subprocess.run(support.holdsense_cmd() + ["replay", str(rec_path), "--lsl-wait", "3"],
                       capture_output=True, text=True, env=support.cli_env(), timeout=120)
    assert r.returncode == 2 and "--lsl-wait needs --lsl" in r.stderr
