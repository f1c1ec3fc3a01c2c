"""Criteria in plain English, for an Open Badges achievement's `criteria.narrative`.

Works on the stored criteria JSON (a definition's `criteria` or an earned badge's
`criteria_snapshot`), so it reads every type the SPEC defines (section 3 and 8.2), including
documents stored before a type gained optional fields. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def _joined(words: Sequence[str], last: str = "and") -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def _activities(criteria: Mapping[str, Any]) -> str:
    types = criteria.get("activity_types")
    if not types:
        return "activities"
    return "activities of type " + _joined([f"“{kind}”" for kind in types], "or")


def _amount(criteria: Mapping[str, Any], number: int) -> str:
    if criteria.get("measure") == "minutes":
        return f"{_count(number, 'minute')} of {_activities(criteria)}"
    kinds = _activities(criteria)
    return f"{number} {kinds}" if number != 1 else f"1 {kinds.replace('activities', 'activity', 1)}"


def _window(criteria: Mapping[str, Any]) -> str:
    window = criteria.get("window") or {"kind": "all_time"}
    if window.get("kind") == "calendar_year":
        return " within one calendar year"
    if window.get("kind") == "rolling_days":
        return f" within {_count(int(window['days']), 'day')}"
    return ""


def _ladder(criteria: Mapping[str, Any], steps: Sequence[tuple[str | None, int]]) -> str:
    parts = [
        f"{name} at {_amount(criteria, value)}" if name else _amount(criteria, value) for name, value in steps
    ]
    return _joined(parts)


def sentence(criteria: Mapping[str, Any]) -> str:
    """One sentence (or a few, for combinations) saying what earns the badge."""
    kind = criteria.get("type")
    if kind == "threshold":
        return f"Register at least {_amount(criteria, int(criteria['threshold']))}{_window(criteria)}."
    if kind == "streak":
        per_week = int(criteria.get("min_per_week", 1))
        return (
            f"Be active {_count(int(criteria['weeks']), 'week')} in a row, registering at least "
            f"{_amount(criteria, per_week)} each week (weeks run Monday to Sunday)."
        )
    if kind == "training_completion":
        codes = [f"“{code}”" for code in criteria.get("training_codes", [])]
        which = (
            f"the training {codes[0]}"
            if len(codes) == 1
            else (
                f"all of the trainings {_joined(codes)}"
                if criteria.get("require", "all") == "all"
                else f"one of the trainings {_joined(codes, 'or')}"
            )
        )
        valid = ", and keep the certification valid (not expired)" if criteria.get("only_valid") else ""
        return f"Complete {which}{valid}."
    if kind == "tier":
        tiers = [(str(tier["name"]), int(tier["threshold"])) for tier in criteria.get("tiers", [])]
        return f"A badge with levels, one per tier reached: {_ladder(criteria, tiers)}."
    if kind == "milestone":
        steps: list[tuple[str | None, int]] = [(None, int(value)) for value in criteria.get("thresholds", [])]
        return f"A badge with levels, one per milestone reached: {_ladder(criteria, steps)}."
    if kind == "manual":
        return "Awarded by the organisation's coordinators or administrators in recognition of the work done."
    if kind == "requires_badge":
        level = int(criteria.get("level", 1))
        return f"Hold the organisation's badge “{criteria['badge_key']}” at level {level} or higher."
    if kind in ("all_of", "any_of"):
        members = [sentence(member).rstrip(".") for member in criteria.get("criteria", [])]
        numbered = "; ".join(f"({index}) {text}" for index, text in enumerate(members, start=1))
        lead = "Meet all of the following" if kind == "all_of" else "Meet at least one of the following"
        return f"{lead}: {numbered}."
    raise ValueError(f"no narrative for criteria of type {kind!r}")


def level_name(criteria: Mapping[str, Any], level: int) -> str | None:
    """The name of one level of a multi-level badge ("Silver", "Milestone 2: 15 activities")."""
    if criteria.get("type") == "tier":
        tiers = criteria.get("tiers", [])
        return str(tiers[level - 1]["name"]) if 0 < level <= len(tiers) else f"Level {level}"
    if criteria.get("type") == "milestone":
        thresholds = criteria.get("thresholds", [])
        if 0 < level <= len(thresholds):
            return f"Milestone {level}: {_amount(criteria, int(thresholds[level - 1]))}"
        return f"Level {level}"
    return None
