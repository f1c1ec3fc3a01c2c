"""Pure badge evaluation: facts in, progress and due awards out (SPEC section 4).

The stats snapshot cannot tell the date of the Nth qualifying activity, nor the streaks of a
subset of activity types, so an evaluation goes around the data layer once:

1. ``required_facts(definitions, earned, today)`` collects the facts each definition's criteria
   type asks for (``CriteriaBase.fact_requests``);
2. the data layer answers them in a ``MentorFacts``;
3. ``evaluate(facts, definitions, earned, today)`` lets each type read its answers
   (``CriteriaBase.assess``) and returns progress and the awards due.

What a type means lives in its module under ``peer_badges.criteria``; this module only walks the
definitions. ``earned`` is every award the mentor ever got, revoked ones included (``EarnedLevel``):
a level in it is never due again. No database, no clock, no environment: ``today`` is the
org-local date, passed in.
"""

from collections.abc import Iterable, Mapping
from datetime import date
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from peer_badges.criteria.facts import (
    CountFact,
    CountRequest,
    HeldBadgeRequest,
    LevelState,
    MissingFact,
    StreakFact,
    StreakRequest,
    count_key,
    streak_alive,
    streak_key,
    week_start,
)
from peer_badges.criteria.prerequisite import prerequisites_first
from peer_badges.models import (
    BadgeProgress,
    EarnedBadge,
    HonorarMilestone,
    MemberProgress,
    MilestoneStatus,
    PeerMentorStats,
)
from peer_badges.models.definitions import BadgeDefinition

__all__ = [
    "CountFact",
    "CountRequest",
    "DueAward",
    "EarnedLevel",
    "Evaluation",
    "FactRequests",
    "MentorFacts",
    "MissingFact",
    "StreakFact",
    "StreakRequest",
    "count_key",
    "evaluate",
    "milestone_status",
    "required_facts",
    "streak_alive",
    "streak_key",
    "week_start",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class EarnedLevel(_Frozen):
    """One level a mentor was awarded; revoked ones still block a new award."""

    badge_definition_id: UUID
    level: int = Field(ge=1)
    earned_at: date
    revoked: bool = False

    @classmethod
    def of(cls, badge: EarnedBadge) -> "EarnedLevel":
        return cls(
            badge_definition_id=badge.badge_definition_id,
            level=badge.level,
            earned_at=badge.earned_at,
            revoked=badge.revoked,
        )


class FactRequests(_Frozen):
    today: date
    counts: tuple[CountRequest, ...] = ()
    streaks: tuple[StreakRequest, ...] = ()
    held_badges: tuple[str, ...] = ()  # definition keys whose unrevoked levels the mentor holds

    def without_dates(self) -> "FactRequests":
        """The same counts and streaks, without the crossing dates (progress only)."""
        return FactRequests(
            today=self.today,
            counts=tuple(r.without_dates() for r in self.counts),
            streaks=tuple(r.without_dates() for r in self.streaks),
            held_badges=self.held_badges,
        )


class MentorFacts(_Frozen):
    """The data layer's answer to ``FactRequests`` for one mentor, keyed by the requests' keys."""

    org_id: UUID
    peer_mentor_id: UUID
    timezone: str  # the org's IANA zone, e.g. Europe/Oslo
    stats: PeerMentorStats
    counts: dict[str, CountFact] = Field(default_factory=dict)
    streaks: dict[str, StreakFact] = Field(default_factory=dict)
    # key -> {level: earned_at} of the org's definitions the mentor holds (unrevoked), as asked for
    held_badges: dict[str, dict[int, date]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _same_mentor(self) -> "MentorFacts":
        if (self.stats.org_id, self.stats.peer_mentor_id) != (self.org_id, self.peer_mentor_id):
            raise ValueError("stats belong to another mentor or organisation")
        return self


class DueAward(_Frozen):
    badge_definition_id: UUID
    level: int
    earned_at: date
    payable: bool
    definition_revision: int
    criteria_snapshot: dict[str, object]


class Evaluation(_Frozen):
    progress: tuple[BadgeProgress, ...]
    due: tuple[DueAward, ...]


# --- the core ----------------------------------------------------------------------------


def _held(earned: Iterable[EarnedLevel]) -> dict[tuple[UUID, int], EarnedLevel]:
    return {(e.badge_definition_id, e.level): e for e in earned}


def _live(definitions: Iterable[BadgeDefinition], org_id: UUID | None = None) -> list[BadgeDefinition]:
    live = [d for d in definitions if d.live]
    for definition in live:
        if org_id is not None and definition.org_id != org_id:
            raise ValueError(f"badge definition {definition.id} belongs to another organisation")
    return live


def _walk(
    facts: MentorFacts,
    definitions: Iterable[BadgeDefinition],
    held: Mapping[tuple[UUID, int], EarnedLevel],
    today: date,
) -> Iterable[tuple[BadgeDefinition, LevelState, EarnedLevel | None, BadgeProgress]]:
    for definition in _live(definitions, facts.org_id):
        criteria = definition.criteria
        for state in criteria.assess(facts, today):
            record = held.get((definition.id, state.level))
            holds = record is not None and not record.revoked
            progress = BadgeProgress(
                badge_definition_id=definition.id,
                key=definition.key,
                name=definition.name,
                type=criteria.type,
                level=state.level,
                level_name=state.level_name,
                current=state.current if criteria.auto_awarded else int(holds),
                target=state.target,
                earned=holds,
                earned_at=record.earned_at if record is not None and holds else None,
                members=tuple(_member_progress(member) for member in state.members),
                held=state.held,
                icon_alt=definition.icon_alt,
                criteria_text=definition.criteria_text,
            )
            yield definition, state, record, progress


def _member_progress(state: LevelState) -> MemberProgress:
    return MemberProgress(
        type=state.type or "",
        current=state.current,
        target=state.target,
        met=state.met,
        held=state.held,
        members=tuple(_member_progress(member) for member in state.members),
    )


def _due(definition: BadgeDefinition, state: LevelState) -> DueAward:
    return DueAward(
        badge_definition_id=definition.id,
        level=state.level,
        earned_at=state.crossed_on(),
        payable=definition.payable,
        definition_revision=definition.revision,
        criteria_snapshot=definition.criteria.model_dump(mode="json"),
    )


def required_facts(
    definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> FactRequests:
    """The counts and streaks ``evaluate`` will read, for the live definitions."""
    held = _held(earned)
    counts: dict[str, CountRequest] = {}
    streaks: dict[str, StreakRequest] = {}
    held_badges: set[str] = set()
    for definition in _live(definitions):
        criteria = definition.criteria
        pending = frozenset(
            target for level, target in criteria.levels() if (definition.id, level) not in held
        )
        for request in criteria.fact_requests(pending, today):
            if isinstance(request, CountRequest):
                known = counts.get(request.key)
                counts[request.key] = known.merged(request) if known else request
            elif isinstance(request, HeldBadgeRequest):
                held_badges.add(request.key)
            else:
                known_streak = streaks.get(request.key)
                streaks[request.key] = known_streak.merged(request) if known_streak else request
    return FactRequests(
        today=today,
        counts=tuple(counts[key] for key in sorted(counts)),
        streaks=tuple(streaks[key] for key in sorted(streaks)),
        held_badges=tuple(sorted(held_badges)),
    )


def evaluate(
    facts: MentorFacts, definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> Evaluation:
    """Progress for every live definition and level, and every level due: met, never awarded.

    Prerequisites are assessed first, and a level that falls due counts as held for the badges that
    require it, with its own ``earned_at``: one pass awards a chain with the dates reconcile gives
    it (an ``any_of`` whose prerequisite member came first takes that earlier date)."""
    definitions = list(definitions)
    held = _held(earned)
    position = {definition.id: index for index, definition in enumerate(definitions)}
    assessed: list[tuple[int, BadgeProgress]] = []
    due = []
    for definition in prerequisites_first(definitions):
        for _, state, record, item in _walk(facts, [definition], held, today):
            assessed.append((position[definition.id], item))
            if state.met and record is None:
                due.append(_due(definition, state))
                facts = _now_held(facts, definition.key, state.level, due[-1].earned_at)
    progress = tuple(item for _, item in sorted(assessed, key=lambda pair: pair[0]))
    return Evaluation(progress=progress, due=tuple(due))


def _now_held(facts: MentorFacts, key: str, level: int, earned_at: date) -> MentorFacts:
    """``facts`` with a level about to be awarded counted as held by the badges requiring ``key``."""
    levels = {**facts.held_badges.get(key, {}), level: earned_at}
    return facts.model_copy(update={"held_badges": {**facts.held_badges, key: levels}})


def milestone_status(
    facts: MentorFacts, definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> MilestoneStatus:
    """The milestones view; needs counts and streaks in ``facts`` but no crossing dates."""
    definitions = list(definitions)
    honorar = HonorarMilestone.of(
        facts.stats.assignment_count, definitions, facts.stats.minutes_by_type, facts.stats.total_minutes
    )
    return MilestoneStatus(
        peer_mentor_id=facts.peer_mentor_id,
        org_id=facts.org_id,
        crossed_thresholds=honorar.thresholds_met,
        next_threshold=honorar.next_threshold,
        remaining_to_next=honorar.remaining_to_next,
        badges=tuple(item for *_, item in _walk(facts, definitions, _held(earned), today)),
    )
