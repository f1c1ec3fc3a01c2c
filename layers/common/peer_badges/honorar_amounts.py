"""`amounts_nok` on a payable milestone (SPEC 8.4): one whole, non-negative NOK amount per threshold.

Self-contained (it imports nothing of the criteria module, which imports it): `AmountsNok` is the
field type `MilestoneCriteria` declares, and `amounts_nok_problems` is the admin-readable check the
criteria validator runs for a milestone document. The two hold the same rules, so a document the
validator accepts parses, and one read back from the database parses on its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictInt, ValidationInfo
from pydantic_core import PydanticCustomError

MAX_AMOUNT_NOK = 1_000_000
FIELD = "amounts_nok"

Problem = tuple[tuple[str | int, ...], str, str]


def _describe(value: object) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the text "{value[:40]}"'
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return repr(value) if isinstance(value, int | float) and abs(value) < 10**15 else "a very large number"


def _amount_problem(value: object, label: str) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " Remove the quotes." if isinstance(value, str) and value.strip().isdigit() else ""
        if isinstance(value, float) and value.is_integer():
            hint = f" Write it as {int(value)}, without decimals."
        return "not_integer", f"{label} must be a whole number of kroner; got {_describe(value)}.{hint}"
    if value < 0:
        return "negative", f"{label} cannot be negative; got {value}. Use 0 for a level that pays nothing."
    if value > MAX_AMOUNT_NOK:
        return "too_large", f"{label} can be at most {MAX_AMOUNT_NOK} NOK; got {_describe(value)}."
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


def amounts_nok_problems(raw: dict[Any, Any]) -> list[Problem]:
    """Every problem with a milestone document's `amounts_nok` (absent or null: none)."""
    value = raw.get(FIELD)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        return [
            ((FIELD,), "wrong_type", f"Amounts must be a list like [1500, 5000]; got {_describe(value)}.")
        ]
    problems: list[Problem] = []
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
