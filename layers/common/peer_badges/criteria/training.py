"""``training_completion``: given training codes completed (all of them, or any), optionally only while
valid (not expired). A completion counts from its date in the org's time zone, up to today; with
``only_valid`` it stops counting on its expiry date. Met on the date the last required code was done
(all) or the first (any).

One mentor: the completions in the stats row (a handful, indexed). Everyone: ``training_crossings``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, StrictBool

from peer_badges.criteria.base import (
    MAX_TRAINING_CODES,
    CriteriaBase,
    Problems,
    TrainingCode,
    check_bool,
    check_names,
    describe,
    unique,
)
from peer_badges.criteria.facts import Crossings, LevelState

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts


class TrainingCompletionCriteria(CriteriaBase):
    type: Literal["training_completion"]
    training_codes: Annotated[
        tuple[TrainingCode, ...],
        Field(min_length=1, max_length=MAX_TRAINING_CODES),
        AfterValidator(unique("Training codes")),
    ]
    require: Literal["all", "any"] = "all"
    only_valid: StrictBool = False

    def levels(self) -> list[tuple[int, int]]:
        return [(1, len(self.training_codes) if self.require == "all" else 1)]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        if "training_codes" in raw:
            check_names(
                out,
                ("training_codes",),
                "Training codes",
                "A training code",
                raw["training_codes"],
                MAX_TRAINING_CODES,
            )
        require = raw.get("require", "all")
        if not (isinstance(require, str) and require in ("all", "any")):
            out.add(
                ("require",), "invalid_value", f'Require must be "all" or "any"; got {describe(require)}.'
            )
        if "only_valid" in raw:
            check_bool(out, ("only_valid",), "Only valid", raw["only_valid"])

    def completed_on(self, facts: MentorFacts, today: date) -> dict[str, date]:
        """For each required code the mentor holds, the local date of its first counting completion."""
        zone = ZoneInfo(facts.timezone)
        dates: dict[str, date] = {}
        for completion in facts.stats.training.completed:
            code = completion.training_code
            if code not in self.training_codes:
                continue
            done = completion.completed_at.astimezone(zone).date()
            expires = completion.expires_at
            expired = expires is not None and expires.astimezone(zone).date() <= today
            if done > today or (self.only_valid and expired):
                continue
            dates[code] = min(done, dates.get(code, done))
        return dates

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        dates = self.completed_on(facts, today)
        [(_, target)] = self.levels()
        pick = max if self.require == "all" else min
        return [
            LevelState(
                level=1,
                level_name=None,
                target=target,
                current=min(len(dates), target),
                met=len(dates) >= target,
                crossed_on=lambda: pick(dates.values()),
            )
        ]

    def crossings(self, today: date) -> Crossings:
        return Crossings(
            "training_crossings(:org_id, CAST(:mentors AS uuid[]), CAST(:codes AS text[]), :require,"
            " :only_valid, CAST(:today AS date))",
            {"codes": list(self.training_codes), "require": self.require, "only_valid": self.only_valid},
        )
