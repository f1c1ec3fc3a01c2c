"""Route for a mentor's Open Badges 3.0 credential (SPEC 8.6): the mentor themself and org admins.

A signed `OpenBadgeCredential` for one earned badge; issued afresh on every request (the signature
time is now), always with the same status list bit. Revoked badges get no new credential (409).
"""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from award_badge.linked_data import MEANING, VC_MEDIA_TYPE, documented, linked_data_response
from peer_badges import api_docs, credentials
from peer_badges.api import caller_id
from peer_badges.auth import require_self_or_admin
from peer_badges.db import get_database
from peer_badges.settings import get_settings

router = APIGatewayHttpRouter()


@router.get(
    "/orgs/<org_id>/mentors/<mentor_id>/badges/<earned_badge_id>/credential",
    summary="A badge as an Open Badges credential",
    description=(
        "The mentor themself or an admin: the earned badge as a signed OpenBadgeCredential (W3C VC 2.0, eddsa-rdfc-2022), the mentor identified only by a salted hash. Revoked badges get 409."
    ),
    tags=[api_docs.OPEN_BADGES],
    responses=documented(
        "The earned badge as a signed Open Badges 3.0 OpenBadgeCredential (W3C VC 2.0, eddsa-rdfc-2022).",
        VC_MEDIA_TYPE,
        {**MEANING, 409: "The badge was revoked: no credential is issued for it."},
    ),
)
def get_credential(org_id: UUID, mentor_id: UUID, earned_badge_id: UUID) -> Response[Any]:
    db = get_database()
    require_self_or_admin(db, org_id, caller_id(router), mentor_id, "this mentor's badge credentials")
    issuing = credentials.issuing(get_settings())
    document = credentials.credential_document(
        db, issuing, org_id, mentor_id, earned_badge_id, now=datetime.now(UTC)
    )
    return linked_data_response(document, VC_MEDIA_TYPE, cache_control="private, no-store")
