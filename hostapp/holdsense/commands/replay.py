"""`holdsense replay FILE [--speed X] [--client NAME]`: drive the live view from a recording, as if a roller were
streaming.

The person shown (name on the page, units, the body mass the header lacks) is the one the recording's
`client` header names, else `--client NAME` / $HOLDSENSE_CLIENT, else your own profile; a `--client` naming
someone other than the header does is refused (exit 2), as by analyze (docs/profile.md)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import UserError
from ._lsl import add_lsl_listeners, add_lsl_options, check_lsl_options
from ._options import (add_client_option, add_session_options, add_web_options, check_session_options,
                       check_web_options, load_profile_option, seconds, speed_factor, terminal_view, user_profile)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording through the live view",
                       description="Replay a recording through the live view (and the detector) at real "
                                   "time or any speed: the same listeners a live roller drives.")
    p.add_argument("file", metavar="FILE", help="a holdsense recording (.csv or .csv.gz), a raw wire capture "
                                                 "(.hscap, decoded as analyze does) or an XDF file")
    p.add_argument("--speed", type=speed_factor, default=1.0, metavar="X",
                   help="playback speed: 1 = real time (default), 10 = ten times faster, max = as fast as possible")
    p.add_argument("--skip", type=seconds(what="a pause length in seconds"), default=None, metavar="S", dest="skip_s",
                   help="shorten pauses in the recording longer than S seconds to S seconds")
    add_session_options(p, region=False)
    p.add_argument("--plain", action="store_true",
                   help="plain text lines (the default when stdout is not a terminal)")
    add_client_option(p, help="whose recording, when its header names nobody: that client's profile (name on the "
                              "page, units, body mass); default: $HOLDSENSE_CLIENT, else your own. A recording "
                              "whose header names someone else is refused")
    add_web_options(p)
    add_lsl_options(p, wait=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: `holdsense replay --help` must not pay for numpy and rollsignal
    from ..io.player import Player
    from ..io.registry import open_reader
    from ..listeners.live import DetectorListener
    from ..listeners.notifier import Notifier

    speed = args.speed
    check_session_options(args)
    check_lsl_options(args)
    check_web_options(args)
    if args.web and args.lsl:
        raise UserError("--web and --lsl together: replay to one of them at a time")
    current = user_profile(args)  # an unknown --client / $HOLDSENSE_CLIENT is refused before the file is read
    rec = open_reader(args.file)
    _use_recordings_person(args, rec, current)
    profile = load_profile_option(args)
    if args.web:
        return _run_web(args, rec, profile, speed)
    player = Player(rec, speed=speed, skip_s=args.skip_s)
    view = terminal_view(args, user_profile(args).units)
    det = DetectorListener(body_mass_kg=args.body_mass_kg, profile=profile, views=[view],
                           default_body_mass_kg=user_profile(args).body_mass_kg)
    listeners: list = [det]
    add_lsl_listeners(listeners, args, player.info, has_angle=rec.samples.angle_deg is not None, detector=det,
                      replay=True, fallback_id=Path(args.file).name.split(".")[0], profile=profile)
    notifier = Notifier(player, listeners, timeout_s=0.1)
    try:
        while not notifier.join(0.2):
            pass
    except KeyboardInterrupt:
        notifier.stop()  # stops every listener: the view prints the session so far
        print("holdsense: replay interrupted", file=sys.stderr)
        return 130
    return 0


def _use_recordings_person(args: argparse.Namespace, rec: object, current: object) -> None:
    """From here on, user_profile(args) is the profile of the person the recording is of: the one its `client`
    header names (theirs, or only their name with your units when they have no profile here), else `current`.
    UserError (exit 2) when --client names someone else than the header: it would show one person's name and
    body mass over another's holds."""
    from ..userprofile import recording_person

    client = current.name if args.client is not None else None  # type: ignore[attr-defined]
    args._user_profile = recording_person(getattr(rec, "client", None), client, current, args.file, sys.stderr)


def _run_web(args: argparse.Namespace, rec: object, profile: object, speed: float) -> int:
    """The recording on the live page with a scrubber (pause, play, seek); serves until Ctrl-C.

    The terminal view (plain lines off a terminal) runs beside the page, as with `live --web`: one view
    for the whole run, handed to each detector a seek back starts afresh.
    """
    from ..listeners.live import DetectorListener
    from ..listeners.web import ReplayControl, serve

    me = user_profile(args)
    view = terminal_view(args, me.units)

    def make_detector() -> DetectorListener:
        return DetectorListener(body_mass_kg=args.body_mass_kg, profile=profile, views=[view],
                                default_body_mass_kg=me.body_mass_kg)

    # the page names the recording's person (its `client` header: a client's session replayed by their
    # physio), as the report does; the current profile's name only for a recording that names nobody
    ctl = ReplayControl(rec, make_detector, speed=speed, units=me.units, name=me.name, skip_s=args.skip_s)
    server = serve(args, ctl.snapshot, on_command=ctl.command)
    print("replaying on the page (pause, play and seek there); Ctrl-C to stop", file=sys.stderr, flush=True)
    ctl.start()
    try:
        while True:
            if not ctl.done.wait(0.2):
                continue
            print("replay finished: the page stays up to scrub through it; Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            # until the page plays it again: done.wait() would return at once here, a loop spinning a core
            while ctl.done.is_set():
                time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    finally:
        ctl.stop()
        server.stop()
