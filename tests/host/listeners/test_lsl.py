"""LSL outlets (holdsense.listeners.lsl) received by real pylsl inlets on the loopback.

The outlets are fed by hand: SampleChunks as a receive loop delivers them
(uneven chunk sizes, delivery delays) and Detector-shaped events, and a
real inlet in this process checks what a lab's LabRecorder would get.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import lab_support as support
support.use_loopback_lsl()  # before liblsl reads its configuration in this process

pylsl = pytest.importorskip("pylsl", reason="pylsl missing: install the lab extra (pip install -e '.[lab]')")

from holdsense.listeners.lsl import LslClock, LslRoller, device_id_from_info, marker_for_event, source_ids  # noqa: E402
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


class _LinkClock:
    """The LSL clock as a live link shows it: each chunk arrives `delay` after its newest sample was taken."""

    def __init__(self) -> None:
        self.base = pylsl.local_clock()
        self.t_s = 0.0
        self.delay_s = 0.0

    def __call__(self) -> float:
        return self.base + self.t_s + self.delay_s


def test_force_stream_metadata_and_device_clock_stamps() -> None:
    info = _unique_info(region="quads")
    link = _LinkClock()
    roller = LslRoller(info, has_angle=True, clock=LslClock(now=link))
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
        # the firmware of the header's device line (docs/lab.md promises acquisition/firmware), and that line
        # verbatim, so an XDF's session row names the device as the CSV recorded beside it does
        assert acq.child_value("firmware") == "0.3.0"
        assert full.desc().child("holdsense").child_value("device") == info["device"]
        assert full.desc().child("holdsense").child_value("region") == "quads"

        sizes = [1, 7, 3, 64, 8, 8, 2, 40, 5, 100, 9]
        chunk = _session(sizes)
        rng = np.random.default_rng(8)
        for k, part in enumerate(chunk.split(np.cumsum(sizes)[:-1].tolist())):
            link.t_s = float(part.t_s[-1])
            # uneven delivery (4-34 ms) must not show in the stamps; the first chunk is the promptest here,
            # so the settle window keeps its offset (the settling itself is tested below)
            link.delay_s = 0.004 + (rng.uniform(0, 0.03) if k else 0.0)
            roller.on_samples(part)
        data, stamps = _pull_all(inlet, len(chunk))
        assert len(stamps) == len(chunk)
        np.testing.assert_allclose(np.asarray(data)[:, 0], chunk.force_n, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.asarray(data)[:, 1], chunk.angle_deg, rtol=0, atol=1e-9)
        # Stamps are the device times plus one offset: spacing preserved exactly (first settle: see below).
        assert roller.clock.anchors == 1
        np.testing.assert_allclose(np.diff(stamps), np.diff(chunk.t_s), rtol=0, atol=1e-9)
        # ... and that offset is where the device clock sits on the LSL clock, give or take the link's delay.
        assert stamps[0] - (link.base + chunk.t_s[0]) == pytest.approx(0.004, abs=1e-9)
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


def _feed(clock: LslClock, link: _LinkClock, t0: float, t1: float, delays, n_per_chunk: int = 4,
          dt: float = 0.0125) -> tuple[np.ndarray, np.ndarray]:
    """Chunks of device times [t0, t1) through `clock`, each arriving after delays(k); (t, stamps)."""
    ts, st = [], []
    t = np.arange(t0, t1, dt)
    for k, a in enumerate(range(0, len(t), n_per_chunk)):
        part = t[a:a + n_per_chunk]
        link.t_s = float(part[-1])
        link.delay_s = delays(k)
        ts.append(part)
        st.append(clock.stamps(part))
    return np.concatenate(ts), np.concatenate(st)


def test_clock_settles_on_the_least_delayed_arrival_without_going_backwards() -> None:
    link = _LinkClock()
    clock = LslClock(now=link, settle_s=2.0)
    # the first chunk comes out of the device's buffer 80 ms late, the rest 5-25 ms
    rng = np.random.default_rng(1)
    t, st = _feed(clock, link, 0.0, 6.0, lambda k: 0.08 if k == 0 else 0.005 + rng.uniform(0, 0.02))
    assert np.all(np.diff(st) > 0)
    off = st - t - link.base
    assert off[0] == pytest.approx(0.08)
    assert clock.anchors == 2  # the first anchor and one settled correction
    assert 0.005 <= off[-1] <= 0.008  # the least delayed chunk of the first 2 s
    # the correction is spread over a few chunks (each may start no earlier than the last stamp)...
    assert np.count_nonzero(np.abs(np.diff(off)) > 1e-9) <= 10
    # ... and the offset is constant from then on: spacing = device spacing
    settled = np.flatnonzero(np.abs(off - off[-1]) < 1e-9)[0]
    assert t[settled] < 3.0
    np.testing.assert_allclose(np.diff(st[settled:]), np.diff(t[settled:]), atol=1e-9)


def test_reconnect_does_not_trust_the_backlog() -> None:
    link = _LinkClock()
    clock = LslClock(now=link, settle_s=2.0)
    _feed(clock, link, 0.0, 4.0, lambda k: 0.01)
    before = clock.offset_s
    anchors = clock.anchors
    clock.reanchor()  # the cable was out for 1.5 s; the device kept its samples and sends them now
    t, st = _feed(clock, link, 4.0, 8.0, lambda k: max(0.01, 1.5 - 0.05 * k))  # 50 ms chunks all arriving at once until caught up
    assert clock.offset_s == pytest.approx(before, abs=2e-3) and clock.anchors == anchors
    np.testing.assert_allclose(np.diff(st), np.diff(t), atol=1e-9)
    # a device clock that drifted 40 ms while disconnected is followed after the settle window
    clock.reanchor()
    _feed(clock, link, 8.0, 12.0, lambda k: 0.05)
    assert clock.offset_s - before == pytest.approx(0.04, abs=2e-3) and clock.anchors == anchors + 1


def test_new_time_base_and_replay_clock() -> None:
    link = _LinkClock()
    clock = LslClock(now=link)
    _, a = _feed(clock, link, 10.0, 12.0, lambda k: 0.01)
    _, b = _feed(clock, link, 0.0, 1.0, lambda k: 0.01)  # device time restarted: anchored again at once
    assert b[0] > a[-1] and np.all(np.diff(b) > 0)
    # a replay at 10x: chunks arrive far earlier than their device times would; the offset stays put
    replay = LslClock(now=link, refine=False)
    t0 = pylsl.local_clock()
    link.base, link.delay_s = t0, 0.0
    stamps = []
    t = np.arange(0.0, 30.0, 0.0125)
    for k in range(0, len(t), 80):
        link.t_s = float(t[min(k + 79, len(t) - 1)]) / 10.0
        stamps.append(replay.stamps(t[k:k + 80]))
    st = np.concatenate(stamps)
    np.testing.assert_allclose(np.diff(st), np.diff(t), atol=1e-9)
    assert replay.anchors == 1


def test_info_after_samples_and_reboot_gaps_start_a_settle_window() -> None:
    info = _unique_info()
    roller = LslRoller(info, has_angle=True)
    clock = roller.clock
    try:
        assert roller.force.on_info(info) is None and not clock._pending  # info before samples: nothing to redo
        roller.on_samples(_session([20]))
        clock._settle_from_t = None  # (first window over)
        roller.on_info(info)  # what a receive loop sends after a reconnect
        assert clock._pending
        roller.on_samples(SampleChunk(np.array([30.0, 30.0125]), np.array([1.0, 2.0]), np.array([0.0, 0.0])))
        assert clock._settle_from_t == 30.0 and not clock._pending
        clock._settle_from_t = None
        roller.on_gap(40.0, "lost", 3)  # samples lost on a live link: the clock is still right
        assert not clock._pending
        roller.on_gap(40.0, "reboot", None)
        assert clock._pending
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
        "import holdsense, holdsense.cli, holdsense.lab, holdsense.listeners.lsl, holdsense.io.xdf, holdsense.lab.batch\n"
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
