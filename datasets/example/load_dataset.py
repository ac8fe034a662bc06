"""Load a holdsense dataset folder (holdsense-dataset/1) with numpy and the standard library only.

    from load_dataset import load
    for s in load("path/to/dataset"):
        s["name"], s["metadata"], s["t_s"], s["force_n"], s.get("angle_deg"), s["labels"]["segments"]
"""
import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np


def read_recording(path):
    """(metadata dict, {column: array or list of str}) of a holdsense-recording/1 file (.csv or .csv.gz)."""
    raw = Path(path).read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    lines = text.split("\n")
    meta, k = {}, 0
    while lines[k].startswith("#"):
        key, _, value = lines[k][1:].partition(":")
        try:
            meta[key.strip()] = json.loads(value)
        except ValueError:
            meta[key.strip()] = value.strip()
        k += 1
    rows = list(csv.reader(io.StringIO("\n".join(lines[k:]))))
    header, rows = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    cols = {}
    for j, name in enumerate(header):
        cells = [r[j] for r in rows]
        if name in ("t_s", "force_n", "angle_deg", "raw_counts"):
            cols[name] = np.array([float(c) if c else np.nan for c in cells])
        else:
            cols[name] = cells
    return meta, cols


def load(folder="."):
    """Every session of the dataset, in the datasheet's order."""
    folder = Path(folder)
    sheet = json.loads((folder / "datasheet.json").read_text(encoding="utf-8"))
    for s in sheet["sessions"]:
        meta, cols = read_recording(folder / s["recording"])
        labels = json.loads((folder / s["labels"]).read_text(encoding="utf-8")) if s.get("labels") else None
        yield {"name": s["recording"].split(".")[0], "metadata": meta, "labels": labels, "session": s, **cols}


if __name__ == "__main__":
    import sys

    for s in load(sys.argv[1] if len(sys.argv) > 1 else "."):
        holds = [x for x in (s["labels"] or {}).get("segments", []) if x["kind"] == "hold"]
        print(f"{s['name']}: {len(s['t_s'])} samples, {s['t_s'][-1]:.0f} s, {len(holds)} labelled holds")
