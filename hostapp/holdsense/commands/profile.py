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

`--rename-client OLD NEW` renames a client's profile and their sessions in the history (`--db`); the profile keeps
OLD as a former name, so recordings made before (their header still names OLD) stay theirs, and no other client
may take it;
`--remove-client NAME` removes the profile and keeps their sessions under their name unless `--with-history`
deletes them too. No prompt (CI has no stdin): deleting history needs that flag. Checked before anything
changes; an unknown client or a clash is one line, exit 2 (docs/profile.md).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

from .. import userprofile as up
from ..errors import UserError
from ._options import add_client_option, client_name
from .history import add_db_option

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
    clients = p.add_argument_group("renaming and removing a client (docs/profile.md)")
    clients.add_argument("--rename-client", nargs=2, metavar=("OLD", "NEW"), type=client_name,
                         help="rename a client: their profile and their sessions in the history (OLD is kept as a former "
                              "name: recordings made before stay theirs)")
    clients.add_argument("--remove-client", metavar="NAME", type=client_name,
                         help="remove a client's profile; their sessions stay in the history under their name "
                              "unless --with-history is given")
    clients.add_argument("--with-history", action="store_true",
                         help="with --remove-client: delete their sessions from the history too (the recordings "
                              "on disk are left)")
    add_db_option(clients)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rename_client or args.remove_client is not None:
        return _rename_or_remove(args)
    if args.with_history or args.db is not None:
        raise UserError(("--with-history" if args.with_history else "--db")
                        + " goes with --rename-client or --remove-client")
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
    _note_bare_mass_in_lb(args, current)
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


def _note_bare_mass_in_lb(args: argparse.Namespace, profile: up.UserProfile) -> None:
    """One stderr note when `--body-mass` was a bare number (read as kg) for a profile shown in lb.

    Why: someone who reads forces in pounds types their weight in pounds (`--body-mass 160 --units lb`); taken
    as 160 kg it is plausible, so nothing else would catch it, and every light-pressure band would be twice
    too wide.
    """
    text = getattr(args, "body_mass", None)
    if text is None or profile.units != "lb" or re.search(r"[a-z]", str(text), re.IGNORECASE):
        return
    kg = profile.body_mass_kg
    print(f"holdsense: note: body mass {kg:g} taken as kg ({kg / up.LB_KG:.0f} lb); if you meant pounds, give "
          f"--body-mass {str(text).strip()}lb", file=sys.stderr)


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
    renamed = None if existed else up.renamed_client(name)
    if renamed is not None:
        # a renamed client's former name is theirs: their recordings made before the rename name them so, and
        # would then be the new client's (load_client wins) and be scored with the new client's body mass
        former = next(f for f in renamed.former_names if up.same_person(f, name))  # spelt as stored
        raise UserError(f"{former!r} is a former name of client {renamed.name!r} (renamed): their "
                        f"recordings made before name them so; give --client \"{renamed.name}\" for them, or "
                        "another name for a new client (docs/profile.md)")
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
    _note_bare_mass_in_lb(args, current)
    if args.json:
        print(json.dumps(current.to_dict() | {"client": current.name, "path": str(path)}))
    else:
        lines = up.describe(up.with_roller_defaults(current, up.load()))
        lines[0] = f"client        {current.name}"
        for i, (field, label) in enumerate((("shell", "shell"), ("default_link", "default link")), start=3):
            if getattr(current, field) is None and getattr(up.load(), field) is not None:
                lines[i] += "  (from your profile: the roller's)"
        if current.former_names:
            lines.append(f"former names  {', '.join(current.former_names)}  (recordings naming them are this "
                         "client's)")
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


def _rename_or_remove(args: argparse.Namespace) -> int:
    """`--rename-client OLD NEW` / `--remove-client NAME [--with-history]`: checked first (one line, exit 2, nothing
    changed), then done: the profile file and the client's sessions in the history (--db)."""
    if args.rename_client and args.remove_client is not None:
        raise UserError("--rename-client and --remove-client: one at a time")
    if args.list or args.reset or args.unset or args.json or args.client is not None or any(
            getattr(args, k) is not None for k in ("body_mass", "units", "shell", "default_link", "name")):
        what = "--rename-client" if args.rename_client else "--remove-client"
        raise UserError(f"{what} takes no other option but --db" + ("" if args.rename_client else " and --with-history"))
    if args.rename_client and args.with_history:
        raise UserError("--with-history goes with --remove-client (a rename always carries the sessions along)")
    from ..coaching.history import default_db_path

    db = default_db_path(args.db)
    name = args.rename_client[0] if args.rename_client else args.remove_client
    prof = up.load_client(name)  # an unusable file stops here, naming it
    stored, n_sessions = _history_count(db, name)
    if prof is None and not n_sessions:
        raise up.unknown_client_error(name, advice=False)
    shown = prof.name if prof is not None else stored  # spelt as first typed (or as stored in the history)
    if args.rename_client:
        return _rename(db, shown, args.rename_client[1], prof, n_sessions)
    return _remove(db, shown, prof, n_sessions, args.with_history)


def _history_count(db: Path, name: str) -> tuple[str | None, int]:
    """(the name as the history stores it, how many sessions) of client `name` in the history at `db`; (None, 0)
    without a history. Read-only: checking must neither create nor migrate the file."""
    from ..coaching.history import History

    if not db.exists():
        return None, 0
    try:
        h = History.open(db, readonly=True)
    except FileNotFoundError:  # an empty file: nothing stored yet
        return None, 0
    with h:
        for who, n in h.clients():
            if who is not None and up.same_person(who, name):
                return who, n
    return None, 0


def _rename(db: Path, old: str, new: str, prof: "up.UserProfile | None", n_sessions: int) -> int:
    """Rename client `old` (profile `prof`, `n_sessions` in the history at `db`) to `new`: the new profile file
    first, then the history in one transaction (undone together if that fails), then the old file goes."""
    from ..coaching.history import History

    if new == old:
        raise UserError(f"--rename-client: the new name is the old one ({old!r})")
    old_path, new_path = up.client_path(old), up.client_path(new)
    if not up.same_person(old, new):  # a new spelling of the same name ('anna berg' -> 'Anna Berg') is no clash
        if new_path.exists():
            try:
                new = (up.load_client(new) or up.UserProfile(name=new)).name
            except up.ProfileFileError:
                pass  # named as typed; the clash is what matters here
            raise UserError(f"--rename-client: there is a client {new!r} already; two people's profiles and "
                            f"histories are never merged (remove that client first, or choose another name)")
        other, n_other = _history_count(db, new)
        if n_other:
            raise UserError(f"--rename-client: the history ({db}) has {_sessions(n_other)} of {other!r} already, "
                            "a client removed earlier: two people's histories are never merged (choose another "
                            f"name, or delete those: holdsense profile --remove-client \"{other}\" --with-history)")
        renamed = up.renamed_client(new)
        if renamed is not None and not up.same_person(renamed.name, old):
            # (a client renamed back to a former name of their own takes it back)
            raise UserError(f"--rename-client: {up.check_name(new)!r} is a former name of client {renamed.name!r}: "
                            "recordings made before their rename name them so, and would be taken as "
                            f"{old}'s (choose another name)")
    if prof is not None:
        # the old name stays theirs: recordings made before name them so (a new spelling is no former name)
        former = prof.former_names + (() if up.same_person(old, new) else (old,))
        up.save(replace(prof, name=new, former_names=former), new_path)  # the same path for a new spelling
    if n_sessions:
        try:
            with History.open(db) as h:
                n_sessions = h.rename_client(old, new)
        except BaseException:
            if prof is not None and new_path != old_path:
                new_path.unlink(missing_ok=True)  # undone: the old profile is still there, nothing was renamed
            elif prof is not None:
                up.save(prof, old_path)
            raise
    if prof is not None and new_path != old_path:
        old_path.unlink(missing_ok=True)
    print(f"renamed client {old!r} to {new!r}: "
          + ("profile " + str(new_path) if prof is not None else "no profile (none was stored)")
          + (f"; {_sessions(n_sessions)} in the history ({db})" if n_sessions else "; no sessions in the history"))
    if not up.same_person(old, new):
        # recordings are not rewritten: they are data (the history knows them by their SHA-256), and copies
        # elsewhere would still name the old name anyway
        theirs = (f"; analyze, replay and report take them as {new}'s ({old!r} is kept in the profile as a "
                  "former name)") if prof is not None else (
                  f"; with no profile to keep {old!r} as a former name, they stay {old}'s")
        print(f"holdsense: note: recordings made before keep the name {old!r} in their header ('client:' line): "
              "they are not rewritten" + theirs, file=sys.stderr)
        _env_note(old, f"export {up.CLIENT_ENV_VAR}=\"{new}\"")
    return 0


def _remove(db: Path, name: str, prof: "up.UserProfile | None", n_sessions: int, with_history: bool) -> int:
    """Remove client `name`'s profile; their sessions in the history at `db` only `with_history`."""
    from ..coaching.history import History

    if prof is None and not with_history:
        raise UserError(f"client {name!r} has no profile, only {_sessions(n_sessions)} in the history ({db}): "
                        f"to delete those, add --with-history")
    deleted = 0
    if with_history and n_sessions:
        with History.open(db) as h:
            deleted = h.delete_client(name)
    path = up.client_path(name)
    if prof is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UserError(f"{path}: cannot remove the client's profile ({exc.strerror or exc})") from None
    done = [f"profile {path}"] if prof is not None else []
    if deleted:
        done.append(f"{_sessions(deleted)} from the history ({db})")
    print(f"removed client {name!r}: " + " and ".join(done))
    if n_sessions and not with_history:
        stay = "stays" if n_sessions == 1 else "stay"
        print(f"holdsense: note: their {_sessions(n_sessions)} {stay} in the history ({db}) under {name!r}: "
              f"'holdsense history --client \"{name}\"' shows them; 'holdsense profile --remove-client \"{name}\" "
              "--with-history' deletes them", file=sys.stderr)
    if deleted:
        print("holdsense: note: the recordings those sessions were made from are not deleted", file=sys.stderr)
    _env_note(name, f"unset {up.CLIENT_ENV_VAR}")
    return 0


def _sessions(n: int) -> str:
    return "1 session" if n == 1 else f"{n} sessions"


def _env_note(name: str, fix: str) -> None:
    """A note when $HOLDSENSE_CLIENT still names the renamed or removed client: every command would refuse it."""
    import os

    env = os.environ.get(up.CLIENT_ENV_VAR, "")
    if up.same_person(env, name):
        print(f"holdsense: note: ${up.CLIENT_ENV_VAR} still names {name!r}: {fix}", file=sys.stderr)
