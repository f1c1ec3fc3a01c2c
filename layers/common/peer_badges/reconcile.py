"""Reconcile: the periodic safety net, set-based over a whole organisation.

First the stats snapshots and buckets that drifted from the raw activities are rebuilt (so the event
path's facts and the crossing queries agree again), then every live definition's own query
(``badge_queries.missing``) finds each (mentor, level) met but never awarded, with its historical
``earned_at``, and ``backfill.award_missing`` awards them quietly (``source = 'backfill'``, events
flagged ``backfill: true``), through the same advisory-locked award function as everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from aws_lambda_powertools import Logger

from peer_badges.backfill import award_missing
from peer_badges.clock import OrgClock
from peer_badges.criteria.prerequisite import prerequisites_first
from peer_badges.db import Database
from peer_badges.definitions_cache import cached_org_definitions
from peer_badges.models import EarnedBadge

logger = Logger(service="peer-badges", child=True)


@dataclass
class ReconcileReport:
    org_id: UUID
    definitions: int = 0
    mentors: int = 0
    repaired_snapshots: int = 0
    candidates: int = 0
    awarded: list[EarnedBadge] = field(default_factory=list)


def repair_snapshots(db: Database, org_id: UUID) -> int:
    """Rebuild every mentor whose snapshot or buckets disagree with the activities; returns how many."""
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
    today = OrgClock(now).today(db, org_id)
    if repair and not dry_run:
        report.repaired_snapshots = repair_snapshots(db, org_id)
    live = [d for d in cached_org_definitions(db, org_id) if d.live and d.criteria.auto_awarded]
    report.definitions = len(live)
    # One definition after another, prerequisites first (so one run awards a chain of requires_badge),
    # otherwise in id order: concurrent runs take their locks in one order.
    for definition in prerequisites_first(live):
        result = award_missing(db, org_id, definition, today, dry_run=dry_run, correlation_id=correlation_id)
        report.candidates += result.candidates
        report.awarded.extend(result.awarded)
    report.mentors = _mentor_count(db, org_id)
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
