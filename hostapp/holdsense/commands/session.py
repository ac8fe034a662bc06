"""`holdsense session`: a guided self-myofascial-release session, stored in the history.

    holdsense session --port P | --ble NAME | --replay FILE [--speed X] [--answers FILE.json] [--db PATH]
                      [--client NAME]

Safety lines → pick a region → before-test (pain 0-10 on the region's standard
movement, range of motion in words or degrees, ease 0-10) → guided rolling
(cues from the live detector: hold with light pressure, 30 s release window and
later milestones, a nudge after long rolling without a hold, the related-limb
prompt) → after-test and the change → stored in the history, summary printed.

Answers come from the terminal, or from `--answers FILE.json` for scripted runs,
demos and tests. Without a terminal and without --answers it stops at once with
an error (exit 2) rather than wait on stdin.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import select
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..coaching.flow import (SAFETY_LINES, CoachingFlow, MovementTest, Region, advice_for, find_region,
                             movement_test_from_answers, parse_rom, parse_scale_0_10, regions_help, session_score)
from ..errors import UserError
from ..fmt import lost_note, plural
from ..coaching.history import (RECORDING_STOPPED, SCORED_WITH, History, HistoryError, SessionRecord, default_db_path,
                                file_sha256, utc_now_iso)
from ..messages import Listener
from ..verdict import shown_score
from ._options import (add_client_option, add_connection_options, add_session_options, check_session_options,
                       history_client, load_profile_option, recorded_person, user_profile)
from ..io.registry import open_reader
from .history import add_db_option
from ._options import speed_factor

if TYPE_CHECKING:
    from ..coaching.cues import CueOutput

ANSWER_KEYS = {"region", "before", "after", "body_mass_kg"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "session", help="guided session: before-test, cues while rolling, after-test, stored in history",
        description="A guided self-myofascial-release session: safety first, pick a body region, test it, roll "
                    "to find a tight spot and hold it (cues at 30 s and later, a nudge when you only roll, the "
                    "related-limb prompt), test again, see the change. Cues go to the terminal, the roller's "
                    "buzzer/LED and the computer's sound where there is one. Stored in the history.")
    add_connection_options(p, required=False)
    p.add_argument("--replay", metavar="FILE", help="drive the session from a recording instead of a roller "
                                                     "(a demo: not stored in the history unless --save-history)")
    p.add_argument("--save-history", action="store_true",
                   help="with --replay: store the replayed session in the history too (live sessions always are)")
    p.add_argument("--speed", type=speed_factor, default=None, metavar="X",
                   help="with --replay: playback speed (1 = real time, 20 = twenty times faster, max)")
    p.add_argument("--answers", metavar="FILE.json",
                   help='answers instead of questions: {"region": "quads", "before": {"pain": 4, "rom": "35 deg", '
                        '"ease": 5}, "after": {...}}')
    add_db_option(p)
    add_client_option(p, help="whose session: that client's profile (body mass), stored in their history and "
                              "named in the recording (default: $HOLDSENSE_CLIENT, else your own profile)")
    add_session_options(p, duration=True, output=True)
    p.add_argument("--overwrite", action="store_true",
                   help="replace the -o FILE if it exists (-o and --overwrite: live sessions only; a replay "
                        "records nothing)")
    p.add_argument("--sound", choices=("auto", "bell", "off"), default="auto",
                   help="host sound for cues: auto = terminal bell plus speech or a tone where a sound device "
                        "exists (default); bell = terminal bell only; off = none (the roller still cues)")
    p.set_defaults(func=run)


# --- answers ------------------------------------------------------------------------------

def load_answers(path: str) -> dict[str, Any]:
    """The --answers file as a dict: a JSON object with region, before, after (and optionally body_mass_kg)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such answers file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read answers ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object with region, before, after")
    unknown = sorted(set(data) - ANSWER_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key{'' if len(unknown) == 1 else 's'} {', '.join(unknown)} (known: {', '.join(sorted(ANSWER_KEYS))})")
    return data


class ScriptedAnswers:
    """Answers from a file, all checked when loaded, so a bad file fails before anything starts."""

    def __init__(self, path: str) -> None:
        self.path = path
        data = load_answers(path)
        try:
            self._region = find_region(data["region"]) if data.get("region") else None
            self._tests = {ph: movement_test_from_answers(data.get(ph), ph) for ph in ("before", "after")}
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
        mass = data.get("body_mass_kg")
        try:
            self.body_mass_kg = None if mass is None else float(mass)
        except (TypeError, ValueError):
            raise UserError(f"{path}: body_mass_kg: {mass!r} is not a number") from None
        if self.body_mass_kg is not None and not 10 <= self.body_mass_kg <= 400:
            raise UserError(f"{path}: body_mass_kg {self.body_mass_kg:g} is not a plausible body mass (10–400 kg)")

    @property
    def region_answer(self) -> Region | None:
        return self._region

    def region(self) -> Region:
        if self._region is None:
            raise UserError(f"{self.path}: no region (add \"region\": \"quads\", for example)")
        return self._region

    def test(self, region: Region, phase: str) -> MovementTest:
        t = self._tests[phase]
        if t.movement is None:
            t.movement = region.test_movement
        return t


class Asker:
    """Questions on the terminal; re-asks a bad answer (up to 3 times); a blank answer skips a rating."""

    region_answer = None
    body_mass_kg = None

    def __init__(self, ask: Callable[[str], str] = input, out=None) -> None:
        self._ask = ask
        self.out = out if out is not None else sys.stdout

    def _line(self, prompt: str) -> str:
        try:
            return self._ask(prompt)
        except EOFError:
            raise UserError("no answer (end of input); use --answers FILE.json for scripted runs") from None

    def region(self) -> Region:
        print("Which body region?", file=self.out)
        for line in regions_help():
            print(f"  {line}", file=self.out)
        for attempt in range(3):
            try:
                return find_region(self._line("region (name or number): "))
            except UserError as exc:
                if attempt == 2:
                    raise
                print(f"  {exc}", file=self.out)
        raise AssertionError("unreachable")

    def test(self, region: Region, phase: str) -> MovementTest:
        print(f"{phase.capitalize()} test: {region.test_movement}.", file=self.out)
        pain = self._retry(lambda: parse_scale_0_10(self._line("  pain on the movement, 0 (none) - 10 (worst): "),
                                                    "pain"))
        rom = self._retry(lambda: self._rom(region))
        ease = self._retry(lambda: parse_scale_0_10(
            self._line("  ease of motion, 0 (very stiff) - 10 (completely free): "), "ease"))
        return MovementTest(pain, rom[0], rom[1], ease, region.test_movement)

    def _rom(self, region: Region) -> tuple[float | None, str | None]:
        """Range of motion. A plain number is degrees; where the region's test is also measured as a distance
        in cm (heel to buttock, toe to wall, ...) a plain number is asked again with its unit, since "12" meant
        as 12 cm would be stored as 12° and a growing distance read as a greater range of motion."""
        # a test measured in cm or degrees needs the unit typed (a plain number is asked again): say so up
        # front, so a first answer is not wasted (three wasted answers end the session)
        unit_hint = "; type the unit, e.g. 30 cm or 120 deg" if "cm" in region.rom_hint else ""
        text = self._line(f"  range of motion ({region.rom_hint}{unit_hint}): ")
        deg, words = parse_rom(text)
        if deg is not None and "cm" in region.rom_hint and not re.search(r"[°a-z]", text, re.I):
            n = text.strip()
            raise UserError(f"range of motion: is {n} degrees or cm? type '{n} deg' for the angle or '{n} cm' "
                            "for the distance")
        return deg, words

    def _retry(self, fn: Callable[[], Any]) -> Any:
        for attempt in range(3):
            try:
                return fn()
            except UserError as exc:
                if attempt == 2:
                    raise
                print(f"  {exc}; try again (or leave it blank)", file=self.out)
        raise AssertionError("unreachable")


# --- the guide as a listener ----------------------------------------------------------------

class _Ticker(Listener):
    """After each chunk, tell the flow the time (milestones and nudges fall between detector events) and,
    when the hold has been too hard for a few seconds, the ease-off cue (the live page's TOO HARD rule, read
    from the detector listener's state: it runs before this listener on the same chunk)."""

    def __init__(self, flow: CoachingFlow, out: CueOutput, live: Any = None) -> None:
        from ..listeners.live import TooHardCue

        self.flow, self.out, self.live = flow, out, live
        self.t_s: float | None = None
        self._too_hard = TooHardCue()
        self._link_down = False

    def on_status(self, status: dict[str, Any]) -> None:
        link = status.get("link")
        if link in ("reconnecting", "lost") and not self._link_down:
            self._link_down = True
            self.out(self.flow.on_link(True))
        elif link == "ok" and self._link_down:
            self._link_down = False
            self.out(self.flow.on_link(False))

    def on_samples(self, chunk: Any) -> None:
        if len(chunk):
            self.t_s = float(chunk.t_s[-1])
            self.out(self.flow.on_time(self.t_s))
            if self.live is not None:
                self.out(self.flow.on_too_hard(self.t_s, self._too_hard.update(self.live.state)))


def _wait_for_end(notifier: Any, until: Any, interactive: bool) -> str:
    """Until the stream ends, --duration is reached, Enter (on a terminal) or Ctrl-C/SIGTERM."""
    from ..listeners.recorder import run_session

    def enter_pressed() -> str | None:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if not ready:
            return None
        sys.stdin.readline()
        return "enter"

    return run_session(notifier, until, end_check=enter_pressed if interactive and os.name == "posix" else None)


def run(args: argparse.Namespace) -> int:
    check_session_options(args)
    sources = [name for name in ("port", "ble", "replay") if getattr(args, name, None)]
    if len(sources) != 1:
        raise UserError("give exactly one of --port P, --ble NAME or --replay FILE" if sources
                        else "no roller given: use --port P (or --ble NAME), or --replay FILE for a demo")
    if args.speed is not None and not args.replay:
        raise UserError("--speed only applies with --replay")
    if args.region:
        find_region(args.region)  # a typo is refused before the header and the safety lines are printed
    if args.db and not default_db_path(args.db).parent.is_dir():
        # --db names a file; the default place is created on first use, a typed path is not (as -o)
        raise UserError(f"--db {args.db}: folder {default_db_path(args.db).parent} does not exist")
    # A replay records nothing new: its recording is FILE itself (the history points there). -o would
    # otherwise be ignored without a word, and the user left looking for a file that never came.
    if args.replay and args.output:
        raise UserError(f"-o {args.output}: --replay records nothing (the session's recording is {args.replay} "
                        "itself); leave out -o, or copy that file")
    if args.replay and args.overwrite:
        raise UserError("--overwrite applies to the -o FILE of a live session; --replay writes no recording")
    speed = 1.0 if args.speed is None else args.speed
    # The recording first: a missing or broken --replay FILE is the problem to report, whatever else is missing.
    rec = open_reader(args.replay) if args.replay else None  # bad input fails before the history is touched
    if args.answers:
        answers: ScriptedAnswers | Asker = ScriptedAnswers(args.answers)
    elif not sys.stdin.isatty():
        raise UserError("no terminal to ask the session's questions on: give --answers FILE.json "
                        "(see docs/coaching.md)")
    else:
        answers = Asker()
    profile = load_profile_option(args)
    if args.save_history and not args.replay:
        raise UserError("--save-history only applies with --replay (live sessions are always stored)")
    user_profile(args)  # whose session: an unknown --client is refused before the safety lines
    if rec is not None and args.save_history:
        _check_replay_person(args, rec)

    # A replay (a demo, a recording seen again) stays out of the user's history unless asked: it is not a
    # session they rolled now, and it would skew their trends.
    if rec is not None and not args.save_history:
        return _run(args, answers, speed, profile, None, rec)
    # The history is opened (created, migrated) first: a locked or damaged file is reported before any rolling.
    db_path = default_db_path(args.db)
    history = History.open(db_path)
    try:
        return _run(args, answers, speed, profile, history, rec)
    finally:
        history.close()


def _check_replay_person(args: argparse.Namespace, rec: Any) -> None:
    """A recording that names someone (its `client` header) is stored only in that person's history: replaying
    Anna's recording with --save-history while Ben is the current client would put her session in his trends."""
    from ..userprofile import is_named, renamed_client

    named = rec.client
    if named is None:
        return
    me = user_profile(args).name
    if not is_named(user_profile(args), named):  # (a former name: a recording made before the client's rename)
        who = f"client {me}'s history" if history_client(args) is not None else (
            "your own history" + (f" ({me})" if me else ""))
        renamed = renamed_client(named)
        now = renamed.name if renamed is not None else named  # a renamed client is given by their name now
        raise UserError(f"{args.replay}: the recording is {named}'s"
                        + (f" (now {now}, renamed)" if renamed is not None else "")
                        + f", and the session would be stored in {who}; give --client \"{now}\" to store it in "
                        "theirs")


def _run(args: argparse.Namespace, answers: "ScriptedAnswers | Asker", speed: float, profile: Any,
         history: History | None, rec: Any) -> int:
    """The guided session; stored in `history` unless it is None (a replay without --save-history)."""
    interactive = isinstance(answers, Asker)
    # The roller (and the recording's name) first: a wrong port, a roller another program holds or an existing
    # -o FILE is reported before the client does the before-test, not after.
    device = None
    out: Path | None = None
    if rec is None:
        assert history is not None  # live sessions are always stored
        from ._options import open_device
        from .record import check_output

        out = Path(args.output) if args.output else (
            db_path_folder(history) / "recordings" / datetime.now().strftime("holdsense-%Y%m%d-%H%M%S.csv"))
        if args.output:
            check_output(str(out), args.overwrite)
        device = open_device(args)
    try:
        return _guide(args, answers, speed, profile, history, rec, device, out, interactive)
    finally:
        if device is not None:
            device.close()


def _guide(args: argparse.Namespace, answers: "ScriptedAnswers | Asker", speed: float, profile: Any,
           history: History | None, rec: Any, device: Any, out: Path | None, interactive: bool) -> int:
    from ..coaching.cues import CueOutput, HostSound, RollerCues, TerminalCues  # (numpy: not for `session --help`)
    from ..listeners.live import DetectorListener
    from ..listeners.notifier import Notifier
    from ..io.player import Player
    from ..listeners.recorder import Until

    body_mass = args.body_mass_kg if args.body_mass_kg is not None else answers.body_mass_kg
    if body_mass is None and not (rec is not None and rec.body_mass_kg):
        from ._options import user_profile

        body_mass = user_profile(args).body_mass_kg  # the athlete's profile (`holdsense profile`)

    flow = CoachingFlow()
    term = TerminalCues(bell=None if args.sound != "off" else False)
    print("holdsense guided session", flush=True)
    for c in flow.start():
        term(c)

    # Region: --region, the answers, the recording's header, or ask.
    if args.region:
        region = find_region(args.region)
    elif answers.region_answer is not None:
        region = answers.region_answer
    elif rec is not None and rec.region:
        region = find_region(rec.region)
    else:
        region = answers.region()
    for c in flow.choose_region(region):
        term(c)
    before = answers.test(region, "before")
    flow.record_before(before)

    # The stream: a recording replayed, or the roller (recorded to a file as it streams).
    writer = None
    recording_path: Path
    if rec is not None:
        source: Any = Player(rec, speed=speed)
        recording_path = Path(args.replay).resolve()
        started_utc = str(rec.metadata.get("started_utc") or utc_now_iso())
        kind = "replay"
    else:
        from ..io.recording import RecordingWriter
        from .record import check_output

        assert device is not None and out is not None
        if not args.output:
            out.parent.mkdir(parents=True, exist_ok=True)
        # again, now: the before-test took minutes since the early check in _run, and the writer truncates
        check_output(str(out), args.overwrite)
        meta = device.recording_metadata(body_mass_kg=body_mass, region=region.key, client=recorded_person(args))
        writer = RecordingWriter(out, meta, has_angle=device.has_encoder, has_raw=True)
        source = device
        recording_path = out.resolve()
        started_utc = str(meta.get("started_utc") or utc_now_iso())
        kind = "session"

    # A hold is confirmed seconds after its back-dated start (force only up to ~23 s): rolling counted towards a
    # nudge stops that long ago, so "you rolled without holding" does not come while a hold is confirmed.
    import rollsignal

    has_encoder = source.recording.samples.angle_deg is not None if rec is not None else bool(device.has_encoder)
    flow.settings.confirm_lag_s = rollsignal.confirm_lag_s(has_encoder)

    slow: list[Any] = []
    if device is not None:
        slow.append(RollerCues(lambda pattern, repeat: device.cue(pattern, repeat)))
    if args.sound == "auto":
        slow.append(HostSound.detect())
    cues = CueOutput(term, slow)
    det = DetectorListener(body_mass_kg=body_mass, region=region.key, profile=profile)
    det.subscribe(lambda ev: cues(flow.on_event(ev)))
    ticker = _Ticker(flow, cues, det)
    listeners: list[Any] = ([writer] if writer is not None else []) + [det, ticker]
    until = Until(listeners, args.duration_s)
    from ..io.recording import RecordingWriteError

    write_error: RecordingWriteError | None = None
    try:
        if rec is not None:
            det.on_info(source.info)
        else:
            det.on_info(device.recording_metadata() | {"device": device.info.device_line()})
        cues(flow.begin_guide(0.0))
        how = ("the recording plays to its end" if rec is not None else
               "press Enter or Ctrl-C when you are done" if interactive else "Ctrl-C when you are done")
        print(f"(guiding: {how}{'' if args.duration_s is None else f', or after {args.duration_s:g} s'})",
              flush=True)
        if device is not None:
            device.start()
        notifier = Notifier(source, [until], timeout_s=0.1)
        try:
            reason = _wait_for_end(notifier, until, interactive=interactive and rec is None)
        except RecordingWriteError as exc:
            # the disk is full (or the file cannot grow): the session ends here, as record and live end. What the
            # recording kept is still a session the person rolled: it is stored below, flagged, not thrown away.
            write_error, reason = exc, "recording stopped"
            print("The recording cannot be written any further (see the error at the end): the guide stops here.",
                  flush=True)
        cues(flow.end_guide(ticker.t_s))
    finally:
        cues.close()
        if device is not None:
            device.close()
    # what the scores were computed with, so `holdsense report` of this recording gives the same scores
    # (the body mass may be the answers' or --body-mass, not the header's)
    scored_with = {"body_mass_kg": det.state.body_mass_kg, "profile": args.profile or None}
    if write_error is not None:
        analysis = _kept_analysis(recording_path, scored_with, write_error)
    else:
        analysis = det.result
    if analysis is None:
        raise UserError(f"{recording_path}: no samples arrived: nothing to store")
    analysis = dict(analysis, source=str(recording_path), **{SCORED_WITH: scored_with})

    # The rolling is done and recorded: a Ctrl-C, an end of input or a third bad answer in the after-test
    # must not throw the session away. It is stored without the after-test, and the command then ends as it
    # would have (130 for Ctrl-C, the error line and 2 otherwise).
    after_problem: str | None = None
    try:
        after = answers.test(region, "after")
    except KeyboardInterrupt:
        after_problem = "interrupted"
    except UserError as exc:
        after_problem = str(exc)
    if after_problem is not None:
        after = MovementTest(movement=region.test_movement)
        print(f"\n   After-test skipped ({'Ctrl-C' if after_problem == 'interrupted' else after_problem}): "
              "the session is stored without it.", flush=True)
    for c in flow.record_after(after):
        term(c)

    record = SessionRecord(started_utc=started_utc, region=region.key, analysis=analysis,
                           recording_path=str(recording_path), recording_sha256=file_sha256(recording_path),
                           before=None if before.is_empty() else before, after=None if after.is_empty() else after,
                           source=kind, client=history_client(args))
    not_stored = None
    try:
        sid = history.add_session(record) if history is not None else None
    except HistoryError as exc:
        if write_error is None:
            raise
        # the same full disk may refuse the history too (SQLite rolls the entry back whole: nothing half-stored)
        sid, not_stored = None, str(exc)
    print()
    print(format_summary(record, sid, history.path if history is not None else None, flow, reason,
                         not_stored=not_stored))
    if write_error is not None:
        raise UserError(str(write_error) + ("; the session is stored in the history with what was kept"
                                            if sid is not None else f"; no history entry was stored ({not_stored})"))
    if after_problem == "interrupted":
        return 130
    if after_problem is not None:
        raise UserError(f"after-test: {after_problem} (the session was stored without it)")
    return 0


def _kept_analysis(path: Path, scored_with: dict[str, Any], error: Exception) -> dict[str, Any]:
    """The analysis of what a recording that could not be written to its end kept, flagged with
    RECORDING_STOPPED, scored as `holdsense report` of that file will score it. A file with nothing usable
    left is one error line saying that no history entry was stored."""
    import io

    from ..analysis import analyze_path

    try:
        # its warnings (a half-written last row) go into the analysis' quality, not on stderr: the one
        # error line at the end says what happened
        analysis, _ = analyze_path(str(path), body_mass_kg=scored_with["body_mass_kg"],
                                   profile=scored_with["profile"], warn=io.StringIO())
    except UserError as exc:
        raise UserError(f"{error}; no history entry was stored (the recording holds no session: {exc})") from None
    kept_s = float((analysis.get("summary") or {}).get("duration_s") or 0.0)
    return dict(analysis, **{RECORDING_STOPPED: {"reason": str(error), "kept_s": round(kept_s, 1)}})


def db_path_folder(history: History) -> Path:
    """Live recordings go beside the history file (the user's data dir, or the --db folder)."""
    return history.path.parent


def _fmt_score(v: int | None) -> str:
    return "-" if v is None else str(v)


def _mmss(t_s: float | None) -> str:
    if t_s is None or not math.isfinite(float(t_s)):
        return "-"
    t = int(round(float(t_s)))
    return f"{t // 60}:{t % 60:02d}"


def format_summary(rec: SessionRecord, sid: int | None, db: Path | None, flow: CoachingFlow, reason: str, *,
                   not_stored: str | None = None) -> str:
    """The end-of-session summary: totals, each hold, the before/after change, where it is stored.

    not_stored: why a session that should have been stored is not (the history could not be written)."""
    s = rec.summary
    dur = float(s.get("duration_s") or 0.0)
    pct = (lambda v: f"{100 * float(v or 0) / dur:.0f} %") if dur > 0 else (lambda v: "-")
    early = {"interrupted": ", ended early", "recording stopped": ", the recording stopped early"}.get(reason, "")
    lines = [f"Session summary ({rec.region}{early})",
             # the length is the whole session, off time included: the three parts add up to it (as in the report)
             f"  {_mmss(dur)} session: holding {_mmss(s.get('hold_s'))} ({pct(s.get('hold_s'))}), "
             f"rolling {_mmss(s.get('roll_s'))} ({pct(s.get('roll_s'))}), "
             f"off the roller {_mmss(s.get('off_s'))} ({pct(s.get('off_s'))}){lost_note(s)}",
             f"  {plural(int(s.get('holds', len(rec.holds))), 'hold')}, {s.get('holds_over_30s', 0)} of 30 s or more; "
             f"session score {_fmt_score(session_score(rec.analysis))}"]
    for i, h in enumerate(rec.holds, 1):
        # no number for a hold cut off short (holdsense.verdict), '-' as this summary's other blanks
        lines.append(f"  #{i} at {_mmss(h.get('start_s'))}: held {float(h.get('duration_s') or 0):.0f} s, "
                     f"score {shown_score(h).replace('–', '-')} ({h.get('grade') or ''})")
    for a in advice_for(s.get("advice") or [], rec.before, rec.after):
        lines.append(f"  • {a}")
    if flow.stats.nudges:
        lines.append(f"  nudged {plural(flow.stats.nudges, 'time')} to stop rolling and hold")
    lines.append("Before → after:")
    lines += [f"  {ln}" for ln in flow.change().lines]
    stopped = rec.recording_stopped
    if not_stored is not None:
        lines.append(f"NOT stored in the history: {not_stored}")
    elif sid is None:
        lines.append("Not stored in the history (a replay; add --save-history to keep it)")
    elif stopped is not None:
        lines.append(f"Stored as session {sid} in {db}, with the first {_mmss(stopped.get('kept_s'))} the recording "
                     "kept (it could not be written any further), flagged as stopped early")
    else:
        lines.append(f"Stored as session {sid} in {db}" + (f" (client {rec.client})" if rec.client else ""))
    lines.append(f"Report: holdsense report {rec.recording_path} -o report.html")
    return "\n".join(lines)


__all__ = ["register", "run", "load_answers", "format_summary", "SAFETY_LINES"]
