"""Evaluation: which levels are due, when they were earned, and the progress a mentor sees."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from peer_badges.criteria.base import AllTime, CalendarYear, RollingDays
from peer_badges.evaluation import (
    CountFact,
    EarnedLevel,
    Evaluation,
    MentorFacts,
    MissingFact,
    StreakFact,
    count_key,
    evaluate,
    milestone_status,
    required_facts,
    streak_alive,
    streak_key,
    week_start,
)
from peer_badges.models import AssignmentCount, EarnedBadge, HonorarMilestone, PeerMentorStats
from peer_badges.models.definitions import BadgeDefinition

ORG = UUID("0b6c5f2e-1d7a-4c1e-9f1a-3a2b4c5d6e7f")
MENTOR = UUID("7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6")
TODAY = date(2025, 6, 18)  # a Wednesday
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
ALL = "types=*|window=all_time"
ASSIGNMENTS = "types=assignment|window=all_time"


def definition(criteria: dict[str, Any], **fields: Any) -> BadgeDefinition:
    values: dict[str, Any] = {
        "id": uuid4(),
        "org_id": ORG,
        "key": criteria["type"],
        "name": criteria["type"].title(),
        "criteria": {"schema_version": 1, **criteria},
        "revision": 1,
        "created_at": LONG_AGO,
        "updated_at": LONG_AGO,
    }
    return BadgeDefinition.model_validate({**values, **fields})


def facts(
    counts: dict[str, CountFact] | None = None,
    streaks: dict[str, StreakFact] | None = None,
    completions: list[dict[str, Any]] | None = None,
    by_type: dict[str, int] | None = None,
) -> MentorFacts:
    by_type = by_type or {}
    stats = PeerMentorStats.model_validate(
        {
            "peer_mentor_id": MENTOR,
            "org_id": ORG,
            "assignment_count": {"total": sum(by_type.values()), "by_type": by_type},
            "training": {"completed": completions or []},
            "updated_at": datetime(2025, 6, 18, 12, tzinfo=UTC),
        }
    )
    return MentorFacts(
        org_id=ORG,
        peer_mentor_id=MENTOR,
        timezone="Europe/Oslo",
        stats=stats,
        counts=counts or {},
        streaks=streaks or {},
    )


def activity_dates(count: int, first: date = date(2025, 1, 6)) -> CountFact:
    """``count`` activities, one a day from ``first``: the Nth was on first + N - 1 days."""
    return CountFact(
        count=count, crossing_dates={n: first + timedelta(days=n - 1) for n in range(1, count + 1)}
    )


def earned(badge_definition: BadgeDefinition, level: int = 1, revoked: bool = False) -> EarnedLevel:
    return EarnedLevel(
        badge_definition_id=badge_definition.id, level=level, earned_at=date(2025, 2, 1), revoked=revoked
    )


def due_levels(result: Evaluation) -> list[tuple[UUID, int, date]]:
    return [(d.badge_definition_id, d.level, d.earned_at) for d in result.due]


# --- threshold ---------------------------------------------------------------------------


def test_threshold_is_due_on_the_date_of_the_nth_activity() -> None:
    # Given a "10 activities" badge and a mentor with 12
    badge = definition({"type": "threshold", "threshold": 10})
    # When evaluated
    result = evaluate(facts({ALL: activity_dates(12)}), [badge], [], TODAY)
    # Then level 1 is due, earned on the 10th activity's date, not today
    assert due_levels(result) == [(badge.id, 1, date(2025, 1, 15))]
    [progress] = result.progress
    assert (progress.current, progress.target, progress.earned, progress.earned_at) == (12, 10, False, None)


def test_threshold_not_reached_is_progress_only() -> None:
    badge = definition({"type": "threshold", "threshold": 10})
    result = evaluate(facts({ALL: activity_dates(9)}), [badge], [], TODAY)
    assert result.due == ()
    assert (result.progress[0].current, result.progress[0].target) == (9, 10)


def test_threshold_counts_only_its_activity_types() -> None:
    badge = definition({"type": "threshold", "threshold": 2, "activity_types": ["assignment"]})
    counts = {ALL: activity_dates(50), ASSIGNMENTS: activity_dates(1)}
    assert evaluate(facts(counts), [badge], [], TODAY).due == ()


def test_due_award_carries_revision_snapshot_and_is_not_payable() -> None:
    badge = definition({"type": "threshold", "threshold": 1}, revision=4)
    [due] = evaluate(facts({ALL: activity_dates(1)}), [badge], [], TODAY).due
    assert due.definition_revision == 4
    assert due.criteria_snapshot == {
        "type": "threshold",
        "schema_version": 1,
        "threshold": 1,
        "activity_types": None,
        "window": {"kind": "all_time"},
    }
    assert due.payable is False


# --- windows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "key", "since"),
    [
        ({"kind": "all_time"}, "types=*|window=all_time", None),
        ({"kind": "calendar_year"}, "types=*|window=calendar_year", date(2025, 1, 1)),
        ({"kind": "rolling_days", "days": 90}, "types=*|window=rolling_days:90", date(2025, 3, 21)),
    ],
)
def test_windows_become_a_first_day_for_the_data_layer(
    window: dict[str, Any], key: str, since: date | None
) -> None:
    badge = definition({"type": "threshold", "threshold": 5, "window": window})
    [request] = required_facts([badge], [], TODAY).counts
    assert (request.key, request.since, request.crossing_targets) == (key, since, (5,))


@pytest.mark.parametrize(
    "window", [{"kind": "calendar_year"}, {"kind": "rolling_days", "days": 30}], ids=lambda w: w["kind"]
)
def test_windowed_threshold_is_judged_on_the_windows_count(window: dict[str, Any]) -> None:
    # Given a windowed badge and the data layer's answer for the requested key
    badge = definition({"type": "threshold", "threshold": 3, "window": window})
    [request] = required_facts([badge], [], TODAY).counts
    assert request.since is not None
    window_facts = {ALL: activity_dates(40), request.key: activity_dates(3, first=request.since)}
    # When evaluated
    result = evaluate(facts(window_facts), [badge], [], TODAY)
    # Then the crossing is the third activity inside the window
    assert due_levels(result) == [(badge.id, 1, request.since + timedelta(days=2))]


def test_windowed_threshold_below_target_inside_the_window_is_not_due() -> None:
    badge = definition({"type": "threshold", "threshold": 3, "window": {"kind": "calendar_year"}})
    counts = {ALL: activity_dates(40), "types=*|window=calendar_year": activity_dates(2)}
    assert evaluate(facts(counts), [badge], [], TODAY).due == ()


# --- tier and milestone: several levels --------------------------------------------------


def test_tier_awards_every_crossed_level_at_once_with_its_own_date() -> None:
    # Given bronze 5 / silver 25 / gold 100 and a mentor at 30
    tiers = [
        {"name": "Bronze", "threshold": 5},
        {"name": "Silver", "threshold": 25},
        {"name": "Gold", "threshold": 100},
    ]
    badge = definition({"type": "tier", "tiers": tiers})
    # When evaluated
    result = evaluate(facts({ALL: activity_dates(30)}), [badge], [], TODAY)
    # Then bronze and silver are due, each on its own crossing date
    assert due_levels(result) == [(badge.id, 1, date(2025, 1, 10)), (badge.id, 2, date(2025, 1, 30))]
    assert [(p.level, p.level_name, p.current, p.target) for p in result.progress] == [
        (1, "Bronze", 30, 5),
        (2, "Silver", 30, 25),
        (3, "Gold", 30, 100),
    ]


def test_payable_milestone_levels_are_flagged_payable() -> None:
    badge = definition(
        {"type": "milestone", "activity_types": ["assignment"], "thresholds": [3, 15], "payable": True}
    )
    result = evaluate(facts({ASSIGNMENTS: activity_dates(15)}), [badge], [], TODAY)
    assert [(d.level, d.earned_at, d.payable) for d in result.due] == [
        (1, date(2025, 1, 8), True),
        (2, date(2025, 1, 20), True),
    ]


def test_unpaid_milestone_is_not_payable() -> None:
    badge = definition({"type": "milestone", "thresholds": [1], "payable": False})
    [due] = evaluate(facts({ALL: activity_dates(1)}), [badge], [], TODAY).due
    assert due.payable is False


# --- never twice -------------------------------------------------------------------------


def test_already_earned_levels_are_not_awarded_again() -> None:
    badge = definition(
        {"type": "tier", "tiers": [{"name": "A", "threshold": 1}, {"name": "B", "threshold": 2}]}
    )
    result = evaluate(facts({ALL: activity_dates(5)}), [badge], [earned(badge, 1)], TODAY)
    assert [d.level for d in result.due] == [2]
    assert [(p.level, p.earned, p.earned_at) for p in result.progress] == [
        (1, True, date(2025, 2, 1)),
        (2, False, None),
    ]


def test_revoked_levels_are_never_awarded_again_and_show_as_not_held() -> None:
    badge = definition({"type": "threshold", "threshold": 1})
    result = evaluate(facts({ALL: activity_dates(5)}), [badge], [earned(badge, revoked=True)], TODAY)
    assert result.due == ()
    assert (result.progress[0].earned, result.progress[0].earned_at) == (False, None)


def test_earned_levels_come_from_earned_badges() -> None:
    badge = definition({"type": "threshold", "threshold": 1})
    row = EarnedBadge(
        id=uuid4(),
        org_id=ORG,
        peer_mentor_id=MENTOR,
        badge_definition_id=badge.id,
        earned_at=date(2025, 1, 6),
        awarded_at=datetime(2025, 1, 6, 12, tzinfo=UTC),
        source="evaluation",
        definition_revision=1,
        criteria_snapshot={},
        revoked_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    assert EarnedLevel.of(row) == EarnedLevel(
        badge_definition_id=badge.id, level=1, earned_at=date(2025, 1, 6), revoked=True
    )


def test_earned_badges_stay_earned_when_activity_drops() -> None:
    # No auto-revoke: fewer activities than the target still shows the badge as earned.
    badge = definition({"type": "threshold", "threshold": 10})
    result = evaluate(facts({ALL: activity_dates(2)}), [badge], [earned(badge)], TODAY)
    assert result.due == ()
    assert (result.progress[0].current, result.progress[0].earned) == (2, True)


# --- streak ------------------------------------------------------------------------------

STREAK_KEY = "types=*|min_per_week=1"


def test_streak_is_due_in_the_week_it_reached_its_length() -> None:
    badge = definition({"type": "streak", "weeks": 4})
    streak = StreakFact(longest_weeks=6, current_weeks=1, reached_dates={4: date(2025, 3, 24)})
    result = evaluate(facts(streaks={STREAK_KEY: streak}), [badge], [], TODAY)
    assert due_levels(result) == [(badge.id, 1, date(2025, 3, 24))]
    assert (result.progress[0].current, result.progress[0].target) == (1, 4)


def test_a_streak_shorter_than_required_is_not_due() -> None:
    badge = definition({"type": "streak", "weeks": 4})
    streak = StreakFact(longest_weeks=3, current_weeks=3)
    assert evaluate(facts(streaks={STREAK_KEY: streak}), [badge], [], TODAY).due == ()


def test_streak_facts_are_keyed_by_types_and_weekly_minimum() -> None:
    badge = definition({"type": "streak", "weeks": 2, "min_per_week": 3, "activity_types": ["visit", "call"]})
    [request] = required_facts([badge], [], TODAY).streaks
    assert (request.key, request.activity_types, request.min_per_week, request.week_targets) == (
        "types=call,visit|min_per_week=3",
        ("call", "visit"),
        3,
        (2,),
    )


# --- training ----------------------------------------------------------------------------


def completion(code: str, completed: str, expires: str | None = None) -> dict[str, Any]:
    return {"training_code": code, "completed_at": completed, "expires_at": expires}


def training_badge(require: str = "all", only_valid: bool = False) -> BadgeDefinition:
    return definition(
        {
            "type": "training_completion",
            "training_codes": ["a", "b"],
            "require": require,
            "only_valid": only_valid,
        }
    )


def test_training_all_is_earned_when_the_last_code_was_completed() -> None:
    badge = training_badge("all")
    done = [completion("a", "2025-01-10T10:00:00Z"), completion("b", "2025-03-01T10:00:00Z")]
    result = evaluate(facts(completions=done), [badge], [], TODAY)
    assert due_levels(result) == [(badge.id, 1, date(2025, 3, 1))]


def test_training_all_with_a_code_missing_is_progress_only() -> None:
    result = evaluate(
        facts(completions=[completion("a", "2025-01-10T10:00:00Z")]), [training_badge()], [], TODAY
    )
    assert result.due == ()
    assert (result.progress[0].current, result.progress[0].target) == (1, 2)


def test_training_any_is_earned_when_the_first_code_was_completed() -> None:
    badge = training_badge("any")
    done = [completion("b", "2025-03-01T10:00:00Z"), completion("a", "2025-01-10T10:00:00Z")]
    result = evaluate(facts(completions=done), [badge], [], TODAY)
    assert due_levels(result) == [(badge.id, 1, date(2025, 1, 10))]
    assert (result.progress[0].current, result.progress[0].target) == (1, 1)


def test_training_dates_are_taken_in_the_orgs_time_zone() -> None:
    # 23:30 UTC on 1 March is already 2 March in Oslo.
    badge = definition({"type": "training_completion", "training_codes": ["a"]})
    result = evaluate(facts(completions=[completion("a", "2025-03-01T23:30:00Z")]), [badge], [], TODAY)
    assert result.due[0].earned_at == date(2025, 3, 2)


def test_training_repeated_counts_from_the_first_completion() -> None:
    badge = definition({"type": "training_completion", "training_codes": ["a"]})
    done = [completion("a", "2025-05-01T10:00:00Z"), completion("a", "2024-05-01T10:00:00Z")]
    assert evaluate(facts(completions=done), [badge], [], TODAY).due[0].earned_at == date(2024, 5, 1)


@pytest.mark.parametrize(
    ("only_valid", "expires", "due"),
    [
        (True, None, True),
        (True, "2025-06-19T00:00:00+02:00", True),
        (True, "2025-06-18T12:00:00+02:00", False),  # expires today: no longer valid
        (True, "2025-01-01T00:00:00Z", False),
        (False, "2025-01-01T00:00:00Z", True),
    ],
)
def test_training_only_valid_ignores_expired_completions(
    only_valid: bool, expires: str | None, due: bool
) -> None:
    badge = definition({"type": "training_completion", "training_codes": ["a"], "only_valid": only_valid})
    result = evaluate(
        facts(completions=[completion("a", "2024-06-01T10:00:00Z", expires)]), [badge], [], TODAY
    )
    assert bool(result.due) is due


def test_training_completed_after_today_does_not_count_yet() -> None:
    badge = definition({"type": "training_completion", "training_codes": ["a"]})
    assert (
        evaluate(facts(completions=[completion("a", "2025-07-01T10:00:00Z")]), [badge], [], TODAY).due == ()
    )


# --- manual and live definitions ---------------------------------------------------------


def test_manual_badges_are_never_due() -> None:
    badge = definition({"type": "manual"})
    result = evaluate(facts({ALL: activity_dates(500)}), [badge], [], TODAY)
    assert result.due == ()
    assert (result.progress[0].current, result.progress[0].target, result.progress[0].earned) == (0, 1, False)


def test_manual_badge_awarded_by_a_coordinator_shows_as_earned() -> None:
    badge = definition({"type": "manual"})
    [progress] = evaluate(facts(), [badge], [earned(badge)], TODAY).progress
    assert (progress.current, progress.earned, progress.earned_at) == (1, True, date(2025, 2, 1))


@pytest.mark.parametrize("fields", [{"active": False}, {"archived_at": datetime(2025, 3, 1, tzinfo=UTC)}])
def test_inactive_and_archived_definitions_are_ignored(fields: dict[str, Any]) -> None:
    badge = definition({"type": "threshold", "threshold": 1}, **fields)
    assert required_facts([badge], [], TODAY).counts == ()
    result = evaluate(facts(), [badge], [], TODAY)
    assert (result.progress, result.due) == ((), ())


def test_definitions_of_another_org_are_refused() -> None:
    badge = definition({"type": "threshold", "threshold": 1}, org_id=uuid4())
    with pytest.raises(ValueError, match="another organisation"):
        evaluate(facts({ALL: activity_dates(1)}), [badge], [], TODAY)


# --- required facts ----------------------------------------------------------------------


def test_required_facts_ask_only_for_levels_not_yet_earned() -> None:
    tiers = [{"name": "A", "threshold": 1}, {"name": "B", "threshold": 5}, {"name": "C", "threshold": 9}]
    badge = definition({"type": "tier", "tiers": tiers})
    [request] = required_facts([badge], [earned(badge, 1), earned(badge, 3, revoked=True)], TODAY).counts
    assert request.crossing_targets == (5,)


def test_definitions_sharing_a_count_share_one_request() -> None:
    first = definition({"type": "threshold", "threshold": 10, "activity_types": ["visit", "assignment"]})
    second = definition(
        {
            "type": "milestone",
            "thresholds": [3, 15],
            "payable": True,
            "activity_types": ["assignment", "visit"],
        }
    )
    requests = required_facts([first, second], [], TODAY)
    assert [(r.key, r.activity_types, r.crossing_targets) for r in requests.counts] == [
        ("types=assignment,visit|window=all_time", ("assignment", "visit"), (3, 10, 15))
    ]
    assert (requests.today, requests.streaks) == (TODAY, ())


def test_training_and_manual_need_no_facts() -> None:
    requests = required_facts([training_badge(), definition({"type": "manual"})], [], TODAY)
    assert (requests.counts, requests.streaks) == ((), ())


# --- missing facts -----------------------------------------------------------------------


def test_a_missing_count_is_a_missing_fact() -> None:
    with pytest.raises(MissingFact, match="types=\\*\\|window=all_time"):
        evaluate(facts(), [definition({"type": "threshold", "threshold": 1})], [], TODAY)


def test_a_missing_crossing_date_for_a_due_level_is_a_missing_fact() -> None:
    badge = definition({"type": "threshold", "threshold": 3})
    with pytest.raises(MissingFact, match="crossing date for activity 3"):
        evaluate(facts({ALL: CountFact(count=4, crossing_dates={1: date(2025, 1, 1)})}), [badge], [], TODAY)


def test_a_missing_streak_is_a_missing_fact() -> None:
    with pytest.raises(MissingFact):
        evaluate(facts(), [definition({"type": "streak", "weeks": 2})], [], TODAY)


def test_a_missing_reached_week_is_a_missing_fact() -> None:
    streak = StreakFact(longest_weeks=3, current_weeks=0)
    with pytest.raises(MissingFact):
        evaluate(facts(streaks={STREAK_KEY: streak}), [definition({"type": "streak", "weeks": 2})], [], TODAY)


def test_crossing_dates_are_not_needed_for_levels_already_earned() -> None:
    badge = definition({"type": "threshold", "threshold": 3})
    result = evaluate(facts({ALL: CountFact(count=4)}), [badge], [earned(badge)], TODAY)
    assert result.due == ()


@pytest.mark.parametrize(
    "fact",
    [
        lambda: CountFact(count=1, crossing_dates={2: date(2025, 1, 1)}),
        lambda: CountFact(count=2, crossing_dates={1: date(2025, 2, 1), 2: date(2025, 1, 1)}),
        lambda: StreakFact(longest_weeks=1, current_weeks=2),
        lambda: StreakFact(longest_weeks=2, current_weeks=0, reached_dates={2: date(2025, 1, 7)}),
        lambda: StreakFact(longest_weeks=2, current_weeks=0, reached_dates={3: date(2025, 1, 6)}),
    ],
    ids=["beyond-count", "out-of-order", "current-above-longest", "not-a-monday", "beyond-longest"],
)
def test_inconsistent_facts_are_refused(fact: Any) -> None:
    with pytest.raises(ValidationError):
        fact()


def test_facts_need_a_real_time_zone_and_the_same_mentor() -> None:
    good = facts()
    with pytest.raises(ValidationError):
        MentorFacts.model_validate({**good.model_dump(), "timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError):
        MentorFacts.model_validate({**good.model_dump(), "peer_mentor_id": uuid4()})


# --- honorarium and milestone status -----------------------------------------------------


def test_honorar_status_compares_each_payable_milestone_with_its_own_count() -> None:
    paid = definition(
        {"type": "milestone", "activity_types": ["assignment"], "thresholds": [3, 15], "payable": True}
    )
    unpaid = definition({"type": "milestone", "thresholds": [1, 2], "payable": False})
    status = HonorarMilestone.of(
        AssignmentCount(total=20, by_type={"assignment": 11, "visit": 9}), [paid, unpaid]
    )
    assert (status.thresholds, status.thresholds_met, status.next_threshold, status.remaining_to_next) == (
        (3, 15),
        (3,),
        15,
        4,
    )


def test_honorar_status_when_every_threshold_is_met_or_none_exist() -> None:
    paid = definition({"type": "milestone", "thresholds": [3], "payable": True})
    status = HonorarMilestone.of(AssignmentCount(total=3, by_type={"visit": 3}), [paid])
    assert (status.thresholds_met, status.next_threshold, status.remaining_to_next) == ((3,), None, None)
    assert HonorarMilestone.of(AssignmentCount(), []).thresholds == ()


def test_milestone_status_needs_counts_but_no_crossing_dates() -> None:
    # Given a payable milestone and a tier, with counts but no crossing dates
    paid = definition(
        {"type": "milestone", "activity_types": ["assignment"], "thresholds": [3, 15], "payable": True}
    )
    tier = definition({"type": "tier", "tiers": [{"name": "A", "threshold": 2}]})
    mentor = facts(
        {ASSIGNMENTS: CountFact(count=4), ALL: CountFact(count=6)}, by_type={"assignment": 4, "visit": 2}
    )
    # When the milestone status is built
    status = milestone_status(mentor, [paid, tier], [earned(paid, 1)], TODAY)
    # Then thresholds come from the payable milestone and every live level has progress
    assert (status.crossed_thresholds, status.next_threshold, status.remaining_to_next) == ((3,), 15, 11)
    assert [(b.key, b.level, b.current, b.target, b.earned) for b in status.badges] == [
        ("milestone", 1, 4, 3, True),
        ("milestone", 2, 4, 15, False),
        ("tier", 1, 6, 2, False),
    ]
    assert (status.peer_mentor_id, status.org_id) == (MENTOR, ORG)


# --- keys and weeks ----------------------------------------------------------------------


def test_keys_are_stable_whatever_the_order_of_types() -> None:
    assert count_key(["visit", "assignment", "visit"], RollingDays(days=90).key) == (
        "types=assignment,visit|window=rolling_days:90"
    )
    assert count_key(None, AllTime().key) == "types=*|window=all_time"
    assert count_key(["a"], CalendarYear().key) == "types=a|window=calendar_year"
    assert streak_key(("b", "a"), 2) == "types=a,b|min_per_week=2"


def test_keys_of_different_type_lists_never_collide() -> None:
    assert count_key(["a,b"], AllTime().key) != count_key(["a", "b"], AllTime().key)
    assert count_key(["a|window=x"], AllTime().key) != count_key(["a"], AllTime().key)


def test_weeks_start_on_monday_and_streaks_live_for_a_week() -> None:
    assert week_start(date(2025, 6, 22)) == date(2025, 6, 16)  # Sunday -> Monday
    assert week_start(date(2025, 6, 16)) == date(2025, 6, 16)
    assert streak_alive(date(2025, 6, 16), TODAY)
    assert streak_alive(date(2025, 6, 9), TODAY)
    assert not streak_alive(date(2025, 6, 2), TODAY)
    assert not streak_alive(None, TODAY)
