"""``tier``: one definition, several increasing thresholds with names (Bronze 5 / Silver 25 / Gold 100);
each tier crossed is its own level, numbered from 1. Meaning: ``counting``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictStr

from peer_badges.criteria.base import (
    MAX_LEVELS,
    ActivityTypes,
    Model,
    Problems,
    Threshold,
    check_known_fields,
    check_list,
    check_thresholds,
    checked_name,
    custom_error,
    describe,
    duplicates,
    name_problem,
    quoted,
    strictly_increasing,
)
from peer_badges.criteria.counting import CountingCriteria


class Tier(Model):
    name: Annotated[StrictStr, AfterValidator(checked_name("A tier name"))]
    threshold: Threshold


def _tiers_increasing(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    strictly_increasing(tuple(tier.threshold for tier in tiers))
    if duplicates([tier.name for tier in tiers]):
        raise custom_error("duplicate", "Each tier needs its own name.")
    return tiers


class TierCriteria(CountingCriteria):
    type: Literal["tier"]
    activity_types: ActivityTypes | None = None
    tiers: Annotated[
        tuple[Tier, ...],
        Field(min_length=1, max_length=MAX_LEVELS),
        AfterValidator(_tiers_increasing),
    ]

    def levels(self) -> list[tuple[int, int]]:
        return [(position, tier.threshold) for position, tier in enumerate(self.tiers, 1)]

    def level_names(self) -> list[str | None]:
        return [tier.name for tier in self.tiers]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        super().check_fields(out, raw)
        if "tiers" in raw:
            _check_tiers(out, raw["tiers"])


def _check_tiers(out: Problems, value: object) -> None:
    items = check_list(out, ("tiers",), "Tiers", value, MAX_LEVELS, '[{"name": "Bronze", "threshold": 5}]')
    if items is None:
        return
    thresholds = []
    names = []
    for index, tier in enumerate(items):
        loc: tuple[str | int, ...] = ("tiers", index)
        if not isinstance(tier, dict):
            out.add(
                loc,
                "wrong_type",
                'Each tier must be an object like {"name": "Bronze", "threshold": 5}; '
                f"got {describe(tier)}.",
            )
            continue
        check_known_fields(out, loc, tier, Tier, f"tier {index + 1}")
        if "name" in tier:
            problem = name_problem(tier["name"], f"The name of tier {index + 1}")
            if problem:
                out.add((*loc, "name"), *problem)
            else:
                names.append((index, tier["name"]))
        if "threshold" in tier:
            thresholds.append(((*loc, "threshold"), tier["threshold"], f"The threshold of tier {index + 1}"))
    check_thresholds(out, thresholds)
    seen: set[str] = set()
    for index, name in names:
        if name in seen:
            out.add(
                ("tiers", index, "name"), "duplicate", f"Tier name {quoted(name)} is used more than once."
            )
        seen.add(name)
