"""DetectorListener and the live views (rich on a terminal, plain lines elsewhere).

Most tests drive the listener with a scripted detector that emits the documented
event kinds at set times, so every branch of the view is reached
deterministically; test_live_real_detector.py runs the real rollsignal.Detector.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from rich.console import Console

from holdsense.listeners.live import (DetectorListener, LiveState, PlainView, RichView, _sparkline, light_band_n,
                                      make_view, render)
from holdsense.listeners.notifier import Notifier
from holdsense.io.player import Player
from holdsense.io.recording import write_recording
from rollsignal import SampleChunk


@dataclass
class Ev:
    kind: str
    t_s: float
    state: str | None = None
    previous: str | None = None
    start_s: float | None = None
    duration_s: float | None = None
    mean_force_n: float | None = None
    hold: dict = field(default_factory=dict)
    message: str | None = None


HOLD = {"start_s": 10.0, "end_s": 50.0, "duration_s": 40.0, "mean_force_n": 120.0, "force_cv": 0.05,
        "travel_cm": 0.3, "spot_cm": 12.0, "score": 88, "grade": "release window reached",
        "feedback": ["Held 40 s: past the 30 s release window.", "Pressure was light and steady."]}

SCRIPT = [
    Ev("state", 2.0, state="roll", previous="off", start_s=1.5),
    Ev("state", 15.0, state="hold", previous="roll", start_s=10.0),
    Ev("hold_started", 15.0, start_s=10.0),
    Ev("hold_progress", 20.0, start_s=10.0, duration_s=10.0, mean_force_n=118.0),
    Ev("warning", 30.0, message="force far above your rolling load"),
    Ev("hold_progress", 45.0, start_s=10.0, duration_s=35.0, mean_force_n=121.0),
    Ev("state", 50.5, state="off", previous="hold", start_s=50.0),
    Ev("hold_ended", 50.5, hold=HOLD),
]


class ScriptedDetector:
    def __init__(self, profile=None, body_mass_kg=None):
        self.body_mass_kg = body_mass_kg
        self.todo = list(SCRIPT)
        self.finished = False

    def process(self, chunk):
        t_end = chunk.t_s[-1]
        out = [e for e in self.todo if e.t_s <= t_end]
        self.todo = [e for e in self.todo if e.t_s > t_end]
        return out

    def finish(self):
        self.finished = True
        out, self.todo = self.todo, []
        return out

    def result(self):
        class R:
            def to_dict(self, source=None):
                return {"summary": {"session_score": 77}}
        return R()


def chunks(t_end=60.0, rate_hz=80.0, size=4):
    t = np.arange(0, t_end, 1 / rate_hz)
    f = np.where((t > 10) & (t < 50), 120.0, 5.0)
    whole = SampleChunk(t, f)
    return whole.split([size] * (len(t) // size + 1))


def feed_until(listener, t_stop):
    """Feed the next chunks (after what the listener has seen) up to t_stop."""
    seen = listener.state.t_s if listener.state.samples else -1.0
    for c in chunks():
        if c.t_s[0] <= seen:
            continue
        if c.t_s[0] > t_stop:
            break
        listener.on_samples(c)


def test_state_follows_events():
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector)
    feed_until(det, 25.0)
    st = det.state
    assert det.detector.body_mass_kg == 70
    assert st.state == "hold" and st.hold_start_s == 10.0
    assert st.hold_duration_s == pytest.approx(st.t_s - 10.0)
    assert st.force_n == pytest.approx(120.0)
    assert st.light_band_n == pytest.approx((0.10 * 70 * 9.80665, 0.25 * 70 * 9.80665))
    feed_until(det, 61.0)
    det.stop()
    st = det.state
    assert st.state == "off" and st.hold_start_s is None
    assert st.last_hold == HOLD and len(st.holds) == 1
    tot = st.totals_now()
    assert tot["roll"] == pytest.approx(8.5) and tot["hold"] == pytest.approx(40.0)
    assert tot["off"] == pytest.approx(st.t_s - 50.0 + 1.5)  # 0..1.5 s before the first event, too
    assert det.result == {"summary": {"session_score": 77}} and det.detector.finished


def test_body_mass_from_recording_info_when_not_given():
    det = DetectorListener(detector_factory=ScriptedDetector)
    det.on_info({"body_mass_kg": 82, "region": "quads", "device": "holdsense-roller fw=0.3.0"})
    feed_until(det, 1.0)
    assert det.detector.body_mass_kg == 82 and det.state.region == "quads"
    given = DetectorListener(body_mass_kg=60, detector_factory=ScriptedDetector)
    given.on_info({"body_mass_kg": 82})
    feed_until(given, 1.0)
    assert given.detector.body_mass_kg == 60  # the command line wins over the file



@pytest.mark.parametrize("mass", [-5, "nan", 1e9, "seventy"])
def test_an_implausible_body_mass_in_the_info_is_not_used(mass):
    """A replayed file's header mass is checked as `analyze` and `--body-mass` check it (10-400 kg): an
    implausible one counts as unknown, so the profile's mass (or the rolling load) is the reference."""
    det = DetectorListener(detector_factory=ScriptedDetector, default_body_mass_kg=70)
    det.on_info({"body_mass_kg": mass})
    feed_until(det, 1.0)
    assert det.detector.body_mass_kg == 70

def text_of(state, width=110):
    con = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    con.print(render(state))
    return con.export_text()


def test_render_shows_everything_the_issue_lists():
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector)
    det.on_status({"battery_pct": 9, "corrupt_frames": 3})
    feed_until(det, 20.0)
    txt = text_of(det.state)
    assert "HOLDING" in txt and "to the release window" in txt
    assert "light-pressure band 69–172 N" in txt
    assert "┃" in txt  # the 30 s mark on the hold timer
    assert "LOW BATTERY (9%)" in txt and "corrupt frames 3" in txt
    feed_until(det, 40.0)
    txt = text_of(det.state)
    assert "release window reached" in txt and "force far above" in txt
    feed_until(det, 46.0)
    assert "force far above" not in text_of(det.state)  # warnings leave the screen after 15 s
    feed_until(det, 61.0)
    txt = text_of(det.state)
    assert "OFF" in txt and "last hold 40 s" in txt and "score 88" in txt
    assert "Held 40 s: past the 30 s release window." in txt
    assert "holds 1 (1 past 30 s)" in txt


def test_render_fits_an_80_column_terminal_and_fills_a_wide_one():
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector)
    det.state.last_hold = dict(HOLD, feedback=["Fairly firm pressure (25 % of your body weight and 83 % of your "
                                               "rolling load): lighten up a little and let the tissue relax."])
    feed_until(det, 20.0)
    for cols in (80, 140):
        con = Console(file=io.StringIO(), width=cols, record=True, color_system=None)
        con.print(render(det.state, cols))
        lines = con.export_text().splitlines()
        assert all(len(ln) <= cols for ln in lines)
        labels = {ln[2:11].strip() for ln in lines if ln.startswith("│ ")}
        assert {"state", "force", "trace", "hold", "score", "session"} <= labels, labels  # never cut to "sta…"
        text = " ".join(ln.strip("│ ") for ln in lines)
        assert "lighten up a little" in text and "…" not in text  # long feedback wraps, nothing is cut off
        bar = next(ln for ln in lines if ln.startswith("│ force"))
        assert bar.rstrip("│ ").count("░") + bar.count("·") + bar.count("█") + bar.count("▓") > cols - 35


def test_trace_shows_a_rolling_wave_and_a_calm_hold():
    st = LiveState()
    t = np.arange(0, 15, 0.05)
    for ti, fi in zip(t, 200 + 25 * np.sin(2 * np.pi * t / 3.0)):  # rolling: ±25 N strokes of 3 s
        st.history.append((float(ti), float(fi)))
    chart, lo, hi = _sparkline(st, 60)
    assert len(chart) == 60 and set(chart) >= set("▁█") and 170 <= lo and hi <= 230
    st.history.clear()
    for ti, fi in zip(t, 120 + 3 * np.sin(2 * np.pi * t / 4.0)):  # a hold: breathing ±3 N
        st.history.append((float(ti), float(fi)))
    chart, lo, hi = _sparkline(st, 60)
    assert hi - lo == pytest.approx(40.0) and set(chart) <= set("▃▄▅▆"), chart  # calm, not magnified noise
    st.history.clear()
    st.history.extend([(10.0, 0.5), (10.05, 0.4)])  # two points of an empty roller: right-aligned, from 0 N
    chart, lo, hi = _sparkline(st, 30)
    assert chart.startswith(" ") and chart.rstrip()[-1] == "▁" and lo == 0.0


def test_render_without_body_mass_says_how_to_get_the_band():
    st = LiveState()
    assert "give --body-mass" in text_of(st)
    assert light_band_n(None) is None


def test_plain_view_prints_events_and_a_status_line_each_second():
    out = io.StringIO()
    clock = iter(np.arange(0, 1000, 0.25)).__next__  # wall clock advancing 0.25 s per update
    view = PlainView(out, clock=clock)
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector, views=[view])
    for c in chunks():
        det.on_samples(c)
    det.on_gap(60.0, "link lost", 12)
    det.stop()
    lines = out.getvalue().splitlines()
    assert any("now rolling" in ln for ln in lines)
    assert any("hold started at 10.0 s" in ln for ln in lines)
    assert any("warning: force far above" in ln for ln in lines)
    ended = [ln for ln in lines if "hold ended" in ln]
    assert len(ended) == 1 and "score 88" in ended[0] and "Held 40 s" in ended[0]
    assert any("gap: link lost, 12 samples lost" in ln for ln in lines)
    status = [ln for ln in lines if "state " in ln and "force" in ln]
    n_updates = len(chunks())
    assert abs(len(status) - n_updates / 4) <= 2  # one per (fake) second: every 4th update
    assert lines[-1].endswith("session score 77") and "end: session" in lines[-1]


def test_plain_view_says_when_the_link_is_lost_and_when_it_is_back(monkeypatch):
    """A live roller unplugged for 4 s: one line when the link goes down, one when samples flow again saying
    how long it was down (the rich view's LINK LOST clock) and how much session time is counted as lost."""
    import types

    from holdsense.listeners import live

    wall = [1000.0]
    monkeypatch.setattr(live, "time", types.SimpleNamespace(monotonic=lambda: wall[0]))
    out = io.StringIO()
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector, views=[PlainView(out)])
    det.state.watch_stale = True
    before = [c for c in chunks() if c.t_s[-1] <= 20.0]
    after = [c for c in chunks() if c.t_s[0] >= 24.0]
    for c in before:
        det.on_samples(c)
    wall[0] += 0.3
    det.on_status({"link": "reconnecting"})  # the link layer: the port is gone
    wall[0] += 4.0
    det.on_status({"link": "ok"})  # reopened; samples not flowing yet (still LINK LOST: stale)
    det.on_gap(float(after[0].t_s[0]), "lost", 320)
    det.on_samples(after[0])  # samples again
    for c in after[1:]:
        det.on_samples(c)
    det.stop()
    lines = out.getvalue().splitlines()
    lost = [ln for ln in lines if "LINK LOST" in ln]
    back = [ln for ln in lines if "link back" in ln]
    assert len(lost) == 1 and "no data from the roller" in lost[0], lines
    assert len(back) == 1, lines
    # down from the last samples (0.3 s before the port went) until samples came: 4.3 s; 20 -> 24 s without samples
    assert back[0].endswith("link back after 4.3 s: 4.0 s of the session without samples, counted as link lost"), \
        back[0]
    assert lines.index(lost[0]) < lines.index(back[0])


def test_rich_view_refreshes_at_least_ten_times_a_second():
    buf = io.StringIO()
    view = RichView(Console(file=buf, force_terminal=True, width=100))
    assert view.refresh_hz >= 10
    det = DetectorListener(body_mass_kg=70, detector_factory=ScriptedDetector, views=[view])
    calls = []
    real = view._renderable
    view._renderable = lambda: calls.append(time.monotonic()) or real()
    feed_until(det, 20.0)
    time.sleep(1.0)
    det.stop()
    assert len(calls) >= 8  # ~12/s nominal; lenient for a loaded CI machine
    assert "holdsense" in buf.getvalue() and "session" in buf.getvalue()


def test_make_view_picks_plain_on_a_pipe():
    assert isinstance(make_view(out=io.StringIO()), PlainView)
    assert isinstance(make_view(plain=False, out=io.StringIO()), RichView)


def test_player_drives_the_listener_through_a_notifier(tmp_path):
    p = tmp_path / "s.csv"
    c = SampleChunk.concat(chunks())
    write_recording(p, c, {"body_mass_kg": 70})
    out = io.StringIO()
    det = DetectorListener(detector_factory=ScriptedDetector, views=[PlainView(out)])
    n = Notifier(Player(p, speed=float("inf")), [det])
    assert n.join(10)
    assert det.detector.body_mass_kg == 70 and det.state.samples == len(c)
    assert "hold ended" in out.getvalue()


def test_subscribers_see_every_event_including_finish():
    seen = []
    det = DetectorListener(detector_factory=ScriptedDetector)
    det.subscribe(seen.append)
    feed_until(det, 30.0)
    det.stop()  # finish() hands over the rest
    assert [e.kind for e in seen] == [e.kind for e in SCRIPT]


def test_band_and_release_window_come_from_the_profile():
    from holdsense.listeners.live import release_window_s

    class Prof:  # the shape of rollsignal.Profile: `criteria` is the parsed JSON's criteria
        criteria = {"duration": {"release_s": 45.0}, "pressure": {"light_max_of_body": 0.2}}

    assert release_window_s(Prof()) == 45.0 and release_window_s(None) == 30.0
    lo, hi = light_band_n(70, Prof())
    assert lo == pytest.approx(0.10 * 70 * 9.80665) and hi == pytest.approx(0.20 * 70 * 9.80665)


def test_the_detector_is_imported_before_samples_arrive_not_on_the_receive_thread():
    """rollsignal imports its scipy-backed Detector lazily (seconds on a busy machine); a DetectorListener
    must pay that when it is built, or its first on_samples stalls the receive loop long enough for the
    roller's queue to overflow (a gap in the recording at the start of every live session)."""
    import subprocess
    import sys

    code = ("import sys, holdsense.listeners.live as L\n"
            "before = 'rollsignal.detector' in sys.modules\n"
            "L.DetectorListener(body_mass_kg=70)\n"
            "print(before, 'rollsignal.detector' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
    assert out == ["False", "True"]


def test_the_session_line_names_one_number_session_score() -> None:
    """The live totals showed "mean hold score" (the mean of the hold scores) while the session ran, and
    "session score" (the analysis' weighted score, a different number) at the end, as the history does: one
    name, one number. During the session each hold's score is in the last-hold line; the session score
    comes at the end, as on the web page."""
    from holdsense.listeners.live import session_summary

    st = LiveState()
    st.holds = [dict(HOLD, score=88), dict(HOLD, score=60)]
    running = session_summary(st)
    assert "score" not in running, running
    st.result = {"summary": {"duration_s": 100.0, "hold_s": 80.0, "roll_s": 20.0, "off_s": 0.0,
                             "session_score": 71}}
    assert session_summary(st).endswith("; session score 71")
    assert "mean hold score" not in render_to_text(st)


def render_to_text(st: LiveState) -> str:
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(render(st, 100))
    return buf.getvalue()
