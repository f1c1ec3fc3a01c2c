"""Admin re-evaluation (``POST …/evaluations``): a backfill job, so every award is quiet.

Named mentors go through the event path's per-mentor evaluation; without names, the whole organisation
is reconciled set-based. Awards made for real are published right after their commit.

Runs the event path's per-mentor evaluation for each mentor in one transaction, in a fixed order (two
admins re-evaluating overlapping lists never deadlock). A dry run awards inside that transaction and
rolls it back, so it reports exactly what a real run would award.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from peer_badges.clock import OrgClock
from peer_badges.db import Database
from peer_badges.errors import Unprocessable
from peer_badges.events import publish_events
from peer_badges.mentor_evaluation import evaluate_mentor
from peer_badges.models import EarnedBadge
from peer_badges.models.awards import EvaluationRequest, EvaluationResponse
from peer_badges.reconcile import reconcile_org


def evaluate_mentors(
    db: Database,
    org_id: UUID,
    mentor_ids: list[UUID],
    *,
    now: datetime,
    dry_run: bool,
    correlation_id: str | None = None,
    on_committed: Callable[[list[EarnedBadge]], None] | None = None,
) -> list[EarnedBadge]:
    """Admin re-evaluation of named mentors, as a quiet backfill. A dry run awards inside a
    transaction that is rolled back, so it reports exactly what a real run would award."""
    unknown = _not_peer_mentors(db, org_id, mentor_ids)
    if unknown:
        raise Unprocessable(
            "Some mentor ids are not peer mentors of this organisation.",
            [
                {
                    "path": "mentor_ids",
                    "code": "unknown_mentor",
                    "message": f"{mentor_id} is not a peer mentor here",
                }
                for mentor_id in unknown
            ],
        )
    today = OrgClock(now).today(db, org_id)
    awarded: list[EarnedBadge] = []
    with db.transaction(rollback=dry_run) as tx:
        # One fixed order, so two admins re-evaluating overlapping lists never deadlock.
        for mentor_id in sorted(mentor_ids, key=str):
            awarded.extend(
                evaluate_mentor(
                    tx, org_id, mentor_id, today=today, backfill=True, correlation_id=correlation_id
                )
            )
    if dry_run:
        return awarded
    if on_committed is not None:
        on_committed(awarded)
    return awarded


def _not_peer_mentors(db: Database, org_id: UUID, mentor_ids: list[UUID]) -> list[UUID]:
    rows = db.query(
        """SELECT m AS id FROM unnest(CAST(:ids AS uuid[])) AS m
            WHERE NOT EXISTS (SELECT 1 FROM org_members
                               WHERE org_id = :org_id AND user_id = m AND role = 'peer_mentor')""",
        org_id=org_id,
        ids=mentor_ids,
    )
    return [row["id"] for row in rows]


def run_evaluation(
    db: Database, org_id: UUID, request: EvaluationRequest, *, now: datetime, correlation_id: str | None
) -> EvaluationResponse:
    """With `dry_run`, what would be awarded, and nothing changes."""
    if request.mentor_ids:
        mentors = list(dict.fromkeys(request.mentor_ids))
        awarded = evaluate_mentors(
            db, org_id, mentors, now=now, dry_run=request.dry_run, correlation_id=correlation_id
        )
        evaluated = len(mentors)
    else:
        report = reconcile_org(db, org_id, now=now, dry_run=request.dry_run, correlation_id=correlation_id)
        awarded, evaluated = report.awarded, report.mentors
    if awarded and not request.dry_run:
        publish_events(db, [badge.id for badge in awarded])
    return EvaluationResponse(evaluated=evaluated, awarded=tuple(awarded))
