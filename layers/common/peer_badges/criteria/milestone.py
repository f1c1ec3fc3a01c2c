"""``milestone``: a data-driven list of thresholds (Blindeforbundet's honorarium at the 3rd and 15th
assignment); each crossing is a level, numbered from 1, flagged ``payable`` when it pays, with an
optional ``amounts_nok`` (one whole, non-negative NOK amount per threshold; SPEC 8.4) that the award
turns into a payout. Meaning: ``counting``; the honorarium view (``models.HonorarMilestone.of``) and
the payouts (``peer_badges.payouts``) read the payable ones."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, ValidationInfo
from pydantic_core import PydanticCustomError

from peer_badges.criteria.base import (
    MAX_LEVELS,
    ActivityTypes,
    Loc,
    Problems,
    Threshold,
    check_bool,
    check_list,
    check_thresholds,
    describe,
    strictly_increasing,
)
from peer_badges.criteria.counting import CountingCriteria

MAX_AMOUNT_NOK = 1_000_000
FIELD = "amounts_nok"


def _amount_problem(value: object, label: str) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " Remove the quotes." if isinstance(value, str) and value.strip().isdigit() else ""
        if isinstance(value, float) and value.is_integer():
            hint = f" Write it as {int(value)}, without decimals."
        return "not_integer", f"{label} must be a whole number of kroner; got {describe(value)}.{hint}"
    if value < 0:
        return "negative", f"{label} cannot be negative; got {value}. Use 0 for a level that pays nothing."
    if value > MAX_AMOUNT_NOK:
        return "too_large", f"{label} can be at most {MAX_AMOUNT_NOK} NOK; got {describe(value)}."
    return None


def _cross_field_problem(amounts: list[Any], thresholds: object, payable: object) -> tuple[str, str] | None:
    if payable is not True:
        return (
            "not_payable",
            "Amounts apply only to payable milestones: set payable to true or remove amounts_nok.",
        )
    if isinstance(thresholds, list | tuple) and len(amounts) != len(thresholds):
        return (
            "length_mismatch",
            f"Give one amount per threshold: {len(thresholds)} thresholds but {len(amounts)} amounts.",
        )
    return None


def amounts_nok_problems(raw: dict[Any, Any]) -> list[tuple[Loc, str, str]]:
    """Every problem with a milestone document's `amounts_nok` (absent or null: none)."""
    value = raw.get(FIELD)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        return [((FIELD,), "wrong_type", f"Amounts must be a list like [1500, 5000]; got {describe(value)}.")]
    problems: list[tuple[Loc, str, str]] = []
    for index, amount in enumerate(value):
        problem = _amount_problem(amount, f"Amount {index + 1}")
        if problem:
            problems.append(((FIELD, index), *problem))
    cross = _cross_field_problem(list(value), raw.get("thresholds"), raw.get("payable"))
    if cross:
        problems.append(((FIELD,), *cross))
    return problems


def _matches_thresholds(value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
    # Declared after `thresholds` and `payable`, so both are in info.data when they were valid.
    if value is None:
        return value
    problem = _cross_field_problem(list(value), info.data.get("thresholds"), info.data.get("payable"))
    if problem:
        raise PydanticCustomError(problem[0], "{message}", {"message": problem[1]})
    return value


AmountNok = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_NOK)]
AmountsNok = Annotated[tuple[AmountNok, ...] | None, AfterValidator(_matches_thresholds)]


class MilestoneCriteria(CountingCriteria):
    type: Literal["milestone"]
    activity_types: ActivityTypes | None = None
    thresholds: Annotated[
        tuple[Threshold, ...],
        Field(min_length=1, max_length=MAX_LEVELS),
        AfterValidator(strictly_increasing),
    ]
    payable: StrictBool
    amounts_nok: AmountsNok = None  # after thresholds and payable: its validator reads both

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
        out.found.extend(amounts_nok_problems(raw))
