"""Drives the real `holdsense label FILE` window under an X display (run by test_label_window.py).

    python label_window_driver.py FILE SCREENSHOT.png RESULT.json

`holdsense.cli.main(["label", FILE, ...])` runs as a user would start it; once its window is up, Tk
events are generated on the real canvas widget (mouse drags for the span selector, key presses), a
screenshot of the X display is taken with Pillow's ImageGrab, then `q` closes (and saves) the window.
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("TkAgg")

from holdsense import cli  # noqa: E402
from holdsense.lab import labelling  # noqa: E402

FILE, SHOT, RESULT = sys.argv[1:4]
log: dict = {"steps": []}
_orig_show = labelling.LabelWindow.show


def _show(self: labelling.LabelWindow) -> None:
    canvas = self.fig.canvas
    widget = canvas.get_tk_widget()
    root = widget.winfo_toplevel()
    steps: list = []

    def px(ax, t_s: float, frac_y: float = 0.5) -> tuple[int, int]:
        x, y = ax.transData.transform((t_s, ax.get_ylim()[0]))
        y = ax.bbox.y0 + frac_y * ax.bbox.height
        return int(round(x)), int(round(widget.winfo_height() - y))

    def drag(t0: float, t1: float) -> None:
        x0, y = px(self.ax_force, t0)
        x1, _ = px(self.ax_force, t1)
        widget.event_generate("<Motion>", x=x0, y=y, warp=True)
        widget.event_generate("<ButtonPress-1>", x=x0, y=y)
        for k in range(1, 6):
            widget.event_generate("<B1-Motion>", x=x0 + (x1 - x0) * k // 5, y=y, state=0x100)
        widget.event_generate("<ButtonRelease-1>", x=x1, y=y, state=0x100)

    def key(keysym: str, at_t: float | None = None) -> None:
        if at_t is not None:
            x, y = px(self.ax_force, at_t)
            widget.event_generate("<Motion>", x=x, y=y, warp=True)
        widget.focus_force()
        widget.event_generate("<KeyPress>", keysym=keysym)
        widget.event_generate("<KeyRelease>", keysym=keysym)

    log["initial_spans"] = len(self.session.spans)
    det_holds = [s for s in self.detector if s["kind"] == "hold"]
    h0, h1 = det_holds[0], det_holds[1]
    steps.append(lambda: key("A"))  # take all the detector's segments
    steps.append(lambda: drag(h0["start_s"] + 2.0, h0["end_s"] - 2.0))  # re-select most of hold 1 ...
    steps.append(lambda: key("bracketleft"))  # ... side left for the next selection
    steps.append(lambda: drag(h1["start_s"] + 1.0, h1["end_s"] - 1.0))  # a left-side hold
    steps.append(lambda: key("x"))  # ... relabelled "other" right after selecting
    steps.append(lambda: key("u"))  # undo that: back to hold
    steps.append(lambda: key("n"))  # next hold: the view moves
    steps.append(lambda: key("Up"))  # zoom in

    def record_state() -> None:
        log["spans"] = [dict(s) for s in self.session.spans]
        log["xlim"] = list(self.ax_strip.get_xlim())
        log["title"] = self.fig._suptitle.get_text() if self.fig._suptitle else ""
        log["t_end"] = self.t_end
        log["detector"] = self.detector

    def shot() -> None:
        from PIL import ImageGrab

        root.update()
        img = ImageGrab.grab(xdisplay=None)
        img.save(SHOT)
        log["screenshot_size"] = list(img.size)
        log["window"] = [root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()]

    steps.append(lambda: key("0"))  # back to the whole recording for the screenshot
    steps.append(record_state)
    steps.append(shot)
    steps.append(lambda: key("q"))

    def run_steps() -> None:
        if steps:
            fn = steps.pop(0)
            fn()
            log["steps"].append(len(log["steps"]))
            root.after(250, run_steps)

    root.geometry("1300x750+0+0")
    root.after(1200, run_steps)
    _orig_show(self)


labelling.LabelWindow.show = _show
rc = cli.main(["label", FILE, "--who", "xvfb-test"])
log["rc"] = rc
with open(RESULT, "w") as fh:
    json.dump(log, fh)
