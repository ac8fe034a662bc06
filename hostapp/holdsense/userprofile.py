"""The athlete's profile: body mass, display units, shell type, default link and a name.

Typed once with `holdsense profile --body-mass 72 --units kg`, then used by
`live`, `replay`, `analyze`, `session` and `report` whenever their own option
is not given, so the light-pressure band (10–25 % of body weight) shows without
typing `--body-mass` every time.

Stored as JSON (`profile.json`) in the user's config directory (platformdirs:
~/.config/holdsense on Linux), or in `$HOLDSENSE_CONFIG_DIR` when set (tests
set it so they never touch the real home). A missing file is an empty profile;
a file that cannot be used is a ProfileFileError (a UserError, exit 2) naming the
file and saying how to recover (`holdsense profile --reset`).

Clients: a physiotherapist rolling several people keeps one profile per client beside the default one,
`clients/<name>-<hash>.json` in the same directory, chosen with `--client NAME` (or `$HOLDSENSE_CLIENT`) on
`profile`, `session`, `live`, `record`, `history` and `report`. A client is known by their name (matched
without regard to case or spacing); the default profile (no client) is what it always was. A renamed client
keeps their former names (`former_names`), so recordings made before the rename, whose `client:` header
still names them so, stay theirs (profile_named, recording_person).

Not to be confused with rollsignal's *scoring* profile (`--profile be-patient`),
which holds the guidance thresholds; this one describes the person.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import IO, Any

from .errors import UserError

ENV_VAR = "HOLDSENSE_CONFIG_DIR"
FILENAME = "profile.json"
#: The current client when no --client is given (empty: the default profile).
CLIENT_ENV_VAR = "HOLDSENSE_CLIENT"
#: Folder (beside profile.json) of the clients' profiles, one file each.
CLIENTS_DIR = "clients"
FORMAT = "holdsense-profile/1"
G_MPS2 = 9.80665
LB_KG = 0.45359237
#: Plausible body mass (same bounds as --body-mass everywhere).
BODY_MASS_RANGE_KG = (10.0, 400.0)
UNITS = ("N", "kg", "lb")
SHELLS = ("smooth", "ribbed")
NAME_MAX = 80


@dataclass(frozen=True)
class UserProfile:
    """Who is on the roller. Every field is optional (None: not set).

    body_mass_kg: body mass in kg (the light-pressure band is a fraction of body weight).
    units: how forces are shown: 'N' (newtons), 'kg' or 'lb' (kilogram- / pound-force).
    shell: the roller's shell, 'smooth' or 'ribbed' (recorded in the recording header).
    default_link: the roller used when no --port/--ble is given: a serial port / pyserial URL,
        or 'ble:NAME|ADDRESS' for Bluetooth LE.
    name: the athlete's (or client's) name, shown on the live page and in reports.
    former_names: a client's names before `profile --rename-client` (oldest first): recordings naming one
        are this client's. Written only when there are any, so other profiles' files are as before.
    """

    body_mass_kg: float | None = None
    units: str = "N"
    shell: str | None = None
    default_link: str | None = None
    name: str | None = None
    former_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {"format": FORMAT, **asdict(self)}
        # added to holdsense-profile/1 without a format change: a profile never renamed is written as before
        if self.former_names:
            d["former_names"] = list(self.former_names)
        else:
            del d["former_names"]
        return d

    def force_in_units(self, force_n: float) -> float:
        """`force_n` (newtons) in this profile's display unit."""
        return force_in_units(force_n, self.units)

    def percent_body_weight(self, force_n: float) -> float | None:
        """`force_n` as a percentage of body weight, or None without a body mass."""
        if not self.body_mass_kg:
            return None
        return 100.0 * force_n / (self.body_mass_kg * G_MPS2)


def config_dir() -> Path:
    """Where the profile lives: $HOLDSENSE_CONFIG_DIR, else the user's config dir (platformdirs)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    import platformdirs  # only here: tests set the env var and never touch the real home

    return Path(platformdirs.user_config_dir("holdsense", appauthor=False))


def profile_path() -> Path:
    return config_dir() / FILENAME


# -- checks (each raises UserError with one clear line) ----------------------------------------------

def parse_body_mass(text: str | float) -> float:
    """Body mass in kg from a number (kg) or a string with a unit: '72', '72kg', '160 lb'."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), "kg"
    else:
        m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*(kg|lb|lbs)?\s*", str(text), re.IGNORECASE)
        if not m:
            raise UserError(f"body mass {text!r}: give a number in kg, e.g. 72, or with a unit: 72kg, 160lb")
        value, unit = float(m.group(1)), (m.group(2) or "kg").lower()
    kg = value * LB_KG if unit.startswith("lb") else value
    lo, hi = BODY_MASS_RANGE_KG
    if not (math.isfinite(kg) and lo <= kg <= hi):
        shown = f"{value:g} {unit}" + (f" ({kg:.1f} kg)" if unit.startswith("lb") else "")
        raise UserError(f"body mass {shown} is not a plausible body mass ({lo:g}–{hi:g} kg)")
    return round(kg, 3)


def plausible_body_mass_kg(value: Any) -> float | None:
    """A body mass (kg) taken from a file or a device (a recording's `body_mass_kg` metadata, a replay's
    info), or None when it is absent, not a number, or outside BODY_MASS_RANGE_KG.

    Why: `--body-mass` refuses such values, and a file's value must not slip past that check; the detector
    would judge pressure against it ("you held at -305 % of your body weight"). None means "not known", so
    pressure is judged against the rolling load instead, as for a file without the key.
    """
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        kg = float(value)
    except (TypeError, ValueError):
        return None
    lo, hi = BODY_MASS_RANGE_KG
    return kg if math.isfinite(kg) and lo <= kg <= hi else None


def check_units(units: str) -> str:
    """'N', 'kg' or 'lb' (case-insensitive on input; 'n', 'newton', 'lbs', 'kgf' accepted)."""
    key = str(units).strip().lower()
    aliases = {"n": "N", "newton": "N", "newtons": "N", "kg": "kg", "kgf": "kg", "lb": "lb", "lbs": "lb",
               "lbf": "lb"}
    if key not in aliases:
        raise UserError(f"units {units!r}: unknown unit (use one of {', '.join(UNITS)})")
    return aliases[key]


def check_shell(shell: str) -> str:
    key = str(shell).strip().lower()
    if key not in SHELLS:
        raise UserError(f"shell {shell!r}: unknown shell type (use {' or '.join(SHELLS)})")
    return key


def check_link(link: str) -> str:
    text = str(link).strip()
    if not text or "\n" in text:
        raise UserError("default link: give a serial port (/dev/ttyACM0) or ble:NAME")
    if text.lower().startswith("ble:") and not text[4:].strip():
        raise UserError("default link 'ble:': give the roller's name or address after 'ble:'")
    return text


def check_name(name: str) -> str:
    text = " ".join(str(name).split())
    if not text:
        raise UserError("name: give a non-empty name")
    if len(text) > NAME_MAX:
        raise UserError(f"name: at most {NAME_MAX} characters")
    return text


def check_former_names(names: Any, name: str | None) -> tuple[str, ...]:
    """Former names as stored: a list of names (check_name), each person once (client_key), never the current
    `name` (a client renamed back to an old name has it as their name again, not as a former one)."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise UserError("former_names: expected a list of names")
    out: list[str] = []
    for n in names:
        if not isinstance(n, str):
            raise UserError("former_names: expected a list of names")
        n = check_name(n)
        if not same_person(n, name) and not any(same_person(n, o) for o in out):
            out.append(n)
    return tuple(out)


def validated(profile: UserProfile) -> UserProfile:
    """The same profile with every set field checked and normalised (UserError if impossible)."""
    name = None if profile.name is None else check_name(profile.name)
    return UserProfile(
        body_mass_kg=None if profile.body_mass_kg is None else parse_body_mass(profile.body_mass_kg),
        units=check_units(profile.units or "N"),
        shell=None if profile.shell is None else check_shell(profile.shell),
        default_link=None if profile.default_link is None else check_link(profile.default_link),
        name=name,
        former_names=check_former_names(profile.former_names, name),
    )


# -- load / save -------------------------------------------------------------------------------------

RESET_ADVICE = "edit it, or start a new profile with 'holdsense profile --reset'"


class ProfileFileError(UserError):
    """The profile file exists but cannot be used (unreadable, not UTF-8, bad JSON, impossible values).

    A separate type so `holdsense profile --reset` can replace exactly this kind of file, while
    every other command stops with the message (which says how to recover).
    """

    def __init__(self, path: Path, reason: str, *, advice: str = RESET_ADVICE) -> None:
        super().__init__(f"{path}: {reason}; {advice}")
        self.path = path
        self.reason = reason


def load(path: str | Path | None = None) -> UserProfile:
    """The stored profile (an empty one when there is no file). ProfileFileError when the file is unusable."""
    p = Path(path) if path is not None else profile_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserProfile()
    except UnicodeDecodeError as exc:
        # binary junk (a truncated copy, a wrong file) is a bad file, not a crash
        raise ProfileFileError(p, f"not a holdsense profile (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
                                  f"at offset {exc.start})") from None
    except OSError as exc:
        # "edit it" cannot help a file nobody may read, or a directory in its place
        raise ProfileFileError(p, f"cannot read the profile ({exc.strerror or exc})",
                               advice="fix its permissions, or set it aside with 'holdsense profile --reset'") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfileFileError(p, f"not a holdsense profile (bad JSON: {exc})") from None
    if not isinstance(data, dict):
        raise ProfileFileError(p, "not a holdsense profile (expected a JSON object)")
    _check_format(p, data.get("format"))
    known = {f.name for f in fields(UserProfile)}
    kwargs = {k: v for k, v in data.items() if k in known and v is not None}
    try:
        return validated(UserProfile(**kwargs))
    except UserError as exc:
        raise ProfileFileError(p, str(exc)) from None


def _check_format(p: Path, fmt: Any) -> None:
    """A `format` other than holdsense-profile/1 is refused: another program's file, or a newer holdsense's
    profile whose fields this one cannot know (read as /1, a change here would write it back without them).
    A file without `format` (written by hand) is read as /1. Fields added to /1 later (`former_names`) are
    optional: a file without them (an older holdsense's) reads as before, and an older holdsense reads a file
    with them (it ignores keys it does not know)."""
    if fmt is None:
        return
    m = re.fullmatch(r"holdsense-profile/(\d+)(?:\.\d+)*", str(fmt).strip())
    if m is None:
        raise ProfileFileError(p, f"not a holdsense profile (format {str(fmt)[:60]!r}, expected {FORMAT!r})")
    if int(m.group(1)) != int(FORMAT.rsplit("/", 1)[1]):
        raise ProfileFileError(p, f"written by another holdsense version (format {fmt}; this one reads {FORMAT})",
                               advice="use that holdsense, or set the file aside with 'holdsense profile --reset'")


def set_aside(path: str | Path | None = None) -> Path:
    """Rename an unusable profile file to `profile.json.broken` (replacing an older one); returns the new path.

    `holdsense profile --reset` keeps the old file this way instead of deleting it: it may hold values
    worth copying by hand.
    """
    p = Path(path) if path is not None else profile_path()
    aside = p.with_name(p.name + ".broken")
    try:
        os.replace(p, aside)
    except OSError as exc:
        raise UserError(f"{p}: cannot move the unusable profile aside ({exc.strerror or exc})") from None
    return aside


def save(profile: UserProfile, path: str | Path | None = None) -> Path:
    """Write the profile (checked first) atomically; returns the file's path."""
    profile = validated(profile)
    p = Path(path) if path is not None else profile_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(profile.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, p)  # never a half-written profile
    except OSError as exc:
        raise UserError(f"{p}: cannot write the profile ({exc.strerror or exc})") from None
    return p


def updated(profile: UserProfile, **changes: Any) -> UserProfile:
    """A copy with `changes` applied and checked (a value of None clears the field)."""
    return validated(replace(profile, **changes))


# -- clients -----------------------------------------------------------------------------------------

def client_key(name: str) -> str:
    """How a client's name is matched: spacing collapsed, case folded ('anna  BERG' is 'Anna Berg'), and one
    Unicode form ('Zoë' with a precomposed ë or with e + a combining diaeresis, as macOS and some copy-and-paste
    give it, look the same and are the same person)."""
    import unicodedata

    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", check_name(name)).casefold())


def same_person(a: str | None, b: str | None) -> bool:
    """True when both names are given and name the same person (client_key)."""
    if not a or not b:
        return False
    try:
        return client_key(a) == client_key(b)
    except UserError:
        return False


def clients_dir() -> Path:
    return config_dir() / CLIENTS_DIR


def client_path(name: str) -> Path:
    """The client's profile file: a readable part of the name and a hash of client_key(name), so any name
    (slashes, accents, 'CON') gives one safe file name and two names never share a file."""
    import hashlib

    key = client_key(name)
    slug = "".join(c if (c.isascii() and c.isalnum()) else "-" for c in key)
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "client"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return clients_dir() / f"{slug}-{digest}.json"


def client_env() -> str | None:
    """$HOLDSENSE_CLIENT, checked (None when unset or empty)."""
    env = os.environ.get(CLIENT_ENV_VAR)
    if env is None or not env.strip():
        return None
    try:
        return check_name(env)
    except UserError as exc:
        raise UserError(f"${CLIENT_ENV_VAR}: {exc}") from None


def load_client(name: str) -> UserProfile | None:
    """The client's stored profile (its `name` is how the client was first written), or None when there is
    no such client. ProfileFileError when their file is unusable."""
    p = client_path(name)
    if not p.exists():
        return None
    prof = load(p)
    if prof.name is None or not same_person(prof.name, name):
        raise ProfileFileError(p, f"not the profile of client {check_name(name)!r} (it names "
                                  f"{prof.name or 'nobody'})", advice="move it aside")
    return prof


def list_clients() -> list[tuple[Path, UserProfile | None, str | None]]:
    """Every client's profile file, sorted by name: (path, profile, None), or (path, None, why) for a file
    that cannot be used."""
    out: list[tuple[Path, UserProfile | None, str | None]] = []
    d = clients_dir()
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            prof = load(p)
        except ProfileFileError as exc:
            out.append((p, None, exc.reason))
            continue
        if prof.name is None:
            out.append((p, None, "names no client"))
        else:
            out.append((p, prof, None))
    out.sort(key=lambda row: (row[1] is None, (row[1].name or "").casefold() if row[1] else row[0].name))
    return out


def with_roller_defaults(client: UserProfile, default: UserProfile) -> UserProfile:
    """A client's profile with the roller's fields (shell, default link) they do not set taken from the
    default profile: the roller is usually the practitioner's, not the client's."""
    return replace(client, shell=client.shell or default.shell,
                   default_link=client.default_link or default.default_link)


def is_named(prof: UserProfile | None, name: str | None) -> bool:
    """True when `name` names the person of `prof`: their name, or one of their former names (a rename)."""
    if prof is None or not name:
        return False
    return same_person(prof.name, name) or any(same_person(f, name) for f in prof.former_names)


def renamed_client(name: str) -> UserProfile | None:
    """The client who was called `name` before a rename (`name` among their `former_names`), or None: when no
    client was, when `name` is a client's own name now (that client's file wins), or when two clients' files
    claim it (edited by hand, or an older holdsense added a client by that name: whose it is cannot be told).
    Files that cannot be used are passed over."""
    if client_path(name).exists():
        return None
    found = [prof for _, prof, _ in list_clients()
             if prof is not None and any(same_person(f, name) for f in prof.former_names)]
    return found[0] if len(found) == 1 else None


def unknown_client_error(name: str, *, advice: bool = True) -> UserError:
    """'no client NAME (known: ...)', with how to add them when `advice` (not when renaming or removing); a
    former name of a renamed client says their name now instead (a command line names a client as they are
    called now: new sessions and recordings must not spread the old name)."""
    renamed = renamed_client(name)
    if renamed is not None:
        return UserError(f"no client {check_name(name)!r}: renamed to {renamed.name!r} (holdsense profile "
                         f"--rename-client); give --client \"{renamed.name}\" (recordings naming "
                         f"{check_name(name)!r} are {renamed.name}'s)")
    known = [prof.name for _, prof, _ in list_clients() if prof is not None]
    listed = f" (known: {', '.join(known)})" if known else " (no clients yet)"
    return UserError(f"no client {check_name(name)!r}{listed}" + (
        f"; add them with 'holdsense profile --client \"{check_name(name)}\"' (and --body-mass ...)" if advice else ""))


def profile_named(name: str, warn: IO[str] | None = None) -> UserProfile:
    """The profile of the person a recording names (its `client` header): their client profile (roller fields
    from the default profile; found by a former name too, for a recording made before the client was renamed:
    its `name` is then theirs now), the default profile when the name is yours, else only the name, with your
    units (how you read forces) and no body mass (which must not be another person's).

    A client file that cannot be used is said on `warn` (when given) and treated as no profile: a recording
    can still be analysed without it."""
    try:
        prof = load_client(name)
    except ProfileFileError as exc:
        if warn is not None:
            warn.write(f"holdsense: note: {exc}; no profile of {check_name(name)} is used\n")
        prof = None
    if prof is None:
        prof = renamed_client(name)  # a recording made before the client's rename
    default = load()
    if prof is not None:
        return with_roller_defaults(prof, default)
    if same_person(name, default.name):
        return default
    return UserProfile(units=default.units, name=" ".join(name.split()))


def recording_person(named: str | None, client: str | None, current: UserProfile, source: str,
                     warn: IO[str] | None = None) -> UserProfile:
    """Whose profile describes a recording: the person its `client` header names (their own words about whose
    session it is), else `current` (the profile of --client NAME / $HOLDSENSE_CLIENT / your own).

    `client` is an explicit --client NAME (None when not given; then `current` is that client's profile);
    naming someone other than the header does is a UserError (exit 2): using one person's profile with
    another's recording would mix their body masses and names. A header naming the client by a former name
    (made before `profile --rename-client`) is theirs. $HOLDSENSE_CLIENT (only in `current`) never clashes:
    the current client is who a recording that names nobody is of, and another person's recording stays
    theirs."""
    if named is None:
        return current
    if client is not None:
        if not same_person(client, named) and not (same_person(client, current.name) and is_named(current, named)):
            renamed = renamed_client(named)
            now = f"; {renamed.name} since a rename" if renamed is not None else ""
            raise UserError(f"{source} is {named}'s recording (its header's 'client:' line{now}), not "
                            f"{check_name(client)}'s: leave out --client to use "
                            f"{renamed.name if renamed is not None else named}'s profile (or correct that header "
                            "line if it is wrong)")
        return current
    return profile_named(named, warn)


# -- display helpers ----------------------------------------------------------------------------------

def display_width(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide and full-width characters two, combining marks and
    zero-width characters none, everything else one. Why: names are padded into columns (`profile --list`,
    `history --all-clients`), and len() misaligns '山田花子' (8 columns) and 'Zoë' typed as e + a combining mark
    (3 columns)."""
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal columns (display_width), never cut."""
    return text + " " * max(0, width - display_width(text))


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` terminal columns: padded, or cut with '…' (never inside a wide character or
    between a letter and its combining mark)."""
    if display_width(text) <= width:
        return pad(text, width)
    out, used = "", 0
    for ch in text:
        w = display_width(ch)
        if w and used + w > width - 1:
            break
        out += ch
        used += w
    return pad(out + "…", width)



def force_in_units(force_n: float, units: str) -> float:
    """Newtons to the display unit: N, kg (kilogram-force) or lb (pound-force)."""
    if units == "kg":
        return force_n / G_MPS2
    if units == "lb":
        return force_n / (G_MPS2 * LB_KG)
    return force_n


def format_force(force_n: float, units: str, *, digits: int | None = None) -> str:
    """'245 N', '25.0 kg', '55.1 lb' (N to whole newtons, kg/lb to one decimal by default)."""
    if not math.isfinite(force_n):
        return f"– {units}"
    value = force_in_units(force_n, units)
    d = (0 if units == "N" else 1) if digits is None else digits
    return f"{value:.{d}f} {units}"


def format_body_mass(mass_kg: float, units: str = "N") -> str:
    """A body mass as a person reads it, in the profile's units: '74.8 kg', or '165 lb (74.8 kg)' for lb.

    Stored in kg to the gram (a mass typed in lb converts to 74.843 kg), shown to 0.1 kg (or the whole
    pound), never as '74.843 kg' beside forces in lb."""
    if units == "lb":
        return f"{mass_kg / LB_KG:.0f} lb ({mass_kg:.1f} kg)"
    return f"{mass_kg:.1f} kg".replace(".0 kg", " kg")


def describe(profile: UserProfile) -> list[str]:
    """Lines for `holdsense profile` (what is set, and what each value does)."""
    mass = profile.body_mass_kg
    lines = [
        f"name          {profile.name or '(not set)'}",
        # in the profile's units first, as every other view shows it ('160 lb (72.6 kg)', not '72.575 kg (160 lb)')
        "body mass     " + ((format_body_mass(mass, "lb") if profile.units == "lb" else
                             f"{mass:g} kg ({mass / LB_KG:.0f} lb)") if mass else
                            "(not set: the light-pressure band is not shown)"),
        f"units         {profile.units}",
        f"shell         {profile.shell or '(not set)'}",
        f"default link  {profile.default_link or '(not set: give --port or --ble)'}",
    ]
    if mass:
        lo, hi = 0.10 * mass * G_MPS2, 0.25 * mass * G_MPS2
        lines.append(f"light-pressure band  {format_force(lo, profile.units)} – {format_force(hi, profile.units)}"
                     " (10–25 % of body weight)")
    return lines


def default_link_args(link: str | None) -> tuple[str | None, str | None]:
    """(port, ble) for a stored default link: 'ble:NAME' -> (None, NAME); anything else is a port."""
    if not link:
        return None, None
    if link.lower().startswith("ble:"):
        return None, link[4:].strip()
    return link, None
