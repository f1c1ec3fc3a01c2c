"""Routes for a mentor's stats and milestones and the coordinator overview: authorise, read, reply.

Every response carries an ETag of its body; a client sending it back in If-None-Match gets 304
while nothing it shows has changed (including the day rolling over, which can end a streak).
"today" is the org-local date of the request's arrival, computed in the same statement that reads.
"""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from peer_badges import stats
from peer_badges.api import cacheable_response, caller_id, documented_responses, request_time
from peer_badges.api_docs import STATISTICS
from peer_badges.auth import (
    require_mentor_reader,
    require_mentors_in_scope,
    require_overview_reader,
    require_reader_of,
)
from peer_badges.db import get_database
from peer_badges.definitions_cache import cached_milestone_definitions, cached_org_definitions
from peer_badges.models import MilestoneStatus, Page, PeerMentorStats

router = APIGatewayHttpRouter()

MENTOR = "/orgs/<org_id>/mentors/<mentor_id>"

_MEANING = {
    304: "Not modified: the ETag in If-None-Match is current.",
    400: "Malformed id, cursor or query parameter.",
    401: "No valid access token.",
    403: "Not allowed to see this mentor (or a listed mentor) in this organisation.",
    404: "No such peer mentor in this organisation.",
}

IfNoneMatch = Annotated[
    str | None, Header(description="An ETag from an earlier response; 304 if still current.")
]
MentorIds = Annotated[
    list[UUID] | None,
    Query(description="Repeat to ask for specific mentors; leave out for everyone you can see, paginated."),
]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page.", max_length=200)]
Limit = Annotated[int, Query(ge=1, le=stats.MAX_PAGE_SIZE, description="Items per page.")]


def _cacheable(model: type[BaseModel], *errors: int) -> dict[int, Any]:
    """200 with an ETag, or 304."""
    success = {200: ("OK, with an ETag.", model), 304: _MEANING[304]}
    return documented_responses(_MEANING, success, *errors)


# The body is already JSON text (the ETag is computed over it), so the return annotation does not
# re-validate it; the 200 schema comes from `responses` in the OpenAPI document.
@router.get(
    MENTOR + "/stats",
    summary="A mentor's statistics",
    description=(
        "Counts by activity type and minutes, the weekly streak (ISO weeks in the organisation's time "
        "zone; alive while its last week is this week or last week), completed trainings and the "
        "honorarium progress with its payouts. Only approved, undeleted activities dated up to today "
        "count. For the mentor, their coordinators and the organisation's admins."
    ),
    tags=[STATISTICS],
    responses=_cacheable(PeerMentorStats, 400, 401, 403, 404),
)
def get_mentor_stats(org_id: UUID, mentor_id: UUID, if_none_match: IfNoneMatch = None) -> Response[Any]:
    db = get_database()
    # Access and stats come in one round trip; nothing is used before the caller is authorised.
    read = stats.read_mentor_stats(
        db,
        org_id,
        caller_id(router),
        mentor_id,
        request_time(router),
        lambda version: cached_milestone_definitions(db, org_id, version),
    )
    require_reader_of(read.access, mentor_id)
    return cacheable_response(read.stats(), if_none_match)


@router.get(
    MENTOR + "/milestones",
    summary="A mentor's progress towards each badge",
    description=(
        "One item per active badge definition and level: progress as current/target, earned or not and "
        "when, plus the honorarium thresholds crossed and the next one. For the mentor, their "
        "coordinators and the organisation's admins."
    ),
    tags=[STATISTICS],
    responses=_cacheable(MilestoneStatus, 400, 401, 403, 404),
)
def get_mentor_milestones(org_id: UUID, mentor_id: UUID, if_none_match: IfNoneMatch = None) -> Response[Any]:
    db = get_database()
    require_mentor_reader(db, org_id, caller_id(router), mentor_id)
    result = stats.load_milestone_status(
        db, org_id, mentor_id, request_time(router), cached_org_definitions(db, org_id)
    )
    return cacheable_response(result, if_none_match)


@router.get(
    "/orgs/<org_id>/mentor-stats",
    summary="Statistics of many mentors (the overview)",
    description=(
        "Coordinators see their assigned mentors, admins every mentor. Repeat mentor_id to ask for "
        "specific mentors (403 naming any outside your scope); leave it out for everyone you can see, "
        "a page at a time (follow next_cursor)."
    ),
    tags=[STATISTICS],
    responses=_cacheable(Page[PeerMentorStats], 400, 401, 403),
)
def list_mentor_stats(
    org_id: UUID,
    mentor_id: MentorIds = None,
    cursor: Cursor = None,
    limit: Limit = stats.DEFAULT_PAGE_SIZE,
    if_none_match: IfNoneMatch = None,
) -> Response[Any]:
    db = get_database()
    access = require_mentors_in_scope(db, require_overview_reader(db, org_id, caller_id(router)), mentor_id)
    definitions = cached_milestone_definitions(db, org_id)
    page = stats.list_stats(db, org_id, access, mentor_id, cursor, limit, request_time(router), definitions)
    return cacheable_response(page, if_none_match)
