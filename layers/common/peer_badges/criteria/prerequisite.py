"""``requires_badge``: the mentor holds an unrevoked earned badge of the organisation's definition with
``badge_key``, at ``level`` or higher; met on that badge's ``earned_at`` (the earliest such level's).
Prerequisites name definitions of the same organisation, so they are checked where the organisation
is known (``reference_problems``, at every write of a definition): unknown keys and cycles refused.

One mentor: the badges the mentor holds (``HeldBadgeRequest``). Everyone: ``requires_badge_crossings``
(sql/017). A new award or a revoke of the prerequisite queues its holders for evaluation (a trigger on
earned_badges); a revoke never revokes the dependent badge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

from peer_badges.criteria.base import (
    MAX_LEVELS,
    CriteriaBase,
    ErrorDetail,
    Loc,
    Problems,
    check_count,
    describe,
    format_path,
    quoted,
)
from peer_badges.criteria.facts import Crossings, FactRequest, HeldBadgeRequest, LevelState

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_KEY = re.compile(KEY_PATTERN)


class RequiresBadgeCriteria(CriteriaBase):
    type: Literal["requires_badge"]
    badge_key: Annotated[StrictStr, Field(pattern=KEY_PATTERN)]
    level: Annotated[StrictInt, Field(ge=1, le=MAX_LEVELS)] = 1

    def levels(self) -> list[tuple[int, int]]:
        return [(1, 1)]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        if "badge_key" in raw:
            key = raw["badge_key"]
            if not isinstance(key, str) or not _KEY.match(key):
                out.add(
                    ("badge_key",),
                    "invalid_value",
                    "badge_key must be the key of one of the organisation's badges (lowercase letters, "
                    f"digits, - and _); got {quoted(key) if isinstance(key, str) else describe(key)}.",
                )
        if "level" in raw:
            check_count(out, ("level",), "Level", raw["level"], MAX_LEVELS)

    def fact_requests(self, pending: frozenset[int], today: date) -> list[FactRequest]:
        return [HeldBadgeRequest(key=self.badge_key)]

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        held = {
            level: day
            for level, day in facts.held_badges.get(self.badge_key, {}).items()
            if level >= self.level
        }
        return [
            LevelState(
                level=1,
                level_name=None,
                target=1,
                current=int(bool(held)),
                met=bool(held),
                crossed_on=lambda: min(held.values()),
                held=bool(held),
            )
        ]

    def crossings(self, today: date) -> Crossings:
        return Crossings(
            "requires_badge_crossings(:org_id, CAST(:mentors AS uuid[]), :badge_key, :badge_level)",
            {"badge_key": self.badge_key, "badge_level": self.level},
        )


def required_keys(criteria: Any) -> Iterator[tuple[Loc, str]]:
    """Every ``requires_badge`` in a criteria model (members included), with its path."""
    if isinstance(criteria, RequiresBadgeCriteria):
        yield ("badge_key",), criteria.badge_key
    for index, member in enumerate(getattr(criteria, "criteria", ()) or ()):
        for loc, key in required_keys(member):
            yield ("criteria", index, *loc), key


def reference_problems(
    criteria: Any, own_key: str | None, org_criteria: Mapping[str, Any], prefix: Loc = ()
) -> list[ErrorDetail]:
    """Unknown prerequisite keys, and cycles: ``org_criteria`` maps every definition key of the
    organisation (archived ones too: their badges are still held) to its criteria; ``own_key`` is the
    key of the definition being written (None for a draft without one)."""
    problems = []
    known = set(org_criteria) | ({own_key} if own_key else set())
    for loc, key in required_keys(criteria):
        if key not in known:
            listed = ", ".join(sorted(org_criteria)[:20]) or "none yet"
            problems.append(
                ErrorDetail(
                    path=format_path((*prefix, *loc)),
                    code="unknown_badge",
                    message=f'There is no badge with the key "{key}" in this organisation. Known keys: {listed}.',
                )
            )
        elif own_key is not None and own_key in _reachable(key, {**org_criteria, own_key: criteria}):
            problems.append(
                ErrorDetail(
                    path=format_path((*prefix, *loc)),
                    code="cycle",
                    message=f'"{key}" requires "{own_key}" (directly or through other badges), so requiring '
                    "it here would make a cycle no one could ever complete.",
                )
            )
    return problems


def _reachable(start: str, graph: Mapping[str, Any]) -> set[str]:
    """The keys ``start`` requires, directly or through others (``start`` itself when it is on a cycle)."""
    seen: set[str] = set()
    todo = [key for _, key in required_keys(graph.get(start))] if start in graph else []
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if key in graph:
            todo.extend(k for _, k in required_keys(graph[key]))
    return seen | ({start} if start in seen else set())


def prerequisites_first(definitions: Iterable[Any]) -> list[Any]:
    """Definitions ordered so that every prerequisite comes before the badges requiring it (ties in id
    order); reconcile awards in this order, so one run awards a chain."""
    remaining = sorted(definitions, key=lambda d: str(d.id))
    by_key = {d.key for d in remaining}
    ordered: list[Any] = []
    placed: set[str] = set()
    while remaining:
        ready = [
            d for d in remaining if all(k in placed or k not in by_key for _, k in required_keys(d.criteria))
        ]
        if not ready:  # a cycle slipped in (written around validation): keep id order
            ready = remaining[:1]
        for d in ready:
            ordered.append(d)
            placed.add(d.key)
        remaining = [d for d in remaining if d not in ready]
    return ordered
