"""`--lsl` for `holdsense live`, `record` and `replay`: the options and the hook into their pipelines.

Each command calls `add_lsl_options(parser)` when registering and
`add_lsl_listeners(listeners, args, info, ...)` when building its listener
list; with `--lsl` off the hook does nothing and imports nothing, so the
commands work without pylsl. The LslRoller goes *after* the detector in the
listener list: listeners are stopped in order, so the detector's last events
(the final hold's score) reach the marker stream before it closes.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import UserError
from ._options import seconds


def add_lsl_options(parser: argparse.ArgumentParser, *, wait: bool = False) -> None:
    """`--lsl` (and, for replay, `--lsl-wait S`)."""
    g = parser.add_argument_group("lab streaming layer (docs/lab.md)")
    g.add_argument("--lsl", action="store_true",
                   help="publish LSL streams: force (type Force) and hold markers (type Markers), stamped from "
                        "the device clock; needs pip install 'holdsense[lab]'")
    if wait:
        g.add_argument("--lsl-wait", type=seconds(0.0, 3600.0, what="a wait in seconds", lo_open=False), default=None, metavar="S", dest="lsl_wait_s",
                       help="with --lsl: wait up to S seconds for a consumer (LabRecorder, an inlet) to connect "
                            "before starting, so nothing is streamed to nobody")


def check_lsl_options(args: argparse.Namespace) -> None:
    """Before anything is opened: option sanity, and pylsl present when `--lsl` is given (exit 2 if not)."""
    if getattr(args, "lsl", False):
        from ..lab import ensure_lsl_config, require

        ensure_lsl_config()
        require("pylsl")
    wait = getattr(args, "lsl_wait_s", None)
    if wait is not None:
        if not getattr(args, "lsl", False):
            raise UserError("--lsl-wait needs --lsl")


def add_lsl_listeners(listeners: list[Any], args: argparse.Namespace, info: dict[str, Any], *,
                      has_angle: bool | None, detector: Any = None, replay: bool = False,
                      fallback_id: str = "unknown", profile: Any = None) -> Any:
    """With `--lsl`: open the roller's outlets, append them (after the detector) to `listeners`.

    `detector`: the pipeline's DetectorListener; its events feed the marker
    stream (one detector for view and LSL). Without one (e.g. `record`), a
    DetectorFeed runs rollsignal's Detector for the markers. Returns the
    LslRoller, or None without `--lsl`. Announces the streams on stderr and,
    with `--lsl-wait S`, waits for a consumer before returning.
    """
    if not getattr(args, "lsl", False):
        return None
    check_lsl_options(args)
    from ..lab import ensure_lsl_config, lsl_scope, require
    from ..listeners.lsl import DetectorFeed, LslRoller

    config = ensure_lsl_config()
    require("pylsl")
    roller = LslRoller(info, has_angle=has_angle, replay=replay, fallback_id=fallback_id)
    roller.open()
    if detector is not None:
        detector.subscribe(roller.on_event)
    else:
        listeners.append(DetectorFeed([roller.on_event], body_mass_kg=getattr(args, "body_mass_kg", None)
                                      or _float(info.get("body_mass_kg")), profile=profile))
    listeners.append(roller)
    scope = lsl_scope(config)
    where = "this computer only" if scope == "machine" else f"the network (ResolveScope = {scope})"
    chans = "force_n, angle_deg" if roller.force.has_angle else "force_n"
    print(f"LSL: streaming '{roller.name}' (Force: {chans} at {roller.force._rate():g} Hz, source id "
          f"{roller.force.source_id}) and '{roller.markers.name}-markers' (Markers); visible on {where} "
          f"[config {config}]", file=sys.stderr)  # the full path: lsl_api.cfg may be in ./, ~/lsl_api/ or ours
    wait = getattr(args, "lsl_wait_s", None)
    if wait:
        print(f"LSL: waiting up to {wait:g} s for a consumer (LabRecorder, an inlet)...", file=sys.stderr)
        if not roller.wait_for_consumers(wait):
            print("LSL: no consumer connected; streaming anyway", file=sys.stderr)
    return roller


def _float(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None
