"""POST /orgs/{org_id}/evaluations: admins re-evaluate named mentors or backfill the whole org."""

from datetime import UTC, datetime
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges.api import caller_id, documented_responses, reply, request_id
from peer_badges.auth import require_admin
from peer_badges.db import get_database
from peer_badges.models import EvaluationRequest, EvaluationResponse
from peer_badges.reevaluation import run_evaluation as evaluate

router = APIGatewayHttpRouter()

_MEANING = {
    400: "Malformed org id or JSON body.",
    401: "No valid access token.",
    403: "Only organisation admins can run evaluations.",
    422: "The body is not valid, or a mentor id is not a peer mentor of this organisation.",
}


@router.post(
    "/orgs/<org_id>/evaluations",
    responses=documented_responses(
        _MEANING,
        {
            200: (
                "Mentors evaluated and badges awarded (with dry_run: what would be awarded).",
                EvaluationResponse,
            )
        },
        400,
        401,
        403,
        422,
    ),
)
def run_evaluation(org_id: UUID, body: EvaluationRequest) -> Response[EvaluationResponse]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "run evaluations")
    result = evaluate(db, org_id, body, now=datetime.now(UTC), correlation_id=request_id(router))
    return reply(result)
