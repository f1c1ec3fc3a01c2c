"""``streak``: at least N consecutive ISO weeks (Monday start) with at least M counted activities.

One mentor: the runs of qualifying weeks from the week buckets (``StreakRequest``; the plain streak of
every type, one a week, straight from the snapshot). Everyone: ``streak_crossings`` in SQL. Both find
runs with the one gaps-and-islands function, ``week_runs``. Met on the Monday of the week in which a run
first reached N; the streak is current while its last week is this week or last week.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StrictInt

from peer_badges.criteria.base import (
    MAX_PER_WEEK,
    MAX_STREAK_WEEKS,
    ActivityTypes,
    CriteriaBase,
    Problems,
    check_activity_types,
    check_count,
)
from peer_badges.criteria.facts import (
    Crossings,
    FactRequest,
    LevelState,
    StreakRequest,
    reached_date,
    streak_fact,
)

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts


class StreakCriteria(CriteriaBase):
    type: Literal["streak"]
    weeks: Annotated[StrictInt, Field(gt=0, le=MAX_STREAK_WEEKS)]
    min_per_week: Annotated[StrictInt, Field(gt=0, le=MAX_PER_WEEK)] = 1
    activity_types: ActivityTypes | None = None

    def levels(self) -> list[tuple[int, int]]:
        return [(1, self.weeks)]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        if "activity_types" in raw:
            check_activity_types(out, ("activity_types",), raw["activity_types"])
        if "weeks" in raw:
            check_count(out, ("weeks",), "Weeks", raw["weeks"], MAX_STREAK_WEEKS)
        if "min_per_week" in raw:
            check_count(out, ("min_per_week",), "Minimum per week", raw["min_per_week"], MAX_PER_WEEK)

    def _request(self, targets: frozenset[int]) -> StreakRequest:
        return StreakRequest.of(self.activity_filter, self.min_per_week, targets)

    def fact_requests(self, pending: frozenset[int], today: date) -> list[FactRequest]:
        return [self._request(pending)]

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        key = self._request(frozenset()).key
        streak = streak_fact(facts, key)
        return [
            LevelState(
                level=1,
                level_name=None,
                target=self.weeks,
                current=streak.current_weeks,
                met=streak.longest_weeks >= self.weeks,
                crossed_on=partial(reached_date, streak, key, self.weeks),
            )
        ]

    def crossings(self, today: date) -> Crossings:
        types = self.activity_filter
        return Crossings(
            "streak_crossings(:org_id, CAST(:mentors AS uuid[]), CAST(:activity_types AS text[]), :min_per_week,"
            " CAST(:today AS date), :weeks)",
            {
                "activity_types": list(types) if types is not None else None,
                "min_per_week": self.min_per_week,
                "weeks": self.weeks,
            },
        )
