"""The live page in a real browser (Chromium via Playwright) given hand-made states: a WebServer in this
process pushes `snapshot()`s of LiveStates built here (no holdsense process, no roller, no replay), so each
case takes a page load, not a session.

- a too-hard hold's score is red whatever its number (a capped 50 showed amber, "fair", beside "too hard");
  a too-short one (29 s, light and steady: 82) amber, never green beside "too short for a release";
- a hold cut off under 30 s by a lost link shows no score (it showed 100 while the analysis says its
  length is not judged), in the last-hold card and in the session's list;
- an empty roller's tare residue (-0.1 kg) shows as 0, never as a negative load;
- after the session (ENDED) the marker buttons are disabled and the card says why; so while the page has no
  connection to holdsense (a press went nowhere, saying nothing), and while the link to the roller is lost
  (a press was stamped at the reconnection);
- on a laptop (1280 px) the markers card sits in the right column under the session's holds, its hint in
  plain case on the label's line, three equal buttons; on a phone (390 px) everything fits.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from holdsense.listeners.live import G_MPS2, LiveState, light_band_n
from holdsense.listeners.web import WebServer, snapshot
from rollsignal import load_profile
from rollsignal.scoring import Scorer

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
MASS_KG = 70.0
WEIGHT_N = MASS_KG * G_MPS2


class Canned:
    """The page's server with a state set by the test (`snap`) and the commands the page sent."""

    def __init__(self) -> None:
        self.snap: dict[str, Any] = snapshot(LiveState())
        self.commands: list[dict[str, Any]] = []
        self.server = WebServer(lambda: self.snap, port=0, on_command=self.commands.append)
        self.url = self.server.start()


@pytest.fixture(scope="module")
def _server() -> Iterator[Canned]:
    c = Canned()
    try:
        yield c
    finally:
        c.server.stop()


@pytest.fixture
def canned(_server: Canned) -> Canned:
    """The module's server (one for all: starting one costs more than a test), its commands cleared."""
    _server.commands.clear()
    return _server


def _hold(duration_s: float, frac_bw: float, ended_by: str = "rolling", start_s: float = 60.0) -> dict[str, Any]:
    """A hold dict as the detector makes it (rollsignal's Scorer on the hold's statistics)."""
    stats = {"start_s": start_s, "end_s": start_s + duration_s, "duration_s": duration_s,
             "mean_force_n": frac_bw * WEIGHT_N, "force_cv": 0.03, "slow_cv": None, "travel_cm": None,
             "spot_cm": None, "rolling_load_n": None, "body_mass_kg": MASS_KG, "ended_by": ended_by,
             "confidence": 0.9}
    return Scorer(load_profile()).score_hold(stats)


def _state(*, state: str | None = "off", force_n: float = 0.0, holds: list[dict[str, Any]] = (),
           marks: bool = True, ended: bool = False, unloaded_n: float | None = 12.0) -> LiveState:
    st = LiveState(body_mass_kg=MASS_KG, light_band_n=light_band_n(MASS_KG), region="quads")
    st.t_s, st.first_t_s, st.samples = 300.0, 0.0, 24000  # (t_s: _show sets its own)
    st.state, st.state_start_s, st.force_n = state, 290.0, force_n
    st.holds = [dict(h) for h in holds]
    st.last_hold = st.holds[-1] if st.holds else None
    st.marks_on, st.ended, st.unloaded_n = marks, ended, unloaded_n
    st.marks.extend([(250.0, "hold starts"), (255.0, "note: left calf, tender"), (258.0, "hold ends")] if marks else [])
    return st


def _open(browser: Any, c: Canned, st: LiveState, viewport: dict[str, int] = PHONE) -> Any:
    """A new page showing `st`."""
    page = browser.new_page(viewport=viewport)
    page.goto(c.url)
    _show(page, c, st)
    return page


_pushed = iter(range(1000, 10**6))


def _show(page: Any, c: Canned, st: LiveState) -> None:
    """Push `st` (as `units=kg`, named Alex) and wait until the page has drawn it (by a unique clock time)."""
    st.t_s = float(next(_pushed))
    c.snap = snapshot(st, units="kg", name="Alex")
    page.wait_for_function(f"window.__hs && window.__hs.last && window.__hs.last.t_s === {st.t_s}")


def _text(page: Any, sel: str) -> str:
    """The element's text as shown (one evaluate: Playwright's inner_text costs several round trips)."""
    return page.evaluate("s => document.querySelector(s).innerText", sel)


def _texts(page: Any, sel: str) -> list[str]:
    return page.evaluate("s => [...document.querySelectorAll(s)].map(e => e.innerText)", sel)


def _until(cond: Any, timeout_s: float = 5.0) -> None:
    """Poll `cond()` (a message from the page reaches the server's thread in milliseconds)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _colour(page: Any, sel: str) -> str:
    return page.evaluate(f"getComputedStyle(document.querySelector('{sel}')).color")


def _var(page: Any, name: str) -> str:
    """A CSS colour variable as the browser computes a colour (rgb(...))."""
    return page.evaluate(f"""(() => {{ const e = document.createElement('span'); e.style.color = 'var({name})';
        document.body.appendChild(e); const c = getComputedStyle(e).color; e.remove(); return c; }})()""")


def test_too_hard_hold_is_red_whatever_its_score(browser, canned) -> None:
    hard = _hold(38.0, 0.75)  # 75 % of body weight: too hard, safety warning, score capped at 50
    assert hard["score"] == 50 and hard["grade"].startswith("too hard")
    firm = _hold(40.0, 0.28)  # fairly firm, release window reached: a plain score
    page = _open(browser, canned, _state(holds=[firm, hard]))
    try:
        red, amber = _var(page, "--hard"), _var(page, "--roll")
        assert _text(page, "#last-score") == "50"
        assert _colour(page, "#last-score") == red != amber
        assert _text(page, "#last-grade").startswith("too hard")
        assert "light, sustained pressure" in _text(page, "#last-feedback")
        assert _texts(page, "#holds li .sc") == ["50", str(firm["score"])]
        # the list agrees with the card, in the lighter red small text needs for contrast on a card
        assert _colour(page, "#holds li:first-child .sc") == _var(page, "--hard-text") != amber
        # a light, steady 29 s hold: 82, green by number, but too short for a release (its grade): amber
        short = _hold(29.0, 0.15, start_s=200.0)
        assert short["score"] == 82 and short["grade"] == "too short for a release"
        _show(page, canned, _state(holds=[hard, short]))
        assert _text(page, "#last-score") == "82" and _colour(page, "#last-score") == amber
        assert _colour(page, "#holds li:first-child .sc") == amber
    finally:
        page.close()


def test_cut_off_short_hold_shows_no_score(browser, canned) -> None:
    cut = _hold(12.0, 0.15, ended_by="link lost")  # light and steady, cut off at 12 s by a lost link
    assert cut["score"] == 100 and cut["grade"] == "cut off: length not judged"
    page = _open(browser, canned, _state(holds=[_hold(45.0, 0.15), cut]))
    try:
        assert _text(page, "#last-score") == "–"
        assert _text(page, "#last-grade") == "cut off: length not judged"
        assert _colour(page, "#last-score") not in (_var(page, "--hold"), _var(page, "--roll"), _var(page, "--hard"))
        assert _texts(page, "#holds li .sc")[0] == "–"
        assert "100" not in _text(page, "#last-card") + _text(page, "#holds-card")
        # cut off past the release window: the time was held, its score stands
        long_cut = _hold(45.0, 0.15, ended_by="end")
        _show(page, canned, _state(holds=[long_cut]))
        assert _text(page, "#last-score") == str(long_cut["score"])
    finally:
        page.close()


def test_empty_roller_shows_no_negative_load(browser, canned) -> None:
    page = _open(browser, canned, _state(state="off", force_n=-0.1 * G_MPS2))  # the tare's residue
    try:
        assert _text(page, "#state") == "OFF"
        assert _text(page, "#force") == "0.0 kg"
        assert _text(page, "#pct") == "0 % body weight"
        # noise and drift under the detector's unloaded threshold: still nobody on the roller
        _show(page, canned, _state(state="off", force_n=6.0))
        assert _text(page, "#force") == "0.0 kg"
        # before a detector exists (no threshold known): a negative reading is still no load
        _show(page, canned, _state(state=None, force_n=-1.0, unloaded_n=None))
        assert _text(page, "#force") == "0.0 kg"
        # someone on the roller: the reading as it is
        _show(page, canned, _state(state="roll", force_n=250.0))
        assert _text(page, "#force") == "25.5 kg"
    finally:
        page.close()


def test_marker_buttons_are_disabled_after_the_session(browser, canned) -> None:
    page = _open(browser, canned, _state())
    try:
        assert page.is_visible("#marks-card")
        assert all(page.is_enabled(f"#mark-{b}") for b in ("start", "end", "note"))
        assert not page.is_visible("#marks-why")
        page.click("#mark-start")
        _until(lambda: canned.commands)
        # while the link is lost: disabled, saying why (holdsense would not record them: listeners/markers.py)
        lost = _state()
        lost.link_down_since = time.monotonic()
        _show(page, canned, lost)
        assert _text(page, "#state") == "LINK LOST"
        assert all(page.is_disabled(f"#mark-{b}") for b in ("start", "end", "note"))
        assert "link lost" in _text(page, "#marks-why") and page.is_visible("#marks-why")
        _show(page, canned, _state())  # the link back: enabled again
        assert all(page.is_enabled(f"#mark-{b}") for b in ("start", "end", "note"))
        _show(page, canned, _state(ended=True))
        for b in ("start", "end", "note"):
            assert page.is_disabled(f"#mark-{b}"), b
        assert "session ended" in _text(page, "#marks-why") and page.is_visible("#marks-why")
        # a press on a disabled button sends nothing (forced: a person's tap on it does nothing either)
        page.click("#mark-end", force=True)
        page.click("#mark-note", force=True)
        page.wait_for_timeout(150)  # three pushes: any message sent would have arrived
        assert [c.get("mark") for c in canned.commands] == ["hold_start"], canned.commands
        # the marks so far stay listed
        assert len(_texts(page, "#marks li")) == 3
    finally:
        page.close()


def test_marker_buttons_are_disabled_while_the_page_has_no_connection(browser) -> None:
    own = Canned()  # (its own server: this one is stopped)
    stopped = False
    try:
        page = _open(browser, own, _state())
        try:
            assert page.is_enabled("#mark-start")
            own.server.stop()  # holdsense gone mid-session
            stopped = True
            page.wait_for_function("document.getElementById('conn').classList.contains('bad')", timeout=10_000)
            assert page.is_disabled("#mark-start") and page.is_disabled("#mark-note")
            assert "no connection" in _text(page, "#marks-why")
        finally:
            page.close()
    finally:
        if not stopped:
            own.server.stop()


def _box(page: Any, sel: str) -> dict[str, float]:
    return page.evaluate(f"(() => {{ const r = document.querySelector('{sel}').getBoundingClientRect(); "
                         "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; })()")


def test_markers_card_layout_on_a_laptop_and_a_phone(browser, canned) -> None:
    st = _state(state="hold", force_n=0.2 * WEIGHT_N, holds=[_hold(77.0, 0.2), _hold(14.0, 0.2), _hold(38.0, 0.75)])
    st.hold_start_s = 281.0
    page = _open(browser, canned, st, LAPTOP)
    try:
        marks, holds, state = _box(page, "#marks-card"), _box(page, "#holds-card"), _box(page, "#state-card")
        # in the right column, under the session's holds (it sat under the state card, beside nothing)
        assert marks["left"] == pytest.approx(holds["left"], abs=1) and marks["width"] == pytest.approx(holds["width"], abs=1)
        assert marks["top"] > holds["bottom"] and marks["left"] > state["right"]
        assert state["bottom"] == pytest.approx(marks["bottom"], abs=1)  # the columns end together
        # the hint in plain case on the label's line (in capitals it wrapped and left "HOLD)" alone)
        assert page.evaluate("getComputedStyle(document.querySelector('#marks-card .hint')).textTransform") == "none"
        label = _box(page, "#marks-card > .label")
        assert label["bottom"] - label["top"] < 30, label  # one line
        widths = [_box(page, f"#mark-{b}")["width"] for b in ("start", "end", "note")]
        assert max(widths) - min(widths) < 2, widths
        assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
        for sel in ("#state", "#ring", "#force"):
            assert _box(page, sel)["bottom"] <= LAPTOP["height"], sel
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(50)  # a frame or two: the new layout
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        for b in ("start", "end", "note"):
            box = _box(page, f"#mark-{b}")
            assert box["left"] >= 0 and box["right"] <= PHONE["width"]
            h = page.evaluate(f"document.getElementById('mark-{b}').getBoundingClientRect().height")
            assert h < 60, (b, h)  # one line of words ("hold starts" wrapped in two)
        assert _box(page, "#marks-card")["top"] > _box(page, "#holds-card")["bottom"]
    finally:
        page.close()
