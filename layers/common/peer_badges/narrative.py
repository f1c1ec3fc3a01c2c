"""Criteria in plain English, for an Open Badges achievement's `criteria.narrative`.

Works on the stored criteria JSON (a definition's `criteria` or an earned badge's
`criteria_snapshot`), so it reads every type the SPEC defines (section 3 and 8.2), including
documents stored before a type gained optional fields. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from peer_badges.criteria import CriteriaInvalid, parse_criteria
from peer_badges.wording import criteria_text


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


def sentence(criteria: Mapping[str, Any]) -> str:
    """The criteria in English words, as every other reader sees them (``peer_badges.wording`` owns the
    wording; this is its English sentence for the Open Badges achievement)."""
    try:
        parsed = parse_criteria(_versioned(dict(criteria)))
    except CriteriaInvalid as error:
        raise ValueError(f"no narrative for criteria of type {criteria.get('type')!r}: {error}") from error
    return criteria_text(parsed).en


def _versioned(document: dict[str, Any]) -> dict[str, Any]:
    """Stored snapshots always carry schema_version; documents written by hand may leave it out."""
    members = document.get("criteria")
    document = {"schema_version": 1, **document}
    if isinstance(members, list):
        document["criteria"] = [_versioned(m) if isinstance(m, dict) else m for m in members]
    return document


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
