"""An admin's re-evaluation (POST /orgs/{org_id}/evaluations): named mentors, or a quiet backfill of
the whole organisation; awards made for real are published right after their commit."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from peer_badges.db import Database
from peer_badges.evaluator import evaluate_mentors
from peer_badges.events import publish_new_awards
from peer_badges.models import EvaluationRequest, EvaluationResponse
from peer_badges.reconcile import reconcile_org


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
        publish_new_awards(db, [badge.id for badge in awarded])
    return EvaluationResponse(evaluated=evaluated, awarded=tuple(awarded))
