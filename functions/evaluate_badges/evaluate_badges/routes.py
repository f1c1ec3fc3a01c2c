"""POST /orgs/{org_id}/evaluations: admins re-evaluate named mentors or backfill the whole org."""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id
from peer_badges.auth import require_admin
from peer_badges.db import get_database
from peer_badges.models.awards import EvaluationRequest, EvaluationResponse
from peer_badges.reevaluation import run_evaluation as evaluate

router = APIGatewayHttpRouter()

_MEANING = {
    400: "Malformed org id or JSON body.",
    401: "No valid access token.",
    403: "Only organisation admins can run evaluations.",
    422: "The body is not valid, or a mentor id is not a peer mentor of this organisation.",
}
EvaluationBody = Annotated[EvaluationRequest, Body(openapi_examples=examples(api_docs.EVALUATION_EXAMPLES))]


@router.post(
    "/orgs/<org_id>/evaluations",
    summary="Re-evaluate mentors or backfill the organisation",
    description=(
        "Admins only. Evaluates the named peer mentors (mentor_ids), or every peer mentor of the "
        "organisation, against every active definition and awards what they have earned, quietly "
        "(source backfill, events with backfill: true), dated when each criterion was crossed. Safe to "
        "repeat. With dry_run nothing is stored: the answer lists what would be awarded."
    ),
    tags=[api_docs.EVALUATIONS],
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
def run_evaluation(org_id: UUID, body: EvaluationBody) -> Response[EvaluationResponse]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "run evaluations")
    result = evaluate(db, org_id, body, now=datetime.now(UTC), correlation_id=request_id(router))
    return reply(result)
