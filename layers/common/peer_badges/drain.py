"""Draining the evaluation outbox: at-least-once, one mentor's failure never blocks another.

The queue mechanics (claim under a lease, backoff, parking, operator retry) are the shared outbox
policy in peer_badges.outbox. Here: claimed rows are coalesced per mentor; each mentor is evaluated,
awarded and marked done in ONE transaction, so a crash between awarding and marking leaves nothing
half-done. A failure is recorded in its own transaction. A drain killed mid-batch leaves its claimed
rows to come back when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger

from peer_badges.db import Database, Transaction
from peer_badges.outbox import EVALUATIONS, POLICY

logger = Logger(service="peer-badges", child=True)

MAX_ATTEMPTS = POLICY.max_attempts
LEASE = POLICY.lease


@dataclass(frozen=True)
class Claim:
    org_id: UUID
    peer_mentor_id: UUID
    row_ids: tuple[int, ...]
    attempts: int
    oldest_created_at: Any


@dataclass
class DrainReport:
    claimed_rows: int = 0
    mentors: int = 0
    succeeded: int = 0
    retried: int = 0
    parked: int = 0
    awarded: list[Any] = field(default_factory=list)
    max_lag_s: float = 0.0


# A mentor's evaluation: runs inside the caller's transaction, returns the new awards.
EvaluateMentor = Callable[[Transaction, UUID, UUID], list[Any]]


def claim(db: Database, limit: int, lease: timedelta = LEASE) -> tuple[list[Claim], float]:
    rows = EVALUATIONS.claim(db, limit, lease)
    grouped: dict[tuple[UUID, UUID], list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        grouped.setdefault((row["org_id"], row["peer_mentor_id"]), []).append(row)
    claims = [
        Claim(
            org_id=org_id,
            peer_mentor_id=mentor_id,
            row_ids=tuple(r["id"] for r in group),
            attempts=max(r["attempts"] for r in group),
            oldest_created_at=min(r["created_at"] for r in group),
        )
        for (org_id, mentor_id), group in grouped.items()
    ]
    max_lag = max((r["lag_s"] for r in rows), default=0.0)
    return claims, max_lag


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def process_claim(
    db: Database, item: Claim, evaluate_mentor: EvaluateMentor, max_attempts: int = MAX_ATTEMPTS
) -> tuple[str, list[Any]]:
    """Evaluate one mentor; returns ('done'|'pending'|'parked', new awards)."""
    try:
        with db.transaction() as tx:
            awarded = evaluate_mentor(tx, item.org_id, item.peer_mentor_id)
            EVALUATIONS.done(tx, item.row_ids)
        return "done", awarded
    except Exception as error:
        reason = _short(error)
        logger.warning(
            "mentor evaluation failed",
            extra={
                "org_id": str(item.org_id),
                "peer_mentor_id": str(item.peer_mentor_id),
                "attempts": item.attempts,
                "error": reason,
            },
        )
        with db.transaction() as tx:
            statuses = EVALUATIONS.failed(tx, dict.fromkeys(item.row_ids, reason), max_attempts)
        return ("parked" if "parked" in statuses.values() else "pending"), []


def drain(
    db: Database,
    evaluate_mentor: EvaluateMentor,
    *,
    batch_size: int = 200,
    max_batches: int = 50,
    max_attempts: int = MAX_ATTEMPTS,
    lease: timedelta = LEASE,
) -> DrainReport:
    """Claim and process batches until the outbox has nothing due (or `max_batches` were done)."""
    report = DrainReport()
    for _ in range(max_batches):
        claims, lag = claim(db, batch_size, lease)
        if not claims:
            break
        report.claimed_rows += sum(len(c.row_ids) for c in claims)
        report.mentors += len(claims)
        report.max_lag_s = max(report.max_lag_s, lag)
        for item in claims:
            status, awarded = process_claim(db, item, evaluate_mentor, max_attempts)
            report.awarded.extend(awarded)
            if status == "done":
                report.succeeded += 1
            elif status == "parked":
                report.parked += 1
                logger.error(
                    "outbox rows parked after repeated failures",
                    extra={"org_id": str(item.org_id), "peer_mentor_id": str(item.peer_mentor_id)},
                )
            else:
                report.retried += 1
    return report


def parked_count(db: Database, org_id: UUID | None = None) -> int:
    return EVALUATIONS.parked_count(db, org_id)


def retry_parked(db: Database, org_id: UUID | None = None) -> int:
    """Operator action: give parked rows a fresh set of attempts (peer_badges.outbox.retry_parked
    does both outboxes at once)."""
    return EVALUATIONS.retry_parked(db, org_id)


def enqueue(
    db: Database | Transaction, org_id: UUID, mentor_ids: list[UUID] | None, reason: str, backfill: bool
) -> int:
    """Queue mentors (or every peer mentor of the org) for evaluation, set-based; a mentor already waiting
    is not queued twice (sql/018); returns how many mentors are now waiting because of this call."""
    row = db.query_one(
        """SELECT queue_evaluations(array_agg(m.org_id), array_agg(m.user_id), CAST(:reason AS text),
                                    CAST(:backfill AS boolean)) AS queued
             FROM org_members m
            WHERE m.org_id = :org AND m.role = 'peer_mentor'
              AND (CAST(:ids AS uuid[]) IS NULL OR m.user_id = ANY(CAST(:ids AS uuid[])))""",
        org=org_id,
        ids=mentor_ids,
        reason=reason,
        backfill=backfill,
    )
    return int((row or {}).get("queued") or 0)
