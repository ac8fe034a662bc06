"""The live page's marker buttons in a real browser (Chromium via Playwright) against `holdsense live --web -o`
on the virtual roller: "hold starts", a note (the browser's prompt answered), "hold ends" go over the page's
WebSocket into the recording's `marker` column, and the page lists them."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from holdsense.io.markers import markers_of
from holdsense.io.recording import read_recording
from holdsense.virtual.process import spawn

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "floor-scenario.json"
pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(os.name != "posix", reason="needs a pty and a Unix socket")]


def test_marker_buttons_on_the_live_page(browser, serve_page, tmp_path: Path) -> None:
    out = tmp_path / "live.csv"
    with spawn(str(SCENARIO), seed=0, speed=4.0, wait_for_start=True, link=str(tmp_path / "roller")):
        hs = serve_page("live", "--port", str(tmp_path / "roller"), "--web", "--web-port", "0", "--no-browser",
                        "--plain", "-o", str(out), "--duration", "30")
        page = browser.new_page(viewport={"width": 390, "height": 844})
        try:
            page.goto(hs.url)
            page.wait_for_function("window.__hs && window.__hs.last && window.__hs.last.t_s > 2", timeout=60_000)
            assert page.is_visible("#marks-card")
            page.on("dialog", lambda d: d.accept("left calf, tender"))
            page.click("#mark-start")
            page.wait_for_function("window.__hs.last.marks.recent.length === 1", timeout=20_000)
            time.sleep(0.5)
            page.click("#mark-note")
            page.wait_for_function("window.__hs.last.marks.recent.length === 2", timeout=20_000)
            time.sleep(0.5)
            page.click("#mark-end")
            page.wait_for_function("window.__hs.last.marks.recent.length === 3", timeout=20_000)
            listed = [li.inner_text() for li in page.locator("#marks li").all()]
            assert [x.split(" ", 1)[1] for x in listed] == ["hold ends", "note: left calf, tender", "hold starts"]
        finally:
            page.close()
        assert hs.proc.wait(120) == 0, hs.log.read_text()
    marks = markers_of(read_recording(out))
    assert [(m.kind, m.text) for m in marks] == [("hold_start", ""), ("note", "left calf, tender"), ("hold_end", "")]
    assert marks[0].t_s < marks[1].t_s < marks[2].t_s
