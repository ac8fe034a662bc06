"""The athlete's profile: stored, shown and set by `holdsense profile`, used by live/replay/analyze/report
when their own option is not given, impossible values refused (exit 2) without touching the stored file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from holdsense import userprofile as up
from holdsense.errors import UserError

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo-standard.csv"


def cli(*args: str, env_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOLDSENSE_CONFIG_DIR=str(env_dir))
    proc = subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_missing_file_is_an_empty_profile(tmp_path: Path) -> None:
    prof = up.load(tmp_path / "nothing.json")
    assert prof == up.UserProfile()
    assert prof.body_mass_kg is None and prof.units == "N"


def test_config_dir_follows_the_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(up.ENV_VAR, str(tmp_path / "cfg"))
    assert up.profile_path() == tmp_path / "cfg" / "profile.json"
    up.save(up.UserProfile(body_mass_kg=70, units="kg"))
    assert json.loads((tmp_path / "cfg" / "profile.json").read_text())["body_mass_kg"] == 70
    assert up.load().units == "kg"


@pytest.mark.parametrize("text, kg", [("72", 72.0), ("72kg", 72.0), ("160 lb", 72.575), ("160lbs", 72.575),
                                      (81.5, 81.5)])
def test_body_mass_with_units(text: str, kg: float) -> None:
    assert up.parse_body_mass(text) == pytest.approx(kg, abs=1e-3)


@pytest.mark.parametrize("text", ["-70", "0", "5", "1000", "nan", "seventy", "70 stone", "20lb"])
def test_impossible_body_mass_refused(text: str) -> None:
    with pytest.raises(UserError, match="body mass"):
        up.parse_body_mass(text)


def test_units_and_forces() -> None:
    assert up.check_units("LBS") == "lb" and up.check_units("n") == "N" and up.check_units("kg") == "kg"
    with pytest.raises(UserError, match="unknown unit"):
        up.check_units("stone")
    # 1 kgf = 9.80665 N; 1 lbf = 4.448222 N
    assert up.force_in_units(9.80665, "kg") == pytest.approx(1.0)
    assert up.force_in_units(4.4482216, "lb") == pytest.approx(1.0, rel=1e-6)
    assert up.format_force(245.4, "N") == "245 N"
    assert up.format_force(245.16625, "kg") == "25.0 kg"
    assert up.UserProfile(body_mass_kg=80).percent_body_weight(0.2 * 80 * 9.80665) == pytest.approx(20.0)
    assert up.UserProfile().percent_body_weight(100) is None


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "profile.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match="not a holdsense profile"):
        up.load(p)
    p.write_text(json.dumps({"body_mass_kg": -4}))
    with pytest.raises(UserError, match="plausible"):
        up.load(p)
    p.write_bytes(b"\x00\xff")  # not UTF-8: the same kind of error, not a UnicodeDecodeError
    with pytest.raises(up.ProfileFileError, match="not UTF-8"):
        up.load(p)


def test_default_link_split() -> None:
    assert up.default_link_args("ble:holdsense-1122") == (None, "holdsense-1122")
    assert up.default_link_args("/dev/ttyACM0") == ("/dev/ttyACM0", None)
    assert up.default_link_args(None) == (None, None)


def test_cli_sets_shows_and_refuses(tmp_path: Path) -> None:
    out = cli("profile", env_dir=tmp_path).stdout
    assert "not set" in out and "not saved yet" in out
    cli("profile", "--body-mass", "160lb", "--units", "LB", "--shell", "ribbed", "--name", "  Alex   K ",
        "--link", "ble:holdsense-1122", env_dir=tmp_path)
    data = json.loads(cli("profile", "--json", env_dir=tmp_path).stdout)
    assert data["body_mass_kg"] == pytest.approx(72.575, abs=1e-3)
    assert (data["units"], data["shell"], data["name"], data["default_link"]) == ("lb", "ribbed", "Alex K",
                                                                                   "ble:holdsense-1122")
    shown = cli("profile", env_dir=tmp_path).stdout
    # in the profile's units first, as the live views and the report show it
    assert "160 lb (72.6 kg)" in shown and "light-pressure band" in shown and " lb " in shown
    before = (tmp_path / "profile.json").read_text()
    for bad, msg in ((("--body-mass", "-70"), "plausible"), (("--body-mass", "900"), "plausible"),
                     (("--units", "stone"), "unknown unit"), (("--shell", "spiky"), "unknown shell")):
        proc = cli("profile", *bad, env_dir=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        assert msg in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert (tmp_path / "profile.json").read_text() == before  # a refused change writes nothing
    cli("profile", "--unset", "name", "--unset", "units", env_dir=tmp_path)
    data = json.loads(cli("profile", "--json", env_dir=tmp_path).stdout)
    assert data["name"] is None and data["units"] == "N" and data["shell"] == "ribbed"
    cli("profile", "--reset", env_dir=tmp_path)
    assert json.loads(cli("profile", "--json", env_dir=tmp_path).stdout)["body_mass_kg"] is None


def test_corrupt_profile_stops_a_command_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "profile.json").write_text("[1, 2]")
    rec = _strip_mass(DEMO, tmp_path / "nomass.csv")  # a header without body mass: the profile is needed
    proc = cli("analyze", str(rec), env_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "not a holdsense profile" in proc.stderr


def _strip_mass(src: Path, dst: Path) -> Path:
    lines = [ln for ln in src.read_text().splitlines(keepends=True) if not ln.startswith("# body_mass_kg")]
    dst.write_text("".join(lines))
    return dst


def test_analyze_uses_profile_mass_only_when_nothing_else_gives_one(tmp_path: Path) -> None:
    rec = _strip_mass(DEMO, tmp_path / "nomass.csv")
    cfg = tmp_path / "cfg"
    bare = json.loads(cli("analyze", str(rec), "--json", env_dir=cfg).stdout)
    cli("profile", "--body-mass", "60", env_dir=cfg)
    with_profile = json.loads(cli("analyze", str(rec), "--json", env_dir=cfg).stdout)
    with_option = json.loads(cli("analyze", str(rec), "--json", "--body-mass", "60", env_dir=tmp_path / "empty").stdout)
    # the profile's mass gives exactly what --body-mass gives, and differs from no mass at all
    assert with_profile["holds"] == with_option["holds"]
    assert with_profile != bare
    # an option beats the profile
    other = json.loads(cli("analyze", str(rec), "--json", "--body-mass", "110", env_dir=cfg).stdout)
    assert other["holds"] != with_profile["holds"] or other.get("summary") != with_profile.get("summary")


@pytest.mark.e2e
@pytest.mark.skipif(os.name != "posix", reason="needs a pty and a Unix socket")
def test_live_uses_the_profiles_link_body_mass_and_shell(tmp_path: Path) -> None:
    from holdsense.io.recording import read_recording
    from holdsense.virtual.process import spawn

    cfg = tmp_path / "cfg"
    with spawn("standard", seed=1, speed=4.0, link=str(tmp_path / "roller")) as dev:
        assert dev.port
        cli("profile", "--link", str(tmp_path / "roller"), "--body-mass", "81", "--shell", "ribbed", env_dir=cfg)
        out = tmp_path / "s.csv"
        proc = cli("live", "--duration", "3", "--plain", "-o", str(out), env_dir=cfg)  # no --port, no --body-mass
        assert "holds" in proc.stdout
    rec = read_recording(out)
    assert rec.body_mass_kg == 81 and rec.metadata.get("shell") == "ribbed"
    assert rec.duration_s == pytest.approx(3.0, abs=0.2)


BROKEN_PROFILES = {"undecodable": b"\x00\xff", "bad JSON": b"{not json", "impossible mass": b'{"body_mass_kg": -3}',
                   "not an object": b"[1, 2]",
                   # a newer holdsense's profile: read as /1, any change here would write it back without its fields
                   "newer format": b'{"format": "holdsense-profile/2", "body_mass_kg": 70, "units": "lb", "goal": "x"}',
                   "another program's file": b'{"format": "editor-settings/3", "units": "lb"}'}


@pytest.mark.parametrize("kind", sorted(BROKEN_PROFILES))
def test_broken_profile_stops_commands_with_advice_that_works(tmp_path: Path, kind: str) -> None:
    """Every command reading a broken profile gives one line, exit 2, and advice; the advice (--reset) works."""
    bad = BROKEN_PROFILES[kind]
    stored = tmp_path / "profile.json"
    stored.write_bytes(bad)
    rec = _strip_mass(DEMO, tmp_path / "nomass.csv")  # a header without body mass: the profile is needed
    for args in (("profile",), ("profile", "--json"), ("analyze", str(rec)), ("profile", "--body-mass", "70"),
                 ("profile", "--unset", "name")):
        proc = cli(*args, env_dir=tmp_path, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "internal error" not in proc.stderr, proc.stderr
        assert str(stored) in proc.stderr and "'holdsense profile --reset'" in proc.stderr, proc.stderr
    assert stored.read_bytes() == bad  # a refused change never rewrites (or drops) the user's file
    proc = cli("profile", "--reset", env_dir=tmp_path)
    assert "replaced with an empty profile" in proc.stderr and "profile.json.broken" in proc.stderr
    assert (tmp_path / "profile.json.broken").read_bytes() == bad  # kept, not deleted
    assert json.loads(cli("profile", "--json", env_dir=tmp_path).stdout)["body_mass_kg"] is None
    cli("profile", "--body-mass", "70", env_dir=tmp_path)
    assert json.loads(cli("profile", "--json", env_dir=tmp_path).stdout)["body_mass_kg"] == 70


def test_former_names_are_added_to_format_1_and_older_files_read_as_before(tmp_path: Path) -> None:
    """`former_names` (a renamed client's old names) came to holdsense-profile/1 without a format change: a
    file written before it (with or without `format`) reads as before, a profile never renamed is written
    without the key (byte for byte as before), one with former names round-trips, and a file whose
    former_names is not a list of names is refused as any impossible value is."""
    old = tmp_path / "old.json"
    for text in ('{"format": "holdsense-profile/1", "body_mass_kg": 61, "units": "kg", "shell": null, '
                 '"default_link": null, "name": "Anna Berg"}', '{"body_mass_kg": 61, "units": "kg", "name": "Anna Berg"}'):
        old.write_text(text, encoding="utf-8")
        prof = up.load(old)
        assert (prof.name, prof.body_mass_kg, prof.former_names) == ("Anna Berg", 61, ())
    up.save(prof, old)
    assert json.loads(old.read_text(encoding="utf-8")) == {"format": "holdsense-profile/1", "body_mass_kg": 61.0,
                                                           "units": "kg", "shell": None, "default_link": None,
                                                           "name": "Anna Berg"}
    # each once, never the name itself, spelt as given
    renamed = up.updated(prof, name="Anna Lind", former_names=["Anna Berg", "anna  berg", "ANNA LIND", "A. B."])
    assert renamed.former_names == ("Anna Berg", "A. B.")
    up.save(renamed, old)
    assert json.loads(old.read_text(encoding="utf-8"))["former_names"] == ["Anna Berg", "A. B."]
    assert up.load(old) == renamed
    for bad in ('"Anna Berg"', '[1]', '[""]', '{"a": 1}'):
        old.write_text('{"name": "Anna Lind", "former_names": ' + bad + '}', encoding="utf-8")
        with pytest.raises(up.ProfileFileError, match="former_names|name"):
            up.load(old)


def test_reset_with_new_values_on_a_broken_profile(tmp_path: Path) -> None:
    (tmp_path / "profile.json").write_bytes(b"\x00\xff")
    data = json.loads(cli("profile", "--reset", "--body-mass", "72", "--json", env_dir=tmp_path).stdout)
    assert data["body_mass_kg"] == 72
    assert up.load(tmp_path / "profile.json").body_mass_kg == 72


def test_client_profiles_are_kept_beside_the_default_one(tmp_path: Path) -> None:
    """`profile --client NAME` adds and changes a client's own profile, leaving yours as it was; names are
    matched without regard to case or spacing, any name gives one safe file, and --list shows everyone."""
    cfg = tmp_path / "cfg"
    cli("profile", "--body-mass", "80", "--units", "kg", "--name", "Pat", env_dir=cfg)
    p = cli("profile", "--client", "Anna Berg", "--body-mass", "61", "--json", env_dir=cfg)
    anna = json.loads(p.stdout)
    assert anna["client"] == anna["name"] == "Anna Berg" and anna["body_mass_kg"] == 61
    assert anna["units"] == "kg"  # a new client starts with your units
    assert "new client 'Anna Berg' added" in p.stderr
    cli("profile", "--client", "ANNA  berg", "--units", "lb", env_dir=cfg)  # the same person
    cli("profile", "--client", "Ben", env_dir=cfg)  # added by naming them
    mine = json.loads(cli("profile", "--json", env_dir=cfg).stdout)
    assert (mine["name"], mine["body_mass_kg"], mine["units"]) == ("Pat", 80, "kg")  # yours untouched
    listed = json.loads(cli("profile", "--list", "--json", env_dir=cfg).stdout)
    assert [(c["name"], c["units"]) for c in listed["clients"]] == [("Anna Berg", "lb"), ("Ben", "kg")]
    text = cli("profile", "--list", env_dir=cfg).stdout
    assert "Pat" in text and "Anna Berg" in text and "Ben" in text
    env_current = dict(os.environ, HOLDSENSE_CONFIG_DIR=str(cfg), HOLDSENSE_CLIENT="ben")
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", "--body-mass", "90", "--json"],
                       capture_output=True, text=True, env=env_current, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["name"] == "Ben"  # $HOLDSENSE_CLIENT: Ben's profile
    assert json.loads(cli("profile", "--json", env_dir=cfg).stdout)["body_mass_kg"] == 80
    p = cli("profile", "--client", "Ben", "--name", "Benjamin", env_dir=cfg, check=False)
    assert p.returncode == 2 and "known by their name" in p.stderr


@pytest.mark.parametrize("name", ["../../etc/passwd", "CON", "Zoë Ångström", "a/b\\c", "   x   y  ", "日本"])
def test_client_file_names_are_safe_and_distinct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(up.ENV_VAR, str(tmp_path))
    p = up.client_path(name)
    assert p.parent == tmp_path / "clients" and p.suffix == ".json"
    assert all(c.isascii() and (c.isalnum() or c in "-.") for c in p.name)
    assert up.client_path(name.upper()) == p and up.client_path(f" {name} ") == p
    assert up.client_path(name + "2") != p
    up.save(up.UserProfile(name=up.check_name(name)), p)
    assert up.load_client(name).name == up.check_name(name)
    assert [prof.name for _, prof, _ in up.list_clients()] == [up.check_name(name)]


@pytest.mark.parametrize("change", [["--body-mass", "61"], ["--reset"], ["--reset", "--units", "lb"]])
def test_the_env_var_never_adds_a_client(tmp_path: Path, change: list[str]) -> None:
    """docs/profile.md: '$HOLDSENSE_CLIENT never adds one'. A typo in it ('Ana Berg') with a change of a
    field (or --reset) was stored as a new client, a second profile for the same person; now it is refused
    like an unknown client everywhere else (exit 2, the known ones listed), and nothing is written."""
    cfg = tmp_path / "cfg"
    cli("profile", "--client", "Anna Berg", "--body-mass", "61", env_dir=cfg)
    env = dict(os.environ, HOLDSENSE_CONFIG_DIR=str(cfg), HOLDSENSE_CLIENT="Ana Berg")
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", *change], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "no client 'Ana Berg'" in p.stderr and "Anna Berg" in p.stderr and "added" not in p.stderr
    assert [c.name for c in (cfg / "clients").iterdir()] == [up.client_path("Anna Berg").name]
    # an existing client named by the variable is still changed and reset as before
    env["HOLDSENSE_CLIENT"] = "anna berg"
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "profile", *change, "--json"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["name"] == "Anna Berg", p.stderr


def test_a_name_is_the_same_client_in_any_unicode_form(tmp_path: Path) -> None:
    """'Zoë' typed with a precomposed ë (NFC) or as e + combining diaeresis (NFD: what macOS file names and
    some copy-and-paste give) look the same and are one person: one profile file, one history. They were two
    clients side by side in `profile --list`, a second history for the same person."""
    import unicodedata

    cfg = tmp_path / "cfg"
    nfc, nfd = (unicodedata.normalize(f, "Zoë Ångström") for f in ("NFC", "NFD"))
    assert nfc != nfd
    cli("profile", "--client", nfc, "--body-mass", "55", env_dir=cfg)
    p = cli("profile", "--client", nfd, "--json", env_dir=cfg)
    assert "added" not in p.stderr and json.loads(p.stdout)["body_mass_kg"] == 55
    assert len(list((cfg / "clients").iterdir())) == 1
    assert up.same_person(nfd, nfc.upper()) and up.client_key(nfd) == up.client_key(nfc)


def test_history_keeps_one_person_in_any_unicode_form(tmp_path: Path) -> None:
    """The history's filter, its count of other people's sessions and its trends match a client's name as
    profiles do: sessions stored under either Unicode form of 'Zoë' are one person's."""
    import unicodedata

    from holdsense.coaching.history import History, SessionRecord, weekly_trends

    base = dict(started_utc="2026-11-02T10:00:00Z", region="quads", analysis={"summary": {}, "holds": []})
    ss = [SessionRecord(**base, client=unicodedata.normalize(f, "Zoë")) for f in ("NFC", "NFD")]
    assert [(t.sessions, t.client) for t in weekly_trends(ss)] == [(2, ss[0].client)]
    with History.open(tmp_path / "h.sqlite3") as h:
        for s in ss:
            h.add_session(s)
        assert [n for _, n in h.clients()] == [2]
        assert len(h.sessions(client=ss[0].client)) == len(h.sessions(client=ss[1].client)) == 2


def test_name_help_does_not_offer_it_for_a_client(tmp_path: Path) -> None:
    """`profile --client X --name Y` is refused (a client is known by their name), so --help must not offer
    --name as 'your (or your client's) name'."""
    import re

    text = " ".join(cli("profile", "--help", env_dir=tmp_path).stdout.split())
    m = re.search(r"--name NAME (.*?) --unset", text)
    assert m and "client" in m.group(1) and "your client's" not in m.group(1), m and m.group(1)


def test_a_bare_body_mass_for_a_profile_in_lb_says_it_was_taken_as_kg(tmp_path: Path) -> None:
    """`--body-mass 160 --units lb` stores 160 kg (a bare number is kg everywhere): plausible, so only a note
    tells a pounds reader what happened and how to give pounds; a unit given, or kg units, is no note."""
    proc = cli("profile", "--body-mass", "160", "--units", "lb", env_dir=tmp_path)
    assert "taken as kg (353 lb)" in proc.stderr and "--body-mass 160lb" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "353 lb (160.0 kg)" in proc.stdout  # the value stays as documented: kg
    assert cli("profile", "--body-mass", "160lb", env_dir=tmp_path).stderr == ""
    assert cli("profile", "--body-mass", "72", "--units", "kg", env_dir=tmp_path).stderr == ""
    client = cli("profile", "--client", "Ben", "--body-mass", "150", "--units", "lb", env_dir=tmp_path)
    assert "--body-mass 150lb" in client.stderr, client.stderr
