"""The golden vectors are the document's (tests/golden/doc_encoder.py, written from docs/protocol.md
alone), and both implementations read and write them; the frame maximum is the same everywhere."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from holdsense.link import commands as C
from holdsense.link import frames as P

HERE = Path(__file__).resolve().parent
V = json.loads((HERE / "protocol_vectors.json").read_text())


def _make_vectors():
    spec = importlib.util.spec_from_file_location("hs_make_vectors", HERE / "make_vectors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stored_vectors_are_exactly_what_the_document_gives():
    assert json.loads(json.dumps(_make_vectors().build())) == V


def test_host_decodes_every_vector_and_rejects_the_too_long_frame():
    for v in V["frames"]:
        f = P.decode_raw(bytes.fromhex(v["raw_hex"]))
        assert (f.type, f.seq, f.payload.hex()) == (v["type"], v["seq"], v["payload_hex"]), v["name"]
        dec = P.FrameDecoder()
        (g,) = dec.feed(bytes.fromhex(v["serial_hex"]))
        assert g == f
        if v["type"] == P.FrameType.STATUS:
            st = C.parse_status(f.payload)
            assert st["samples_total"] == v["decoded"]["samples_total"]
            assert st["task_restarts"] == v["decoded"].get("task_restarts")
    for v in V["too_long"]:
        with pytest.raises(P.FrameError):
            P.decode_raw(bytes.fromhex(v["raw_hex"]))
        dec = P.FrameDecoder()
        assert dec.feed(bytes.fromhex(v["serial_hex"])) == [] and dec.oversize == 1


def test_firmware_encodes_and_decodes_every_vector(rig_free_firmware):
    F = rig_free_firmware
    for v in V["frames"]:
        raw = bytes.fromhex(v["raw_hex"])
        ftype, seq, payload = F.decode_frame(raw)
        assert F.cobs_encode(raw) + b"\x00" == bytes.fromhex(v["serial_hex"])
        d = v["decoded"]
        if ftype == F.T_STATUS:
            minor = 2 if "task_restarts" in d else 1
            assert F.encode_frame(ftype, seq, F.encode_status_payload(dict(d, proto_minor=minor))) == raw
            assert len(payload) == (F.STATUS_LEN if minor == 2 else F.STATUS_LEN_10)
        elif ftype == F.T_INFO:
            assert F.encode_frame(ftype, seq, F.encode_info_payload(d)) == raw, v["name"]
        elif ftype == F.T_TEXT:
            assert F.encode_frame(ftype, seq, bytes((d["level"],)) + d["message"].encode()) == raw
        elif ftype == F.T_ACK and d["cmd"] == F.C_EXIT:
            assert F.encode_ack(seq, d["cmd_seq"], d["cmd"]) == raw
    for v in V["too_long"]:
        with pytest.raises(ValueError):
            F.decode_frame(bytes.fromhex(v["raw_hex"]))
        de = F.Deframer()
        assert de.feed(bytes.fromhex(v["serial_hex"])) == [] and de.errors == 1


@pytest.fixture
def rig_free_firmware():
    import sys
    sys.path.insert(0, str(HERE.parents[1] / "firmware"))
    from holdsense_fw import frame
    return frame
