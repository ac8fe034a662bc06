"""`holdsense profile [--client NAME] [--body-mass KG] [--units kg|lb|N] [--shell smooth|ribbed] [--link L]
[--name NAME]`, `holdsense profile --list`.

Shows the athlete's profile (holdsense.userprofile), or changes the fields given
and shows the result. `--unset FIELD` clears one field, `--reset` all of them.
Impossible values (a negative or absurd body mass, an unknown unit) are refused
with one line on stderr and exit code 2, and the stored file is left as it was.
A stored file that cannot be used is refused the same way, except by `--reset`,
which moves it aside to `profile.json.broken` and says so.

`--client NAME` (or $HOLDSENSE_CLIENT) does the same for a client's profile, kept beside the default one; an
unknown client named with --client is added (starting with the default profile's units); one named only by
$HOLDSENSE_CLIENT is refused, never added. A client is known
by their name, so `--name` does not apply to one. `--list` shows the default profile and every client.
"""
from __future__ import annotations

import argparse
import json
import sys

from .. import userprofile as up
from ..errors import UserError
from ._options import add_client_option

#: Terminal columns of `profile --list`'s name column: a longer name has its details on the next line.
LIST_NAME_COLUMNS = 32
FIELDS = {"body-mass": "body_mass_kg", "units": "units", "shell": "shell", "link": "default_link", "name": "name"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="show or set your profile: body mass, units, shell, default roller, name",
                       description="Show or set the athlete's profile, used by live, replay, analyze, session and "
                                   "report whenever their own option is not given: body mass (for the "
                                   "light-pressure band, 10-25 % of body weight), the units forces are shown in, "
                                   "the roller's shell, the roller to connect to, and a name. Stored in the "
                                   "user's config directory ($HOLDSENSE_CONFIG_DIR overrides it).")
    p.add_argument("--body-mass", metavar="KG", dest="body_mass",
                   help="body mass in kg (72), or with a unit (72kg, 160lb)")
    p.add_argument("--units", metavar="UNIT", help="show forces in N, kg or lb")
    p.add_argument("--shell", metavar="TYPE", help="the roller's shell: smooth or ribbed")
    p.add_argument("--link", metavar="L", dest="default_link",
                   help="default roller when no --port/--ble is given: a serial port (/dev/ttyACM0) or ble:NAME")
    p.add_argument("--name", metavar="NAME", help="your name (not for a client: a client's name is their --client NAME)")
    p.add_argument("--unset", metavar="FIELD", action="append", choices=sorted(FIELDS),
                   help="clear a field (" + ", ".join(sorted(FIELDS)) + "); may be repeated")
    p.add_argument("--reset", action="store_true", help="clear the whole profile")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    add_client_option(p, help="a client's profile instead of your own (added when new: "
                              "holdsense profile --client 'Anna Berg' --body-mass 61); default: "
                              "$HOLDSENSE_CLIENT, else your own profile")
    p.add_argument("--list", action="store_true", help="list the profiles: yours and every client's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        if args.client is not None or args.reset or args.unset or any(
                getattr(args, k) is not None for k in ("body_mass", "units", "shell", "default_link", "name")):
            raise UserError("--list shows the profiles; it takes no other option but --json")
        return _list(args)
    client = args.client if args.client is not None else up.client_env()
    if client is not None:
        return _run_client(args, client, explicit=args.client is not None)
    if args.reset:
        # --reset must work on a file nothing can read: it is the way out every load error points to
        try:
            up.load()
        except up.ProfileFileError as exc:
            aside = up.set_aside(exc.path)
            print(f"holdsense: note: {exc.path}: {exc.reason}; replaced with an empty profile "
                  f"(the old file is kept as {aside})", file=sys.stderr)
        current = up.UserProfile()
    else:
        # a broken file stops here with its advice: changing one field of it would silently drop the rest
        current = up.load()
    changes = _changes(args)
    path = up.profile_path()
    if changes or args.reset:
        current = up.updated(current, **changes)  # checked before anything is written
        path = up.save(current)
    if args.json:
        print(json.dumps(current.to_dict() | {"path": str(path)}))
    else:
        for line in up.describe(current):
            print(line)
        print(f"(stored in {path})" if path.exists() else f"(not saved yet: set a value to create {path})")
    return 0


def _changes(args: argparse.Namespace) -> dict:
    changes: dict = {}
    for name in args.unset or []:
        key = FIELDS[name]
        changes[key] = "N" if key == "units" else None
    given = {"body_mass_kg": args.body_mass, "units": args.units, "shell": args.shell,
             "default_link": args.default_link, "name": args.name}
    for key, value in given.items():
        if value is None:
            continue
        if key in changes:
            raise UserError(f"--{[k for k, v in FIELDS.items() if v == key][0]} given together with --unset of it")
        changes[key] = up.parse_body_mass(value) if key == "body_mass_kg" else value
    return changes


def _run_client(args: argparse.Namespace, name: str, *, explicit: bool) -> int:
    """A client's profile: shown, changed, added (when new and named with --client) or reset."""
    if args.name is not None or "name" in (args.unset or []):
        raise UserError("a client is known by their name (--client); --name and --unset name apply to your own "
                        "profile only")
    path = up.client_path(name)
    existed = path.exists()
    if not explicit and not existed:
        # $HOLDSENSE_CLIENT never adds a client (docs/profile.md): a typo in it must not start a second
        # profile for the same person; only --client NAME adds one
        raise up.unknown_client_error(name)
    note = None
    if args.reset:
        try:
            old = up.load_client(name)
        except up.ProfileFileError as exc:
            aside = up.set_aside(exc.path)
            print(f"holdsense: note: {exc.path}: {exc.reason}; replaced with an empty profile "
                  f"(the old file is kept as {aside})", file=sys.stderr)
            old = None
        current = up.UserProfile(name=old.name if old is not None else up.check_name(name))
        if not existed:
            note = f"holdsense: new client {current.name!r} added"
    else:
        current = up.load_client(name)
    changes = _changes(args)
    if current is None:
        # a new client starts with the units you read forces in (the default profile's)
        current = up.UserProfile(units=up.load().units, name=up.check_name(name))
        note = f"holdsense: new client {current.name!r} added"
    if changes or args.reset or note:
        current = up.updated(current, **changes)
        path = up.save(current, path)
    if note:
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps(current.to_dict() | {"client": current.name, "path": str(path)}))
    else:
        lines = up.describe(up.with_roller_defaults(current, up.load()))
        lines[0] = f"client        {current.name}"
        for i, (field, label) in enumerate((("shell", "shell"), ("default_link", "default link")), start=3):
            if getattr(current, field) is None and getattr(up.load(), field) is not None:
                lines[i] += "  (from your profile: the roller's)"
        for line in lines:
            print(line)
        print(f"(stored in {path})")
    return 0


def _list(args: argparse.Namespace) -> int:
    """`profile --list`: your profile, then every client's (name, body mass, units), the current one marked."""
    default = up.load()
    rows = up.list_clients()
    current = up.client_env()

    def brief(prof: up.UserProfile) -> str:
        mass = up.format_body_mass(prof.body_mass_kg, prof.units) if prof.body_mass_kg else "no body mass"
        return f"{mass}, forces in {prof.units}"

    if args.json:
        print(json.dumps({"format": "holdsense-profiles/1", "current_client": current,
                          "default": default.to_dict() | {"path": str(up.profile_path())},
                          "clients": [(prof.to_dict() if prof else {"error": why}) | {"path": str(path)}
                                      for path, prof, why in rows]}))
        return 0
    print(f"your profile   {default.name or '(no name)'}: {brief(default)}"
          + ("" if current else "   <- current"))
    if not rows:
        print("no clients yet (add one: holdsense profile --client NAME --body-mass KG)")
    else:
        print(f"clients ({len(rows)}):")
        # names padded to the longest in terminal columns (a CJK character takes two, a combining mark none),
        # at most LIST_NAME_COLUMNS: a longer name (up to 80 characters) gets its details on the next line
        # rather than pushing every row's off the screen
        widths = [up.display_width(prof.name) for _, prof, _ in rows if prof is not None]
        width = min(max(widths, default=0), LIST_NAME_COLUMNS)
        for path, prof, why in rows:
            if prof is None:
                print(f"  {path.name}: cannot be used ({why})")
                continue
            mark = "   <- current ($HOLDSENSE_CLIENT)" if up.same_person(prof.name, current) else ""
            if up.display_width(prof.name) > width:
                print(f"  {prof.name}\n  {' ' * width}  {brief(prof)}{mark}")
            else:
                print(f"  {up.pad(prof.name, width)}  {brief(prof)}{mark}")
    if current and not any(prof is not None and up.same_person(prof.name, current) for _, prof, _ in rows):
        print(f"holdsense: note: $HOLDSENSE_CLIENT names {current!r}, who has no profile", file=sys.stderr)
    print(f"(stored in {up.config_dir()})")
    return 0
