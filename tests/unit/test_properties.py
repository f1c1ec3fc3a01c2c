"""Properties of the criteria language and of evaluation, over generated input."""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from peer_badges.criteria.base import MAX_ROLLING_DAYS, MAX_THRESHOLD, ErrorDetail
from peer_badges.criteria.registry import KNOWN_TYPES, Criteria, parse_criteria, validate_criteria
from peer_badges.evaluation import (
    CountFact,
    EarnedLevel,
    FactRequests,
    MentorFacts,
    StreakFact,
    evaluate,
    required_facts,
    week_start,
)
from peer_badges.models import PeerMentorStats
from peer_badges.models.definitions import BadgeDefinition

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORG = UUID("0b6c5f2e-1d7a-4c1e-9f1a-3a2b4c5d6e7f")
MENTOR = UUID("7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6")
TODAY = date(2025, 6, 18)
CODES = ["basic-course", "first-aid", "refresher"]
TYPES = ["assignment", "visit", "call", "group"]
FIELD_NAMES = [
    "type",
    "schema_version",
    "threshold",
    "activity_types",
    "window",
    "kind",
    "days",
    "weeks",
    "min_per_week",
    "training_codes",
    "require",
    "only_valid",
    "tiers",
    "name",
    "thresholds",
    "payable",
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Criteria)

# --- arbitrary JSON, biased towards the shapes the validator looks into ------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=70)
    | st.sampled_from(
        [*KNOWN_TYPES, "all", "any", "all_time", "calendar_year", "rolling_days", 0, 1, -1, "3"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=25,
)

# --- valid criteria documents, and near misses -------------------------------------------

activity_types = st.none() | st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True)
amounts = st.integers(1, 40) | st.just(MAX_THRESHOLD)
increasing = st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True).map(sorted)
windows = (
    st.none()
    | st.sampled_from([{"kind": "all_time"}, {"kind": "calendar_year"}])
    | st.builds(lambda days: {"kind": "rolling_days", "days": days}, st.integers(1, MAX_ROLLING_DAYS))
)


def _document(kind: str, required: dict[str, Any], optional: dict[str, Any] | None = None) -> Any:
    return st.fixed_dictionaries(
        {"type": st.just(kind), "schema_version": st.just(1), **required}, optional=optional or {}
    )


valid_criteria = st.one_of(
    _document("threshold", {"threshold": amounts}, {"activity_types": activity_types, "window": windows}),
    _document(
        "streak",
        {"weeks": st.integers(1, 10)},
        {"min_per_week": st.integers(1, 3), "activity_types": activity_types},
    ),
    _document(
        "training_completion",
        {"training_codes": st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True)},
        {"require": st.sampled_from(["all", "any"]), "only_valid": st.booleans()},
    ),
    _document(
        "tier",
        {
            "tiers": increasing.map(
                lambda ts: [{"name": f"Tier {i}", "threshold": t} for i, t in enumerate(ts)]
            )
        },
        {"activity_types": activity_types},
    ),
    _document(
        "milestone", {"thresholds": increasing, "payable": st.booleans()}, {"activity_types": activity_types}
    ),
    _document("manual", {}),
)
nasty = st.sampled_from([0, -1, 2.5, 3.0, "3", True, False, None, [], {}, "", " x", "x" * 65, [1, 1], 10**6])


@st.composite
def near_misses(draw: st.DrawFn) -> Any:
    """A valid document with one thing changed, somewhere inside it."""
    document = copy.deepcopy(draw(valid_criteria))
    containers: list[Any] = [document]
    containers += [v for v in document.values() if isinstance(v, dict | list)]
    containers += [t for t in document.get("tiers", []) if isinstance(t, dict)]
    target = draw(st.sampled_from(containers))
    replacement = draw(nasty | st.integers(1, 60) | st.sampled_from(TYPES + CODES) | json_values)
    if isinstance(target, dict) and target:
        key = draw(st.sampled_from(sorted(target)))
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        if action == "drop":
            del target[key]
        elif action == "replace":
            target[key] = replacement
        else:
            target[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=5))] = replacement
    elif isinstance(target, list) and target:
        index = draw(st.integers(0, len(target) - 1))
        if draw(st.booleans()):
            target[index] = replacement
        else:
            target.append(replacement)
    return document


def pydantic_accepts(raw: object) -> bool:
    try:
        _ADAPTER.validate_python(raw)
    except ValidationError:
        return False
    return True


@FAST
@given(json_values)
def test_arbitrary_json_never_makes_the_validator_raise(raw: Any) -> None:
    problems = validate_criteria(raw)
    assert all(isinstance(p, ErrorDetail) and p.message for p in problems)
    assert (problems == []) == pydantic_accepts(raw)


@FAST
@given(valid_criteria | near_misses())
def test_the_validator_and_the_models_agree(raw: Any) -> None:
    # Whatever the validator accepts parses, and whatever it refuses, the models refuse too.
    assert (validate_criteria(raw) == []) == pydantic_accepts(raw)


@FAST
@given(valid_criteria)
def test_accepted_criteria_round_trip_through_json(raw: Any) -> None:
    assert validate_criteria(raw) == []
    criteria = parse_criteria(raw)
    written = json.loads(criteria.model_dump_json())
    assert validate_criteria(written) == []
    assert parse_criteria(written) == criteria


# --- evaluation over generated facts -----------------------------------------------------

LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
FIRST_MONDAY = week_start(date(2024, 1, 1))


def definition(raw: dict[str, Any]) -> BadgeDefinition:
    return BadgeDefinition(
        id=uuid4(),
        org_id=ORG,
        key=raw["type"],
        name=raw["type"],
        criteria=parse_criteria(raw),
        revision=1,
        created_at=LONG_AGO,
        updated_at=LONG_AGO,
    )


def answer(
    requests: FactRequests,
    counts: dict[str, int],
    streaks: dict[str, tuple[int, int]],
    completions: list[Any],
) -> MentorFacts:
    """What a correct data layer would return: the Nth activity on day N, run length N in week N."""
    return MentorFacts(
        org_id=ORG,
        peer_mentor_id=MENTOR,
        timezone="Europe/Oslo",
        stats=PeerMentorStats(
            peer_mentor_id=MENTOR,
            org_id=ORG,
            training={"completed": completions},
            updated_at=LONG_AGO,
        ),
        counts={
            r.key: CountFact(
                count=counts[r.key],
                crossing_dates={
                    n: date(2024, 1, 1) + timedelta(days=n) for n in r.crossing_targets if n <= counts[r.key]
                },
            )
            for r in requests.counts
        },
        streaks={
            r.key: StreakFact(
                longest_weeks=streaks[r.key][0],
                current_weeks=min(streaks[r.key]),
                reached_dates={
                    n: FIRST_MONDAY + timedelta(weeks=n) for n in r.week_targets if n <= streaks[r.key][0]
                },
            )
            for r in requests.streaks
        },
    )


completions = st.lists(
    st.fixed_dictionaries(
        {
            "training_code": st.sampled_from(CODES),
            "completed_at": st.datetimes(
                datetime(2023, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)
            ),
            "expires_at": st.none()
            | st.datetimes(datetime(2024, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
        }
    ),
    max_size=4,
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[BadgeDefinition], list[EarnedLevel], FactRequests]:
    definitions = [definition(raw) for raw in draw(st.lists(valid_criteria, min_size=1, max_size=4))]
    levels = [(d.id, level) for d in definitions for level, _ in d.criteria.levels()]
    held = draw(st.lists(st.sampled_from(levels), unique=True, max_size=len(levels)))
    earned = [
        EarnedLevel(badge_definition_id=d, level=level, earned_at=TODAY, revoked=draw(st.booleans()))
        for d, level in held
    ]
    return definitions, earned, required_facts(definitions, earned, TODAY)


@st.composite
def more_or_equal(draw: st.DrawFn, value: int) -> int:
    return value + draw(st.integers(0, 100))


@FAST
@given(scenarios(), st.data())
def test_accepted_criteria_evaluate_without_error(scenario: Any, data: st.DataObject) -> None:
    definitions, earned, requests = scenario
    counts = {r.key: data.draw(st.integers(0, 120)) for r in requests.counts}
    streaks = {
        r.key: (data.draw(st.integers(0, 12)), data.draw(st.integers(0, 12))) for r in requests.streaks
    }
    facts = answer(requests, counts, streaks, data.draw(completions))
    result = evaluate(facts, definitions, earned, TODAY)
    held = {(e.badge_definition_id, e.level) for e in earned}
    assert len(result.progress) == sum(len(d.criteria.levels()) for d in definitions)
    assert all((d.badge_definition_id, d.level) not in held for d in result.due)
    assert all(d.earned_at <= TODAY for d in result.due)


def _kept(
    definitions: list[BadgeDefinition], earned: list[EarnedLevel], facts: MentorFacts
) -> set[tuple[UUID, int]]:
    result = evaluate(facts, definitions, earned, TODAY)
    return {(d.badge_definition_id, d.level) for d in result.due} | {
        (e.badge_definition_id, e.level) for e in earned
    }


@FAST
@given(scenarios(), st.data())
def test_more_qualifying_activity_never_loses_a_level(scenario: Any, data: st.DataObject) -> None:
    # Given the same mentor observed twice, the second time with more activity of every kind
    definitions, earned, requests = scenario
    counts = {r.key: data.draw(st.integers(0, 120)) for r in requests.counts}
    streaks = {r.key: (data.draw(st.integers(0, 12)), 0) for r in requests.streaks}
    training = data.draw(completions)
    more_counts = {key: data.draw(more_or_equal(n)) for key, n in counts.items()}
    more_streaks = {key: (data.draw(more_or_equal(n)), 0) for key, (n, _) in streaks.items()}
    more_training = training + data.draw(completions)
    # When both are evaluated
    before = _kept(definitions, earned, answer(requests, counts, streaks, training))
    after = _kept(definitions, earned, answer(requests, more_counts, more_streaks, more_training))
    # Then every level due or held before is still due or held
    assert before <= after
