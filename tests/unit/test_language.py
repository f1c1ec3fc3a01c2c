"""Accept-Language (SPEC 8.7): which language a header reads, and the catalogue that translates the
layer's English messages at the edge."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peer_badges.api_docs import INVALID_CRITERIA
from peer_badges.criteria.registry import validate_criteria
from peer_badges.language import NB, PYDANTIC_NB, negotiate, translate, translate_pydantic


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("nb", "nb"),
        ("nb-NO", "nb"),
        ("NB-no", "nb"),
        ("no", "nb"),
        ("nn", "nb"),
        ("nn-NO", "nb"),
        ("en", "en"),
        ("en-US,nb;q=0.9", "en"),  # the first preference wins
        ("nb;q=0.5, en;q=0.8", "en"),  # weights, not order
        ("da, nb;q=0.4", "nb"),  # an unoffered language is skipped
        ("sv, no;q=0.1", "nb"),
        ("de", "en"),  # not offered: English
        ("*", "en"),
        ("nb;q=0", "en"),  # q=0 means "not this"
        ("nb;q=abc", "en"),  # an unreadable weight drops the item
        ("!!, ;;, ,", "en"),  # garbage is never an error
        ("x" * 1000, "en"),
    ],
)
def test_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language


# Documents with every kind of mistake the criteria checks report.
BAD_DOCUMENTS: list[Any] = [
    INVALID_CRITERIA,
    [],
    {"type": "nope", "schema_version": 1},
    {"schema_version": 1},
    {"type": "threshold"},
    {
        "type": "threshold",
        "schema_version": 2,
        "threshold": 2.5,
        "activity_types": [],
        "window": {"kind": "rolling_days", "days": "3"},
    },
    {"type": "threshold", "schema_version": 1, "threshold": 3.0, "window": {"kind": "weekly"}},
    {"type": "threshold", "schema_version": 1, "threshold": 100_001, "window": []},
    {"type": "threshold", "schema_version": 1, "threshold": 1, "window": {}},
    {"type": "threshold", "schema_version": 1, "threshold": "ten"},
    {"type": "threshold", "schema_version": 1, "threshold": {}},
    {
        "type": "milestone",
        "schema_version": 1,
        "thresholds": [3, 3, 0],
        "payable": "yes",
        "activity_types": ["a", "a", " b", 5, "", "x" * 65],
    },
    {"type": "streak", "schema_version": True, "weeks": None, "min_per_week": True, "x": 1},
    {
        "type": "tier",
        "schema_version": 1,
        "tiers": [{"name": " Gold", "threshold": 5}, {"name": "Gold", "threshold": 5}],
    },
    {"type": "all_of", "schema_version": 1, "criteria": [{"type": "manual", "schema_version": 1}]},
    {
        "type": "training_completion",
        "schema_version": 1,
        "training_codes": "a",
        "require": "some",
        "only_valid": 1,
    },
    {"type": "training_completion", "schema_version": 1, "training_codes": [" a"]},
    {"type": "requires_badge", "schema_version": 1, "badge_key": "Not A Key", "level": 0},
]


def _messages() -> list[str]:
    return sorted({problem.message for document in BAD_DOCUMENTS for problem in validate_criteria(document)})


@pytest.mark.parametrize("message", _messages())
def test_every_criteria_problem_has_a_bokmal_message(message: str) -> None:
    # Given a message the criteria checks write in English
    translated = translate(message, "nb")
    # Then the catalogue has it in bokmål, with no English words of the template left
    assert translated != message
    for word in (" must ", " cannot ", " needs ", " got ", "Unknown ", " the "):
        assert word not in translated, translated


def test_identifiers_in_messages_are_never_translated() -> None:
    message = 'Unknown field "colour" for a threshold badge. Known fields: type, threshold.'
    assert (
        translate(message, "nb")
        == 'Ukjent felt "colour" for et merke av typen threshold. Kjente felt: type, threshold.'
    )


def test_english_and_unknown_messages_are_left_as_they_are() -> None:
    assert (
        translate("Threshold must be greater than 0; got 0.", "en")
        == "Threshold must be greater than 0; got 0."
    )
    assert translate("A message nobody catalogued.", "nb") == "A message nobody catalogued."


def test_pydantic_errors_are_translated_by_type_and_context() -> None:
    assert translate_pydantic("string_too_long", {"max_length": 200}, "String should ...", "nb") == (
        "Kan ha høyst 200 tegn."
    )
    assert translate_pydantic("string_too_long", {"max_length": 200}, "String should ...", "en") == (
        "String should ..."
    )


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("english", sorted(NB))
def test_each_translation_uses_the_parameters_of_its_template(english: str) -> None:
    names = set(_PLACEHOLDER.findall(english))
    used = {name.lower() if name[:1].isupper() else name for name in _PLACEHOLDER.findall(NB[english])}
    assert used <= names | {name.lower() for name in names}


def test_pydantic_templates_are_formatted_from_the_error_context_only() -> None:
    for template in PYDANTIC_NB.values():
        assert set(_PLACEHOLDER.findall(template)) <= {
            "min_length",
            "max_length",
            "pattern",
            "gt",
            "ge",
            "lt",
            "le",
            "expected",
        }


def test_the_layers_own_errors_are_translated_even_when_their_code_is_also_pydantics() -> None:
    # criteria.base.name_problem reports "too_long" with its own message in the context
    message = "An activity type can be at most 64 characters; got 70."
    assert translate_pydantic("too_long", {"message": message}, message, "nb") == (
        "En aktivitetstype kan være høyst 64 tegn; fikk 70."
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_header_reads_as_nb_or_en_and_never_raises(header: str) -> None:
    assert negotiate(header) in ("nb", "en")
