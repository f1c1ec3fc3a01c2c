"""Honorarium payouts (SPEC 8.4): the payout, its pay and cancel requests, the org's tax-free limit."""

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictInt, StringConstraints

from peer_badges.models import MAX_REASON_LENGTH, Level, NonNegative, PayoutStatus, Record, RequestBody

MAX_PAID_REFERENCE_LENGTH = 200
MAX_TAX_FREE_LIMIT_NOK = 100_000_000


class HonorarPayout(Record):
    """A payout, also the detail of ``HonorarPayoutApproved`` / ``HonorarPayoutPaid``."""

    id: UUID
    org_id: UUID
    peer_mentor_id: UUID
    earned_badge_id: UUID
    badge_definition_id: UUID
    level: Level
    threshold: Level
    amount_nok: NonNegative
    earned_at: date
    income_year: int
    status: PayoutStatus
    backfill: bool
    created_at: AwareDatetime
    approved_by: UUID | None = None
    approved_at: AwareDatetime | None = None
    paid_by: UUID | None = None
    paid_at: AwareDatetime | None = None
    paid_reference: str | None = None
    cancelled_by: UUID | None = None
    cancelled_at: AwareDatetime | None = None
    cancel_reason: str | None = None
    year_to_date_nok: NonNegative  # the mentor's approved and paid payouts in this org and income year
    exceeds_tax_free_limit: bool


class PaidRequest(RequestBody):
    reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PAID_REFERENCE_LENGTH)
    ]


class CancelRequest(RequestBody):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON_LENGTH)
    ]


class OrgSettings(Record):
    honorar_tax_free_limit_nok: NonNegative


class OrgSettingsPatch(RequestBody):
    honorar_tax_free_limit_nok: Annotated[StrictInt, Field(ge=0, le=MAX_TAX_FREE_LIMIT_NOK)]
