"""The live page at the end of a session, in a real browser (Chromium via Playwright), as the athlete reads
it from the floor once the session is over: the totals are the session's, as the terminal's end line and
`holdsense analyze` give them.

A session with link gaps (`holdsense simulate --scenario gaps --seed 0`, 150 s) replayed to its end: the
running totals count every gap as lost, while the analysis bridges the short ones into the state around
them, so the running totals said 'holding 1:45 · rolling 0:32 · off 0:06 · link lost 0:06' where analyze
said 'holding 1:47, rolling 0:35, off 0:08'.
"""
from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cli(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True, env=env,
                          check=True, timeout=180).stdout


DEMO = Path(__file__).resolve().parents[2] / "recordings" / "demo-standard.csv"


@contextlib.contextmanager
def _phone(browser: Any, serve_page: Any, rec: Path, speed: str) -> Iterator[tuple[Any, Any]]:
    """Recording `rec` replayed with --web at `speed`, and a page on it at phone size: (holdsense, page)."""
    hs = serve_page("replay", str(rec), "--web", "--web-port", "0", "--no-browser", "--speed", speed, "--plain")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(hs.url)
        yield hs, page
    finally:
        page.close()


def _mmss(t_s: float) -> str:  # as holdsense.fmt.fmt_clock: a finished duration rounds
    t = int(round(t_s))
    return f"{t // 60}:{t % 60:02d}"


def test_ended_page_totals_are_the_analysis_totals(browser, serve_page, hs_env, tmp_path: Path) -> None:
    rec = tmp_path / "gaps.csv"
    _cli(hs_env, "simulate", "--scenario", "gaps", "--seed", "0", "--duration", "150", "-o", str(rec))
    summary = json.loads(_cli(hs_env, "analyze", str(rec), "--json"))["summary"]
    lost_s = summary.get("lost_s") or 0.0
    want = (f"holding {_mmss(summary['hold_s'])} · rolling {_mmss(summary['roll_s'])} · "
            f"off {_mmss(summary['off_s'] - lost_s)}"
            + (f" · link lost {_mmss(lost_s)}" if lost_s >= 0.5 else "")
            + f" · score {summary['session_score']}")

    with _phone(browser, serve_page, rec, "max") as (_hs, page):
        page.wait_for_function("window.__hs && window.__hs.last && window.__hs.last.ended", timeout=120_000)
        assert page.inner_text("#state") == "ENDED"
        shown = re.sub(r"\s+", " ", page.inner_text("#totals")).strip()
        assert shown == want, (shown, want)


def test_page_after_holdsense_stops_says_the_session_is_over(browser, serve_page, hs_env) -> None:
    """Ctrl-C after the session: the page keeps the ENDED state and its totals, and its corner says the session
    is over, not a red 'no connection to holdsense: retrying' alarm, which was also wider than a phone and
    pushed the page sideways."""
    with _phone(browser, serve_page, DEMO, "max") as (hs, page):
        page.wait_for_function("window.__hs && window.__hs.last && window.__hs.last.ended", timeout=120_000)
        totals = page.inner_text("#totals")
        # count the page's reconnect attempts whose close it has handled (a listener added before the page's
        # own onclose, deferred past it), to wait for one instead of a fixed time a busy machine may not cover
        page.evaluate("""() => { const WS = window.WebSocket; window.__retriesClosed = 0;
            window.WebSocket = class extends WS { constructor(...a) { super(...a);
                this.addEventListener("close", () => setTimeout(() => { window.__retriesClosed += 1; }, 0)); } }; }""")
        hs.stop()  # Ctrl-C
        page.wait_for_function("!document.getElementById('conn').classList.contains('ok')", timeout=10_000)
        page.wait_for_function("window.__retriesClosed >= 1", timeout=10_000)  # a reconnect attempt, refused
        conn = page.inner_text("#conn")
        assert "session over" in conn and "retrying" not in conn, conn
        assert "bad" not in page.get_attribute("#conn", "class"), conn
        assert page.inner_text("#state") == "ENDED" and page.inner_text("#totals") == totals
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"


def test_lost_connection_note_fits_a_phone(browser, serve_page, hs_env) -> None:
    """holdsense gone mid-session: the red 'retrying' note is shown and the page stays as wide as the phone
    (the note was wider than the header's room and pushed the page 27 px sideways)."""
    with _phone(browser, serve_page, DEMO, "1") as (hs, page):
        page.wait_for_function("window.__hs && window.__hs.messages > 5", timeout=60_000)
        hs.proc.kill()  # gone without ending the session (a crash, the laptop's lid closed)
        page.wait_for_function("document.getElementById('conn').classList.contains('bad')", timeout=10_000)
        assert "retrying" in page.inner_text("#conn")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
