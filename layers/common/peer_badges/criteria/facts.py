"""What a criteria type asks of one mentor's data, and the answers it reads (the per-mentor path).

A type names the facts it needs (``CountRequest``, ``StreakRequest``); the data layer answers them
from the stats snapshot and index-bounded lookups (``peer_badges.stats.load_facts``), so evaluating a
mentor costs the same at 50 and at 5,000 activities. The type then reads the answers back
(``count_fact``, ``streak_fact``) to say, per level, how far the mentor is and when it was met.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts

NonNegative = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


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


def count_key(activity_types: Iterable[str] | None, window_key: str) -> str:
    """E.g. ``types=assignment,visit|window=rolling_days:90`` or ``types=*|window=all_time``."""
    return f"{_types_part(activity_types)}|window={window_key}"


def streak_key(activity_types: Iterable[str] | None, min_per_week: int) -> str:
    """E.g. ``types=visit|min_per_week=2``."""
    return f"{_types_part(activity_types)}|min_per_week={min_per_week}"


def normalised(activity_types: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if activity_types is None else tuple(sorted(set(activity_types)))


class CountRequest(_Frozen):
    """Count counted activities of ``activity_types`` (None: all) dated ``since``..``today`` inclusive
    (``since`` None: from the first), or with ``measure`` "minutes" sum their minutes. For each N in
    ``crossing_targets`` that it reaches, give the date on which the running count (the Nth activity) or
    sum first reached N, in date order."""

    key: str
    activity_types: tuple[str, ...] | None
    since: date | None
    crossing_targets: tuple[int, ...]
    # "count" (activities) or "minutes" (the sum of duration_minutes, null counting 0)
    measure: Literal["count", "minutes"] = "count"

    @classmethod
    def of(
        cls,
        activity_types: Iterable[str] | None,
        window_key: str,
        since: date | None,
        targets: Iterable[int],
        measure: Literal["count", "minutes"] = "count",
    ) -> CountRequest:
        key = count_key(activity_types, window_key)
        return cls(
            key=key if measure == "count" else f"{key}|measure={measure}",
            activity_types=normalised(activity_types),
            since=since,
            crossing_targets=tuple(sorted(set(targets))),
            measure=measure,
        )

    def merged(self, other: CountRequest) -> CountRequest:
        targets = tuple(sorted({*self.crossing_targets, *other.crossing_targets}))
        return self.model_copy(update={"crossing_targets": targets})

    def without_dates(self) -> CountRequest:
        return self.model_copy(update={"crossing_targets": ()})


class StreakRequest(_Frozen):
    """Runs of consecutive ISO weeks (up to today's) with at least ``min_per_week`` counted activities:
    the longest, the current one (see ``streak_alive``) and, for each N in ``week_targets`` reached, the
    Monday of the week in which a run first reached N."""

    key: str
    activity_types: tuple[str, ...] | None
    min_per_week: int
    week_targets: tuple[int, ...]

    @classmethod
    def of(
        cls, activity_types: Iterable[str] | None, min_per_week: int, targets: Iterable[int]
    ) -> StreakRequest:
        return cls(
            key=streak_key(activity_types, min_per_week),
            activity_types=normalised(activity_types),
            min_per_week=min_per_week,
            week_targets=tuple(sorted(set(targets))),
        )

    def merged(self, other: StreakRequest) -> StreakRequest:
        targets = tuple(sorted({*self.week_targets, *other.week_targets}))
        return self.model_copy(update={"week_targets": targets})

    def without_dates(self) -> StreakRequest:
        return self.model_copy(update={"week_targets": ()})


class HeldBadgeRequest(_Frozen):
    """The levels (and their earned_at) the mentor holds, unrevoked, of the org's definition ``key``."""

    key: str

    def merged(self, other: HeldBadgeRequest) -> HeldBadgeRequest:
        return self

    def without_dates(self) -> HeldBadgeRequest:
        return self


FactRequest = CountRequest | StreakRequest | HeldBadgeRequest


class CountFact(_Frozen):
    count: NonNegative
    crossing_dates: dict[int, date] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> CountFact:
        if any(n < 1 or n > self.count for n in self.crossing_dates):
            raise ValueError("crossing_dates may only hold N from 1 to count")
        _check_ordered(self.crossing_dates)
        return self


class StreakFact(_Frozen):
    longest_weeks: NonNegative
    current_weeks: NonNegative
    reached_dates: dict[int, date] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> StreakFact:
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


class MissingFact(LookupError):
    """The facts lack something a type asked for: a data-layer bug, not bad input."""


def count_fact(facts: MentorFacts, key: str) -> CountFact:
    try:
        return facts.counts[key]
    except KeyError:
        raise MissingFact(f"no count for {key!r}; the criteria asked for it") from None


def streak_fact(facts: MentorFacts, key: str) -> StreakFact:
    try:
        return facts.streaks[key]
    except KeyError:
        raise MissingFact(f"no streak for {key!r}; the criteria asked for it") from None


def crossing_date(fact: CountFact, key: str, target: int) -> date:
    try:
        return fact.crossing_dates[target]
    except KeyError:
        raise MissingFact(f"no crossing date for activity {target} of {key!r}") from None


def reached_date(fact: StreakFact, key: str, weeks: int) -> date:
    try:
        return fact.reached_dates[weeks]
    except KeyError:
        raise MissingFact(f"no week in which {key!r} reached {weeks} weeks") from None


@dataclass(frozen=True)
class LevelState:
    """One level of one definition for one mentor: progress, and when it was met."""

    level: int
    level_name: str | None
    target: int
    current: int
    met: bool
    crossed_on: Callable[[], date]  # called only when met and not yet awarded
    # A combination's members (their own states), and whether a prerequisite badge is held.
    members: tuple[LevelState, ...] = ()
    type: str | None = None  # the member's criteria type, for progress reports
    held: bool | None = None


@dataclass(frozen=True)
class Crossings:
    """A set-based query of who meets which level, and since when: ``call`` is a fixed SQL call of one
    of the crossing functions in sql/ returning (peer_mentor_id, level, earned_at); it reads the named
    parameters ``org_id``, ``mentors`` (uuid[] or NULL for everyone), ``today`` and ``params``."""

    call: str
    params: dict[str, object]


NO_CROSSINGS = Crossings(
    "(SELECT NULL::uuid AS peer_mentor_id, NULL::int AS level, NULL::date AS earned_at WHERE false)", {}
)
