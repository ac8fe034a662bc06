"""Guidance profiles: the scoring rubric as versioned data that cites the guidance it encodes.

A profile is a JSON file packaged in `rollsignal/profiles/` next to a copy of
the article it encodes; every rule names citations, each a line number and
the quoted text of that line (tests check the quotes against the copy).
Reading package data through importlib.resources is the library's only I/O.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

PROFILE_FORMAT = "holdsense-profile/1"
DEFAULT_PROFILE = "be-patient"


class ProfileError(ValueError):
    """An unknown or malformed guidance profile."""


@dataclass(frozen=True)
class Profile:
    """A loaded guidance profile (`data` is the parsed JSON)."""

    name: str
    version: int
    data: dict[str, Any]

    @property
    def criteria(self) -> dict[str, Any]:
        """The scoring criteria (duration, pressure, steadiness, stillness), each with its weight and the
        guidance it cites: what a hold's `score` and `feedback` are computed from."""
        return self.data["criteria"]

    @property
    def safety(self) -> dict[str, Any]:
        """The safety limits (force against body weight and the rolling load) behind the `warning` events."""
        return self.data["safety"]

    @property
    def session(self) -> dict[str, Any]:
        """The session-level rules behind the summary's `session_score` and `advice`."""
        return self.data["session"]

    @property
    def min_hold_s(self) -> float:
        """The shortest still, loaded stretch that counts as a hold (s; 5 in "be-patient")."""
        return float(self.data["hold"]["min_s"])

    def source_text(self) -> str:
        """The packaged copy of the article this profile cites."""
        return resources.files("rollsignal.profiles").joinpath(self.data["source"]["file"]).read_text("utf-8")


def available_profiles() -> list[str]:
    """Names of the packaged profiles."""
    return list(_available())


@lru_cache(maxsize=None)
def _available() -> tuple[str, ...]:
    # package data does not change while the process runs: listed once (a Detector per analyze() call
    # listed and read the files every time, ~2 % of analysing a 10-minute recording)
    return tuple(sorted(p.name[:-5] for p in resources.files("rollsignal.profiles").iterdir()
                        if p.name.endswith(".json")))


@lru_cache(maxsize=None)
def _profile_text(name: str) -> str:
    return resources.files("rollsignal.profiles").joinpath(name + ".json").read_text("utf-8")


def load_profile(name: str = DEFAULT_PROFILE) -> Profile:
    """Load a packaged profile by name (e.g. "be-patient")."""
    if name not in _available():
        raise ProfileError(f"unknown profile '{name}' (available: {', '.join(available_profiles())})")
    data = json.loads(_profile_text(name))  # (parsed each time: every Profile owns its dict)
    if data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"profile '{name}': unknown format {data.get('format')!r}")
    for key in ("criteria", "safety", "session", "hold", "citations"):
        if key not in data:
            raise ProfileError(f"profile '{name}': missing '{key}'")
    check_tiers(name, data)
    return Profile(str(data["name"]), int(data["version"]), data)


def check_tiers(name: str, data: dict[str, Any]) -> None:
    """The safety warning is the tier above "too hard": its limits (`safety.rolling_factor` x the rolling
    load, `safety.body_frac` x body weight) must be at or above the pressure rule's (`too_hard_of_rolling`,
    `too_hard_of_body`), or a hold would be warned as far too heavy while its score calls it not too hard.
    Between the two (be-patient: 100-150 % of the rolling load, 33-50 % of body weight) a hold is too hard
    without a warning: the live views show TOO HARD and the guided session cues "ease off"."""
    pr, sf = data["criteria"]["pressure"], data["safety"]
    for warn, hard in (("rolling_factor", "too_hard_of_rolling"), ("body_frac", "too_hard_of_body")):
        if warn in sf and hard in pr and float(sf[warn]) < float(pr[hard]):
            raise ProfileError(f"profile '{name}': safety.{warn} {sf[warn]} is below criteria.pressure.{hard} "
                               f"{pr[hard]}: the warning must be the tier above too hard")
