"""The naive evaluation the snapshot design replaces: recompute everything from raw activities.

This is what a straightforward first implementation does on every activity event: read all of the
mentor's counted activities and training completions, then count, window, bucket into ISO weeks and
find crossing dates in Python, for every live definition. It is written to be correct (the benchmark
checks it finds the same awards, with the same earned_at, as the real evaluator) and reasonably
efficient (two narrow SELECTs, one pass per definition), so the comparison is not against a straw man.
It shares the real evaluator's definitions cache, earned-badge query and award transaction; only the
way facts are found differs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.criteria import (
    ManualCriteria,
    MilestoneCriteria,
    StreakCriteria,
    ThresholdCriteria,
    TierCriteria,
    TrainingCompletionCriteria,
)
from peer_badges.db import Transaction
from peer_badges.definitions_cache import cached_org_definitions
from peer_badges.evaluation import EarnedLevel
from peer_badges.mentor_evaluation import earned_levels
from peer_badges.models import BadgeDefinition, EarnedBadge

_ACTIVITIES_SQL = """
SELECT activity_type, activity_date FROM activities
 WHERE org_id = :org_id AND peer_mentor_id = :mentor_id AND status = 'approved' AND deleted_at IS NULL
"""

_TRAININGS_SQL = """
SELECT training_code, completed_at, expires_at FROM training_completions
 WHERE org_id = :org_id AND peer_mentor_id = :mentor_id
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
    """Every level met and never awarded, with the date it was crossed, from the raw rows."""
    activities = [
        (row["activity_type"], row["activity_date"])
        for row in tx.query(_ACTIVITIES_SQL, org_id=org_id, mentor_id=mentor_id)
        if row["activity_date"] <= today  # activities dated after today do not count yet
    ]
    held = {(e.badge_definition_id, e.level) for e in earned}
    due: list[NaiveDue] = []
    trainings: list[tuple[str, date, date | None]] | None = None
    for definition in definitions:
        if not definition.live:
            continue
        criteria = definition.criteria
        pending = [(lvl, target) for lvl, target in criteria.levels() if (definition.id, lvl) not in held]
        if not pending:
            continue
        if isinstance(criteria, ThresholdCriteria | TierCriteria | MilestoneCriteria):
            types = criteria.activity_filter
            since = criteria.window.since(today) or date.min
            dates = sorted(d for kind, d in activities if d >= since and (types is None or kind in types))
            due += [NaiveDue(definition, lvl, dates[n - 1]) for lvl, n in pending if len(dates) >= n]
        elif isinstance(criteria, StreakCriteria):
            reached = _streak_reached(activities, criteria)
            due += [NaiveDue(definition, lvl, reached) for lvl, _ in pending if reached is not None]
        elif isinstance(criteria, TrainingCompletionCriteria):
            if trainings is None:
                trainings = _trainings(tx, org_id, mentor_id)
            done: dict[str, date] = {}
            for code, day, expires in trainings:
                expired = expires is not None and expires <= today
                if code in criteria.training_codes and day <= today and not (criteria.only_valid and expired):
                    done[code] = min(day, done.get(code, day))
            needed = len(criteria.training_codes) if criteria.require == "all" else 1
            if len(done) >= needed:
                crossed = max(done.values()) if criteria.require == "all" else min(done.values())
                due += [NaiveDue(definition, lvl, crossed) for lvl, _ in pending]
        else:
            assert isinstance(criteria, ManualCriteria)
    return due


def _trainings(tx: Transaction, org_id: UUID, mentor_id: UUID) -> list[tuple[str, date, date | None]]:
    """(code, completion date, expiry date) in the org's time zone."""
    zone_row = tx.query_one(_TIMEZONE_SQL, org_id=org_id)
    zone = ZoneInfo(str((zone_row or {})["timezone"]))
    return [
        (
            row["training_code"],
            row["completed_at"].astimezone(zone).date(),
            row["expires_at"].astimezone(zone).date() if row["expires_at"] is not None else None,
        )
        for row in tx.query(_TRAININGS_SQL, org_id=org_id, mentor_id=mentor_id)
    ]


def _streak_reached(activities: list[tuple[str, date]], criteria: StreakCriteria) -> date | None:
    """The Monday of the week in which a run of qualifying weeks first reached `criteria.weeks`."""
    types = criteria.activity_filter
    per_week = Counter(
        d - timedelta(days=d.weekday()) for kind, d in activities if types is None or kind in types
    )
    run_start: date | None = None
    previous: date | None = None
    for week in sorted(w for w, n in per_week.items() if n >= criteria.min_per_week):
        if previous is None or week != previous + timedelta(weeks=1):
            run_start = week
        previous = week
        assert run_start is not None
        if (week - run_start).days // 7 + 1 >= criteria.weeks:
            return week
    return None


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
