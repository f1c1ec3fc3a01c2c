"""Routes for /orgs/{org_id}/payouts (SPEC 8.4): list, export as CSV, approve, mark paid, cancel.

Listing: admins see every payout, coordinators their mentors', a mentor their own. Export and every
transition: admins. A transition repeated (approve an approved payout) answers 200 with the row as it
is; one out of order is 409. Approve and paid queue an event in the award events' outbox, published
right after the commit; if that fails the outbox drain sends it.
"""

from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, payout_actions, payouts
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id, text_reply
from peer_badges.auth import require_admin, require_payout_reader
from peer_badges.db import get_database
from peer_badges.models import Page
from peer_badges.models.payouts import CancelRequest, HonorarPayout, PaidRequest

router = APIGatewayHttpRouter()

PAYOUTS = "/orgs/<org_id>/payouts"
ONE = PAYOUTS + "/<payout_id>"
MANAGE = "approve, pay, cancel or export honorarium payouts"

_MEANING = {
    400: "Malformed id, query parameter, cursor or JSON body.",
    401: "No valid access token.",
    403: "The caller may not see or change these payouts.",
    404: "No such payout in this organisation.",
    409: "The payout's status does not allow this transition (or it was paid under another reference).",
    422: "The body is not valid (a missing or blank reference or reason), or the export is too large.",
}

StatusFilter = Annotated[
    Literal["pending", "approved", "paid", "cancelled"] | None, Query(description="Only this status.")
]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="Only this income year.")]
MentorFilter = Annotated[UUID | None, Query(description="Only this peer mentor's payouts.")]
Limit = Annotated[int, Query(ge=1, le=payouts.MAX_PAGE_SIZE, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page.")]
PaidBody = Annotated[PaidRequest, Body(openapi_examples=examples(api_docs.PAID_EXAMPLES))]
CancelBody = Annotated[CancelRequest, Body(openapi_examples=examples(api_docs.CANCEL_EXAMPLES))]
TAGS = [api_docs.PAYOUTS]


@router.get(
    PAYOUTS,
    summary="Honorarium payouts",
    description=(
        "Newest first, a page at a time, filtered by status, income year or mentor. Admins see every "
        "payout, coordinators their mentors', a mentor their own. Each carries the mentor's year-to-date "
        "sum of approved and paid payouts and whether it exceeds the organisation's tax-free limit."
    ),
    tags=TAGS,
    responses=documented_responses(
        _MEANING, {200: "The payouts the caller may see, newest first."}, 400, 401, 403
    ),
)
def list_payouts(
    org_id: UUID,
    status: StatusFilter = None,
    year: Year = None,
    mentor_id: MentorFilter = None,
    cursor: Cursor = None,
    limit: Limit = payouts.DEFAULT_PAGE_SIZE,
) -> Response[Page[HonorarPayout]]:
    db = get_database()
    access = require_payout_reader(db, org_id, caller_id(router), mentor_id)
    filters = payouts.PayoutFilter(status=status, year=year)
    return reply(payouts.list_payouts(db, access, filters, mentor_id=mentor_id, cursor=cursor, limit=limit))


@router.get(
    PAYOUTS + "/export",
    summary="Export payouts as CSV",
    description=(
        "Admins only: UTF-8 CSV with a header row and one row per payout, oldest first, for bookkeeping; "
        "filtered by income year and status."
    ),
    tags=TAGS,
    responses=documented_responses(
        _MEANING, {200: ("CSV (UTF-8, header row), oldest first.", "text/csv")}, 400, 401, 403, 422
    ),
)
def export_payouts(org_id: UUID, year: Year = None, status: StatusFilter = None) -> Response[str]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), MANAGE)
    body = payouts.export_csv(db, org_id, payouts.PayoutFilter(status=status, year=year))
    name = f"payouts-{year or 'all'}{'-' + status if status else ''}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return text_reply(body, "text/csv; charset=utf-8", headers)


_TRANSITION_ERRORS = (400, 401, 403, 404, 409, 422)


def _documented(success: str) -> dict[int, OpenAPIResponse]:
    return documented_responses(_MEANING, {200: success}, *_TRANSITION_ERRORS)


@router.post(
    ONE + "/approve",
    summary="Approve a payout",
    description=(
        "Admins only: pending to approved (publishes HonorarPayoutApproved). Approving over the tax-free "
        "limit is allowed and answers with exceeds_tax_free_limit set; approving again answers 200 unchanged."
    ),
    tags=TAGS,
    responses=_documented("The payout, approved."),
)
def approve_payout(org_id: UUID, payout_id: UUID) -> Response[HonorarPayout]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, MANAGE)
    payout = payout_actions.transition_and_announce(
        db, org_id, payout_id, "approve", caller, correlation_id=request_id(router)
    )
    return reply(payout)


@router.post(
    ONE + "/paid",
    summary="Mark a payout paid",
    description=(
        "Admins only: approved to paid with the payment's reference (publishes HonorarPayoutPaid). "
        "Repeating it with the same reference answers 200 unchanged; another reference is 409."
    ),
    tags=TAGS,
    responses=_documented("The payout, paid."),
)
def mark_payout_paid(org_id: UUID, payout_id: UUID, body: PaidBody) -> Response[HonorarPayout]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, MANAGE)
    payout = payout_actions.transition_and_announce(
        db, org_id, payout_id, "pay", caller, reference=body.reference, correlation_id=request_id(router)
    )
    return reply(payout)


@router.post(
    ONE + "/cancel",
    summary="Cancel a payout",
    description="Admins only: a pending or approved payout is cancelled with a reason; a paid one cannot be.",
    tags=TAGS,
    responses=_documented("The payout, cancelled."),
)
def cancel_payout(org_id: UUID, payout_id: UUID, body: CancelBody) -> Response[HonorarPayout]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, MANAGE)
    payout = payout_actions.transition_and_announce(
        db, org_id, payout_id, "cancel", caller, reason=body.reason, correlation_id=request_id(router)
    )
    return reply(payout)
