"""Screenshots of the live page for docs/img and the README (phone 390x844, laptop 1280x800).

    .venv/bin/python tests/web/screenshots.py          # writes docs/img/live-*.png

Deterministic: the page replays recordings/demo-standard.csv (`holdsense replay --web`), paused at chosen
moments, with a profile in kg and a name. tests/web/test_screenshots.py takes the same pictures into a
temporary folder and checks the layout (nothing cut off, nothing overflowing sideways).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo-standard.csv"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
#: (file name, viewport, recording time): the 4th hold 20 s in, after a too-hard 3rd; the too-hard 3rd hold
SHOTS = [("live-phone.png", PHONE, 262.0), ("live-laptop.png", LAPTOP, 262.0),
         ("live-phone-too-hard.png", PHONE, 172.0)]


def show_moment(page: Any, url: str, t_s: float) -> None:
    """Open the replay page, pause it and seek to `t_s`; returns when the page shows that moment."""
    page.goto(url)
    page.wait_for_function("window.__hs && window.__hs.messages > 2 && window.__hs.last.replay", timeout=60_000)
    page.evaluate("() => { if (window.__hs.last.replay.playing) document.getElementById('play').click(); }")
    page.wait_for_function("!window.__hs.last.replay.playing", timeout=20_000)
    page.evaluate("t => { const s = document.getElementById('scrub'); s.value = t; "
                  "s.dispatchEvent(new Event('change')); }", t_s)
    page.wait_for_function(f"Math.abs(window.__hs.last.replay.position_s - {t_s}) < 0.5", timeout=60_000)
    page.wait_for_timeout(600)  # the ring's and the bar's CSS transitions settle


def take(browser: Any, url: str, out_dir: Path) -> list[Path]:
    paths = []
    for name, viewport, t_s in SHOTS:
        page = browser.new_page(viewport=viewport, device_scale_factor=1)
        try:
            show_moment(page, url, t_s)
            path = out_dir / name
            page.screenshot(path=str(path))
            paths.append(path)
        finally:
            page.close()
    return paths


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import CHROMIUM_ARGS, HoldsenseProcess, chromium_path
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONUNBUFFERED="1", HOLDSENSE_CONFIG_DIR=tmp)
        subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--units", "kg", "--name", "Alex"],
                       env=env, check=True, capture_output=True)
        hs = HoldsenseProcess(["replay", str(DEMO), "--web", "--web-port", "0", "--no-browser"], env,
                              Path(tmp) / "replay.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                try:
                    for path in take(browser, hs.url, REPO / "docs" / "img"):
                        print(path)
                finally:
                    browser.close()
        finally:
            hs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
