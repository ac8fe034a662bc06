"""Markers in recordings and labels as a format (holdsense.io.markers, holdsense.io.labels), the labelling
model, and `holdsense label` without a window: from markers in a CSV, from a CSV of spans, from the marker
streams of an XDF file (holdsense's own `mark` events and a lab's plain-string marker stream)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.analysis import analyze_recording
from holdsense.io.labels import (LabelsError, labels_from_markers, labels_from_spans_csv, labels_path_for,
                                 read_labels, validate, write_labels)
from holdsense.io.markers import Marker, decode_cell, encode_cell, markers_of
from holdsense.lab.labelling import LabelSession
from holdsense.io.recording import RecordingWriter, read_recording, write_recording
from holdsense.sim import simulate

REPO = Path(__file__).resolve().parents[2]


def hs(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


NOTES = ["felt it, let go", "a|b", "100% ok", "banana nan", "tab\there", "ünïcødé ✓"]


def test_marker_cells_round_trip_any_note_text() -> None:
    marks = [("hold_start", ""), ("note", NOTES[0]), ("hold_end", "")]
    cell = encode_cell(marks)
    assert "," not in cell and "\n" not in cell
    assert [(m.kind, m.text) for m in decode_cell(cell, 2.5)] == marks
    for text in NOTES:
        (m,) = decode_cell(encode_cell([("note", text)]), 1.0)
        assert m.text == " ".join(text.split())  # whitespace runs (tabs, newlines) become one space
    with pytest.raises(ValueError):
        encode_cell([("hold_middle", "")])


def test_writer_puts_markers_on_the_next_sample_and_the_samples_are_unchanged(tmp_path: Path) -> None:
    res = simulate("standard", 3, duration_s=60)
    s = res.samples
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    write_recording(plain, s, res.metadata)
    cuts = np.linspace(0, len(s), 13).astype(int)
    plan = {3: [("hold_start", "")], 6: [("note", n) for n in NOTES], 9: [("hold_end", "")]}
    with RecordingWriter(marked, res.metadata, has_angle=True, has_raw=True, has_markers=True) as w:
        for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
            for kind, text in plan.get(k, []):
                w.add_marker(kind, text)
            w.write(s.slice(a, b))
    assert w.markers_written == 2 + len(NOTES)
    r0, r1 = read_recording(plain), read_recording(marked)
    assert r1.columns[-1] == "marker" and "marker" not in r0.columns
    for col in ("t_s", "force_n", "angle_deg", "raw_counts", "flags"):
        np.testing.assert_array_equal(getattr(r0.samples, col), getattr(r1.samples, col))
    marks = markers_of(r1)
    assert [m.kind for m in marks] == ["hold_start"] + ["note"] * len(NOTES) + ["hold_end"]
    assert [m.t_s for m in marks] == [float(r1.samples.t_s[cuts[k]]) for k in (3,) + (6,) * len(NOTES) + (9,)]
    assert [m.text for m in marks[1:-1]] == [" ".join(n.split()) for n in NOTES]
    # the analysis does not care about the new column
    a0, a1 = analyze_recording(r0), analyze_recording(r1)
    assert a0["segments"] == a1["segments"] and a0["holds"] == a1["holds"]
    with RecordingWriter(tmp_path / "x.csv") as w, pytest.raises(ValueError):
        w.add_marker("hold_start")


def test_labels_from_markers_pairs_starts_and_ends() -> None:
    marks = [Marker(5.0, "hold_end"), Marker(10.0, "hold_start"), Marker(12.0, "note", "ok"),
             Marker(30.0, "hold_end"), Marker(40.0, "hold_start"), Marker(50.0, "hold_start"),
             Marker(55.0, "hold_end"), Marker(70.0, "hold_start")]
    lab, warnings = labels_from_markers(marks, 80.0, source="x.csv", who="ana")
    assert [(s["start_s"], s["end_s"]) for s in lab["segments"]] == [(10.0, 30.0), (40.0, 50.0), (50.0, 55.0),
                                                                      (70.0, 80.0)]
    assert lab["labelled_kinds"] == ["hold"] and lab["labeller"]["who"] == "ana" and lab["source"] == "x.csv"
    assert lab["notes"] == [{"t_s": 12.0, "text": "ok"}]
    assert len(warnings) == 3 and "without a start" in warnings[0] and "no end" in warnings[2]


@pytest.mark.parametrize("obj, words", [
    ({"format": "holdsense-labels/2", "segments": []}, "unknown labels version"),
    ({"format": "holdsense-labels/1"}, "'segments' must be a list"),
    ({"format": "holdsense-labels/1", "segments": [{"kind": "sit", "start_s": 0, "end_s": 1}]}, "kind 'sit'"),
    ({"format": "holdsense-labels/1", "segments": [{"kind": "hold", "start_s": 3, "end_s": 1}]}, "is not a span"),
    ({"format": "holdsense-labels/1", "segments": [{"kind": "hold", "start_s": 0, "end_s": 5},
                                                   {"kind": "roll", "start_s": 4, "end_s": 9}]}, "overlap"),
    ({"format": "holdsense-labels/1", "segments": [{"kind": "hold", "start_s": 0, "end_s": 5, "side": "up"}]},
     "side 'up'"),
    ({"format": "holdsense-labels/1", "segments": [], "labelled_kinds": ["jump"]}, "labelled_kinds"),
    ([], "not a labels object"),
])
def test_bad_labels_are_one_clear_error(obj, words) -> None:
    with pytest.raises(LabelsError) as e:
        validate(obj, "x.labels.json")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_labels_file_paths_and_round_trip(tmp_path: Path) -> None:
    assert labels_path_for("a/b.csv.gz") == Path("a/b.labels.json")
    assert labels_path_for("s.xdf") == Path("s.labels.json") and labels_path_for("c.hscap") == Path("c.labels.json")
    obj = {"format": "holdsense-labels/1", "region": "calves", "side": "left", "future_key": {"kept": True},
           "segments": [{"kind": "roll", "start_s": 5, "end_s": 9}, {"kind": "hold", "start_s": 0, "end_s": 5,
                                                                       "side": "right", "region": "quads"}]}
    p = write_labels(tmp_path / "x.labels.json", obj)
    back = read_labels(p)
    assert back["segments"][0]["kind"] == "hold" and back["future_key"] == {"kept": True}
    (tmp_path / "bad.labels.json").write_text("{not json")
    with pytest.raises(LabelsError, match="not valid JSON"):
        read_labels(tmp_path / "bad.labels.json")


def test_spans_csv(tmp_path: Path) -> None:
    p = tmp_path / "spans.csv"
    p.write_text("start_s,end_s,kind,side,region,note\n10,40,hold,Left,calves,first\n40,52.5,roll,,,\n"
                 "60,90,hold,right,,\n90,95,other,,,stood up\n")
    lab = labels_from_spans_csv(p, source="x.csv", who="me")
    assert lab["labelled_kinds"] == ["roll", "hold"] and lab["labeller"]["how"] == "csv"
    assert lab["segments"][0] == {"kind": "hold", "start_s": 10.0, "end_s": 40.0, "side": "left",
                                  "region": "calves", "note": "first"}
    (tmp_path / "bad1.csv").write_text("from,to,kind\n1,2,hold\n")
    (tmp_path / "bad2.csv").write_text("start_s,end_s,kind\n1,x,hold\n")
    (tmp_path / "bad3.csv").write_text("start_s,end_s,kind\n1,2,nap\n")
    # a blank line first: the message names the file's line 4, not the third span or "segment 2"
    (tmp_path / "bad4.csv").write_text("start_s,end_s,kind\n\n1,2,hold\n9,5,hold\n")
    (tmp_path / "bad5.csv").write_text("start_s,end_s,kind,side\n1,2,hold,up\n")
    for name, words in (("bad1.csv", "lacks column"), ("bad2.csv", "line 2: end_s"), ("bad3.csv", "line 2: kind"),
                        ("bad4.csv", "line 4: start_s 9 to end_s 5 is not a span"),
                        ("bad5.csv", "line 2: side 'up' is not left or right")):
        with pytest.raises(LabelsError, match=words):
            labels_from_spans_csv(tmp_path / name)


def test_label_session_cut_accept_erase_undo() -> None:
    s = LabelSession(None, t_end_s=100.0)
    s.set_span("roll", 0, 100)
    s.set_span("hold", 20, 40, side="left")
    assert [(x["kind"], x["start_s"], x["end_s"]) for x in s.spans] == [("roll", 0, 20), ("hold", 20, 40),
                                                                          ("roll", 40, 100)]
    s.set_span("off", 90, 150)  # clipped to the recording
    assert s.spans[-1] == {"kind": "off", "start_s": 90, "end_s": 100.0}
    assert s.erase_at(30) and s.span_at(30) is None
    s.undo()
    assert s.span_at(30)["side"] == "left"
    det = [{"kind": "off", "start_s": 0, "end_s": 5}, {"kind": "hold", "start_s": 50, "end_s": 70}]
    assert s.accept(det, 60) == 1 and s.span_at(55)["kind"] == "hold" and s.span_at(45)["kind"] == "roll"
    lab = s.to_labels(who="t")
    assert lab["labeller"]["how"] == "manual" and lab.get("labelled_kinds") is None
    s.accept(det)
    assert [x["start_s"] for x in s.spans] == [0, 50]
    assert s.to_labels()["labelled_kinds"] == ["off", "hold"]


def test_label_cli_without_a_window(tmp_path: Path) -> None:
    rec = tmp_path / "s.csv"
    rec.write_bytes((REPO / "recordings" / "demo-standard.csv").read_bytes())
    p = hs("label", rec, "--accept-detector", "--who", "ci")
    assert p.returncode == 0, p.stderr
    lab = read_labels(tmp_path / "s.labels.json")
    a = json.loads(hs("analyze", rec, "--json").stdout)
    assert [(x["kind"], x["start_s"], x["end_s"]) for x in lab["segments"]] == [
        (x["kind"], round(x["start_s"], 4), round(x["end_s"], 4)) for x in a["segments"]]
    assert lab["labeller"] == {**lab["labeller"], "who": "ci", "how": "detector"} and lab["region"] == "quads"
    # exists already -> exit 2, one line; --overwrite replaces it
    p = hs("label", rec, "--accept-detector")
    assert p.returncode == 2 and "exists already" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    spans = tmp_path / "spans.csv"
    spans.write_text("start_s,end_s,kind\n31,107,hold\n")
    p = hs("label", rec, "--spans", spans, "--overwrite", "--side", "right")
    assert p.returncode == 0 and read_labels(tmp_path / "s.labels.json")["side"] == "right"
    for args, words in ((["--from-markers", "-o", tmp_path / "m.json"], "no markers"),
                        (["--spans", tmp_path / "none.csv", "-o", tmp_path / "n.json"], "no such spans file"),
                        (["--from-markers", "--spans", spans], "not allowed with"),
                        (["--stream", "x", "--from-markers", "-o", tmp_path / "q.json"], "not one")):
        p = hs("label", rec, *args)
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = hs("label", tmp_path / "missing.csv", "--from-markers")
    assert p.returncode == 2 and "no such file" in p.stderr
    p = hs("label", rec, "--accept-detector", "-o", tmp_path)
    assert p.returncode == 2 and "is a directory" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_label_from_xdf_marker_streams(tmp_path: Path) -> None:
    pytest.importorskip("pyxdf", reason="pyxdf missing: install the lab extra (pip install -e '.[lab]')")
    import xdf_writer as xw
    t0 = 51234.5
    t = np.arange(0, 120, 1 / 80)
    force = np.where((t > 20) & (t < 50), 150.0, 80.0 + 40 * np.sin(t))
    path = tmp_path / "lab.xdf"
    with xw.XdfWriter(path) as w:
        w.add_stream(1, xw.stream_header_xml(name="holdsense-1122", type_="Force", channel_count=1, nominal_srate=80.0,
                                             channel_format="double64", source_id="holdsense-force-AABB",
                                             channels=[{"label": "force_n", "unit": "newtons", "type": "Force"}]))
        w.add_stream(2, xw.stream_header_xml(name="holdsense-1122-markers", type_="Markers", channel_count=1,
                                             nominal_srate=0.0, channel_format="string", source_id="m"))
        w.add_stream(3, xw.stream_header_xml(name="Keyboard", type_="Markers", channel_count=1, nominal_srate=0.0,
                                             channel_format="string", source_id="kb"))
        w.write_samples(1, list(t + t0), force.reshape(-1, 1))
        w.write_samples(2, [t0 + 21.0, t0 + 22.0, t0 + 49.0], [
            json.dumps({"event": "mark", "mark": "hold_start", "t_s": 21.0}),
            json.dumps({"event": "hold_started", "hold": 1, "start_s": 20.0}),  # the detector's: not ground truth
            json.dumps({"event": "mark", "mark": "hold_end", "t_s": 49.0})])
        w.write_samples(3, [t0 + 70.0, t0 + 80.0, t0 + 85.0, t0 + 90.0], ["Hold Start", "something", "hold-end",
                                                                           "trial 3"])
    out = tmp_path / "lab.labels.json"
    p = hs("label", path, "--from-markers")
    assert p.returncode == 0, p.stderr
    lab = read_labels(out)
    assert lab["labeller"]["how"] == "xdf-markers"
    assert sorted(lab["labeller"]["streams"]) == ["Keyboard", "holdsense-1122-markers"]
    assert [x for s in lab["segments"] for x in (s["start_s"], s["end_s"])] == pytest.approx([21.0, 49.0, 70.0, 85.0])
    assert [n["text"] for n in lab["notes"]] == ["something", "trial 3"]
    p = hs("label", path, "--from-markers", "--marker-stream", "keyboard", "--overwrite")
    assert p.returncode == 0, p.stderr
    assert [x for s in read_labels(out)["segments"] for x in (s["start_s"], s["end_s"])] == pytest.approx([70.0, 85.0])
    p = hs("label", path, "--from-markers", "--marker-stream", "nope", "--overwrite")
    assert p.returncode == 2 and "no string stream named 'nope'" in p.stderr


def test_label_window_without_a_display_is_one_line_exit_2(tmp_path: Path) -> None:
    import os

    rec = tmp_path / "s.csv"
    rec.write_bytes((REPO / "recordings" / "demo-standard.csv").read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "label", str(rec)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120, env=env)
    assert p.returncode == 2 and "needs a display" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.labels.json").exists()


def test_markers_on_plots_and_in_the_live_view(tmp_path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from holdsense.analysis import plot_analysis
    from holdsense.plots import draw_markers
    from holdsense.listeners.live import DetectorListener, PlainView, render

    res = simulate("standard", 4, duration_s=40)
    path = tmp_path / "m.csv"
    with RecordingWriter(path, res.metadata, has_angle=True, has_markers=True) as w:
        w.add_marker("hold_start")
        w.write(res.samples.slice(0, 800))
        w.add_marker("note", "knot")
        w.add_marker("hold_end")
        w.write(res.samples.slice(800, len(res.samples)))
    rec = read_recording(path)
    fig, ax = plt.subplots()
    assert draw_markers([ax], markers_of(rec)) == 3
    assert len(ax.lines) == 3 and {t.get_text() for t in ax.texts} == {"▶ hold", "knot", "hold ◀"}
    plt.close(fig)
    png = tmp_path / "m.png"
    plot_analysis(rec, analyze_recording(rec), png)
    assert png.stat().st_size > 10_000
    out = io.StringIO()
    det = DetectorListener(views=[PlainView(out)])
    det.on_samples(res.samples.slice(0, 200))
    det.on_mark(2.5, "hold_start")
    det.on_mark(3.0, "note", "left calf")
    assert "marker at 2.5 s: hold starts" in out.getvalue() and "marker at 3.0 s: note: left calf" in out.getvalue()
    det.state.mark_keys = "keys: h/[ hold starts"
    from rich.console import Console

    con = Console(file=io.StringIO(), width=100)
    con.print(render(det.state, 100))
    text = con.file.getvalue()
    assert "markers" in text and "0:02 hold starts" in text and "note: left calf" in text


def test_label_and_evaluate_a_capture(tmp_path: Path) -> None:
    """A raw wire capture (.hscap) labels and evaluates like a recording (decoded by the host's own client)."""
    cap = tmp_path / "limb.hscap"
    cap.write_bytes((REPO / "tests" / "captures" / "limb.hscap").read_bytes())
    spans = tmp_path / "spans.csv"
    a = json.loads(hs("analyze", cap, "--json").stdout)
    holds = [s for s in a["segments"] if s["kind"] == "hold"]
    assert holds, "the limb capture has holds"
    spans.write_text("start_s,end_s,kind,side\n" + "".join(f"{h['start_s'] + 0.5},{h['end_s']},hold,left\n"
                                                            for h in holds))
    p = hs("label", cap, "--spans", spans)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "limb.labels.json").is_file()
    p = hs("evaluate", cap, "--json", "--jobs", "1")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)["files"][0]
    assert f["events"] == {"tp": len(holds), "fp": 0, "fn": 0} and f["roll_f1"] is None
    assert all(x == pytest.approx(-0.5, abs=1e-3) for x in f["start_err_s"])


def test_record_and_live_reject_a_missing_markers_file(tmp_path: Path) -> None:
    for cmd in ("record", "live"):
        p = hs(cmd, "--port", tmp_path / "no-roller", "--markers-from", tmp_path / "nope.fifo", "-o", tmp_path / "o.csv")
        assert p.returncode == 2 and "--markers-from" in p.stderr and "no such file" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


def test_markers_file_keeps_an_unknown_line_as_a_note_and_says_so(tmp_path: Path, capsys) -> None:
    import time

    import numpy as np

    from holdsense.listeners.markers import FileMarkers, MarkerBoard
    from rollsignal import SampleChunk

    path = tmp_path / "marks.txt"
    path.write_text("hold start\nhold_ennd\nnote left calf\n# a comment\nhold_end\n")
    board = MarkerBoard()
    fm = FileMarkers(board, str(path)).start()
    try:
        deadline = time.monotonic() + 10
        while len(board._pending) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        fm.stop()
    board.on_samples(SampleChunk(np.array([1.5]), np.array([100.0]), None, np.array([0], np.uint8), None))
    assert [(m.kind, m.text) for m in board.markers] == [
        ("hold_start", ""), ("note", "hold_ennd"), ("note", "left calf"), ("hold_end", "")]
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "'hold_ennd' is not hold_start, hold_end or note TEXT; kept as a note" in err


def test_a_marker_pressed_while_the_link_is_lost_is_not_recorded() -> None:
    """A marker is timed on the first sample after the press. While the link is lost that sample is the first
    after the reconnection (or from the roller's backlog), seconds from the press: the marker was stamped there,
    a ground-truth label at the wrong time. Now it is not recorded and the refusal sinks say why (the page's
    buttons are disabled meanwhile); a press in a silence not yet noticed is refused when the samples return."""
    import numpy as np

    from holdsense.listeners.markers import LINK_LOST_WHY, MarkerBoard
    from holdsense.messages import LINK_STALE_S
    from rollsignal import SampleChunk

    def chunk(t0: float) -> SampleChunk:
        t = t0 + np.arange(4) / 80
        return SampleChunk(t, np.full(4, 100.0), None, np.zeros(4, np.uint8), None)

    now = [100.0]
    lost = [False]
    board = MarkerBoard(clock=lambda: now[0], link_lost=lambda: lost[0])
    stamped: list = []
    refused: list = []
    board.add_sink(lambda t, kind, text: stamped.append((t, kind)))
    board.add_refusal_sink(lambda kind, text, why: refused.append((kind, why)))
    board.on_samples(chunk(10.0))
    now[0] += 0.03
    assert board.mark("hold_start") is None  # the link is up: timed on the next sample, as before
    now[0] += 0.02
    board.on_samples(chunk(10.05))
    assert stamped == [(10.05, "hold_start")] and refused == []
    # no sample for longer than LINK_STALE_S (LINK LOST): refused at once, never stamped at the reconnection
    now[0] += LINK_STALE_S + 0.5
    assert board.mark("hold_end") == LINK_LOST_WHY
    assert refused == [("hold_end", LINK_LOST_WHY)]
    now[0] += 20.0
    board.on_samples(chunk(30.0))  # the link is back, 20 s later
    assert stamped == [(10.05, "hold_start")]
    # pressed 0.1 s into a silence (not yet LINK LOST), the samples back 5 s later: refused on arrival
    now[0] += 0.1
    assert board.mark("note", "left calf") is None
    now[0] += 5.0
    board.on_samples(chunk(36.0))
    assert stamped == [(10.05, "hold_start")] and refused[-1] == ("note", LINK_LOST_WHY)
    # the session's own LINK LOST (the link layer said so) counts too
    lost[0] = True
    now[0] += 0.01
    assert board.mark("hold_start") == LINK_LOST_WHY
    assert [m.kind for m in board.markers] == ["hold_start"] and len(board.refused) == 3
    # `live` lists a refused marker with the marks (terminal and page), saying it was not recorded
    from holdsense.listeners.live import DetectorListener

    det = DetectorListener()
    board.add_refusal_sink(det.on_mark_refused)
    board.mark("hold_end")
    assert det.state.marks[-1][1] == "not recorded (link lost): hold ends"
