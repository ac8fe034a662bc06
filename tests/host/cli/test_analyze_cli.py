"""`holdsense analyze` as a subprocess: exit codes, JSON schema, folders, plots (contracts.md §3)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "recordings" / "demo-standard.csv"
FORCE_ONLY = ROOT / "recordings" / "demo-force-only.csv"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=120)


def _check_schema(obj: dict) -> None:
    assert obj["format"] == "holdsense-analysis/1"
    assert set(obj) >= {"source", "segments", "holds", "summary", "quality"}
    segs = obj["segments"]
    assert segs and all(s["kind"] in {"off", "roll", "hold"} for s in segs)
    for a, b in zip(segs, segs[1:]):  # tile the recording in time order, no overlaps
        assert a["end_s"] == pytest.approx(b["start_s"], abs=1e-6) and a["kind"] != b["kind"]
    for h in obj["holds"]:
        assert set(h) >= {"start_s", "end_s", "duration_s", "mean_force_n", "force_cv", "travel_cm", "spot_cm",
                          "score", "grade", "feedback"}
        assert h["duration_s"] >= 5.0 and 0 <= h["score"] <= 100 and h["feedback"]
        assert any(s["kind"] == "hold" and s["start_s"] == pytest.approx(h["start_s"]) for s in segs)
    s = obj["summary"]
    assert set(s) >= {"duration_s", "hold_s", "roll_s", "off_s", "holds", "holds_over_30s", "session_score", "advice"}
    assert s["hold_s"] + s["roll_s"] + s["off_s"] == pytest.approx(s["duration_s"], abs=0.05)
    assert set(obj["quality"]) >= {"sample_rate_hz", "gaps", "saturated_samples", "warnings"}


def test_json_single_file_schema_and_holds_match_labels() -> None:
    r = cli("analyze", str(DEMO), "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    _check_schema(obj)
    labels = json.loads(DEMO.with_suffix(".labels.json").read_text())
    true_holds = [s for s in labels["segments"] if s["kind"] == "hold" and s["end_s"] - s["start_s"] >= 5]
    assert len(obj["holds"]) == len(true_holds)
    for h, t in zip(obj["holds"], true_holds):
        assert abs(h["start_s"] - t["start_s"]) < 1.0 and abs(h["end_s"] - t["end_s"]) < 1.0
    assert obj["holds"][0]["travel_cm"] is not None  # encoder present


def test_force_only_has_null_travel() -> None:
    obj = json.loads(cli("analyze", str(FORCE_ONLY), "--json").stdout)
    assert obj["holds"] and all(h["travel_cm"] is None and h["spot_cm"] is None for h in obj["holds"])


def test_text_report_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    r = cli("analyze", str(DEMO), "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert "Holds (" in r.stdout and "session score" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_names_of_a_batch_never_collide() -> None:
    """`--plot OUT.png` with several inputs: one plot each. The name was the file name up to its first dot, so
    a/x.csv, b/x.csv and a/x.csv.gz (and s1.a.csv, s1.b.csv) wrote one plot over the other."""
    from holdsense.commands.analyze import plot_paths

    files = ["a/x.csv", "b/x.csv", "a/x.csv.gz", "s1.a.csv", "s1.b.csv", "c/X.hscap", "-", "y.xdf", "x-2.csv"]
    got = plot_paths("out/p.png", files)
    assert got == {"a/x.csv": "out/p-x.png", "b/x.csv": "out/p-x-2.png", "a/x.csv.gz": "out/p-x-3.png",
                   "s1.a.csv": "out/p-s1.a.png", "s1.b.csv": "out/p-s1.b.png", "c/X.hscap": "out/p-X-4.png",
                   "-": "out/p-stdin.png", "y.xdf": "out/p-y.png", "x-2.csv": "out/p-x-2-2.png"}
    assert len(set(got.values())) == len(files)
    assert plot_paths("p.svg", ["only.csv"]) == {"only.csv": "p.svg"}  # one input: the path as given


def test_folder_json_lines_with_bad_file_in_place(tmp_path: Path) -> None:
    shutil.copy(DEMO, tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("# format: holdsense-recording/1\nt_s,force_n\n0,1\n0.1,oops\n")
    shutil.copy(FORCE_ONLY, tmp_path / "c.csv")
    (tmp_path / "notes.txt").write_text("not a recording\n")
    r = cli("analyze", str(tmp_path), "--json")
    assert r.returncode == 2
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["source"]).name for x in lines] == ["a.csv", "b.csv", "c.csv"]
    assert "error" in lines[1] and "line 4" in lines[1]["error"]
    _check_schema(lines[0])
    _check_schema(lines[2])
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("", "empty file"),
    ("# format: holdsense-recording/9\nt_s,force_n\n0,1\n", "unknown format version"),
    ("# format: holdsense-recording/1\nt_s,force_n\n", "no samples"),
    ("# format: holdsense-recording/1\nt_s,force_n\n1,1\n0,1\n", "t_s decreases"),
])
def test_bad_input_exit_2_one_line(tmp_path: Path, content: str | None, needle: str) -> None:
    p = tmp_path / "bad.csv"
    if content is not None:
        p.write_text(content)
    r = cli("analyze", str(p))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["--body-mass", "-3"], ["--bogus"], ["--profile", "no-such-profile"]])
def test_bad_options_exit_2(args: list[str]) -> None:
    r = cli("analyze", str(DEMO), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2


def test_overview_example_is_what_analyze_prints() -> None:
    """docs/overview.md quotes a hold of `holdsense analyze recordings/demo-standard.csv`: it must be that
    command's output, line for line (a feedback line added to the scoring once went missing from the doc)."""
    import re

    doc = (ROOT / "docs" / "overview.md").read_text(encoding="utf-8")
    m = re.search(r"A hold report reads like this \(from `recordings/demo-standard\.csv`\):\s*```\n(.*?)```", doc,
                  re.DOTALL)
    assert m, "docs/overview.md: the example hold report was not found"
    example = m.group(1).rstrip("\n").splitlines()
    r = cli("analyze", str(DEMO))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    starts = [i for i, ln in enumerate(out) if ln == example[0]]
    assert starts, f"first example line not in the output:\n{r.stdout}"
    i = starts[0]
    # the hold's whole block: its line and every feedback line up to the next hold
    end = next((j for j in range(i + 1, len(out)) if not out[j].startswith("       - ")), len(out))
    assert out[i:end] == example, "docs/overview.md's example differs from analyze's output:\n" + "\n".join(out[i:end])


def test_a_lost_link_is_named_apart_from_off_time(tmp_path: Path) -> None:
    """20 s without samples in the middle of rolling (too long to bridge) counts as off, but analyze says
    it was the link (contracts.md §3 `lost_s`), as the live view does; a recording without gaps has none."""
    lines = DEMO.read_text(encoding="utf-8").splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#") or ln.startswith("t_s")]
    rows = [ln for ln in lines[len(head):] if not 205.0 <= float(ln.split(",", 1)[0]) < 225.0]
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(head + rows), encoding="utf-8")
    r = cli("analyze", str(cut), "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    _check_schema(obj)
    lost = [s for s in obj["segments"] if s.get("lost_s")]
    assert len(lost) == 1 and lost[0]["kind"] == "off"
    assert lost[0]["lost_s"] == pytest.approx(20.0, abs=0.5)
    assert obj["summary"]["lost_s"] == pytest.approx(lost[0]["lost_s"], abs=0.01)
    assert obj["summary"]["off_s"] >= obj["summary"]["lost_s"]
    text = cli("analyze", str(cut)).stdout
    assert "no data (link lost)" in text and "(link lost 0:20 of it)" in text
    whole = json.loads(cli("analyze", str(DEMO), "--json").stdout)
    assert whole["summary"]["lost_s"] == 0.0 and not any("lost_s" in s for s in whole["segments"])


def test_gap_warning_says_how_a_bridged_gap_was_counted(tmp_path: Path) -> None:
    """5 s without samples inside a hold that resumes on the same spot is bridged into the hold (up to
    `long_gap_bridge_s`, 15 s): the Data quality line says so; it said 'gaps up to 3 s bridged, longer ones
    counted as off' while the timeline showed the 5 s as holding."""
    lines = DEMO.read_text(encoding="utf-8").splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#") or ln.startswith("t_s")]
    rows = [ln for ln in lines[len(head):] if not 290.0 <= float(ln.split(",", 1)[0]) < 295.0]
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(head + rows), encoding="utf-8")
    obj = json.loads(cli("analyze", str(cut), "--json").stdout)
    (seg,) = [s for s in obj["segments"] if s["start_s"] <= 292.5 < s["end_s"]]
    assert seg["kind"] == "hold" and not seg.get("lost_s") and obj["summary"]["lost_s"] == 0.0
    (warning,) = [w for w in obj["quality"]["warnings"] if "link gap" in w]
    assert "s bridged, longer ones counted as off" not in warning, warning
    assert "up to 15 s when the same state resumed" in warning, warning


def test_every_top_level_key_of_the_json_is_in_the_contract() -> None:
    """contracts.md §3 is what other tools code against: `region` (from the recording's metadata) was printed
    by `analyze --json` but named nowhere in §3."""
    text = (ROOT / "docs" / "contracts.md").read_text()
    section = text[text.index("## 3."):text.index("## 4.")]
    r = cli("analyze", str(DEMO), "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj.get("region") == "quads"
    missing = [k for k in obj if f'"{k}"' not in section and f"`{k}`" not in section]
    assert not missing, f"analyze --json prints {missing}, which contracts.md §3 does not name"


def test_text_counts_link_gaps_once() -> None:
    """The data-quality line said '413 gaps in the data (bridged); 413 link gaps or dropouts: ...': the
    detector's own warning already counts them. A count without that warning (an older analysis) is still said."""
    from holdsense.analysis import analyze_path, render_text

    a, _ = analyze_path(str(DEMO))
    a["quality"]["gaps"] = 3
    a["quality"]["warnings"] = ["3 link gaps or dropouts: gaps up to 3 s bridged, up to 15 s when the same state "
                                "resumes, longer ones count as off"]
    line = next(ln for ln in render_text(a).splitlines() if ln.startswith("Data quality"))
    assert "gaps in the data" not in line and line.count("link gaps or dropouts") == 1, line
    a["quality"]["warnings"] = []
    line = next(ln for ln in render_text(a).splitlines() if ln.startswith("Data quality"))
    assert "3 gaps in the data (bridged)" in line, line


def test_text_says_a_fairly_firm_hold_is_fairly_firm() -> None:
    """demo-limb's hold 4 is fairly firm (amber everywhere that has colour); the plain text said only 'score
    87/100: release window reached', which reads as good."""
    from holdsense.analysis import analyze_path, render_text

    a, _ = analyze_path(str(ROOT / "recordings" / "demo-limb.csv"))
    assert a["holds"][3]["pressure"] == "fairly firm" and a["holds"][0]["pressure"] == "light"
    lines = [ln for ln in render_text(a).splitlines() if ln.startswith("  #")]
    assert lines[3].endswith("(fairly firm)") and "fairly firm" not in lines[0], lines


def test_text_counts_saturated_samples_once() -> None:
    """'6 saturated ADC samples ignored; ...; 6 saturated samples ignored: the load cell was over its range'
    (datasets/example/sim-gaps-s16-10hz): the detector's warning already says it. Without it, still said."""
    from holdsense.analysis import analyze_path, render_text

    a, _ = analyze_path(str(DEMO))
    a["quality"]["saturated_samples"] = 6
    a["quality"]["warnings"] = ["6 saturated samples ignored: the load cell was over its range"]
    line = next(ln for ln in render_text(a).splitlines() if ln.startswith("Data quality"))
    assert line.count("saturated") == 1, line
    a["quality"]["warnings"] = []
    line = next(ln for ln in render_text(a).splitlines() if ln.startswith("Data quality"))
    assert "6 saturated ADC samples ignored" in line, line
