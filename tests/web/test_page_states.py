"""The live page in a real browser (Chromium via Playwright) given hand-made states: a WebServer in this
process pushes `snapshot()`s of LiveStates built here (no holdsense process, no roller, no replay), so each
case takes a page load, not a session.

- an empty roller's tare residue (-0.1 kg) shows as 0, never as a negative load.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from holdsense.listeners.live import G_MPS2, LiveState, light_band_n
from holdsense.listeners.web import WebServer, snapshot

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
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