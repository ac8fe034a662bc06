"""Guided self-myofascial-release session: regions, before/after tests, and the coaching flow.

Pure logic, no I/O: the `session` command feeds it detector events and the
time, and turns the `Cue` objects it returns into terminal lines, the roller's
buzzer/LED and a host sound. That keeps the whole flow unit-testable with
synthetic event sequences, and the same flow runs live and on a replay.

What it encodes comes from the seed article (docs/coaching.md quotes the lines):
- "please consult with a practitioner for safety information" -> safety lines first;
- "Take the time to locate your tight spots" -> roll to find a spot, then hold;
- "It can take 30 seconds to a few minutes" -> cues at 30 s and later milestones;
- "don't just roll around on it" -> a nudge after long rolling without a hold;
- "move a related limb (bend at the knee if you're working on your quads)"
  -> a per-region related-limb prompt during a hold;
- "test the affected area by moving it before and after" -> before/after tests
  and the change ("reduced pain, increased ease of motion, greater range of motion").
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

from ..errors import UserError
from ..fmt import one_line_feedback
from ..verdict import shown_score

# One or two lines, shown before anything else (domain.md "Safety and the user's body").
SAFETY_LINES: tuple[str, ...] = (
    "Safety: if you have an injury, a condition or doubts, consult a practitioner before self-myofascial release.",
    "Roll on muscle, never on joints or bones (or the spine of the lower back); stop at once on sharp or "
    "radiating pain, numbness or tingling.",
)


@dataclass(frozen=True)
class Region:
    """A body region: how to test it before/after, and which limb to move while holding on it.

    `test_movement` is the standard movement the person rates (pain 0-10, range
    of motion, ease); `rom_hint` says what range of motion means for it (words
    or degrees); `related_limb` is the seed's "move a related limb" for this region.
    """

    key: str
    name: str
    test_movement: str
    rom_hint: str
    related_limb: str
    avoid: str
    aliases: tuple[str, ...] = ()
    # a range of motion measured as a distance in cm: True when a shorter distance means more range (heel to
    # buttock), False when a longer one does (toe to wall); None when the test has no distance
    cm_shorter_is_better: bool | None = None


REGIONS: dict[str, Region] = {r.key: r for r in (
    Region("quads", "quadriceps (front of thigh)",
           "standing quad stretch: pull the heel toward the buttock",
           "heel-to-buttock distance in cm, or knee bend in degrees",
           "slowly bend and straighten the knee", "the kneecap and the hip bone",
           ("quad", "quadriceps", "front thigh"), cm_shorter_is_better=True),
    Region("hamstrings", "hamstrings (back of thigh)",
           "straight-leg raise lying on your back (or a standing toe touch)",
           "leg angle from the floor in degrees, or how far the fingers reach",
           "straighten and bend the knee, or point and flex the foot", "the back of the knee",
           ("hamstring", "back thigh")),
    Region("calves", "calves",
           "knee-to-wall lunge: knee to the wall with the heel down",
           "toe-to-wall distance in cm, or ankle angle in degrees",
           "point and flex the ankle, or draw slow circles with the foot", "the Achilles tendon and the back of the knee",
           ("calf",), cm_shorter_is_better=False),
    Region("glutes", "glutes (buttocks)",
           "figure-4 stretch lying on your back: ankle over the opposite knee, pull the thigh in",
           "how far the thigh comes toward the chest, in words or degrees",
           "let the knee of the side you roll fall open and closed (hip rotation)", "the tailbone and the hip bone",
           ("glute", "buttocks", "piriformis")),
    Region("it-band", "IT band / outer thigh",
           "side-lying hip drop: top leg straight, let it drop behind you",
           "how far the knee drops toward the floor, in words or degrees",
           "slowly bend and straighten the knee of the leg on the roller", "the hip bone and the outside of the knee",
           ("itband", "it band", "iliotibial", "outer thigh", "tfl")),
    Region("upper-back", "upper back (thoracic)",
           "seated rotation: arms crossed, turn the chest to each side",
           "how far you turn, in degrees or in words",
           "reach both arms overhead and back, or hug yourself and rock", "the neck and the lower back's spine",
           ("thoracic", "upper back", "t-spine", "back")),
    Region("lats", "lats (side of the back)",
           "arm raise on your back: can the straight arm lie flat on the floor overhead?",
           "gap between the arm and the floor in cm, or shoulder angle in degrees",
           "reach the arm overhead and back, or turn the palm up and down", "the armpit and the shoulder blade",
           ("lat", "latissimus"), cm_shorter_is_better=True),
    Region("adductors", "adductors (inner thigh)",
           "butterfly sit: soles together, let the knees drop",
           "knee-to-floor distance in cm, or in words",
           "bend and straighten the knee, or slide the leg in and out", "the groin and the inside of the knee",
           ("adductor", "inner thigh", "groin"), cm_shorter_is_better=True),
    Region("hip-flexors", "hip flexors (front of hip)",
           "half-kneeling lunge: shift forward until the front of the back hip pulls",
           "how far you shift forward, in words or degrees",
           "bend the knee of the leg on the roller (heel toward the buttock)", "the hip bone at the front",
           ("hip flexor", "psoas", "hip")),
    Region("shins", "shins (tibialis anterior)",
           "kneel sitting back on the heels, tops of the feet flat",
           "how far you sit back, in words",
           "point and flex the ankle", "the shin bone itself (roll on the muscle beside it)",
           ("shin", "tibialis")),
    Region("chest", "chest (pecs)",
           "doorway stretch: forearm on the frame, turn the chest away",
           "how far you turn, in words or degrees",
           "sweep the arm slowly overhead and back", "the collarbone and the armpit",
           ("pecs", "pec", "pectorals")),
)}


def find_region(text: str) -> Region:
    """The region named by `text` (key, alias or number in the listed order); UserError if none."""
    s = re.sub(r"[\s_]+", " ", str(text).strip().lower())
    keys = list(REGIONS)
    if s.isdigit() and 1 <= int(s) <= len(keys):
        return REGIONS[keys[int(s) - 1]]
    for r in REGIONS.values():
        if s in (r.key, r.key.replace("-", " "), r.name.lower()) or s in r.aliases:
            return r
    raise UserError(f"unknown region '{text}' (choose one of: {', '.join(keys)})")


# --- before/after tests -------------------------------------------------------

_DEG_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:°|deg|degs|degree|degrees)?\s*$", re.I)


@dataclass
class MovementTest:
    """One quick test of the region's standard movement (before or after rolling).

    pain_0_10: pain on the movement, 0 none .. 10 worst; ease_0_10: how easy it
    moves, 0 very stiff .. 10 completely free; range of motion either in degrees
    (`rom_deg`) or in words (`rom_text`), whichever the person gave.
    """

    pain_0_10: int | None = None
    rom_deg: float | None = None
    rom_text: str | None = None
    ease_0_10: int | None = None
    movement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def rom_words(self) -> str | None:
        """Range of motion as shown to a person."""
        if self.rom_deg is not None:
            return f"{self.rom_deg:g}°"
        return self.rom_text

    def is_empty(self) -> bool:
        return self.pain_0_10 is None and self.rom_deg is None and not self.rom_text and self.ease_0_10 is None


def parse_scale_0_10(value: Any, what: str) -> int | None:
    """A 0-10 rating from an answer (int or text); None for a blank answer; UserError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what}: '{value}' is not a number from 0 to 10") from None
    if not math.isfinite(f) or f < 0 or f > 10 or f != int(f):
        raise UserError(f"{what}: '{value}' is not a whole number from 0 to 10")
    return int(f)


def parse_rom(value: Any) -> tuple[float | None, str | None]:
    """Range of motion: a number (optionally with °/deg) -> degrees; any other text -> words."""
    if value is None:
        return None, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(float(value)) or not -360 <= float(value) <= 360:
            raise UserError(f"range of motion: {value} is not an angle in degrees")
        return float(value), None
    s = str(value).strip()
    if not s:
        return None, None
    m = _DEG_RE.match(s)
    if m:
        return parse_rom(float(m.group(1)))
    return None, s


def movement_test_from_answers(data: Mapping[str, Any] | None, what: str, movement: str | None = None) -> MovementTest:
    """Build a MovementTest from an answers-file entry such as {"pain": 4, "rom": "35 deg", "ease": 5}."""
    if data is None:
        return MovementTest(movement=movement)
    if not isinstance(data, Mapping):
        raise UserError(f"{what}: expected an object like {{\"pain\": 4, \"rom\": \"35 deg\", \"ease\": 5}}")
    known = {"pain", "pain_0_10", "rom", "rom_deg", "rom_text", "range_of_motion", "ease", "ease_0_10", "movement"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{what}: unknown field{'' if len(unknown) == 1 else 's'} {', '.join(unknown)} (use pain, rom, ease)")
    pain = parse_scale_0_10(data.get("pain", data.get("pain_0_10")), f"{what} pain")
    ease = parse_scale_0_10(data.get("ease", data.get("ease_0_10")), f"{what} ease")
    rom_deg, rom_text = parse_rom(data.get("rom", data.get("range_of_motion")))
    if data.get("rom_deg") is not None:
        rom_deg, rom_text = parse_rom(float(data["rom_deg"]))
    if data.get("rom_text"):
        rom_text = str(data["rom_text"])
    return MovementTest(pain, rom_deg, rom_text, ease, str(data.get("movement") or movement or "") or None)


@dataclass
class TestChange:
    """After minus before; `lines` says it in words, `improved` lists the seed's signs of positive change."""

    pain_delta: int | None
    ease_delta: int | None
    rom_delta_deg: float | None
    lines: list[str]
    improved: list[str]
    rom_delta_cm: float | None = None  # a distance test's change (after - before, cm; better or worse by region)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_score(analysis: Mapping[str, Any] | None) -> int | None:
    """The one score (0-100) of a session, wherever it is shown (session summary, history, report, plots).

    It is the analysis summary's `session_score` (rollsignal's Scorer.summarize: the mean hold score
    weighted with the share of loaded time spent holding), never a mean of hold scores recomputed on the
    side, so the history says the same number as the session and the report. None when not known
    (an analysis without a summary).
    """
    summary = (analysis or {}).get("summary") or {}
    v = summary.get("session_score")
    try:
        return None if v is None else int(round(float(v)))
    except (TypeError, ValueError):
        return None


#: How rollsignal's session advice asks for the before/after test (Scorer.summarize, seed line 52).
TEST_ADVICE_START = "Test the area by moving it before and after"


def advice_for(advice: Iterable[str], before: MovementTest | None, after: MovementTest | None) -> list[str]:
    """The analysis' advice as a person who did the tests should read it: without "Test the area by moving it
    before and after" when both the before- and the after-test were answered (a guided session asked for them:
    telling the client to do what they just did reads as if the program had not listened). The stored
    analysis keeps its advice as the detector gave it."""
    done = before is not None and after is not None and not before.is_empty() and not after.is_empty()
    return [str(a) for a in advice if not (done and str(a).startswith(TEST_ADVICE_START))]


def compare_tests(before: MovementTest | None, after: MovementTest | None) -> TestChange:
    """The change from before to after, in numbers and in words (seed: reduced pain, ease, range)."""
    lines: list[str] = []
    improved: list[str] = []
    pain_d = ease_d = None
    rom_d = rom_cm = None
    if before is None or after is None:
        return TestChange(None, None, None, ["No before/after test recorded."], [])
    if before.pain_0_10 is not None and after.pain_0_10 is not None:
        pain_d = after.pain_0_10 - before.pain_0_10
        word = "down" if pain_d < 0 else "up" if pain_d > 0 else "unchanged"
        lines.append(f"Pain {before.pain_0_10} → {after.pain_0_10}/10 ({word}{'' if pain_d == 0 else f' {abs(pain_d)}'}).")
        if pain_d < 0:
            improved.append("reduced pain")
    if before.ease_0_10 is not None and after.ease_0_10 is not None:
        ease_d = after.ease_0_10 - before.ease_0_10
        word = "easier" if ease_d > 0 else "stiffer" if ease_d < 0 else "unchanged"
        lines.append(f"Ease of motion {before.ease_0_10} → {after.ease_0_10}/10 ({word}).")
        if ease_d > 0:
            improved.append("increased ease of motion")
    if before.rom_deg is not None and after.rom_deg is not None:
        rom_d = after.rom_deg - before.rom_deg
        lines.append(f"Range of motion {before.rom_deg:g}° → {after.rom_deg:g}° ({rom_d:+g}°).")
        if rom_d > 0:
            improved.append("greater range of motion")
    elif (cm := _cm_change(before, after)) is not None:
        rom_cm, better = cm
        lines.append(f"Range of motion {before.rom_text} → {after.rom_text} "
                     f"({rom_cm:+g} cm{'' if rom_cm == 0 or better is None else ': more range' if better else ': less range'}).")
        if better:
            improved.append("greater range of motion")
    elif before.rom_words or after.rom_words:
        lines.append(f"Range of motion: before \"{before.rom_words or '-'}\", after \"{after.rom_words or '-'}\".")
    if not lines:
        lines.append("No comparable before/after answers.")
    elif improved:
        lines.append("Positive change: " + ", ".join(improved) + ".")
    else:
        lines.append("No clear change this time; patience over several sessions counts.")
    return TestChange(pain_d, ease_d, rom_d, lines, improved, rom_cm)


_CM_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:cm|centimet(?:er|re)s?)\s*$", re.I)


def _cm_change(before: MovementTest, after: MovementTest) -> tuple[float, bool | None] | None:
    """(after - before in cm, whether that is more range: None when the test's direction is not known) when
    both tests gave a distance in cm, else None. Which way is better depends on the test (heel to buttock:
    shorter; toe to wall: longer), so it comes from the region whose test it was."""
    mb, ma = _CM_RE.match(before.rom_text or ""), _CM_RE.match(after.rom_text or "")
    if not (mb and ma):
        return None
    d = round(float(ma.group(1)) - float(mb.group(1)), 6)
    movement = after.movement or before.movement
    region = next((r for r in REGIONS.values() if r.test_movement == movement), None)
    shorter = region.cm_shorter_is_better if region is not None else None
    better = None if shorter is None or d == 0 else (d < 0) == shorter
    return d, better


# --- the guided flow -----------------------------------------------------------

class Phase(str, Enum):
    """Where the guided session is. Order: SAFETY → REGION → BEFORE_TEST → GUIDE → AFTER_TEST → DONE."""

    SAFETY = "safety"
    REGION = "region"
    BEFORE_TEST = "before_test"
    GUIDE = "guide"
    AFTER_TEST = "after_test"
    DONE = "done"


@dataclass(frozen=True)
class Cue:
    """Something to tell the person. `kind` picks how loud: 'info' is text only; 'start', 'milestone',
    'limb', 'nudge', 'ended', 'too_hard' (ease off), 'warning' also sound (buzzer/LED on the roller, a host sound).

    `t_s` is device time (seconds on the session time base) when known.
    """

    kind: str
    text: str
    t_s: float | None = None
    milestone_s: float | None = None

    @property
    def audible(self) -> bool:
        return self.kind != "info"


@dataclass
class CoachSettings:
    """Timings of the guide, seconds. Defaults from the seed: 30 s release window, "a few minutes".

    nudge_roll_s: rolling this long (summed, stepping off excluded) without a hold
    earns a "find a spot and hold" nudge, repeated every further nudge_roll_s.
    limb_prompt_s: hold duration at which the related-limb prompt comes (after the
    release window: first settle and connect, then move, as the seed describes).
    """

    milestones_s: tuple[float, ...] = (30.0, 60.0, 90.0, 120.0)
    repeat_after_last_s: float = 60.0  # after 2 min, a cue every further minute
    nudge_roll_s: float = 45.0
    limb_prompt_s: float = 40.0
    short_hold_s: float = 30.0
    # The detector confirms a hold some seconds after its true start and back-dates it; a nudge
    # counts rolling only up to this long ago, so it does not fire on a hold awaiting confirmation.
    # 5.5 s with the encoder; force only longer (rollsignal.confirm_lag_s: the guide sets it per stream).
    confirm_lag_s: float = 5.5


class FlowError(RuntimeError):
    """A flow method called in the wrong phase (a programming error, not a user error)."""


@dataclass
class GuideStats:
    holds: list[dict[str, Any]] = field(default_factory=list)
    nudges: int = 0
    warnings: list[str] = field(default_factory=list)
    too_hard: int = 0  # ease-off cues given (holds held too hard for a few seconds)


class CoachingFlow:
    """The guided session as a state machine.

    Call order: `start()` (safety lines) → `choose_region()` → `record_before()` →
    `begin_guide(t_s)` → `on_event(ev)` / `on_time(t_s)` for every detector event
    and chunk → `end_guide(t_s)` → `record_after()` → `summary()`. Each call returns
    the cues to give now. Calls out of order raise FlowError.

    Events follow rollsignal's documented API (objects or dicts with `kind`):
    `state` (state, previous, start_s), `hold_started` (start_s, t_s),
    `hold_progress` (start_s, duration_s), `hold_ended` (hold), `warning` (message).
    """

    def __init__(self, settings: CoachSettings | None = None) -> None:
        self.settings = settings or CoachSettings()
        self.phase = Phase.SAFETY
        self.region: Region | None = None
        self.before: MovementTest | None = None
        self.after: MovementTest | None = None
        self.stats = GuideStats()
        self.cues: list[Cue] = []  # every cue given, in order (for the summary and tests)
        # guide state
        self._state = "off"
        self._state_start_s = 0.0
        self._roll_since_hold_s = 0.0  # finished roll time since the last hold (or the guide's start)
        self._next_nudge_s = self.settings.nudge_roll_s
        self._hold_start_s: float | None = None
        self._hold_done: set[float] = set()
        self._limb_done = False
        self._last_t_s: float | None = None
        self._guide_start_s: float | None = None

    # -- helpers
    def _emit(self, cues: list[Cue]) -> list[Cue]:
        self.cues.extend(cues)
        return cues

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            raise FlowError(f"flow is in phase {self.phase.value}, expected {', '.join(p.value for p in phases)}")

    # -- before rolling
    def start(self) -> list[Cue]:
        """Safety first: the seed's 'consult a practitioner' plus joints, bones and sharp pain."""
        self._expect(Phase.SAFETY)
        self.phase = Phase.REGION
        return self._emit([Cue("info", line) for line in SAFETY_LINES])

    def choose_region(self, region: Region | str) -> list[Cue]:
        self._expect(Phase.REGION)
        self.region = region if isinstance(region, Region) else find_region(region)
        self.phase = Phase.BEFORE_TEST
        r = self.region
        return self._emit([
            Cue("info", f"Region: {r.name}. Avoid {r.avoid}."),
            Cue("info", f"Before rolling, test it: {r.test_movement}. Rate pain 0-10, range of motion "
                        f"({r.rom_hint}) and ease 0-10."),
        ])

    def record_before(self, test: MovementTest) -> list[Cue]:
        self._expect(Phase.BEFORE_TEST)
        self.before = test
        self.phase = Phase.GUIDE
        return []

    # -- guiding, driven by detector events
    def begin_guide(self, t_s: float = 0.0) -> list[Cue]:
        """Start guiding at device time t_s: roll to find a tight spot, then hold with light pressure."""
        self._expect(Phase.GUIDE)
        self._guide_start_s = self._last_t_s = t_s
        self._state_start_s = t_s
        r = self.region
        limb = f" While holding you may {r.related_limb}." if r else ""
        return self._emit([
            Cue("start", "Roll slowly to find a tight or tender spot, then stop on it and hold with light "
                         f"pressure: 30 s to a few minutes.{limb}", t_s),
        ])

    def on_event(self, ev: Any) -> list[Cue]:
        """One detector event (object or dict) → cues."""
        self._expect(Phase.GUIDE)
        kind = _get(ev, "kind")
        t_s = _get(ev, "t_s")
        out: list[Cue] = []
        if t_s is not None:
            out += self._advance(float(t_s))
        if kind == "state":
            new = str(_get(ev, "state"))
            start = float(_get(ev, "start_s", t_s if t_s is not None else self._state_start_s))
            self._close_state(start)
            self._state, self._state_start_s = new, start
            if new != "hold":
                self._hold_start_s = None  # no more milestones once the detector has left the hold
        elif kind == "hold_started":
            start = float(_get(ev, "start_s"))
            self._begin_hold(start)
            t_now = float(t_s) if t_s is not None else start
            out.append(Cue("start", "Holding: stay still, light pressure, breathe out slowly.", t_now))
            out += self._hold_milestones(t_now)
        elif kind == "hold_progress":
            if self._hold_start_s is None:  # progress without a start (joined mid-hold): adopt it
                self._begin_hold(float(_get(ev, "start_s")))
            now = float(_get(ev, "start_s")) + float(_get(ev, "duration_s"))
            out += self._hold_milestones(now)
        elif kind == "hold_ended":
            hold = dict(_get(ev, "hold") or {})
            self.stats.holds.append(hold)
            self._hold_start_s = None
            self._roll_since_hold_s = 0.0
            self._next_nudge_s = self.settings.nudge_roll_s
            out.append(Cue("ended", _hold_ended_text(hold, self.settings.short_hold_s), t_s))
        elif kind == "warning":
            msg = str(_get(ev, "message"))
            self.stats.warnings.append(msg)
            out.append(Cue("warning", f"Careful: {msg}", t_s))
        return self._emit(out)

    def on_too_hard(self, t_s: float, text: str | None) -> list[Cue]:
        """The current hold has been too hard for a few seconds (`text`: the ease-off words, from the live
        state's rule, holdsense.listeners.live.TooHardCue, which gives it once per hold); None: nothing."""
        self._expect(Phase.GUIDE)
        if not text or self._hold_start_s is None:
            return []
        self.stats.too_hard += 1
        return self._emit([Cue("too_hard", text, float(t_s))])

    def on_link(self, lost: bool) -> list[Cue]:
        """The link to the roller was lost (`lost`) or is back: said at once, since the person on the floor
        otherwise only sees the guide fall silent (a hold the loss cut off is told as such when it ends).
        How long it was down and what the roller kept meanwhile (its queue often keeps every sample) is not
        known yet when the link comes back, so the cue claims neither: the summary counts the lost time."""
        self._expect(Phase.GUIDE)
        if lost:
            return self._emit([Cue("warning", "Link to the roller lost: stay where you are, it reconnects by itself "
                                              "(check the USB cable, or bring the computer closer for Bluetooth).",
                                   self._last_t_s)])
        return self._emit([Cue("info", "Link to the roller back: the guide goes on.", self._last_t_s)])

    def on_time(self, t_s: float) -> list[Cue]:
        """Device time has reached t_s (call after each chunk): milestones and nudges between events."""
        self._expect(Phase.GUIDE)
        return self._emit(self._advance(float(t_s)))

    def end_guide(self, t_s: float | None = None) -> list[Cue]:
        self._expect(Phase.GUIDE)
        if t_s is not None:
            self._advance(float(t_s))
        self.phase = Phase.AFTER_TEST
        r = self.region
        what = r.test_movement if r else "the same movement"
        return self._emit([Cue("info", f"Done rolling. Test again: {what}. Rate pain, range of motion and ease "
                                       "as before.", self._last_t_s)])

    # -- after
    def record_after(self, test: MovementTest) -> list[Cue]:
        self._expect(Phase.AFTER_TEST)
        self.after = test
        self.phase = Phase.DONE
        return self._emit([Cue("info", line) for line in compare_tests(self.before, self.after).lines])

    def change(self) -> TestChange:
        return compare_tests(self.before, self.after)

    # -- internals
    def _begin_hold(self, start_s: float) -> None:
        # The hold is back-dated: time since start_s was counted as roll if it was; take it out.
        if self._state == "roll" and start_s > self._state_start_s:
            self._roll_since_hold_s += start_s - self._state_start_s
        self._state, self._state_start_s = "hold", start_s
        self._hold_start_s = start_s
        self._hold_done = set()
        self._limb_done = False

    def _close_state(self, end_s: float) -> None:
        if self._state == "roll":
            self._roll_since_hold_s += max(0.0, end_s - self._state_start_s)

    def _rolling_s(self, t_s: float) -> float:
        cur = max(0.0, t_s - self.settings.confirm_lag_s - self._state_start_s) if self._state == "roll" else 0.0
        return self._roll_since_hold_s + cur

    def _advance(self, t_s: float) -> list[Cue]:
        if self._last_t_s is not None and t_s < self._last_t_s:
            t_s = self._last_t_s  # events can be back-dated; time itself never runs backwards
        self._last_t_s = t_s
        out: list[Cue] = []
        if self._hold_start_s is not None:
            out += self._hold_milestones(t_s)
        elif self._state == "roll":
            rolled = self._rolling_s(t_s)
            if rolled >= self._next_nudge_s:
                self.stats.nudges += 1
                self._next_nudge_s = rolled + self.settings.nudge_roll_s
                out.append(Cue("nudge", f"You have rolled {rolled:.0f} s without holding: don't just roll "
                                        "around. Stop on the most tender spot and hold it.", t_s))
        return out

    def _milestone_list(self, upto_s: float) -> list[float]:
        ms = list(self.settings.milestones_s)
        if ms and self.settings.repeat_after_last_s > 0:
            m = ms[-1] + self.settings.repeat_after_last_s
            while m <= upto_s:
                ms.append(m)
                m += self.settings.repeat_after_last_s
        return ms

    def _hold_milestones(self, t_s: float) -> list[Cue]:
        if self._hold_start_s is None:
            return []
        dur = t_s - self._hold_start_s
        out: list[Cue] = []
        reached = [m for m in self._milestone_list(dur) if m <= dur + 1e-9 and m not in self._hold_done]
        # Only the latest milestone if several were passed at once (e.g. joining late): no cue storm.
        if reached:
            for m in reached:
                self._hold_done.add(m)
            m = reached[-1]
            out.append(Cue("milestone", _milestone_text(m), self._hold_start_s + m, m))
        if not self._limb_done and dur >= self.settings.limb_prompt_s and self.region is not None:
            self._limb_done = True
            out.append(Cue("limb", f"Keep the pressure and {self.region.related_limb}; feel the tissue "
                                   "move over the roller.", self._hold_start_s + self.settings.limb_prompt_s))
        return out


def _milestone_text(m_s: float) -> str:
    if m_s == 30:
        return "30 s: release window reached. Stay if it still feels tight."
    if m_s < 120:
        return f"{m_s:.0f} s: good, patient hold. Keep breathing."
    minutes = m_s / 60
    label = f"{minutes:g} min"
    if m_s == 120:
        return f"{label}: well inside the few-minutes window. Move on when the spot eases."
    return f"{label} on this spot: fine if it still releases; otherwise find the next spot."


def _hold_ended_text(hold: Mapping[str, Any], short_s: float) -> str:
    from rollsignal.scoring import is_cut_off  # (here: `holdsense --help` does not import rollsignal)

    dur = float(hold.get("duration_s") or 0.0)
    score = hold.get("score")
    grade = hold.get("grade")
    head = f"Hold ended: {dur:.0f} s"
    if score is not None and shown_score(hold) != "–":  # no number for a hold cut off short (holdsense.verdict)
        head += f", score {score}"
    if grade:
        head += f" ({grade})"
    # the line worth reading (what to change, a too-hard hold first), as the live page shows it: the first
    # line is usually the duration's praise, which left "score 68 (too hard). Held 76 s: past the 30 s release
    # window." without a word on the pressure
    line = one_line_feedback(dict(hold))
    tail = f" {line}" if line else (f" Next time stay {short_s:.0f} s or more."
                                    if dur < short_s and not is_cut_off(dict(hold)) else "")
    return head + "." + tail


def _get(ev: Any, name: str, default: Any = None) -> Any:
    if isinstance(ev, Mapping):
        return ev.get(name, default)
    return getattr(ev, name, default)


def regions_help() -> list[str]:
    """Numbered region list for prompts."""
    return [f"{i}. {r.key}: {r.name}" for i, r in enumerate(REGIONS.values(), 1)]


def iter_regions() -> Iterable[Region]:
    return REGIONS.values()
