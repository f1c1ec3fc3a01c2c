"""Routes for /orgs/{org_id}/mentors/{mentor_id}/badges: list, award manually, revoke.

Reading: the mentor, their coordinators and org admins. Awarding: coordinators (their mentors) and
admins; 201 for a new badge, 200 with the existing one when the key was already awarded. Revoking:
admins, with a reason; the row stays. A new award's events are published right after the commit;
if that fails the outbox drain sends them.
"""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, awards
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id
from peer_badges.auth import require_admin, require_mentor_manager, require_mentor_reader
from peer_badges.db import get_database
from peer_badges.models import EarnedBadge, Page
from peer_badges.models.awards import AwardRequest, RevokeRequest

router = APIGatewayHttpRouter()

BADGES = "/orgs/<org_id>/mentors/<mentor_id>/badges"

_MEANING = {
    400: "Malformed id, query parameter, cursor or JSON body.",
    401: "No valid access token.",
    403: "The caller may not do this for this mentor in this organisation.",
    404: "No such badge definition, peer mentor or earned badge in this organisation.",
    409: "The definition is archived or inactive, or (revoke) the badge is already revoked.",
    422: "The body is not valid (missing or wrong fields, a level the badge does not have, a blank reason).",
}

Limit = Annotated[int, Query(ge=1, le=awards.MAX_PAGE_SIZE, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page.")]
IncludeRevoked = Annotated[bool, Query(description="Include revoked badges (marked by revoked_at).")]
AwardBody = Annotated[AwardRequest, Body(openapi_examples=examples(api_docs.AWARD_EXAMPLES))]
RevokeBody = Annotated[RevokeRequest, Body(openapi_examples=examples(api_docs.REVOKE_EXAMPLES))]
TAGS = [api_docs.EARNED_BADGES]


@router.get(
    BADGES,
    summary="A mentor's earned badges",
    description=(
        "Newest first, a page at a time (follow next_cursor); revoked badges are included, marked by "
        "revoked_at, unless include_revoked=false. Each badge keeps the definition revision and the "
        "criteria it was earned under. For the mentor, their coordinators and the organisation's admins."
    ),
    tags=TAGS,
    responses=documented_responses(
        _MEANING, {200: "The mentor's earned badges, newest first."}, 400, 401, 403
    ),
)
def list_earned_badges(
    org_id: UUID,
    mentor_id: UUID,
    limit: Limit = awards.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    include_revoked: IncludeRevoked = True,
) -> Response[Page[EarnedBadge]]:
    db = get_database()
    require_mentor_reader(db, org_id, caller_id(router), mentor_id)
    page = awards.list_badges(
        db, org_id, mentor_id, include_revoked=include_revoked, cursor=cursor, limit=limit
    )
    return reply(page)


@router.post(
    BADGES,
    summary="Award a badge by hand",
    description=(
        "For badges that need a person's judgement (manual criteria) or a level given early. 201 with "
        "the new badge; 200 with the existing one when that badge and level were already awarded, so a "
        "retry is safe. Publishes BadgeAwarded once. For the mentor's coordinators and admins."
    ),
    tags=TAGS,
    status_code=201,
    responses=documented_responses(
        _MEANING,
        {201: "Awarded: the new badge.", 200: "Already awarded: the existing badge, unchanged."},
        400,
        401,
        403,
        404,
        409,
        422,
    ),
)
def award_badge(org_id: UUID, mentor_id: UUID, body: AwardBody) -> Response[EarnedBadge]:
    db = get_database()
    caller = caller_id(router)
    require_mentor_manager(db, org_id, caller, mentor_id)
    outcome = awards.award_manually(db, org_id, mentor_id, caller, body, correlation_id=request_id(router))
    return reply(outcome.badge, 201 if outcome.created else 200)


@router.post(
    BADGES + "/<earned_badge_id>/revoke",
    summary="Revoke an earned badge",
    description=(
        "Admins only, with a reason. The badge stays, marked revoked (it is never deleted), and a pending "
        "or approved honorarium payout for it is cancelled; a paid one stays paid."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: "The badge, now revoked."}, 400, 401, 403, 404, 409, 422),
)
def revoke_badge(
    org_id: UUID, mentor_id: UUID, earned_badge_id: UUID, body: RevokeBody
) -> Response[EarnedBadge]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, "revoke badges")
    revoked = awards.revoke_in_own_transaction(
        db, org_id, mentor_id, earned_badge_id, caller, body.reason, correlation_id=request_id(router)
    )
    return reply(revoked)
