"""The stats triggers' fast path for statements that only add counted activities (sql/006).

Pure inserts (and updates that only approve or undelete) skip the zero-bucket deletes, date lookups
and week probes of the general path and recompute streaks only from the earliest inserted week back
by the old longest streak. These tests aim at exactly what that shortcut could get wrong: streaks
extended, restarted, joined or lengthened in the past (also right at the read bound), ISO week 53
across year ends, new and existing mentors and types in one statement, and that statements with any
removal still take the general path. After every statement the snapshot equals
`reference_mentor_stats` and the week/year buckets equal plain aggregates over the raw rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peer_badges.db import Database
from tests.helpers import Org, add_activity, seed_org
from tests.integration.stats_checks import (
    SNAPSHOT_COLUMNS,
    assert_buckets_match_raw,
    assert_snapshot_matches_reference,
)

# Mondays of consecutive ISO weeks: W[0] = 2 March 2026.
W = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(30)]


def bulk_insert(db: Database, rows: Iterable[tuple[Any, ...]]) -> None:
    """One INSERT statement (the statement trigger fires once) of
    (org_id, mentor_id, date, type, minutes, status) rows."""
    rows = list(rows)
    db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_date, activity_type, duration_minutes, status)
           SELECT * FROM unnest(CAST(:orgs AS uuid[]), CAST(:mentors AS uuid[]), CAST(:days AS date[]),
                                CAST(:kinds AS text[]), CAST(:minutes AS int[]), CAST(:statuses AS text[]))""",
        orgs=[str(r[0]) for r in rows],
        mentors=[str(r[1]) for r in rows],
        days=[r[2].isoformat() for r in rows],
        kinds=[r[3] for r in rows],
        minutes=[None if r[4] is None else str(r[4]) for r in rows],
        statuses=[r[5] for r in rows],
    )


def weekly(org: Org, weeks: Iterable[date], mentor: uuid.UUID | None = None) -> list[tuple[Any, ...]]:
    """One approved 30-minute assignment on the Wednesday of each week."""
    return [
        (org.id, mentor or org.mentor, w + timedelta(days=2), "assignment", 30, "approved") for w in weeks
    ]


def streak(db: Database, org: Org, mentor: uuid.UUID | None = None) -> tuple[date | None, int, int]:
    row = db.query_one(
        """SELECT last_active_week, latest_run_weeks, longest_streak_weeks FROM mentor_stats
           WHERE org_id = :o AND peer_mentor_id = :m""",
        o=org.id,
        m=mentor or org.mentor,
    )
    assert row is not None
    return row["last_active_week"], row["latest_run_weeks"], row["longest_streak_weeks"]


def assert_consistent(db: Database) -> None:
    """Snapshot == reference for every mentor of every org, and buckets == raw aggregates."""
    assert_snapshot_matches_reference(db, [org["id"] for org in db.query("SELECT id FROM organizations")])
    assert_buckets_match_raw(db)


def xact_writes(tx: Any, table: str) -> tuple[int, int, int]:
    """Rows inserted, updated and deleted in `table` as this backend counts them. Only differences
    within one transaction mean anything: since PostgreSQL 15 the counters can still hold earlier
    transactions' counts that were not flushed yet."""
    row = tx.query_one(
        "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables WHERE relname = :t", t=table
    )
    return (row["n_tup_ins"], row["n_tup_upd"], row["n_tup_del"]) if row else (0, 0, 0)


def written(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[int, int, int]:
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


# --- bulk inserts across mentors, weeks and years ----------------------------------------------


def test_one_bulk_insert_across_mentors_week_53_and_years_builds_exact_snapshots(db: Database) -> None:
    # Given two orgs, one mentor with history, and mentors the triggers have never seen
    org, other = seed_org(db), seed_org(db, slug="blindeforbundet")
    add_activity(db, org.id, org.mentor, date(2020, 12, 16), "visit", duration_minutes=15)
    newcomers = [uuid.uuid4() for _ in range(6)]
    # 2020-W53: Monday 28 December 2020 .. Sunday 3 January 2021
    week_53_days = [date(2020, 12, 28) + timedelta(days=n) for n in range(7)]
    rows = [(org.id, org.mentor, d, "assignment", 10, "approved") for d in week_53_days]
    rows += [(org.id, org.mentor, date(2021, 1, 5), "visit", None, "approved")]  # 2021-W01
    rows += [(org.id, org.mentor, date(2020, 12, 22), "call", 5, "pending")]  # does not count
    for i, mentor in enumerate(newcomers):
        target = org if i % 2 == 0 else other
        for k in range(20):
            day = date(2026, 11, 2) + timedelta(days=5 * k + i)  # 2026-W45 .. 2027-W04, through 2026-W53
            rows.append((target.id, mentor, day, ["visit", "call", "assignment"][k % 3], k, "approved"))
    rows.append((org.id, newcomers[0], date(2026, 11, 2 + 0), "visit", 0, "approved"))  # same day, same type

    # When they arrive in one statement
    bulk_insert(db, rows)

    # Then the week-53 mentor has one bucket for the week that straddles the year end, counted in both
    # years, and runs 2020-W51 and 2020-W53..2021-W01 (W52 is empty)
    snapshot = db.query_one(
        f"SELECT {SNAPSHOT_COLUMNS} FROM mentor_stats WHERE org_id = :o AND peer_mentor_id = :m",
        o=org.id,
        m=org.mentor,
    )
    assert snapshot == {
        "total_count": 9,
        "by_type": {"visit": 2, "assignment": 7},
        "total_minutes": 85,
        "first_activity_date": date(2020, 12, 16),
        "last_activity_date": date(2021, 1, 5),
        "last_active_week": date(2021, 1, 4),
        "latest_run_weeks": 2,
        "longest_streak_weeks": 2,
    }
    week_53 = db.query(
        "SELECT activity_type, n, minutes FROM mentor_week_activity WHERE peer_mentor_id = :m AND week_start = '2020-12-28'",
        m=org.mentor,
    )
    assert week_53 == [{"activity_type": "assignment", "n": 7, "minutes": 70}]
    years = db.query(
        "SELECT year, activity_type, n FROM mentor_year_activity WHERE peer_mentor_id = :m ORDER BY 1, 2",
        m=org.mentor,
    )
    assert [(r["year"], r["activity_type"], r["n"]) for r in years] == [
        (2020, "assignment", 4),
        (2020, "visit", 1),
        (2021, "assignment", 3),
        (2021, "visit", 1),
    ]
    # And every mentor, old or new, in either org, agrees with the recomputation from raw rows
    assert_consistent(db)
    assert db.query("SELECT count(DISTINCT peer_mentor_id) AS n FROM evaluation_outbox")[0]["n"] == 7


def test_a_bulk_insert_writes_each_snapshot_row_twice_at_most_and_deletes_nothing(db: Database) -> None:
    # Given a mentor with two weeks of history
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:2]))

    # When a bulk insert adds to one existing week bucket and creates three new ones
    with db.transaction() as tx:
        stats_before, weeks_before = xact_writes(tx, "mentor_stats"), xact_writes(tx, "mentor_week_activity")
        tx.query(
            """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
               VALUES (:o, :m, 'assignment', :w1, 5), (:o, :m, 'visit', :w1, 5),
                      (:o, :m, 'assignment', :w4, 5), (:o, :m, 'assignment', :w5, 5)""",
            o=org.id,
            m=org.mentor,
            w1=W[1],
            w4=W[4],
            w5=W[5],
        )
        stats = written(stats_before, xact_writes(tx, "mentor_stats"))
        week_rows = written(weeks_before, xact_writes(tx, "mentor_week_activity"))

    # Then it only wrote what it had to: the snapshot row once for totals and once for the streak,
    # one bucket updated, three inserted, nothing deleted (no zero-bucket clean-up for additions)
    assert stats == (0, 2, 0)
    assert week_rows == (3, 1, 0)
    assert streak(db, org) == (W[5], 2, 2)
    assert_consistent(db)


# --- one activity (sql/027: apply_activity_delta) ------------------------------------------------


def insert_one(db: Database, org: Org, day: date, kind: str = "assignment", minutes: int | None = 30) -> None:
    add_activity(db, org.id, org.mentor, day, kind, duration_minutes=minutes)


def test_one_activity_at_a_time_moves_the_streak_in_the_snapshot_upsert(db: Database) -> None:
    # Each write below is one counted row: the scalar path, one branch of its streak rule each
    org = seed_org(db)
    steps: list[tuple[date, str, tuple[date, int, int]]] = [
        (W[2], "assignment", (W[2], 1, 1)),  # a first activity ever
        (W[2] + timedelta(days=3), "visit", (W[2], 1, 1)),  # the same week, another type
        (W[3], "assignment", (W[3], 2, 2)),  # the week right after the latest: extends it
        (W[3], "assignment", (W[3], 2, 2)),  # the same week and type again
        (W[6], "visit", (W[6], 1, 2)),  # after a gap: a new run of one
        (W[5], "assignment", (W[6], 2, 2)),  # an earlier new week joins the latest run (recomputed)
        (W[4], "visit", (W[6], 5, 5)),  # ... and fills the last gap: one run of five
        (W[0], "assignment", (W[6], 5, 5)),  # far back: a run of its own
        (W[0], "visit", (W[6], 5, 5)),  # an earlier week that already had a row
    ]
    for day, kind, expected in steps:
        insert_one(db, org, day + timedelta(days=2), kind)
        assert streak(db, org) == expected, (day, kind)
        assert_consistent(db)


def test_one_activity_writes_the_snapshot_row_once_and_each_bucket_once(db: Database) -> None:
    # Given a mentor with history and a waiting evaluation
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:2]))

    # When one activity lands in a new week after the latest
    with db.transaction() as tx:
        before = {
            t: xact_writes(tx, t) for t in ("mentor_stats", "mentor_week_activity", "mentor_year_activity")
        }
        tx.query(
            """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
               VALUES (:o, :m, 'visit', :d, 45)""",
            o=org.id,
            m=org.mentor,
            d=W[2],
        )
        writes = {t: written(before[t], xact_writes(tx, t)) for t in before}

    # Then the streak moved in the same write as the totals: no second update of the snapshot row
    assert writes["mentor_stats"] == (0, 1, 0)
    assert writes["mentor_week_activity"] == (1, 0, 0)
    assert sum(writes["mentor_year_activity"][:2]) == 1
    assert streak(db, org) == (W[2], 3, 3)
    assert_consistent(db)
    # and the mentor is queued once, joining the evaluation already waiting
    waiting = db.query(
        "SELECT reason FROM evaluation_outbox WHERE peer_mentor_id = :m AND status = 'pending' AND NOT backfill",
        m=org.mentor,
    )
    assert len(waiting) == 1


def test_approving_one_pending_activity_takes_the_one_activity_path(db: Database) -> None:
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:2]))
    bulk_insert(db, [(org.id, org.mentor, W[2] + timedelta(days=1), "visit", 20, "pending")])
    assert streak(db, org) == (W[1], 2, 2)

    db.query(
        "UPDATE activities SET status = 'approved' WHERE status = 'pending' AND peer_mentor_id = :m",
        m=org.mentor,
    )

    assert streak(db, org) == (W[2], 3, 3)
    assert_consistent(db)


# --- streaks ---------------------------------------------------------------------------------


def test_new_weeks_right_after_the_latest_run_extend_it(db: Database) -> None:
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:3]))

    bulk_insert(db, weekly(org, W[3:5]))

    assert streak(db, org) == (W[4], 5, 5)
    assert_consistent(db)


def test_new_weeks_after_a_gap_restart_the_latest_run(db: Database) -> None:
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:3]))

    bulk_insert(db, weekly(org, [W[5], W[6]]))

    assert streak(db, org) == (W[6], 2, 3)
    assert_consistent(db)


def test_more_rows_in_active_weeks_leave_the_streak_alone(db: Database) -> None:
    # Given runs W0..W2 and W5
    org = seed_org(db)
    bulk_insert(db, weekly(org, [W[0], W[1], W[2], W[5]]))

    # When more of the same type land in active weeks (bucket updates only), then a new type (new rows)
    bulk_insert(db, weekly(org, [W[1], W[5]]))
    assert streak(db, org) == (W[5], 1, 3)
    bulk_insert(db, [(org.id, org.mentor, W[0], "visit", 10, "approved")])

    # Then nothing about the streak changed
    assert streak(db, org) == (W[5], 1, 3)
    assert_consistent(db)


def test_a_backfilled_week_joins_two_runs_into_the_latest(db: Database) -> None:
    org = seed_org(db)
    bulk_insert(db, weekly(org, [W[0], W[1], W[2], W[4], W[5]]))
    assert streak(db, org) == (W[5], 2, 3)

    bulk_insert(db, weekly(org, [W[3]]))

    assert streak(db, org) == (W[5], 6, 6)
    assert_consistent(db)


def test_a_backfill_in_the_past_can_make_a_new_longest_run_without_touching_the_latest(db: Database) -> None:
    org = seed_org(db)
    bulk_insert(db, weekly(org, [W[0], W[10], W[11]]))

    bulk_insert(db, weekly(org, [W[1], W[2], W[3]]))

    assert streak(db, org) == (W[11], 2, 4)
    assert_consistent(db)


def test_a_week_joining_the_longest_run_from_its_far_end_is_counted_whole(db: Database) -> None:
    # Given a 5-week run W0..W4 (the longest) and a later latest run W10
    org = seed_org(db)
    bulk_insert(db, weekly(org, [*W[0:5], W[10]]))
    assert streak(db, org) == (W[10], 1, 5)

    # When W5 is added: the run now reaches back exactly `longest` weeks before the new week, the
    # furthest the fast path reads
    bulk_insert(db, weekly(org, [W[5]]))

    # Then the whole run counts
    assert streak(db, org) == (W[10], 1, 6)
    assert_consistent(db)


def test_one_statement_can_backfill_extend_and_add_types_at_once(db: Database) -> None:
    # Given runs W2..W3 and W6..W7
    org = seed_org(db)
    bulk_insert(db, weekly(org, [W[2], W[3], W[6], W[7]]))

    # When one statement adds a new type in an active week (the earliest inserted row), fills W4..W5
    # and extends past the latest week with a gap
    bulk_insert(
        db,
        [(org.id, org.mentor, W[2], "visit", 1, "approved"), *weekly(org, [W[4], W[5], W[9], W[10], W[11]])],
    )

    assert streak(db, org) == (W[11], 3, 6)
    assert_consistent(db)


def test_a_first_bulk_insert_for_a_mentor_builds_runs_from_nothing(db: Database) -> None:
    org = seed_org(db)

    bulk_insert(db, weekly(org, [W[0], W[1], W[3], W[4], W[5], W[8]]))

    assert streak(db, org) == (W[8], 1, 3)
    assert_consistent(db)


# --- updates that only add, and statements that remove -----------------------------------------


def test_approving_and_undeleting_rows_in_bulk_count_them(db: Database) -> None:
    # Given pending rows and a soft-deleted one
    org = seed_org(db)
    bulk_insert(db, [(org.id, org.mentor, w, "visit", 20, "pending") for w in W[0:3]])
    bulk_insert(db, weekly(org, [W[4]]))
    db.query("UPDATE activities SET deleted_at = now() WHERE activity_date = :d", d=W[4] + timedelta(days=2))
    assert_consistent(db)

    # When an update approves them all (only additions), and another undeletes
    db.query("UPDATE activities SET status = 'approved' WHERE status = 'pending'")
    assert streak(db, org) == (W[2], 3, 3)
    db.query("UPDATE activities SET deleted_at = NULL")

    # Then they count
    assert streak(db, org) == (W[4], 1, 3)
    assert_consistent(db)


def test_more_rows_but_fewer_minutes_in_one_statement_is_not_an_addition(db: Database) -> None:
    # Given a counted 100-minute visit and a pending 0-minute visit on the same day
    org = seed_org(db)
    bulk_insert(
        db,
        [
            (org.id, org.mentor, W[0], "visit", 100, "approved"),
            (org.id, org.mentor, W[0], "visit", 0, "pending"),
        ],
    )

    # When one update approves the pending one and cuts the other's minutes: one more row, 100 fewer minutes
    db.query(
        "UPDATE activities SET status = 'approved', duration_minutes = 0 WHERE peer_mentor_id = :m",
        m=org.mentor,
    )

    # Then it is applied (as a change, not an addition, whose totals could not go down) and exact
    row = db.query_one(
        "SELECT total_count, total_minutes FROM mentor_stats WHERE peer_mentor_id = :m", m=org.mentor
    )
    assert row == {"total_count": 2, "total_minutes": 0}
    assert_consistent(db)


def test_statements_that_remove_or_move_still_take_the_general_path(db: Database) -> None:
    # Given two mentors with runs
    org = seed_org(db)
    bulk_insert(db, weekly(org, W[0:6]) + weekly(org, W[0:3], mentor=org.other_mentor))

    # An update that approves one row and rejects another in the same statement
    bulk_insert(db, [(org.id, org.mentor, W[8], "visit", 5, "pending")])
    db.query(
        "UPDATE activities SET status = CASE WHEN status = 'pending' THEN 'approved' ELSE 'rejected' END "
        "WHERE peer_mentor_id = :m AND activity_date IN (:a, :b)",
        m=org.mentor,
        a=W[8],
        b=W[2] + timedelta(days=2),
    )
    assert streak(db, org) == (W[8], 1, 3)
    assert_consistent(db)

    # Minutes lowered only (a negative minutes delta with no change in count), then raised only
    db.query("UPDATE activities SET duration_minutes = 1 WHERE peer_mentor_id = :m", m=org.mentor)
    assert_consistent(db)
    db.query("UPDATE activities SET duration_minutes = 90 WHERE peer_mentor_id = :m", m=org.mentor)
    assert_consistent(db)

    # A move of a whole history by one week, a hard delete of the latest week, and a soft delete
    db.query(
        "UPDATE activities SET activity_date = activity_date + 7 WHERE peer_mentor_id = :m",
        m=org.other_mentor,
    )
    db.query("DELETE FROM activities WHERE peer_mentor_id = :m AND activity_date >= :d", m=org.mentor, d=W[8])
    db.query(
        "UPDATE activities SET deleted_at = now() WHERE peer_mentor_id = :m AND activity_date < :d",
        m=org.mentor,
        d=W[1],
    )

    # Then every snapshot and bucket still agrees with the raw rows, and no zero bucket is left
    assert streak(db, org) == (W[5], 3, 3)
    assert streak(db, org, org.other_mentor) == (W[3], 3, 3)
    assert_consistent(db)
    assert (
        db.query(
            "SELECT 1 FROM mentor_week_activity WHERE n = 0 UNION ALL SELECT 1 FROM mentor_year_activity WHERE n = 0"
        )
        == []
    )


# --- random sequences of bulk inserts ---------------------------------------------------------

# Weeks around both recent ISO week 53s, with gaps, so runs form, break, join and reach back.
DAYS = [date(2020, 11, 30) + timedelta(days=n) for n in range(0, 70, 2)] + [
    date(2026, 11, 30) + timedelta(days=n) for n in range(0, 70, 3)
]
MENTORS = [uuid.UUID(int=n) for n in (0x1A, 0x2B, 0x3C)]
insert_strategy = st.lists(
    st.tuples(
        st.integers(0, len(MENTORS) - 1),
        st.sampled_from(DAYS),
        st.sampled_from(["assignment", "visit", "call"]),
        st.one_of(st.none(), st.integers(0, 120)),
        st.sampled_from(["approved", "approved", "approved", "pending"]),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(statements=st.lists(insert_strategy, min_size=1, max_size=8))
def test_any_sequence_of_bulk_inserts_keeps_the_snapshot_exact(
    db: Database, statements: list[list[tuple[Any, ...]]]
) -> None:
    # TRUNCATE empties the derived tables too (their own trigger); each example gets a fresh org
    db.query("TRUNCATE activities, evaluation_outbox")
    org = db.query_one(
        "INSERT INTO organizations (slug, name) VALUES (:s, 'NHF') RETURNING id", s=uuid.uuid4().hex
    )
    assert org is not None
    for statement in statements:
        bulk_insert(
            db,
            [
                (org["id"], MENTORS[m], day, kind, minutes, status)
                for m, day, kind, minutes, status in statement
            ],
        )
        assert_consistent(db)
