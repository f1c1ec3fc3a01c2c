"""Evaluation end to end on real PostgreSQL: activity → trigger → outbox → drain → award → event outbox."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from peer_badges.db import Database, Transaction
from peer_badges.definitions_cache import definitions_cache
from peer_badges.mentor_evaluation import drain_outbox, evaluate_mentor
from peer_badges.reconcile import reconcile_org
from tests.helpers import Org, add_activity, seed_org

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday


@pytest.fixture(autouse=True)
def _fresh_definitions_cache() -> None:
    definitions_cache.invalidate()


def define(
    db: Database, org: Org, key: str, criteria: dict[str, Any], created_at: datetime | None = None
) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
           VALUES (:org, :key, :name, CAST(:criteria AS jsonb), :at, :at) RETURNING id""",
        org=org.id,
        key=key,
        name=key.replace("-", " ").title(),
        criteria=__import__("json").dumps(criteria),
        at=created_at or datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert row is not None
    return row["id"]


def earned(db: Database, mentor: uuid.UUID) -> list[dict[str, Any]]:
    return db.query(
        """SELECT d.key, e.level, e.earned_at, e.source FROM earned_badges e
             JOIN badge_definitions d ON d.id = e.badge_definition_id
            WHERE e.peer_mentor_id = :m ORDER BY d.key, e.level""",
        m=mentor,
    )


def events(db: Database) -> list[dict[str, Any]]:
    return db.query("SELECT detail_type, detail FROM event_outbox ORDER BY id")


def test_an_activity_write_leads_to_the_award_with_the_nth_activitys_date(db: Database) -> None:
    # Given a threshold badge for 3 assignments
    org = seed_org(db)
    define(
        db,
        org,
        "three-assignments",
        {"type": "threshold", "schema_version": 1, "threshold": 3, "activity_types": ["assignment"]},
    )
    # When the mentor registers activities (a visit does not count) and the outbox is drained
    for day, kind in [
        (date(2026, 11, 2), "assignment"),
        (date(2026, 11, 3), "visit"),
        (date(2026, 11, 5), "assignment"),
    ]:
        add_activity(db, org.id, org.mentor, day, kind)
    assert drain_outbox(db, NOW).awarded == []
    add_activity(db, org.id, org.mentor, date(2026, 11, 9), "assignment")
    report = drain_outbox(db, NOW)
    # Then the badge is awarded once, earned on the third assignment's date, with one event
    assert [(b.level, b.earned_at, b.source) for b in report.awarded] == [
        (1, date(2026, 11, 9), "evaluation")
    ]
    assert earned(db, org.mentor) == [
        {"key": "three-assignments", "level": 1, "earned_at": date(2026, 11, 9), "source": "evaluation"}
    ]
    assert [(e["detail_type"], e["detail"]["backfill"]) for e in events(db)] == [("BadgeAwarded", False)]
    # And evaluating again changes nothing
    add_activity(db, org.id, org.mentor, date(2026, 11, 10), "assignment")
    assert drain_outbox(db, NOW).awarded == []
    assert len(events(db)) == 1


def test_blindeforbundet_honorarium_at_the_3rd_and_15th_assignment(db: Database) -> None:
    # Given Blindeforbundet's payable milestone
    org = seed_org(db, slug="blindeforbundet")
    define(
        db,
        org,
        "honorar",
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
        },
    )
    start = date(2026, 6, 1)
    # When the mentor does 2, then 1 more, then 12 more assignments, draining after each step
    for step, count in enumerate([2, 1, 11, 1]):
        for i in range(count):
            add_activity(db, org.id, org.mentor, start + timedelta(days=10 * step + i), "assignment")
        drain_outbox(db, NOW)
        levels = [row["level"] for row in earned(db, org.mentor)]
        # Then level 1 arrives with the 3rd assignment and level 2 with the 15th, not before
        assert levels == {0: [], 1: [1], 2: [1], 3: [1, 2]}[step]
    rows = earned(db, org.mentor)
    assert [r["earned_at"] for r in rows] == [date(2026, 6, 11), date(2026, 7, 1)]
    kinds = sorted((e["detail_type"], e["detail"]["level"], e["detail"]["payable"]) for e in events(db))
    assert kinds == [
        ("BadgeAwarded", 1, True),
        ("BadgeAwarded", 2, True),
        ("HonorarMilestoneReached", 1, True),
        ("HonorarMilestoneReached", 2, True),
    ]


def test_two_parallel_drains_over_1000_outbox_rows_award_each_badge_once(
    db: Database, connect_new: Callable[[], Database]
) -> None:
    # Given 250 mentors with 4 queued activities each, crossing a 2-activity badge
    org = seed_org(db)
    define(db, org, "two", {"type": "threshold", "schema_version": 1, "threshold": 2})
    mentors = [uuid.uuid4() for _ in range(250)]
    db.query(
        "INSERT INTO org_members (org_id, user_id, role) SELECT :org, m, 'peer_mentor' FROM unnest(CAST(:mentors AS uuid[])) m",
        org=org.id,
        mentors=mentors,
    )
    db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)
           SELECT :org, m, 'visit', DATE '2026-10-01' + g FROM unnest(CAST(:mentors AS uuid[])) m, generate_series(1, 4) g""",
        org=org.id,
        mentors=mentors,
    )
    # (row-per-activity or statement-level: at least one pending row per mentor)
    assert db.query_one("SELECT count(DISTINCT peer_mentor_id) AS n FROM evaluation_outbox")["n"] == 250
    db.query(  # rows earlier attempts left behind (one untried row per mentor is the most there is)
        """INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason, last_error)
           SELECT :org, m, 'test', 'an earlier attempt failed'
             FROM unnest(CAST(:mentors AS uuid[])) m, generate_series(1, 4)""",
        org=org.id,
        mentors=mentors,
    )
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        own = connect_new()
        barrier.wait()
        try:
            drain_outbox(own, NOW, batch_size=40)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every mentor holds the badge exactly once, with exactly one event each
    assert failures == []
    assert db.query_one("SELECT count(*) AS n, count(DISTINCT peer_mentor_id) AS d FROM earned_badges") == {
        "n": 250,
        "d": 250,
    }
    assert db.query_one("SELECT count(*) AS n FROM event_outbox")["n"] == 250
    assert db.query_one("SELECT count(*) AS n FROM evaluation_outbox WHERE status <> 'done'")["n"] == 0


class Killed(BaseException):
    pass


def test_a_crash_after_awarding_before_marking_done_gives_no_duplicate_and_no_loss(db: Database) -> None:
    # Given two mentors who crossed a badge
    org = seed_org(db)
    define(db, org, "one", {"type": "threshold", "schema_version": 1, "threshold": 1})
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 3))
    # When the drain is killed right after awarding the second mentor, before marking rows done
    import peer_badges.mentor_evaluation as evaluator

    real = evaluator.evaluate_mentor

    def award_then_die(tx: Transaction, org_id: uuid.UUID, mentor_id: uuid.UUID, **kwargs: Any) -> list[Any]:
        result = real(tx, org_id, mentor_id, **kwargs)
        if mentor_id == org.other_mentor:
            raise Killed()
        return result

    evaluator.evaluate_mentor = award_then_die  # type: ignore[assignment]
    try:
        with pytest.raises(Killed):
            drain_outbox(db, NOW)
    finally:
        evaluator.evaluate_mentor = real  # type: ignore[assignment]
    # Then the killed mentor's award was rolled back with its transaction
    assert [r["key"] for r in earned(db, org.mentor)] == ["one"]
    assert earned(db, org.other_mentor) == []
    # When the lease runs out and the drain runs again
    db.query("UPDATE evaluation_outbox SET available_at = now() WHERE status = 'pending'")
    drain_outbox(db, NOW)
    # Then both hold the badge exactly once and each has exactly one event
    assert db.query_one("SELECT count(*) AS n FROM earned_badges")["n"] == 2
    assert db.query_one("SELECT count(*) AS n FROM event_outbox")["n"] == 2


def test_a_new_definition_backfills_existing_mentors_quietly_with_historical_dates(db: Database) -> None:
    # Given mentors with history from before the badge existed
    org = seed_org(db)
    for i in range(12):
        add_activity(db, org.id, org.mentor, date(2025, 1, 6) + timedelta(weeks=i), "visit")
    for i in range(3):
        add_activity(db, org.id, org.other_mentor, date(2025, 3, 3) + timedelta(days=i), "visit")
    drain_outbox(db, NOW)
    # When an admin adds a tier badge and a 10-week streak badge today, and the org is reconciled
    tier = {
        "type": "tier",
        "schema_version": 1,
        "tiers": [{"name": "Bronze", "threshold": 2}, {"name": "Silver", "threshold": 10}],
    }
    define(db, org, "visits", tier, created_at=NOW)
    define(db, org, "ten-weeks", {"type": "streak", "schema_version": 1, "weeks": 10}, created_at=NOW)
    report = reconcile_org(db, org.id, now=NOW)
    # Then the awards carry the dates the criteria were crossed, and the events are quiet
    assert earned(db, org.mentor) == [
        {"key": "ten-weeks", "level": 1, "earned_at": date(2025, 3, 10), "source": "backfill"},
        {"key": "visits", "level": 1, "earned_at": date(2025, 1, 13), "source": "backfill"},
        {"key": "visits", "level": 2, "earned_at": date(2025, 3, 10), "source": "backfill"},
    ]
    assert earned(db, org.other_mentor) == [
        {"key": "visits", "level": 1, "earned_at": date(2025, 3, 4), "source": "backfill"},
    ]
    assert len(report.awarded) == 4
    assert {e["detail"]["backfill"] for e in events(db)} == {True}
    # And a second reconcile finds nothing more
    assert reconcile_org(db, org.id, now=NOW).awarded == []


def test_reconcile_and_the_event_path_agree(db: Database) -> None:
    # Given varied history and every kind of automatic criteria
    org = seed_org(db)
    kinds = ["assignment", "visit", "phone_call"]
    for i in range(60):
        mentor = org.mentor if i % 3 else org.other_mentor
        add_activity(db, org.id, mentor, date(2025, 11, 3) + timedelta(days=5 * i + i % 4), kinds[i % 3])
    db.query(
        """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at, expires_at)
           VALUES (:o, :m, 'basic-course', '2025-02-01T10:00:00Z', NULL),
                  (:o, :m, 'first-aid', '2025-05-01T10:00:00Z', '2026-05-01T10:00:00Z')""",
        o=org.id,
        m=org.mentor,
    )
    definitions = [
        {
            "type": "threshold",
            "schema_version": 1,
            "threshold": 10,
            "activity_types": ["visit", "assignment"],
        },
        {"type": "threshold", "schema_version": 1, "threshold": 5, "window": {"kind": "calendar_year"}},
        {
            "type": "threshold",
            "schema_version": 1,
            "threshold": 4,
            "window": {"kind": "rolling_days", "days": 60},
        },
        {"type": "streak", "schema_version": 1, "weeks": 3, "min_per_week": 1},
        {
            "type": "streak",
            "schema_version": 1,
            "weeks": 2,
            "min_per_week": 1,
            "activity_types": ["assignment"],
        },
        {
            "type": "tier",
            "schema_version": 1,
            "tiers": [
                {"name": "B", "threshold": 5},
                {"name": "S", "threshold": 25},
                {"name": "G", "threshold": 100},
            ],
        },
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
        },
        {
            "type": "training_completion",
            "schema_version": 1,
            "training_codes": ["basic-course", "first-aid"],
            "require": "all",
            "only_valid": False,
        },
        {
            "type": "training_completion",
            "schema_version": 1,
            "training_codes": ["basic-course", "first-aid"],
            "require": "all",
            "only_valid": True,
        },
        {"type": "manual", "schema_version": 1},
    ]
    for i, criteria in enumerate(definitions):
        define(db, org, f"badge-{i}", criteria)
    db.query("DELETE FROM evaluation_outbox")
    # When one copy is evaluated per mentor (the event path) and the other reconciled set-based
    with db.transaction() as tx:
        via_events = {
            (m, b.badge_definition_id, b.level, b.earned_at)
            for m in (org.mentor, org.other_mentor)
            for b in evaluate_mentor(tx, org.id, m, today=NOW.date(), backfill=False)
        }
        tx.query("DELETE FROM event_outbox")
        tx.query("DELETE FROM audit_log")
        tx.query("DELETE FROM honorar_payouts")  # they reference the badges (the milestone pays)
        tx.query("DELETE FROM earned_badges")
    via_reconcile = {
        (b.peer_mentor_id, b.badge_definition_id, b.level, b.earned_at)
        for b in reconcile_org(db, org.id, now=NOW).awarded
    }
    # Then both award exactly the same levels with the same dates
    assert via_events == via_reconcile
    assert len(via_events) > 8
