"""`holdsense report FILE -o OUT.html|OUT.pdf`: a session report a lab can hand out
(HTML: one A4 page; PDF: every hold with all its feedback, on more A4 pages when needed).

FILE is a recording; it is analysed exactly as `holdsense analyze` does. When
the history knows the recording (same path, or same contents after a move), its
region and before/after test results are shown too, and the recording is scored
with the body mass and guidance profile that session was scored with (unless
--body-mass / --profile say otherwise), so the report's scores are the
session's. The history is only read, never created or changed.

Whose session it was comes from the recording, never from whoever is current: the recording's `client`
header, else the client of its history session, else `--client NAME`; a `--client` naming someone else than
those do is refused (exit 2), as by analyze and replay, and so is a --client with no profile here (a typo); a
recording that names nobody (and no --client) gets no name in the heading. A recording made before its client was renamed (`profile --rename-client`) names
them by a former name: it is theirs, headed with their name now. That person's profile (when there is one here) gives the units and, failing the header
and the history, the body mass; for a recording that names nobody, the current profile does.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..coaching.history import History, SessionRecord, default_db_path
from ._options import client_name, user_profile
from .. import userprofile as up
from .history import add_db_option
from ._options import body_mass_kg, output_with_suffix, profile_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="session report (HTML or PDF) for a recording",
                       description="Write a report of a recording: the force trace with hold and roll "
                                   "segments, each hold with its score and feedback, session totals, and the "
                                   "before/after test when the session history has one for this recording. "
                                   "The HTML fits one A4 page (fewer feedback lines per hold when crowded); "
                                   "the PDF lists every hold with all its feedback and continues on further "
                                   "A4 pages when they do not fit.")
    p.add_argument("file", metavar="FILE", help="a holdsense recording (.csv or .csv.gz)")
    p.add_argument("-o", "--output", type=output_with_suffix(".html", ".htm", ".pdf"), required=True, metavar="OUT", help="report file: OUT.html or OUT.pdf")
    p.add_argument("--body-mass", type=body_mass_kg, metavar="KG", dest="body_mass_kg",
                   help="body mass in kg (default: from the recording's header)")
    p.add_argument("--profile", type=profile_name, metavar="NAME", help="guidance profile for scoring (default: be-patient)")
    p.add_argument("--title", default="holdsense session report", help="heading of the report")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--client", metavar="NAME", type=client_name,
                   help="whose session, shown in the heading, for a recording that names nobody (default: the "
                        "recording's `client` header, else its history session's client; a recording that "
                        "names nobody gets no name); naming someone else than those do is refused")
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: `holdsense report --help` must not pay for numpy and rollsignal
    from ..analysis import analyze_recording
    from ..coaching.report import ReportInput, write_report
    from ..io.registry import open_reader

    out = Path(args.output)
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise UserError(f"{out}: unknown report type '{out.suffix or '(none)'}' (use .html or .pdf)")
    from .record import check_output

    check_output(str(out), args.overwrite)  # refuses an existing report as record refuses a recording
    if args.client is not None and up.load_client(args.client) is None:
        # as analyze and replay refuse it, before the file is read: a typo must not head a report with a name
        # nobody has (a recording that names its person needs no --client)
        raise up.unknown_client_error(args.client)
    rec = open_reader(args.file)
    found = _history_session(args)
    # One session, one score: a recording the history knows is scored again with the inputs that session was
    # scored with (its body mass may have come from --body-mass or the answers, not from this header).
    # An option given here still wins, and says what it changes.
    client = _whose(args, rec, found)
    prof = _profile_of(args, client)
    if client is not None:
        client = prof.name  # (a renamed client's name now, for a recording that names them by a former name)
    scored_with = found.scored_with if found is not None else None
    if scored_with is not None:
        _use_session_inputs(args, found.id, scored_with)
    elif args.body_mass_kg is None and not rec.body_mass_kg:
        args.body_mass_kg = prof.body_mass_kg  # that person's profile, when the header has none
    analysis = analyze_recording(rec, body_mass_kg=args.body_mass_kg, profile=args.profile)
    metadata = dict(rec.metadata)
    if args.body_mass_kg is not None:
        metadata["body_mass_kg"] = args.body_mass_kg
    inp = ReportInput(analysis=analysis, samples=rec.samples, metadata=metadata, region=rec.region,
                      title=args.title, client=client or None, units=prof.units)
    found_id = None
    if found is not None:
        inp.before, inp.after = found.before, found.after
        inp.region = found.region or inp.region
        inp.history_note = f"before/after from history session {found.id} ({found.started_utc})"
        found_id = found.id
    kind = write_report(inp, out)
    print(f"{kind.upper()} report written to {out}"
          + (f" (before/after from history session {found_id})" if found_id is not None else ""), file=sys.stderr)
    return 0


def _whose(args: argparse.Namespace, rec: Any, found: "SessionRecord | None") -> str | None:
    """The person the report names: the recording's `client` header, else its history session's client, else
    --client; None when nothing names anyone (never the current profile's name: it may be someone else's).
    A --client naming someone else than the recording or its session is a UserError: the report would put one
    person's name over another's scores (and the body mass in the header, which is theirs)."""
    named = rec.client or (found.client if found is not None else None)
    if args.client is None:
        return named
    # (a recording made before the client's rename names them by a former name: it is theirs)
    if named and not up.same_person(args.client, named) and not up.is_named(up.load_client(args.client), named):
        where = "its header's 'client:' line" if rec.client else f"its history session {found.id}"
        raise UserError(f"{args.file} is {named}'s recording ({where}), not {args.client}'s: leave out --client "
                        "to report it as theirs (or correct the recording's 'client:' header line if it is wrong)")
    return named or args.client


def _profile_of(args: argparse.Namespace, client: str | None) -> "up.UserProfile":
    """The profile of the person reported on: a client's (when stored here), your own when the recording names
    you, the current profile when it names nobody, else only a name (units from your profile: how you read
    forces; no body mass, which must not be another person's)."""
    if client is None:
        args.client = None  # the current person ($HOLDSENSE_CLIENT, else your own profile)
        return user_profile(args)
    # a client file that cannot be used is said on stderr: the report can be written without it
    prof = up.profile_named(client, sys.stderr)
    if up.same_person(prof.name, client) or not up.is_named(prof, client):
        prof = replace(prof, name=client)  # spelt as the recording spells it
    # else: a recording made before the client's rename (its former name): headed with their name now
    args._user_profile = prof
    return prof


def _history_session(args: argparse.Namespace) -> "SessionRecord | None":
    """The latest history session of this recording (same path or same contents), or None.

    Read-only: the history is never created or changed by a report.
    """
    db = default_db_path(args.db)
    if not db.exists():
        return None
    try:
        h = History.open(db, readonly=True)
    except FileNotFoundError:
        return None
    with h:
        return h.find_by_recording(args.file)


def _use_session_inputs(args: argparse.Namespace, sid: int | None, scored_with: dict) -> None:
    """Fill --body-mass and --profile from what history session `sid` was scored with, unless given here."""
    mass, name = scored_with.get("body_mass_kg"), scored_with.get("profile")
    mass = float(mass) if isinstance(mass, (int, float)) and not isinstance(mass, bool) else None
    if args.body_mass_kg is None:
        args.body_mass_kg = mass
    elif mass is None or abs(args.body_mass_kg - mass) > 1e-9:
        print(f"holdsense: note: scored with --body-mass {args.body_mass_kg:g} kg; history session {sid} was "
              f"scored with {'no body mass' if mass is None else f'{mass:g} kg'}: this report's scores may "
              "differ from the history's", file=sys.stderr)
    if args.profile is None:
        args.profile = name if isinstance(name, str) and name else None
    elif args.profile != (name or None):
        print(f"holdsense: note: scored with --profile {args.profile}; history session {sid} was scored with "
              f"{name or 'the default profile'}: this report's scores may differ from the history's", file=sys.stderr)
