"""Routes for /orgs/{org_id}/settings: the organisation's honorarium settings (admins, SPEC 8.4)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, payouts
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id
from peer_badges.auth import require_admin
from peer_badges.db import get_database
from peer_badges.models.payouts import OrgSettings, OrgSettingsPatch

router = APIGatewayHttpRouter()

SETTINGS = "/orgs/<org_id>/settings"

_SETTINGS = "The organisation's settings."
_MEANING = {
    400: "Malformed id or JSON body.",
    401: "No verified caller identity.",
    403: "Not an admin of this organisation.",
    422: "The body is not valid (e.g. a negative or non-integer limit).",
}
SettingsBody = Annotated[OrgSettingsPatch, Body(openapi_examples=examples(api_docs.SETTINGS_EXAMPLES))]


@router.get(
    SETTINGS,
    summary="The organisation's settings",
    description="Admins only: the honorarium tax-free limit in NOK (10,000 unless changed).",
    tags=[api_docs.SETTINGS],
    responses=documented_responses(_MEANING, {200: _SETTINGS}, 400, 401, 403),
)
def get_org_settings(org_id: UUID) -> Response[OrgSettings]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "see the organisation's settings")
    return reply(payouts.load_settings(db, org_id))


@router.patch(
    SETTINGS,
    summary="Change the organisation's settings",
    description=(
        "Admins only: set the honorarium tax-free limit in whole NOK. Payouts' year-to-date flags "
        "follow the new limit; the change is audited."
    ),
    tags=[api_docs.SETTINGS],
    responses=documented_responses(_MEANING, {200: _SETTINGS}, 400, 401, 403, 422),
)
def patch_org_settings(org_id: UUID, body: SettingsBody) -> Response[OrgSettings]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, "change the organisation's settings")
    saved = payouts.update_settings(db, org_id, caller, body, correlation_id=request_id(router))
    return reply(saved)
