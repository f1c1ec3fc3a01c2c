"""Routes for /orgs/{org_id}/settings: the organisation's honorarium settings (admins, SPEC 8.4)."""

from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import payouts
from peer_badges.api import caller_id
from peer_badges.auth import require_admin
from peer_badges.db import get_database
from peer_badges.models import ErrorResponse, OrgSettings, OrgSettingsPatch

router = APIGatewayHttpRouter()

SETTINGS = "/orgs/<org_id>/settings"

_MEANING = {
    400: "Malformed id or JSON body.",
    401: "No verified caller identity.",
    403: "Not an admin of this organisation.",
    422: "The body is not valid (e.g. a negative or non-integer limit).",
}


def _responses(*errors: int) -> dict[int, OpenAPIResponse]:
    documented: dict[int, OpenAPIResponse] = {200: {"description": "The organisation's settings."}}
    for status in errors:
        documented[status] = {
            "description": _MEANING[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return documented


@router.get(SETTINGS, responses=_responses(400, 401, 403))
def get_org_settings(org_id: UUID) -> Response[OrgSettings]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "see the organisation's settings")
    return Response(200, content_types.APPLICATION_JSON, payouts.load_settings(db, org_id))


@router.patch(SETTINGS, responses=_responses(400, 401, 403, 422))
def patch_org_settings(org_id: UUID, body: OrgSettingsPatch) -> Response[OrgSettings]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, "change the organisation's settings")
    request_id = router.current_event.request_context.request_id
    saved = payouts.update_settings(db, org_id, caller, body, correlation_id=request_id)
    return Response(200, content_types.APPLICATION_JSON, saved)
