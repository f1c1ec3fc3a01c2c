"""Awards and evaluation runs: award and revoke requests, evaluation requests and results, and the
``BadgeAwarded`` event."""

from typing import Annotated
from uuid import UUID

from pydantic import Field, StrictBool, StrictInt, StringConstraints

from peer_badges.criteria.base import MAX_LEVELS
from peer_badges.models import MAX_REASON_LENGTH, EarnedBadge, NonNegative, Record, RequestBody

MAX_NOTE_LENGTH = 1000
MAX_EVALUATION_MENTORS = 1000


class BadgeAwardedEvent(EarnedBadge):
    """EventBridge detail for ``BadgeAwarded`` and ``HonorarMilestoneReached``."""

    backfill: bool
    payable: bool

    @classmethod
    def of(cls, badge: EarnedBadge, *, backfill: bool, payable: bool) -> "BadgeAwardedEvent":
        return cls.model_validate({**badge.model_dump(), "backfill": backfill, "payable": payable})


class AwardRequest(RequestBody):
    badge_definition_id: UUID
    level: Annotated[StrictInt, Field(ge=1, le=MAX_LEVELS)] = 1
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)] | None = None


class RevokeRequest(RequestBody):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON_LENGTH)
    ]


MentorIds = Annotated[tuple[UUID, ...], Field(min_length=1, max_length=MAX_EVALUATION_MENTORS)]


class EvaluationRequest(RequestBody):
    mentor_ids: Annotated[tuple[UUID, ...], Field(min_length=1, max_length=MAX_EVALUATION_MENTORS)] | None = (
        None
    )
    dry_run: StrictBool = False


class EvaluationResponse(Record):
    evaluated: NonNegative
    awarded: tuple[EarnedBadge, ...] = ()
