"""Pure badge evaluation: facts in, progress and due awards out (SPEC section 4).

The stats snapshot cannot tell the date of the Nth qualifying activity, nor the streaks of a
subset of activity types, so an evaluation goes around the data layer once:

1. ``required_facts(definitions, earned, today)`` names the counts and streaks it needs;
2. the data layer answers them in a ``MentorFacts``;
3. ``evaluate(facts, definitions, earned, today)`` returns progress and the awards due.

``earned`` is every award the mentor ever got, revoked ones included (``EarnedLevel``): a
level in it is never due again. No database, no clock, no environment: ``today`` is the
org-local date, passed in.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from itertools import pairwise
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from peer_badges.criteria import (
    AnyWindow,
    ManualCriteria,
    MilestoneCriteria,
    StreakCriteria,
    ThresholdCriteria,
    TierCriteria,
    TrainingCompletionCriteria,
)
from peer_badges.models import (
    AssignmentCount,
    BadgeDefinition,
    BadgeProgress,
    EarnedBadge,
    HonorarMilestone,
    MilestoneStatus,
    PeerMentorStats,
)

NonNegative = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


# --- weeks and keys ----------------------------------------------------------------------


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def streak_alive(last_active_week: date | None, today: date) -> bool:
    """A streak is current while its last week is this ISO week or the one before."""
    return last_active_week is not None and last_active_week >= week_start(today) - timedelta(weeks=1)


def _types_part(activity_types: Iterable[str] | None) -> str:
    if activity_types is None:
        return "types=*"
    # Escaped so that no two different type lists share a key.
    escaped = {t.replace("%", "%25").replace(",", "%2C").replace("|", "%7C") for t in activity_types}
    return "types=" + ",".join(sorted(escaped))


def count_key(activity_types: Iterable[str] | None, window: AnyWindow) -> str:
    """E.g. ``types=assignment,visit|window=rolling_days:90`` or ``types=*|window=all_time``."""
    return f"{_types_part(activity_types)}|window={window.key}"


def streak_key(activity_types: Iterable[str] | None, min_per_week: int) -> str:
    """E.g. ``types=visit|min_per_week=2``."""
    return f"{_types_part(activity_types)}|min_per_week={min_per_week}"


def _normalised(activity_types: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if activity_types is None else tuple(sorted(set(activity_types)))


# --- what evaluation asks of the data layer ----------------------------------------------


class CountRequest(_Frozen):
    """Count approved, non-deleted activities of ``activity_types`` (None: all) dated
    ``since``..``today`` inclusive (``since`` None: from the first). For each N in
    ``crossing_targets`` that the count reaches, give the date of the Nth such activity in
    date order."""

    key: str
    activity_types: tuple[str, ...] | None
    since: date | None
    crossing_targets: tuple[int, ...]


class StreakRequest(_Frozen):
    """Runs of consecutive ISO weeks (up to today's) with at least ``min_per_week``
    qualifying activities: the longest, the current one (see ``streak_alive``) and, for each
    N in ``week_targets`` reached, the Monday of the week in which a run first reached N."""

    key: str
    activity_types: tuple[str, ...] | None
    min_per_week: int
    week_targets: tuple[int, ...]


class FactRequests(_Frozen):
    today: date
    counts: tuple[CountRequest, ...] = ()
    streaks: tuple[StreakRequest, ...] = ()


class CountFact(_Frozen):
    count: NonNegative
    crossing_dates: dict[int, date] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "CountFact":
        if any(n < 1 or n > self.count for n in self.crossing_dates):
            raise ValueError("crossing_dates may only hold N from 1 to count")
        _check_ordered(self.crossing_dates)
        return self


class StreakFact(_Frozen):
    longest_weeks: NonNegative
    current_weeks: NonNegative
    reached_dates: dict[int, date] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "StreakFact":
        if self.current_weeks > self.longest_weeks:
            raise ValueError("current_weeks cannot exceed longest_weeks")
        if any(n < 1 or n > self.longest_weeks for n in self.reached_dates):
            raise ValueError("reached_dates may only hold N from 1 to longest_weeks")
        if any(day.isoweekday() != 1 for day in self.reached_dates.values()):
            raise ValueError("reached_dates must be Mondays")
        _check_ordered(self.reached_dates)
        return self


def _check_ordered(dates: dict[int, date]) -> None:
    ordered = [dates[n] for n in sorted(dates)]
    if any(later < earlier for earlier, later in pairwise(ordered)):
        raise ValueError("a larger N cannot be reached on an earlier date")


class MentorFacts(_Frozen):
    """The data layer's answer to ``FactRequests`` for one mentor, keyed by the requests' keys."""

    org_id: UUID
    peer_mentor_id: UUID
    timezone: str  # the org's IANA zone, e.g. Europe/Oslo
    stats: PeerMentorStats
    counts: dict[str, CountFact] = Field(default_factory=dict)
    streaks: dict[str, StreakFact] = Field(default_factory=dict)

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


class MissingFact(LookupError):
    """The facts lack something ``required_facts`` asked for: a data-layer bug, not bad input."""


# --- what evaluation returns -------------------------------------------------------------


class DueAward(_Frozen):
    badge_definition_id: UUID
    level: int
    earned_at: date
    payable: bool
    definition_revision: int
    criteria_snapshot: dict[str, object]
    # "backfill" when the criterion was crossed before the definition last changed: such
    # awards are announced quietly. A reconcile run may treat every award as a backfill.
    source_hint: Literal["evaluation", "backfill"]


class Evaluation(_Frozen):
    progress: tuple[BadgeProgress, ...]
    due: tuple[DueAward, ...]


# --- the core ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _LevelState:
    level: int
    level_name: str | None
    target: int
    current: int
    met: bool
    crossed_on: Callable[[], date]  # called only when met and not yet awarded


def _held(earned: Iterable[EarnedLevel]) -> dict[tuple[UUID, int], EarnedLevel]:
    return {(e.badge_definition_id, e.level): e for e in earned}


def _live(definitions: Iterable[BadgeDefinition], org_id: UUID | None = None) -> list[BadgeDefinition]:
    live = [d for d in definitions if d.live]
    for definition in live:
        if org_id is not None and definition.org_id != org_id:
            raise ValueError(f"badge definition {definition.id} belongs to another organisation")
    return live


def _count_fact(facts: MentorFacts, key: str) -> CountFact:
    try:
        return facts.counts[key]
    except KeyError:
        raise MissingFact(f"no count for {key!r}; required_facts asks for it") from None


def _streak_fact(facts: MentorFacts, key: str) -> StreakFact:
    try:
        return facts.streaks[key]
    except KeyError:
        raise MissingFact(f"no streak for {key!r}; required_facts asks for it") from None


def _crossing(fact: CountFact, key: str, target: int) -> date:
    try:
        return fact.crossing_dates[target]
    except KeyError:
        raise MissingFact(f"no crossing date for activity {target} of {key!r}") from None


def _reached(fact: StreakFact, key: str, weeks: int) -> date:
    try:
        return fact.reached_dates[weeks]
    except KeyError:
        raise MissingFact(f"no week in which {key!r} reached {weeks} weeks") from None


def _training_dates(criteria: TrainingCompletionCriteria, facts: MentorFacts, today: date) -> dict[str, date]:
    """For each required code the mentor holds, the local date of its first counting completion."""
    zone = ZoneInfo(facts.timezone)
    dates: dict[str, date] = {}
    for completion in facts.stats.training.completed:
        code = completion.training_code
        if code not in criteria.training_codes:
            continue
        done = completion.completed_at.astimezone(zone).date()
        expired = completion.expires_at is not None and completion.expires_at.astimezone(zone).date() <= today
        if done > today or (criteria.only_valid and expired):
            continue
        dates[code] = min(done, dates.get(code, done))
    return dates


def _never() -> date:
    raise AssertionError("manual badges are never due")


def _assess(definition: BadgeDefinition, facts: MentorFacts, today: date) -> list[_LevelState]:
    criteria = definition.criteria
    if isinstance(criteria, ThresholdCriteria | TierCriteria | MilestoneCriteria):
        key = count_key(criteria.activity_filter, criteria.window)
        fact = _count_fact(facts, key)
        names = [tier.name for tier in criteria.tiers] if isinstance(criteria, TierCriteria) else None
        return [
            _LevelState(
                level=level,
                level_name=names[level - 1] if names else None,
                target=target,
                current=fact.count,
                met=fact.count >= target,
                crossed_on=partial(_crossing, fact, key, target),
            )
            for level, target in criteria.levels()
        ]
    if isinstance(criteria, StreakCriteria):
        key = streak_key(criteria.activity_filter, criteria.min_per_week)
        streak = _streak_fact(facts, key)
        return [
            _LevelState(
                level=1,
                level_name=None,
                target=criteria.weeks,
                current=streak.current_weeks,
                met=streak.longest_weeks >= criteria.weeks,
                crossed_on=partial(_reached, streak, key, criteria.weeks),
            )
        ]
    if isinstance(criteria, TrainingCompletionCriteria):
        dates = _training_dates(criteria, facts, today)
        [(_, target)] = criteria.levels()
        # All: crossed when the last code was done; any: when the first was.
        pick = max if criteria.require == "all" else min
        return [
            _LevelState(
                level=1,
                level_name=None,
                target=target,
                current=min(len(dates), target),
                met=len(dates) >= target,
                crossed_on=lambda: pick(dates.values()),
            )
        ]
    assert isinstance(criteria, ManualCriteria)
    return [_LevelState(level=1, level_name=None, target=1, current=0, met=False, crossed_on=_never)]


def _walk(
    facts: MentorFacts, definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> Iterable[tuple[BadgeDefinition, _LevelState, EarnedLevel | None, BadgeProgress]]:
    held = _held(earned)
    for definition in _live(definitions, facts.org_id):
        for state in _assess(definition, facts, today):
            record = held.get((definition.id, state.level))
            holds = record is not None and not record.revoked
            current = int(holds) if isinstance(definition.criteria, ManualCriteria) else state.current
            progress = BadgeProgress(
                badge_definition_id=definition.id,
                key=definition.key,
                name=definition.name,
                type=definition.criteria.type,
                level=state.level,
                level_name=state.level_name,
                current=current,
                target=state.target,
                earned=holds,
                earned_at=record.earned_at if record is not None and holds else None,
            )
            yield definition, state, record, progress


def _due(definition: BadgeDefinition, state: _LevelState, facts: MentorFacts) -> DueAward:
    earned_at = state.crossed_on()
    changed_on = definition.updated_at.astimezone(ZoneInfo(facts.timezone)).date()
    return DueAward(
        badge_definition_id=definition.id,
        level=state.level,
        earned_at=earned_at,
        payable=definition.payable,
        definition_revision=definition.revision,
        criteria_snapshot=definition.criteria.model_dump(mode="json"),
        source_hint="backfill" if earned_at < changed_on else "evaluation",
    )


def required_facts(
    definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> FactRequests:
    """The counts and streaks ``evaluate`` will read, for the live definitions."""
    held = _held(earned)
    counts: dict[str, CountRequest] = {}
    streaks: dict[str, StreakRequest] = {}
    for definition in _live(definitions):
        criteria = definition.criteria
        pending = {target for level, target in criteria.levels() if (definition.id, level) not in held}
        if isinstance(criteria, ThresholdCriteria | TierCriteria | MilestoneCriteria):
            key = count_key(criteria.activity_filter, criteria.window)
            known = counts.get(key)
            counts[key] = CountRequest(
                key=key,
                activity_types=_normalised(criteria.activity_filter),
                since=criteria.window.since(today),
                crossing_targets=tuple(sorted(pending.union(known.crossing_targets if known else ()))),
            )
        elif isinstance(criteria, StreakCriteria):
            key = streak_key(criteria.activity_filter, criteria.min_per_week)
            known_streak = streaks.get(key)
            streaks[key] = StreakRequest(
                key=key,
                activity_types=_normalised(criteria.activity_filter),
                min_per_week=criteria.min_per_week,
                week_targets=tuple(sorted(pending.union(known_streak.week_targets if known_streak else ()))),
            )
    return FactRequests(
        today=today,
        counts=tuple(counts[key] for key in sorted(counts)),
        streaks=tuple(streaks[key] for key in sorted(streaks)),
    )


def evaluate(
    facts: MentorFacts, definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> Evaluation:
    """Progress for every live definition and level, and every level due: met, never awarded."""
    progress = []
    due = []
    for definition, state, record, item in _walk(facts, definitions, earned, today):
        progress.append(item)
        if state.met and record is None:
            due.append(_due(definition, state, facts))
    return Evaluation(progress=tuple(progress), due=tuple(due))


def honorar_status(
    assignment_count: AssignmentCount, definitions: Iterable[BadgeDefinition]
) -> HonorarMilestone:
    """Honorarium progress from the live payable milestone definitions, each against its own
    all-time count from the stats snapshot (no facts needed)."""
    pairs: list[tuple[int, int]] = []  # (threshold, that definition's count)
    for definition in _live(definitions):
        criteria = definition.criteria
        if isinstance(criteria, MilestoneCriteria) and criteria.payable:
            types = criteria.activity_filter
            if types is None:
                count = assignment_count.total
            else:
                count = sum(assignment_count.by_type.get(t, 0) for t in set(types))
            pairs.extend((threshold, count) for threshold in criteria.thresholds)
    pending = sorted((threshold, threshold - count) for threshold, count in pairs if count < threshold)
    return HonorarMilestone(
        thresholds=tuple(sorted({threshold for threshold, _ in pairs})),
        thresholds_met=tuple(sorted({threshold for threshold, count in pairs if count >= threshold})),
        next_threshold=pending[0][0] if pending else None,
        remaining_to_next=pending[0][1] if pending else None,
    )


def milestone_status(
    facts: MentorFacts, definitions: Iterable[BadgeDefinition], earned: Iterable[EarnedLevel], today: date
) -> MilestoneStatus:
    """The milestones view; needs counts and streaks in ``facts`` but no crossing dates."""
    definitions = list(definitions)
    honorar = honorar_status(facts.stats.assignment_count, definitions)
    return MilestoneStatus(
        peer_mentor_id=facts.peer_mentor_id,
        org_id=facts.org_id,
        crossed_thresholds=honorar.thresholds_met,
        next_threshold=honorar.next_threshold,
        remaining_to_next=honorar.remaining_to_next,
        badges=tuple(item for *_, item in _walk(facts, definitions, earned, today)),
    )
