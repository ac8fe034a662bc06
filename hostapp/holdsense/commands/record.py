"""`holdsense record --port P [-o FILE] [--duration S] [--body-mass KG] [--region NAME] [--capture FILE.hscap]
[--client NAME]`."""
from __future__ import annotations

import argparse
import io
import os
import sys

from ..errors import UserError
from ..fmt import plural
from ._lsl import add_lsl_listeners, add_lsl_options, check_lsl_options
from ..listeners.markers import (KEY_HELP, MarkerBoard, MarkerInputs, add_marker_options, check_marker_options,
                                 describe, markers_wanted)
from ._options import (add_client_option, add_connection_options, add_session_options, check_session_options,
                       load_profile_option, open_device, output_path, recorded_person)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="record a session from a roller to a file",
                       description="Record a session from a roller to a holdsense-recording/1 file, with the "
                                   "device and its calibration in the header. The file is flushed at least once "
                                   "a second; Ctrl-C stops cleanly. If the roller is unplugged it reconnects by "
                                   "itself and marks the gap.")
    add_connection_options(p)
    add_session_options(p, duration=True, output=True)
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_client_option(p, help="whose session, named in the recording's header (`client`); default: "
                              "$HOLDSENSE_CLIENT, else your own profile's name")
    p.add_argument("--capture", type=output_path, metavar="FILE.hscap",
                   help="also write a raw wire capture: every byte received and every command sent, with host "
                        "time (docs/capture.md); replay it with 'holdsense virtual-device --replay-capture'")
    add_lsl_options(p)
    add_marker_options(p)
    p.set_defaults(func=run)


def check_output(path: str, overwrite: bool) -> None:
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory (give a file name with -o)")
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path}: exists already (use --overwrite to replace it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{path}: cannot write in {parent}")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: `holdsense record --help` must not pay for numpy and rollsignal
    from ..io.recording import RecordingWriter
    from ..listeners.notifier import Notifier
    from ..listeners.recorder import Progress, Until, default_recording_name, fmt_elapsed, run_session

    check_session_options(args)
    check_lsl_options(args)
    check_marker_options(args)
    out = args.output or default_recording_name()
    check_output(out, args.overwrite)
    client = recorded_person(args)  # whose session (an unknown --client is refused before the roller is opened)
    capture = None
    if args.capture:
        from ..listeners.capture_tap import CaptureWriter

        check_output(args.capture, args.overwrite)
        if os.path.abspath(args.capture) == os.path.abspath(out):
            raise UserError(f"{args.capture}: the capture and the recording must be different files")
        capture = CaptureWriter(args.capture, session={
            "body_mass_kg": args.body_mass_kg, "region": args.region, "client": client, "duration_s": args.duration_s,
            "recording": os.path.basename(out)})
    board = MarkerBoard() if markers_wanted(args) else None
    inputs = None
    try:
        dev = open_device(args, **({"on_transport": capture.attach_transport} if capture else {}))
    except BaseException:
        if capture is not None:
            capture.close()
        raise
    try:
        writer = RecordingWriter(out, dev.recording_metadata(body_mass_kg=args.body_mass_kg, region=args.region,
                                                             client=client),
                                 has_angle=dev.has_encoder, has_raw=True, has_markers=board is not None)
        progress = Progress(stats=dev.stats, label=f"recording {os.path.basename(out)}", quiet=args.quiet)
        listeners = [writer, progress]  # quiet: no line, but it still times the session for the summary
        roller = add_lsl_listeners(listeners, args, dev.recording_metadata(body_mass_kg=args.body_mass_kg,
                                                                           region=args.region),
                                   has_angle=dev.has_encoder, profile=load_profile_option(args) if args.lsl else None)
        if board is not None:
            listeners.insert(0, board)  # first: a marker is timed and queued before the writer gets the chunk
            board.add_sink(lambda t_s, kind, text: writer.add_marker(kind, text))
            if roller is not None:
                board.add_sink(roller.on_mark)
            board.add_sink(lambda t_s, kind, text: progress.note(f"marker at {fmt_elapsed(t_s)}: "
                                                                 f"{describe(kind, text)}"))
            # (pressed while the link was lost: said, not recorded at the reconnection's time)
            board.add_refusal_sink(lambda kind, text, why: progress.note(f"marker not recorded ({why}): "
                                                                         f"{describe(kind, text)}"))
            inputs = MarkerInputs(board, args, echo=progress.note).start()
            if inputs.keys is not None and inputs.keys.active:
                print(KEY_HELP, file=sys.stderr)
        until = Until(listeners, args.duration_s)
        extra = [capture] if capture is not None else []
        print(f"recording {dev.info.device_line()} on {dev.name} to {out}"
              + (f" for {args.duration_s:g} s" if args.duration_s else " (Ctrl-C to stop)"), file=sys.stderr)
        dev.start()
        notifier = Notifier(dev, [until] + extra)
        # a capture that cannot be written (disk full) ends the session too: its error is raised below
        reason = run_session(notifier, until, end_check=None if capture is None else (
            lambda: "failed" if capture.failed is not None else None))
    finally:
        if inputs is not None:
            inputs.stop()  # the terminal back to normal before anything else is printed
        down_s = dev.link_down_s()  # (before close(), which forgets it)
        dev.close()
        if capture is not None:
            try:
                capture.close(dev.stats())
            except UserError:
                pass  # raised below, unless the session already ended with an error of its own
    if capture is not None and capture.failed is not None:
        raise capture.failed
    st = dev.stats()
    print(f"saved {plural(writer.rows_written, 'sample')} ({progress.elapsed_s:.1f} s) to {out}; "
          f"lost {plural(st['lost_frames'], 'frame')} / {plural(st['lost_samples'], 'sample')}, "
          f"corrupt {st['corrupt_frames']}, "
          f"reconnects {st['reconnects']}" + (" (interrupted)" if reason == "interrupted" else "")
          + (f"; {plural(writer.markers_written, 'marker')}" if board is not None else ""), file=sys.stderr)
    if down_s is not None:
        print(f"the link to the roller was down for the last {down_s:.0f} s of the session: nothing was recorded "
              "then", file=sys.stderr)
    return 0
