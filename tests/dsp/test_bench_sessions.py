"""The fitting entry point's dataset-folder reader (bench/sessions.py): hold-only (marker) labels."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from holdsense.io.recording import write_recording
from rollsignal import SampleChunk

ROOT = Path(__file__).resolve().parents[2]


def _load_sessions_module():
    spec = importlib.util.spec_from_file_location("bench_sessions", ROOT / "bench" / "sessions.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _write(tmp: Path, name: str, labels: dict) -> None:
    t = np.arange(0, 60, 0.1)
    write_recording(tmp / f"{name}.csv", SampleChunk(t, np.full(len(t), 150.0)), {"sample_rate_hz": 10})
    (tmp / f"{name}.labels.json").write_text(json.dumps(labels))


def test_marker_labels_train_unmarked_time_as_not_hold(tmp_path: Path) -> None:
    bs = _load_sessions_module()
    _write(tmp_path, "a", {"format": "holdsense-labels/1", "labelled_kinds": ["hold"],
                           "segments": [{"kind": "hold", "start_s": 10.0, "end_s": 30.0}]})
    _write(tmp_path, "b", {"format": "holdsense-labels/1",
                           "segments": [{"kind": "roll", "start_s": 0.0, "end_s": 10.0},
                                        {"kind": "hold", "start_s": 10.0, "end_s": 30.0}]})
    got = {s.name: s.segments for s in bs.folder(tmp_path)}
    assert [(s["kind"], s["start_s"], s["end_s"]) for s in got["folder/a"]] == [
        ("roll", 0.0, 10.0), ("hold", 10.0, 30.0), ("roll", 30.0, got["folder/a"][-1]["end_s"])]
    assert got["folder/a"][-1]["end_s"] > 59.0
    # fully labelled files are taken as they are (uncovered time stays unlabelled)
    assert [(s["kind"], s["start_s"], s["end_s"]) for s in got["folder/b"]] == [
        ("roll", 0.0, 10.0), ("hold", 10.0, 30.0)]
