"""The page as rendered by Chromium at phone (390x844) and laptop (1280x800) size: the pictures for
docs/img are taken the same way (tests/web/screenshots.py); here they go to a temporary folder and the
layout is checked: nothing overflows sideways, the state word fits, and what a person on the floor needs
(state, hold timer, force) is on the first screen without scrolling."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _screenshots_module():
    spec = importlib.util.spec_from_file_location("web_screenshots", HERE / "screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _box(page, sel: str) -> dict:
    return page.evaluate(f"() => {{ const r = document.querySelector('{sel}').getBoundingClientRect(); "
                         "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }")


def test_phone_and_laptop_layouts(browser, serve_page, hs_env, tmp_path: Path) -> None:
    shots = _screenshots_module()
    subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--units", "lb", "--name", "Alex"],
                   env=hs_env, check=True, capture_output=True, timeout=60)
    hs = serve_page("replay", str(shots.DEMO), "--web", "--web-port", "0", "--no-browser")
    for viewport, t_s in ((shots.PHONE, 262.0), (shots.LAPTOP, 262.0), (shots.PHONE, 172.0)):
        page = browser.new_page(viewport=viewport)
        try:
            shots.show_moment(page, hs.url, t_s)
            w, h = viewport["width"], viewport["height"]
            assert page.evaluate("document.documentElement.scrollWidth") <= w  # no sideways scrolling
            state = _box(page, "#state")
            # the word itself fits its banner (no clipped letters)
            assert page.evaluate("(() => { const e = document.getElementById('state'); "
                                 "return e.scrollWidth <= e.clientWidth; })()")
            assert state["left"] >= 0 and state["right"] <= w
            for sel in ("#state", "#ring", "#force"):
                box = _box(page, sel)
                assert box["bottom"] <= h, (sel, box, viewport)  # on the first screen
            assert page.inner_text("#force").endswith(" lb")
            word = page.inner_text("#state")
            assert word == ("TOO HARD" if t_s == 172.0 else "HOLDING"), word
            page.screenshot(path=str(tmp_path / f"{w}x{h}-{t_s:.0f}.png"))
        finally:
            page.close()
