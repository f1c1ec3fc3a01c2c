"""The counting family: ``threshold``, ``tier`` and ``milestone`` badges are levels of one number, the
count of counted activities (of some types, in a window) or, with ``measure: "minutes"``, the sum of
their minutes (``duration_minutes``, null counting 0); a level is met on the date on which the running
number, in activity date order, first reached its target. The three types share this meaning; their
modules add only their shape.

One mentor: the count and the Nth dates come from bounded facts (``CountRequest``). Everyone: the
``count_crossings`` SQL function (sql/008_criteria_queries.sql) numbers each mentor's counted
activities in date order and picks the target-th.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from peer_badges.criteria.base import (
    AllTime,
    AnyWindow,
    CriteriaBase,
    Problems,
    check_activity_types,
    describe,
)
from peer_badges.criteria.facts import (
    CountRequest,
    Crossings,
    FactRequest,
    LevelState,
    count_fact,
    crossing_date,
)

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts

_COUNT_CROSSINGS = (
    "count_crossings(:org_id, CAST(:mentors AS uuid[]), CAST(:activity_types AS text[]), CAST(:since AS date),"
    " CAST(:today AS date), CAST(:targets AS int[]), :measure)"
)
MEASURES = ("count", "minutes")


class CountingCriteria(CriteriaBase):
    # Written back only when it is not the default, so documents stored before it existed read the same.
    measure: Literal["count", "minutes"] = Field("count", exclude_if=lambda value: value == "count")

    @property
    def count_window(self) -> AnyWindow:
        """The window the count looks at; only ``threshold`` has a choice."""
        return AllTime()

    def level_names(self) -> list[str | None]:
        return [None] * len(self.levels())

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        if "activity_types" in raw:
            check_activity_types(out, ("activity_types",), raw["activity_types"])
        if "measure" in raw and raw["measure"] not in MEASURES:
            out.add(
                ("measure",),
                "invalid_value",
                f'Measure must be "count" (activities) or "minutes" (their minutes); got {describe(raw["measure"])}.',
            )

    def _request(self, targets: frozenset[int], today: date) -> CountRequest:
        window = self.count_window
        return CountRequest.of(self.activity_filter, window.key, window.since(today), targets, self.measure)

    def fact_requests(self, pending: frozenset[int], today: date) -> list[FactRequest]:
        return [self._request(pending, today)]

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        key = self._request(frozenset(), today).key
        fact = count_fact(facts, key)
        names = self.level_names()
        return [
            LevelState(
                level=level,
                level_name=names[level - 1],
                target=target,
                current=fact.count,
                met=fact.count >= target,
                crossed_on=partial(crossing_date, fact, key, target),
            )
            for level, target in self.levels()
        ]

    def crossings(self, today: date) -> Crossings:
        types = self.activity_filter
        return Crossings(
            _COUNT_CROSSINGS,
            {
                "activity_types": list(types) if types is not None else None,
                "since": self.count_window.since(today),
                "targets": [target for _, target in self.levels()],
                "measure": self.measure,
            },
        )
