"""Criteria in plain English, for an Open Badges achievement's `criteria.narrative`.

Works on the stored criteria JSON (a definition's `criteria` or an earned badge's
`criteria_snapshot`), so it reads every type the SPEC defines (section 3 and 8.2), including
documents stored before a type gained optional fields. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peer_badges.criteria.base import CriteriaInvalid
from peer_badges.criteria.registry import parse_criteria
from peer_badges.wording import amount, criteria_text


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
            try:
                # (payable changes no word of the amount; hand-written documents may leave it out)
                parsed = parse_criteria(_versioned({"payable": False, **criteria}))
            except CriteriaInvalid:
                return f"Level {level}"
            # In the wording module's words, as the criteria sentence says it ("1 hour 30 minutes").
            return f"Milestone {level}: {amount('en', parsed, int(thresholds[level - 1]))}"
        return f"Level {level}"
    return None
