"""Routes for /orgs/{org_id}/streak-pauses (SPEC 8.3): list, create and delete streak pauses.

Admins may do anything; coordinators list the organisation's pauses and their mentors', and create
pauses for mentors assigned to them; peer mentors get 403. The body is taken as sent and checked as a
whole by peer_badges.pauses (its schema in the document is StreakPauseCreate's), so one 422 lists every
problem, a mentor who is not a peer mentor here among them.
"""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, pauses
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id
from peer_badges.auth import require_admin, require_pause_reader, require_pause_writer
from peer_badges.db import get_database
from peer_badges.models import Page
from peer_badges.models.pauses import StreakPause, StreakPauseCreate

router = APIGatewayHttpRouter()

PAUSES = "/orgs/<org_id>/streak-pauses"
ONE = PAUSES + "/<pause_id>"

_MEANING = {
    400: "Malformed id, query parameter, cursor or JSON body.",
    401: "No valid access token.",
    403: "A peer mentor, a coordinator reaching beyond their mentors (or for the whole organisation), "
    "or not a member of this organisation.",
    404: "No such streak pause in this organisation.",
    409: "The same period is already paused for the same mentor (or the organisation) with another reason.",
    422: "The body is not valid; every problem is listed in details.",
}

MentorFilter = Annotated[
    UUID | None,
    Query(description="Only the pauses that apply to this mentor: their own and the organisation's."),
]
Limit = Annotated[int, Query(ge=1, le=pauses.MAX_PAGE_SIZE, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page.")]
PauseBody = Annotated[
    dict[str, Any],
    Body(
        description="peer_mentor_id null pauses the whole organisation; ends_on is on or after starts_on, "
        "at most 26 weeks later (182 days counting both ends).",
        openapi_examples=examples(api_docs.PAUSE_EXAMPLES),
        json_schema_extra=StreakPauseCreate.model_json_schema(),
    ),
]
TAGS = [api_docs.STREAK_PAUSES]


@router.get(
    PAUSES,
    summary="Streak pauses",
    description=(
        "Newest start first, a page at a time. Admins see every pause; coordinators the organisation-wide "
        "ones and those of mentors assigned to them; peer mentors get 403. With mentor_id: the pauses that "
        "apply to that mentor (theirs and the organisation's)."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", Page[StreakPause])}, 400, 401, 403),
)
def list_streak_pauses(
    org_id: UUID,
    mentor_id: MentorFilter = None,
    cursor: Cursor = None,
    limit: Limit = pauses.DEFAULT_PAGE_SIZE,
) -> Response[Page[StreakPause]]:
    db = get_database()
    access = require_pause_reader(db, org_id, caller_id(router), mentor_id)
    return reply(pauses.list_pauses(db, access, mentor_id=mentor_id, cursor=cursor, limit=limit))


@router.post(
    PAUSES,
    summary="Pause streaks",
    description=(
        "Admins: a pause for any peer mentor, or (peer_mentor_id null) for the whole organisation; "
        "coordinators: for a mentor assigned to them only; peer mentors get 403. Weeks touching the "
        "period neither break nor extend streaks. Answers 201 with the pause; the mentors it touches are "
        "re-evaluated within seconds (it may award, never revokes). The same period again answers 200 "
        "with the existing pause (409 if the reason differs). Audited."
    ),
    tags=TAGS,
    status_code=201,
    responses=documented_responses(
        _MEANING,
        {201: ("Created", StreakPause), 200: ("The same pause, already there", StreakPause)},
        400,
        401,
        403,
        409,
        422,
    ),
)
def create_streak_pause(org_id: UUID, body: PauseBody) -> Response[StreakPause]:
    db = get_database()
    caller = caller_id(router)
    require_pause_writer(db, org_id, caller, body.get("peer_mentor_id"))
    outcome = pauses.create_pause(db, org_id, caller, body, correlation_id=request_id(router))
    location = f"/orgs/{org_id}/streak-pauses/{outcome.pause.id}"
    return reply(outcome.pause, 201 if outcome.created else 200, {"Location": location})


@router.delete(
    ONE,
    summary="Delete a streak pause",
    description=(
        "Admins only. The weeks it covered count as usual again and the mentors it touched are "
        "re-evaluated; badges already earned stay. Audited. A repeat answers 404."
    ),
    tags=TAGS,
    status_code=204,
    responses=documented_responses(_MEANING, {204: "Deleted"}, 400, 401, 403, 404),
)
def delete_streak_pause(org_id: UUID, pause_id: UUID) -> Response[None]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, "delete streak pauses")
    pauses.delete_pause(db, org_id, pause_id, caller, correlation_id=request_id(router))
    return reply(None, 204)
