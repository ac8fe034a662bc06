"""Accessibility of the live page in a real browser (Chromium via Playwright), on the replayed demo
recording, paused (one server, one phone-sized page: a few seconds beyond the server's start):

- a screen reader gets the state as the page's heading, the hold timer in words (the ring is a picture),
  state changes as one sentence in a polite live region and TOO HARD / LINK LOST as an alert, the holds
  list with its column names, and the scrubber's position as m:ss;
- the force zone while holding is said in words, not only by the %'s colour (deuteranopia: green, amber
  and red look alike); the too-hard zone on the bar is hatched and the TOO HARD banner framed;
- every text on the page meets WCAG AA contrast (4.5:1, 3:1 for large text), also the warning on red;
- prefers-reduced-motion stops the pulsing TOO HARD banner; text follows the browser's font size (rem)
  and a phone at double text size still does not scroll sideways.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DEMO = HERE.parents[1] / "recordings" / "demo-standard.csv"
PHONE = {"width": 390, "height": 844}
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: WCAG 2 contrast of every visible text node against its nearest opaque background (a gradient's first
#: colour stop), with the opacities on the way: [{text, id, ratio, need}], need 3 for large text.
CONTRAST_JS = """() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const cs = getComputedStyle(e);
      const m = cs.backgroundImage !== "none" && cs.backgroundImage.match(/rgba?\\([^)]+\\)/); if (m) return parse(m[0]);
      const c = parse(cs.backgroundColor); if (c && c[3] > 0.5) return c; } return [255, 255, 255, 1]; };
  const opac = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest("[hidden], .sr-only")) continue;
    const r = el.getBoundingClientRect(); if (!r.width || !r.height) continue;
    const cs = getComputedStyle(el);
    let fg = parse(el instanceof SVGElement ? cs.fill : cs.color); const bg = bgOf(el); const o = opac(el) * fg[3];
    fg = [0, 1, 2].map((i) => fg[i] * o + bg[i] * (1 - o));
    const L1 = lum(fg), L2 = lum(bg), px = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight) >= 700;
    out.push({ text: n.textContent.trim().slice(0, 40), id: el.id || el.className,
               ratio: (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05),
               need: px >= 24 || (bold && px >= 18.66) ? 3 : 4.5 });
  }
  return out;
}"""


def _show(page, url: str, t_s: float) -> None:
    spec = importlib.util.spec_from_file_location("web_screenshots", HERE / "screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.show_moment(page, url, t_s)


def _seek(page, t_s: float) -> None:
    page.evaluate("t => { const s = document.getElementById('scrub'); s.value = t; "
                  "s.dispatchEvent(new Event('change')); }", t_s)
    page.wait_for_function(f"Math.abs(window.__hs.last.replay.position_s - {t_s}) < 0.5", timeout=60_000)
    page.wait_for_timeout(200)


def _low_contrast(page) -> list[dict]:
    return [r for r in page.evaluate(CONTRAST_JS) if r["ratio"] < r["need"]]


def test_live_page_for_screen_readers_colour_blindness_and_low_vision(browser, serve_page, hs_env) -> None:
    subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--units", "kg", "--body-mass", "72"],
                   env=hs_env, check=True, capture_output=True, timeout=60)
    hs = serve_page("replay", str(DEMO), "--web", "--web-port", "0", "--no-browser")
    page = browser.new_page(viewport=PHONE)
    try:
        _show(page, hs.url, 262.0)  # the 4th hold, 19 s in; holds 1-3 (the 3rd too hard) in the list
        # the state is the page's heading; the hold timer, drawn in an SVG ring, is said in words
        assert page.get_by_role("heading", level=1).inner_text() == "HOLDING"
        timer = page.get_by_role("timer").text_content()
        assert timer == "hold timer 19 seconds, release window in 11 s", timer
        # live regions: the state as a sentence (polite), urgent states as an alert
        assert page.get_attribute("#say", "aria-live") == "polite" and page.get_attribute("#alert", "role") == "alert"
        assert "Holding. Stay and breathe." in page.text_content("#say")
        # the force zone in words, beside its colour
        assert page.inner_text("#zone") == "in the light band"
        # the holds list: each row says what its numbers are
        snap = page.locator("#holds").aria_snapshot()
        assert "hold 3 held 0:38 score 50 too hard: ease off" in snap, snap
        # the scrubber's position as the page shows it, not as a number of seconds
        assert re.fullmatch(r"4:2\d of 6:3\d", page.get_attribute("#scrub", "aria-valuetext") or "")
        # the too-hard zone is hatched, not only red
        assert "repeating-linear-gradient" in page.eval_on_selector("#bar-hard", "e => getComputedStyle(e).backgroundImage")
        assert not _low_contrast(page), _low_contrast(page)

        _seek(page, 172.0)  # the 3rd hold, too hard
        assert page.inner_text("#state") == "TOO HARD"
        assert page.text_content("#alert").startswith("Too hard. Ease off"), page.text_content("#alert")
        assert page.inner_text("#zone") == "too hard"
        # the banner has a shape of its own (a frame), and pulses unless the reader asked for less motion
        assert page.eval_on_selector("#state", "e => getComputedStyle(e).boxShadow") != "none"
        assert page.eval_on_selector("#state", "e => getComputedStyle(e).animationName") == "pulse"
        page.emulate_media(reduced_motion="reduce")
        assert page.eval_on_selector("#state", "e => getComputedStyle(e).animationName") == "none"
        assert not _low_contrast(page), _low_contrast(page)  # the white warning on red among them
        said = page.evaluate("window.__hs.said.join(' | ')")
        _seek(page, 262.0)
        assert page.text_content("#alert") == ""  # cleared: the next TOO HARD is news again
        assert "Holding." in page.evaluate("window.__hs.said.slice(-1)[0]"), said

        # text follows the browser's font size (16 px = 1 rem): at double size it doubles, and a phone still
        # does not scroll sideways
        base = page.eval_on_selector("#last-feedback", "e => parseFloat(getComputedStyle(e).fontSize)")
        page.evaluate("() => { document.documentElement.style.fontSize = '32px'; }")
        page.wait_for_timeout(100)
        assert page.eval_on_selector("#last-feedback", "e => parseFloat(getComputedStyle(e).fontSize)") == 2 * base
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        page.close()
