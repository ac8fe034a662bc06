"""`holdsense tare --port P`: zero the roller's load cells (nothing on it), stored on the roller."""
from __future__ import annotations

import argparse

from ..errors import UserError
from ._options import add_connection_options, open_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tare", help="zero the roller's load cells (take everything off it first)",
                       description="Zero the load cells: the roller averages its readings with nothing on it "
                                   "and stores the zero in flash. The zero drifts with temperature (tens of "
                                   "counts per °C), so tare whenever the roller has warmed up or moved rooms.")
    add_connection_options(p)
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="readings to average (default: the roller's own, 40 ≈ 0.5 s at 80 Hz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.samples <= 65535:
        raise UserError(f"--samples {args.samples}: must be between 1 and 65535")
    dev = open_device(args)
    try:
        old = dev.calibration.tare_counts if dev.calibration is not None else None
        res = dev.tare(n_samples=args.samples)
    finally:
        dev.close()
    change = f" (was {old})" if old is not None else ""
    print(f"tared {dev.info.device_line()}: zero = {res['tare_counts']} counts{change}, "
          f"averaged over {res['n_samples']} readings; stored on the roller")
    return 0
