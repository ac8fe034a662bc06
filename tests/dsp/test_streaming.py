"""Streaming equals batch, exactly, for any chunking: every stage and the whole detector.

Like scipy's test_initial_conditions (filtering in pieces equals filtering at
once), but with random chunk sizes including 1-sample chunks, on sessions with
gaps, spikes, saturation and both sample rates.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import dsp_synth
from rollsignal import Detector, SampleChunk, analyze
from rollsignal.autozero import AutoZero
from rollsignal.contact import Contact
from rollsignal.despike import Despiker
from rollsignal.filters import LowPass
from rollsignal.frames import Frames
from rollsignal.resample import Resampler
from rollsignal.segmenter import Segmenter


def _session(encoder: bool, rate_hz: float, seed: int = 3) -> SampleChunk:
    ch, _ = dsp_synth.session(
        [("off", 3), ("roll", 10), ("hold", 12, {"limb_hz": 0.5, "shifts": [5]}), ("repo", 2), ("hold", 8),
         ("roll", 5), ("off", 2)],
        encoder=encoder, rate_hz=rate_hz, seed=seed, spikes_per_min=20, gaps=[(15.0, 15.6), (30.0, 31.5)],
        sat=[(20.0, 20.1)])
    return ch


def _sizes(rng: np.random.Generator, n: int) -> list[int]:
    out, tot = [], 0
    while tot < n:
        s = int(rng.choice([1, 1, 2, 3, 8, int(rng.integers(1, 400))]))
        out.append(s)
        tot += s
    return out


def _eq(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _frames_equal(a: Frames, b: Frames) -> None:
    for name in ("k", "t_s", "force_n", "valid", "x_cm", "loaded", "offset_n"):
        assert _eq(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("encoder,rate_hz", [(True, 80.0), (False, 10.0), (False, 86.0)])
def test_each_stage_streams_exactly(encoder: bool, rate_hz: float) -> None:
    ch = _session(encoder, rate_hz)
    rng = np.random.default_rng(7)

    def run(chunks: list[SampleChunk]) -> tuple:
        d, r, lp, az, ct, sg = Despiker(), Resampler(), LowPass(), AutoZero(), Contact(), Segmenter(encoder)
        samples, frames, stages = [], [], []
        for c in chunks + [None]:
            s = d.finish() if c is None else d.process(c)
            samples.append(s)
            fr = r.process(s)
            if c is None:
                fr = Frames.concat([fr, r.finish()])
            fr2 = ct.process(az.process(lp.process(fr)))
            frames.append(fr2)
            stages.append(sg.process(fr2))
        stages.append(sg.finish())
        return SampleChunk.concat(samples), Frames.concat(frames), [x for x in stages if x is not None]

    s1, f1, m1 = run([ch])
    s2, f2, m2 = run(ch.split(_sizes(rng, len(ch))))
    assert len(s1) == len(ch)
    for name in ("t_s", "force_n", "angle_deg", "flags"):
        assert _eq(getattr(s1, name), getattr(s2, name)), name
    _frames_equal(f1, f2)
    # the segmenter: every frame labelled once, in order, the same labels, log-odds and decision times
    for m in (m1, m2):
        lab = Frames.concat([x.frames for x in m])
        for name in ("k", "t_s", "force_n", "valid", "loaded", "x_cm"):
            assert _eq(getattr(lab, name), getattr(f1, name)), name
    for name in ("still", "z", "t_release_s"):
        assert _eq(np.concatenate([getattr(m, name) for m in m1]), np.concatenate([getattr(m, name) for m in m2])), name
    assert np.concatenate([m.still for m in m1]).any()


@pytest.mark.parametrize("encoder,rate_hz,seed", [(True, 80.0, 1), (False, 80.0, 2), (True, 10.0, 3),
                                                  (False, 10.0, 4), (False, 92.0, 5)])
def test_detector_streams_exactly(encoder: bool, rate_hz: float, seed: int) -> None:
    ch = _session(encoder, rate_hz, seed)
    batch = analyze(ch)
    assert batch.holds, "the session has holds; the comparison must cover them"
    whole = Detector()
    all_events = whole.process(ch) + whole.finish()  # incl. the hold_progress ticks analyze() does not keep
    assert [e for e in all_events if e.kind != "hold_progress"] == batch.events
    assert any(e.kind == "hold_progress" for e in all_events)
    rng = np.random.default_rng(seed)
    for batch_s in (0.0, 0.25, 3.0):  # 0: every tiny chunk runs through every stage
        det = Detector(batch_s=batch_s)
        events = []
        for c in ch.split(_sizes(rng, len(ch))):
            events += det.process(c)
        events += det.finish()
        res = det.result()
        assert events == all_events
        assert res.events == batch.events
        assert res.to_dict("x") == batch.to_dict("x")


def test_one_sample_chunks_equal_batch() -> None:
    ch = _session(False, 80.0, 9).slice(0, 2500)
    batch = analyze(ch)
    whole = Detector()
    all_events = whole.process(ch) + whole.finish()
    det = Detector(batch_s=0.0)
    ev = []
    for i in range(len(ch)):
        ev += det.process(ch.slice(i, i + 1))
    ev += det.finish()
    assert ev == all_events
    assert det.events == batch.events
    assert det.result().to_dict() == batch.to_dict()


def test_events_are_in_time_order_and_backdated() -> None:
    ch, truth = dsp_synth.standard(encoder=True)
    det = Detector()
    events = det.process(ch) + det.finish()
    ts = [e.t_s for e in events]
    assert ts == sorted(ts)
    started = [e for e in events if e.kind == "hold_started"]
    assert len(started) == 2
    for e in started:  # confirmed >= 5 s after the true start, reported from the true start
        assert e.t_s - e.start_s >= 5.0
    true_starts = [s["start_s"] for s in truth if s["kind"] == "hold"]
    assert all(abs(e.start_s - t) < 0.5 for e, t in zip(started, true_starts))
    prog = [e for e in events if e.kind == "hold_progress"]
    assert len(prog) > 60
    gaps = np.diff([e.duration_s for e in prog if e.start_s == started[0].start_s])
    assert np.all(np.abs(gaps - 1.0) < 0.06)
    ended = [e for e in events if e.kind == "hold_ended"]
    assert [e.hold for e in ended] == det.result().holds


def test_sosfilt_state_is_bit_identical_to_scipy() -> None:
    from scipy import signal as sps

    from rollsignal.filters import sosfilt_state

    rng = np.random.default_rng(3)
    for sos in (sps.butter(2, 2.0, fs=20.0, output="sos"), sps.butter(4, (2.0, 6.0), "bandpass", fs=20.0, output="sos")):
        x = rng.normal(100, 20, 997)
        zi = sps.sosfilt_zi(sos) * x[0]
        y_ref, z_ref = sps.sosfilt(sos, x, zi=zi)
        y, z = sosfilt_state(sos, x, zi)
        assert np.array_equal(y, y_ref) and np.array_equal(z, z_ref)
        # carried state over pieces equals one call
        parts, zc = [], zi
        for a, b in ((0, 1), (1, 9), (9, 500), (500, 997)):
            yp, zc = sosfilt_state(sos, x[a:b], zc)
            parts.append(yp)
        assert np.array_equal(np.concatenate(parts), y_ref)


@pytest.mark.parametrize("encoder", [True, False])
def test_lost_link_time_streams_exactly(encoder: bool) -> None:
    """An unbridged link gap is off time with `lost_s` (contracts.md §3), the same whatever the chunking."""
    ch, _ = dsp_synth.session([("off", 3), ("roll", 40), ("hold", 40), ("roll", 40), ("off", 3)],
                              gaps=[(90.0, 110.0)], encoder=encoder, seed=3)
    batch = analyze(ch)
    (seg,) = [s for s in batch.segments if s.get("lost_s")]
    assert seg["kind"] == "off" and seg["lost_s"] == pytest.approx(20.0, abs=0.3)
    assert batch.summary["lost_s"] == seg["lost_s"] <= batch.summary["off_s"]
    rng = np.random.default_rng(7)
    det = Detector(batch_s=0.0)
    for c in ch.split(_sizes(rng, len(ch))):
        det.process(c)
    det.finish()
    assert det.result().to_dict("x") == batch.to_dict("x")


@pytest.mark.parametrize("encoder", [True, False])
def test_samples_out_of_time_order_are_dropped_the_same_whatever_the_chunking(encoder: bool) -> None:
    """Device time that goes backwards or is NaN (a library user's data; holdsense's readers refuse such
    files): those samples are dropped and counted, and the rest is analysed exactly as if they had never
    come, whole or in random chunks. Before, a backwards step silently cut a hold short."""
    clean = _session(encoder, 80.0)
    rng = np.random.default_rng(11)
    n = len(clean)
    bad_at = np.sort(rng.choice(np.arange(10, n - 10), 40, replace=False))
    t = clean.t_s.copy()
    ins_t = t[bad_at] - rng.uniform(0.05, 3.0, len(bad_at))  # earlier than the sample before them
    ins_t[::5] = np.nan
    take = np.insert(np.arange(n), bad_at, bad_at)  # an inserted sample copies its neighbour's values,
    ins = np.insert(np.zeros(n, bool), bad_at, True)  # far off them, so that keeping it would show
    dirty = SampleChunk(np.insert(t, bad_at, ins_t), clean.force_n[take] + np.where(ins, 150.0, 0.0),
                        None if clean.angle_deg is None else clean.angle_deg[take] + np.where(ins, 90.0, 0.0),
                        clean.flags[take])
    ref = analyze(clean).to_dict()
    for chunks in ([dirty], dirty.split(_sizes(rng, len(dirty)))):
        det = Detector(progress_events=False)
        for c in chunks:
            det.process(c)
        det.finish()
        got = det.result().to_dict()
        assert det.out_of_order == len(bad_at)
        warn = [w for w in got["quality"]["warnings"] if "went backwards" in w]
        assert warn == [f"{len(bad_at)} samples dropped: their device time was missing or went backwards "
                        "(t_s must be finite and never decrease)"]
        got["quality"]["warnings"].remove(warn[0])
        assert got == ref


def _guard_rule(t: list[float], jump_s: float = 1.0, confirm_n: int = 8) -> tuple[list[int], int, int]:
    """timeguard.py's rule, one sample at a time as docs/detector.md states it: (indices taken in order,
    dropped as missing or backwards, dropped as corrupt jumps ahead)."""
    t_max, run, kept, dropped, outliers = -math.inf, [], [], 0, 0
    for i, ti in enumerate(t):
        if ti != ti:
            dropped += 1
            continue
        if run:
            if ti >= t[run[-1]]:  # continues from the jump: taken once confirm_n samples did
                run.append(i)
                if len(run) > confirm_n:
                    kept += run
                    t_max, run = t[run[-1]], []
                continue
            if t_max <= ti < t[run[0]]:  # came back to before the jump: the jump was corrupt
                outliers += len(run)
                run = []
            else:
                dropped += 1
                continue
        if ti < t_max:
            dropped += 1
        elif ti - t_max > jump_s:  # (the stream's first sample too)
            run = [i]
        else:
            kept.append(i)
            t_max = ti
    if run:  # the stream ended on a jump: dropped; on its first samples: taken
        if math.isfinite(t_max):
            outliers += len(run)
        else:
            kept += run
    return kept, dropped, outliers


def test_time_guard_follows_its_rule_whatever_the_chunking() -> None:
    """The time guard (timeguard.py) against its rule written one sample at a time, on device times with
    link gaps, corrupt stamps far ahead (single and in runs), steps back, NaN, fed whole and in random
    chunks: the same samples taken, in order, the same counts."""
    from rollsignal.timeguard import TimeGuard

    rng = np.random.default_rng(21)
    steps = np.array([0.0125, 0.0, 0.5, 1.5, 30.0, -0.3, -5.0, np.nan])
    for trial in range(400):
        n = int(rng.integers(1, 300))
        st = rng.choice(steps, n, p=[0.8, 0.04, 0.04, 0.03, 0.02, 0.03, 0.02, 0.02])
        t = 100.0 + np.cumsum(np.nan_to_num(st))
        t[np.isnan(st)] = np.nan
        for _ in range(int(rng.integers(0, 4))):  # single corrupt stamps
            j = int(rng.integers(0, n))
            t[j] = rng.choice([9e6, t[j] + rng.uniform(1.0, 50.0), t[j] - rng.uniform(0.0, 5.0)])
        if rng.random() < 0.4:  # a run of shifted stamps (a frame with a corrupt header time)
            j = int(rng.integers(0, n))
            t[j:j + int(rng.integers(1, 12))] += rng.choice([3.0, 2000.0])
        want = _guard_rule(t.tolist())
        ch = SampleChunk(t, np.arange(n, dtype=float))
        for sizes in ([n], _sizes(rng, n)):
            g = TimeGuard()
            got: list[int] = []
            for c in ch.split(sizes):
                got += g.process(c).force_n.astype(int).tolist()
                assert g.held <= g.confirm_n
            tail = g.finish()
            got += [] if tail is None else tail.force_n.astype(int).tolist()
            assert (got, g.dropped, g.outliers) == want, (trial, sizes)


def _with_inserted(clean: SampleChunk, at: np.ndarray, t_ins: np.ndarray) -> SampleChunk:
    """`clean` with samples inserted before the indices `at`, at times `t_ins`, their force and angle far
    off their neighbours' (so that taking one would show in the analysis)."""
    take = np.insert(np.arange(len(clean)), at, at)
    ins = np.insert(np.zeros(len(clean), bool), at, True)
    return SampleChunk(np.insert(clean.t_s, at, t_ins), clean.force_n[take] + np.where(ins, 150.0, 0.0),
                       None if clean.angle_deg is None else clean.angle_deg[take] + np.where(ins, 90.0, 0.0),
                       clean.flags[take])


@pytest.mark.parametrize("encoder", [True, False])
def test_a_corrupt_time_stamp_far_ahead_costs_only_its_own_samples(encoder: bool) -> None:
    """One sample 9e6 s ahead (t_s 100.0 -> 9e6 -> 100.0125): before, every later sample was "backwards"
    and dropped (the rest of the session lost; and 9e6 s of frames asked for). Now the jump is held back
    until the samples after it say time went on from before it: it is dropped and counted, and the
    session is analysed as if it had never come, whole or in random chunks, live batching or none. Also
    a run of five stamps 2000 s ahead (a frame with a corrupt header time), one 5 s ahead, and the
    stream's first sample."""
    clean = _session(encoder, 80.0)
    at = np.array([0, 900, 1800, 1800, 1800, 1800, 1800, 2500])
    t_ins = np.concatenate(([9e6, 9e6], clean.t_s[1800] + 2000.0 + np.arange(5) * 0.0125, [clean.t_s[2500] + 5.0]))
    dirty = _with_inserted(clean, at, t_ins)
    ref = analyze(clean).to_dict()
    rng = np.random.default_rng(4)
    for chunks, batch_s in (([dirty], None), (dirty.split(_sizes(rng, len(dirty))), 0.0),
                            (dirty.split(_sizes(rng, len(dirty))), None)):
        det = Detector(progress_events=False, batch_s=batch_s)
        held = []
        for c in chunks:
            det.process(c)
            held.append(getattr(det, "time_guard", None) and det.time_guard.held)
        det.finish()
        got = det.result().to_dict()
        warn = [w for w in got["quality"]["warnings"] if "jumped" in w]
        assert warn == [f"{len(at)} samples dropped: their device time jumped more than 1 s ahead and the samples "
                        "after them did not continue from there (a corrupt time stamp; a link gap is kept once 8 "
                        "samples continue after it)"]
        got["quality"]["warnings"].remove(warn[0])
        assert got == ref
        assert (det.time_outliers, det.out_of_order) == (len(at), 0)
        assert max(held) <= 8


@pytest.mark.parametrize("encoder", [True, False])
def test_a_long_real_gap_stays_a_gap_and_a_jump_at_the_end_is_dropped(encoder: bool) -> None:
    """The link lost for five minutes (no gap flag: only device time says so): time goes on from the jump,
    so it is a gap (off, lost_s), nothing dropped, whatever the chunking; the live detector holds at most
    8 samples back for it. A jump the stream ends on before 8 samples confirm it is dropped (a lone last
    stamp far ahead says nothing and would cost its span in frames); a stream of fewer samples than that
    is taken whole."""
    ch, _ = dsp_synth.session([("off", 3), ("roll", 40), ("hold", 40), ("roll", 40), ("off", 3)], encoder=encoder,
                              seed=3)
    t = ch.t_s + np.where(ch.t_s > 100.0, 300.0, 0.0)
    gappy = SampleChunk(t, ch.force_n, ch.angle_deg, ch.flags)
    batch = analyze(gappy)
    (seg,) = [s for s in batch.segments if s.get("lost_s")]
    assert seg["lost_s"] == pytest.approx(300.0, abs=0.1)
    assert not any("dropped" in w for w in batch.quality["warnings"])
    rng = np.random.default_rng(8)
    det = Detector(batch_s=0.0, progress_events=False)
    held = []
    for c in gappy.split(_sizes(rng, len(gappy))):
        det.process(c)
        held.append(getattr(det, "time_guard", None) and det.time_guard.held)
    det.finish()
    assert det.result().to_dict("x") == batch.to_dict("x")
    # the stream ends 3 samples after a jump of 500 s: those 3 are dropped, the rest is the clean analysis
    last = ch.slice(len(ch) - 3, len(ch))
    tail = SampleChunk.concat((ch, SampleChunk(ch.t_s[-1] + 500.0 + np.arange(1, 4) * 0.0125, last.force_n + 150.0,
                                               last.angle_deg, last.flags)))
    got = analyze(tail)
    assert got.to_dict()["segments"] == analyze(ch).to_dict()["segments"]
    assert [w[:44] for w in got.quality["warnings"] if "jumped" in w] == ["3 samples dropped: their device time jumped "]
    assert max(held) <= 8
    # a stream of 5 samples: taken whole at the end, as before
    short = analyze(ch.slice(0, 5))
    assert short.segments == [{"kind": "off", "start_s": round(float(ch.t_s[0]), 3),
                               "end_s": round(float(ch.t_s[4]), 3)}]
    assert not short.quality["warnings"]


def test_an_angle_that_wraps_at_360_is_unwrapped_the_same_whatever_the_chunking() -> None:
    """A third-party recording with the sensor's 0-360 reading instead of a cumulative angle (against
    contracts.md §1): every wrap, and the jitter across 0 of a roller at rest there, read as 47 cm of
    travel and broke the holds. The angle is unwrapped, with a warning, and gives the cumulative angle's
    analysis; a real cumulative angle is left alone, also where it jumps across a link gap."""
    clean = _session(True, 80.0)
    assert clean.angle_deg is not None
    # start the angle near 0 and add jitter, so that a still roller's reading hops across the wrap
    rng = np.random.default_rng(5)
    cum = clean.angle_deg - clean.angle_deg[0] + rng.normal(0.0, 0.3, len(clean))
    cum_ch = SampleChunk(clean.t_s, clean.force_n, cum, clean.flags)
    wrapped = SampleChunk(clean.t_s, clean.force_n, np.mod(cum, 360.0), clean.flags)
    ref = analyze(cum_ch).to_dict()
    assert not any("wrapped" in w for w in ref["quality"]["warnings"])
    for chunks in ([wrapped], wrapped.split(_sizes(rng, len(wrapped)))):
        det = Detector(progress_events=False)
        for c in chunks:
            det.process(c)
        det.finish()
        got = det.result().to_dict()
        assert det.unwrap.wraps > 10
        warn = [w for w in got["quality"]["warnings"] if "wrapped at 360" in w]
        assert len(warn) == 1
        got["quality"]["warnings"].remove(warn[0])
        assert got == ref
    # a cumulative angle that moves 400 degrees across a 2 s link gap is not "unwrapped"
    t = np.concatenate((np.arange(0, 10, 0.0125), np.arange(12, 20, 0.0125)))
    ang = np.where(t < 11, 0.0, 400.0)
    det = Detector(progress_events=False)
    det.process(SampleChunk(t, np.full(len(t), 300.0), ang))
    det.finish()
    assert det.unwrap.wraps == 0
