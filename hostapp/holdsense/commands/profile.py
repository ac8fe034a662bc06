"""`holdsense profile [--body-mass KG] [--units kg|lb|N] [--shell smooth|ribbed] [--link L] [--name NAME]`.

Shows the athlete's profile (holdsense.userprofile), or changes the fields given
and shows the result. `--unset FIELD` clears one field, `--reset` all of them.
Impossible values (a negative or absurd body mass, an unknown unit) are refused
with one line on stderr and exit code 2, and the stored file is left as it was.
A stored file that cannot be used is refused the same way, except by `--reset`,
which moves it aside to `profile.json.broken` and says so.
"""
from __future__ import annotations

import argparse
import json
import sys

from .. import userprofile as up
from ..errors import UserError

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
    p.add_argument("--name", metavar="NAME", help="your (or your client's) name")
    p.add_argument("--unset", metavar="FIELD", action="append", choices=sorted(FIELDS),
                   help="clear a field (" + ", ".join(sorted(FIELDS)) + "); may be repeated")
    p.add_argument("--reset", action="store_true", help="clear the whole profile")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
