"""The layer's contract: stats, badges, requests, responses and events (SPEC section 7).

Every model is frozen, keys are snake_case, datetimes must carry a timezone and serialise as
ISO 8601 (``model_dump(mode="json")`` / ``model_dump_json()``). Requests reject unknown fields;
records built from database rows ignore extra columns. Lists are tuples so that a frozen
model is immutable all the way down; in JSON they are arrays.
"""

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from peer_badges.criteria import MAX_LEVELS, CriteriaBase, CriteriaField, ErrorDetail, MilestoneCriteria
from peer_badges.language import translate
from peer_badges.wording import CriteriaText, Lang, criteria_text

MAX_KEY_LENGTH = 64
MAX_BADGE_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 2000
MAX_ICON_LENGTH = 500
MAX_ICON_ALT_LENGTH = 200  # sql/020_icon_alt.sql checks the same
MAX_NOTE_LENGTH = 1000
MAX_REASON_LENGTH = 1000
MAX_EVALUATION_MENTORS = 1000

EVENT_SOURCE = "peer-badges"
BADGE_AWARDED = "BadgeAwarded"
HONORAR_MILESTONE_REACHED = "HonorarMilestoneReached"
HONORAR_PAYOUT_APPROVED = "HonorarPayoutApproved"
HONORAR_PAYOUT_PAID = "HonorarPayoutPaid"
MENTOR_ERASED = "MentorErased"
MAX_PAID_REFERENCE_LENGTH = 200
MAX_TAX_FREE_LIMIT_NOK = 100_000_000
MAX_PAUSE_REASON_LENGTH = 500  # sql/016_streak_pauses.sql checks the same
MAX_PAUSE_DAYS = 26 * 7  # a pause covers at most 26 weeks, both ends counted

AwardSource = Literal["evaluation", "manual", "backfill"]
NonNegative = Annotated[int, Field(ge=0)]
Level = Annotated[int, Field(ge=1)]


# defer_build: a model's validator is built when it is first used, not at import; a function's cold start
# builds the few models it touches rather than all ~40 here.
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


def _key_rule(value: str) -> str:
    if not value or not (value[0].isascii() and value[0].isalnum()):
        raise PydanticCustomError("invalid_value", "A key must start with a lowercase letter or a digit.")
    if any(not (char.isascii() and (char.isdigit() or char.islower() or char in "-_")) for char in value):
        raise PydanticCustomError(
            "invalid_value", "A key may only use lowercase letters a-z, digits, '-' and '_'."
        )
    return value


BadgeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH), AfterValidator(_key_rule)
]
BadgeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BADGE_NAME_LENGTH)
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Icon = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ICON_LENGTH)]
# What a screen reader says instead of the icon (SPEC 8.7).
IconAlt = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ICON_ALT_LENGTH)
]
ICON_ALT_DOC = (
    "A text alternative for the icon, what a screen reader says instead of it: at most "
    f"{MAX_ICON_ALT_LENGTH} characters, trimmed; required whenever icon is set."
)
ICON_ALT_REQUIRED = (
    "A badge with an icon needs icon_alt: a short text alternative a screen reader can speak "
    f"(at most {MAX_ICON_ALT_LENGTH} characters)."
)


def missing_icon_alt(icon: str | None, icon_alt: str | None) -> list[dict[str, str]]:
    """The problem when an icon would be stored without its text alternative; empty otherwise."""
    if icon is not None and icon_alt is None:
        return [{"path": "icon_alt", "code": "required", "message": ICON_ALT_REQUIRED}]
    return []


class DefinitionRecord(Record):
    """A stored badge definition; a subclass says which criteria types its ``criteria`` reads."""

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


class BadgeDefinition(DefinitionRecord):
    criteria: CriteriaField  # any criteria type

    @computed_field  # type: ignore[prop-decorator]
    @property
    def criteria_text(self) -> CriteriaText:
        """The criteria in plain words, nb and en (peer_badges.wording); read-only."""
        return criteria_text(self.criteria)


class MilestoneDefinition(DefinitionRecord):
    """A milestone definition, parsed without the other criteria types: all the honorarium view
    (``evaluation.honorar_status``) reads, for a fraction of the cost of building ``BadgeDefinition``'s
    validator (the whole criteria union) on a stats cold start."""

    criteria: MilestoneCriteria


class BadgeDefinitionCreate(RequestBody):
    key: BadgeKey
    name: BadgeName
    description: Description | None = None
    icon: Icon | None = None
    icon_alt: IconAlt | None = Field(default=None, validate_default=True, description=ICON_ALT_DOC)
    criteria: CriteriaField
    active: StrictBool = True

    @field_validator("icon_alt")
    @classmethod
    def _icon_has_alt(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Reported at icon_alt, also when the field was left out.
        if missing_icon_alt(info.data.get("icon"), value):
            raise PydanticCustomError("required", ICON_ALT_REQUIRED)
        return value


class BadgeDefinitionPatch(RequestBody):
    """Only the fields sent change; ``model_fields_set`` (or ``changes()``) says which."""

    key: BadgeKey | None = None
    name: BadgeName | None = None
    description: Description | None = None
    icon: Icon | None = None
    icon_alt: IconAlt | None = Field(default=None, description=ICON_ALT_DOC)
    criteria: CriteriaField | None = None
    active: StrictBool | None = None

    @field_validator("key", "name", "criteria", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields actually sent: null would erase a required value.
        if value is None:
            raise PydanticCustomError(
                "required", "This field cannot be null; leave it out to keep its value."
            )
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their parsed values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


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


# --- honorarium payouts (SPEC 8.4) ------------------------------------------------------


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


# --- personal data (SPEC 8.5) ------------------------------------------------------------


class ExportedTable(Record):
    purpose: str
    retention: str
    on_erasure: Literal["delete", "pseudonymise"]
    rows: tuple[dict[str, Any], ...] = ()  # each row as stored, column by column


class PersonalDataExport(Record):
    """Everything this bundle stores about one person in one organisation."""

    schema_version: Literal[1] = 1
    org_id: UUID
    peer_mentor_id: UUID
    generated_at: AwareDatetime
    tables: dict[str, ExportedTable]
    # The app's own tables (activities, training completions, membership): not read here; the app's to
    # export and to erase.
    app_tables: dict[str, str]


class ErasureRequest(RequestBody):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON_LENGTH)
    ]


class ErasureReport(Record):
    """What an erasure did, as counts per table; the person's id is nowhere in this bundle afterwards."""

    org_id: UUID
    deleted: dict[str, NonNegative]  # rows only about them
    pseudonymised: dict[str, NonNegative]  # rows about them, kept under a random pseudonym
    actor_pseudonymised: dict[str, NonNegative]  # rows where they acted (awarded, approved, ...)
    free_text_cleared: dict[str, NonNegative]  # rows about them whose notes, reasons, references were cleared
    event: Literal["MentorErased"] = "MentorErased"
    not_erased_here: str  # what remains for the app to erase


class MentorErasedEvent(Record):
    """EventBridge detail for ``MentorErased``: the app and other consumers erase the person too."""

    org_id: UUID
    peer_mentor_id: UUID
    idempotency_key: UUID


# --- streak pauses (SPEC 8.3) ----------------------------------------------------------


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


class PreviewResponse(Record):
    qualifying: NonNegative
    evaluated: NonNegative
    sample: tuple[UUID, ...] = ()
