"""Issue 18: every hostile file and option gets a clear answer, and no batch loses its good files.

Real files, the real CLI (subprocess where the exit code and stderr are the
point; `holdsense.cli.main` in-process where only argument parsing runs).
Each test here failed on the code before issue 18 (noted per test).
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recordings" / "demo-standard.csv"
FORCE_ONLY = ROOT / "recordings" / "demo-force-only.csv"
HEAD = b"# format: holdsense-recording/1\nt_s,force_n\n"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, stdin=subprocess.DEVNULL)


def _rows(n: int, fmt: bytes, dt: float = 1 / 80) -> bytes:
    return b"".join(fmt % (i * dt) for i in range(n))


def _hostile_folder(tmp_path: Path) -> Path:
    """Two good recordings around the bad kinds a lab folder collects."""
    d = tmp_path / "study"
    d.mkdir()
    shutil.copy(DEMO, d / "a-good.csv")
    gz = gzip.compress(FORCE_ONLY.read_bytes())
    (d / "b-corrupt.csv.gz").write_bytes(gz[:10] + b"\xff" * 40)  # gzip header, then garbage: EOFError before
    (d / "c-one-sample.csv").write_bytes(HEAD + b"0,1\n")  # TypeError in the text report before
    (d / "d-wrong-header.csv").write_bytes(b"# format: holdsense-recording/1\nhello,world\n1,2\n")
    (d / "e-png.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x89PNG" * 20)  # a gzip name, not a gzip inside
    shutil.copy(FORCE_ONLY, d / "f-good.csv")
    (d / "notes.txt").write_text("not a recording\n")  # ignored (contracts.md §3)
    return d


def test_folder_json_lines_one_entry_per_file_and_the_batch_goes_on(tmp_path: Path) -> None:
    # before: `holdsense: internal error: EOFError ...`, exit 1, nothing on stdout
    d = _hostile_folder(tmp_path)
    r = cli("analyze", str(d), "--json", "--jobs", "2")
    assert r.returncode == 2, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    names = [Path(x["source"]).name for x in lines]
    assert names == ["a-good.csv", "b-corrupt.csv.gz", "c-one-sample.csv", "d-wrong-header.csv", "e-png.csv.gz",
                     "f-good.csv"]
    by = dict(zip(names, lines))
    for good in ("a-good.csv", "f-good.csv"):
        assert by[good]["format"] == "holdsense-analysis/1" and by[good]["holds"]
    assert by["c-one-sample.csv"]["format"] == "holdsense-analysis/1"  # one sample is a (short) recording
    assert by["c-one-sample.csv"]["quality"]["sample_rate_hz"] is None
    for bad in ("b-corrupt.csv.gz", "d-wrong-header.csv", "e-png.csv.gz"):
        assert set(by[bad]) == {"source", "error"} and bad in by[bad]["error"]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    err = r.stderr.strip().splitlines()
    assert sum("error:" in ln for ln in err) == 3  # one line per failed file ...
    assert err[-1].startswith("holdsense: 3 of 6 files failed")  # ... and the summary


def test_folder_text_report_keeps_good_files(tmp_path: Path) -> None:
    # before: internal error, exit 1, no report at all
    d = _hostile_folder(tmp_path)
    r = cli("analyze", str(d), "--jobs", "1")
    assert r.returncode == 2
    assert "a-good.csv: 6:37 session" in r.stdout and "f-good.csv:" in r.stdout
    assert "c-one-sample.csv: 0:00 session, sample rate unknown" in r.stdout
    assert "internal error" not in r.stderr


def test_batch_tables_keep_good_files(tmp_path: Path) -> None:
    d = _hostile_folder(tmp_path)
    table, sessions = tmp_path / "holds.csv", tmp_path / "sessions.csv"
    r = cli("analyze", str(d), "--table", str(table), "--sessions", str(sessions))
    assert r.returncode == 2
    with sessions.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(x["file"]).name for x in rows][:2] == ["a-good.csv", "b-corrupt.csv.gz"]
    errors = {Path(x["file"]).name: x["error"] for x in rows}
    assert errors["a-good.csv"] == "" and errors["f-good.csv"] == "" and errors["b-corrupt.csv.gz"]
    with table.open() as fh:
        holds = list(csv.DictReader(fh))
    assert {Path(h["file"]).name for h in holds} == {"a-good.csv", "f-good.csv"}


def test_jobs_gives_the_single_process_result(tmp_path: Path) -> None:
    d = _hostile_folder(tmp_path)
    one = cli("analyze", str(d), "--json", "--jobs", "1")
    two = cli("analyze", str(d), "--json", "--jobs", "2")
    assert one.returncode == two.returncode == 2
    assert one.stdout == two.stdout  # byte-identical JSON Lines, in input order


def test_a_file_the_reader_chokes_on_is_one_entry(tmp_path: Path) -> None:
    # t_s of 1e300: ValueError (exit 1) in the reader/resampler before; whatever the reader now says about it,
    # it is one entry of the batch and the good file beside it is analysed.
    d = tmp_path / "f"
    d.mkdir()
    shutil.copy(FORCE_ONLY, d / "a.csv")
    (d / "b.csv").write_bytes(HEAD + b"0,1\n1e300,2\n")
    r = cli("analyze", str(d), "--json")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 2 and len(lines) == 2
    assert lines[0]["holds"] and set(lines[1]) == {"source", "error"}


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads files without read permission: run as a normal user to check this")
def test_unreadable_file_in_a_folder_is_one_entry(tmp_path: Path) -> None:
    d = tmp_path / "f"
    d.mkdir()
    shutil.copy(FORCE_ONLY, d / "a.csv")
    shutil.copy(FORCE_ONLY, d / "b.csv")
    (d / "b.csv").chmod(0)
    try:
        r = cli("analyze", str(d), "--json")
    finally:
        (d / "b.csv").chmod(0o644)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 2 and [Path(x["source"]).name for x in lines] == ["a.csv", "b.csv"]
    assert "error" in lines[1] and "ermission" in lines[1]["error"]


def test_a_folder_without_recordings_among_other_inputs_is_one_entry(tmp_path: Path) -> None:
    # before: the empty folder vanished from the batch without a word (its JSON entry, its sessions row, the
    # failure count), and the exit code was 0 when the other inputs read
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes"  # recordings only in a subfolder, which is not searched: no recording here either
    notes.mkdir()
    (notes / "readme.txt").write_text("not a recording\n")
    (notes / "sub").mkdir()
    shutil.copy(FORCE_ONLY, notes / "sub" / "x.csv")
    shutil.copy(FORCE_ONLY, tmp_path / "a.csv")
    sessions = tmp_path / "s.csv"
    r = cli("analyze", str(tmp_path / "a.csv"), str(empty), str(notes), "--json", "--sessions", str(sessions))
    assert r.returncode == 2, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["source"] for x in lines] == [str(tmp_path / "a.csv"), str(empty), str(notes)]
    assert lines[0]["format"] == "holdsense-analysis/1"
    for d, entry in ((empty, lines[1]), (notes, lines[2])):
        assert entry == {"source": str(d), "error": f"{d}: no recordings found in this folder"}
    assert r.stderr.splitlines() == [f"holdsense: error: {empty}: no recordings found in this folder",
                                     f"holdsense: error: {notes}: no recordings found in this folder",
                                     f"holdsense: 2 of 3 files failed: {empty}, {notes}"]
    with open(sessions, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(x["file"], bool(x["error"])) for x in rows] == [(str(tmp_path / "a.csv"), False), (str(empty), True),
                                                            (str(notes), True)]
    # alone, as before: the one line, exit 2
    r = cli("analyze", str(empty))
    assert r.returncode == 2 and r.stderr == f"holdsense: error: no recordings found in {empty}\n"


def test_a_folder_that_cannot_be_listed_does_not_stop_the_batch(tmp_path: Path, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # before: `cannot list the folder` ended the whole batch before any file was read, good ones included
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(FORCE_ONLY, tmp_path / "a.csv")
    real_listdir = os.listdir

    def listdir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)  # as for a folder without read permission (root reads any)
    rc = main(["analyze", str(tmp_path / "a.csv"), str(locked), "--json", "--jobs", "1"])
    out = capsys.readouterr()
    assert rc == 2
    lines = [json.loads(x) for x in out.out.splitlines()]
    assert lines[0]["source"] == str(tmp_path / "a.csv") and lines[0]["holds"]
    assert lines[1] == {"source": str(locked), "error": f"{locked}: cannot list the folder (Permission denied)"}
    assert f"holdsense: error: {locked}: cannot list the folder (Permission denied)" in out.err.splitlines()
    rc = main(["analyze", str(locked)])
    assert rc == 2 and capsys.readouterr().err == (f"holdsense: error: {locked}: cannot list the folder "
                                                   "(Permission denied)\n")


def _broken_recordings_folder(tmp_path: Path) -> Path:
    """A good recording among files named like recordings that cannot be read, a table and a note."""
    d = tmp_path / "lab"
    d.mkdir()
    text = FORCE_ONLY.read_bytes()
    shutil.copy(FORCE_ONLY, d / "a-good.csv")
    (d / "b-random.csv").write_bytes(bytes(range(256)) * 8)
    (d / "c-empty.csv").write_bytes(b"")
    (d / "d-cr-only.csv").write_bytes(text.replace(b"\n", b"\r"))
    (d / "e-newer.csv").write_bytes(text.replace(b"holdsense-recording/1", b"holdsense-recording/9", 1))
    (d / "f-no-metadata.csv").write_bytes(b"".join(ln for ln in text.splitlines(True) if not ln.startswith(b"#")))
    (d / "g-fake.csv.gz").write_bytes(b"hello, not gzip\n")
    (d / "holds.csv").write_bytes(b"file,hold,start_s,end_s\nx.csv,1,2.0,40.0\n")  # a --table output: skipped
    (d / "notes.txt").write_text("not a recording\n")  # another name, another kind: ignored
    return d


BROKEN = ["b-random.csv", "c-empty.csv", "d-cr-only.csv", "e-newer.csv", "f-no-metadata.csv", "g-fake.csv.gz"]


def test_folder_files_named_like_recordings_that_do_not_read_are_entries(tmp_path: Path) -> None:
    # before: the six broken files were left out of the JSON Lines and --sessions without a word, exit 0
    d = _broken_recordings_folder(tmp_path)
    sessions = tmp_path / "sessions.csv"
    r = cli("analyze", str(d), "--json", "--jobs", "1", "--sessions", str(sessions))
    assert r.returncode == 2, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["source"]).name for x in lines] == ["a-good.csv"] + BROKEN
    assert lines[0]["holds"]
    for entry in lines[1:]:
        assert set(entry) == {"source", "error"} and Path(entry["source"]).name in entry["error"]
    assert "holdsense-recording/9" in lines[4]["error"]
    with sessions.open() as fh:
        rows = {Path(x["file"]).name: x["error"] for x in csv.DictReader(fh)}
    assert sorted(rows) == ["a-good.csv"] + BROKEN and all(rows[b] for b in BROKEN)
    err = r.stderr.splitlines()
    assert sum(ln.startswith("holdsense: error: ") for ln in err) == 6
    assert err[-1].startswith("holdsense: 6 of 7 files failed")
    notes = [ln for ln in err if "note:" in ln]
    assert notes == [f"holdsense: note: {d / 'holds.csv'}: a table with columns 'file,hold,start_s,end_s', "
                     "not a recording (no '# format:' line), skipped"]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


def test_folder_with_a_table_beside_the_recordings_is_a_clean_batch(tmp_path: Path) -> None:
    # `analyze lab/ --sessions lab/sessions.csv` twice: the first run's table is noted and skipped, not a failure
    d = tmp_path / "lab"
    d.mkdir()
    shutil.copy(FORCE_ONLY, d / "a.csv")
    r = cli("analyze", str(d), "--sessions", str(d / "sessions.csv"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = cli("analyze", str(d), "--sessions", str(d / "sessions.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f"holdsense: note: {d / 'sessions.csv'}: a table with columns 'file,region,")
    assert r.stdout.startswith("analysed 1 of 1 file")


def test_a_gzip_cut_short_in_a_folder_is_analysed_with_a_warning_that_says_so(tmp_path: Path) -> None:
    # before: analysed with only 'line 8761: half-written last line skipped', not saying the gzip stream was cut
    d = tmp_path / "lab"
    d.mkdir()
    shutil.copy(FORCE_ONLY, d / "a-good.csv")
    gz = gzip.compress(DEMO.read_bytes())
    (d / "b-trunc.csv.gz").write_bytes(gz[: len(gz) // 2])
    r = cli("analyze", str(d), "--json", "--jobs", "1")
    assert r.returncode == 0, r.stderr  # recorded data is never thrown away: what is there is analysed
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["source"]).name for x in lines] == ["a-good.csv", "b-trunc.csv.gz"]
    cut = [w for w in lines[1]["quality"]["warnings"] if "gzip" in w]
    assert len(cut) == 1 and cut[0].startswith(f"{d / 'b-trunc.csv.gz'}: gzip stream ends early (file cut short?); "
                                               "line ") and cut[0].endswith(": half-written last line skipped")
    assert r.stderr == f"holdsense: warning: {cut[0]}\n"


@pytest.mark.parametrize("name, body, note", [
    ("allnan.csv", HEAD + _rows(2000, b"%g,\n"), "no usable force"),
    ("huge.csv", HEAD + _rows(2000, b"%g,1e300\n"), "impossible force"),
    ("negative.csv", HEAD + _rows(2000, b"%g,-1e7\n"), "impossible force"),
    ("saturated.csv", b"# format: holdsense-recording/1\nt_s,force_n,flags\n" + _rows(2000, b"%g,500,sat\n"),
     "saturated"),
])
def test_degenerate_columns_give_diagnostics_not_numpy_warnings(tmp_path: Path, name: str, body: bytes,
                                                                note: str) -> None:
    # before: RuntimeWarning: invalid value encountered in subtract / overflow encountered in multiply on stderr
    p = tmp_path / name
    p.write_bytes(body)
    r = cli("analyze", str(p), "--json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    q = json.loads(r.stdout)["quality"]
    assert any(note in w for w in q["warnings"]), q
    r = cli("replay", str(p), "--speed", "max", "--plain")  # the live path, on the same samples
    assert r.returncode == 0 and "Warning" not in r.stderr, r.stderr


# ------------------------------------------------------------------------------------------- options
BAD_OPTIONS = [
    (["analyze", str(DEMO), "--body-mass", "-5"], "--body-mass"),
    (["analyze", str(DEMO), "--body-mass", "nan"], "--body-mass"),
    (["analyze", str(DEMO), "--body-mass", "inf"], "--body-mass"),
    (["analyze", str(DEMO), "--jobs", "0"], "--jobs"),
    (["analyze", str(DEMO), "--plot", "/nonexistent/dir/x.png"], "folder /nonexistent/dir does not exist"),
    (["analyze", str(DEMO), "--plot", "x.jpgz"], "not an image type"),
    (["analyze", str(DEMO), "--plot", "x"], "not an image type"),
    (["analyze", str(DEMO), "--table", "/nonexistent/t.csv"], "--table"),
    (["report", str(DEMO), "-o", "r.docx"], "unknown file type"),
    (["report", str(DEMO), "-o", "/nonexistent/r.html"], "does not exist"),
    (["report", str(DEMO), "-o", "r.html", "--body-mass", "1e9"], "--body-mass"),
    (["replay", str(DEMO), "--speed", "0"], "'max' plays as fast as possible"),
    (["replay", str(DEMO), "--speed", "-2"], "--speed"),
    (["replay", str(DEMO), "--skip", "nan"], "--skip"),
    (["replay", str(DEMO), "--skip", "0"], "--skip"),
    (["replay", str(DEMO), "--lsl", "--lsl-wait", "-1"], "--lsl-wait"),
    (["session", "--replay", str(DEMO), "--speed", "0"], "--speed"),
    (["session", "--replay", str(DEMO), "--duration", "0"], "--duration"),
    (["record", "--port", "/dev/null", "--duration", "-1"], "--duration"),
    (["record", "--port", "/dev/null", "--timeout", "0"], "--timeout"),
    (["record", "--port", "/dev/null", "-o", "/nonexistent/x.csv"], "does not exist"),
    (["live", "--port", "/dev/null", "--body-mass", "0"], "--body-mass"),
    (["virtual-device", "--speed", "0"], "--speed"),
    (["virtual-device", "--speed", "max"], "finite speed"),
    (["virtual-device", "--tcp", "99999"], "--tcp"),
    (["virtual-device", "--ble", "--ble-mtu", "1"], "--ble-mtu"),
    (["virtual-device", "--seed", "-1"], "--seed"),
    (["virtual-device", "--device-id", "7CDFA1"], "--device-id"),
    (["simulate", "--body-mass", "5", "-o", "x.csv"], "--body-mass"),
    (["simulate", "--rate", "0", "-o", "x.csv"], "--rate"),
    (["simulate", "-o", "/nonexistent/x.csv"], "does not exist"),
    (["calibrate", "--port", "/dev/null", "--gravity", "1.6"], "--gravity"),
    (["calibrate", "--port", "/dev/null", "--window", "100"], "--window"),
    (["calibrate", "--port", "/dev/null", "--save", "/nonexistent/c.json"], "--save"),
    (["tare", "--port", "/dev/null", "--samples", "-1"], "--samples"),
    (["tare", "--port", "/dev/null", "--samples", "2001"], "--samples"),  # the roller's limit (it refused)
    (["devices", "--timeout", "nan"], "--timeout"),
    (["devices", "--ble-scan", "-1"], "--ble-scan"),
    (["capture-info", "x.hscap", "--records", "-1"], "--records"),
    (["history", "--plot", "trend.jpgz"], "not an image type"),
]


@pytest.mark.parametrize("argv, needle", BAD_OPTIONS, ids=[" ".join(a[:1] + a[2:]) for a, _ in BAD_OPTIONS])
def test_bad_option_one_line_exit_2_before_any_work(argv: list[str], needle: str, capsys, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # before: --plot x.jpgz / --plot /nonexistent/... and --tcp 99999 were internal errors (exit 1);
    # --speed 0 was accepted; history --plot x.jpgz opened the history first
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    out = capsys.readouterr()
    err = out.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], out.err
    assert out.out == "" and "Traceback" not in out.err
    assert list(tmp_path.iterdir()) == []  # nothing written: the check came before the work


@pytest.mark.parametrize("value", ["-1", "0", "abc", "20000", "nan"])
def test_virtual_device_speed_message_offers_only_what_it_accepts(value: str, capsys) -> None:
    # before: "(more than 0 to 10000, or max)", and --speed max is refused by the virtual roller
    rc = main(["virtual-device", "--speed", value])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "more than 0 to 10000" in err and "max" not in err, err


def test_bad_option_through_the_real_cli() -> None:
    r = cli("analyze", str(DEMO), "--plot", "/nonexistent/dir/x.png")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "internal error" not in r.stderr


def test_unknown_profile_said_once() -> None:
    # before: "unknown profile 'x' (unknown profile 'x' (available: ...))", and once per file of a batch
    r = cli("analyze", str(DEMO), str(FORCE_ONLY), "--profile", "no-such-profile")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("unknown profile") == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_session_replay_of_a_missing_file_names_the_file(tmp_path: Path) -> None:
    # before: "no terminal to ask the session's questions on: give --answers FILE.json"
    missing = tmp_path / "nope.csv"
    r = cli("session", "--replay", str(missing), "--db", str(tmp_path / "h.sqlite3"))
    assert r.returncode == 2 and str(missing) in r.stderr and "--answers" not in r.stderr
    assert not (tmp_path / "h.sqlite3").exists()


def test_good_values_still_parse() -> None:
    from holdsense.cli import build_parser

    p = build_parser()
    a = p.parse_args(["analyze", "x.csv", "--body-mass", "72.5", "--jobs", "3", "--plot", "out.svg"])
    assert a.body_mass_kg == 72.5 and a.jobs == 3 and a.plot == "out.svg"
    a = p.parse_args(["replay", "x.csv", "--speed", "max", "--skip", "5"])
    assert a.speed == float("inf") and a.skip_s == 5.0
    a = p.parse_args(["replay", "x.csv", "--speed", "10x"])
    assert a.speed == 10.0
    a = p.parse_args(["virtual-device", "--tcp", "0", "--speed", "4", "--seed", "3"])
    assert (a.tcp, a.speed, a.seed) == (0, 4.0, 3)


def test_ctrl_c_stops_a_parallel_batch_cleanly(tmp_path: Path) -> None:
    # before: every worker printed its own KeyboardInterrupt traceback, and running workers finished their files
    import signal
    import time

    d = tmp_path / "many"
    d.mkdir()
    for k in range(10):
        shutil.copy(DEMO, d / f"s{k:02d}.csv")
    p = subprocess.Popen([sys.executable, "-m", "holdsense.cli", "analyze", str(d), "--json", "--jobs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         stdin=subprocess.DEVNULL)
    try:
        assert p.stdout.readline().startswith('{"format"')  # the batch is running
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C on a terminal does: the whole process group
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # no worker left behind (zombies are reaped by init, give it a moment)
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes still running after the batch was interrupted")


def test_a_line_break_in_a_file_name_keeps_the_error_one_line(tmp_path: Path, capsys) -> None:
    # before: the name's line break split the error over two lines on stderr
    odd = tmp_path / "a\nb.csv"
    rc = main(["analyze", str(odd), str(FORCE_ONLY), "--json"])
    out = capsys.readouterr()
    assert rc == 2
    err = out.err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("holdsense: error: ") and "a\\nb.csv" in err[0], out.err
    first = json.loads(out.out.splitlines()[0])
    assert first["source"] == str(odd) and "no such file" in first["error"]  # JSON keeps the exact name


def test_plot_that_cannot_be_written_is_one_error_line(capsys) -> None:
    # before: internal error (FileNotFoundError from matplotlib), exit 1
    rc = main(["analyze", str(FORCE_ONLY), "--plot", "/proc/holdsense-test.png"])
    out = capsys.readouterr()
    assert rc == 2 and len(out.err.strip().splitlines()) == 1 and "internal error" not in out.err, out.err


def test_plot_of_impossible_values_finishes(tmp_path: Path, capsys) -> None:
    # before: angle cells of 1e300 sent matplotlib's tick search into a loop of minutes
    p = tmp_path / "hugeangle.csv"
    p.write_bytes(b"# format: holdsense-recording/1\nt_s,force_n,angle_deg\n"
                  + b"".join(b"%g,200,%g\n" % (i / 80, 1e300 * (i % 2)) for i in range(800)))
    rc = main(["analyze", str(p), "--plot", str(tmp_path / "h.png")])
    out = capsys.readouterr()
    assert rc == 0 and (tmp_path / "h.png").stat().st_size > 1000, out.err
    assert "impossible" in out.out  # the data-quality line says what was left out


def test_a_saturated_sample_is_reported_once(tmp_path: Path, capsys) -> None:
    """A `sat` sample whose force the calibration made absurd (-109 488 N) was counted twice: as saturated
    and as an impossible force. It is one saturated sample; an unflagged absurd cell is still 'impossible'."""
    p = tmp_path / "sat.csv"
    rows = [b"%g,%s,%s\n" % (i / 80, b"-109488" if i in (300, 301, 302) else (b"1e9" if i == 500 else b"200"),
                              b"sat" if i in (300, 301, 302) else b"") for i in range(1600)]
    p.write_bytes(b"# format: holdsense-recording/1\nt_s,force_n,flags\n" + b"".join(rows))
    rc = main(["analyze", str(p), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    warnings = json.loads(out.out)["quality"]["warnings"]
    assert any(w.startswith("3 saturated samples ignored") for w in warnings), warnings
    assert any(w.startswith("1 sample with an impossible force") for w in warnings), warnings


def test_one_corrupt_time_stamp_costs_one_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One device time stamp 9e6 s ahead (a flipped bit) in samples a loader hands over whole (a capture
    replayed through the link decoder, an XDF stream): before, `analyze` refused the recording (time "goes
    backwards" after it, and "spans more than 24 h") while the live detector lost everything after it.
    Now it costs that sample, as the detector drops it live (rollsignal.timeguard): the analysis of the
    samples without it plus a warning saying so, and the plot's time axis is the session's. Time that
    really goes back is still refused, naming the sample."""
    from dataclasses import replace

    import numpy as np

    from holdsense import plots
    from holdsense.analysis import analyze_recording, plot_analysis
    from holdsense.errors import UserError
    from holdsense.io.recording import read_recording
    from rollsignal import SampleChunk

    rec = read_recording(DEMO)
    s = rec.samples
    i = 10_000
    t = s.t_s.copy()
    t[i] = 9e6
    bad = replace(rec, samples=replace(s, t_s=t))
    keep = np.arange(len(s)) != i
    ref = analyze_recording(replace(rec, samples=SampleChunk(s.t_s[keep], s.force_n[keep], s.angle_deg[keep],
                                                             s.flags[keep], s.raw_counts[keep])))
    got = analyze_recording(bad)
    warn = [w for w in got["quality"]["warnings"] if "jumped" in w]
    assert len(warn) == 1 and warn[0].startswith("1 sample dropped: their device time jumped more than 1 s")
    got["quality"]["warnings"].remove(warn[0])
    assert got == ref
    figs = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi: figs.append(fig))
    plot_analysis(bad, ref, tmp_path / "p.png")
    assert figs[0].axes[0].get_xlim()[1] < s.t_s[-1] / 60 * 1.1  # minutes; not stretched to 9e6 s
    assert not [c for c in figs[0].axes[0].collections if c.get_gid() == "gap"]
    # time that really goes back (a clock restarted, samples out of order) is still refused, naming the sample
    t = s.t_s.copy()
    t[i:] -= 5.0
    with pytest.raises(UserError) as exc:
        analyze_recording(replace(rec, samples=replace(s, t_s=t)))
    assert str(exc.value) == f"{rec.source}: sample {i + 1}: device time goes backwards ({t[i]:g} s after {s.t_s[i - 1]:g} s)"
