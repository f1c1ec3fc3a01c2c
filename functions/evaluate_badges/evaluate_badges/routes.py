"""POST /orgs/{org_id}/evaluations: admins re-evaluate named mentors or backfill the whole org."""

from datetime import UTC, datetime
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges.api import caller_id
from peer_badges.auth import require_admin
from peer_badges.db import get_database
from peer_badges.events import events_client, publish_after_commit
from peer_badges.models import ErrorResponse, EvaluationRequest, EvaluationResponse
from peer_badges.reconcile import reconcile_org
from peer_badges.reevaluation import evaluate_mentors
from peer_badges.settings import get_settings

router = APIGatewayHttpRouter()

_MEANING = {
    400: "Malformed org id or JSON body.",
    401: "No valid access token.",
    403: "Only organisation admins can run evaluations.",
    422: "The body is not valid, or a mentor id is not a peer mentor of this organisation.",
}


def _errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    return {
        status: {"description": _MEANING[status], "content": {"application/json": {"model": ErrorResponse}}}
        for status in statuses
    }


@router.post(
    "/orgs/<org_id>/evaluations",
    responses={
        200: {
            "description": "Mentors evaluated and badges awarded (with dry_run: what would be awarded).",
            "content": {"application/json": {"model": EvaluationResponse}},
        },
        **_errors(400, 401, 403, 422),
    },
)
def run_evaluation(org_id: UUID, body: EvaluationRequest) -> Response[EvaluationResponse]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "run evaluations")
    request_id = router.current_event.request_context.request_id
    now = datetime.now(UTC)
    if body.mentor_ids:
        mentors = list(dict.fromkeys(body.mentor_ids))
        awarded = evaluate_mentors(
            db, org_id, mentors, now=now, dry_run=body.dry_run, correlation_id=request_id
        )
        evaluated = len(mentors)
    else:
        report = reconcile_org(db, org_id, now=now, dry_run=body.dry_run, correlation_id=request_id)
        awarded, evaluated = report.awarded, report.mentors
    if awarded and not body.dry_run:
        publish_after_commit(
            db, events_client, get_settings().event_bus_name, [badge.id for badge in awarded]
        )
    result = EvaluationResponse(evaluated=evaluated, awarded=tuple(awarded))
    return Response(200, content_types.APPLICATION_JSON, result)
