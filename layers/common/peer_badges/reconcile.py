"""Reconcile / backfill: set-based over a whole organisation, no per-mentor reads.

For every live definition one statement finds each (mentor, level) that is met but has no earned
row, with the historical `earned_at` (the Nth qualifying activity's date via a window function, the
Monday a streak first reached N weeks, the training completion's local date). Those candidates are
awarded through the same advisory-locked award transaction as everything else, quietly
(`source = 'backfill'`, events flagged `backfill: true`). Snapshot drift is repaired first, so the
event path's facts and the reconcile agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger

from peer_badges.awards import AwardDefinition
from peer_badges.criteria import (
    ManualCriteria,
    MilestoneCriteria,
    StreakCriteria,
    ThresholdCriteria,
    TierCriteria,
    TrainingCompletionCriteria,
)
from peer_badges.db import Database, Json, Transaction
from peer_badges.definitions import cached_org_definitions
from peer_badges.evaluator import OrgClock
from peer_badges.models import BadgeDefinition, EarnedBadge

logger = Logger(service="peer-badges", child=True)

AWARD_CHUNK = 200

# Counted activities of a filter in [since, today], numbered per mentor in date order; a level is
# met at the row whose number equals its threshold, and that row's date is earned_at.
_COUNT_SQL = """
WITH numbered AS (
    SELECT a.peer_mentor_id, a.activity_date,
           row_number() OVER (PARTITION BY a.peer_mentor_id ORDER BY a.activity_date, a.created_at, a.id) AS n
      FROM activities AS a
     WHERE a.org_id = :org_id AND a.status = 'approved' AND a.deleted_at IS NULL
       AND (CAST(:kinds AS text[]) IS NULL OR a.activity_type = ANY (CAST(:kinds AS text[])))
       AND (CAST(:since AS date) IS NULL OR a.activity_date >= CAST(:since AS date))
       AND a.activity_date <= CAST(:today AS date)
       AND (CAST(:mentors AS uuid[]) IS NULL OR a.peer_mentor_id = ANY (CAST(:mentors AS uuid[])))
)
SELECT q.peer_mentor_id, t.level::int AS level, q.activity_date AS earned_at
  FROM numbered AS q
  JOIN unnest(CAST(:targets AS int[])) WITH ORDINALITY AS t(target, level) ON q.n = t.target
 WHERE NOT EXISTS (SELECT 1 FROM earned_badges AS e
                    WHERE e.peer_mentor_id = q.peer_mentor_id AND e.badge_definition_id = :definition_id
                      AND e.level = t.level)
"""

# Weeks (up to today's) with at least min_per_week qualifying activities, grouped into runs of
# consecutive weeks (gaps and islands); earned_at is the Monday the first long-enough run hit N.
_STREAK_SQL = """
WITH weeks AS (
    SELECT w.peer_mentor_id, w.week_start
      FROM mentor_week_activity AS w
     WHERE w.org_id = :org_id AND w.week_start <= iso_week_start(CAST(:today AS date))
       AND (CAST(:kinds AS text[]) IS NULL OR w.activity_type = ANY (CAST(:kinds AS text[])))
       AND (CAST(:mentors AS uuid[]) IS NULL OR w.peer_mentor_id = ANY (CAST(:mentors AS uuid[])))
     GROUP BY w.peer_mentor_id, w.week_start
    HAVING sum(w.n) >= :min_per_week
), islands AS (
    SELECT peer_mentor_id, week_start,
           week_start - 7 * (row_number() OVER (PARTITION BY peer_mentor_id ORDER BY week_start))::int AS island
      FROM weeks
), runs AS (
    SELECT peer_mentor_id, min(week_start) AS first_week, count(*) AS weeks
      FROM islands GROUP BY peer_mentor_id, island
)
SELECT r.peer_mentor_id, 1 AS level, min(r.first_week + 7 * (:weeks - 1)) AS earned_at
  FROM runs AS r
 WHERE r.weeks >= :weeks
   AND NOT EXISTS (SELECT 1 FROM earned_badges AS e
                    WHERE e.peer_mentor_id = r.peer_mentor_id AND e.badge_definition_id = :definition_id
                      AND e.level = 1)
 GROUP BY r.peer_mentor_id
"""

# Per required code, the local date of the first completion that counts today; 'all' is met on the
# latest of those dates once every code has one, 'any' on the earliest.
_TRAINING_SQL = """
WITH held AS (
    SELECT t.peer_mentor_id, t.training_code, min((t.completed_at AT TIME ZONE :tz)::date) AS done
      FROM training_completions AS t
     WHERE t.org_id = :org_id AND t.training_code = ANY (CAST(:codes AS text[]))
       AND (t.completed_at AT TIME ZONE :tz)::date <= CAST(:today AS date)
       AND (NOT :only_valid OR t.expires_at IS NULL OR (t.expires_at AT TIME ZONE :tz)::date > CAST(:today AS date))
       AND (CAST(:mentors AS uuid[]) IS NULL OR t.peer_mentor_id = ANY (CAST(:mentors AS uuid[])))
     GROUP BY t.peer_mentor_id, t.training_code
)
SELECT h.peer_mentor_id, 1 AS level,
       CASE WHEN :require = 'all' THEN max(h.done) ELSE min(h.done) END AS earned_at
  FROM held AS h
 WHERE NOT EXISTS (SELECT 1 FROM earned_badges AS e
                    WHERE e.peer_mentor_id = h.peer_mentor_id AND e.badge_definition_id = :definition_id
                      AND e.level = 1)
 GROUP BY h.peer_mentor_id
HAVING :require = 'any' OR count(*) = cardinality(CAST(:codes AS text[]))
"""


@dataclass(frozen=True)
class Candidate:
    definition: BadgeDefinition
    peer_mentor_id: UUID
    level: int
    earned_at: date


@dataclass
class ReconcileReport:
    org_id: UUID
    definitions: int = 0
    mentors: int = 0
    repaired_snapshots: int = 0
    candidates: int = 0
    awarded: list[EarnedBadge] = field(default_factory=list)


def candidates_for(
    db: Database | Transaction,
    org_id: UUID,
    definition: BadgeDefinition,
    today: date,
    timezone: str,
    mentor_ids: list[UUID] | None = None,
) -> list[Candidate]:
    criteria = definition.criteria
    common: dict[str, Any] = {
        "org_id": org_id,
        "definition_id": definition.id,
        "today": today,
        "mentors": mentor_ids,
    }
    if isinstance(criteria, ThresholdCriteria | TierCriteria | MilestoneCriteria):
        types = criteria.activity_filter
        rows = db.query(
            _COUNT_SQL,
            **common,
            kinds=list(types) if types is not None else None,
            since=criteria.window.since(today),
            targets=[target for _, target in criteria.levels()],
        )
    elif isinstance(criteria, StreakCriteria):
        types = criteria.activity_filter
        rows = db.query(
            _STREAK_SQL,
            **common,
            kinds=list(types) if types is not None else None,
            min_per_week=criteria.min_per_week,
            weeks=criteria.weeks,
        )
    elif isinstance(criteria, TrainingCompletionCriteria):
        rows = db.query(
            _TRAINING_SQL,
            **common,
            tz=timezone,
            codes=list(criteria.training_codes),
            only_valid=criteria.only_valid,
            require=criteria.require,
        )
    else:
        assert isinstance(criteria, ManualCriteria)
        rows = []
    return [Candidate(definition, row["peer_mentor_id"], int(row["level"]), row["earned_at"]) for row in rows]


def _repair_snapshots(db: Database, org_id: UUID) -> int:
    drifted = db.query("SELECT peer_mentor_id FROM mentor_stats_drift(:org_id)", org_id=org_id)
    for row in drifted:
        with db.transaction() as tx:
            tx.query(
                "SELECT rebuild_mentor_stats(:org_id, :mentor_id)",
                org_id=org_id,
                mentor_id=row["peer_mentor_id"],
            )
    if drifted:
        logger.warning("stats snapshots repaired", extra={"org_id": str(org_id), "mentors": len(drifted)})
    return len(drifted)


# One statement per chunk of one definition's candidates, through the same award function (same
# advisory lock per key, ON CONFLICT DO NOTHING, audit and event outbox for new rows only).
_AWARD_CHUNK_SQL = """
SELECT r.created, (r.badge).*
  FROM unnest(CAST(:mentors AS uuid[]), CAST(:levels AS int[]), CAST(:dates AS date[]))
       WITH ORDINALITY AS c(peer_mentor_id, level, earned_at, position)
 CROSS JOIN LATERAL award_earned_badge(
       :org_id, c.peer_mentor_id, :definition_id, c.level, c.earned_at, 'backfill', NULL,
       :revision, CAST(:criteria AS jsonb), NULL, true, :payable, :correlation_id) AS r
 ORDER BY c.position
"""


def _award_chunk(
    tx: Transaction, org_id: UUID, chunk: list[Candidate], correlation_id: str | None
) -> list[EarnedBadge]:
    definition = AwardDefinition.of(chunk[0].definition)
    rows = tx.query(
        _AWARD_CHUNK_SQL,
        org_id=org_id,
        definition_id=definition.id,
        revision=definition.revision,
        criteria=Json(definition.criteria),
        payable=definition.payable,
        correlation_id=correlation_id,
        mentors=[c.peer_mentor_id for c in chunk],
        levels=[c.level for c in chunk],
        dates=[c.earned_at for c in chunk],
    )
    return [EarnedBadge.model_validate(row) for row in rows if row["created"]]


def _chunks(candidates: list[Candidate]) -> list[list[Candidate]]:
    """Per definition, in (mentor, level) order: every run takes its advisory locks in one order."""
    by_definition: dict[UUID, list[Candidate]] = {}
    for candidate in candidates:
        by_definition.setdefault(candidate.definition.id, []).append(candidate)
    chunks: list[list[Candidate]] = []
    for definition_id in sorted(by_definition, key=str):
        ordered = sorted(by_definition[definition_id], key=lambda c: (str(c.peer_mentor_id), c.level))
        chunks.extend(ordered[start : start + AWARD_CHUNK] for start in range(0, len(ordered), AWARD_CHUNK))
    return chunks


class _DryRun(Exception):
    pass


def reconcile_org(
    db: Database,
    org_id: UUID,
    *,
    now: datetime,
    dry_run: bool = False,
    repair: bool = True,
    correlation_id: str | None = None,
) -> ReconcileReport:
    """Find and award (quietly) every level met but never awarded in the organisation."""
    report = ReconcileReport(org_id=org_id)
    clock = OrgClock(now)
    timezone = clock.zone(db, org_id)
    today = clock.today(db, org_id)
    if repair and not dry_run:
        report.repaired_snapshots = _repair_snapshots(db, org_id)
    live = [d for d in cached_org_definitions(db, org_id) if d.live]
    report.definitions = len(live)
    found: list[Candidate] = []
    for definition in live:
        found.extend(candidates_for(db, org_id, definition, today, timezone))
    report.candidates = len(found)
    report.mentors = _mentor_count(db, org_id)
    for chunk in _chunks(found):
        try:
            with db.transaction() as tx:
                awarded = _award_chunk(tx, org_id, chunk, correlation_id)
                if dry_run:
                    report.awarded.extend(awarded)
                    raise _DryRun()
        except _DryRun:
            continue
        report.awarded.extend(awarded)
    logger.info(
        "reconcile finished",
        extra={
            "org_id": str(org_id),
            "dry_run": dry_run,
            "definitions": report.definitions,
            "candidates": report.candidates,
            "awarded": len(report.awarded),
            "repaired_snapshots": report.repaired_snapshots,
        },
    )
    return report


def _mentor_count(db: Database, org_id: UUID) -> int:
    row = db.query_one(
        "SELECT count(DISTINCT user_id) AS n FROM org_members WHERE org_id = :org_id AND role = 'peer_mentor'",
        org_id=org_id,
    )
    return int((row or {}).get("n", 0))


def all_org_ids(db: Database) -> list[UUID]:
    return [row["id"] for row in db.query("SELECT id FROM organizations ORDER BY id")]
