"""Routes for a person's data in one organisation (SPEC 8.5): export it, erase it.

Export: the person themself (also after they left) or an org admin; one JSON document with every row
this bundle stores about them there. Erasure: org admins, with a reason, once the person is no longer a
member and the app has erased their activities; answers with counts of what was deleted and
pseudonymised. A repeat answers 404, like an id never seen (nothing is kept that tells them apart).
"""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, personal_data
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id, request_time
from peer_badges.auth import require_admin, require_person_or_admin
from peer_badges.db import get_database
from peer_badges.models.personal_data import ErasureReport, ErasureRequest, PersonalDataExport

router = APIGatewayHttpRouter()

ErasureBody = Annotated[ErasureRequest, Body(openapi_examples=examples(api_docs.ERASURE_EXAMPLES))]

PERSON = "/orgs/<org_id>/mentors/<mentor_id>"

_MEANING = {
    400: "Malformed id or JSON body.",
    401: "No valid access token.",
    403: "The caller may not export or erase this person's data in this organisation.",
    404: "Nothing is stored about this person in this organisation (never, or already erased).",
    409: "The person is still a member, or the app still has their activities or training completions.",
    422: "The body is not valid (a missing or blank reason).",
}


@router.get(
    PERSON + "/data-export",
    summary="Everything stored about a person",
    description=(
        "The person themself (also after leaving) or an admin: one JSON document with the person's stats, "
        "earned badges (revoked too), payouts, streak pauses, queued evaluations and the audit entries "
        "where they are the subject or the actor, in this organisation only."
    ),
    tags=[api_docs.PERSONAL_DATA],
    responses=documented_responses(
        _MEANING, {200: "Everything this bundle stores about the person in this organisation."}, 400, 401, 403
    ),
)
def export_personal_data(org_id: UUID, mentor_id: UUID) -> Response[PersonalDataExport]:
    db = get_database()
    require_person_or_admin(db, org_id, caller_id(router), mentor_id)
    document = personal_data.export(db, org_id, mentor_id, now=request_time(router))
    return reply(document, headers={"Cache-Control": "no-store"})


@router.post(
    PERSON + "/erasure",
    summary="Erase a person who has left",
    description=(
        "Admins, once the person is no longer a member and the app has erased their activities: deletes "
        "their statistics, queued work and pauses, and replaces their id in badges, payouts and the audit "
        "log by a pseudonym kept nowhere (amounts and dates stay). Publishes MentorErased; answers with "
        "counts. A repeat answers 404: nothing is left that names them."
    ),
    tags=[api_docs.PERSONAL_DATA],
    responses=documented_responses(
        _MEANING, {200: "Erased: counts of what was deleted and pseudonymised."}, 400, 401, 403, 404, 409, 422
    ),
)
def erase_personal_data(org_id: UUID, mentor_id: UUID, body: ErasureBody) -> Response[ErasureReport]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, "erase a person's data")
    report = personal_data.erase(
        db, org_id, mentor_id, caller, body.reason, correlation_id=request_id(router)
    )
    return reply(report)
