"""Automatic tare on the roller (firmware sampler + App) and how the host follows it.

Runs the firmware's own sampler over the fake HX711 pins (shims below the driver), then the
frames its link sends through the host's FrameDecoder/SampleUnpacker. The rule is the host
auto-zero's (rollsignal.autozero.AutoZero), and a test checks the two agree on what counts as
"unloaded and still" (docs/calibration.md).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from holdsense.link import commands as C
from holdsense.link import frames as P

SLOPE_N = 1 / 2190.0   # N per count: the reference build (hardware/README.md force budget)
TARE = 84210
PERIOD_S = 0.0125      # the fake HX711 converts at exactly 80 SPS here (wander off)


def _sampler(rig, **settings):
    from holdsense_fw import config
    from holdsense_fw.hx711 import HX711
    from holdsense_fw.sampler import SampleQueue, Sampler
    from holdsense.virtual.shims import Pin
    s = dict(config.DEFAULTS)
    s["cal"] = {"tare_counts": TARE, "counts_to_n": [0.0, SLOPE_N], "residual_n": None, "fitted": True}
    s.update(settings)
    sm = Sampler(HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT)), None, s)
    q = SampleQueue(100000)
    q.enabled = True
    sm.add_queue(q)
    events = []
    sm.on_tare = lambda t, n, src: events.append((t, n, src))
    return sm, q, events


def _feed(rig, sm, force_n):
    """One HX711 reading per force value (N above the *true* zero `TARE`), 80 SPS."""
    from holdsense_fw import compat
    for f in force_n:
        rig.value = int(round(TARE + f / SLOPE_N))
        rig.edge()
        sm.hx.stamp = compat.ticks_us()
        sm.step()


def _noise(n, sigma_n=0.1, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma_n, n)


def test_unloaded_and_still_for_10_s_retares_to_the_window_mean(rig_factory):
    rig = rig_factory(encoder=False)
    sm, q, events = _sampler(rig)
    from holdsense_fw.frame import TARE_AUTO
    offset_n = 3.0  # the zero drifted by 3 N since the last tare
    _feed(rig, sm, offset_n + _noise(int(9.4 / PERIOD_S)))
    assert events == [], "not before auto_tare_after_s of stillness"
    _feed(rig, sm, offset_n + _noise(int(1.2 / PERIOD_S), seed=1))
    assert len(events) == 1
    tare, n, src = events[0]
    assert src == TARE_AUTO and 780 <= n <= 810  # the still window: 10 s at 80 SPS
    assert (tare - TARE) * SLOPE_N == pytest.approx(offset_n, abs=0.02)
    assert sm.settings["cal"]["tare_counts"] == tare
    assert sm.settings["cal"]["counts_to_n"] == [0.0, SLOPE_N], "only the zero moves, never the slope"
    # raw counts in the stream stay raw (re-calibration remains possible)
    raws = [s[1] for _, s in q.pop(10000)]
    assert np.mean(raws) == pytest.approx(TARE + offset_n / SLOPE_N, abs=30)
    # the drift goes on: still unloaded, the zero follows again 10 s later
    _feed(rig, sm, offset_n + 0.5 + _noise(int(10.6 / PERIOD_S), seed=2))
    assert len(events) == 2 and (events[1][0] - TARE) * SLOPE_N == pytest.approx(offset_n + 0.5, abs=0.05)


def test_never_while_loaded_moving_or_saturated(rig_factory):
    from holdsense_fw.hx711 import SAT_HIGH
    rig = rig_factory(encoder=False)
    sm, q, events = _sampler(rig)
    n = int(15 / PERIOD_S)
    _feed(rig, sm, 25.0 + _noise(n))  # a light body (25 N), perfectly still: loaded
    assert events == [] and sm.autotare.checks == 0
    t = np.arange(n) * PERIOD_S
    _feed(rig, sm, -15.0 + 2.5 * t)  # inside the band but moving at 2.5 N/s
    assert events == [] and sm.autotare.checks == 0
    # still and unloaded, but a saturated code every 5 s restarts the window
    for _ in range(3):
        _feed(rig, sm, 2.0 + _noise(int(5 / PERIOD_S)))
        rig.value = SAT_HIGH
        rig.edge()
        from holdsense_fw import compat
        sm.hx.stamp = compat.ticks_us()
        sm.step()
    assert events == []


def test_small_changes_are_left_alone_and_it_can_be_switched_off(rig_factory):
    from holdsense_fw.config import AUTO_TARE_MIN_N
    rig = rig_factory(encoder=False)
    sm, q, events = _sampler(rig)
    _feed(rig, sm, 0.3 * AUTO_TARE_MIN_N + _noise(int(10.6 / PERIOD_S), sigma_n=0.02))
    assert sm.autotare.checks == 1 and events == [], "a change below AUTO_TARE_MIN_N: no write, no frame"
    rig2 = rig_factory(encoder=False)
    sm2, _, events2 = _sampler(rig2, auto_tare_after_s=0)
    _feed(rig2, sm2, 4.0 + _noise(int(12 / PERIOD_S)))
    assert events2 == [] and sm2.autotare.checks == 0 and sm2.tare_counts == TARE
    rig3 = rig_factory(encoder=False)
    sm3, _, events3 = _sampler(rig3, auto_tare_after_s=3)
    _feed(rig3, sm3, 4.0 + _noise(int(3.6 / PERIOD_S)))
    assert len(events3) == 1, "auto_tare_after_s sets the still time"


def test_slow_drift_is_followed_like_the_host_autozero(rig_factory):
    """Both sides use the same notion of 'unloaded and still': compare their verdicts."""
    from rollsignal.autozero import AutoZero
    from rollsignal.frames import FRAME_S, Frames
    n = int(12 / PERIOD_S)
    t = np.arange(n) * PERIOD_S
    cases = {
        "still, 3 N off zero": 3.0 + _noise(n),
        "slow drift 0.8 N/s": -4.0 + 0.8 * t + _noise(n),
        "light body 30 N": 30.0 + _noise(n),
        "moving 3 N/s in the band": -18.0 + 3.0 * t + _noise(n),
        "heavy body 400 N, breathing": 400.0 + 20 * np.sin(2 * np.pi * 0.25 * t),
    }
    for name, force in cases.items():
        rig = rig_factory(encoder=False)
        sm, _, events = _sampler(rig)
        _feed(rig, sm, force)
        fw_acts = sm.autotare.checks > 0
        # host: the same force on the 20 Hz frame grid (frame = mean of its readings)
        per = int(round(FRAME_S / PERIOD_S))
        f_frames = force[: len(force) // per * per].reshape(-1, per).mean(axis=1)
        k = np.arange(len(f_frames))
        az = AutoZero()
        out = az.process(Frames(k, k * FRAME_S, f_frames, np.ones(len(k), bool)))
        host_acts = bool(np.any(out.offset_n != 0.0))
        assert fw_acts == host_acts, (name, fw_acts, host_acts)
        if fw_acts:
            # the roller's new zero is the mean of its 10 s still window (the first 800 readings);
            # the host's τ = 2 s average follows the latest value (for real thermal drift, far
            # slower than this 0.8 N/s, the two are the same)
            from holdsense_fw.config import AUTO_TARE_MIN_N
            window_n = float(np.mean(force[:int(10 / PERIOD_S)]))
            expected_n = window_n if abs(window_n) >= AUTO_TARE_MIN_N else 0.0
            assert (sm.tare_counts - TARE) * SLOPE_N == pytest.approx(expected_n, abs=0.01), name


def _app(rig, tmp_path, settings):
    (tmp_path / "holdsense.json").write_text(json.dumps(settings))
    from holdsense_fw import app as fw_app
    from holdsense_fw.storage import Storage
    st = Storage(str(tmp_path))
    hw = fw_app.build_hardware("esp32s3", st.load())
    return fw_app.App(hw, st, "esp32s3", fw_app.device_id(), boot_id=0xABCD)


def test_tare_frame_tells_the_host_from_which_sample_on(rig_factory, tmp_path):
    """App → Link frames → host decoder: force switches to the new zero exactly at from_index,
    whatever grouping the frames are handed over in; raw counts stay raw; the zero is stored."""
    from holdsense_fw import compat
    from holdsense_fw.frame import cobs_encode
    rig = rig_factory(encoder=False)
    cal = {"tare_counts": TARE, "counts_to_n": [0.0, SLOPE_N], "residual_n": None, "fitted": True}
    app = _app(rig, tmp_path, {"cal": cal})
    link = app.add_link("usb")
    link.queue.enabled = True
    offset_n = 2.0
    force = offset_n + _noise(int(12 / PERIOD_S))
    wire = b""
    for f in force:  # 20 ms flushes, like the serial task: TARE frames overtake queued samples
        rig.value = int(round(TARE + f / SLOPE_N))
        rig.edge()
        app.hx.stamp = compat.ticks_us()
        app.sampler.step()
        wire += b"".join(cobs_encode(fr) + b"\x00" for fr in link.take_frames(max_samples=2))
    frames = P.FrameDecoder().feed(wire)
    tares = [C.parse_tare(f.payload) for f in frames if f.type == P.FrameType.TARE]
    assert len(tares) == 1 and tares[0].source == "auto"
    ev = tares[0]
    # no flash write while streaming (it would stall sampling): stored once the link stops
    assert json.loads((tmp_path / "holdsense.json").read_text())["cal"]["tare_counts"] != ev.tare_counts
    assert app.save_pending
    link.queue.enabled = False
    assert app.flush_settings()
    assert json.loads((tmp_path / "holdsense.json").read_text())["cal"]["tare_counts"] == ev.tare_counts
    info = C.parse_info(frames[0].payload)
    assert (info.proto_major, info.proto_minor) == (1, 2)
    for grouping in ("one batch", "frame by frame", "tare frame last"):
        unp = P.SampleUnpacker(host_clock=lambda: 0.0)
        unp.on_info(info)
        chunks = []
        if grouping == "one batch":
            unp.on_tare(ev)
            chunks.append(unp.process(frames)[0])
        elif grouping == "frame by frame":
            for f in frames:
                if f.type == P.FrameType.TARE:
                    unp.on_tare(C.parse_tare(f.payload))
                elif f.type == P.FrameType.SAMPLES:
                    chunks.append(unp.process([f])[0])
        else:
            samples = [f for f in frames if f.type == P.FrameType.SAMPLES]
            cut = next(i for i, f in enumerate(samples) if P.decode_sample_frames([f]).index[-1] >= ev.from_index)
            chunks.append(unp.process(samples[:cut])[0])
            unp.on_tare(ev)  # arrives while the batch holding from_index is still to come
            chunks.append(unp.process(samples[cut:])[0])
        from rollsignal import SampleChunk
        ch = SampleChunk.concat([c for c in chunks if c is not None])
        idx = np.arange(len(ch))  # indices start at 0 and nothing was lost
        before, after = idx < ev.from_index, idx >= ev.from_index
        np.testing.assert_allclose(ch.force_n[before], (ch.raw_counts[before] - TARE) * np.float32(SLOPE_N))
        np.testing.assert_allclose(ch.force_n[after],
                                   (ch.raw_counts[after] - ev.tare_counts) * np.float32(SLOPE_N))
        assert abs(np.mean(ch.force_n[after])) < 0.05 and np.mean(ch.force_n[before]) == pytest.approx(offset_n, abs=0.05)
        np.testing.assert_array_equal(ch.raw_counts, np.round(TARE + force / SLOPE_N))
        assert unp.calibration.tare_counts == ev.tare_counts, grouping


def test_manual_tare_also_sends_a_tare_frame(rig_factory, tmp_path):
    from holdsense_fw import compat
    from holdsense_fw.frame import cobs_encode
    rig = rig_factory(encoder=False)
    app = _app(rig, tmp_path, {})
    link = app.add_link("usb")
    link.queue.enabled = True
    app.commands.feed_serial(C.encode_command("tare", 5, n_samples=4), link)
    for v in (1000, 1001, 1002, 1003, 1004):
        rig.value = v
        rig.edge()
        app.hx.stamp = compat.ticks_us()
        app.sampler.step()
    frames = P.FrameDecoder().feed(b"".join(cobs_encode(f) + b"\x00" for f in link.take_frames()))
    kinds = [f.type for f in frames]
    i_tare, i_ack = kinds.index(P.FrameType.TARE), kinds.index(P.FrameType.ACK)
    assert i_tare < i_ack, "the TARE frame precedes the ACK, so a host knows the index before the answer"
    ev = C.parse_tare(frames[i_tare].payload)
    assert (ev.tare_counts, ev.n_samples, ev.source) == (1002, 4, "command")
    assert ev.from_index == 3, "the reading that completed the tare is the first on the new zero"
