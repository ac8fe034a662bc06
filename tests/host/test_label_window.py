"""The labelling window opens under a real X server (Xvfb) with the Tk backend, reacts to real Tk mouse
and key events (span selector, kind/side keys, undo, next hold, zoom), saves on `q`, and a screenshot
of the display is taken (docs/img/label-window.png comes from this)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo-standard.csv"
DRIVER = Path(__file__).with_name("label_window_driver.py")


@pytest.fixture
def xvfb(tmp_path: Path):
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb not installed: install the Debian package xvfb (make sysdeps does it as root)")
    try:
        import tkinter  # noqa: F401
    except ImportError:
        pytest.skip("tkinter not installed: install the Debian package python3-tk (make sysdeps does it as root)")
    for n in range(91, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            break
    display = f":{n}"
    proc = subprocess.Popen([exe, display, "-screen", "0", "1320x780x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb {display} did not start")
        time.sleep(0.05)
    try:
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _with_markers(src: Path, dst: Path) -> int:
    """The demo recording again, with the markers a person would have pressed near the true holds."""
    from holdsense.io.recording import RecordingWriter, read_recording

    rec = read_recording(src)
    truth = json.loads(src.with_name(src.name[:-4] + ".labels.json").read_text())
    marks = []
    for h in [s for s in truth["segments"] if s["kind"] == "hold"][:3]:
        marks += [(h["start_s"] + 1.5, "hold_start", ""), (h["end_s"] - 1.0, "hold_end", "")]
    marks.insert(2, (marks[1][0] + 4.0, "note", "knot in the left quad"))
    t = rec.samples.t_s
    cuts = [int((t < m[0]).sum()) for m in marks]
    with RecordingWriter(dst, rec.metadata, has_angle=True, has_raw=True, has_markers=True) as w:
        a = 0
        for cut, (_, kind, text) in zip(cuts, marks):
            w.write(rec.samples.slice(a, cut))
            w.add_marker(kind, text)
            a = cut
        w.write(rec.samples.slice(a, len(t)))
    return len(marks)


def test_label_window_under_xvfb(tmp_path: Path, xvfb: str) -> None:
    rec = tmp_path / "quads.csv"
    assert _with_markers(DEMO, rec) == 7
    shot, result = tmp_path / "label-window.png", tmp_path / "result.json"
    env = dict(os.environ, DISPLAY=xvfb, MPLBACKEND="TkAgg")
    p = subprocess.run([sys.executable, str(DRIVER), str(rec), str(shot), str(result)], capture_output=True,
                       text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    log = json.loads(result.read_text())
    assert log["rc"] == 0, p.stderr
    assert "starting from the markers in the recording" in p.stderr and "saved" in p.stderr

    labels = json.loads((tmp_path / "quads.labels.json").read_text())
    assert labels["format"] == "holdsense-labels/1" and labels["labeller"]["who"] == "xvfb-test"
    assert labels["labeller"]["how"] == "manual" and labels["labeller"]["started_from"] == "markers"
    assert log["initial_spans"] == 3  # the window opened on the three holds marked while rolling
    segs = labels["segments"]
    det_holds = [s for s in log["detector"] if s["kind"] == "hold"]
    h0, h1 = det_holds[0], det_holds[1]
    # the second drag made a left-side hold inside the detector's second hold ('x' then 'u' left it a hold)
    left = [s for s in segs if s.get("side") == "left"]
    assert len(left) == 1 and left[0]["kind"] == "hold"
    assert left[0]["start_s"] == pytest.approx(h1["start_s"] + 1.0, abs=0.5)
    assert left[0]["end_s"] == pytest.approx(h1["end_s"] - 1.0, abs=0.5)
    # the first drag cut the detector's first hold into hold|hold|hold around the selection (same kind)
    inside = [s for s in segs if s["start_s"] >= h0["start_s"] - 1e-3 and s["end_s"] <= h0["end_s"] + 1e-3]
    assert [s["kind"] for s in inside] == ["hold", "hold", "hold"]
    assert inside[1]["start_s"] == pytest.approx(h0["start_s"] + 2.0, abs=0.5)
    # everything else is the detector's tiling, taken with 'A'
    assert segs[0]["start_s"] == pytest.approx(0.0, abs=0.05) and segs[-1]["end_s"] == pytest.approx(log["t_end"], abs=0.05)
    # the screenshot shows the window: mostly not the empty (black) X root
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == tuple(log["screenshot_size"])
    x, y, w, h = log["window"]
    assert w > 800 and h > 500
    crop = img.crop((x, y, x + w, y + h))
    colours = crop.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot looks empty"
    black = sum(c for c, rgb in colours if rgb == (0, 0, 0))
    assert black < 0.2 * w * h
    if os.environ.get("HOLDSENSE_UPDATE_DOCS_IMG"):
        (REPO / "docs" / "img").mkdir(exist_ok=True)
        img.save(REPO / "docs" / "img" / "label-window.png")
