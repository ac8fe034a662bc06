"""`holdsense live --port P [--body-mass KG] [--region NAME] [-o FILE] [--client NAME]`: watch a session as it
happens."""
from __future__ import annotations

import argparse
import os
import sys

from ._lsl import add_lsl_listeners, add_lsl_options, check_lsl_options
from ..listeners.markers import (KEY_HELP, MarkerBoard, MarkerInputs, add_marker_options, check_marker_options,
                                 markers_wanted)
from ._options import (add_client_option, add_connection_options, add_session_options, add_web_options, check_session_options,
                       check_web_options, load_profile_option, open_device, profile_body_mass, terminal_view,
                       user_profile)
from .record import check_output
from ..fmt import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="live view of a session: force, state, hold timer, scores",
                       description="Live view of a session from a roller: force with the light-pressure band, "
                                   "rolling/holding/off, the current hold's timer with the 30 s release window, "
                                   "each hold's score and feedback, session totals. On a non-terminal it prints "
                                   "plain lines (each event, a status line each second). Ctrl-C ends the session.")
    add_connection_options(p)
    add_session_options(p, duration=True, output=True)
    p.add_argument("--overwrite", action="store_true", help="replace the -o FILE if it exists")
    p.add_argument("--plain", action="store_true", help="plain text lines even on a terminal")
    add_client_option(p, help="whose session: that client's profile (body mass, units, name on the page), named "
                              "in the -o recording (default: $HOLDSENSE_CLIENT, else your own profile)")
    add_web_options(p)
    add_lsl_options(p)
    add_marker_options(p)
    p.set_defaults(func=run)


def mark_from_page(board: MarkerBoard | None, msg: dict) -> None:
    """The page's marker buttons: `{"cmd": "mark", "mark": "hold_start"|"hold_end"|"note", "text": ...}`."""
    if board is None or not isinstance(msg, dict) or msg.get("cmd") != "mark":
        return
    kind, text = msg.get("mark"), str(msg.get("text") or "").strip()[:200]
    if kind in ("hold_start", "hold_end") or (kind == "note" and text):
        board.mark(kind, text if kind == "note" else "")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: `holdsense live --help` must not pay for numpy and rollsignal
    from ..io.recording import RecordingWriter
    from ..listeners.live import DetectorListener
    from ..listeners.notifier import Notifier
    from ..listeners.recorder import Until, run_session

    check_session_options(args)
    check_lsl_options(args)
    check_marker_options(args)
    check_web_options(args)
    if args.output:
        check_output(args.output, args.overwrite)
    profile = load_profile_option(args)
    # the athlete on the roller: --body-mass, else `holdsense profile`; written into the recording's header
    args.body_mass_kg = profile_body_mass(args)
    me = user_profile(args)
    server = web = None
    # markers: keys on a terminal, --markers-from, and the page's buttons with --web
    board = MarkerBoard() if (markers_wanted(args) or args.web) else None
    inputs = None
    if args.web:  # first: the page is up (saying WAITING) while the roller connects and the detector loads
        from ..listeners.web import WebView, serve

        web = WebView(units=me.units, name=me.name, body_mass_kg=args.body_mass_kg)
        server = serve(args, web.snapshot, on_command=lambda msg: mark_from_page(board, msg))
    writer = None
    try:
        dev = open_device(args)
        try:
            view = terminal_view(args, me.units)
            det = DetectorListener(body_mass_kg=args.body_mass_kg, region=args.region, profile=profile,
                                   views=[view])
            det.state.watch_stale = True  # a live roller: silence means the link is lost, say so at once
            if web is not None:
                det.views.append(web.attach(det))
            listeners: list = []
            if args.output:
                writer = RecordingWriter(args.output, dev.recording_metadata(body_mass_kg=args.body_mass_kg,
                                                                              region=args.region, shell=me.shell,
                                                                              client=me.name),
                                         has_angle=dev.has_encoder, has_raw=True, has_markers=board is not None)
                listeners.append(writer)  # first: the file never waits on the screen
            listeners.append(det)
            roller = add_lsl_listeners(listeners, args, dev.recording_metadata(body_mass_kg=args.body_mass_kg,
                                                                               region=args.region),
                                       has_angle=dev.has_encoder, detector=det)
            if board is not None:
                listeners.insert(0, board)  # first: a marker is timed on the chunk the writer is about to get
                if writer is not None:
                    board.add_sink(lambda t_s, kind, text: writer.add_marker(kind, text))
                if roller is not None:
                    board.add_sink(roller.on_mark)
                board.add_sink(det.on_mark)
                # a press while the view shows LINK LOST is not recorded (it would be timed at the reconnection)
                board.link_lost = det.state.link_lost
                board.add_refusal_sink(det.on_mark_refused)
                det.state.marks_on = True
                inputs = MarkerInputs(board, args, echo=det.typing)
            until = Until(listeners, args.duration_s)
            det.on_info(dev.recording_metadata() | {"device": dev.info.device_line()})
            det.on_status(dev.stats())
            if inputs is not None:
                inputs.start()
                if inputs.keys is not None and inputs.keys.active:
                    det.state.mark_keys = KEY_HELP
            det.start_views()
            dev.start()
            notifier = Notifier(dev, [until])
            run_session(notifier, until)
        finally:
            if inputs is not None:
                inputs.stop()
            dev.close()
    finally:
        if server is not None:
            server.stop()
    if writer is not None:
        print(f"saved {plural(writer.rows_written, 'sample')} to {os.path.abspath(args.output)}", file=sys.stderr)
    return 0
