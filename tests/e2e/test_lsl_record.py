"""`holdsense record --lsl` from the virtual device (the firmware's own code on a pty), unplugged mid-session.

Real time (speed 1): the LSL stamps must follow the device clock, survive
the reconnect (same outlet, same source id, re-anchored, never backwards)
and carry exactly the samples the recording file got.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import lab_support as support
support.use_loopback_lsl()
pylsl = pytest.importorskip("pylsl", reason="pylsl missing: install the lab extra (pip install -e '.[lab]')")
virtual = pytest.importorskip("holdsense.virtual", reason="needs the virtual device")

from holdsense.io.recording import read_recording  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCENARIO = {"name": "lsl-record", "description": "short session for the LSL record test", "encoder": True,
            "body_mass_kg": 70,
            "phases": [{"kind": "off", "duration_s": 1.5}, {"kind": "roll", "duration_s": 5},
                       {"kind": "hold", "duration_s": 12}, {"kind": "roll", "duration_s": 4},
                       {"kind": "off", "duration_s": 3}]}


def test_record_lsl_follows_the_device_clock_across_an_unplug(tmp_path: Path) -> None:
    scen = tmp_path / "scenario.json"
    scen.write_text(json.dumps(SCENARIO))
    out = tmp_path / "rec.csv"
    # a --link name comes back after the unplug (the new pty may get another number on a busy machine)
    link = str(tmp_path / "roller")
    with virtual.spawn(scenario=str(scen), speed=1.0, link=link) as dev:
        err_f = open(tmp_path / "record.err", "w")
        proc = subprocess.Popen(support.holdsense_cmd() + ["record", "--port", link, "-o", str(out),
                                                           "--duration", "24", "--lsl"],
                                stdout=subprocess.DEVNULL, stderr=err_f, stdin=subprocess.DEVNULL,
                                env=support.cli_env())
        try:
            fs = pylsl.resolve_byprop("type", "Force", minimum=1, timeout=60)
            ms = pylsl.resolve_byprop("type", "Markers", minimum=1, timeout=60)
            assert fs and ms, (tmp_path / "record.err").read_text()
            f_info, m_info = fs[0], ms[0]
            # the roller's id (the virtual board's unique id) names the streams
            did = dev.control({"query": True})["device_id"]
            assert f_info.source_id() == f"holdsense-force-{did}"
            assert m_info.source_id() == f"holdsense-markers-{did}"
            f_in = pylsl.StreamInlet(f_info, max_buflen=600)
            m_in = pylsl.StreamInlet(m_info, max_buflen=600)
            f_in.open_stream(timeout=10)
            m_in.open_stream(timeout=10)
            data, stamps, markers, pulled_at = [], [], [], []
            unplugged = False
            t_start = time.monotonic()
            while time.monotonic() - t_start < 90:
                d, ts = f_in.pull_chunk(timeout=0.2, max_samples=10000)
                data += d
                stamps += ts
                pulled_at += [pylsl.local_clock()] * len(ts)
                md, mts = m_in.pull_chunk(timeout=0.0)
                markers += [(s, x[0]) for s, x in zip(mts, md)]
                if not unplugged and len(stamps) > 80 * 6:
                    dev.control({"unplug_s": 1.5})  # the cable pulled for 1.5 s, mid-hold
                    unplugged = True
                if proc.poll() is not None and not d:
                    break
            md, mts = m_in.pull_chunk(timeout=1.0)
            markers += [(s, x[0]) for s, x in zip(mts, md)]
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err_f.close()
    err = (tmp_path / "record.err").read_text()
    assert proc.returncode == 0, err
    rec = read_recording(out)
    smp = rec.samples
    n = len(stamps)
    assert n > 0.6 * len(smp)
    # The inlet joined a little after the recording began: what it got is the file's tail, sample for sample.
    k = len(smp) - n
    data_a, stamps_a = np.asarray(data), np.asarray(stamps)
    np.testing.assert_allclose(data_a[:, 0], smp.force_n[k:], atol=1.5e-3)  # the file keeps 3 decimals
    np.testing.assert_allclose(data_a[:, 1], smp.angle_deg[k:], atol=1.5e-3)
    t = smp.t_s[k:]
    assert re.search(r"reconnects [1-9]", err), err  # the unplug happened and the roller came back
    assert np.all(np.diff(stamps_a) > 0)
    # Stamps are device time + an offset that changes only a few times (the settle window after the start
    # and after the reconnect, a gap): everywhere else the spacing is the device's own.
    steps = np.abs(np.diff(stamps_a) - np.diff(t)) > 1e-6
    assert np.count_nonzero(steps) <= 12
    off = stamps_a - t
    assert off.max() - off.min() < 0.25  # real time: the offset moves by link delays, not by seconds
    # Never ahead of when the sample reached us, and not stale: a clock where the samples really were taken.
    lag = np.asarray(pulled_at) - stamps_a
    assert lag.min() > -0.05 and np.median(lag) < 0.5
    objs = [json.loads(x) for _, x in markers]
    kinds = [o["event"] for o in objs]
    assert "hold_started" in kinds and "hold_ended" in kinds
    ended = next(o for o in objs if o["event"] == "hold_ended")
    assert 8 <= ended["duration_s"] <= 14 and 0 <= ended["score"] <= 100
    assert "visible on this computer only" in err
    # the config's full path: a bare "lsl_api.cfg" could be ./, ~/lsl_api/ or the package's own
    assert f"[config {os.environ['LSLAPICFG']}]" in err, err
