"""Scoring a hold and a session against a guidance profile (default: be-patient v1).

Every number comes from the profile file; this module only turns them into
0-1 credits, a 0-100 score, a grade and feedback a person can act on. A score
uses only what the detector had seen when the hold ended (the rolling load so
far), so a live score and an offline score are the same number.
"""
from __future__ import annotations

import math
from typing import Any

from .profile import Profile

G_N_PER_KG = 9.80665
#: A hold's `ended_by` (contracts.md §3) when it was cut off rather than ended by the person, and how its
#: feedback says what cut it off.
CUT_OFF = {"link lost": "the link to the roller was lost", "end": "the session ended"}  # (live with nothing recorded too: "session")


def _ramp(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    """Linear from (x0, y0) to (x1, y1), clamped outside."""
    if x <= x0:
        return y0
    if x >= x1:
        return y1
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def is_cut_off(hold: dict[str, Any]) -> bool:
    """The hold was cut off (a lost link, the recording's end), not ended by the person: its length was not
    their choice (`ended_by` in CUT_OFF)."""
    return hold.get("ended_by") in CUT_OFF


def is_cut_off_short(hold: dict[str, Any], release_s: float) -> bool:
    """Cut off (`is_cut_off`) before the release window `release_s` (s): its length is not judged, and its
    score stays out of the session's mean (`Scorer.summarize`) unless no hold was judged."""
    return float(hold["duration_s"]) < release_s and is_cut_off(hold)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 hold', '2 holds' ('words' for irregular plurals): count words a person reads, never 'hold(s)'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def hold_duration_s(st: dict[str, Any]) -> float:
    """A hold's `duration_s` as the analysis reports it (s, to 1 ms): its reported end minus its reported start
    (each rounded to 1 ms), so `end_s - start_s` of the JSON is `duration_s` to the millisecond. (Rounded
    apart, the duration to 0.01 s and the ends to 1 ms, they differed by up to 5 ms.) `st["duration_s"]` when
    either end is unknown."""
    s, e = st.get("start_s"), st.get("end_s")
    if s is None or e is None or not (math.isfinite(float(s)) and math.isfinite(float(e))):
        return float(st["duration_s"])
    return round(round(float(e), 3) - round(float(s), 3), 3)


def same_spot(holds: list[dict[str, Any]], radius_cm: float) -> list[int | None]:
    """For each hold, the index of the first hold on its spot (its own index on a new spot; None without an
    encoder's `spot_cm`). A spot is within `radius_cm` of the mean of the holds already on it, in hold order."""
    groups: list[tuple[list[float], int]] = []
    out: list[int | None] = []
    for i, h in enumerate(holds):
        x = h.get("spot_cm")
        if x is None:
            out.append(None)
            continue
        for xs, first in groups:
            if abs(x - sum(xs) / len(xs)) <= radius_cm:
                xs.append(float(x))
                out.append(first)
                break
        else:
            groups.append(([float(x)], i))
            out.append(i)
    return out


class Scorer:
    """Scores holds (`score_hold`) and gives live safety warnings (`check_hold`)."""

    def __init__(self, profile: Profile) -> None:
        self.p = profile

    # ---- safety ---------------------------------------------------------------------------
    def _safety_limits(self, rolling_load_n: float | None, body_mass_kg: float | None) -> dict[str, float]:
        """Forces (N) above which a hold is far too heavy: vs the rolling load and vs body weight (each when known)."""
        s = self.p.safety
        lims = {}
        if rolling_load_n:
            lims["rolling"] = s["rolling_factor"] * rolling_load_n
        if body_mass_kg:
            lims["body"] = s["body_frac"] * body_mass_kg * G_N_PER_KG
        return lims

    def safety_message(self, force_n: float, rolling_load_n: float | None, body_mass_kg: float | None) -> str | None:
        """A warning text when the force is far above the rolling load or above ~half body weight."""
        lims = self._safety_limits(rolling_load_n, body_mass_kg)
        reasons = []
        if "rolling" in lims and force_n > lims["rolling"]:
            reasons.append(f"{force_n / rolling_load_n:.1f}x your rolling load")
        if "body" in lims and force_n > lims["body"]:
            reasons.append(f"{100 * force_n / (body_mass_kg * G_N_PER_KG):.0f} % of your body weight")
        if not reasons:
            return None
        return (f"Very heavy pressure on one spot ({' and '.join(reasons)}): ease off. Stop if you feel sharp or "
                "radiating pain, numbness or tingling, and ask a practitioner about safe pressure.")

    def safety_limit_n(self, rolling_load_n: float | None, body_mass_kg: float | None) -> float:
        """The force (N) above which `safety_message` warns, for this rolling load and body mass (inf: never).

        Why: the detector checks the hold's mean force every second of holding; with the limit it finds
        the first tick that warns with one vectorised comparison. Both use `_safety_limits`, so
        `safety_message(f, r, m)` is not None exactly when f > `safety_limit_n(r, m)`.
        """
        lims = [v for v in self._safety_limits(rolling_load_n, body_mass_kg).values() if v == v]
        return min(lims) if lims else math.inf  # (f > NaN is never true: such a limit never warns)

    # ---- one hold ---------------------------------------------------------------------------
    def score_hold(self, st: dict[str, Any], body_mass_kg: float | None = None) -> dict[str, Any]:
        """Hold dict of contracts.md §3 from the hold's statistics (see StateMachine._hold_dict)."""
        c = self.p.criteria
        # the duration the hold reports, judged as reported: grade, feedback and holds_over_30s agree with it
        d = hold_duration_s(st)
        f = float(st["mean_force_n"]) if st["mean_force_n"] == st["mean_force_n"] else 0.0
        cv = st["force_cv"]
        travel = st["travel_cm"]
        roll = st["rolling_load_n"]
        mass = st.get("body_mass_kg") or body_mass_kg
        fb: list[str] = []
        credits: dict[str, float] = {}

        # duration: be patient, 30 s to a few minutes. The text says the duration this hold reports
        # (`duration_s`, to 1 ms: d), rounded as every display rounds it: a run of 52.50000000001 s reports
        # 52.5, shown "52 s" everywhere else, and must not read "Held 53 s" beside it.
        du = c["duration"]
        # A hold cut off by a lost link or by the end of the recording (Ctrl-C while holding) did not end
        # where the person chose: its length says nothing of their patience. Under the release window it is
        # not judged (no duration credit; the score is the other criteria's); past it, the time was held.
        ended_by = st.get("ended_by")
        cut = CUT_OFF.get(ended_by) if isinstance(ended_by, str) else None
        if d < du["release_s"] and cut:
            fb.append(f"Cut off at {d:.0f} s when {cut}: its length is not judged.")
        elif d < du["release_s"]:
            credits["duration"] = du["credit_below_release_max"] * d / du["release_s"]
            fb.append(f"Held {d:.0f} s: be patient and stay at least {du['release_s']:.0f} s (up to a few minutes) "
                      "so the tissue has time to release.")
        else:
            credits["duration"] = _ramp(d, du["release_s"], du["full_credit_s"], du["credit_at_release"], 1.0)
            held = f"Held {d:.0f} s" + (f" until {cut}" if cut else "")
            if d > du["long_s"]:
                fb.append(f"{held}: well past the release window. Long holds are fine; moving on to "
                          "the next tight spot may serve you better.")
            else:
                fb.append(f"{held}: past the {du['release_s']:.0f} s release window.")

        # pressure: light relative to body weight and/or the rolling load seen so far
        pr = c["pressure"]
        too_hard = False
        pcs: list[float] = []
        words: list[str] = []
        if mass:
            frac = f / (mass * G_N_PER_KG)
            pcs.append(_ramp(frac, pr["light_max_of_body"], pr["too_hard_of_body"], 1.0, pr["credit_at_limit"]))
            if frac >= pr["too_hard_of_body"]:
                too_hard = True
            words.append(f"{100 * frac:.0f} % of your body weight")
        if roll:
            rel = f / roll
            pcs.append(_ramp(rel, pr["light_max_of_rolling"], pr["too_hard_of_rolling"], 1.0, pr["credit_at_limit"]))
            if rel >= pr["too_hard_of_rolling"]:
                too_hard = True
            words.append(f"{100 * rel:.0f} % of your rolling load")
        if too_hard:
            pressure = "too hard"
            credits["pressure"] = 0.0
            fb.append(f"Too hard: you held at {' and '.join(words)}. Take weight off with your hands or the other "
                      "leg; light, sustained pressure releases fascia better than force.")
        elif pcs:
            credits["pressure"] = min(pcs)
            pressure = "light" if credits["pressure"] >= 0.999 else "fairly firm"
            if credits["pressure"] >= 0.999:
                fb.append(f"Light pressure ({' and '.join(words)}): good.")
            else:
                fb.append(f"Fairly firm pressure ({' and '.join(words)}): lighten up a little and let the "
                          "tissue relax onto the roller.")
        else:
            pressure = "not judged"
            credits["pressure"] = pr["no_reference_credit"]
            fb.append("Pressure not judged yet: roll a few strokes first (or give your body mass) so the hold can be "
                      "compared with your rolling load.")

        # steadiness: sustained pressure (a moving limb is fine)
        # A related limb moving (knee bends on the quads, seed line 50) swings the load at 0.1-1 Hz around a
        # steady level it returns to (slow_cv stays small). Creeping or unsteady pressure moves the level.
        sd = c["steadiness"]
        slow = st.get("slow_cv")
        if slow is not None and slow == slow and "slow_cv_good" in sd:
            credits["steadiness"] = _ramp(slow, sd["slow_cv_good"], sd["slow_cv_bad"], 1.0, 0.0)
            if slow > sd["slow_cv_good"]:
                fb.append(f"Pressure drifted by {100 * slow:.0f} % over the hold: relax onto the roller and keep "
                          "the load sustained.")
            elif cv is not None and cv == cv and cv > sd["slow_cv_good"] and cv > 2 * slow:
                # the load moved clearly, but mostly faster than the 10 s blocks: a limb, not the pressure
                fb.append(f"Moving a related limb while holding is fine: the load swung by {100 * cv:.0f} % "
                          "around a steady level.")
        elif cv is not None and cv == cv:
            credits["steadiness"] = _ramp(cv, sd["cv_good"], sd["cv_bad"], 1.0, 0.0)
            if cv > sd["cv_good"]:
                fb.append(f"Pressure varied by {100 * cv:.0f} %: relax onto the roller and keep the load sustained.")
        # stillness: the roller stays on the spot (encoder only)
        if travel is not None:
            sl = c["stillness"]
            credits["stillness"] = _ramp(travel, sl["travel_good_cm"], sl["travel_bad_cm"], 1.0, 0.0)
            if travel > sl["travel_good_cm"]:
                fb.append(f"The roller moved {travel:.1f} cm: stay on the spot instead of drifting.")
            else:
                fb.append(f"Stayed on the spot (roller moved {travel:.1f} cm).")
        total_w = sum(c[k]["weight"] for k in credits)
        score = 100.0 * sum(c[k]["weight"] * v for k, v in credits.items()) / total_w
        warn = self.safety_message(f, roll, mass)
        if warn:
            score = min(score, self.p.safety["score_cap"])
            fb.append(warn)
        if warn:
            grade = "too hard: ease off"
        elif too_hard:
            grade = "too hard"
        elif d < du["release_s"] and cut:
            grade = "cut off: length not judged"
        elif d < du["release_s"]:
            grade = "too short for a release"
        elif d > du["long_s"]:
            grade = "long hold: release window reached"
        else:
            grade = "release window reached"
        return {
            # (to 1 ms as the segments: a hold from the first sample or to the last is not on the 0.05 s grid)
            "start_s": _r(st["start_s"], 3), "end_s": _r(st["end_s"], 3), "duration_s": _r(d, 3),
            "mean_force_n": _r(f, 1), "force_cv": _r(cv, 3), "travel_cm": _r(travel, 2),
            "spot_cm": _r(st["spot_cm"], 1), "score": int(round(score)), "grade": grade, "pressure": pressure,
            "feedback": fb,
            "confidence": _r(st.get("confidence"), 3),
            **({"ended_by": ended_by} if ended_by is not None else {}),
        }

    # ---- session ------------------------------------------------------------------------
    def summarize(self, segments: list[dict[str, Any]], holds: list[dict[str, Any]]) -> dict[str, Any]:
        """Session summary of contracts.md §3: time per state, holds over 30 s, score and advice."""
        tot = {"off": 0.0, "roll": 0.0, "hold": 0.0}
        for s in segments:
            tot[s["kind"]] += s["end_s"] - s["start_s"]
        duration = sum(tot.values())
        release = self.p.criteria["duration"]["release_s"]
        over = sum(1 for h in holds if h["duration_s"] >= release)
        ss = self.p.session
        advice: list[str] = []
        # a hold cut off short by a lost link or the recording's end is not judged on its length, so its score
        # (the other criteria only) is not comparable with the others': it stays out of the mean unless it is
        # all there is, and out of the advice on holds the person ended early
        cut_short = [is_cut_off_short(h, release) for h in holds]
        judged = [h for h, c in zip(holds, cut_short) if not c] or holds
        if holds:
            mean_score = sum(h["score"] for h in judged) / len(judged)
            share = tot["hold"] / max(tot["hold"] + tot["roll"], 1e-9)
            session_score = int(round(ss["hold_weight"] * mean_score
                                      + 100 * (1 - ss["hold_weight"]) * min(1.0, share / ss["hold_share_target"])))
        else:
            session_score = 0
        if tot["roll"] + tot["hold"] <= 0:
            advice.append("Nobody was on the roller in this recording.")
        elif not holds:
            advice.append(f"You rolled for {tot['roll']:.0f} s and never held: don't just roll around on it. Find a "
                          f"tight spot, let your body relax onto it and stay {release:.0f} s to a few minutes.")
        elif tot["roll"] > tot["hold"]:
            advice.append(f"You rolled for {tot['roll']:.0f} s and held for {tot['hold']:.0f} s: don't just roll "
                          "around; spend more of the session holding the tight spots you find.")
        cut = sum(cut_short)
        short = len(holds) - over - cut
        if short:
            not_counted = (f" ({cut} more {'was' if cut == 1 else 'were'} cut off by a lost link or the end of the "
                           "recording: not counted)") if cut else ""
            which = "Your hold" if len(holds) == 1 else f"{short} of {len(holds)} holds"
            advice.append(f"{which} ended before {release:.0f} s{not_counted}: be patient, a "
                          "release can take 30 seconds to a few minutes.")
        hard = sum(1 for h in holds if h["grade"].startswith("too hard"))
        if hard:
            which = ("Your hold was" if len(holds) == 1 else
                     f"{hard} of {len(holds)} holds {'was' if hard == 1 else 'were'}")
            advice.append(f"{which} too hard: use light, sustained pressure, well below your rolling load.")
        # holds on the same spot, named by their numbers: a position "-8 cm along the roll path" (from the
        # first contact) means nothing to a client; the data keeps it as spot_cm
        same = same_spot(holds, ss["spot_radius_cm"])
        for i in sorted({g for g in same if g is not None}):
            members = [j + 1 for j, g in enumerate(same) if g == i]
            if len(members) > 1:
                nums = ", ".join(str(n) for n in members[:-1]) + f" and {members[-1]}"
                advice.append(f"You held the same spot {len(members)} times (holds {nums}).")
        if holds:
            advice.append("Test the area by moving it before and after: less pain and more ease or range of motion "
                          "mean the release worked.")
        return {"duration_s": round(duration, 2), "hold_s": round(tot["hold"], 2), "roll_s": round(tot["roll"], 2),
                "off_s": round(tot["off"], 2),
                # of off_s, the time without samples (the off segments' lost_s): a lost link, not a step-off
                "lost_s": round(sum((s.get("lost_s", 0.0) for s in segments), 0.0), 2), "holds": len(holds), "holds_over_30s": over,
                "session_score": session_score, "advice": advice}
