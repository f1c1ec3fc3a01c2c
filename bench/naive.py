"""The naive evaluation the snapshot design replaces: recompute everything from raw activities.

This is what a straightforward first implementation does on every activity event: read all of the
mentor's activities, training completions, pauses and held badges, then count (or sum minutes),
window, bucket into ISO weeks and find crossing dates in Python, for every live definition (the rules
as tests/reference.py writes them). It is written to be correct (the benchmark
checks it finds the same awards, with the same earned_at, as the real evaluator) and reasonably
efficient (a few narrow SELECTs, one pass per definition), so the comparison is not against a straw man.
It shares the real evaluator's definitions cache, earned-badge query and award transaction; only the
way facts are found differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.db import Transaction
from peer_badges.definitions_cache import cached_org_definitions
from peer_badges.evaluation import EarnedLevel
from peer_badges.mentor_evaluation import earned_levels
from peer_badges.models import EarnedBadge
from peer_badges.models.definitions import BadgeDefinition
from tests.reference import paused_weeks, reference_met

# Narrow reads of the raw rows: the mentor's activities (every status: the rules decide what counts),
# trainings, the org's pauses, the badges the mentor holds (for prerequisites) and the org's zone.
_ACTIVITIES_SQL = """
SELECT activity_type, activity_date, duration_minutes, status, deleted_at, peer_mentor_id FROM activities
 WHERE org_id = :org_id AND peer_mentor_id = :mentor_id
"""

_TRAININGS_SQL = """
SELECT peer_mentor_id, training_code, completed_at, expires_at FROM training_completions
 WHERE org_id = :org_id AND peer_mentor_id = :mentor_id
"""

_PAUSES_SQL = """
SELECT peer_mentor_id, starts_on, ends_on FROM streak_pauses
 WHERE org_id = :org_id AND (peer_mentor_id IS NULL OR peer_mentor_id = :mentor_id)
"""

_HELD_SQL = """
SELECT d.key, e.level, e.earned_at FROM earned_badges AS e
  JOIN badge_definitions AS d ON d.id = e.badge_definition_id
 WHERE e.org_id = :org_id AND e.peer_mentor_id = :mentor_id AND e.revoked_at IS NULL
"""

_TIMEZONE_SQL = "SELECT timezone FROM organizations WHERE id = :org_id"


@dataclass(frozen=True)
class NaiveDue:
    definition: BadgeDefinition
    level: int
    earned_at: date


def naive_due(
    tx: Transaction,
    org_id: UUID,
    mentor_id: UUID,
    today: date,
    definitions: list[BadgeDefinition],
    earned: list[EarnedLevel],
) -> list[NaiveDue]:
    """Every level met and never awarded, with the date it was crossed, from the raw rows (the rules as
    tests/reference.py writes them from the SPEC, in plain loops)."""
    activities = tx.query(_ACTIVITIES_SQL, org_id=org_id, mentor_id=mentor_id)
    trainings = tx.query(_TRAININGS_SQL, org_id=org_id, mentor_id=mentor_id)
    paused = paused_weeks(tx.query(_PAUSES_SQL, org_id=org_id, mentor_id=mentor_id), [mentor_id])
    held: dict[str, dict[tuple[UUID, int], date]] = {}
    for row in tx.query(_HELD_SQL, org_id=org_id, mentor_id=mentor_id):
        held.setdefault(row["key"], {})[(mentor_id, int(row["level"]))] = row["earned_at"]
    zone = str((tx.query_one(_TIMEZONE_SQL, org_id=org_id) or {})["timezone"])
    already = {(e.badge_definition_id, e.level) for e in earned}
    due: list[NaiveDue] = []
    for definition in definitions:
        if not definition.live or not definition.criteria.auto_awarded:
            continue
        met = reference_met(definition.criteria, activities, trainings, zone, today, held, paused)
        due += [
            NaiveDue(definition, level, day)
            for (mentor, level), day in sorted(met.items(), key=lambda item: item[0][1])
            if mentor == mentor_id and (definition.id, level) not in already
        ]
    return due


def naive_evaluate_mentor(
    tx: Transaction, org_id: UUID, mentor_id: UUID, *, today: date
) -> list[EarnedBadge]:
    """The naive counterpart of `peer_badges.mentor_evaluation.evaluate_mentor`: same inputs, same awards."""
    live = [d for d in cached_org_definitions(tx, org_id) if d.live]
    if not live:
        return []
    earned = earned_levels(tx, org_id, mentor_id)
    new_badges = []
    for item in naive_due(tx, org_id, mentor_id, today, live, earned):
        outcome = award(
            tx,
            AwardCommand(
                org_id=org_id,
                peer_mentor_id=mentor_id,
                definition=AwardDefinition.of(item.definition),
                level=item.level,
                earned_at=item.earned_at,
                source="evaluation",
            ),
        )
        if outcome.created:
            new_badges.append(outcome.badge)
    return new_badges
