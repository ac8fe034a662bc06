"""Plots that explain (holdsense.plots via `analyze --plot`): checked in the figure's artists and in the
rendered pixels, on a real recording with link gaps cut into it."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.analysis import analyze_recording, render_text
from holdsense.plots import LIGHT_MIN_OF_BODY, VERDICT_LABELS, analysis_figure, hold_kind
from holdsense.io.recording import read_recording, write_recording
from rollsignal import SampleChunk
from rollsignal.types import FLAG_GAP

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recordings" / "demo-standard.csv"
DROPOUT = ROOT / "tests" / "captures" / "dropout.csv.gz"
#: seconds cut out of the demo: inside hold 1, inside a roll, and inside hold 4 (short)
CUTS = [(60.0, 68.0), (140.0, 146.0), (250.0, 251.5)]
G = 9.80665


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory):
    """The demo recording with three link gaps (samples removed, the next sample flagged as after a gap)."""
    rec = read_recording(DEMO)
    s = rec.samples
    keep = np.ones(len(s), bool)
    for a, b in CUTS:
        keep &= ~((s.t_s > a) & (s.t_s < b))
    flags = s.flags.copy()
    flags[np.flatnonzero(np.diff(keep.astype(int)) == 1) + 1] |= FLAG_GAP
    chunk = SampleChunk(s.t_s[keep], s.force_n[keep], s.angle_deg[keep], flags[keep],
                        None if s.raw_counts is None else s.raw_counts[keep])
    path = tmp_path_factory.mktemp("plots") / "gappy.csv"
    write_recording(path, chunk, rec.metadata)
    rec = read_recording(path)
    return rec, analyze_recording(rec, body_mass_kg=70.0)


def _spans(ax, prefix: str) -> list[tuple[str, float, float]]:
    """(gid, x0, x1) of the spans whose gid starts with prefix, in data x units: patches, and each
    rectangle of the span collections (plots.vspans: one path per span, or a compound path of many)."""
    out = []
    for p in ax.patches:
        gid = p.get_gid() or ""
        if gid.startswith(prefix):
            xs = p.get_path().transformed(p.get_patch_transform()).vertices[:, 0]
            out.append((gid, float(xs.min()), float(xs.max())))
    for c in ax.collections:
        gid = c.get_gid() or ""
        if gid.startswith(prefix):
            for path in c.get_paths():
                for poly in path.to_polygons():
                    out.append((gid, float(poly[:, 0].min()), float(poly[:, 0].max())))
    return out


def _ys(ax, gid: str) -> list[tuple[float, float]]:
    out = []
    for p in ax.patches:
        if p.get_gid() == gid:
            ys = p.get_path().transformed(p.get_patch_transform()).vertices[:, 1]
            out.append((float(ys.min()), float(ys.max())))
    return out


def _line(ax, gid: str):
    return next(ln for ln in ax.lines if ln.get_gid() == gid)


def test_gaps_are_drawn_as_gaps(gappy) -> None:
    rec, a = gappy
    fig = analysis_figure(rec.samples, a, body_mass_kg=70.0)
    force_ax, pos_ax = fig.axes[:2]
    for ax, gid in ((force_ax, "force"), (pos_ax, "position")):
        gaps = sorted((x0, x1) for _, x0, x1 in _spans(ax, "gap"))
        assert len(gaps) == len(CUTS)
        for (x0, x1), (a_s, b_s) in zip(gaps, CUTS):  # minutes on the axis
            assert x0 == pytest.approx(a_s / 60, abs=0.05 / 60) and x1 == pytest.approx(b_s / 60, abs=0.05 / 60)
        # the line breaks in every gap: no drawn point inside, a NaN between the two sides (no ramp across)
        x, y = (np.asarray(v, float) for v in _line(ax, gid).get_data())
        for x0, x1 in gaps:
            inside = (x > x0 + 1e-9) & (x < x1 - 1e-9)
            assert not np.isfinite(y[inside]).any() and np.isnan(y[inside]).any()
        # no segment colour (hold, roll, off) is drawn across a gap
        for kind in ("hold", "roll", "off"):
            for _, s0, s1 in _spans(ax, kind):
                assert all(s1 <= x0 + 1e-9 or s0 >= x1 - 1e-9 for x0, x1 in gaps), (kind, s0, s1)
    # and in the rendered image: no pixel of the force line in the middle of the 8 s gap
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    h = img.shape[0]
    gx0, gx1 = CUTS[0]
    to_px = force_ax.transData.transform
    (px0, py_top), (px1, py_bot) = to_px(((gx0 + 2) / 60, force_ax.get_ylim()[1])), to_px(((gx1 - 2) / 60, 0.0))
    region = img[h - int(py_top):h - int(py_bot), int(px0):int(px1)]
    line_rgb = np.array([0x08, 0x30, 0x6B])
    assert region.size and not (np.abs(region - line_rgb).sum(axis=-1) < 60).any()
    # while the same kind of region just before the gap (inside the hold) does have the line
    (qx0, _), (qx1, _) = to_px(((gx0 - 6) / 60, 0)), to_px(((gx0 - 2) / 60, 0))
    before = img[h - int(py_top):h - int(py_bot), int(qx0):int(qx1)]
    assert (np.abs(before - line_rgb).sum(axis=-1) < 60).any()
    matplotlib.pyplot.close(fig)


def test_light_band_release_marks_and_verdict_colours(gappy) -> None:
    rec, a = gappy
    fig = analysis_figure(rec.samples, a, body_mass_kg=70.0)
    ax = fig.axes[0]
    ((lo, hi),) = _ys(ax, "light-band")
    assert lo == pytest.approx(LIGHT_MIN_OF_BODY * 70 * G, rel=1e-6) and hi == pytest.approx(0.25 * 70 * G, rel=1e-6)
    assert any("light pressure (10–25 % body weight)" == t.get_text() for t in ax.get_legend().get_texts())
    # a 30 s mark on every hold that lasted 30 s, 30 s after its start
    marks = sorted(ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "release-mark")
    assert marks == pytest.approx([(h["start_s"] + 30) / 60 for h in a["holds"] if h["duration_s"] >= 30],
                                  abs=1e-9)
    # each hold's span coloured by its verdict; the demo (scored at 70 kg) has one too short, one too hard and
    # one fairly firm (its feedback says so)
    verdicts = [hold_kind(h) for h in a["holds"]]
    assert sorted(set(verdicts)) == ["firm", "good", "hard", "short"]
    assert all(any(x.startswith("Fairly firm") for x in h["feedback"]) == (v == "firm")
               for h, v in zip(a["holds"], verdicts) if v in ("firm", "good"))
    for h, v in zip(a["holds"], verdicts):
        spans = [s for s in _spans(ax, "hold-") if s[1] < (h["end_s"] / 60) and s[2] > (h["start_s"] / 60)]
        assert spans and all(gid == f"hold-{v}" for gid, _, _ in spans)
    # each hold's label (its number and score) in the score's colour as every output shows it (holdsense.verdict:
    # the report's table, the live page), in a text shade for small text on white (WCAG AA 4.5:1): the fills'
    # amber #f0a202 as text was 2.1:1. Green only for a light hold that reached 30 s (the fairly firm one and
    # the too-short one are amber), red for the too-hard one.
    labels = [t for t in ax.texts if t.get_gid() == "hold-label"]
    assert [t.get_color() for t in labels] == [{"good": "#1e7d45", "firm": "#8a5a00", "short": "#8a5a00",
                                                "hard": "#c0392b"}[v] for v in verdicts]
    matplotlib.pyplot.close(fig)
    # without a body mass there is no band to draw (and none is made up)
    fig = analysis_figure(rec.samples, analyze_recording(rec), body_mass_kg=None)
    assert _ys(fig.axes[0], "light-band") == []
    matplotlib.pyplot.close(fig)


def test_position_panel_in_cm_agrees_with_the_text(gappy) -> None:
    rec, a = gappy
    fig = analysis_figure(rec.samples, a, body_mass_kg=70.0)
    pos = fig.axes[1]
    assert "cm" in pos.get_ylabel() and "deg" not in pos.get_ylabel()
    x, y = (np.asarray(v, float) for v in _line(pos, "position").get_data())
    for h in a["holds"]:  # the hold's spot (as the text says it) is where the plotted roller sits
        inside = (x >= h["start_s"] / 60) & (x <= h["end_s"] / 60) & np.isfinite(y)
        assert np.mean(y[inside]) == pytest.approx(h["spot_cm"], abs=0.3)
        assert h["travel_cm"] == pytest.approx(np.ptp(y[inside]), abs=0.3)
    matplotlib.pyplot.close(fig)


def test_plurals_in_title_and_text() -> None:
    rec = read_recording(DROPOUT)
    a = analyze_recording(rec)
    assert a["summary"]["holds"] == 1
    fig = analysis_figure(rec.samples, a)
    title = fig._suptitle.get_text()
    assert "1 hold (" in title and "1 holds" not in title
    matplotlib.pyplot.close(fig)
    session_line = next(ln for ln in render_text(a).splitlines() if ln.startswith("Session:"))
    assert "; 1 hold, 0 over 30 s;" in session_line


def test_analyze_plot_cli_uses_body_mass_and_writes_png(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(DEMO), "--body-mass", "70", "--plot",
                        str(png)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 500 and img.shape[1] > 1000
    # the band's grey and the three verdict colours are all in the picture
    rgb = (img[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for colour, alpha in (("#d7301f", 0.33), ("#f0a202", 0.33), ("#2ca25f", 0.33)):
        c = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        blended = np.round(alpha * c + (1 - alpha) * 255).astype(int)  # the span over the white background
        assert (np.abs(rgb - blended).sum(axis=1) <= 6).any(), colour


def test_forces_in_the_profiles_units(gappy, tmp_path: Path) -> None:
    rec, a = gappy
    fig = analysis_figure(rec.samples, a, body_mass_kg=70.0, units="lb")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "load (lb)"
    ((lo, hi),) = _ys(ax, "light-band")
    assert hi == pytest.approx(0.25 * 70 / 0.45359237, rel=1e-6)  # 25 % of 70 kg in pounds
    y = np.asarray(_line(ax, "force").get_data()[1], float)
    assert np.nanmax(y) == pytest.approx(np.nanmax(rec.samples.force_n) / (G * 0.45359237), rel=1e-6)
    matplotlib.pyplot.close(fig)
    # the CLI takes the units and the body mass from the athlete's profile (tests/conftest.py: private dir)
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--body-mass", "70", "--units", "lb"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(DROPOUT), "--plot",
                        str(tmp_path / "lb.png")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (tmp_path / "lb.png").stat().st_size > 10_000, r.stderr


def _release_marks_s(fig) -> list[float]:
    """x (s) of the dashed '30 s into the hold' lines of an analyze figure (seconds or minutes on the axis)."""
    ax = fig.axes[0]
    scale = 60.0 if "min" in fig.axes[-1].get_xlabel() else 1.0
    return [float(ln.get_xdata()[0]) * scale for ln in ax.lines if ln.get_gid() == "release-mark"]


@pytest.mark.parametrize("name", ["demo-standard.csv", "demo-force-only.csv"])
def test_no_30s_mark_for_a_hold_shorter_than_30s(name: str) -> None:
    """A 14 s / 18 s hold never reached 30 s: no mark inside it, nor in what follows it (before the next hold)."""
    rec = read_recording(ROOT / "recordings" / name)
    a = analyze_recording(rec)
    holds = a["holds"]
    short = [i for i, h in enumerate(holds) if h["duration_s"] < 30]
    assert short, "the demo has a short hold"
    fig = analysis_figure(rec.samples, a, body_mass_kg=rec.body_mass_kg)
    marks = _release_marks_s(fig)
    for i in short:
        nxt = holds[i + 1]["start_s"] if i + 1 < len(holds) else math.inf
        assert not [m for m in marks if holds[i]["start_s"] <= m < nxt]
    assert len(marks) == sum(h["duration_s"] >= 30 for h in holds)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "30 s into the hold" in legend
    matplotlib.pyplot.close(fig)


def test_verdicts_differ_without_colour() -> None:
    """Hatching, not only colour, tells the verdicts apart (deuteranopia turns the green "good" and the red
    "too hard" into the same khaki; a grey-scale print loses them all): each verdict's spans and its legend
    entry share one hatch, every verdict's differs, and none is the gaps' "////". A made-up analysis with
    one hold of each verdict and a gap (fast: no recording to analyse)."""
    from holdsense.plots import draw_force

    grades = {"good": ("release window reached", "light"), "firm": ("release window reached", "fairly firm"),
              "short": ("too short for a release", "light"), "hard": ("too hard: ease off", "too hard"),
              "cut": ("cut off: link lost", "light")}
    holds, segs = [], []
    for i, (v, (grade, pressure)) in enumerate(grades.items()):
        s0 = 100.0 * i
        holds.append({"start_s": s0 + 10, "end_s": s0 + 50, "duration_s": 40.0, "score": 50, "grade": grade,
                      "pressure": pressure, "mean_force_n": 150.0})
        segs += [{"kind": "roll", "start_s": s0, "end_s": s0 + 10}, {"kind": "hold", "start_s": s0 + 10, "end_s": s0 + 50},
                 {"kind": "off", "start_s": s0 + 50, "end_s": s0 + 100}]
    assert [hold_kind(h) for h in holds] == list(grades)
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    handles = draw_force(ax, None, None, {"holds": holds, "segments": segs}, gaps=[(60.0, 70.0)])
    hatches: dict[str, set] = {}
    for span in ax.collections:  # one collection a kind of span (plots.vspans)
        hatches.setdefault(span.get_gid(), set()).add(span.get_hatch())
    assert all(len(v) == 1 for v in hatches.values()), hatches
    drawn = {gid: next(iter(v)) for gid, v in hatches.items()}
    assert drawn["hold-good"] is None and drawn["roll"] is None  # the usual case stays plain
    marked = [drawn[f"hold-{v}"] for v in ("firm", "short", "hard", "cut")] + [drawn["gap"]]
    assert None not in marked and len(set(marked)) == len(marked), drawn
    legend = {h.get_label(): getattr(h, "get_hatch", lambda: None)() for h in handles}
    for v in ("firm", "short", "hard", "cut"):
        label = next(k for k in legend if k.startswith(VERDICT_LABELS[v].split(" (")[0].split(" {")[0]))
        assert legend[label] == drawn[f"hold-{v}"], (label, legend)


def test_hold_colour_agrees_with_its_pressure_feedback() -> None:
    """demo-limb hold #4 sits above the light band; its feedback says 'Fairly firm', so it is not drawn 'good'."""
    rec = read_recording(ROOT / "recordings" / "demo-limb.csv")
    a = analyze_recording(rec)
    h4 = a["holds"][3]
    assert any(x.startswith("Fairly firm pressure") for x in h4["feedback"])
    assert hold_kind(h4) == "firm"
    fig = analysis_figure(rec.samples, a, body_mass_kg=rec.body_mass_kg)
    ax = fig.axes[0]
    spans = [gid for gid, x0, x1 in _spans(ax, "hold-") if x0 < h4["end_s"] / 60 and x1 > h4["start_s"] / 60]
    assert spans and set(spans) == {"hold-firm"}
    label = [t for t in ax.texts if t.get_gid() == "hold-label"][3]
    assert label.get_color() == "#8a5a00"  # amber: its score is not shown green beside "lighten up"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "hold: fairly firm" in legend and not any(t == "hold: good" for t in legend)
    # every hold whose feedback says light pressure is drawn light (green)
    for h in a["holds"]:
        if any(x.startswith("Light pressure") for x in h["feedback"]) and h["duration_s"] >= 30:
            assert hold_kind(h) == "good"
    matplotlib.pyplot.close(fig)


def test_clipped_spikes_are_in_the_legend() -> None:
    """The red x at the top edge (a spike clipped by the scale) is explained in the legend."""
    rec = read_recording(ROOT / "recordings" / "demo-limb.csv")
    fig = analysis_figure(rec.samples, analyze_recording(rec), body_mass_kg=rec.body_mass_kg)
    ax = fig.axes[0]
    assert [ln for ln in ax.lines if ln.get_gid() == "clipped"]
    assert "spike (clipped)" in [t.get_text() for t in ax.get_legend().get_texts()]
    matplotlib.pyplot.close(fig)


def test_a_cut_off_hold_is_in_the_legend(tmp_path: Path) -> None:
    """A hold cut off under 30 s by the recording's end is drawn in its own grey (contracts.md §3 ended_by);
    the legend explains that colour like every other one drawn (it listed only good/firm/short/hard, so the
    grey hold read as the grey light-pressure band's colour)."""
    rec = read_recording(DEMO)
    s = rec.samples
    keep = s.t_s < 262.0  # 20 s into hold 4 (242 s): the recording ends while holding
    path = tmp_path / "cut.csv"
    write_recording(path, SampleChunk(s.t_s[keep], s.force_n[keep], s.angle_deg[keep], s.flags[keep],
                                      None if s.raw_counts is None else s.raw_counts[keep]), rec.metadata)
    rec = read_recording(path)
    a = analyze_recording(rec, body_mass_kg=70.0)
    last = a["holds"][-1]
    assert last["ended_by"] == "end" and hold_kind(last) == "cut"
    fig = analysis_figure(rec.samples, a, body_mass_kg=70.0)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "hold: cut off (link lost or recording ended)" in legend
    matplotlib.pyplot.close(fig)


def test_hold_labels_stay_inside_the_axes() -> None:
    """A hold at the very start of a long session: its label, centred on the hold, ran over the force scale's
    tick labels ("800#1 95" in a 2-hour report). Every label drawn is inside the axes, its white box too, with
    room to spare: flush with the edge, the PDF report's viewer drew "#5 –" a little wider and cut off its dash."""
    from holdsense.plots import declutter_labels

    rec = read_recording(DEMO)
    a = analyze_recording(rec)
    first, last = a["holds"][0], a["holds"][-1]
    d0, d1 = first["end_s"] - first["start_s"], last["end_s"] - last["start_s"]
    holds = [dict(first, start_s=1.0, end_s=1.0 + d0), dict(last, start_s=7199.0 - d1, end_s=7199.0)]
    segs = [{"kind": "hold", "start_s": 0.0, "end_s": 1.0 + d0}, {"kind": "roll", "start_s": 1.0 + d0,
                                                                  "end_s": 7199.0 - d1},
            {"kind": "hold", "start_s": 7199.0 - d1, "end_s": 7200.0}]
    t = np.arange(0.0, 7200.1, 0.25)  # (no sample gap wider than 0.35 s: none is drawn as a link gap)
    fig = analysis_figure(SampleChunk(t, np.full(len(t), 200.0)), dict(a, segments=segs, holds=holds),
                          body_mass_kg=rec.body_mass_kg)
    fig.canvas.draw()
    ax = fig.axes[0]
    declutter_labels(ax)
    r = fig.canvas.get_renderer()
    box = ax.get_window_extent(r)
    labels = [t for t in ax.texts if t.get_gid() == "hold-label" and t.get_visible()]
    assert labels
    fig.canvas.draw()  # (places each label's box)
    one_pt = fig.dpi / 72
    for t in labels:
        bb = t.get_window_extent(r)
        assert box.x0 + 2 * one_pt <= bb.x0 and bb.x1 <= box.x1 - 2 * one_pt, (t.get_text(), bb, box)
        pb = t.get_bbox_patch().get_window_extent(r)
        assert box.x0 <= pb.x0 and pb.x1 <= box.x1, (t.get_text(), pb, box)
    matplotlib.pyplot.close(fig)


def test_thousands_of_gaps_are_drawn_in_one_collection_and_render() -> None:
    """A flaky link: 5000 short gaps. Each was one axvspan (and every segment was cut against every gap):
    the figure took minutes to draw. Now the gaps are one hatched collection per panel (plots.vspans) holding
    every gap's rectangle where it was, segments never drawn across one, and the figure renders. (Speed:
    bench/plot_gaps.py, not timed here.)"""
    n_gaps = 5000
    t = (np.arange(n_gaps + 1)[:, None] * 0.8 + np.arange(4)[None, :] * 0.1).ravel()  # 4 samples, 0.5 s gap
    chunk = SampleChunk(t, 150.0 + 40.0 * np.sin(t), np.degrees(np.sin(t / 3.0) / 7.5))
    # (an analysis of that shape written out: the detector's 0.6 s on 4000 s is not what is tested here)
    end = float(t[-1])
    segs = [{"kind": "off", "start_s": 0.0, "end_s": 300.0}, {"kind": "roll", "start_s": 300.0, "end_s": 1500.0},
            {"kind": "hold", "start_s": 1500.0, "end_s": 3000.0}, {"kind": "off", "start_s": 3000.0, "end_s": end}]
    hold = {"start_s": 1500.0, "end_s": 3000.0, "duration_s": 1500.0, "score": 90, "grade": "good",
            "mean_force_n": 150.0, "feedback": []}
    a = {"segments": segs, "holds": [hold], "summary": {"duration_s": end, "holds": 1, "holds_over_30s": 1,
                                                          "session_score": 90}}
    fig = analysis_figure(chunk, a)
    expected = np.column_stack((t[3::4][:-1], t[4::4])) / 60.0  # (last sample before, first after), minutes
    for ax in fig.axes[:2]:
        (coll,) = [c for c in ax.collections if c.get_gid() == "gap"]
        rects = np.array([(p[:, 0].min(), p[:, 0].max()) for path in coll.get_paths() for p in path.to_polygons()])
        assert len(rects) == n_gaps
        assert np.allclose(np.sort(rects, axis=0), expected, rtol=0, atol=1e-9)
        assert coll.get_hatch() == "////"
        # no segment colour inside a gap: every span's edges lie outside the gaps' interiors
        edges = np.array([x for _, x0, x1 in _spans(ax, "roll") + _spans(ax, "off") + _spans(ax, "hold-")
                          for x in (x0, x1)])
        i = np.searchsorted(expected[:, 0], edges, side="right") - 1
        inside = (i >= 0) & (edges > expected[np.maximum(i, 0), 0] + 1e-9) & (edges < expected[np.maximum(i, 0), 1] - 1e-9)
        assert len(edges) and not inside.any()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())
    assert img.shape[0] > 400 and img.shape[1] > 1000
    matplotlib.pyplot.close(fig)
