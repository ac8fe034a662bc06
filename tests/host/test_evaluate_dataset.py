"""`holdsense evaluate` (detector vs labels: table, JSON, plot, --jobs, groups) and `holdsense dataset
export|check` (publishable folder, checksums, one line per problem), as subprocess CLI calls on real files.
Expected figures are computed here from rollsignal.metrics on the analysis JSON, not written down."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense.sim import simulate
from rollsignal.metrics import HOLD, ROLL, f1_of, frame_counts, grid_labels, holds_of, match_events

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "datasets" / "example"


def hs(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated sessions with full labels, one with holds-only labels (as from markers) and sides."""
    d = tmp_path_factory.mktemp("corpus")
    for k, (fam, seed) in enumerate((("standard", 5), ("limb", 6), ("reposition", 7))):
        rec, lab = simulate(fam, seed, duration_s=120, rate_hz=10 if k else 80).write(d / f"{fam}.csv")
        if fam == "limb":
            obj = json.loads(lab.read_text())
            obj["side"] = "left"
            lab.write_text(json.dumps(obj))
    res = simulate("standard", 8, duration_s=120, rate_hz=10)
    rec, lab = res.write(d / "marked.csv")
    holds = [s for s in res.labels["segments"] if s["kind"] == "hold"]
    lab.write_text(json.dumps({"format": "holdsense-labels/1", "labelled_kinds": ["hold"], "side": "right",
                               "labeller": {"who": "t", "how": "markers"},
                               "segments": [{"kind": "hold", "start_s": h["start_s"] + 1.0,
                                             "end_s": h["end_s"] - 0.5} for h in holds]}))
    (d / "unlabelled.csv").write_bytes((d / "marked.csv").read_bytes())
    (d / "notes.txt").write_text("not a recording")
    return d


def _expected(rec: Path) -> dict:
    a = json.loads(hs("analyze", rec, "--json").stdout)
    lab = json.loads(rec.with_name(rec.name[:-4] + ".labels.json").read_text())
    t_end = max(s["end_s"] for s in a["segments"])
    gt, gp = grid_labels(lab["segments"], t_end), grid_labels(a["segments"], t_end)
    ev = match_events(holds_of(lab["segments"]), holds_of(a["segments"]))
    kinds = lab.get("labelled_kinds") or ["off", "roll", "hold"]
    return {"hold": frame_counts(gt, gp, HOLD), "roll": frame_counts(gt, gp, ROLL) if "roll" in kinds else None,
            "events": ev.counts(), "ev": ev}


def test_evaluate_folder_table_json_and_jobs(corpus: Path, tmp_path: Path) -> None:
    p = hs("evaluate", corpus, "--json", "--jobs", "1")
    assert p.returncode == 0, p.stderr
    assert "unlabelled.csv: no labels beside it, skipped" in p.stderr
    out = json.loads(p.stdout)
    assert out["format"] == "holdsense-evaluation/1" and out["failed"] == []
    names = [Path(f["source"]).name for f in out["files"]]
    assert names == ["limb.csv", "marked.csv", "reposition.csv", "standard.csv"]
    tot_hold, tot_ev = [0, 0, 0], [0, 0, 0]
    for f in out["files"]:
        e = _expected(Path(f["source"]))
        assert tuple(f["frames"]["hold"]) == e["hold"]
        assert f["hold_f1"] == pytest.approx(f1_of(*e["hold"]), abs=1e-4)
        assert f["event_f1"] == pytest.approx(e["ev"].f1, abs=1e-4)
        assert (f["events"]["tp"], f["events"]["fp"], f["events"]["fn"]) == e["events"]
        assert sorted(abs(x) for x in f["start_err_s"]) == pytest.approx(sorted(e["ev"].start_err_s), abs=1e-3)
        if e["roll"] is None:
            assert f["roll_f1"] is None and f["labelled_kinds"] == ["hold"]
        else:
            assert f["roll_f1"] == pytest.approx(f1_of(*e["roll"]), abs=1e-4)
        tot_hold = [x + y for x, y in zip(tot_hold, e["hold"])]
        tot_ev = [x + y for x, y in zip(tot_ev, e["events"])]
    assert out["total"]["hold_f1"] == pytest.approx(f1_of(*tot_hold), abs=1e-4)
    assert out["total"]["event_f1"] == pytest.approx(f1_of(*tot_ev), abs=1e-4)
    # holds-only labels: 1 s late starts, 0.5 s early ends -> the detector's boundaries differ by about that
    marked = out["files"][1]
    assert marked["events"]["tp"] >= 1 and all(x < 0 for x in marked["start_err_s"])
    # the total's intervals over the four files bracket it (roll F1's over the three that label rolling)
    iv = out["total"]["intervals"]
    assert iv["level"] == 0.95 and iv["over"] == "files"
    for k in ("hold_f1", "roll_f1", "event_f1", "start_abs_median_s", "end_abs_median_s"):
        lo, hi = iv[k]
        assert lo <= out["total"][k] + 1e-3 and out["total"][k] - 1e-3 <= hi, k
    groups = out["total"]["groups"]
    assert any(g.endswith("/left") for g in groups) and any(g.endswith("/right") for g in groups)
    assert sum(g["events"]["tp"] for g in groups.values()) == tot_ev[0]
    # the same figures with worker processes, and a table
    p2 = hs("evaluate", corpus, "--json", "--jobs", "2")
    assert p2.returncode == 0, p2.stderr
    assert json.loads(p2.stdout)["files"] == out["files"]
    png = tmp_path / "worst.png"
    p3 = hs("evaluate", *[corpus / n for n in names], "--plot", png)
    assert p3.returncode == 0, p3.stderr
    lines = p3.stdout.splitlines()
    assert lines[0].split()[:4] == ["file", "holds", "hold", "F1"]
    total = next(ln for ln in lines if ln.startswith("TOTAL"))
    assert f"{out['total']['hold_f1']:.3f}" in total and "region/side" in p3.stdout
    assert (f"95 % interval over the 4 files (each drawn again with replacement): hold F1 "
            f"{iv['hold_f1'][0]:.3f}-{iv['hold_f1'][1]:.3f}, roll F1 {iv['roll_f1'][0]:.3f}-") in p3.stdout
    # two files are too few to resample: no intervals; three, of which two label rolling: none for roll F1
    p4 = hs("evaluate", corpus / "limb.csv", corpus / "standard.csv", "--json")
    assert p4.returncode == 0, p4.stderr
    assert "intervals" not in json.loads(p4.stdout)["total"]
    p5 = hs("evaluate", corpus / "limb.csv", corpus / "standard.csv", corpus / "marked.csv", "--json")
    assert p5.returncode == 0, p5.stderr
    iv5 = json.loads(p5.stdout)["total"]["intervals"]
    assert iv5["roll_f1"] is None and iv5["hold_f1"] is not None
    assert png.stat().st_size > 10_000


def test_evaluate_bad_input_is_one_line_exit_2(corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(corpus / "standard.csv", bad / "a.csv")
    shutil.copy(corpus / "standard.labels.json", bad / "a.labels.json")
    shutil.copy(corpus / "standard.csv", bad / "b.csv")
    (bad / "b.labels.json").write_text('{"format": "holdsense-labels/1", "segments": [{"kind": "nap"}]}')
    p = hs("evaluate", bad)
    assert p.returncode == 2 and "a.csv" in p.stdout  # the good file is still scored
    assert "b.labels.json: segment 1: kind 'nap'" in p.stderr and "1 of 2 files failed" in p.stderr
    for args, words in (([tmp_path / "nope"], "no such file or folder"),
                        ([corpus / "unlabelled.csv"], "no labels"),
                        ([corpus, "--jobs", "0"], "argument --jobs/-j: 0 is not"),
                        ([tmp_path / "bad" / "a.csv", "--plot", tmp_path / "no" / "x.png"],
                         f"folder {tmp_path / 'no'} does not exist"),
                        ([corpus, "--labels", corpus / "limb.labels.json"], "--labels goes with a single FILE")):
        p = hs("evaluate", *args)
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert len([ln for ln in p.stderr.splitlines() if "error" in ln]) <= 2


@pytest.mark.parametrize("option", [["--plot", "x.txt"], ["--plot", "noext"], ["--jobs", "5000"], ["--jobs", "0"],
                                    ["--plot", "missing/x.png"]], ids=" ".join)
def test_evaluate_options_are_checked_by_analyzes_types(option: list[str], tmp_path: Path) -> None:
    # before: --plot x.txt ran the whole evaluation, then 'internal error: ValueError', exit 1; --plot noext wrote
    # noext.png; --jobs 5000 was accepted. Now the shared _options types refuse them at parse time, word for word
    # as analyze does, before any file is read (the input here does not even exist).
    ev = hs("evaluate", tmp_path / "nothing-here", *option, cwd=tmp_path)
    an = hs("analyze", tmp_path / "nothing-here", *option, cwd=tmp_path)
    assert ev.returncode == an.returncode == 2 and ev.stdout == ""
    assert ev.stderr == an.stderr and ev.stderr.count("\n") == 1, ev.stderr
    assert ev.stderr.startswith(f"holdsense: error: argument {option[0]}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "101", "x"])
def test_evaluate_worst_is_a_checked_count(value: str, tmp_path: Path) -> None:
    # before: '--worst 0: must be 1 or more' (not argparse's form, and only after the inputs were listed);
    # --worst 100000 was accepted
    p = hs("evaluate", tmp_path / "nothing-here", "--plot", tmp_path / "w.png", "--worst", value)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("holdsense: error: argument --worst: ") and "number of plot panels" in p.stderr


def test_evaluate_refuses_labels_past_the_end_as_dataset_check_does(corpus: Path, tmp_path: Path) -> None:
    # before: labels 10,000 s later than the 120 s recording were scored (0/3 holds found) and pooled in the total
    d = tmp_path / "shifted"
    d.mkdir()
    labels = json.loads((corpus / "standard.labels.json").read_text())
    t_end = float((corpus / "standard.csv").read_text().rstrip().rsplit("\n", 1)[1].split(",")[0])
    for name, shift in (("a", 0.0), ("edge", None), ("late", 10_000.0)):
        shutil.copy(corpus / "standard.csv", d / f"{name}.csv")
        segs = [dict(x, start_s=x["start_s"] + (shift or 0), end_s=x["end_s"] + (shift or 0))
                for x in labels["segments"]]
        if shift is None:  # the last span 0.4 s past the last sample: within dataset check's tolerance
            segs[-1]["end_s"] = t_end + 0.4
        (d / f"{name}.labels.json").write_text(json.dumps(dict(labels, segments=segs)))
    p = hs("evaluate", d, "--json", "--jobs", "1")
    assert p.returncode == 2, p.stderr
    out = json.loads(p.stdout)
    assert [Path(f["source"]).name for f in out["files"]] == ["a.csv", "edge.csv"] and out["total"]["files"] == 2
    first = labels["segments"][0]
    why = (f"{d / 'late.labels.json'}: span {first['start_s'] + 10_000:g}-{first['end_s'] + 10_000:g} s ends "
           f"after the recording ({t_end:.1f} s)")
    assert out["failed"] == [{"source": str(d / "late.csv"), "error": why}]
    err = p.stderr.splitlines()
    assert err == [f"holdsense: error: {why}", f"holdsense: 1 of 3 files failed: {d / 'late.csv'}"]
    # the same file named alone, and with --labels: one line, exit 2
    p = hs("evaluate", d / "late.csv")
    assert p.returncode == 2 and p.stderr == f"holdsense: error: {why}\n" and p.stdout == ""
    p = hs("evaluate", d / "a.csv", "--labels", d / "late.labels.json")
    assert p.returncode == 2 and "late.labels.json: span" in p.stderr and "ends after the recording" in p.stderr
    # dataset check draws the same line with the same tolerance (the one validation in holdsense.io.labels)
    ds = tmp_path / "ds"
    p = hs("dataset", "export", d, "-o", ds, "--title", "T", "--licence", "CC0", "--consent", "c",
           "--contact", "x@example.org", "--shell", "foam")
    assert p.returncode == 0, p.stderr
    p = hs("dataset", "check", ds)
    late = [ln for ln in p.stderr.splitlines() if "ends after the recording" in ln]
    assert p.returncode == 2 and late == [f"holdsense: {ds / 'late.labels.json'}{why.split('late.labels.json')[1]}"]


def test_evaluate_labels_option_names_the_path_given(corpus: Path, tmp_path: Path) -> None:
    # before: 'no labels (nonexistent.json not found beside it; ...)': the folder dropped, and "beside it" wrong
    for given in (str(tmp_path / "sub" / "nonexistent.json"), "rel/nonexistent.json"):
        p = hs("evaluate", corpus / "standard.csv", "--labels", given, cwd=tmp_path)
        assert p.returncode == 2 and p.stdout == "", p.stderr
        assert p.stderr == f"holdsense: error: {given}: no such labels file\n"


def test_evaluate_without_labels_named_is_an_error_in_a_folder_a_note(corpus: Path, tmp_path: Path) -> None:
    # what docs/labelling.md says: a FILE named without labels fails (exit 2); in a folder it is noted and skipped
    d = tmp_path / "f"
    d.mkdir()
    for name in ("standard.csv", "standard.labels.json", "unlabelled.csv"):
        shutil.copy(corpus / name, d / name)
    p = hs("evaluate", d / "unlabelled.csv")
    assert p.returncode == 2 and p.stderr.startswith(f"holdsense: error: {d / 'unlabelled.csv'}: no labels ("), p.stderr
    p = hs("evaluate", d)
    assert p.returncode == 0, p.stderr
    assert p.stderr == f"holdsense: note: {d / 'unlabelled.csv'}: no labels beside it, skipped\n"


def test_evaluate_a_missing_path_or_an_empty_folder_among_others_is_one_entry(corpus: Path, tmp_path: Path) -> None:
    # before: a path that is not there stopped the whole evaluation before any file was scored, and a folder
    # with no labelled recording among other inputs vanished without a word (exit 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    nope = tmp_path / "nope.csv"
    p = hs("evaluate", corpus / "standard.csv", nope, empty, corpus / "limb.csv", "--json", "--jobs", "1")
    assert p.returncode == 2, p.stderr
    out = json.loads(p.stdout)
    assert [Path(f["source"]).name for f in out["files"]] == ["standard.csv", "limb.csv"]
    assert out["failed"] == [{"source": str(nope), "error": f"{nope}: no such file or folder"},
                             {"source": str(empty), "error": f"{empty}: no labelled recordings in this folder"}]
    assert p.stderr.splitlines() == [f"holdsense: error: {nope}: no such file or folder",
                                     f"holdsense: error: {empty}: no labelled recordings in this folder",
                                     f"holdsense: 2 of 4 files failed: {nope}, {empty}"]
    p = hs("evaluate", nope)  # alone: the one line, as before
    assert p.returncode == 2 and p.stderr == f"holdsense: error: {nope}: no such file or folder\n"


def test_dataset_export_check_and_tampering(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    p = hs("dataset", "export", corpus, "-o", out)
    assert p.returncode == 2 and "unlabelled.csv: no labels beside it" in p.stderr
    p = hs("dataset", "export", corpus, "-o", out, "--include-unlabelled", "--gzip")
    assert p.returncode == 0, p.stderr
    assert "fill in title, licence, consent, contact, shell" in p.stderr
    p = hs("dataset", "check", out)
    assert p.returncode == 2
    problems = [ln for ln in p.stderr.splitlines() if ln.startswith("holdsense: ")]
    assert any("'licence' is not filled in" in ln for ln in problems)
    assert any("'consent' is not filled in" in ln for ln in problems)
    assert any("unlabelled.csv.gz: no labels" in ln for ln in problems)
    info = ["--title", "T", "--licence", "CC-BY-4.0", "--consent", "signed forms, ethics ref 12/34",
            "--contact", "lab@example.org", "--shell", "EVA foam, 14 cm"]
    labelled = [corpus / f"{n}.csv" for n in ("limb", "marked", "reposition", "standard")]
    p = hs("dataset", "export", *labelled, "-o", out, *info)
    assert p.returncode == 2 and "not empty" in p.stderr
    p = hs("dataset", "export", *labelled, "-o", out, *info, "--overwrite")
    assert p.returncode == 0, p.stderr
    p = hs("dataset", "check", out)
    assert p.returncode == 0, p.stderr
    assert "ok: 4 sessions" in p.stdout  # the previous export's files were replaced, not left behind
    sheet = json.loads((out / "datasheet.json").read_text())
    assert sheet["licence"] == "CC-BY-4.0" and {s["recording"] for s in sheet["sessions"]} == {
        "limb.csv", "marked.csv", "reposition.csv", "standard.csv"}
    readme = (out / "README.md").read_text()
    for words in ("CC-BY-4.0", "ethics ref 12/34", "EVA foam", "`force_n`", "`angle_deg`", "load_dataset"):
        assert words in readme
    # recordings published byte for byte
    assert (out / "limb.csv").read_bytes() == (corpus / "limb.csv").read_bytes()
    # the loader works without holdsense: plain python with numpy, from the dataset folder
    p = subprocess.run([sys.executable, "-I", "load_dataset.py", "."], cwd=out, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 4 and "labelled holds" in p.stdout
    # sha256sum agrees with our checksums file when it is installed
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out).returncode == 0
    # tamper: one changed byte, a removed labels file, a stray file -> one line each, exit 2
    data = bytearray((out / "standard.csv").read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    (out / "standard.csv").write_bytes(bytes(data))
    (out / "limb.labels.json").unlink()
    (out / "extra.txt").write_text("x")
    p = hs("dataset", "check", out)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert any("standard.csv: checksum does not match" in ln for ln in lines)
    assert any("limb.labels.json is listed but missing" in ln for ln in lines)
    assert any("limb.csv: no labels" in ln for ln in lines)
    assert any("extra.txt: not listed" in ln for ln in lines)
    assert lines[-1].endswith("4 problems") and "Traceback" not in p.stderr
    for args, words in ((["check", tmp_path / "none"], "not a folder"),
                        (["export", tmp_path / "none", "-o", tmp_path / "o"], "no such file or folder"),
                        (["export", corpus, "-o", corpus / "notes.txt"], "not a folder"),
                        (["export", corpus, "-o", tmp_path / "no" / "such" / "ds"], "does not exist")):
        p = hs("dataset", *args)
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_the_worked_example_dataset_checks_and_evaluates() -> None:
    if not EXAMPLE.is_dir():
        pytest.fail(f"{EXAMPLE} is missing: make example-dataset")
    p = hs("dataset", "check", EXAMPLE)
    assert p.returncode == 0, p.stderr
    size = sum(f.stat().st_size for f in EXAMPLE.iterdir())
    assert size < 2_000_000
    p = hs("evaluate", EXAMPLE, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    sheet = json.loads((EXAMPLE / "datasheet.json").read_text())
    assert len(out["files"]) == len(sheet["sessions"])
    tp = sum(f["events"]["tp"] for f in out["files"])
    assert out["total"]["events"]["tp"] == tp and 0.0 <= out["total"]["event_f1"] <= 1.0
