"""The live page in a real browser (Chromium via Playwright) on a replayed recording: it shows what
`holdsense analyze` finds, in the profile's units, the scrubber seeks and pauses, and under --lan every
request without the URL's token is refused."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo-standard.csv"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _analysis(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(DEMO), "--json"],
                         capture_output=True, text=True, env=env, check=True, timeout=120).stdout
    return json.loads(out)


def _profile(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", *args], env=env, check=True,
                   capture_output=True, timeout=60)


def _wait(page, js: str, timeout_s: float = 20.0):
    page.wait_for_function(js, timeout=timeout_s * 1000)


def test_replay_page_scrubs_and_matches_analyze(browser, serve_page, hs_env) -> None:
    _profile(hs_env, "--units", "kg", "--name", "Test Athlete")
    analysis = _analysis(hs_env)
    first = analysis["holds"][0]
    hs = serve_page("replay", str(DEMO), "--web", "--web-port", "0", "--no-browser", "--speed", "1")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(hs.url)
        _wait(page, "window.__hs && window.__hs.messages > 5")
        assert "Test Athlete" in page.inner_text("#who")
        # seek past the first hold's end: its score and the list come from the same detector as analyze
        page.evaluate("t => { const s = document.getElementById('scrub'); s.value = t; "
                      "s.dispatchEvent(new Event('change')); }", first["end_s"] + 8)
        _wait(page, "window.__hs.last && window.__hs.last.holds.length >= 1", 60)
        assert page.inner_text("#last-score").strip() == str(first["score"])
        rows = page.locator("#holds li").all_inner_texts()
        assert len(rows) == 1 and str(first["score"]) in rows[0]
        # forces in the profile's unit (kg-force), band from the recording's body mass
        force_text = page.inner_text("#force")
        assert force_text.endswith(" kg"), force_text
        assert "% body weight" in page.inner_text("#pct")
        # pause: the position stops moving; play: it moves again
        page.click("#play")
        _wait(page, "!window.__hs.last.replay.playing")
        p0 = page.evaluate("window.__hs.last.replay.position_s")
        time.sleep(1.0)
        assert page.evaluate("window.__hs.last.replay.position_s") == p0
        page.click("#play")
        _wait(page, f"window.__hs.last.replay.position_s > {p0 + 0.4}")
        # seek back before the first hold: a fresh detector, no holds yet
        page.evaluate("() => { const s = document.getElementById('scrub'); s.value = 10; "
                      "s.dispatchEvent(new Event('change')); }")
        _wait(page, "window.__hs.last.holds.length === 0 && window.__hs.last.replay.position_s < 14")
        assert page.locator("#last").is_hidden()
    finally:
        page.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_lan_mode_refuses_requests_without_the_token(browser, serve_page) -> None:
    # --web-host 127.0.0.1: the token check is what is tested; the test machine serves no network
    hs = serve_page("replay", str(DEMO), "--lan", "--web-host", "127.0.0.1", "--web-port", "0", "--no-browser")
    url = hs.url
    prefix = url.split("/", 3)
    base, token = "/".join(prefix[:3]), prefix[3].strip("/")
    assert len(token) >= 16
    assert _status(url) == 200 and _status(url + "app.js") == 200 and _status(url + "state.json") == 200
    for bad in (base + "/", base + "/app.js", base + "/state.json", base + "/ws", base + "/x" + token + "/",
                base + "/" + token[:-1] + "/", base + "/" + token):
        assert _status(bad) == 403, bad
    page = browser.new_page()
    try:
        resp = page.goto(base + "/")
        assert resp is not None and resp.status == 403
        page.goto(url)
        _wait(page, "window.__hs && window.__hs.messages > 3")
        assert page.inner_text("#conn") == "connected"
    finally:
        page.close()
    log = hs.log.read_text()
    assert "QR" not in log or True  # the QR code is printed as block characters after the URL
    assert url in log and ("█" in log or "▀" in log or "▄" in log)


def test_replay_page_renders_at_speed_max(browser, serve_page, hs_env) -> None:
    """`replay --web --speed max`: every update is JSON the browser parses (the speed went out as Infinity, so
    JSON.parse threw on each one and the page stayed at WAITING with nothing rendered)."""
    hs = serve_page("replay", str(DEMO), "--web", "--web-port", "0", "--no-browser", "--speed", "max", "--plain")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(hs.url)
        _wait(page, "window.__hs && window.__hs.messages > 0 && window.__hs.last.ended", 120)
        assert page.inner_text("#state") == "ENDED"
        assert page.evaluate("window.__hs.last.replay.speed") is None
        assert len(page.locator("#holds li").all()) == len(_analysis(hs_env)["holds"])
        assert not errors, errors
    finally:
        page.close()


def test_replay_page_names_the_recordings_person(browser, serve_page, hs_env, tmp_path: Path) -> None:
    """A recording made for a client (`live --client`, its `client` header) replayed on the page names that
    person, not whoever's profile is current: the page said "Alex" over Anna's session, her body mass and her
    holds (the report names the recording's person for the same reason)."""
    _profile(hs_env, "--units", "kg", "--name", "Alex")
    lines = DEMO.read_text().splitlines(keepends=True)
    rec = tmp_path / "anna.csv"
    rec.write_text(lines[0] + "# client: Anna Berg\n" + "".join(lines[1:]))
    hs = serve_page("replay", str(rec), "--web", "--web-port", "0", "--no-browser", "--speed", "1")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(hs.url)
        _wait(page, "window.__hs && window.__hs.messages > 2")
        who = page.inner_text("#who")
        assert "Anna Berg" in who and "Alex" not in who, who
    finally:
        page.close()
    # a recording that names nobody: the current profile's name, as before
    hs2 = serve_page("replay", str(DEMO), "--web", "--web-port", "0", "--no-browser", "--speed", "1")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(hs2.url)
        _wait(page, "window.__hs && window.__hs.messages > 2")
        assert "Alex" in page.inner_text("#who")
    finally:
        page.close()
