"""Streak pauses (SPEC 8.3): the create request and the pause as stored."""

from datetime import date, timedelta
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BeforeValidator, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from peer_badges.models import Record, RequestBody

MAX_PAUSE_REASON_LENGTH = 500  # sql/016_streak_pauses.sql checks the same
MAX_PAUSE_DAYS = 26 * 7  # a pause covers at most 26 weeks, both ends counted


def _iso_date_text(value: object) -> object:
    """Dates as JSON sends them, "YYYY-MM-DD" only: pydantic alone would take 0 as 1970-01-01."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise PydanticCustomError("date_format", "Give the date as YYYY-MM-DD, e.g. 2026-07-01.")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
PauseReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PAUSE_REASON_LENGTH)
]


class StreakPauseCreate(RequestBody):
    """A streak pause for one peer mentor, or for the whole organisation (peer_mentor_id null).

    peer_mentor_id is required, so a pause for everyone is always meant. ends_on is checked against
    starts_on whenever both are dates, so one answer lists every problem.
    """

    peer_mentor_id: UUID | None
    starts_on: IsoDate
    ends_on: IsoDate
    reason: PauseReason

    @field_validator("ends_on")
    @classmethod
    def _within_26_weeks_of_start(cls, value: date, info: ValidationInfo) -> date:
        starts_on = info.data.get("starts_on")
        if not isinstance(starts_on, date):
            return value
        if value < starts_on:
            raise PydanticCustomError(
                "ends_before_start",
                "ends_on ({ends_on}) is before starts_on ({starts_on}); a one-day pause has both the same.",
                {"ends_on": value.isoformat(), "starts_on": starts_on.isoformat()},
            )
        if value - starts_on >= timedelta(days=MAX_PAUSE_DAYS):
            last = starts_on + timedelta(days=MAX_PAUSE_DAYS - 1)
            raise PydanticCustomError(
                "too_long",
                "A pause covers at most 26 weeks: from {starts_on} it ends on {last} at the latest.",
                {"starts_on": starts_on.isoformat(), "last": last.isoformat()},
            )
        return value


class StreakPause(Record):
    id: UUID
    org_id: UUID
    peer_mentor_id: UUID | None = None  # None: the whole organisation
    starts_on: date
    ends_on: date
    reason: str
    created_by: UUID
    created_at: AwareDatetime
