"""The live page's server side without a browser: the state word, link-loss accounting, the snapshot the
page receives, the token check, the push rate, and replay seeking (streaming equals batch)."""
from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from holdsense.listeners.web import ReplayControl, WebServer, WebView, one_line_feedback, snapshot
from holdsense.listeners.live import LINK_STALE_S, DetectorListener, LiveState, display_state
from holdsense.listeners.notifier import Notifier, dispatch
from holdsense.io.player import Player
from holdsense.io.recording import read_recording
from rollsignal import FLAG_GAP

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "recordings" / "demo-standard.csv"


def _play(rec, det) -> None:
    """The whole recording into `det` as fast as it takes it, then stop() (end of stream)."""
    n = Notifier(Player(rec, speed=math.inf), [det], start=False)
    n.run()
    n.raise_errors()


@pytest.fixture(scope="module")
def demo():
    return read_recording(DEMO)


def test_display_state_priorities() -> None:
    st = LiveState(body_mass_kg=80.0)
    assert display_state(st) == "waiting"
    st.state, st.force_n = "roll", 250.0
    assert display_state(st) == "roll"
    st.state, st.hold_start_s, st.t_s = "hold", 10.0, 20.0
    st.hold_mean_force_n = 0.20 * 80 * 9.80665
    assert display_state(st) == "hold"
    st.hold_mean_force_n = 0.34 * 80 * 9.80665  # above 33 % of body weight
    assert display_state(st) == "too_hard"
    st.hold_mean_force_n = 0.20 * 80 * 9.80665
    st.warnings.append((15.0, "Very heavy pressure"))  # a warning during this hold
    assert display_state(st) == "too_hard"
    st.warnings.clear()
    st.watch_stale, st.last_samples_wall = True, 100.0
    assert display_state(st, now=100.0 + LINK_STALE_S / 2) == "hold"
    assert display_state(st, now=100.0 + LINK_STALE_S + 0.01) == "link_lost"
    st.watch_stale = False
    st.link_down_since = 5.0
    assert display_state(st, now=6.0) == "link_lost"
    st.ended = True
    assert display_state(st) == "ended"


def test_link_status_sets_and_clears_link_lost() -> None:
    det = DetectorListener()
    det.on_status({"link": "reconnecting"})
    assert det.state.link_lost() and display_state(det.state) == "link_lost"
    det.on_status({"link": "ok"})
    assert not det.state.link_lost()


def _with_gap(rec, a_s: float, b_s: float):
    """The recording with samples between a_s and b_s removed and the next one flagged as after a gap."""
    s = rec.samples
    t = s.t_s - s.t_s[0]
    keep = ~((t > a_s) & (t < b_s))
    idx = np.flatnonzero(keep)
    chunk = type(s)(s.t_s[idx], s.force_n[idx], None if s.angle_deg is None else s.angle_deg[idx],
                    s.flags[idx].copy())
    first_after = int(np.searchsorted(t[idx], b_s))
    chunk.flags[first_after] |= FLAG_GAP
    return replace(rec, samples=chunk)


def test_link_loss_counts_as_lost_not_off(demo) -> None:
    rec = _with_gap(demo, 60.0, 72.0)  # 12 s lost in the middle of the first hold
    det = DetectorListener()
    _play(rec, det)
    tot = det.state.totals_now()
    assert tot["lost"] == pytest.approx(12.0, abs=0.1)
    duration = float(rec.samples.t_s[-1] - rec.samples.t_s[0])
    assert tot["off"] + tot["roll"] + tot["hold"] + tot["lost"] == pytest.approx(duration, abs=0.2)
    # without the gap the same session has no lost time, and no more off time than with it
    ref = DetectorListener()
    _play(demo, ref)
    ref_tot = ref.state.totals_now()
    assert ref_tot["lost"] == 0.0
    assert tot["off"] <= ref_tot["off"] + 0.2


def test_snapshot_units_band_and_json(demo) -> None:
    det = DetectorListener()
    _play(demo, det)
    st = det.state
    snap_n = snapshot(st, units="N", name="A")
    snap_lb = snapshot(st, units="lb", name="A")
    json.dumps(snap_n)  # JSON-ready: no NaN, no numpy types
    assert snap_n["units"] == "N" and snap_lb["units"] == "lb"
    mass = st.body_mass_kg
    assert snap_n["band_n"][0] == pytest.approx(0.10 * mass * 9.80665, abs=0.1)
    assert snap_lb["band"][1] == pytest.approx(snap_n["band_n"][1] / 4.4482216, abs=0.1)
    assert snap_n["scale_n"] == pytest.approx(0.5 * mass * 9.80665, abs=0.1)  # fixed: from body weight
    assert [h["score"] for h in snap_n["holds"]] == [h["score"] for h in st.holds]
    assert snap_n["last_hold"]["feedback"] == one_line_feedback(st.holds[-1])
    assert snap_n["word"] == "ENDED" and snap_n["ended"]


def test_hold_durations_reach_the_page_unrounded(demo) -> None:
    """The page rounds a finished hold's length once, half to even like Python (app.js `dur`): sent already
    rounded to 0.1 s, 52.54 s became 52.5 and showed "held 0:52" beside the feedback's "Held 53 s"."""
    det = DetectorListener()
    _play(demo, det)
    st = det.state
    st.last_hold = dict(st.holds[-1], duration_s=52.54)
    st.holds[-1] = st.last_hold
    snap = snapshot(st, units="N")
    assert round(snap["last_hold"]["duration_s"]) == 53 == int(f"{52.54:.0f}")
    assert round(snap["holds"][-1]["duration_s"]) == 53


def test_one_line_feedback_prefers_what_to_change() -> None:
    assert one_line_feedback({"feedback": ["Held 77 s: past the 30 s release window.", "Light pressure (19 %): good.",
                                           "The roller moved 4.0 cm: stay on the spot instead of drifting."]}) \
        .startswith("The roller moved")
    assert one_line_feedback({"feedback": ["Held 10 s: too short.", "Too hard: you held at 40 %."]}) \
        .startswith("Too hard")
    assert one_line_feedback({"feedback": ["Held 77 s: past the 30 s release window."]}).startswith("Held 77")
    assert one_line_feedback({}) is None


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_server_token_and_push_rate() -> None:
    view = WebView(units="kg")
    view.state = LiveState(body_mass_kg=70.0)
    server = WebServer(view.snapshot, port=0, token="s3cret-token-xyz", rate_hz=20.0)
    url = server.start()
    try:
        assert url.endswith("/s3cret-token-xyz/")
        base = url.split("/s3cret")[0]
        assert _get(url) == 200 and _get(url + "app.js") == 200 and _get(url + "style.css") == 200
        assert _get(url + "../etc/passwd") in (403, 404)
        for bad in ("/", "/app.js", "/ws", "/state.json", "/s3cret-token-xy/", "/S3CRET-TOKEN-XYZ/"):
            assert _get(base + bad) == 403, bad

        async def count(seconds: float) -> tuple[int, dict]:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url.replace("http", "ws") + "ws") as ws:
                    n, last, t_end = 0, {}, time.monotonic() + seconds
                    while time.monotonic() < t_end:
                        msg = await ws.receive(timeout=2)
                        last = json.loads(msg.data)
                        n += 1
                    return n, last

        n, last = asyncio.run(count(2.0))
        assert n / 2.0 >= 10.0, n  # at least 10 updates a second (20 configured)
        assert last["state"] == "waiting" and last["units"] == "kg"
    finally:
        server.stop()


def test_server_pushes_the_final_state_before_it_stops() -> None:
    """The session ends between two pushes and holdsense stops at once: the phone still gets ENDED with the
    end totals before its socket closes (it kept the running session's last push before). A phone that
    never answers the close (asleep, its socket half open) does not hold up the stop."""
    view = WebView()
    view.state = LiveState(body_mass_kg=70.0, t_s=12.0)
    # one periodic push every 5 s: none falls between the session's end and the stop below
    server = WebServer(view.snapshot, port=0, rate_hz=0.2)
    url = server.start().replace("http", "ws") + "ws"

    async def session_end() -> tuple[list[dict], float]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as phone, session.ws_connect(url) as asleep:
                got = [json.loads((await phone.receive(timeout=5)).data)]
                await asleep.receive(timeout=5)  # its first push; then it reads nothing more
                assert not got[0]["ended"]
                with view.lock:  # what DetectorListener.stop() leaves: ENDED and the analysis' totals
                    view.state.result = {"summary": {"duration_s": 12.0, "hold_s": 7.0, "roll_s": 4.0,
                                                     "off_s": 1.0, "lost_s": 0.0, "session_score": 81}}
                    view.state.ended = True
                t0 = time.monotonic()
                stopping = asyncio.get_running_loop().run_in_executor(None, server.stop)
                while True:
                    msg = await phone.receive(timeout=10)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    got.append(json.loads(msg.data))
                await stopping
                return got, time.monotonic() - t0

    got, stop_s = asyncio.run(session_end())
    assert len(got) >= 2, "no push after the session ended: the phone never saw ENDED"
    last = got[-1]
    assert last["ended"] and last["state"] == "ended" and last["totals_final"], last
    assert last["totals"] == {"hold": 7.0, "roll": 4.0, "off": 1.0, "lost": 0.0} and last["session_score"] == 81
    assert stop_s < 4.0, f"stop() took {stop_s:.1f} s with a phone that never answers"


def test_server_refuses_a_busy_port() -> None:
    from holdsense.errors import UserError

    a = WebServer(lambda: {}, port=0)
    a.start()
    try:
        b = WebServer(lambda: {}, port=a.port)
        with pytest.raises(UserError, match="cannot listen") as ei:
            b.start()
        assert "--web-port" in str(ei.value) and "--web-host" not in str(ei.value)  # the port is what to change
    finally:
        a.stop()


@pytest.mark.parametrize("host", ["999.1.1.1",  # not an address, no such host name
                                  "192.0.2.1"])  # TEST-NET-1: a real address, but never this machine's
def test_server_on_a_bad_host_says_to_change_the_host(host: str) -> None:
    from holdsense.errors import UserError

    with pytest.raises(UserError, match="cannot listen") as ei:
        WebServer(lambda: {}, host=host, port=0).start()
    assert "--web-host" in str(ei.value) and "--web-port" not in str(ei.value)


def test_cli_bad_web_host_is_one_line_about_the_host(tmp_path) -> None:
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "live", "--port", str(tmp_path / "none"), "--web",
                        "--web-host", "999.1.1.1", "--no-browser"], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, HOLDSENSE_CONFIG_DIR=str(tmp_path)))
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "999.1.1.1" in p.stderr and "--web-host" in p.stderr and "--web-port" not in p.stderr


def _holds_after_run(rec, t_s: float) -> list:
    """Holds a straight, uninterrupted run has reported after feeding everything up to t_s."""
    det = DetectorListener()
    s = rec.samples
    stop = int(np.searchsorted(s.t_s, s.t_s[0] + t_s, side="right"))
    for m in Player(replace(rec, samples=s.slice(0, stop)), speed=math.inf):
        dispatch(det, m)
    return det.state.holds


def test_replay_seek_equals_a_straight_run(demo) -> None:
    ctl = ReplayControl(demo, lambda: DetectorListener(), speed=1.0)
    ctl.command({"cmd": "pause"})
    for t in (200.0, 120.0, 0.0, 350.0):  # forward, back, to the start, forward again
        ctl.command({"cmd": "seek", "t_s": t})
        snap = ctl.snapshot()
        assert snap["replay"]["position_s"] == pytest.approx(t, abs=0.05)
        assert ctl.det.state.holds == _holds_after_run(demo, t)
    ctl.command({"cmd": "seek", "t_s": "nonsense"})  # ignored
    assert ctl.snapshot()["replay"]["position_s"] == pytest.approx(350.0, abs=0.05)
    ctl.stop()


def test_cli_default_port_is_the_servers() -> None:
    from holdsense.listeners import web
    from holdsense.commands import _options as options

    assert options.DEFAULT_WEB_PORT == web.DEFAULT_PORT


def test_server_stop_twice_is_harmless() -> None:
    server = WebServer(lambda: {}, port=0)
    server.start()
    server.stop()
    server.stop()  # raised "Event loop is closed"


def test_an_empty_roller_shows_no_negative_load(demo) -> None:
    """Off the roller, the tare's residue (-0.1 kg) and the zero's noise under the detector's own unloaded
    threshold (rollsignal's Contact.off_n) read 0, on the page and in the terminal; a load is shown as it
    is, and no reading is ever negative."""
    from holdsense.listeners.live import shown_force_n, status_line

    det = DetectorListener(body_mass_kg=70.0)
    _play(demo, det)
    st = det.state
    assert st.unloaded_n == det.detector.contact.off_n  # the detector's threshold, not a copy
    st.state = "off"
    for residue_n in (-0.1 * 9.80665, -0.05, 3.0, st.unloaded_n - 0.5):
        st.force_n = residue_n
        assert shown_force_n(st) == 0.0, residue_n
        snap = snapshot(st, units="kg")
        assert snap["force"] == 0.0 and snap["force_n"] == 0.0 and snap["pct_bw"] == 0.0, snap
        assert "force    0.0 kg" in status_line(st, "kg"), status_line(st, "kg")
    st.force_n = st.unloaded_n + 5.0  # off, but over the threshold: something is on it
    assert shown_force_n(st) == st.force_n
    st.state, st.force_n = "roll", 250.0
    assert snapshot(st)["force_n"] == 250.0
    st.force_n = -2.0  # never negative, whatever the state
    assert shown_force_n(st) == 0.0
    fresh = LiveState(state="off", force_n=-1.0)  # no detector yet: no threshold, still no negative load
    assert fresh.unloaded_n is None and shown_force_n(fresh) == 0.0
    assert math.isnan(shown_force_n(LiveState()))  # no reading: none shown


def test_hold_verdicts_for_the_page() -> None:
    """The page colours a too-hard hold red whatever its score, shows no score for a hold cut off under the
    release window (its length not judged), and never green for a too-short hold, as the report, the plots
    and the analysis treat them: the snapshot carries the hold's tone from holdsense.verdict, the one rule."""
    from holdsense.verdict import hold_verdict
    from rollsignal import load_profile
    from rollsignal.scoring import Scorer

    def hold(d_s: float, frac_bw: float, ended_by: str) -> dict:
        return Scorer(load_profile()).score_hold({
            "start_s": 0.0, "end_s": d_s, "duration_s": d_s, "mean_force_n": frac_bw * 70 * 9.80665,
            "force_cv": 0.03, "slow_cv": None, "travel_cm": None, "spot_cm": None, "rolling_load_n": None,
            "body_mass_kg": 70.0, "ended_by": ended_by})

    hard = hold(38.0, 0.75, "rolling")
    assert hard["score"] == 50 and hold_verdict(hard, 30.0) == "too_hard"
    cut = hold(12.0, 0.15, "link lost")
    assert cut["score"] == 100 and hold_verdict(cut, 30.0) == "not_judged"
    assert hold_verdict(hold(12.0, 0.15, "end"), 30.0) == "not_judged"
    assert hold_verdict(hold(45.0, 0.15, "end"), 30.0) is None  # past the window: the time was held
    assert hold_verdict(hold(12.0, 0.15, "rolling"), 30.0) == "too_short"  # ended by the person: judged
    assert hold_verdict(hold(12.0, 0.75, "link lost"), 30.0) == "too_hard"  # the pressure is the news
    short = hold(29.0, 0.15, "rolling")  # light and steady, 1 s short of the window: 82, green by number
    st = LiveState(body_mass_kg=70.0)
    st.holds = [hard, cut, short, hold(45.0, 0.15, "rolling")]
    st.last_hold = short
    snap = snapshot(st)
    assert [(h["verdict"], h["tone"]) for h in snap["holds"]] == [
        ("too_hard", "poor"), ("not_judged", "not_judged"), ("too_short", "fair"), (None, "good")]
    assert snap["last_hold"]["score"] == 82 and snap["last_hold"]["tone"] == "fair"


def test_page_markup_for_screen_readers_and_reduced_motion() -> None:
    """The served page's accessibility hooks, without a browser (tests/web/test_accessibility.py checks them
    rendered): the state is the heading, the hold timer has words, state changes go to a polite live region
    and urgent ones to an alert, the slider says m:ss, the pulse stops for prefers-reduced-motion, and the
    text sizes are in rem (they follow the browser's font-size setting)."""
    import re

    from holdsense.listeners.web import PAGE_DIR

    html = (PAGE_DIR / "index.html").read_text()
    css = (PAGE_DIR / "style.css").read_text()
    assert re.search(r'<h1 id="state"', html)
    assert re.search(r'id="timer-text"[^>]*role="timer"', html)
    assert re.search(r'id="say"[^>]*role="status"[^>]*aria-live="polite"', html)
    assert re.search(r'id="alert"[^>]*role="alert"', html)
    assert 'aria-valuetext=' in html and 'aria-hidden="true"' in html  # the ring itself is a picture
    assert re.search(r"@media \(prefers-reduced-motion: reduce\)\s*\{[^}]*animation: none", css)
    # px only for the SVG ring's text (its own units) and inside viewport-sized clamps
    px_sizes = re.findall(r"^([^{\n]*)\{[^}]*font-size: \d+px", css, flags=re.M)
    assert sorted(s.strip() for s in px_sizes) == ["#timer", "#timer-sub"], px_sizes
