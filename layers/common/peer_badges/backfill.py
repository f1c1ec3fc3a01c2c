"""Set-based backfills: award, quietly, every level a definition's own query finds met but unawarded.

Used by reconcile (every live definition of an org) and by the definition backfill queue: a trigger
(sql/008_criteria_queries.sql) queues a ``definition_backfills`` row whenever a definition starts a
backfill (created, criteria changed, unarchived, re-activated), and the drain runs the due ones first.
Candidates come from ``badge_queries.missing`` (the criteria type's crossing query), and are awarded in
chunks through ``award_earned_badge``: the same advisory lock per key, ``ON CONFLICT DO NOTHING``, audit
and event outbox rows for new awards only, every award flagged ``backfill``. A failed job is retried
with backoff and parked under the one outbox policy (``peer_badges.outbox``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger

from peer_badges.awards import AwardDefinition
from peer_badges.badge_queries import Crossing, missing
from peer_badges.clock import OrgClock
from peer_badges.db import Database, Json, Transaction
from peer_badges.definitions_cache import COLUMNS, definitions_from_rows
from peer_badges.models import EarnedBadge
from peer_badges.models.definitions import BadgeDefinition
from peer_badges.outbox import DEFINITION_BACKFILLS

logger = Logger(service="peer-badges", child=True)

AWARD_CHUNK = 200

# One statement per chunk of one definition's candidates, in (mentor, level) order so that every run
# takes its advisory locks in the same order.
_AWARD_CHUNK_SQL = """
SELECT r.created, (r.badge).*
  FROM unnest(CAST(:mentors AS uuid[]), CAST(:levels AS int[]), CAST(:dates AS date[]))
       WITH ORDINALITY AS c(peer_mentor_id, level, earned_at, position)
 CROSS JOIN LATERAL award_earned_badge(
       :org_id, c.peer_mentor_id, :definition_id, c.level, c.earned_at, 'backfill', NULL,
       :revision, CAST(:criteria AS jsonb), NULL, true, :payable, :correlation_id) AS r
 ORDER BY c.position
"""


_CUSTOM_PLANS_SQL = "SET LOCAL plan_cache_mode = force_custom_plan"


@dataclass
class BackfillResult:
    candidates: int
    awarded: list[EarnedBadge]


def _award_chunk(
    tx: Transaction,
    org_id: UUID,
    definition: BadgeDefinition,
    chunk: list[Crossing],
    correlation_id: str | None,
) -> list[EarnedBadge]:
    award = AwardDefinition.of(definition)
    # A bulk award grows earned_badges (and the tables referring to it) fast on one connection. The
    # foreign-key checks and lookups that run inside each award keep cached plans; one made while the
    # table was small scans it whole long after it grew (a new organisation's first reconcile went
    # from 21 s to 52 s for 19,000 awards). Bulk awards plan per call, for this transaction only;
    # single awards (the drain, the API) keep their cached plans, which autoanalyze refreshes.
    tx.execute(_CUSTOM_PLANS_SQL)
    rows = tx.query(
        _AWARD_CHUNK_SQL,
        org_id=org_id,
        definition_id=award.id,
        revision=award.revision,
        criteria=Json(award.criteria),
        payable=award.payable,
        correlation_id=correlation_id,
        mentors=[c.peer_mentor_id for c in chunk],
        levels=[c.level for c in chunk],
        dates=[c.earned_at for c in chunk],
    )
    return [EarnedBadge.model_validate(row) for row in rows if row["created"]]


def award_missing(
    db: Database,
    org_id: UUID,
    definition: BadgeDefinition,
    today: date,
    *,
    dry_run: bool = False,
    correlation_id: str | None = None,
) -> BackfillResult:
    """Award every level of ``definition`` met by ``today`` and never awarded, one transaction per chunk.
    A dry run awards each chunk in a transaction it rolls back, so it reports exactly what would be."""
    found = missing(db, org_id, definition.id, definition.criteria, today)
    awarded: list[EarnedBadge] = []
    for start in range(0, len(found), AWARD_CHUNK):
        chunk = found[start : start + AWARD_CHUNK]
        with db.transaction(rollback=dry_run) as tx:
            awarded.extend(_award_chunk(tx, org_id, definition, chunk, correlation_id))
    return BackfillResult(candidates=len(found), awarded=awarded)


# --- the definition backfill queue -------------------------------------------------------

_DEFINITION_SQL = f"SELECT {COLUMNS} FROM badge_definitions WHERE org_id = :org_id AND id = :id"


def _run_one(
    db: Database, job: dict[str, Any], clock: OrgClock, correlation_id: str | None
) -> list[EarnedBadge]:
    org_id = job["org_id"]
    found = definitions_from_rows(db.query(_DEFINITION_SQL, org_id=org_id, id=job["badge_definition_id"]))
    # Deleted, archived or deactivated since it was queued, or never auto-awarded: nothing to do.
    if not found or not found[0].live or not found[0].criteria.auto_awarded:
        return []
    result = award_missing(db, org_id, found[0], clock.today(db, org_id), correlation_id=correlation_id)
    logger.info(
        "definition backfill finished",
        extra={
            "org_id": str(org_id),
            "badge_definition_id": str(found[0].id),
            "candidates": result.candidates,
            "awarded": len(result.awarded),
        },
    )
    return result.awarded


def run_definition_backfills(
    db: Database, clock: OrgClock, correlation_id: str | None = None, *, limit: int = 20
) -> list[EarnedBadge]:
    """Run the due definition backfills (parallel drains take disjoint jobs); returns the new awards."""
    awarded: list[EarnedBadge] = []
    for job in DEFINITION_BACKFILLS.claim(db, limit):
        try:
            awarded.extend(_run_one(db, job, clock, correlation_id))
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            logger.warning(
                "definition backfill failed", extra={"org_id": str(job["org_id"]), "error": message}
            )
            DEFINITION_BACKFILLS.failed(db, {job["id"]: message})
            continue
        DEFINITION_BACKFILLS.done(db, [job["id"]])
    return awarded
