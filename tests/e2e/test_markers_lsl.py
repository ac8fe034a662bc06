"""Markers from a FIFO (`record --markers-from`, the scripted path for pipes and foot pedals) on the REAL
virtual roller with `--lsl`: the markers are in the recording and arrive on the LSL marker stream as `mark`
events stamped at the same session time; stdin is not a terminal and is never read."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import lab_support as support
support.use_loopback_lsl()
pylsl = pytest.importorskip("pylsl", reason="pylsl missing: install the lab extra (pip install -e '.[lab]')")
virtual = pytest.importorskip("holdsense.virtual", reason="needs the virtual device")

from holdsense.io.markers import markers_of  # noqa: E402
from holdsense.io.recording import read_recording  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")]

SCENARIO = {"name": "markers-lsl", "encoder": True, "body_mass_kg": 70,
            "phases": [{"kind": "off", "duration_s": 1}, {"kind": "roll", "duration_s": 4},
                       {"kind": "hold", "duration_s": 10}, {"kind": "roll", "duration_s": 4},
                       {"kind": "off", "duration_s": 2}]}


def test_markers_from_a_fifo_reach_the_file_and_lsl(tmp_path: Path) -> None:
    scen = tmp_path / "scenario.json"
    scen.write_text(json.dumps(SCENARIO))
    out, fifo = tmp_path / "rec.csv", tmp_path / "markers.fifo"
    os.mkfifo(fifo)
    link = str(tmp_path / "roller")
    with virtual.spawn(scenario=str(scen), speed=1.0, link=link, wait_for_start=True):
        err = open(tmp_path / "record.err", "w")
        proc = subprocess.Popen(support.holdsense_cmd() + ["record", "--port", link, "-o", str(out),
                                                           "--duration", "20", "--lsl", "--markers-from", str(fifo)],
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                env=support.cli_env())
        try:
            ms = pylsl.resolve_byprop("type", "Markers", minimum=1, timeout=60)
            assert ms, (tmp_path / "record.err").read_text()
            m_in = pylsl.StreamInlet(ms[0], max_buflen=600)
            m_in.open_stream(timeout=10)
            with open(fifo, "w") as fh:  # the recorder opened its end; a pedal script would write like this
                for line in ("hold start", "note right calf, knot", "", "# a comment", "hold_end"):
                    time.sleep(1.5)
                    fh.write(line + "\n")
                    fh.flush()
                received = []
                t_end = time.monotonic() + 60
                while proc.poll() is None and time.monotonic() < t_end:
                    md, mts = m_in.pull_chunk(timeout=0.2)
                    received += [(s, json.loads(x[0])) for s, x in zip(mts, md)]
                md, mts = m_in.pull_chunk(timeout=0.5)
                received += [(s, json.loads(x[0])) for s, x in zip(mts, md)]
            assert proc.wait(60) == 0, (tmp_path / "record.err").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.close()
    log = (tmp_path / "record.err").read_text()
    assert "3 markers" in log and "keys:" not in log  # no terminal: keys are never read
    marks = markers_of(read_recording(out))
    assert [(m.kind, m.text) for m in marks] == [("hold_start", ""), ("note", "right calf, knot"), ("hold_end", "")]
    lsl_marks = [m for _, m in received if m["event"] == "mark"]
    assert [(m["mark"], m.get("text", "")) for m in lsl_marks] == [(m.kind, m.text) for m in marks]
    for m, l in zip(marks, lsl_marks):
        assert l["t_s"] == pytest.approx(m.t_s, abs=1e-3)
    # stamped from the device clock like the force samples (real time here: the offset stays fixed)
    stamps = {m["mark"]: s for s, m in received if m["event"] == "mark"}
    assert stamps["hold_end"] - stamps["hold_start"] == pytest.approx(marks[2].t_s - marks[0].t_s, abs=0.05)
