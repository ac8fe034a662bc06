"""Batch analysis: `holdsense analyze DIR --table OUT.csv --sessions OUT.csv` over real files.

A folder of sessions with one bad file among good ones: the good ones give
rows, the bad one is named (stderr, sessions table) and the exit code is 2.
"""
from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

import lab_support as support

from holdsense.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
from holdsense.lab.batch import HOLD_COLUMNS, SESSION_COLUMNS  # noqa: E402
from holdsense.io.recording import write_recording  # noqa: E402

PLANS = {
    "a-quads.csv": ([("off", 2), ("roll", 10), ("hold", 35), ("roll", 8), ("off", 2)], "quads"),
    "b-calves.csv.gz": ([("roll", 10), ("hold", 12), ("roll", 6), ("hold", 20), ("off", 3)], "calves"),
    "d-nohold.csv": ([("off", 2), ("roll", 25), ("off", 2)], None),
}


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "sessions"
    d.mkdir()
    for k, (name, (plan, region)) in enumerate(PLANS.items()):
        meta = {"sample_rate_hz": 80, "started_utc": f"2026-11-2{k}T10:00:00Z",
                "device": "holdsense-roller fw=0.3.0 id=AA:BB:CC:00:11:22", "body_mass_kg": 70 + k}
        if region:
            meta["region"] = region
        write_recording(d / name, support.synthetic_session(plan, seed=k), meta)
    # the bad one: a recording whose 5th sample row is not a number
    (d / "c-broken.csv").write_text("# format: holdsense-recording/1\nt_s,force_n\n0.0,1\n0.0125,2\n0.025,3\n"
                                    "0.0375,4\n0.05,x\n")
    (d / "notes.txt").write_text("not a recording: ignored\n")
    return d


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_folder_with_a_bad_file_gives_rows_for_the_good_ones_and_exit_2(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    table, sessions = tmp_path / "holds.csv", tmp_path / "sessions.csv"
    r = subprocess.run(support.holdsense_cmd() + ["analyze", str(d), "--table", str(table), "--sessions",
                                                  str(sessions)],
                       capture_output=True, text=True, env=support.cli_env(), timeout=180)
    assert r.returncode == 2
    broken = str(d / "c-broken.csv")
    err = r.stderr.strip().splitlines()
    assert err[0] == f"holdsense: error: {broken}: line 7: column force_n: 'x' is not a number"
    assert err[-1] == f"holdsense: 1 of 4 files failed: {broken}"
    assert "Traceback" not in r.stderr
    assert r.stdout.strip() == (f"analysed 3 of 4 files; wrote {table}: 3 holds; {sessions}: 4 sessions")

    holds = _rows(table)
    assert list(holds[0].keys()) == HOLD_COLUMNS
    assert [(Path(h["file"]).name, h["hold"], h["region"]) for h in holds] == [
        ("a-quads.csv", "1", "quads"), ("b-calves.csv.gz", "1", "calves"), ("b-calves.csv.gz", "2", "calves")]
    # the rows carry exactly what `analyze --json` reports for each file
    j = subprocess.run(support.holdsense_cmd() + ["analyze", str(d / "b-calves.csv.gz"), "--json"],
                       capture_output=True, text=True, env=support.cli_env(), timeout=180)
    expected = json.loads(j.stdout)["holds"]
    for row, h in zip(holds[1:], expected):
        assert float(row["start_s"]) == pytest.approx(h["start_s"], abs=1e-3)
        assert float(row["duration_s"]) == pytest.approx(h["duration_s"], abs=1e-3)
        assert float(row["mean_force_n"]) == pytest.approx(h["mean_force_n"], abs=0.01)
        assert int(row["score"]) == h["score"] and row["grade"] == h["grade"]

    sess = _rows(sessions)
    assert list(sess[0].keys()) == SESSION_COLUMNS
    assert [Path(s["file"]).name for s in sess] == ["a-quads.csv", "b-calves.csv.gz", "c-broken.csv",
                                                   "d-nohold.csv"]
    a, b, c, nohold = sess
    assert a["error"] == "" and a["region"] == "quads" and a["holds"] == "1" and a["holds_over_30s"] == "1"
    assert a["started_utc"] == "2026-11-20T10:00:00Z" and a["body_mass_kg"] == "70"
    assert float(b["longest_hold_s"]) == pytest.approx(max(h["duration_s"] for h in expected), abs=1e-3)
    assert c["error"].endswith("line 7: column force_n: 'x' is not a number") and c["holds"] == ""
    assert nohold["holds"] == "0" and nohold["mean_hold_score"] == "" and nohold["region"] == ""
    assert float(a["duration_s"]) == pytest.approx(57.0, abs=0.2)


def test_json_lines_and_tables_together(tmp_path: Path, capsys) -> None:
    d = _folder(tmp_path)
    (d / "c-broken.csv").unlink()
    table = tmp_path / "t.csv"
    rc = main(["analyze", str(d / "a-quads.csv"), str(d / "d-nohold.csv"), "--json", "--table", str(table)])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert [json.loads(x)["source"] for x in out] == [str(d / "a-quads.csv"), str(d / "d-nohold.csv")]
    assert len(_rows(table)) == 1


def test_single_bad_file_still_writes_the_tables(tmp_path: Path, capsys) -> None:
    d = _folder(tmp_path)
    sessions = tmp_path / "s.csv"
    rc = main(["analyze", str(d / "c-broken.csv"), "--sessions", str(sessions)])
    assert rc == 2
    assert [s["error"] != "" for s in _rows(sessions)] == [True]


@pytest.mark.parametrize("option, where, message", [
    ("--table", "missing/holds.csv", "--table: {tmp}/missing/holds.csv: folder {tmp}/missing does not exist"),
    ("--sessions", "", "--sessions: {tmp} is a folder, not a file name"),
])
def test_unwritable_output_fails_before_the_batch(tmp_path: Path, capsys, option: str, where: str,
                                                   message: str) -> None:
    d = _folder(tmp_path)
    target = str(tmp_path / where) if where else str(tmp_path)
    capsys.readouterr()
    rc = main(["analyze", str(d), option, target])
    out = capsys.readouterr()
    assert rc == 2 and out.out == ""  # nothing analysed: the error comes first
    assert out.err.strip() == "holdsense: error: argument " + message.format(tmp=tmp_path)


@pytest.mark.parametrize("option", ["--table", "--sessions"])
def test_a_table_never_replaces_a_recording(tmp_path: Path, capsys, option: str) -> None:
    """A table path that is one of the batch's recordings (or any other recording) is refused before the batch:
    the table used to be written over it at the end, and the session was gone."""
    d = _folder(tmp_path)
    (d / "c-broken.csv").unlink()
    rec = d / "a-quads.csv"
    before = rec.read_bytes()
    other = tmp_path / "elsewhere.csv"  # a recording not in this batch
    other.write_bytes(before)
    for target, why in ((rec, "is one of the files being analysed"), (other, "is a recording, not a table")):
        capsys.readouterr()
        rc = main(["analyze", str(d), option, str(target)])
        out = capsys.readouterr()
        assert rc == 2 and out.out == ""
        assert out.err.strip() == f"holdsense: error: {option} {target}: {why}; refusing to overwrite it" + (
            " with the table" if target == rec else "")
        assert target.read_bytes() == before
    # an earlier table is still replaced, as before: re-running a batch into the same file is the usual way
    table = tmp_path / "t.csv"
    assert main(["analyze", str(d), option, str(table)]) == 0
    assert main(["analyze", str(d), option, str(table)]) == 0


def test_table_and_sessions_in_one_file_are_refused(tmp_path: Path, capsys) -> None:
    d = _folder(tmp_path)
    same = tmp_path / "both.csv"
    capsys.readouterr()
    rc = main(["analyze", str(d), "--table", str(same), "--sessions", str(same)])
    out = capsys.readouterr()
    assert rc == 2 and out.out == "" and not same.exists()
    assert out.err.strip() == (f"holdsense: error: --table and --sessions both name {same}: the second table "
                               "would replace the first; give each its own file")


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    (d / "c-broken.csv").unlink()
    table = tmp_path / "t.csv"
    # stderr on a pseudo-terminal: the bar is drawn there; stdout (a file) keeps only the summary
    master, slave = pty.openpty()
    with open(tmp_path / "out.txt", "w") as out:
        p = subprocess.Popen(support.holdsense_cmd() + ["analyze", str(d), "--table", str(table)],
                             stdout=out, stderr=slave, stdin=subprocess.DEVNULL, env=support.cli_env(COLUMNS="100"))
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        p.wait(timeout=180)
    os.close(master)
    assert p.returncode == 0
    text = seen.decode("utf-8", "replace")
    assert "analysing" in text and "3/3" in text
    assert (tmp_path / "out.txt").read_text().startswith("analysed 3 of 3 files")
    # not a terminal: no bar, no control codes
    r = subprocess.run(support.holdsense_cmd() + ["analyze", str(d), "--table", str(table)], capture_output=True,
                       text=True, env=support.cli_env(), timeout=180)
    assert r.returncode == 0 and r.stderr == "" and "\x1b" not in r.stdout


def test_folder_mixes_recordings_and_xdf_files(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pyxdf", reason="pyxdf missing: install the lab extra (pip install -e '.[lab]')")
    import xdf_writer as xw
    d = tmp_path / "lab"
    d.mkdir()
    chunk = support.synthetic_session([("roll", 10), ("hold", 32), ("off", 2)], seed=4)
    write_recording(d / "1-roller.csv", chunk, {"sample_rate_hz": 80, "region": "quads"})
    with xw.XdfWriter(d / "2-labrecorder.xdf") as w:
        w.add_stream(1, xw.stream_header_xml(
            name="holdsense-0001", type_="Force", channel_count=2, nominal_srate=80.0, channel_format="double64",
            source_id="holdsense-force-0001", channels=[{"label": "force_n", "unit": "newtons"},
                                                        {"label": "angle_deg", "unit": "degrees"}],
            desc_extra="<holdsense><region>hamstrings</region></holdsense>"))
        w.write_samples(1, (chunk.t_s + 900.0).tolist(), list(zip(chunk.force_n, chunk.angle_deg)))
    (d / "3-empty.xdf").write_text("")  # named .xdf but no XDF inside: its own error, not silently left out
    table = tmp_path / "t.csv"
    rc = main(["analyze", str(d), "--table", str(table)])
    err = capsys.readouterr().err
    assert rc == 2 and f"holdsense: error: {d / '3-empty.xdf'}: not an XDF file" in err, err
    assert "1 of 3 files failed" in err
    rows = _rows(table)
    assert [(Path(r["file"]).name, r["region"]) for r in rows] == [("1-roller.csv", "quads"),
                                                                   ("2-labrecorder.xdf", "hamstrings")]
    assert rows[0]["score"] == rows[1]["score"] and rows[0]["start_s"] == rows[1]["start_s"]


def test_sessions_table_says_a_file_was_read_only_in_part(tmp_path: Path) -> None:
    """A cut-short .csv.gz analysed without a sign of it in the --sessions table: its warning went only to the
    terminal. Now the `warnings` column carries the reader's and the analysis' warnings, each once."""
    import gzip

    whole = (ROOT / "recordings" / "demo-standard.csv").read_bytes()
    packed = gzip.compress(whole)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    sessions = tmp_path / "s.csv"
    r = subprocess.run(support.holdsense_cmd() + ["analyze", str(cut), str(ROOT / "recordings" / "demo-limb.csv"),
                                                  "--sessions", str(sessions)],
                       capture_output=True, text=True, env=support.cli_env(), timeout=180)
    assert r.returncode == 0, r.stderr
    c, limb = _rows(sessions)
    assert "cut short" in c["warnings"] and c["warnings"].count("cut short") == 1, c["warnings"]
    assert not c["warnings"].startswith("holdsense:")
    assert "spurious ADC" in limb["warnings"] and "cut short" not in limb["warnings"]
