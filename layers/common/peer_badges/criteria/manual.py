"""``manual``: never awarded automatically; coordinators and admins award it (the escape hatch for
criteria not yet formalised). Its progress is 1/1 once held."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, ClassVar, Literal

from peer_badges.criteria.base import CriteriaBase
from peer_badges.criteria.facts import NO_CROSSINGS, Crossings, LevelState

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts


def _never() -> date:
    raise AssertionError("manual badges are never due")


class ManualCriteria(CriteriaBase):
    type: Literal["manual"]

    auto_awarded: ClassVar[bool] = False

    def levels(self) -> list[tuple[int, int]]:
        return [(1, 1)]

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        return [LevelState(level=1, level_name=None, target=1, current=0, met=False, crossed_on=_never)]

    def crossings(self, today: date) -> Crossings:
        return NO_CROSSINGS
