"""The trigger-kept stats snapshot equals a recomputation from raw activities, whatever is written.

The property tests apply random sequences of activity writes (single and bulk inserts, edits of
every counted column, status flips, soft delete and undelete, hard delete, bulk updates and deletes)
with dates around two ISO-week-53 year ends, and compare after every statement: the snapshot with
`reference_mentor_stats` (window functions over raw rows), the week and year buckets with plain
aggregates, and `load_facts` with a Python oracle over the same rows.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localdev.pg import admin_connection
from peer_badges.db import Database
from peer_badges.evaluation import (
    CountRequest,
    FactRequests,
    StreakRequest,
    count_key,
    streak_alive,
    streak_key,
    week_start,
)
from peer_badges.migrations import migrate
from peer_badges.stats import _FACTS_ONE, _STATS_ONE, load_facts, load_stats
from tests.helpers import Org, add_activity, seed_org
from tests.integration.stats_checks import (
    SNAPSHOT_COLUMNS,
    assert_buckets_match_raw,
    assert_snapshot_matches_reference,
)

# Dates around the two recent years with an ISO week 53 (2020-12-28..2021-01-03, 2026-12-28..2027-01-03).
DAYS = [date(2020, 12, 14) + timedelta(days=n) for n in range(35)] + [
    date(2026, 12, 14) + timedelta(days=n) for n in range(35)
]
TYPES = ["assignment", "visit", "call"]
STATUSES = ["approved", "approved", "approved", "pending", "rejected"]
MENTORS = [uuid.UUID(int=n) for n in (0x1A, 0x2B)]
PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class World:
    db: Database
    orgs: list[uuid.UUID]


@pytest.fixture
def world(db: Database) -> World:
    orgs = []
    for slug in ("nhf", "blindeforbundet"):
        row = db.query_one("INSERT INTO organizations (slug, name) VALUES (:s, :s) RETURNING id", s=slug)
        assert row is not None
        orgs.append(row["id"])
    return World(db, orgs)


def reset(world: World) -> None:
    # TRUNCATE activities clears the derived tables through its own trigger.
    world.db.query("TRUNCATE activities, evaluation_outbox RESTART IDENTITY")
    assert world.db.query("SELECT 1 FROM mentor_stats UNION ALL SELECT 1 FROM mentor_week_activity") == []


# --- writes ----------------------------------------------------------------------------------

row_strategy = st.fixed_dictionaries(
    {
        "org": st.sampled_from([0, 0, 0, 1]),  # mostly one org, so a mentor's rows meet
        "mentor": st.integers(0, len(MENTORS) - 1),
        "day": st.sampled_from(DAYS),
        "type": st.sampled_from(TYPES),
        "minutes": st.one_of(st.none(), st.integers(0, 180)),
        "status": st.sampled_from(STATUSES),
        "deleted": st.sampled_from([False, False, False, True]),
    }
)
pick = st.integers(0, 10_000)
op_strategy = st.one_of(
    st.tuples(st.just("insert"), row_strategy),
    st.tuples(st.just("bulk_insert"), st.lists(row_strategy, min_size=2, max_size=8)),
    st.tuples(st.just("set_date"), pick, st.sampled_from(DAYS)),
    st.tuples(st.just("set_type"), pick, st.sampled_from(TYPES)),
    st.tuples(st.just("set_status"), pick, st.sampled_from(STATUSES)),
    st.tuples(st.just("set_minutes"), pick, st.one_of(st.none(), st.integers(0, 180))),
    st.tuples(st.just("set_mentor"), pick, st.integers(0, len(MENTORS) - 1)),
    st.tuples(st.just("set_org"), pick, st.integers(0, 1)),
    st.tuples(st.just("soft_delete"), pick),
    st.tuples(st.just("undelete"), pick),
    st.tuples(st.just("hard_delete"), pick),
    st.tuples(st.just("shift_mentor"), st.integers(0, len(MENTORS) - 1), st.sampled_from([-7, -1, 1, 7, 14])),
    st.tuples(
        st.just("delete_range"), st.integers(0, len(MENTORS) - 1), st.sampled_from(DAYS), st.integers(0, 10)
    ),
    st.tuples(st.just("no_op_update"), st.integers(0, len(MENTORS) - 1)),
    # Aimed at the edges the triggers treat specially: the latest week growing (incremental streak) and
    # the first or last activity date going away (dates looked up again).
    st.tuples(st.just("extend"), st.integers(0, len(MENTORS) - 1), st.sampled_from([0, 1, 6, 7, 8, 14])),
    st.tuples(
        st.just("remove_edge"),
        st.integers(0, len(MENTORS) - 1),
        st.sampled_from(["first", "last"]),
        st.sampled_from(
            ["DELETE", "deleted_at = now()", "status = 'pending'", "activity_date = activity_date + 3"]
        ),
    ),
)


def insert_rows(world: World, rows: list[dict[str, Any]]) -> None:
    """One INSERT statement for all rows (a bulk write fires the statement trigger once)."""
    world.db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes,
                                   status, deleted_at)
           SELECT * FROM unnest(CAST(:orgs AS uuid[]), CAST(:mentors AS uuid[]), CAST(:kinds AS text[]),
                                CAST(:days AS date[]), CAST(:minutes AS int[]), CAST(:statuses AS text[]),
                                CAST(:deleted AS timestamptz[]))""",
        orgs=[str(world.orgs[r["org"]]) for r in rows],
        mentors=[str(MENTORS[r["mentor"]]) for r in rows],
        kinds=[r["type"] for r in rows],
        days=[r["day"].isoformat() for r in rows],
        minutes=[None if r["minutes"] is None else str(r["minutes"]) for r in rows],
        statuses=[r["status"] for r in rows],
        deleted=["2027-02-01T00:00:00Z" if r["deleted"] else None for r in rows],
    )


def nth_id(world: World, n: int) -> uuid.UUID | None:
    rows = world.db.query("SELECT id FROM activities ORDER BY id")
    return rows[n % len(rows)]["id"] if rows else None


def apply(world: World, op: tuple[Any, ...]) -> None:
    kind, *args = op
    db = world.db
    if kind == "insert":
        insert_rows(world, [args[0]])
    elif kind == "bulk_insert":
        insert_rows(world, args[0])
    elif kind == "shift_mentor":
        db.query(
            "UPDATE activities SET activity_date = activity_date + CAST(:d AS int) WHERE peer_mentor_id = :m",
            d=args[1],
            m=MENTORS[args[0]],
        )
    elif kind == "delete_range":
        db.query(
            "DELETE FROM activities WHERE peer_mentor_id = :m AND activity_date BETWEEN CAST(:a AS date) AND CAST(:a AS date) + CAST(:n AS int)",
            m=MENTORS[args[0]],
            a=args[1],
            n=args[2],
        )
    elif kind == "extend":
        db.query(
            """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)
               SELECT org_id, peer_mentor_id, 'visit', activity_date + CAST(:k AS int) FROM activities
               WHERE peer_mentor_id = :m AND status = 'approved' AND deleted_at IS NULL
               ORDER BY activity_date DESC, id LIMIT 1""",
            m=MENTORS[args[0]],
            k=args[1],
        )
    elif kind == "remove_edge":
        mentor, edge, change = args
        target = db.query_one(
            f"""SELECT id FROM activities WHERE peer_mentor_id = :m AND status = 'approved' AND deleted_at IS NULL
                ORDER BY activity_date {"ASC" if edge == "first" else "DESC"}, id LIMIT 1""",
            m=MENTORS[mentor],
        )
        if target is not None:
            statement = "DELETE FROM activities" if change == "DELETE" else f"UPDATE activities SET {change}"
            db.query(statement + " WHERE id = :id", id=target["id"])
    elif kind == "no_op_update":
        db.query("UPDATE activities SET status = status WHERE peer_mentor_id = :m", m=MENTORS[args[0]])
    else:
        target = nth_id(world, args[0])
        if target is None:
            return
        statements = {
            "set_date": ("activity_date = :v", lambda v: v),
            "set_type": ("activity_type = :v", lambda v: v),
            "set_status": ("status = :v", lambda v: v),
            "set_minutes": ("duration_minutes = CAST(:v AS int)", lambda v: v),
            "set_mentor": ("peer_mentor_id = :v", lambda v: MENTORS[v]),
            "set_org": ("org_id = :v", lambda v: world.orgs[v]),
            "soft_delete": ("deleted_at = now()", None),
            "undelete": ("deleted_at = NULL", None),
            "hard_delete": (None, None),
        }
        assignment, value = statements[kind]
        if assignment is None:
            db.query("DELETE FROM activities WHERE id = :id", id=target)
        elif value is None:
            db.query(f"UPDATE activities SET {assignment} WHERE id = :id", id=target)
        else:
            db.query(f"UPDATE activities SET {assignment} WHERE id = :id", id=target, v=value(args[1]))


# --- checks ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(start=st.lists(row_strategy, max_size=12), ops=st.lists(op_strategy, min_size=1, max_size=12))
def test_snapshot_equals_reference_after_every_write(
    world: World, start: list[dict[str, Any]], ops: list[tuple[Any, ...]]
) -> None:
    reset(world)
    if start:
        insert_rows(world, start)
        assert_snapshot_matches_reference(world.db, world.orgs)
    for op in ops:
        apply(world, op)
        assert_snapshot_matches_reference(world.db, world.orgs)
        assert_buckets_match_raw(world.db)


# --- facts against a Python oracle -----------------------------------------------------------


def counted_rows(world: World, org_id: uuid.UUID, mentor_id: uuid.UUID) -> list[dict[str, Any]]:
    return world.db.query(
        """SELECT activity_type, activity_date FROM activities
           WHERE org_id = :o AND peer_mentor_id = :m AND status = 'approved' AND deleted_at IS NULL""",
        o=org_id,
        m=mentor_id,
    )


def oracle_runs(
    rows: list[dict[str, Any]], types: tuple[str, ...] | None, per_week: int, today: date
) -> list[list[date]]:
    weeks: dict[date, int] = {}
    for r in rows:
        if types is None or r["activity_type"] in types:
            weeks[week_start(r["activity_date"])] = weeks.get(week_start(r["activity_date"]), 0) + 1
    active = sorted(w for w, n in weeks.items() if n >= per_week and w <= week_start(today))
    runs: list[list[date]] = []
    for week in active:
        if runs and runs[-1][-1] + timedelta(weeks=1) == week:
            runs[-1].append(week)
        else:
            runs.append([week])
    return runs


window_strategy = st.sampled_from(
    [
        {"kind": "all_time"},
        {"kind": "calendar_year"},
        {"kind": "rolling_days", "days": 1},
        {"kind": "rolling_days", "days": 10},
        {"kind": "rolling_days", "days": 40},
    ]
)
types_strategy = st.one_of(
    st.none(), st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True).map(tuple)
)


# Rows mostly of the mentor whose facts are read, so that windows, year ends and streaks have material.
focused_row_strategy = st.fixed_dictionaries(
    {
        "org": st.sampled_from([0, 0, 0, 0, 1]),
        "mentor": st.sampled_from([0, 0, 0, 0, 1]),
        "day": st.sampled_from(DAYS),
        "type": st.sampled_from(TYPES),
        "minutes": st.just(30),
        "status": st.sampled_from(["approved", "approved", "approved", "approved", "pending"]),
        "deleted": st.sampled_from([False, False, False, False, True]),
    }
)


@PROPERTY_SETTINGS
@given(
    rows=st.lists(focused_row_strategy, min_size=0, max_size=30),
    today=st.sampled_from(DAYS),
    count_specs=st.lists(
        st.tuples(types_strategy, window_strategy, st.lists(st.integers(1, 12), max_size=3, unique=True)),
        max_size=4,
    ),
    streak_specs=st.lists(
        st.tuples(
            st.one_of(st.none(), types_strategy),  # the plain streak (every type, 1 a week) half the time
            st.sampled_from([1, 1, 2, 3]),
            st.lists(st.integers(1, 5), max_size=3, unique=True),
        ),
        max_size=3,
    ),
)
def test_facts_equal_a_python_oracle(
    world: World, rows: list[dict[str, Any]], today: date, count_specs: list[Any], streak_specs: list[Any]
) -> None:
    from peer_badges.criteria.base import AllTime, CalendarYear, RollingDays

    reset(world)
    if rows:
        insert_rows(world, rows)
    org_id, mentor_id = world.orgs[0], MENTORS[0]
    windows = {"all_time": AllTime, "calendar_year": CalendarYear, "rolling_days": RollingDays}
    counts = {}
    for types, window_spec, targets in count_specs:
        window = windows[window_spec["kind"]].model_validate(window_spec)
        key = count_key(types, window)
        normalised = tuple(sorted(types)) if types else None
        counts[key] = CountRequest(
            key=key,
            activity_types=normalised,
            since=window.since(today),
            crossing_targets=tuple(sorted(targets)),
        )
    streaks = {}
    for types, per_week, targets in streak_specs:
        key = streak_key(types, per_week)
        streaks[key] = StreakRequest(
            key=key,
            activity_types=tuple(sorted(types)) if types else None,
            min_per_week=per_week,
            week_targets=tuple(sorted(targets)),
        )
    requests = FactRequests(today=today, counts=tuple(counts.values()), streaks=tuple(streaks.values()))

    facts = load_facts(world.db, org_id, mentor_id, requests)

    raw = counted_rows(world, org_id, mentor_id)
    for request in requests.counts:
        dates = sorted(
            r["activity_date"]
            for r in raw
            if (request.activity_types is None or r["activity_type"] in request.activity_types)
            and (request.since is None or r["activity_date"] >= request.since)
            and r["activity_date"] <= today
        )
        fact = facts.counts[request.key]
        assert fact.count == len(dates), request
        assert fact.crossing_dates == {n: dates[n - 1] for n in request.crossing_targets if n <= len(dates)}
    for request in requests.streaks:
        runs = oracle_runs(raw, request.activity_types, request.min_per_week, today)
        fact = facts.streaks[request.key]
        assert fact.longest_weeks == max((len(run) for run in runs), default=0), request
        assert fact.current_weeks == (len(runs[-1]) if runs and streak_alive(runs[-1][-1], today) else 0)
        expected = {}
        for n in request.week_targets:
            first = next((run for run in runs if len(run) >= n), None)
            if first is not None:
                expected[n] = first[n - 1]
        assert fact.reached_dates == expected, request
    stats = facts.stats
    upto_today = [r for r in raw if r["activity_date"] <= today]
    assert stats.assignment_count.total == len(upto_today)
    assert stats.last_activity_date == max((r["activity_date"] for r in upto_today), default=None)
    all_runs = oracle_runs(raw, None, 1, today)
    assert stats.streak.longest_streak_weeks == max((len(run) for run in all_runs), default=0)
    assert stats.streak.last_active_week == (all_runs[-1][-1] if all_runs else None)


# --- streaks across year ends ----------------------------------------------------------------


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def snapshot(db: Database, org: Org) -> dict[str, Any]:
    row = db.query_one(
        f"SELECT {SNAPSHOT_COLUMNS} FROM mentor_stats WHERE org_id = :o AND peer_mentor_id = :m",
        o=org.id,
        m=org.mentor,
    )
    assert row is not None
    return row


def test_a_streak_runs_through_iso_week_53_of_2020_into_2021(db: Database, org: Org) -> None:
    # Given activity in ISO weeks 2020-W52, 2020-W53 (on 2 January 2021) and 2021-W01
    for day in (date(2020, 12, 22), date(2021, 1, 2), date(2021, 1, 5)):
        add_activity(db, org.id, org.mentor, day)

    # Then the three weeks are one run, although they span two calendar years
    row = snapshot(db, org)
    assert (row["last_active_week"], row["latest_run_weeks"], row["longest_streak_weeks"]) == (
        date(2021, 1, 4),
        3,
        3,
    )
    years = db.query(
        "SELECT year, n FROM mentor_year_activity WHERE peer_mentor_id = :m ORDER BY year", m=org.mentor
    )
    assert [(r["year"], r["n"]) for r in years] == [(2020, 1), (2021, 2)]

    # And it stays current through the following week, then ends
    def current(today: date) -> int:
        return load_stats(db, org.id, org.mentor, today, None).streak.current_streak_weeks

    assert (current(date(2021, 1, 10)), current(date(2021, 1, 17)), current(date(2021, 1, 18))) == (3, 3, 0)
    assert load_stats(db, org.id, org.mentor, date(2021, 1, 18), None).streak.longest_streak_weeks == 3


def test_week_53_of_2026_joins_the_first_week_of_2027(db: Database, org: Org) -> None:
    for day in (date(2026, 12, 21), date(2026, 12, 31), date(2027, 1, 4)):
        add_activity(db, org.id, org.mentor, day)

    row = snapshot(db, org)

    assert (row["last_active_week"], row["latest_run_weeks"]) == (date(2027, 1, 4), 3)


def test_removing_the_middle_week_splits_the_run_and_restoring_it_joins_it(db: Database, org: Org) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 12, 22))
    middle = add_activity(db, org.id, org.mentor, date(2026, 12, 29))
    add_activity(db, org.id, org.mentor, date(2027, 1, 5))

    db.query("UPDATE activities SET deleted_at = now() WHERE id = :id", id=middle)
    split = snapshot(db, org)
    db.query("UPDATE activities SET deleted_at = NULL WHERE id = :id", id=middle)
    joined = snapshot(db, org)

    assert (split["latest_run_weeks"], split["longest_streak_weeks"]) == (1, 1)
    assert (joined["latest_run_weeks"], joined["longest_streak_weeks"]) == (3, 3)


def test_a_backdated_activity_fills_a_gap(db: Database, org: Org) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 3, 2))
    add_activity(db, org.id, org.mentor, date(2026, 3, 16))
    assert snapshot(db, org)["longest_streak_weeks"] == 1

    add_activity(db, org.id, org.mentor, date(2026, 3, 11))

    assert (snapshot(db, org)["latest_run_weeks"], snapshot(db, org)["longest_streak_weeks"]) == (3, 3)


def test_future_dated_activity_counts_from_its_day(db: Database, org: Org) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 3, 10))
    add_activity(db, org.id, org.mentor, date(2026, 3, 30), "visit", duration_minutes=45)

    before = load_stats(db, org.id, org.mentor, date(2026, 3, 18), None)
    on_the_day = load_stats(db, org.id, org.mentor, date(2026, 3, 30), None)

    assert (before.assignment_count.total, before.assignment_count.by_type) == (1, {"assignment": 1})
    assert (before.last_activity_date, before.total_minutes) == (date(2026, 3, 10), 60)
    assert before.streak.last_active_week == date(2026, 3, 9)
    assert (on_the_day.assignment_count.total, on_the_day.last_activity_date) == (2, date(2026, 3, 30))
    assert on_the_day.streak.last_active_week == date(2026, 3, 30)


def test_facts_answer_each_kind_of_request(db: Database, org: Org) -> None:
    from peer_badges.criteria.base import AllTime, CalendarYear, RollingDays

    # Given runs of weeks 2..16 March and 30 March..6 April, and a visit in the week of 29 December
    add_activity(db, org.id, org.mentor, date(2025, 12, 29), "visit")
    for day in (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 30), date(2026, 4, 6)):
        add_activity(db, org.id, org.mentor, day)
    add_activity(db, org.id, org.mentor, date(2026, 3, 3), "visit")
    today = date(2026, 4, 8)
    plain = streak_key(None, 1)
    visits = streak_key(["visit"], 1)
    all_time = count_key(None, AllTime())
    year = count_key(None, CalendarYear())
    rolling = count_key(["assignment"], RollingDays(days=10))
    requests = FactRequests(
        today=today,
        counts=(
            CountRequest(key=all_time, activity_types=None, since=None, crossing_targets=(3, 10)),
            CountRequest(key=year, activity_types=None, since=date(2026, 1, 1), crossing_targets=(1,)),
            CountRequest(
                key=rolling, activity_types=("assignment",), since=date(2026, 3, 30), crossing_targets=()
            ),
        ),
        streaks=(
            StreakRequest(key=plain, activity_types=None, min_per_week=1, week_targets=(2, 3, 4)),
            StreakRequest(key=visits, activity_types=("visit",), min_per_week=1, week_targets=(1,)),
        ),
    )

    # When the evaluator asks
    facts = load_facts(db, org.id, org.mentor, requests)

    # Then every count and crossing date is exact, and streak milestones are dated by their week
    assert facts.counts[all_time].count == 7
    assert facts.counts[all_time].crossing_dates == {3: date(2026, 3, 3)}
    assert (facts.counts[year].count, facts.counts[year].crossing_dates) == (6, {1: date(2026, 3, 2)})
    assert facts.counts[rolling].count == 2
    assert facts.streaks[plain].longest_weeks == 3
    assert facts.streaks[plain].current_weeks == 2
    assert facts.streaks[plain].reached_dates == {2: date(2026, 3, 9), 3: date(2026, 3, 16)}
    assert facts.streaks[visits].reached_dates == {1: date(2025, 12, 29)}
    assert facts.timezone == "Europe/Oslo"


# --- the outbox ------------------------------------------------------------------------------


def outbox(db: Database) -> list[tuple[uuid.UUID, str]]:
    rows = db.query("SELECT peer_mentor_id, reason FROM evaluation_outbox ORDER BY id")
    return [(r["peer_mentor_id"], r["reason"]) for r in rows]


def test_every_counted_change_queues_each_mentor_once_per_statement(db: Database, org: Org) -> None:
    # A bulk insert for two mentors: one row each
    db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)
           VALUES (:o, :a, 'visit', '2026-03-02'), (:o, :a, 'call', '2026-03-03'), (:o, :b, 'visit', '2026-03-04')""",
        o=org.id,
        a=org.mentor,
        b=org.other_mentor,
    )
    assert sorted(outbox(db)) == sorted([(org.mentor, "activity"), (org.other_mentor, "activity")])

    # Changes that count nothing differently queue nothing
    pending = add_activity(db, org.id, org.mentor, date(2026, 3, 5), status="pending")
    db.query("UPDATE activities SET status = 'rejected' WHERE id = :id", id=pending)
    db.query("UPDATE activities SET activity_type = activity_type")
    assert len(outbox(db)) == 2

    # A soft delete does: it joins the mentor's waiting row (sql/018), which notes the new write
    def queued_at() -> object:
        row = db.query_one(
            "SELECT last_queued_at FROM evaluation_outbox WHERE peer_mentor_id = :b AND status = 'pending'",
            b=org.other_mentor,
        )
        assert row is not None
        return row["last_queued_at"]

    before = queued_at()
    db.query("UPDATE activities SET deleted_at = now() WHERE peer_mentor_id = :b", b=org.other_mentor)
    assert len(outbox(db)) == 2 and queued_at() > before


def test_training_changes_queue_the_mentor_and_move_the_snapshot(db: Database, org: Org) -> None:
    db.query(
        """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at)
           VALUES (:o, :m, 'basic-course', '2026-01-15T10:00:00Z')""",
        o=org.id,
        m=org.mentor,
    )
    first = db.query_one("SELECT updated_at FROM mentor_stats WHERE peer_mentor_id = :m", m=org.mentor)
    db.query("UPDATE training_completions SET training_code = training_code")  # no change
    db.query("UPDATE training_completions SET expires_at = '2027-01-15T10:00:00Z'")

    assert outbox(db) == [(org.mentor, "training")]  # the second change joined the waiting row
    assert first is not None


# --- repair and migration --------------------------------------------------------------------


def test_rebuild_repairs_a_snapshot_that_drifted(db: Database, org: Org) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 3, 2))
    add_activity(db, org.id, org.mentor, date(2026, 3, 9))
    db.query("ALTER TABLE activities DISABLE TRIGGER activities_stats_insert")
    try:
        add_activity(db, org.id, org.mentor, date(2026, 3, 16))
    finally:
        db.query("ALTER TABLE activities ENABLE TRIGGER activities_stats_insert")
    assert db.query("SELECT peer_mentor_id FROM mentor_stats_drift(:o)", o=org.id) == [
        {"peer_mentor_id": org.mentor}
    ]

    db.query("SELECT rebuild_mentor_stats(:o, :m)", o=org.id, m=org.mentor)

    assert db.query("SELECT * FROM mentor_stats_drift(:o)", o=org.id) == []
    assert snapshot(db, org)["latest_run_weeks"] == 3


def test_the_migration_builds_the_snapshot_of_existing_activities(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    # Given a database with only the foundation schema and some activities
    url = database_factory()
    foundation = tmp_path / "sql"
    foundation.mkdir()
    source = Path(__file__).resolve().parents[2] / "sql" / "001_foundation.sql"
    (foundation / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    migrate(database_url=url, directory=foundation)
    conn = admin_connection(url)
    try:
        conn.run("INSERT INTO organizations (id, slug) VALUES ('00000000-0000-0000-0000-0000000000aa', 'x')")
        conn.run(
            """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, status)
               SELECT '00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-0000000000bb', 'visit',
                      d::date, CASE WHEN d::date = '2026-03-09' THEN 'pending' ELSE 'approved' END
               FROM generate_series('2026-03-02'::date, '2026-03-23', '7 days') AS d"""
        )

        # When the rest of the migrations run
        migrate(database_url=url)

        # Then the snapshot describes them
        [[total, latest, longest]] = conn.run(
            "SELECT total_count, latest_run_weeks, longest_streak_weeks FROM mentor_stats"
        )
        assert (total, latest, longest) == (3, 2, 2)
        assert conn.run("SELECT * FROM mentor_stats_drift('00000000-0000-0000-0000-0000000000aa')") == []
    finally:
        conn.close()


# --- concurrency -----------------------------------------------------------------------------


def test_writers_lock_mentors_in_one_order_so_they_cannot_deadlock(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    low, high = sorted([org.mentor, org.other_mentor])
    first, second, observer = connect_new(), connect_new(), connect_new()
    errors: list[BaseException] = []

    with first.transaction() as tx:
        # First holds the lower mentor's snapshot row
        tx.query(
            "INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date) VALUES (:o, :m, 'visit', '2026-03-02')",
            o=org.id,
            m=low,
        )

        # Second writes both mentors in one statement, the higher one listed first
        def write_both() -> None:
            try:
                second.query(
                    """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)
                       VALUES (:o, :h, 'visit', '2026-03-03'), (:o, :l, 'visit', '2026-03-03')""",
                    o=org.id,
                    h=high,
                    l=low,
                )
            except BaseException as error:  # reported to the main thread
                errors.append(error)

        thread = threading.Thread(target=write_both)
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = observer.query_one(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting and waiting["n"] >= 1:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the second writer never waited for the first")

        # Then the first can still take the higher mentor: the second waits on the lower one holding nothing else
        tx.query(
            "INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date) VALUES (:o, :m, 'visit', '2026-03-04')",
            o=org.id,
            m=high,
        )

    thread.join(timeout=10)
    assert errors == []
    assert not thread.is_alive()
    assert db.query("SELECT * FROM mentor_stats_drift(:o)", o=org.id) == []
    totals = db.query("SELECT peer_mentor_id, total_count FROM mentor_stats ORDER BY peer_mentor_id")
    assert [(r["peer_mentor_id"], r["total_count"]) for r in totals] == [(low, 2), (high, 2)]


# --- reads stay O(1) in the history ----------------------------------------------------------


@dataclass(frozen=True)
class Scans:
    seq_scans: int
    index_scans: int
    rows_fetched: int


def activity_scans(db: Database, sql: str, **params: Any) -> Scans:
    """How `sql` read the activities table, from the transaction's own statistics (which also see
    inside the plpgsql read functions, where EXPLAIN cannot look)."""
    counters = """SELECT coalesce(seq_scan, 0) AS seq, coalesce(idx_scan, 0) AS idx, coalesce(idx_tup_fetch, 0) AS fetched
                  FROM pg_stat_xact_user_tables WHERE relname = 'activities'"""
    with db.transaction() as tx:
        before = tx.query_one(counters) or {"seq": 0, "idx": 0, "fetched": 0}
        tx.query(sql, **params)
        after = tx.query_one(counters) or {"seq": 0, "idx": 0, "fetched": 0}
    return Scans(
        after["seq"] - before["seq"], after["idx"] - before["idx"], after["fetched"] - before["fetched"]
    )


def add_history(db: Database, org: Org, days: int) -> None:
    db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)
           SELECT :o, :m, CASE WHEN n % 2 = 0 THEN 'visit' ELSE 'call' END, '2020-01-06'::date + n
           FROM generate_series(0, :days - 1) AS n""",
        o=org.id,
        m=org.mentor,
        days=days,
    )
    db.query("ANALYZE activities")


def test_a_stats_read_touches_no_activity_rows(db: Database, org: Org) -> None:
    add_history(db, org, 2000)

    scans = activity_scans(
        db, _STATS_ONE, org_id=org.id, mentor_id=org.mentor, today=date(2026, 3, 18), now=None
    )

    assert scans == Scans(0, 0, 0)


def test_facts_read_activities_only_within_windows_and_up_to_the_largest_target(
    db: Database, org: Org
) -> None:
    from peer_badges.criteria.base import RollingDays
    from peer_badges.db import Json

    add_history(db, org, 2000)
    today = date(2025, 6, 30)  # the history ends on 27 June 2025

    def facts_scans(windows: list[Any], crossings: list[Any], streaks: list[Any]) -> Scans:
        return activity_scans(
            db,
            _FACTS_ONE,
            org_id=org.id,
            mentor_id=org.mentor,
            today=today,
            need_year=True,
            windows=Json(windows),
            crossings=Json(crossings),
            streaks=Json(streaks),
        )

    # All-time and calendar-year counts and every streak come from the snapshot and buckets
    streaks = [{"key": "s", "types": ["visit"], "min_per_week": 2, "targets": [3]}]
    assert facts_scans([], [], streaks) == Scans(0, 0, 0)

    # A 30-day window reads that window; the 25th visit reads about 25 visits (and the calls between)
    window = [{"key": "w", "since": RollingDays(days=30).since(today), "types": None}]
    crossing = [{"key": "c", "since": None, "types": ["visit"], "max_n": 25}]
    for scans in (facts_scans(window, [], []), facts_scans([], crossing, [])):
        assert scans.seq_scans == 0
        assert scans.index_scans == 1
        assert 0 < scans.rows_fetched <= 60


def test_the_org_clock_decides_today(db: Database) -> None:
    org = seed_org(db, timezone="Europe/Oslo")
    add_activity(db, org.id, org.mentor, date(2026, 3, 30))

    sunday_evening_utc = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on Monday 30 March in Oslo

    assert load_stats(db, org.id, org.mentor, sunday_evening_utc, None).assignment_count.total == 1
    assert load_stats(db, org.id, org.mentor, date(2026, 3, 29), None).assignment_count.total == 0
