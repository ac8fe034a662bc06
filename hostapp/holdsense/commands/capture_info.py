"""`holdsense capture-info FILE.hscap [--json] [--records N]`: what a raw wire capture holds (docs/capture.md)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._options import integer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture-info", help="summarise a raw wire capture (.hscap)",
                       description="Summarise a raw wire capture made with 'holdsense record --capture': duration, "
                                   "links, device info, frames, CRC errors, lost samples, gaps, reconnects. The "
                                   "bytes are decoded by the host's own device client, as on a live link.")
    p.add_argument("file", metavar="FILE.hscap", help="capture file")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--records", type=integer(0, 10**9, what="a number of records"), metavar="N", default=0,
                   help="also list the first N records (kind, host time, size, bytes in hex; with --json in the "
                        "object's \"records\")")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.capture import KIND_NAMES, read_capture
    from ..virtual.capture import capture_summary, render_summary

    summary = capture_summary(args.file)
    records = read_capture(args.file).records[:args.records] if args.records else []
    if args.json:
        # one JSON object, the records inside it: printed after it as text lines they made the output
        # unreadable to a JSON parser ("Extra data"), though --json promises machine-readable output
        if args.records:
            summary = dict(summary, records=[_record_json(r, KIND_NAMES) for r in records])
        print(json.dumps(summary, default=str))
        return 0
    print(render_summary(summary))
    for r in records:
        body = r.data.hex(" ") if r.obj is None else json.dumps(r.obj, default=str)
        if len(body) > 160:
            body = body[:157] + "..."
        print(f"{r.t_s:10.6f} {KIND_NAMES.get(r.kind, hex(r.kind)):11} {len(r.data):5d}  {body}",
              file=sys.stdout)
    return 0


def _record_json(r: Any, names: dict[int, str]) -> dict[str, Any]:
    """One capture record for `--json --records N`: host time (s since the capture's t0), kind, its link,
    size in bytes, and its content whole: `json` for the JSON records, `hex` (bytes as hex) for RX/TX."""
    out: dict[str, Any] = {"t_s": round(r.t_s, 6), "kind": names.get(r.kind, hex(r.kind)), "link": r.link,
                           "bytes": len(r.data)}
    if r.obj is None:
        out["hex"] = r.data.hex()
    else:
        out["json"] = r.obj
    return out
