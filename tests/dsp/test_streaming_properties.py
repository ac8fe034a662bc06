"""Streaming equals batch for the public Detector, under arbitrary chunking and arbitrary NaN/gap/saturation
patterns (property-based, hypothesis; issue 18 item 5).

Only the public API (`Detector.process/finish/result`, `analyze`) is used, so
the property holds whatever the stages inside look like. The sessions are
drawn here: off/hold/roll stretches at 10, 80 or 86 Hz, with or without an
encoder, jittered device clock, then holes punched in them (NaN runs in force
and angle, link gaps with the `gap` flag, saturated runs, corrupt time stamps
far ahead), then cut into reads of arbitrary sizes, including 1-sample reads.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsignal import FLAG_GAP, FLAG_SAT, Detector, SampleChunk, analyze

SCALE = float(os.environ.get("HOLDSENSE_FUZZ_SCALE", "1"))


@st.composite
def sessions(draw) -> SampleChunk:
    rate_hz = draw(st.sampled_from([10.0, 80.0, 86.0]))
    encoder = draw(st.booleans())
    parts = draw(st.lists(st.tuples(st.sampled_from(["off", "hold", "roll"]), st.floats(0.5, 12.0)),
                          min_size=1, max_size=5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    t_list, f_list, a_list = [], [], []
    t0, angle = 0.0, 0.0
    level = draw(st.floats(60.0, 500.0))
    for kind, dur in parts:
        n = max(1, int(dur * rate_hz))
        dt = (1.0 / rate_hz) * (1.0 + rng.normal(0.0, 0.03, n))  # a real HX711's rate wanders and jitters
        t = t0 + np.cumsum(np.clip(dt, 0.0, None))
        if kind == "off":
            f = rng.normal(0.0, 0.5, n)
            a = np.full(n, angle)
        elif kind == "hold":
            f = level + rng.normal(0.0, 2.0, n) + 5.0 * np.sin(2 * math.pi * 0.2 * (t - t0))
            a = angle + rng.normal(0.0, 0.2, n)
        else:
            phase = 2 * math.pi * 0.5 * (t - t0)
            f = level + 40.0 * np.sin(phase) + rng.normal(0.0, 3.0, n)
            a = angle + 300.0 * (1 - np.cos(phase))
        angle = float(a[-1])
        t0 = float(t[-1])
        t_list.append(t)
        f_list.append(f)
        a_list.append(a)
    t = np.concatenate(t_list)
    force = np.concatenate(f_list)
    ang = np.concatenate(a_list) if encoder else None
    flags = np.zeros(len(t), np.uint8)
    n = len(t)
    # holes: NaN runs (force, angle), saturated runs, link gaps (time jumps with the gap flag)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, n - 1))
        k = draw(st.integers(1, 200))
        which = draw(st.sampled_from(["force", "angle", "both", "sat"]))
        if which in ("force", "both"):
            force[i:i + k] = np.nan
        if which in ("angle", "both") and ang is not None:
            ang[i:i + k] = np.nan
        if which == "sat":
            flags[i:i + k] |= FLAG_SAT
            force[i:i + k] = draw(st.sampled_from([2000.0, -2000.0, np.nan]))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(1, max(1, n - 1)))
        if i < n:
            t[i:] += draw(st.floats(0.05, 20.0))
            flags[i] |= FLAG_GAP
    # corrupt time stamps ahead (one sample, or a frame's few; the time guard holds them back, then drops them)
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, n - 1))
        t[i:i + draw(st.integers(1, 3))] += draw(st.sampled_from([1.5, 60.0, 9e6]))
    return SampleChunk(t_s=t, force_n=force, angle_deg=ang, flags=flags)


def _canon(obj: object) -> str:
    """NaN-aware, order-exact text of a result (NaN == NaN here; -0.0 and 0.0 kept apart)."""
    return json.dumps(obj, sort_keys=True, default=repr)


@settings(max_examples=max(1, int(40 * SCALE)), deadline=None, database=None, derandomize=SCALE == 1,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chunk=sessions(), sizes=st.lists(st.one_of(st.integers(1, 3), st.integers(1, 600)), max_size=60),
       batch_s=st.sampled_from([0.0, 0.25, 1.0]), mass=st.sampled_from([None, 72.0]))
def test_detector_streaming_equals_batch(chunk: SampleChunk, sizes: list[int], batch_s: float,
                                         mass: float | None) -> None:
    whole = analyze(chunk, body_mass_kg=mass)
    det = Detector(body_mass_kg=mass, batch_s=batch_s, progress_events=False)
    events = []
    for part in chunk.split(sizes):
        events += det.process(part)
    events += det.finish()
    got = det.result()
    assert _canon(got.to_dict()) == _canon(whole.to_dict())
    assert [repr(e) for e in events] == [repr(e) for e in whole.events]
