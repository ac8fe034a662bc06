"""Raw wire captures (holdsense.io.capture, holdsense.virtual.capture): format, reader errors, the capture library decoding to exactly the
recordings made at the same time, analyze/capture-info on captures, the replay engine's command answering."""
from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from holdsense import cli
from holdsense.io.capture import (K_DEVICE, K_END, K_HEADER, K_LINK_CLOSED, K_LINK_OPEN, K_RX, K_TX, CaptureError,
                                  encode_record, file_magic, is_capture, read_capture)
from holdsense.virtual.capture import CaptureTransport, ReplayEngine, _VirtualClock, decode_capture
from holdsense.listeners.capture_tap import CaptureWriter
from holdsense.io.recording import read_recording
from holdsense.link.transport import Transport
from holdsense.pytest_plugin import assert_same_samples
from rollsignal import SampleChunk

LIB = Path(__file__).resolve().parents[2] / "captures"
NAMES = ["session", "limb", "dropout", "reconnect", "corrupt", "reboot"]


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(list(args))
    return rc, out.getvalue(), err.getvalue()


class FakeLink(Transport):
    """A transport whose received chunks are scripted (the writer only needs the tap interface)."""

    name = "serial /dev/fake"
    port = "/dev/fake"

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__()
        self.chunks = list(chunks)
        self.sent: list[bytes] = []

    def _recv_chunk(self, timeout_s):
        return self.chunks.pop(0) if self.chunks else None

    def _write(self, data):
        self.sent.append(data)


def test_writer_reader_round_trip(tmp_path):
    path = tmp_path / "x.hscap"
    clock = iter([1000.0, 1000.5, 1000.25, 1003.0, 1004.0, 1005.0, 1006.0, 1007.0])
    w = CaptureWriter(path, session={"body_mass_kg": 70, "region": "quads", "duration_s": None},
                      clock=lambda: next(clock))
    link = FakeLink([b"\x00\x01garbage", bytes(range(256)) * 4])
    w.attach_transport(link)
    link.write(b"\x02\x10\x01\x04\x01F\x8f\x00")
    assert link.recv(0.1) == b"\x00\x01garbage"
    assert link.recv(0.1) == bytes(range(256)) * 4
    w.tap("rx", b"late", 999.0)  # a wall clock stepping back: negative delta, kept
    w.on_info({"fw_version": "9.9", "boot_id": 7})
    w.close({"samples": 3})
    w.close()  # twice is fine
    cap = read_capture(path)
    assert cap.complete and not cap.truncated and not cap.warnings
    assert cap.header["format"] == "holdsense-capture/1"
    assert cap.header["session"] == {"body_mass_kg": 70, "region": "quads"}
    assert cap.t0_unix_s == 1000.0
    kinds = [r.kind for r in cap.records]
    assert kinds == [K_HEADER, K_LINK_OPEN, K_TX, K_RX, K_RX, K_RX, K_DEVICE, K_LINK_CLOSED, K_END]
    assert [r.data for r in cap.records if r.kind == K_RX] == [b"\x00\x01garbage", bytes(range(256)) * 4, b"late"]
    assert cap.records[-4].t_s == pytest.approx(-1.0)
    assert cap.links[0].info["name"] == "serial /dev/fake" and not cap.links[0].packetized
    assert cap.end["stats"] == {"samples": 3}
    assert is_capture(path) and not is_capture(tmp_path)


def test_unknown_record_kinds_are_skipped(tmp_path):
    body = (file_magic() + encode_record(K_HEADER, 0, b'{"format":"holdsense-capture/1"}')
            + encode_record(0x55, 10, b"from a newer minor version") + encode_record(K_RX, 20, b"abc"))
    p = tmp_path / "new.hscap"
    p.write_bytes(gzip.compress(body))
    cap = read_capture(p)
    assert [r.kind for r in cap.records] == [K_HEADER, K_RX]
    assert cap.records[1].t_s == pytest.approx(30e-6)


# gzip with mtime=0 and the message as the test's id: the collected names must not depend on the clock
# (pytest-xdist workers each collect, and refuse to run when their test lists differ)
CORRUPT_CAPTURES = [
    (b"", "empty file"),
    (b"t_s,force_n\n0,1\n", "not gzip-compressed"),
    (gzip.compress(b"# format: holdsense-recording/1\n", mtime=0), "without the holdsense-capture/1 magic"),
    (gzip.compress(b"HSCAP\x02\x00\x00", mtime=0), "format version 2.0"),
    (gzip.compress(file_magic() + encode_record(K_HEADER, 0, b"{not json"), mtime=0), "not valid JSON"),
    (gzip.compress(file_magic() + encode_record(K_RX, 0, b"abc"), mtime=0), "not the header"),
    (b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic", "gzip data unreadable"),
]


@pytest.mark.parametrize("content, message", CORRUPT_CAPTURES, ids=[m for _, m in CORRUPT_CAPTURES])
def test_corrupt_capture_is_one_error_line_exit_2(tmp_path, content, message):
    p = tmp_path / "bad.hscap"
    p.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        read_capture(p)
    for cmd in (["capture-info", str(p)], ["analyze", str(p)]):
        rc, out, err = run_cli(*cmd)
        assert rc == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("holdsense: error: ") and message in lines[0], err


def test_missing_capture_file(tmp_path):
    rc, _, err = run_cli("capture-info", str(tmp_path / "nope.hscap"))
    assert rc == 2 and "no such file" in err


def test_truncated_capture_reads_up_to_the_cut(tmp_path):
    src = (LIB / "session.hscap").read_bytes()
    full = read_capture(LIB / "session.hscap")
    p = tmp_path / "cut.hscap"
    p.write_bytes(src[: len(src) // 2])  # a writer killed mid-stream: no gzip trailer, a record cut in half
    cap = read_capture(p)
    assert cap.truncated and not cap.complete and "ends abruptly" in cap.warnings[0]
    assert 0.3 * full.duration_s < cap.duration_s < 0.7 * full.duration_s
    for a, b in zip(cap.records, full.records):
        assert (a.kind, a.t_s, a.data) == (b.kind, b.t_s, b.data)
    dec = decode_capture(cap)
    assert len(dec.samples) > 500
    rec = read_recording(LIB / "session.csv.gz", warn=None)
    n = len(dec.samples)
    assert np.array_equal(dec.to_recording().samples.raw_counts, rec.samples.raw_counts[:n])


def test_truncated_capture_from_a_pipe_warns_as_the_file_does(tmp_path):
    """The same cut capture, from a file and through a pipe (standard input, which is spooled to a temporary
    file): one and the same warning naming what the user gave (it said nothing from a pipe), and the same
    analysis with the warning in its quality section."""
    src = (LIB / "session.hscap").read_bytes()
    p = tmp_path / "cut.hscap"
    p.write_bytes(src[: len(src) // 2])
    from_file = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", str(p), "--json"],
                               capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    with open(p, "rb") as fh:
        from_pipe = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", "-", "--json"], stdin=fh,
                                   capture_output=True, text=True, timeout=120)
    assert from_file.returncode == 0 and from_pipe.returncode == 0, from_file.stderr + from_pipe.stderr
    (w_file,) = [ln for ln in from_file.stderr.splitlines() if "ends abruptly" in ln]
    (w_pipe,) = [ln for ln in from_pipe.stderr.splitlines() if "ends abruptly" in ln]
    assert w_file.startswith(f"holdsense: warning: {p}: capture ends abruptly after ")
    assert w_pipe == w_file.replace(str(p), "<stdin>"), (w_pipe, w_file)
    a, b = json.loads(from_file.stdout), json.loads(from_pipe.stdout)
    assert b["quality"]["warnings"] == [w.replace(str(p), "<stdin>") for w in a["quality"]["warnings"]]
    assert b["holds"] == a["holds"] and b["summary"] == a["summary"]
    # an error names what the user gave too, not the temporary copy
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", "-"], input=src[:100],
                       capture_output=True, timeout=120)
    assert r.returncode == 2 and r.stderr.decode().startswith("holdsense: error: <stdin>: "), r.stderr


def test_bytes_appended_after_a_complete_capture_are_named_as_such(tmp_path):
    """A finished capture with something appended: complete, every record kept, and the warning says so
    instead of calling it a killed recorder's cut file."""
    full = read_capture(LIB / "session.hscap")
    p = tmp_path / "appended.hscap"
    p.write_bytes((LIB / "session.hscap").read_bytes() + b"GARBAGE-AFTER-THE-END-1234567890")
    cap = read_capture(p)
    assert cap.complete and not cap.truncated and len(cap.records) == len(full.records)
    (w,) = cap.warnings
    assert "after the capture's end are not gzip data: ignored" in w and "abruptly" not in w


@pytest.mark.parametrize("name", NAMES)
def test_library_capture_decodes_to_the_recording_made_with_it(name):
    dec = decode_capture(LIB / f"{name}.hscap")
    rec = read_recording(LIB / f"{name}.csv.gz", warn=None)
    # after a reboot the host places the new time base by host time that passed: the capture's tap time and the
    # recorder's own clock differ by a few ms, so t_s after a reboot agrees to 0.05 s; everything else exactly
    assert_same_samples(dec.to_recording().samples, rec.samples, t_atol_s=0.05 if name == "reboot" else 0.0)
    st = dec.stats
    expect = {
        "session": dict(reconnects=0, lost=0, reboots=0),
        "limb": dict(reconnects=0, lost=0, reboots=0),
        "dropout": dict(reconnects=1, reboots=0),
        "reconnect": dict(reconnects=1, reboots=0),
        "corrupt": dict(reconnects=0, reboots=0),
        "reboot": dict(reconnects=0, reboots=1),
    }[name]
    assert st["reconnects"] == expect["reconnects"] and st["reboots"] == expect["reboots"]
    if "lost" in expect:
        assert st["lost_samples"] == expect["lost"]
    if name == "dropout":
        assert st["lost_samples"] > 100 and [g["reason"] for g in dec.gaps] == ["lost"]
    if name == "corrupt":
        assert dec.frames["crc_errors"] + dec.frames["cobs_errors"] >= 2 and dec.frames["bytes_discarded"] > 300
        assert st["corrupt_frames"] >= 2
    if name == "reboot":
        assert [g["reason"] for g in dec.gaps] == ["reboot"] and dec.frames["bytes_discarded"] > 100
    assert st["commands_injected"] == 0  # the host asked exactly what the capture's host asked


@pytest.mark.parametrize("name", ["session", "limb", "dropout"])
def test_analyze_capture_equals_analyze_recording(name):
    from holdsense.analysis import analyze_recording, load_for_analysis

    a = analyze_recording(load_for_analysis(str(LIB / f"{name}.hscap")))
    b = analyze_recording(load_for_analysis(str(LIB / f"{name}.csv.gz")))
    a.pop("source"), b.pop("source")
    assert a == b
    assert len(a["holds"]) == 1  # the scripted 35 s hold (limb: with the knee bending)


def test_analyze_capture_cli_subprocess(tmp_path):
    shutil.copy(LIB / "session.hscap", tmp_path / "s.hscap")
    shutil.copy(LIB / "session.csv.gz", tmp_path / "s.csv.gz")
    outs = []
    for f in ("s.hscap", "s.csv.gz"):
        p = subprocess.run([sys.executable, "-m", "holdsense.cli", "analyze", f, "--json"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        d = json.loads(p.stdout)
        d.pop("source")
        outs.append(d)
    assert outs[0] == outs[1]
    # a folder with both analyses both (a capture counts as a recording)
    rc, out, _ = run_cli("analyze", str(tmp_path), "--json")
    assert rc == 0 and len(out.strip().splitlines()) == 2


def test_capture_info_text_and_json():
    rc, out, err = run_cli("capture-info", str(LIB / "dropout.hscap"))
    assert rc == 0, err
    assert "holdsense-capture/1.0, complete" in out
    assert "reconnects 1" in out
    links_text = [ln.split()[:2] for ln in out.splitlines() if ln.startswith("  link ")]
    assert links_text == [["link", "0"], ["link", "1"]], out  # from 0, as the JSON and the format number them
    rc, out_json, _ = run_cli("capture-info", str(LIB / "dropout.hscap"), "--json")
    links = json.loads(out_json)["links"]
    assert [li["link"] for li in links] == [0, 1] and links[1]["open_s"] > links[0]["close_s"]
    for (_, n), li in zip(links_text, links):  # the same link under the same number in both
        assert f"link {n}     {li['name']} " in out and f"open at {li['open_s']:.1f} s" in out
    assert "gaps       1: " in out and " lost (" in out
    assert "device     holdsense-roller fw=" in out and "board esp32s3" in out
    assert "info ×2, start ×2, stop ×1" in out
    rc, out, _ = run_cli("capture-info", str(LIB / "corrupt.hscap"), "--json", "--records", "3")
    d = json.loads(out)  # one JSON object, the records in it (they followed it as text lines: not JSON)
    assert d["complete"] and d["frames"]["crc_errors"] + d["frames"]["cobs_errors"] >= 2
    assert d["duration_s"] > 5 and d["samples"]["count"] > 1000 and d["device"]["board"] == "esp32s3"
    assert len(d["links"]) == 1 and d["links"][0]["transport"] == "serial"
    recs = d["records"]
    assert [r["kind"] for r in recs] == ["header", "link_open", "tx"] and [r["link"] for r in recs] == [-1, 0, 0]
    cap = read_capture(LIB / "corrupt.hscap")
    assert recs[0]["json"] == json.loads(json.dumps(cap.header)) and recs[0]["bytes"] == len(cap.records[0].data)
    assert bytes.fromhex(recs[2]["hex"]) == cap.records[2].data and recs[2]["t_s"] == round(cap.records[2].t_s, 6)
    rc, out, _ = run_cli("capture-info", str(LIB / "corrupt.hscap"), "--records", "3")  # the text: lines after it
    lines = out.strip().splitlines()
    assert [ln.split()[1] for ln in lines[-3:]] == ["header", "link_open", "tx"]


def _offline_device(cap, *, first_seq: int = 0):
    """A Device over the capture through the replay engine (as decode_capture does), with its own seqs."""
    from holdsense.link.device import Device

    eng = ReplayEngine(cap, tx_wait_s=1.0)
    clock = _VirtualClock()
    clock.t_s = cap.links[0].t_open_s
    dev = Device(lambda: CaptureTransport(eng, clock, eng.link), name="capture", host_clock=clock)
    dev._tx_seq = first_seq
    return dev, eng


def test_engine_readdresses_replies_to_the_live_host_seq_and_answers_extra_commands():
    cap = read_capture(LIB / "session.hscap")
    dev, eng = _offline_device(cap, first_seq=500)  # the live host numbers its commands differently
    info = dev.connect()
    assert info.board == "esp32s3" and eng.commands_matched == 1
    dev.start()
    n = 0
    for _ in range(300):
        for m in dev.recv(0.1) or []:
            n += getattr(getattr(m, "chunk", None), "t_s", np.zeros(0)).size
    assert n > 100 and eng.commands_matched == 2
    # commands the capture's host never sent mid-session: answered at once from elsewhere in the capture
    again = dev.command("info")  # the recorded INFO reply, re-addressed
    assert again.ok and again.result.boot_id == info.boot_id
    dev.cue("beep")  # never recorded: a plain ACK
    err = dev.command("battery", check=False)  # never recorded and has a result: ERROR unsupported
    assert not err.ok and "not in this capture" in err.message
    assert eng.commands_injected == 3
    before = dev.stats()["lost_frames"]
    for _ in range(20):
        dev.recv(0.1)
    assert dev.stats()["lost_frames"] == before == 0  # injected frames do not disturb the frame count
    dev.close()


def test_packet_capture_replays_onto_packets_and_onto_a_stream(tmp_path):
    """A BLE capture (one frame per chunk) decodes on a packet link, and COBS-framed onto a byte stream."""
    from holdsense.link.frames import FrameDecoder, encode_frame, serial_wrap

    src = read_capture(LIB / "session.hscap")
    path = tmp_path / "ble.hscap"
    w = CaptureWriter(path, clock=lambda: 0.0, session=src.session)
    rx_dec, tx_dec = FrameDecoder(), FrameDecoder()
    frames = []
    # the session as a BLE capture would hold it: every received frame a notification, every command one write
    for r in src.records:
        if r.kind == K_LINK_OPEN:
            w.write_record(K_LINK_OPEN, dict(r.obj, name="ble holdsense-1122", transport="ble", packetized=True),
                           r.t_s)
        elif r.kind in (K_RX, K_TX):
            for f in (rx_dec if r.kind == K_RX else tx_dec).feed(r.data):
                raw = encode_frame(f.type, f.seq, f.payload)
                w.write_record(r.kind, raw, r.t_s)
                if r.kind == K_RX:
                    frames.append(raw)
    w.close()
    ble = decode_capture(path)
    ref = decode_capture(LIB / "session.hscap")
    assert_same_samples(ble.to_recording().samples, ref.to_recording().samples)
    assert ble.frames["crc_errors"] == 0 and ble.frames["good"] == len(frames)
    assert ble.stats["commands_injected"] == 0
    # onto a byte stream (a BLE capture replayed on the virtual device's pty): COBS framed, the same frames
    eng = ReplayEngine(read_capture(path), out_packetized=False)
    out = b""
    while not eng.finished:
        act = eng.step()
        if isinstance(act, list):
            out += b"".join(e.data for e in act)
        elif hasattr(act, "cmd"):
            eng.skip_wait()
    got = FrameDecoder().feed(out)
    assert [encode_frame(f.type, f.seq, f.payload) for f in got] == frames
    assert out.startswith(serial_wrap(frames[0]))


def test_assert_holds_helper_messages():
    from holdsense.pytest_plugin import assert_holds

    got = [{"start_s": 10.0, "duration_s": 40.0, "mean_force_n": 120.0}]
    assert_holds(got, [{"start_s": 11.0, "end_s": 52.0, "mean_force_n": 125.0}], force_tol_frac=0.1)
    with pytest.raises(AssertionError, match=r"hold 1: starts at 10.0 s, expected 20.0 ± 3 s"):
        assert_holds(got, [{"start_s": 20.0, "duration_s": 40.0}])
    with pytest.raises(AssertionError, match=r"expected 2 holds, found 1"):
        assert_holds({"holds": got}, [{"start_s": 10, "duration_s": 40}, {"start_s": 90, "duration_s": 40}])
    with pytest.raises(AssertionError, match=r"mean force 120 N, expected 200 N"):
        assert_holds(got, [{"start_s": 10, "duration_s": 40, "mean_force_n": 200}], force_tol_frac=0.2)
    # a recording or capture path is analysed
    assert_holds(str(LIB / "session.hscap"), read_holds(LIB / "session.csv.gz"), start_tol_s=0, duration_tol_s=0)



def test_assert_same_samples_says_where_and_by_how_much():
    """Its failures used to read only "t_s differs" / "force_n differs": not which sample, not the values, not
    whether it is a rounding (a Session's samples against a recording's written decimals) or real damage."""
    from holdsense.pytest_plugin import assert_same_samples

    t = np.arange(10) / 80.0
    a = SampleChunk(t, np.arange(10.0), flags=np.zeros(10, np.uint8))
    assert_same_samples(a, SampleChunk(t.copy(), np.arange(10.0)))
    with pytest.raises(AssertionError, match=r"^force_n differs in 2 of 10 samples, first at sample 3: "
                                             r"#3 \(t_s 0.037500\): 3.0 != 3.25, #7 \(t_s 0.087500\): 7.0 != nan; "
                                             r"largest difference 0.25; 1 missing \(NaN\) on one side only$"):
        f = np.arange(10.0)
        f[3], f[7] = 3.25, np.nan
        assert_same_samples(a, SampleChunk(t, f))
    with pytest.raises(AssertionError, match=r"^t_s differs in 10 of 10 samples \(t_atol_s 1e-06\), first at "
                                             r"sample 0: .* \.\.\.; largest difference 0.001$"):
        assert_same_samples(a, SampleChunk(t + 1e-3, np.arange(10.0)), t_atol_s=1e-6)
    assert_same_samples(a, SampleChunk(t + 1e-3, np.arange(10.0)), t_atol_s=2e-3)
    with pytest.raises(AssertionError, match=r"^flags differs in 1 of 10 samples, first at sample 9: #9 "
                                             r"\(t_s 0.112500\): 0 != 2$"):
        fl = np.zeros(10, np.uint8)
        fl[9] = 2
        assert_same_samples(a, SampleChunk(t, np.arange(10.0), flags=fl))
    with pytest.raises(AssertionError, match=r"^angle_deg: present in only one of them \(expected has it\)$"):
        assert_same_samples(a, SampleChunk(t, np.arange(10.0), angle_deg=np.zeros(10)))
    with pytest.raises(AssertionError, match=r"^9 samples, expected 10; the first 9 agree in t_s$"):
        assert_same_samples(a.slice(0, 9), a)

def read_holds(path):
    from holdsense.analysis import analyze_recording

    return analyze_recording(read_recording(path, warn=None))["holds"]


def test_writer_flushes_in_the_background(tmp_path):
    """Records written and then silence: within about a second they are decodable on disk (no close)."""
    import time

    p = tmp_path / "live.hscap"
    w = CaptureWriter(p, flush_interval_s=0.2)
    link = FakeLink([b"abc" * 100])
    w.attach_transport(link)
    link.recv(0.1)
    # the writer is still open: no gzip trailer, but everything flushed decodes (polled: a fixed 1 s wait
    # spent ~0.8 s after the first 0.2 s flush; a writer that does not flush by itself still fails at 1 s)
    deadline = time.monotonic() + 1.0
    while True:
        cap = read_capture(p)
        if [r.kind for r in cap.records] == [K_HEADER, K_LINK_OPEN, K_RX] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [r.kind for r in cap.records] == [K_HEADER, K_LINK_OPEN, K_RX] and cap.truncated
    w.close()
    assert read_capture(p).complete
    # the content really is one gzip member that zlib decodes completely once closed
    assert zlib.decompress(p.read_bytes(), wbits=31)[:5] == b"HSCAP"


def _drain(eng: ReplayEngine) -> list[bytes]:
    """Everything the engine plays, skipping every wait for the host (its replies as captured)."""
    out: list[bytes] = []
    while not eng.finished:
        act = eng.step()
        if isinstance(act, list):
            out += [e.data for e in act]
        elif hasattr(act, "cmd"):
            eng.skip_wait()
    return out


def _rechunked(src, path, size: int):
    """The capture with every RX record cut into `size`-byte reads (a slow host reading a busy link)."""
    w = CaptureWriter(path, clock=lambda: 0.0, session=src.session)
    for r in src.records:
        if r.kind == K_RX:
            for i in range(0, len(r.data), size):
                w.write_record(K_RX, r.data[i:i + size], r.t_s)
        elif r.kind not in (K_HEADER, K_END):
            w.write_record(r.kind, r.obj if r.obj is not None else r.data, r.t_s)
    w.close()
    return read_capture(path)


@pytest.mark.parametrize("name, chunk", [("corrupt", None), ("reboot", None), ("dropout", None),
                                         ("corrupt", 37), ("session", 5)])
def test_serial_capture_onto_packets_is_one_frame_per_notification_byte_exact(name, chunk, tmp_path):
    """A serial capture played onto a packet link (BLE): each notification is one delimited piece of the
    captured stream, the good ones exactly the raw frames the roller built (reads that cut a frame in two
    do not break it: `chunk`), garbage runs one bad notification each, as the serial decoder counts them."""
    from holdsense.link.frames import FrameDecoder, FrameError, decode_raw, encode_frame

    cap = read_capture(LIB / f"{name}.hscap")
    if chunk:
        cap = _rechunked(cap, tmp_path / "cut.hscap", chunk)
        assert sum(1 for r in cap.records if r.kind == K_RX and not r.data.endswith(b"\x00")) > 1000
    want: list[bytes] = []
    bad_serial = 0
    for li in range(len(cap.links)):
        dec = FrameDecoder()
        for r in cap.records:
            if r.kind == K_RX and r.link == li:
                want += [encode_frame(f.type, f.seq, f.payload) for f in dec.feed(r.data)]
        bad_serial += dec.crc_errors + dec.cobs_errors + dec.oversize
    notes = _drain(ReplayEngine(cap, out_packetized=True))
    good, bad = [], 0
    for n in notes:
        try:
            decode_raw(n)
            good.append(n)
        except FrameError:
            bad += 1
    assert good == want and len(good) > 1500
    assert max(len(n) for n in good) <= 244  # one notification at the default ATT MTU 247
    if name == "corrupt":
        assert bad == bad_serial >= 2
    else:
        assert bad <= bad_serial  # a boot banner / a drop's partial frame: garbage, never a good frame lost


def test_reboot_span_keeps_the_original_timing_at_any_speed():
    """The replay plays a reboot (last samples of the old boot → first of the new) at 1x: the host places
    the new time base by the host time that passed, so a faster replay would shift every later t_s."""
    cap = read_capture(LIB / "reboot.hscap")
    eng = ReplayEngine(cap)
    assert len(eng.realtime_spans) == 1
    a, b = eng.realtime_spans[0]
    boots = [r for r in cap.records if r.kind == K_DEVICE and r.obj.get("rebooted")]
    assert len(boots) == 1 and a < boots[0].t_s < b
    assert 0.4 < b - a < 5.0  # BOOT_US 0.5 s plus the handshake
    t0, t1 = 1.0, cap.duration_s
    for speed in (1.0, 4.0, 8.0):
        assert eng.replay_s(a, b, speed) == pytest.approx(b - a)
        assert eng.replay_s(t0, t1, speed) == pytest.approx((t1 - t0 - (b - a)) / speed + (b - a))
        assert eng.replay_s(t0, a, speed) == pytest.approx((a - t0) / speed)
    assert ReplayEngine(read_capture(LIB / "session.hscap")).realtime_spans == []


def test_a_replay_behind_schedule_still_plays_the_reboot_span_at_1x():
    """A replay that fell behind (a stall on a loaded machine) must not catch up inside a reboot span: that
    shortened the host time between the old boot's last samples and the new boot's first, so the host placed
    the new time base early (0.5 s on a loaded CI machine) and a --duration of the capture's length was never
    reached. From the last sample chunk before the reboot to the first after it, the full 1x interval passes."""
    import asyncio
    import time

    from holdsense.virtual.replay import ReplayVirtualDevice

    dev = ReplayVirtualDevice(str(LIB / "reboot.hscap"), speed=1000.0, tx_wait_s=0.0)
    eng = dev.engine
    a, b = eng.realtime_spans[0]
    queued: list[float | None] = []  # capture time of each emit, in the order _send gets them
    step = eng.step

    def recording_step():
        act = step()
        if isinstance(act, list):
            queued.extend(e.t_s for e in act)
        return act

    eng.step = recording_step
    eng._first_tx_pending = False  # no host here: don't wait for its first command (tx_wait_s 0 skips the rest)
    sent: dict[float, float] = {}  # capture time -> host time it was sent
    stall_s = 0.3

    async def send(data: bytes) -> None:
        nonlocal stall_s
        t = queued.pop(0)
        if t is not None and t >= a - 5.0 and stall_s:
            time.sleep(stall_s)  # descheduled 5 s of capture (5 ms at 1000x) before the reboot: 0.3 s behind
            stall_s = 0.0
        if t is not None:
            sent.setdefault(t, time.monotonic())

    dev._send = send

    async def play_until_done() -> None:
        dev._host_event = asyncio.Event()
        task = asyncio.ensure_future(dev._play())
        while not dev.done:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(play_until_done(), 10.0))
    assert sent[b] - sent[a] >= (b - a) - 0.01, (sent[b] - sent[a], b - a)


@pytest.mark.parametrize("name", NAMES)
def test_library_captures_are_80_hz_and_compress_well(name):
    """The library was made in real time: about 80 samples/s with no stretched interval outside the
    scripted faults, and the gzip content is well under the raw records' size."""
    sys.path.insert(0, str(LIB))
    try:
        from make_captures import RATE_RANGE_HZ, check_rate
    finally:
        sys.path.remove(str(LIB))
    rec = read_recording(LIB / f"{name}.csv.gz", warn=None)
    rate_hz, stretched = check_rate(rec.samples)
    assert RATE_RANGE_HZ[0] <= rate_hz <= RATE_RANGE_HZ[1] and stretched == 0, (rate_hz, stretched)
    cap = read_capture(LIB / f"{name}.hscap")
    assert cap.compressed_bytes < 0.75 * cap.raw_bytes and cap.compressed_bytes < 80_000


def test_replaying_a_corrupt_capture_is_one_error_line_exit_2(tmp_path):
    """The virtual device refuses a damaged capture before opening any link (subprocess: the real exit)."""
    p = tmp_path / "bad.hscap"
    p.write_bytes(gzip.compress(b"HSCAP\x02\x00\x00"))
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "virtual-device", "--replay-capture", str(p)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("holdsense: error: ") and "format version 2.0" in lines[0]


def test_replaying_a_truncated_capture_says_so(tmp_path):
    """`replay` of a capture cut by a killed recorder warns, as `analyze` and a cut CSV's replay do: without it the
    hold the cut ended reads as a finished hold of a finished session (subprocess: the real stderr)."""
    p = tmp_path / "cut.hscap"
    src = (LIB / "session.hscap").read_bytes()
    p.write_bytes(src[: len(src) // 2])  # no gzip trailer, a record cut in half
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "replay", str(p), "--speed", "max", "--plain"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("holdsense: warning: ")]
    assert len(warnings) == 1 and "capture ends abruptly" in warnings[0], r.stderr
    assert "end: session" in r.stdout  # the complete records are still replayed


def test_replay_help_names_captures():
    """`replay` plays a capture as it does a recording (decoded as `analyze` decodes it): its help says so."""
    r = subprocess.run([sys.executable, "-m", "holdsense.cli", "replay", "--help"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and ".hscap" in r.stdout
