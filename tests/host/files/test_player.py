"""Player: replays a recording file at real time or any speed; time is faked so tests are instant."""
from __future__ import annotations

import math

import numpy as np
import pytest

from holdsense.errors import UserError
from holdsense.messages import Listener
from holdsense.messages import Gap, Info, Samples
from holdsense.listeners.notifier import Notifier
from holdsense.io.player import Player, parse_speed
from holdsense.io.recording import read_recording, write_recording
from rollsignal import FLAG_GAP, SampleChunk


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


@pytest.fixture
def rec_path(tmp_path):
    n = 800  # 10 s at 80 Hz, jittered timestamps as a real HX711 gives
    rng = np.random.default_rng(1)
    t = np.cumsum(np.full(n, 1 / 80) + rng.normal(0, 0.0005, n)) - 1 / 80
    t[0] = 0.0
    t[500:] += 2.0  # a 2 s link gap before sample 500
    flags = np.zeros(n, np.uint8)
    flags[500] = FLAG_GAP
    force = 100 + 10 * np.sin(t)
    p = tmp_path / "r.csv"
    write_recording(p, SampleChunk(t, force, angle_deg=t * 10, flags=flags, raw_counts=force * 80 + 84000),
                    {"sample_rate_hz": 80, "body_mass_kg": 70, "region": "quads"})
    return p


def collect(player):
    return list(player)


def test_real_time_releases_each_chunk_when_its_last_sample_is_due(rec_path):
    clk = FakeClock()
    p = Player(rec_path, speed=1.0, clock=clk, sleep=clk.sleep)
    start = clk.t
    rec = p.recording.samples
    delivered = []
    for msg in p:
        if isinstance(msg, Samples):
            last_t = msg.chunk.t_s[-1] - rec.t_s[0]
            assert clk.t - start == pytest.approx(last_t, abs=1e-9)  # never early, never late
            delivered.append(msg.chunk)
    whole = SampleChunk.concat(delivered)
    np.testing.assert_array_equal(whole.t_s, rec.t_s)
    np.testing.assert_array_equal(whole.force_n, rec.force_n)
    np.testing.assert_array_equal(whole.angle_deg, rec.angle_deg)
    np.testing.assert_array_equal(whole.flags, rec.flags)
    assert clk.t - start == pytest.approx(p.duration_s)
    assert max(len(c) for c in delivered) <= 5  # ~50 ms chunks at 80 Hz


def test_speed_and_skip(rec_path):
    clk = FakeClock()
    p = Player(rec_path, speed=10.0, clock=clk, sleep=clk.sleep)
    collect(p)
    assert clk.t - 1000.0 == pytest.approx(p.recording.duration_s / 10)
    clk2 = FakeClock()
    p2 = Player(rec_path, speed=1.0, skip_s=0.5, clock=clk2, sleep=clk2.sleep)
    collect(p2)
    # the 2 s silence (gap of ~2.0125 s between samples) is cut to 0.5 s
    assert clk2.t - 1000.0 == pytest.approx(p2.recording.duration_s - 2.0125 + 0.5, abs=0.01)


def test_as_fast_as_possible_never_sleeps(rec_path):
    clk = FakeClock()
    msgs = collect(Player(rec_path, speed=math.inf, clock=clk, sleep=clk.sleep))
    assert clk.sleeps == []
    assert sum(len(m.chunk) for m in msgs if isinstance(m, Samples)) == 800


def test_info_first_and_gap_message_before_gap_chunk(rec_path):
    clk = FakeClock()
    msgs = collect(Player(rec_path, speed=math.inf, clock=clk, sleep=clk.sleep))
    assert isinstance(msgs[0], Info)
    assert msgs[0].info["body_mass_kg"] == 70 and msgs[0].info["region"] == "quads"
    gaps = [i for i, m in enumerate(msgs) if isinstance(m, Gap)]
    assert len(gaps) == 1
    after = msgs[gaps[0] + 1]
    assert isinstance(after, Samples) and after.chunk.flags[0] & FLAG_GAP
    assert msgs[gaps[0]].t_s == pytest.approx(after.chunk.t_s[0])


def test_recv_timeout_returns_empty_until_due(rec_path):
    clk = FakeClock()
    p = Player(rec_path, speed=1.0, chunk_s=1.0, clock=clk, sleep=clk.sleep)
    assert isinstance(p.recv(0.1)[0], Info)
    assert p.recv(0.1) == []  # first 1 s chunk is due at ~1 s
    assert clk.t == pytest.approx(1000.1)
    while True:
        m = p.recv(0.1)
        if m:
            break
    assert isinstance(m[0], Samples) and clk.t - 1000.0 == pytest.approx(m[0].chunk.t_s[-1], abs=1e-9)


def test_patching_time_sleep_like_python_can(rec_path, monkeypatch):
    clk = FakeClock()
    monkeypatch.setattr("time.sleep", clk.sleep)
    monkeypatch.setattr("time.monotonic", clk)
    p = Player(rec_path, speed=2.0)
    collect(p)
    assert sum(clk.sleeps) == pytest.approx(p.duration_s / 2)


def test_run_drives_listeners_and_stops_them(rec_path):
    class L(Listener):
        def __init__(self):
            self.n = 0
            self.gaps = 0
            self.info = None
            self.stopped = False

        def on_info(self, info):
            self.info = info

        def on_samples(self, chunk):
            self.n += len(chunk)

        def on_gap(self, t_s, reason, lost_samples=None):
            self.gaps += 1

        def stop(self):
            self.stopped = True

    clk = FakeClock()
    lst = L()
    notifier = Notifier(Player(read_recording(rec_path), speed=50, clock=clk, sleep=clk.sleep), [lst], start=False,
                        timeout_s=0.25)
    notifier.run()
    notifier.raise_errors()
    assert lst.n == 800 and lst.gaps == 1 and lst.stopped and lst.info["source"].endswith("r.csv")


def test_parse_speed():
    assert parse_speed("1") == 1.0
    assert parse_speed("10x") == 10.0
    assert math.isinf(parse_speed("max")) and math.isinf(parse_speed("0"))
    for bad in ("fast", "-1", "nan"):
        with pytest.raises(UserError):
            parse_speed(bad)
