"""LSL outlets (holdsense.lab.lsl) received by real pylsl inlets on the loopback.

The outlets are fed by hand: SampleChunks as a receive loop delivers them
(uneven chunk sizes, delivery delays) and Detector-shaped events, and a
real inlet in this process checks what a lab's LabRecorder would get.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest


def _load_support():
    spec = importlib.util.spec_from_file_location("lab_support", Path(__file__).with_name("lab_support.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


support = _load_support()
support.use_loopback_lsl()  # before liblsl reads its configuration in this process

pylsl = pytest.importorskip("pylsl", reason="pylsl missing: install the lab extra (pip install -e '.[lab]')")

from holdsense.lab.lsl import LslClock, LslRoller, device_id_from_info, marker_for_event, source_ids  # noqa: E402
from rollsignal import SampleChunk  # noqa: E402


def _unique_info(**extra):
    dev = "7C:DF:A1:" + ":".join(uuid.uuid4().hex[i:i + 2].upper() for i in (0, 2, 4))
    return {"device": f"holdsense-roller fw=0.3.0 id={dev}", "sample_rate_hz": 80, **extra}


def _inlet(source_id: str) -> "pylsl.StreamInlet":
    found = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=5.0)
    assert found, f"stream {source_id} not visible on the loopback"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, recover=True)
    inlet.open_stream(timeout=5.0)
    return inlet


def _pull_all(inlet, want: int, timeout_s: float = 5.0):
    data, stamps = [], []
    deadline = time.monotonic() + timeout_s
    while len(stamps) < want and time.monotonic() < deadline:
        d, ts = inlet.pull_chunk(timeout=0.2, max_samples=4096)
        data.extend(d)
        stamps.extend(ts)
    return data, np.asarray(stamps)


def _channels(info) -> list[tuple[str, str, str]]:
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling()
    return out


def _session(n_chunks_sizes, angle=True):
    rng = np.random.default_rng(3)
    n = int(sum(n_chunks_sizes))
    t = np.cumsum(rng.uniform(0.0115, 0.0135, n))  # a real HX711's wandering rate
    return SampleChunk(t - t[0] + 12.5, rng.normal(120, 20, n), np.cumsum(rng.normal(0, 1, n)) if angle else None)


def test_force_stream_metadata_and_device_clock_stamps() -> None:
    info = _unique_info(region="quads")
    roller = LslRoller(info, has_angle=True)
    roller.open()
    try:
        inlet = _inlet(roller.force.source_id)
        full = inlet.info(timeout=5.0)
        assert full.type() == "Force"
        assert full.nominal_srate() == 80.0
        assert full.channel_count() == 2
        assert full.name() == roller.name and roller.name.startswith("holdsense-")
        assert _channels(full) == [("force_n", "newtons", "Force"), ("angle_deg", "degrees", "Angle")]
        acq = full.desc().child("acquisition")
        assert acq.child_value("manufacturer") == "holdsense"
        assert acq.child_value("serial_number") == device_id_from_info(info)
        assert full.desc().child("holdsense").child_value("region") == "quads"

        sizes = [1, 7, 3, 64, 8, 8, 2, 40, 5, 100, 9]
        chunk = _session(sizes)
        for k, part in enumerate(chunk.split(np.cumsum(sizes)[:-1].tolist())):
            roller.on_samples(part)
            time.sleep(0.003 * (k % 3))  # uneven delivery: must not show in the stamps
        data, stamps = _pull_all(inlet, len(chunk))
        assert len(stamps) == len(chunk)
        np.testing.assert_allclose(np.asarray(data)[:, 0], chunk.force_n, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.asarray(data)[:, 1], chunk.angle_deg, rtol=0, atol=1e-9)
        # Stamps are the device times plus one fixed offset: spacing preserved exactly.
        np.testing.assert_allclose(np.diff(stamps), np.diff(chunk.t_s), rtol=0, atol=1e-9)
        assert stamps[0] - chunk.t_s[0] == pytest.approx(roller.clock.offset_s, abs=1e-9)
        # The offset was taken when the first chunk arrived, on the LSL clock.
        assert abs((chunk.t_s[0] + roller.clock.offset_s) - pylsl.local_clock()) < 5.0
        assert roller.clock.anchors == 1
    finally:
        roller.stop()


def test_force_only_build_has_one_channel() -> None:
    roller = LslRoller(_unique_info())
    chunk = _session([50, 50], angle=False)
    roller.on_samples(chunk.slice(0, 10))  # lazily created at the first chunk: knows there is no angle
    try:
        inlet = _inlet(roller.force.source_id)
        full = inlet.info(timeout=5.0)
        assert full.channel_count() == 1
        assert _channels(full) == [("force_n", "newtons", "Force")]
        roller.on_samples(chunk.slice(10, 100))
        data, stamps = _pull_all(inlet, 90)
        assert len(stamps) == 90
        np.testing.assert_allclose(np.asarray(data)[:, 0], chunk.force_n[10:], atol=1e-9)
    finally:
        roller.stop()


def test_markers_json_and_stamps_at_back_dated_times() -> None:
    roller = LslRoller(_unique_info(), has_angle=True)
    roller.open()
    try:
        inlet = _inlet(roller.markers.source_id)
        full = inlet.info(timeout=5.0)
        assert full.type() == "Markers" and full.channel_format() == pylsl.cf_string
        assert full.nominal_srate() == pylsl.IRREGULAR_RATE
        assert full.desc().child("holdsense").child_value("force_stream") == roller.name
        chunk = _session([400])
        roller.on_samples(chunk)
        off = roller.clock.offset_s
        hold = {"start_s": 14.0, "end_s": 16.5, "duration_s": 2.5, "mean_force_n": 121.456, "force_cv": 0.0312,
                "travel_cm": None, "spot_cm": 3.21, "score": 41, "grade": "too short",
                "feedback": ["Held 2 s: stay 30 s."]}
        events = [
            {"kind": "state", "t_s": 13.2, "state": "roll", "previous": "off", "start_s": 13.0},
            {"kind": "hold_progress", "t_s": 15.0, "start_s": 14.0, "duration_s": 1.0, "mean_force_n": 120.0},
            {"kind": "hold_started", "t_s": 16.0, "start_s": 14.0},
            {"kind": "state", "t_s": 16.0, "state": "hold", "previous": "roll", "start_s": 14.0},
            {"kind": "warning", "t_s": 16.2, "message": "force far above your rolling load"},
            {"kind": "hold_ended", "t_s": 16.6, "hold": hold},
        ]
        for ev in events:
            roller.on_event(ev)
        roller.on_gap(16.7, "link lost", 12)
        got, stamps = _pull_all(inlet, 6)
        objs = [json.loads(s[0]) for s in got]
        assert [o["event"] for o in objs] == ["state", "hold_started", "state", "warning", "hold_ended", "gap"]
        # hold_progress is not a marker; stamps are the event's own (back-dated) times on the same clock.
        expect_t = [13.0, 14.0, 14.0, 16.2, 16.5, 16.7]
        np.testing.assert_allclose(stamps - off, expect_t, atol=1e-9)
        assert objs[1] == {"event": "hold_started", "hold": 1, "start_s": 14.0, "confirmed_s": 16.0}
        assert objs[4] == {"event": "hold_ended", "hold": 1, "start_s": 14.0, "end_s": 16.5, "duration_s": 2.5,
                           "score": 41, "grade": "too short", "mean_force_n": 121.46, "force_cv": 0.0312,
                           "spot_cm": 3.21, "t_s": 16.6}  # travel_cm None: left out; feedback: not in markers
        assert objs[5] == {"event": "gap", "t_s": 16.7, "reason": "link lost", "lost_samples": 12}
        # compact JSON: no spaces between tokens
        assert all(s[0] == json.dumps(o, separators=(",", ":"), ensure_ascii=False) for s, o in zip(got, objs))
    finally:
        roller.stop()


def test_reconnect_reanchors_without_going_backwards() -> None:
    now = [1000.0]
    clock = LslClock(now=lambda: now[0])
    a = clock.stamps(np.array([0.0, 0.5, 1.0]))
    assert a.tolist() == [999.0, 999.5, 1000.0]
    now[0] = 1003.0
    b = clock.stamps(np.array([1.5, 2.0]))  # same anchor: arrival time does not matter
    assert b.tolist() == [1000.5, 1001.0]
    clock.reanchor()  # link re-established: new offset at the next chunk
    now[0] = 1010.0
    c = clock.stamps(np.array([9.0, 9.5]))
    assert c.tolist() == [1009.5, 1010.0] and clock.anchors == 2
    now[0] = 1011.0
    d = clock.stamps(np.array([0.0, 0.1]))  # device rebooted: time base restarts, re-anchored
    assert d[0] > c[-1] and d[1] - d[0] == pytest.approx(0.1)
    now[0] = 900.0  # even a re-anchor that would land earlier keeps stamps increasing
    clock.reanchor()
    e = clock.stamps(np.array([0.2, 0.3]))
    assert e[0] > d[-1] and e[1] - e[0] == pytest.approx(0.1)


def test_info_after_samples_reanchors_the_outlet() -> None:
    info = _unique_info()
    roller = LslRoller(info, has_angle=True)
    try:
        roller.on_samples(_session([20]))
        assert roller.clock.anchors == 1
        roller.on_info(info)  # what a receive loop sends after a reconnect
        roller.on_samples(SampleChunk(np.array([30.0, 30.0125]), np.array([1.0, 2.0]), np.array([0.0, 0.0])))
        assert roller.clock.anchors == 2
        roller.on_gap(40.0, "device reboot", None)
        roller.on_samples(SampleChunk(np.array([40.0]), np.array([1.0]), np.array([0.0])))
        assert roller.clock.anchors == 3
    finally:
        roller.stop()


def test_source_ids_stable_and_inlet_reattaches_after_restart() -> None:
    info = _unique_info()
    assert source_ids(device_id_from_info(info)) == source_ids(device_id_from_info(dict(info)))
    other = _unique_info()
    assert source_ids(device_id_from_info(info))[1] != source_ids(device_id_from_info(other))[1]
    first = LslRoller(info, has_angle=False)
    first.open()
    inlet = _inlet(first.force.source_id)
    first.on_samples(SampleChunk(np.arange(10) / 80.0, np.full(10, 5.0)))
    _, s1 = _pull_all(inlet, 10)
    assert len(s1) == 10
    first.stop()  # holdsense quits (or crashes) ...
    second = LslRoller(info, has_angle=False)  # ... and comes back: same source id
    second.open()
    try:
        assert second.force.source_id == first.force.source_id
        deadline = time.monotonic() + 15
        got = []
        k = 0
        while not got and time.monotonic() < deadline:
            # keep pushing: the inlet re-attaches by source id (liblsl recovery), as LabRecorder does
            second.on_samples(SampleChunk(10 + k + np.arange(8) / 80.0, np.full(8, 7.0)))
            k += 1
            d, _ = inlet.pull_chunk(timeout=0.3, max_samples=100)
            got.extend(d)
        assert got and all(v[0] == 7.0 for v in got)
    finally:
        second.stop()


def test_marker_for_event_ignores_unknown_kinds() -> None:
    assert marker_for_event({"kind": "hold_progress", "t_s": 1.0}, 1) is None
    assert marker_for_event({"kind": "something_new", "t_s": 1.0}, 1) is None
    t, m = marker_for_event({"kind": "state", "t_s": 5.0, "state": "off", "previous": "roll", "start_s": 4.2}, 0)
    assert t == 4.2 and m["state"] == "off"


def test_import_holdsense_does_not_need_lab_extras(tmp_path: Path) -> None:
    """Without pylsl/pyxdf the app imports and runs; lab features say what to install (exit 2)."""
    code = (
        "import sys\n"
        "sys.modules['pylsl'] = None; sys.modules['pyxdf'] = None  # as if not installed\n"
        "import holdsense, holdsense.cli, holdsense.lab, holdsense.lab.lsl, holdsense.lab.xdf, holdsense.lab.batch\n"
        "from holdsense.lab import require\n"
        "from holdsense.errors import UserError\n"
        "try:\n    require('pylsl')\nexcept UserError as e:\n    print('LSL:', e)\n"
        "sys.exit(holdsense.cli.main(['analyze', sys.argv[1]]))\n"
    )
    x = tmp_path / "s.xdf"
    x.write_bytes(b"XDF:")
    r = subprocess.run([sys.executable, "-c", code, str(x)], capture_output=True, text=True,
                       env=support.cli_env(), timeout=60)
    assert r.returncode == 2, r.stderr
    assert "pip install 'holdsense[lab]'" in r.stdout
    assert "pip install 'holdsense[lab]'" in r.stderr and "pyxdf" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_default_config_keeps_lsl_on_this_machine(tmp_path: Path) -> None:
    """No LSL config of the user's: holdsense points liblsl at its machine-scope config; a lab's own
    ~/lsl_api/lsl_api.cfg is respected."""
    code = ("from holdsense.lab import ensure_lsl_config, lsl_scope; import os\n"
            "used = ensure_lsl_config(); print(used); print(lsl_scope(used)); print(os.environ.get('LSLAPICFG'))\n")
    env = support.cli_env(HOME=str(tmp_path))
    env.pop("LSLAPICFG")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=60)
    used, scope, var = r.stdout.split()
    assert used.endswith("holdsense/lab/lsl_api.cfg") and scope == "machine" and var == used
    (tmp_path / "lsl_api").mkdir()
    (tmp_path / "lsl_api" / "lsl_api.cfg").write_text("[multicast]\nResolveScope = site\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=60)
    used, scope, var = r.stdout.split()
    assert used == str(tmp_path / "lsl_api" / "lsl_api.cfg") and scope == "site" and var == "None"
