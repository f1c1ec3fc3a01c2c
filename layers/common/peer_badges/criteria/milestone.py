"""``milestone``: a data-driven list of thresholds (Blindeforbundet's honorarium at the 3rd and 15th
assignment); each crossing is a level, numbered from 1, flagged ``payable`` when it pays. Meaning:
``counting``; the honorarium view (``evaluation.honorar_status``) reads the payable ones."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool

from peer_badges.criteria.base import (
    MAX_LEVELS,
    ActivityTypes,
    Problems,
    Threshold,
    check_bool,
    check_list,
    check_thresholds,
    strictly_increasing,
)
from peer_badges.criteria.counting import CountingCriteria


class MilestoneCriteria(CountingCriteria):
    type: Literal["milestone"]
    activity_types: ActivityTypes | None = None
    thresholds: Annotated[
        tuple[Threshold, ...],
        Field(min_length=1, max_length=MAX_LEVELS),
        AfterValidator(strictly_increasing),
    ]
    payable: StrictBool

    def levels(self) -> list[tuple[int, int]]:
        return list(enumerate(self.thresholds, 1))

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        super().check_fields(out, raw)
        if "thresholds" in raw:
            items = check_list(out, ("thresholds",), "Thresholds", raw["thresholds"], MAX_LEVELS, "[3, 15]")
            if items is not None:
                check_thresholds(
                    out,
                    [
                        (("thresholds", index), item, f"Threshold {index + 1}")
                        for index, item in enumerate(items)
                    ],
                )
        if "payable" in raw:
            check_bool(out, ("payable",), "Payable", raw["payable"])
