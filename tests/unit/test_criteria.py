"""The criteria language: what it accepts, and how it explains what it refuses."""

import json
from datetime import date
from typing import Any

import pytest

from peer_badges.criteria.base import (
    MAX_ACTIVITY_TYPES,
    MAX_LEVELS,
    MAX_PER_WEEK,
    MAX_ROLLING_DAYS,
    MAX_STREAK_WEEKS,
    MAX_THRESHOLD,
    MAX_TRAINING_CODES,
    AllTime,
    CalendarYear,
    CriteriaInvalid,
    ErrorDetail,
    RollingDays,
    format_path,
)
from peer_badges.criteria.manual import ManualCriteria
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.criteria.registry import KNOWN_TYPES, parse_criteria, validate_criteria
from peer_badges.criteria.streak import StreakCriteria
from peer_badges.criteria.threshold import ThresholdCriteria
from peer_badges.criteria.tier import TierCriteria
from peer_badges.criteria.training import TrainingCompletionCriteria

# The SPEC's own examples (section 7).
THRESHOLD = {
    "type": "threshold",
    "schema_version": 1,
    "threshold": 10,
    "activity_types": ["assignment"],
    "window": {"kind": "all_time"},
}
STREAK = {"type": "streak", "schema_version": 1, "weeks": 4, "min_per_week": 1, "activity_types": None}
TRAINING = {
    "type": "training_completion",
    "schema_version": 1,
    "training_codes": ["basic-course"],
    "require": "all",
    "only_valid": True,
}
TIER = {
    "type": "tier",
    "schema_version": 1,
    "activity_types": None,
    "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
}
MILESTONE = {
    "type": "milestone",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "thresholds": [3, 15],
    "payable": True,
}
MANUAL = {"type": "manual", "schema_version": 1}
EXAMPLES = [THRESHOLD, STREAK, TRAINING, TIER, MILESTONE, MANUAL]


def problems_of(raw: object) -> dict[str, str]:
    """path -> code, for documents with one problem per path."""
    return {p.path: p.code for p in validate_criteria(raw)}


def only_problem(raw: object) -> ErrorDetail:
    problems = validate_criteria(raw)
    assert len(problems) == 1, problems
    return problems[0]


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(base)), **changes}


def without(base: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != field}


# --- what is accepted --------------------------------------------------------------------


@pytest.mark.parametrize("document", EXAMPLES, ids=lambda d: d["type"])
def test_the_spec_examples_are_valid_and_round_trip(document: dict[str, Any]) -> None:
    # Given a criteria document from the SPEC
    # When it is validated and parsed
    assert validate_criteria(document) == []
    parsed = parse_criteria(document)
    # Then its JSON form parses back to the same criteria
    assert parse_criteria(json.loads(parsed.model_dump_json())) == parsed
    assert parsed.type == document["type"]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, AllTime()),
        ({"kind": "all_time"}, AllTime()),
        ({"kind": "calendar_year"}, CalendarYear()),
        ({"kind": "rolling_days", "days": 90}, RollingDays(days=90)),
    ],
)
def test_threshold_windows(window: dict[str, Any] | None, expected: object) -> None:
    assert parse_criteria(with_(THRESHOLD, window=window)).window == expected


def test_absent_window_and_activity_types_mean_all_time_and_every_type() -> None:
    criteria = parse_criteria({"type": "threshold", "schema_version": 1, "threshold": 3})
    assert criteria.window == AllTime()
    assert criteria.activity_filter is None
    assert criteria.model_dump(mode="json")["window"] == {"kind": "all_time"}


def test_defaults_of_streak_and_training() -> None:
    streak = parse_criteria({"type": "streak", "schema_version": 1, "weeks": 4})
    training = parse_criteria({"type": "training_completion", "schema_version": 1, "training_codes": ["a"]})
    assert isinstance(streak, StreakCriteria)
    assert streak.min_per_week == 1
    assert isinstance(training, TrainingCompletionCriteria)
    assert (training.require, training.only_valid) == ("all", False)


@pytest.mark.parametrize(
    ("document", "model", "levels", "types"),
    [
        (THRESHOLD, ThresholdCriteria, [(1, 10)], ("assignment",)),
        (STREAK, StreakCriteria, [(1, 4)], None),
        (with_(TRAINING, training_codes=["a", "b"]), TrainingCompletionCriteria, [(1, 2)], None),
        (
            with_(TRAINING, training_codes=["a", "b"], require="any"),
            TrainingCompletionCriteria,
            [(1, 1)],
            None,
        ),
        (TIER, TierCriteria, [(1, 5), (2, 25)], None),
        (MILESTONE, MilestoneCriteria, [(1, 3), (2, 15)], ("assignment",)),
        (MANUAL, ManualCriteria, [(1, 1)], None),
    ],
    ids=["threshold", "streak", "training-all", "training-any", "tier", "milestone", "manual"],
)
def test_levels_and_activity_filter(
    document: dict[str, Any], model: type, levels: list[tuple[int, int]], types: tuple[str, ...] | None
) -> None:
    criteria = parse_criteria(document)
    assert isinstance(criteria, model)
    assert criteria.levels() == levels
    assert criteria.activity_filter == types


@pytest.mark.parametrize("document", [STREAK, TRAINING, TIER, MILESTONE, MANUAL], ids=lambda d: d["type"])
def test_only_threshold_badges_have_a_window(document: dict[str, Any]) -> None:
    problems = validate_criteria({**document, "window": {"kind": "calendar_year"}})
    assert [(p.path, p.code) for p in problems] == [("window", "unknown_field")]


@pytest.mark.parametrize("document", [TIER, MILESTONE], ids=lambda d: d["type"])
def test_tiers_and_milestones_count_over_all_time(document: dict[str, Any]) -> None:
    criteria = parse_criteria(document)
    assert isinstance(criteria, TierCriteria | MilestoneCriteria)
    assert criteria.count_window == AllTime()


def test_windows_resolve_to_their_first_day() -> None:
    today = date(2025, 6, 18)
    assert AllTime().since(today) is None
    assert CalendarYear().since(today) == date(2025, 1, 1)
    assert RollingDays(days=1).since(today) == today
    assert RollingDays(days=90).since(today) == date(2025, 3, 21)


def test_criteria_are_immutable_and_hashable() -> None:
    criteria = parse_criteria(TIER)
    assert hash(criteria) == hash(parse_criteria(TIER))
    with pytest.raises(ValueError):
        criteria.tiers = ()  # type: ignore[misc]


# --- thresholds: each bad value has its own message --------------------------------------

BAD_THRESHOLDS = [
    (0, "not_positive", "greater than 0; got 0"),
    (-1, "not_positive", "greater than 0; got -1"),
    (2.5, "not_integer", "whole number greater than 0; got 2.5"),
    ("3", "not_integer", 'not text; got "3". Remove the quotes'),
    (True, "not_integer", "not true or false; got true"),
    (None, "required", "cannot be empty (null)"),
    (3.0, "not_integer", "Write it as 3"),
    ([3], "wrong_type", "got a list"),
    (MAX_THRESHOLD + 1, "too_large", f"at most {MAX_THRESHOLD}"),
]


@pytest.mark.parametrize(
    ("value", "code", "fragment"), BAD_THRESHOLDS, ids=[repr(v[0]) for v in BAD_THRESHOLDS]
)
def test_bad_threshold_values_are_explained(value: object, code: str, fragment: str) -> None:
    # Given a threshold badge with a bad threshold
    # When it is validated
    problem = only_problem(with_(THRESHOLD, threshold=value))
    # Then the problem points at the field, with its own code and a message an admin can act on
    assert (problem.path, problem.code) == ("threshold", code)
    assert fragment in problem.message
    assert problem.message.startswith("Threshold")


def test_every_bad_threshold_value_gets_a_distinct_message() -> None:
    messages = [only_problem(with_(THRESHOLD, threshold=value)).message for value, _, _ in BAD_THRESHOLDS]
    assert len(set(messages)) == len(messages)


NUMBER_FIELDS = [
    (THRESHOLD, ("window",), {"kind": "rolling_days", "days": 0}, "window.days", "Days"),
    (STREAK, ("weeks",), 0, "weeks", "Weeks"),
    (STREAK, ("min_per_week",), 0, "min_per_week", "Minimum per week"),
    (TIER, ("tiers",), [{"name": "A", "threshold": 0}], "tiers[0].threshold", "The threshold of tier 1"),
    (MILESTONE, ("thresholds",), [0, 15], "thresholds[0]", "Threshold 1"),
]


@pytest.mark.parametrize(
    ("base", "field", "value", "path", "label"), NUMBER_FIELDS, ids=[n[3] for n in NUMBER_FIELDS]
)
def test_every_number_field_follows_the_threshold_rules(
    base: dict[str, Any], field: tuple[str], value: Any, path: str, label: str
) -> None:
    problem = only_problem(with_(base, **{field[0]: value}))
    assert (problem.path, problem.code) == (path, "not_positive")
    assert problem.message == f"{label} must be greater than 0; got 0."


@pytest.mark.parametrize(
    ("document", "path", "maximum"),
    [
        (
            with_(THRESHOLD, window={"kind": "rolling_days", "days": MAX_ROLLING_DAYS + 1}),
            "window.days",
            MAX_ROLLING_DAYS,
        ),
        (with_(STREAK, weeks=MAX_STREAK_WEEKS + 1), "weeks", MAX_STREAK_WEEKS),
        (with_(STREAK, min_per_week=MAX_PER_WEEK + 1), "min_per_week", MAX_PER_WEEK),
        (with_(MILESTONE, thresholds=[3, MAX_THRESHOLD + 1]), "thresholds[1]", MAX_THRESHOLD),
    ],
    ids=["days", "weeks", "min_per_week", "milestone"],
)
def test_numbers_are_bounded(document: dict[str, Any], path: str, maximum: int) -> None:
    problem = only_problem(document)
    assert (problem.path, problem.code) == (path, "too_large")
    assert f"at most {maximum}" in problem.message


def test_the_largest_allowed_values_are_accepted() -> None:
    assert validate_criteria(with_(THRESHOLD, threshold=MAX_THRESHOLD)) == []
    assert validate_criteria(with_(STREAK, weeks=MAX_STREAK_WEEKS, min_per_week=MAX_PER_WEEK)) == []
    assert (
        validate_criteria(with_(THRESHOLD, window={"kind": "rolling_days", "days": MAX_ROLLING_DAYS})) == []
    )


# --- lists: strictly increasing, bounded -------------------------------------------------


@pytest.mark.parametrize(("thresholds", "bad"), [([3, 3], [1]), ([15, 3], [1]), ([3, 15, 10, 12], [2, 3])])
def test_milestone_thresholds_must_strictly_increase(thresholds: list[int], bad: list[int]) -> None:
    problems = validate_criteria(with_(MILESTONE, thresholds=thresholds))
    assert [(p.path, p.code) for p in problems] == [(f"thresholds[{i}]", "not_increasing") for i in bad]
    assert "must increase" in problems[0].message


def test_tier_thresholds_must_strictly_increase() -> None:
    tiers = [{"name": "Bronze", "threshold": 25}, {"name": "Silver", "threshold": 5}]
    problem = only_problem(with_(TIER, tiers=tiers))
    assert (problem.path, problem.code) == ("tiers[1].threshold", "not_increasing")
    assert problem.message == (
        "Thresholds must increase: the threshold of tier 2 is 5, which is not more than the threshold of tier 1 (25)."
    )


def test_increase_is_checked_past_an_invalid_threshold() -> None:
    problems = problems_of(with_(MILESTONE, thresholds=[10, "x", 5]))
    assert problems == {"thresholds[1]": "not_integer", "thresholds[2]": "not_increasing"}


@pytest.mark.parametrize(
    ("document", "path", "code"),
    [
        (
            with_(TIER, tiers=[{"name": f"T{i}", "threshold": i + 1} for i in range(MAX_LEVELS + 1)]),
            "tiers",
            "too_many",
        ),
        (with_(MILESTONE, thresholds=list(range(1, MAX_LEVELS + 2))), "thresholds", "too_many"),
        (
            with_(THRESHOLD, activity_types=[f"t{i}" for i in range(MAX_ACTIVITY_TYPES + 1)]),
            "activity_types",
            "too_many",
        ),
        (
            with_(TRAINING, training_codes=[f"c{i}" for i in range(MAX_TRAINING_CODES + 1)]),
            "training_codes",
            "too_many",
        ),
        (with_(TIER, tiers=[]), "tiers", "too_few"),
        (with_(MILESTONE, thresholds=[]), "thresholds", "too_few"),
        (with_(TRAINING, training_codes=[]), "training_codes", "too_few"),
        (with_(THRESHOLD, activity_types=[]), "activity_types", "too_few"),
        (with_(THRESHOLD, activity_types=["x" * 65]), "activity_types[0]", "too_long"),
        (with_(TRAINING, training_codes=["c" * 65]), "training_codes[0]", "too_long"),
        (with_(TIER, tiers=[{"name": "n" * 65, "threshold": 1}]), "tiers[0].name", "too_long"),
        (with_(THRESHOLD, activity_types=["visit", "visit"]), "activity_types[1]", "duplicate"),
        (with_(TRAINING, training_codes=["a", "a"]), "training_codes[1]", "duplicate"),
        (
            with_(TIER, tiers=[{"name": "A", "threshold": 1}, {"name": "A", "threshold": 2}]),
            "tiers[1].name",
            "duplicate",
        ),
        (with_(THRESHOLD, activity_types=["  "]), "activity_types[0]", "invalid_value"),
        (with_(THRESHOLD, activity_types=["visit "]), "activity_types[0]", "invalid_value"),
        (with_(THRESHOLD, activity_types=[7]), "activity_types[0]", "wrong_type"),
        (with_(THRESHOLD, activity_types="assignment"), "activity_types", "wrong_type"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_list_sizes_and_names_are_bounded(document: dict[str, Any], path: str, code: str) -> None:
    problem = only_problem(document)
    assert (problem.path, problem.code) == (path, code)


def test_sixty_four_character_names_are_accepted() -> None:
    assert validate_criteria(with_(THRESHOLD, activity_types=["x" * 64])) == []


# --- structure: types, fields, required --------------------------------------------------


def test_unknown_type_lists_the_known_ones() -> None:
    problem = only_problem({"type": "badge_of_honour", "schema_version": 1})
    assert (problem.path, problem.code) == ("type", "unknown_type")
    assert problem.message == (
        'Unknown criteria type "badge_of_honour". '
        "Known types: threshold, streak, training_completion, tier, milestone, manual, all_of, any_of, "
        "requires_badge."
    )
    assert all(kind in problem.message for kind in KNOWN_TYPES)


@pytest.mark.parametrize("kind", [None, 3, ["threshold"], {"a": 1}])
def test_a_type_that_is_not_text_is_unknown(kind: object) -> None:
    assert problems_of({"type": kind, "schema_version": 1}) == {"type": "unknown_type"}


def test_missing_type_asks_for_one() -> None:
    problem = only_problem({"schema_version": 1, "threshold": 3})
    assert (problem.path, problem.code) == ("type", "required")
    assert "threshold, streak" in problem.message


def test_unknown_field_lists_the_known_ones() -> None:
    problem = only_problem(with_(STREAK, week=4))
    assert (problem.path, problem.code) == ("week", "unknown_field")
    assert problem.message == (
        'Unknown field "week" for a streak badge. '
        "Known fields: type, schema_version, weeks, min_per_week, activity_types."
    )


def test_fields_of_another_type_are_unknown() -> None:
    assert problems_of(with_(MANUAL, threshold=3)) == {"threshold": "unknown_field"}


def test_unknown_fields_inside_windows_and_tiers() -> None:
    document = with_(THRESHOLD, window={"kind": "calendar_year", "days": 3})
    assert problems_of(document) == {"window.days": "unknown_field"}
    document = with_(TIER, tiers=[{"name": "A", "threshold": 1, "colour": "gold"}])
    assert problems_of(document) == {"tiers[0].colour": "unknown_field"}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (without(THRESHOLD, "threshold"), "threshold"),
        (without(STREAK, "weeks"), "weeks"),
        (without(TRAINING, "training_codes"), "training_codes"),
        (without(TIER, "tiers"), "tiers"),
        (without(MILESTONE, "thresholds"), "thresholds"),
        (without(MILESTONE, "payable"), "payable"),
        (without(MANUAL, "schema_version"), "schema_version"),
        (with_(THRESHOLD, window={"kind": "rolling_days"}), "window.days"),
        (with_(THRESHOLD, window={"days": 3}), "window.kind"),
        (with_(TIER, tiers=[{"threshold": 3}]), "tiers[0].name"),
        (with_(TIER, tiers=[{"name": "A"}]), "tiers[0].threshold"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_required_fields_must_be_present(document: dict[str, Any], path: str) -> None:
    problem = only_problem(document)
    assert (problem.path, problem.code) == (path, "required")


@pytest.mark.parametrize(
    ("document", "path", "code"),
    [
        ([THRESHOLD], "", "wrong_type"),
        ("threshold", "", "wrong_type"),
        (None, "", "wrong_type"),
        (with_(MANUAL, schema_version=2), "schema_version", "unsupported_version"),
        (with_(MANUAL, schema_version=True), "schema_version", "wrong_type"),
        (with_(MANUAL, schema_version=1.0), "schema_version", "wrong_type"),
        (with_(MANUAL, schema_version="1"), "schema_version", "wrong_type"),
        (with_(TRAINING, require="most"), "require", "invalid_value"),
        (with_(TRAINING, require=None), "require", "invalid_value"),
        (with_(TRAINING, only_valid="yes"), "only_valid", "wrong_type"),
        (with_(MILESTONE, payable=1), "payable", "wrong_type"),
        (with_(THRESHOLD, window="all_time"), "window", "wrong_type"),
        (with_(THRESHOLD, window={"kind": "fortnight"}), "window.kind", "invalid_value"),
        (with_(TIER, tiers=["Bronze"]), "tiers[0]", "wrong_type"),
        (with_(TIER, tiers={"Bronze": 5}), "tiers", "wrong_type"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_values_of_the_wrong_kind(document: object, path: str, code: str) -> None:
    problem = only_problem(document)
    assert (problem.path, problem.code) == (path, code)


def test_unknown_window_kind_lists_the_known_ones() -> None:
    problem = only_problem(with_(THRESHOLD, window={"kind": "fortnight"}))
    assert problem.message == (
        'Unknown window kind "fortnight". Known kinds: all_time, calendar_year, rolling_days.'
    )


def test_all_problems_are_returned_at_once() -> None:
    # Given a tier badge with five separate mistakes
    document = {
        "type": "tier",
        "schema_version": 2,
        "activity_types": ["visit", "visit"],
        "tiers": [
            {"name": "Bronze", "threshold": 10},
            {"name": "Silver", "threshold": 2.5},
            {"name": "Gold", "threshold": 5},
        ],
        "colour": "gold",
    }
    # When it is validated
    problems = problems_of(document)
    # Then every one of them is reported
    assert problems == {
        "schema_version": "unsupported_version",
        "colour": "unknown_field",
        "activity_types[1]": "duplicate",
        "tiers[1].threshold": "not_integer",
        "tiers[2].threshold": "not_increasing",
    }


def test_messages_are_for_people_not_pydantic() -> None:
    documents = [
        with_(THRESHOLD, threshold=value, window={"kind": "rolling_days", "days": "9"})
        for value, _, _ in BAD_THRESHOLDS
    ]
    for document in documents:
        for problem in validate_criteria(document):
            assert "Input should" not in problem.message
            assert problem.message.endswith(".")


def test_long_and_huge_values_are_shortened_in_messages() -> None:
    problem = only_problem(with_(THRESHOLD, threshold="x" * 500))
    assert len(problem.message) < 150
    assert "a very large number" in only_problem(with_(THRESHOLD, threshold=10**5000)).message


# --- parse_criteria and paths ------------------------------------------------------------


def test_parse_raises_with_every_problem() -> None:
    with pytest.raises(CriteriaInvalid) as raised:
        parse_criteria(with_(MILESTONE, thresholds=[0], payable="yes"))
    assert {p.path for p in raised.value.problems} == {"thresholds[0]", "payable"}
    assert "thresholds[0]" in str(raised.value)


def test_a_parsed_criteria_snapshot_is_json() -> None:
    snapshot = parse_criteria(TIER).model_dump(mode="json")
    assert json.loads(json.dumps(snapshot)) == TIER


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("threshold",), "threshold"),
        (("tiers", 1, "threshold"), "tiers[1].threshold"),
        (("a", 0, 2), "a[0][2]"),
    ],
)
def test_paths_read_like_json_paths(loc: tuple[str | int, ...], path: str) -> None:
    assert format_path(loc) == path
