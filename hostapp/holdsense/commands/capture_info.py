"""`holdsense capture-info FILE.hscap [--json] [--records N]`: what a raw wire capture holds (docs/capture.md)."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture-info", help="summarise a raw wire capture (.hscap)",
                       description="Summarise a raw wire capture made with 'holdsense record --capture': duration, "
                                   "links, device info, frames, CRC errors, lost samples, gaps, reconnects. The "
                                   "bytes are decoded by the host's own device client, as on a live link.")
    p.add_argument("file", metavar="FILE.hscap", help="capture file")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--records", type=int, metavar="N", default=0,
                   help="also list the first N records (kind, host time, size, bytes in hex)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.capture import KIND_NAMES, read_capture
    from ..virtual.capture import capture_summary, render_summary
    from ..errors import UserError

    if args.records < 0:
        raise UserError(f"--records {args.records}: must be 0 or more")
    summary = capture_summary(args.file)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(render_summary(summary))
    if args.records:
        cap = read_capture(args.file)
        for r in cap.records[:args.records]:
            body = r.data.hex(" ") if r.obj is None else json.dumps(r.obj, default=str)
            if len(body) > 160:
                body = body[:157] + "..."
            print(f"{r.t_s:10.6f} {KIND_NAMES.get(r.kind, hex(r.kind)):11} {len(r.data):5d}  {body}",
                  file=sys.stdout)
    return 0
