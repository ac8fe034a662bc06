"""`holdsense label`: the labelling model (spans you can set, erase, accept, undo) and its window.

`LabelSession` is the model, pure Python: a list of spans (kind, start_s,
end_s, optional side/region) kept sorted and non-overlapping; setting a span
cuts whatever was there, so correcting is "select the stretch, press the kind".
`LabelWindow` is a matplotlib figure over one recording: force (and the
shell angle when present) with the labels shaded, the detector's segments in
a strip below the labels' own strip, a SpanSelector to select time, and keys:

    h hold · r roll · o off · x other      kind of the next selection (or of the one just made)
    [ left · ] right · \\ no side           side of the next selection
    a   take the detector's segment under the mouse    A  take all of the detector's segments
    d / Delete / Backspace   erase the label under the mouse      u  undo
    n / N   next / previous hold (labelled or detected)           w  save now
    ← →  pan · ↑ ↓ (or + -) zoom · 0 whole recording                q  save and close

Nothing here reads stdin; the window needs a display (an interactive matplotlib backend).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..plots import KIND_COLOURS, plural
from ..io.labels import LABELS_FORMAT, SIDES, SPAN_KINDS, labeller, validate, write_labels

COLOURS = KIND_COLOURS
KIND_KEYS = {"h": "hold", "r": "roll", "o": "off", "x": "other"}
SIDE_KEYS = {"[": "left", "]": "right", "\\": None}
HELP = ("h hold · r roll · o off · x other | [ left ] right \\ none | a take detector · A take all | "
        "d erase · u undo | n/N next/prev hold | ←→ pan ↑↓ zoom 0 all | w save · q save+close")


class LabelSession:
    """Spans being labelled, with undo. Times in seconds on the recording's t_s."""

    def __init__(self, labels: dict[str, Any] | None = None, *, t_end_s: float) -> None:
        self.t_end_s = float(t_end_s)
        base = copy.deepcopy(labels) if labels else {"format": LABELS_FORMAT, "segments": []}
        self.meta = {k: v for k, v in base.items() if k != "segments"}
        self.spans: list[dict[str, Any]] = [dict(s) for s in base.get("segments", [])]
        self._undo: list[list[dict[str, Any]]] = []
        self.changed = False

    def _push(self) -> None:
        self._undo.append(copy.deepcopy(self.spans))
        self.changed = True

    def set_span(self, kind: str, start_s: float, end_s: float, *, side: str | None = None,
                 region: str | None = None) -> None:
        """Label [start_s, end_s) as `kind`, cutting any spans there (clipped to the recording)."""
        if kind not in SPAN_KINDS:
            raise ValueError(f"kind {kind!r}")
        a, b = max(0.0, min(start_s, end_s)), min(self.t_end_s, max(start_s, end_s))
        if b - a < 1e-3:
            return
        self._push()
        self._cut(a, b)
        s: dict[str, Any] = {"kind": kind, "start_s": round(a, 3), "end_s": round(b, 3)}
        if side:
            s["side"] = side
        if region:
            s["region"] = region
        self.spans.append(s)
        self.spans.sort(key=lambda x: x["start_s"])

    def _cut(self, a: float, b: float) -> None:
        out = []
        for s in self.spans:
            if s["end_s"] <= a or s["start_s"] >= b:
                out.append(s)
                continue
            if s["start_s"] < a:
                out.append(dict(s, end_s=round(a, 3)))
            if s["end_s"] > b:
                out.append(dict(s, start_s=round(b, 3)))
        self.spans = out

    def span_at(self, t_s: float) -> dict[str, Any] | None:
        for s in self.spans:
            if s["start_s"] <= t_s < s["end_s"]:
                return s
        return None

    def erase_at(self, t_s: float) -> bool:
        s = self.span_at(t_s)
        if s is None:
            return False
        self._push()
        self.spans.remove(s)
        return True

    def relabel(self, span: dict[str, Any], kind: str) -> None:
        """Change the kind of an existing span (the one just selected)."""
        for s in self.spans:
            if s["start_s"] == span["start_s"] and s["end_s"] == span["end_s"]:
                self._push()
                s["kind"] = kind
                return

    def accept(self, segments: list[dict[str, Any]], t_s: float | None = None) -> int:
        """Copy the detector's segment under `t_s` (all of them when None) into the labels."""
        chosen = [s for s in segments if t_s is None or s["start_s"] <= t_s < s["end_s"]]
        if not chosen:
            return 0
        self._push()
        if t_s is None:
            self.spans = []
        for s in chosen:
            self._cut(s["start_s"], s["end_s"])
            self.spans.append({"kind": s["kind"], "start_s": round(float(s["start_s"]), 3),
                               "end_s": round(float(s["end_s"]), 3)})
        self.spans.sort(key=lambda x: x["start_s"])
        return len(chosen)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.spans = self._undo.pop()
        self.changed = True
        return True

    def to_labels(self, *, who: str | None = None, how: str = "manual") -> dict[str, Any]:
        obj = dict(self.meta)
        obj["format"] = LABELS_FORMAT
        prev = obj.get("labeller") if isinstance(obj.get("labeller"), dict) else None
        obj["labeller"] = labeller(who or (prev or {}).get("who"), how,
                                   **({"started_from": prev.get("how")} if prev and prev.get("how") != how else {}))
        kinds = sorted({s["kind"] for s in self.spans if s["kind"] != "other"},
                       key=("off", "roll", "hold").index)
        if obj.get("labelled_kinds") is not None or kinds != ["off", "roll", "hold"]:
            obj["labelled_kinds"] = sorted(set(obj.get("labelled_kinds") or []) | set(kinds),
                                           key=("off", "roll", "hold").index) or ["hold"]
        obj["segments"] = [dict(s) for s in self.spans]
        return validate(obj, "labels")

    def holds(self, detector: list[dict[str, Any]]) -> list[float]:
        """Start times of every hold, labelled or detected, for 'next hold'."""
        t = [s["start_s"] for s in self.spans if s["kind"] == "hold"]
        t += [s["start_s"] for s in detector if s["kind"] == "hold"]
        return sorted(set(round(x, 2) for x in t))


class LabelWindow:
    """The labelling figure over one recording. `save()` writes the labels; `show()` blocks until closed."""

    def __init__(self, rec: Any, analysis: dict[str, Any], session: LabelSession, out_path: str | Path, *,
                 who: str | None = None, side: str | None = None, region: str | None = None,
                 on_message: Callable[[str], None] | None = None) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.widgets import SpanSelector

        for key in [k for k in plt.rcParams if k.startswith("keymap.")]:
            plt.rcParams[key] = []  # our keys, not matplotlib's (h = home, s = save dialog, q = quit...)
        self.rec = rec
        self.detector = analysis.get("segments", [])
        self.session = session
        self.out_path = Path(out_path)
        self.who = who
        self.kind = "hold"
        self.side = side
        self.region = region
        self.last: dict[str, Any] | None = None
        self.message = on_message or (lambda s: None)
        self.saved_path: Path | None = None
        smp = rec.samples
        self.t_end = float(smp.t_s[-1]) if len(smp.t_s) else 1.0
        has_angle = smp.angle_deg is not None and np.isfinite(smp.angle_deg).any()
        ratios = [4, 2.2, 1.1] if has_angle else [4, 1.1]
        self.fig, axes = plt.subplots(len(ratios), 1, sharex=True, figsize=(13, 7.5 if has_angle else 6),
                                      gridspec_kw={"height_ratios": ratios})
        self.ax_force = axes[0]
        self.ax_angle = axes[1] if has_angle else None
        self.ax_strip = axes[-1]
        self.ax_force.plot(smp.t_s, smp.force_n, lw=0.6, color="#08306b")
        self.ax_force.set_ylabel("force (N)")
        finite = smp.force_n[np.isfinite(smp.force_n)]
        top = float(np.percentile(finite, 99.5)) if len(finite) else 1.0
        self.ax_force.set_ylim(min(0.0, float(finite.min()) if len(finite) else 0.0) - 5, max(1.0, top) * 1.15)
        if self.ax_angle is not None:
            self.ax_angle.plot(smp.t_s, smp.angle_deg, lw=0.6, color="#54278f")
            self.ax_angle.set_ylabel("angle (deg)")
        self.ax_strip.set_ylim(0, 2)
        self.ax_strip.set_yticks([0.5, 1.5], ["detector", "labels"])
        self.ax_strip.set_xlabel("time (s)")
        self.ax_strip.set_xlim(0, self.t_end)
        for s in self.detector:
            self.ax_strip.broken_barh([(s["start_s"], s["end_s"] - s["start_s"])], (0.1, 0.8),
                                      color=COLOURS[s["kind"]], alpha=0.8, lw=0)
        from ..io.markers import markers_of
        from ..plots import draw_markers

        draw_markers([a for a in (self.ax_force, self.ax_angle) if a is not None], markers_of(rec))
        self._artists: list[Any] = []
        self.selectors = [SpanSelector(ax, self._on_select, "horizontal", useblit=False, minspan=0.05,
                                       props=dict(alpha=0.25, facecolor="#3182bd"), interactive=False)
                          for ax in (self.ax_force, self.ax_angle) if ax is not None]
        self.fig.canvas.mpl_connect("key_press_event", self._on_key)
        self.fig.canvas.mpl_connect("close_event", self._on_close)
        self.fig.text(0.01, 0.005, HELP, fontsize=7.5, color="#444444", ha="left", va="bottom")
        self.fig.subplots_adjust(left=0.07, right=0.99, top=0.93, bottom=0.09, hspace=0.08)
        self.redraw()

    # -- drawing ---------------------------------------------------------------------------------
    def status(self) -> str:
        n = len(self.session.spans)
        holds = sum(1 for s in self.session.spans if s["kind"] == "hold")
        side = self.side or "no side"
        state = "unsaved changes" if self.session.changed else (f"saved to {self.out_path.name}"
                                                                if self.saved_path else "no changes")
        return (f"{Path(self.rec.source).name}: next selection = {self.kind.upper()} ({side}) · {n} spans, "
                f"{plural(holds, 'hold')} · {state}")

    def redraw(self) -> None:
        for a in self._artists:
            a.remove()
        self._artists = []
        axes = [a for a in (self.ax_force, self.ax_angle) if a is not None]
        for s in self.session.spans:
            c = COLOURS[s["kind"]]
            for ax in axes:
                self._artists.append(ax.axvspan(s["start_s"], s["end_s"], color=c, alpha=0.3, lw=0))
            self._artists.append(self.ax_strip.broken_barh([(s["start_s"], s["end_s"] - s["start_s"])], (1.1, 0.8),
                                                           facecolor=c, alpha=0.9, edgecolor="white", lw=1.5))
            if s.get("side"):
                self._artists.append(self.ax_strip.text((s["start_s"] + s["end_s"]) / 2, 1.5, s["side"][0].upper(),
                                                        ha="center", va="center", fontsize=8, clip_on=True))
        self.fig.suptitle(self.status(), fontsize=10)
        self.fig.canvas.draw_idle()

    # -- events ----------------------------------------------------------------------------------
    def _on_select(self, a: float, b: float) -> None:
        self.session.set_span(self.kind, a, b, side=self.side, region=self.region)
        self.last = self.session.span_at((max(a, 0) + min(b, self.t_end)) / 2)
        self.redraw()

    def _xview(self) -> tuple[float, float]:
        return self.ax_strip.get_xlim()

    def _set_view(self, a: float, b: float) -> None:
        w = b - a
        if w > self.t_end:
            a, b = 0.0, self.t_end
        elif a < 0:
            a, b = 0.0, w
        elif b > self.t_end:
            a, b = self.t_end - w, self.t_end
        self.ax_strip.set_xlim(a, b)
        self.fig.canvas.draw_idle()

    def _on_key(self, event: Any) -> None:
        key = event.key or ""
        t = event.xdata if event.inaxes is not None else None
        a, b = self._xview()
        w = b - a
        if key in KIND_KEYS:
            self.kind = KIND_KEYS[key]
            if self.last is not None and self.session.span_at(
                    (self.last["start_s"] + self.last["end_s"]) / 2) is not None:
                self.session.relabel(self.last, self.kind)  # the selection just made takes the new kind
        elif key in SIDE_KEYS:
            self.side = SIDE_KEYS[key]
        elif key == "a" and t is not None:
            self.session.accept(self.detector, t)
        elif key == "A":
            self.session.accept(self.detector)
        elif key in ("d", "delete", "backspace") and t is not None:
            self.session.erase_at(t)
        elif key in ("u", "ctrl+z"):
            self.session.undo()
        elif key in ("n", "N", "tab"):
            starts = self.session.holds(self.detector)
            mid = (a + b) / 2
            nxt = [x for x in starts if x > mid + 0.5] if key != "N" else [x for x in starts if x < mid - 0.5]
            if nxt:
                x = nxt[0] if key != "N" else nxt[-1]
                self._set_view(x - w / 2, x + w / 2)
        elif key == "left":
            self._set_view(a - w / 2, b - w / 2)
        elif key == "right":
            self._set_view(a + w / 2, b + w / 2)
        elif key in ("up", "+", "="):
            c = t if t is not None else (a + b) / 2
            self._set_view(c - w / 4, c + w / 4)
        elif key in ("down", "-"):
            c = (a + b) / 2
            self._set_view(c - w, c + w)
        elif key == "0":
            self._set_view(0.0, self.t_end)
        elif key in ("w", "ctrl+s"):
            self.save()
        elif key == "q":
            import matplotlib.pyplot as plt

            plt.close(self.fig)  # saves in _on_close
            return
        else:
            return
        self.last = self.last if key in KIND_KEYS else None
        self.redraw()

    def save(self) -> Path:
        labels = self.session.to_labels(who=self.who, how=self._how())
        if self.region and "region" not in labels:
            labels["region"] = self.region
        self.saved_path = write_labels(self.out_path, labels)
        self.session.changed = False
        self.message(f"saved {plural(len(labels['segments']), 'span')} to {self.out_path}")
        return self.saved_path

    def _how(self) -> str:
        prev = (self.session.meta.get("labeller") or {}).get("how") if isinstance(
            self.session.meta.get("labeller"), dict) else None
        return "detector-corrected" if prev in ("detector", "detector-corrected") else "manual"

    def _on_close(self, event: Any) -> None:
        if self.session.changed:
            self.save()

    def show(self) -> None:
        import matplotlib.pyplot as plt

        plt.show()


def interactive_backend() -> str | None:
    """The name of a usable interactive matplotlib backend, or None (no display, no GUI toolkit)."""
    import os

    import matplotlib

    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    current = matplotlib.get_backend().lower()
    if current not in ("agg", "pdf", "svg", "ps", "cairo", "template") and "inline" not in current:
        return current
    for name in ("TkAgg", "QtAgg", "GTK4Agg", "GTK3Agg"):
        try:
            matplotlib.use(name, force=True)
            import matplotlib.pyplot as plt

            plt.figure().clear()
            plt.close("all")
            return name
        except Exception:  # noqa: BLE001 - any import/display failure means "not this one"
            continue
    return None


__all__ = ["HELP", "LabelSession", "LabelWindow", "SIDES", "interactive_backend"]
