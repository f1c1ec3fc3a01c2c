"""`amounts_nok` on payable milestones: the validator's problems and the model's rules agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from peer_badges.criteria.milestone import MAX_AMOUNT_NOK
from peer_badges.criteria.registry import Criteria, parse_criteria, validate_criteria

MILESTONE = {"type": "milestone", "schema_version": 1, "thresholds": [3, 15], "payable": True}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Criteria)


def problems(amounts: Any, **overrides: Any) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in validate_criteria({**MILESTONE, **overrides, "amounts_nok": amounts})]


def test_one_whole_non_negative_amount_per_threshold_is_valid_and_kept() -> None:
    assert problems([2500, 0]) == []
    assert problems(None) == []
    criteria = parse_criteria({**MILESTONE, "amounts_nok": [2500, 8000]})
    assert criteria.model_dump(mode="json")["amounts_nok"] == [2500, 8000]


@pytest.mark.parametrize(
    ("amounts", "overrides", "expected"),
    [
        ([-1, 5], {}, [("amounts_nok[0]", "negative")]),
        ([1, 2.5], {}, [("amounts_nok[1]", "not_integer")]),
        ([1, 2.0], {}, [("amounts_nok[1]", "not_integer")]),
        (["1", 2], {}, [("amounts_nok[0]", "not_integer")]),
        ([True, 2], {}, [("amounts_nok[0]", "not_integer")]),
        ([None, 2], {}, [("amounts_nok[0]", "not_integer")]),
        ([1, MAX_AMOUNT_NOK + 1], {}, [("amounts_nok[1]", "too_large")]),
        ([1], {}, [("amounts_nok", "length_mismatch")]),
        ([1, 2, 3], {}, [("amounts_nok", "length_mismatch")]),
        ({"a": 1}, {}, [("amounts_nok", "wrong_type")]),
        ([1, 2], {"payable": False}, [("amounts_nok", "not_payable")]),
        ([-1], {}, [("amounts_nok[0]", "negative"), ("amounts_nok", "length_mismatch")]),
    ],
)
def test_every_problem_is_reported_at_its_path(
    amounts: Any, overrides: dict[str, Any], expected: list[Any]
) -> None:
    assert problems(amounts, **overrides) == expected


def test_the_messages_say_what_to_do() -> None:
    [mismatch] = validate_criteria({**MILESTONE, "amounts_nok": [1]})
    assert "2 thresholds but 1 amounts" in mismatch.message
    [negative] = validate_criteria({**MILESTONE, "amounts_nok": [-5, 1]})
    assert "cannot be negative" in negative.message


def _model_accepts(raw: object) -> bool:
    try:
        _ADAPTER.validate_python(raw)
    except ValidationError:
        return False
    return True


amount_values = (
    st.integers(-3, 3) | st.just(MAX_AMOUNT_NOK + 1) | st.sampled_from([2.5, 1.0, "7", True, None])
)


@settings(max_examples=300, deadline=None)
@given(
    thresholds=st.lists(st.integers(1, 60), min_size=1, max_size=4, unique=True).map(sorted),
    amounts=st.none() | st.lists(amount_values, max_size=5) | st.sampled_from([5, "x", {}]),
    payable=st.booleans() | st.just("yes"),
)
def test_the_validator_and_the_model_agree_on_amounts(
    thresholds: list[int], amounts: Any, payable: Any
) -> None:
    raw = {**MILESTONE, "thresholds": thresholds, "payable": payable, "amounts_nok": amounts}
    assert (validate_criteria(raw) == []) == _model_accepts(raw)
