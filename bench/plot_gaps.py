"""Drawing a recording with thousands of short link gaps (not part of make test).

    python bench/plot_gaps.py [--gaps 5000]

A flaky link leaves thousands of short gaps (the samples stop for more than the 0.35 s the resampler
bridges). `analyze --plot` and the report hatch each gap and cut every segment's colour around them.
Until 2026-12-06 that was one `ax.axvspan` per gap and per segment piece (and every segment was cut
against every gap in Python): 5000 gaps took minutes. Now each kind of span is one collection
(`holdsense.plots.vspans`), the hatched gaps in compound paths of HATCH_SPANS_PER_PATH.

Both are timed in the same run, on the same samples and analysis: building the `analyze --plot` figure
(force and position panels) and rendering it to PNG at its dpi; CPU time (the machine is shared), and the
ratio baseline / now. The baseline is the old `shade_segments`, kept here; the images are compared
pixel by pixel (they should be identical).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def old_minus_gaps(start: float, end: float, gaps: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [start, end] outside every gap: the pre-2026-12-06 loop over every gap."""
    parts = [(start, end)]
    for a, b in gaps:
        nxt = []
        for s, e in parts:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if a > s:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        parts = nxt
    return [(s, e) for s, e in parts if e > s]


def old_shade_segments(ax: Any, segments: Sequence[dict[str, Any]], holds: Sequence[dict[str, Any]],
                       gaps: Sequence[tuple[float, float]], t_scale: float, *, alpha: float = 0.33) -> None:
    """The baseline: one axvspan per segment piece and per gap (holdsense.plots before 2026-12-06)."""
    from holdsense import plots

    verdicts = {round(float(h["start_s"]), 2): plots.hold_kind(h) for h in holds}
    for seg in segments:
        kind = seg.get("kind")
        hatch = None
        if kind == "hold":
            v = verdicts.get(round(float(seg["start_s"]), 2), "good")
            colour, gid, hatch = plots.VERDICT_COLOURS[v], f"hold-{v}", plots.VERDICT_HATCHES[v]
        elif kind == "roll":
            colour, gid = plots.ROLL_COLOUR, "roll"
        else:
            colour, gid = plots.OFF_COLOUR, "off"
        style = plots._span_style(colour, alpha if kind != "off" else 1.0, hatch)  # the same look, one patch each
        for a, b in old_minus_gaps(float(seg["start_s"]), float(seg["end_s"]), gaps):
            ax.axvspan(a / t_scale, b / t_scale, **style, zorder=0, gid=gid)
    for a, b in gaps:
        ax.axvspan(a / t_scale, b / t_scale, facecolor="white", edgecolor="#969696", hatch="////", lw=0,
                   zorder=0.5, gid="gap")


def flaky_recording(n_gaps: int):
    """A session (bench/throughput.py's cycles, encoder) with `n_gaps` holes of 0.425 s cut into it."""
    from rollsignal import SampleChunk
    from throughput import synth_stream

    period_s = 0.8  # one hole per 0.8 s of session
    ch = synth_stream(n_gaps * period_s + 10.0)
    t = ch.t_s
    keep = np.ones(len(t), bool)
    for k in range(n_gaps):
        keep[(t > 5.0 + k * period_s) & (t < 5.0 + k * period_s + 0.425)] = False
    return SampleChunk(t[keep], ch.force_n[keep], ch.angle_deg[keep])


def render(samples: Any, a: dict[str, Any]) -> tuple[float, bytes]:
    """(CPU s, PNG bytes) of building and rendering the `analyze --plot` figure."""
    import matplotlib.pyplot as plt

    from holdsense.plots import analysis_figure

    c0 = time.process_time()
    fig = analysis_figure(samples, a, body_mass_kg=70.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return time.process_time() - c0, buf.getvalue()


def bench(n_gaps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from PIL import Image

    import rollsignal
    from holdsense import plots
    from holdsense.plots import gap_spans

    samples = flaky_recording(n_gaps)
    a = rollsignal.analyze(samples, body_mass_kg=70.0).to_dict("flaky")
    n = len(gap_spans(samples.t_s))
    now_s, now_png = render(samples, a)
    new = plots.shade_segments
    plots.shade_segments = old_shade_segments  # (draw_force and draw_position call it through the module)
    try:
        old_s, old_png = render(samples, a)
    finally:
        plots.shade_segments = new
    img = [np.asarray(Image.open(io.BytesIO(p)).convert("RGB")).astype(int) for p in (old_png, now_png)]
    diff = int(np.count_nonzero(np.abs(img[0] - img[1]).sum(axis=-1))) if img[0].shape == img[1].shape else -1
    print(f"plot with {n} link gaps, {len(a['segments'])} segments (figure + PNG, CPU): one axvspan each "
          f"{old_s:.2f} s, collections {now_s:.2f} s: {old_s / now_s:.0f}x; pixels that differ: {diff}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gaps", type=int, default=5000, help="link gaps in the recording")
    args = ap.parse_args()
    bench(args.gaps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
