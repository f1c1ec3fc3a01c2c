"""The layer's contract (SPEC section 7), the part every function shares: stats, badge definitions as
stored, earned badges, progress, pages and errors.

The requests, records and events of one area are in a submodule of this package (``awards``,
``definitions``, ``pauses``, ``payouts``, ``personal_data``): a function imports the areas it serves.
Creating a pydantic class costs ~0.2 ms even with ``defer_build``; the ~20 that get_stats never uses
cost its cold start ~4 ms when they lived here.

Every model is frozen, keys are snake_case, datetimes must carry a timezone and serialise as
ISO 8601 (``model_dump(mode="json")`` / ``model_dump_json()``). Requests reject unknown fields;
records built from database rows ignore extra columns. Lists are tuples so that a frozen
model is immutable all the way down; in JSON they are arrays.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar, cast
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from peer_badges.criteria.base import CriteriaBase, ErrorDetail
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.language import Lang, translate

MAX_REASON_LENGTH = 1000

EVENT_SOURCE = "peer-badges"
BADGE_AWARDED = "BadgeAwarded"
HONORAR_MILESTONE_REACHED = "HonorarMilestoneReached"
HONORAR_PAYOUT_APPROVED = "HonorarPayoutApproved"
HONORAR_PAYOUT_PAID = "HonorarPayoutPaid"
MENTOR_ERASED = "MentorErased"

AwardSource = Literal["evaluation", "manual", "backfill"]
NonNegative = Annotated[int, Field(ge=0)]
Level = Annotated[int, Field(ge=1)]


# defer_build: a model's validator is built when it is first used, not at import; a function's cold start
# builds the few models it touches rather than all of them.
class Record(BaseModel):
    """Rows and responses this bundle builds itself."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class RequestBody(BaseModel):
    """What a client sends: unknown fields are a mistake worth reporting."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- stats -------------------------------------------------------------------------------


class AssignmentCount(Record):
    total: NonNegative = 0
    by_type: dict[str, NonNegative] = Field(default_factory=dict)


class StreakData(Record):
    current_streak_weeks: NonNegative = 0
    longest_streak_weeks: NonNegative = 0
    last_active_week: date | None = None  # the Monday of the last ISO week with activity
    paused_this_week: bool = False  # this ISO week lies in a streak pause that applies to the mentor

    @field_validator("last_active_week")
    @classmethod
    def _a_monday(cls, value: date | None) -> date | None:
        if value is not None and value.isoweekday() != 1:
            raise ValueError(f"last_active_week must be a Monday (the start of an ISO week); got {value}")
        return value

    @model_validator(mode="after")
    def _current_within_longest(self) -> "StreakData":
        if self.current_streak_weeks > self.longest_streak_weeks:
            raise ValueError("current_streak_weeks cannot exceed longest_streak_weeks")
        return self


class TrainingCompletion(Record):
    training_code: str
    completed_at: AwareDatetime
    expires_at: AwareDatetime | None = None


class TrainingStatus(Record):
    completed: tuple[TrainingCompletion, ...] = ()


PayoutStatus = Literal["pending", "approved", "paid", "cancelled"]


class PayoutSummary(Record):
    """One of the mentor's own payouts, as their stats show it."""

    id: UUID
    badge_definition_id: UUID
    level: Level
    threshold: Level
    amount_nok: NonNegative
    earned_at: date
    income_year: int
    status: PayoutStatus
    approved_at: AwareDatetime | None = None
    paid_at: AwareDatetime | None = None


class HonorarMilestone(Record):
    """Honorarium progress from the org's payable milestone definitions: data, not fields."""

    thresholds: tuple[int, ...] = ()
    thresholds_met: tuple[int, ...] = ()
    next_threshold: int | None = None
    remaining_to_next: NonNegative | None = None
    payouts: tuple[PayoutSummary, ...] = ()  # the mentor's own, read with the stats (sql/021)

    @classmethod
    def of(
        cls,
        assignment_count: AssignmentCount,
        definitions: Iterable["DefinitionRecord"],
        minutes_by_type: Mapping[str, int] | None = None,
        total_minutes: int = 0,
    ) -> "HonorarMilestone":
        """Progress from the live payable milestone definitions, each against its own all-time count
        (or minutes) from the stats snapshot (no facts needed). ``definitions``: the org's
        (``BadgeDefinition``), or only its milestone ones (``MilestoneDefinition``)."""
        pairs: list[tuple[int, int]] = []  # (threshold, that definition's count)
        for definition in definitions:
            if not (definition.live and definition.payable):
                continue
            criteria = cast(MilestoneCriteria, definition.criteria)  # what payable means
            types = criteria.activity_filter
            per_type, total = (
                (minutes_by_type or {}, total_minutes)
                if criteria.measure == "minutes"
                else (assignment_count.by_type, assignment_count.total)
            )
            count = total if types is None else sum(per_type.get(t, 0) for t in set(types))
            pairs.extend((threshold, count) for threshold in criteria.thresholds)
        pending = sorted((threshold, threshold - count) for threshold, count in pairs if count < threshold)
        return cls(
            thresholds=tuple(sorted({threshold for threshold, _ in pairs})),
            thresholds_met=tuple(sorted({threshold for threshold, count in pairs if count >= threshold})),
            next_threshold=pending[0][0] if pending else None,
            remaining_to_next=pending[0][1] if pending else None,
        )


class PeerMentorStats(Record):
    peer_mentor_id: UUID
    org_id: UUID
    assignment_count: AssignmentCount = AssignmentCount()
    streak: StreakData = StreakData()
    training: TrainingStatus = TrainingStatus()
    honorar: HonorarMilestone = HonorarMilestone()
    total_minutes: NonNegative = 0
    minutes_by_type: dict[str, NonNegative] = Field(default_factory=dict)  # SPEC 8.2
    first_activity_date: date | None = None
    last_activity_date: date | None = None
    updated_at: AwareDatetime


# --- badge definitions -------------------------------------------------------------------


class CriteriaText(BaseModel):
    """A badge's criteria in words, per language (read-only: computed, never stored or accepted)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    nb: str
    en: str


class DefinitionRecord(Record):
    """A stored badge definition; a subclass says which criteria types its ``criteria`` reads: any
    (``peer_badges.models.definitions.BadgeDefinition``) or milestones only (``MilestoneDefinition``)."""

    id: UUID
    org_id: UUID
    key: str
    name: str
    description: str | None = None
    icon: str | None = None
    icon_alt: str | None = None
    criteria: CriteriaBase
    active: bool = True
    revision: Level
    archived_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @property
    def live(self) -> bool:
        """Evaluated and shown: active and not archived."""
        return self.active and self.archived_at is None

    @property
    def payable(self) -> bool:
        return isinstance(self.criteria, MilestoneCriteria) and self.criteria.payable


class MilestoneDefinition(DefinitionRecord):
    """A milestone definition, parsed without the other criteria types: all the honorarium view
    (``HonorarMilestone.of``) reads, for a fraction of the cost of building ``BadgeDefinition``'s
    validator (the whole criteria union) on a stats cold start."""

    criteria: MilestoneCriteria


# --- earned badges and progress ---------------------------------------------------------


# --- earned badges, awards, evaluations --------------------------------------------------


class EarnedBadge(Record):
    id: UUID
    org_id: UUID
    peer_mentor_id: UUID
    badge_definition_id: UUID
    level: Level = 1
    earned_at: date  # the day the criterion was crossed, not when the job ran
    awarded_at: AwareDatetime
    awarded_by: UUID | None = None  # None: the system
    source: AwardSource
    definition_revision: Level
    criteria_snapshot: dict[str, Any]
    note: str | None = None
    revoked_at: AwareDatetime | None = None
    revoked_by: UUID | None = None
    revoke_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class MemberProgress(Record):
    """One member of an all_of / any_of badge: its type and progress (members nested inside)."""

    type: str
    current: NonNegative
    target: Level
    met: bool
    held: bool | None = None  # requires_badge: whether the prerequisite badge is held
    members: tuple["MemberProgress", ...] = ()


class BadgeProgress(Record):
    badge_definition_id: UUID
    key: str
    name: str
    type: str  # the criteria type
    level: Level
    level_name: str | None = None  # the tier's name for tier badges
    current: NonNegative
    target: Level
    earned: bool
    earned_at: date | None = None
    # all_of / any_of: each member's progress; requires_badge: whether the prerequisite is held
    members: tuple[MemberProgress, ...] = ()
    held: bool | None = None
    icon_alt: str | None = None
    criteria_text: CriteriaText


class MilestoneStatus(Record):
    peer_mentor_id: UUID
    org_id: UUID
    crossed_thresholds: tuple[int, ...] = ()
    next_threshold: int | None = None
    remaining_to_next: NonNegative | None = None
    badges: tuple[BadgeProgress, ...] = ()


# --- generic responses -------------------------------------------------------------------

ItemT = TypeVar("ItemT")


class Page(Record, Generic[ItemT]):
    """A list response: ``Page[EarnedBadge]``; ``next_cursor`` is None on the last page."""

    items: tuple[ItemT, ...] = ()
    next_cursor: str | None = None


class ErrorBody(Record):
    code: str
    message: str
    details: tuple[ErrorDetail, ...] = ()


class ErrorResponse(Record):
    error: ErrorBody


class ValidationResult(Record):
    valid: bool
    problems: tuple[ErrorDetail, ...] = ()

    @classmethod
    def of(cls, problems: Sequence[ErrorDetail]) -> "ValidationResult":
        return cls(valid=not problems, problems=tuple(problems))

    def in_language(self, lang: Lang) -> "ValidationResult":
        """The same problems with their messages in ``lang``; paths and codes unchanged."""
        return ValidationResult(
            valid=self.valid,
            problems=tuple(
                problem.model_copy(update={"message": translate(problem.message, lang)})
                for problem in self.problems
            ),
        )
