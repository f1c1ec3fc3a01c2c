"""``all_of`` / ``any_of``: a badge that combines others ("Mentor of the year": gold tier and a valid
course). 2 to 10 members, each a single-level criteria document (``threshold``, ``streak``,
``training_completion``, ``requires_badge``, or another ``all_of``/``any_of``), nested at most 3 deep.
``all_of`` is met when every member is, on the latest member's date; ``any_of`` when one is, on the
earliest met member's date (SPEC 8.2).

One mentor: the members' own facts and states. Everyone: the members' own crossing queries, combined
in SQL (grouped per mentor: every member for ``all_of``, any for ``any_of``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import Field

from peer_badges.criteria.base import CriteriaBase, Loc, Problems, check_list, describe
from peer_badges.criteria.facts import Crossings, FactRequest, LevelState
from peer_badges.criteria.prerequisite import RequiresBadgeCriteria
from peer_badges.criteria.streak import StreakCriteria
from peer_badges.criteria.threshold import ThresholdCriteria
from peer_badges.criteria.training import TrainingCompletionCriteria

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts

MIN_MEMBERS = 2
MAX_MEMBERS = 10
MAX_DEPTH = 3  # a combination at the top is depth 1
MEMBER_TYPES = ("threshold", "streak", "training_completion", "requires_badge", "all_of", "any_of")
# Parameters every crossing call shares; a member's own ones are renamed apart.
_SHARED = {"org_id", "mentors", "today"}


class CombinationCriteria(CriteriaBase):
    criteria: Annotated[tuple[Member, ...], Field(min_length=MIN_MEMBERS, max_length=MAX_MEMBERS)]

    every: ClassVar[bool]

    def levels(self) -> list[tuple[int, int]]:
        return [(1, len(self.criteria) if self.every else 1)]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        check_members(out, (), raw, depth=1)

    def fact_requests(self, pending: frozenset[int], today: date) -> list[FactRequest]:
        wanted = bool(pending)
        return [
            request
            for member in self.criteria
            for request in member.fact_requests(
                frozenset(target for _, target in member.levels()) if wanted else frozenset(), today
            )
        ]

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        members = tuple(
            LevelState(**{**state.__dict__, "type": member.type})
            for member in self.criteria
            for state in member.assess(facts, today)[:1]
        )
        met_members = [state for state in members if state.met]
        met = len(met_members) == len(members) if self.every else bool(met_members)
        pick = max if self.every else min
        [(_, target)] = self.levels()
        return [
            LevelState(
                level=1,
                level_name=None,
                target=target,
                current=min(len(met_members), target),
                met=met,
                crossed_on=lambda: pick(state.crossed_on() for state in met_members),
                members=members,
            )
        ]

    def crossings(self, today: date) -> Crossings:
        parts: list[str] = []
        params: dict[str, object] = {}
        for index, member in enumerate(self.criteria):
            call, own = _apart(member.crossings(today), f"m{index}_")
            parts.append(f"SELECT {index} AS member, x.peer_mentor_id, x.earned_at FROM {call} AS x")
            params.update(own)
        members = "\n UNION ALL ".join(parts)
        earned = "max" if self.every else "min"
        having = f"HAVING count(DISTINCT c.member) = {len(self.criteria)}" if self.every else ""
        return Crossings(
            f"(SELECT c.peer_mentor_id, 1 AS level, {earned}(c.earned_at) AS earned_at"
            f" FROM ({members}) AS c GROUP BY c.peer_mentor_id {having})",
            params,
        )


def _apart(crossings: Crossings, prefix: str) -> tuple[str, dict[str, object]]:
    """A member's call with its own parameters renamed (``:weeks`` -> ``:m1_weeks``)."""
    call = crossings.call
    for name in sorted(crossings.params, key=len, reverse=True):
        if name not in _SHARED:
            call = re.sub(rf":{name}\b", f":{prefix}{name}", call)
    return call, {f"{prefix}{name}": value for name, value in crossings.params.items() if name not in _SHARED}


class AllOfCriteria(CombinationCriteria):
    type: Literal["all_of"]
    every: ClassVar[bool] = True


class AnyOfCriteria(CombinationCriteria):
    type: Literal["any_of"]
    every: ClassVar[bool] = False


Member = Annotated[
    Union[  # noqa: UP007 (a discriminated union of classes, some defined below)
        ThresholdCriteria,
        StreakCriteria,
        TrainingCompletionCriteria,
        RequiresBadgeCriteria,
        AllOfCriteria,
        AnyOfCriteria,
    ],
    Field(discriminator="type"),
]
# No model_rebuild() here: the models are built on first use (defer_build), when Member is defined.


def check_members(out: Problems, loc: Loc, raw: dict[Any, Any], depth: int) -> None:
    """Every problem with a combination's members, at their paths (``criteria[1].threshold``)."""
    from peer_badges.criteria.registry import collect  # the registry validates each member as a document

    if "criteria" not in raw:
        return  # reported as a missing required field
    items = check_list(
        out, (*loc, "criteria"), "Criteria", raw["criteria"], MAX_MEMBERS, '[{"type": "threshold", ...}, ...]'
    )
    if items is None:
        return
    if len(items) < MIN_MEMBERS:
        out.add(
            (*loc, "criteria"),
            "too_few",
            f"A combination needs at least {MIN_MEMBERS} criteria; got {len(items)}. "
            "For one criterion, use it directly.",
        )
    for index, member in enumerate(items):
        member_loc: Loc = (*loc, "criteria", index)
        kind = member.get("type") if isinstance(member, dict) else None
        if isinstance(kind, str) and kind in ("tier", "milestone", "manual"):
            out.add(
                (*member_loc, "type"),
                "not_allowed",
                f"A {kind} badge has several levels or none, so it cannot be part of a combination. "
                f"Allowed: {', '.join(MEMBER_TYPES)}; to combine with a badge, use requires_badge.",
            )
            continue
        if isinstance(kind, str) and kind in ("all_of", "any_of") and depth + 1 > MAX_DEPTH:
            out.add(
                (*member_loc, "type"),
                "too_deep",
                f"Combinations can be nested at most {MAX_DEPTH} deep; this one would be {depth + 1}.",
            )
            continue
        if not isinstance(member, dict):
            out.add(
                member_loc, "wrong_type", f"Each member must be a criteria document; got {describe(member)}."
            )
            continue
        for member_path, code, message in collect(member, depth + 1):
            out.add((*member_loc, *member_path), code, message)
