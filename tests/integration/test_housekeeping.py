"""Outbox housekeeping: future-dated activities re-queued on their date, finished rows purged, health."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from evaluate_badges.handler import lambda_handler
from peer_badges.db import Database
from peer_badges.definitions_cache import definitions_cache
from peer_badges.housekeeping import enqueue_due_evaluations, outbox_health, purge_finished
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.outbox import parked_counts
from tests.helpers import LambdaContext, Org, add_activity, add_first_activity_badge, seed_org

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "evaluate_badges" / "schedule-housekeeping.json"


def _today(zone: str) -> datetime:
    return datetime.now(ZoneInfo(zone))


@pytest.fixture
def org(db: Database) -> Org:
    definitions_cache.invalidate()
    org = seed_org(db)
    add_first_activity_badge(db, org.id)
    return org


def _scheduled(db: Database) -> list[tuple[object, object]]:
    return [
        (r["peer_mentor_id"], r["due_on"])
        for r in db.query("SELECT * FROM scheduled_evaluations ORDER BY due_on")
    ]


def test_only_approved_activities_dated_after_the_orgs_today_are_scheduled(db: Database, org: Org) -> None:
    today = _today(org.timezone).date()
    add_activity(db, org.id, org.mentor, today)
    add_activity(db, org.id, org.mentor, today - timedelta(days=3))
    add_activity(db, org.id, org.other_mentor, today + timedelta(days=2), status="pending")
    add_activity(db, org.id, org.mentor, today + timedelta(days=1))
    add_activity(
        db, org.id, org.mentor, today + timedelta(days=1), activity_type="visit"
    )  # same day: one row

    assert _scheduled(db) == [(org.mentor, today + timedelta(days=1))]


def test_an_activity_moved_into_the_future_or_approved_later_is_scheduled(db: Database, org: Org) -> None:
    today = _today(org.timezone).date()
    activity = add_activity(db, org.id, org.mentor, today - timedelta(days=1), status="pending")
    db.query(
        "UPDATE activities SET activity_date = :d, status = 'approved' WHERE id = :id",
        d=today + timedelta(days=5),
        id=activity,
    )
    assert _scheduled(db) == [(org.mentor, today + timedelta(days=5))]


def test_the_organisations_timezone_decides_what_is_future(db: Database) -> None:
    # Kiritimati (UTC+14) is always a calendar day ahead of Honolulu (UTC-10).
    east, west = seed_org(db, "east", "Pacific/Kiritimati"), seed_org(db, "west", "Pacific/Honolulu")
    east_today = _today(east.timezone).date()
    add_activity(db, east.id, east.mentor, east_today)
    add_activity(db, west.id, west.mentor, east_today)

    assert _scheduled(db) == [(west.mentor, east_today)]


def test_a_future_activity_is_evaluated_live_on_its_date_and_only_then(db: Database, org: Org) -> None:
    # Given a mentor's first activity, dated tomorrow; the write's own evaluation awards nothing yet
    now = datetime.now(UTC)
    tomorrow = _today(org.timezone).date() + timedelta(days=1)
    add_activity(db, org.id, org.mentor, tomorrow)
    assert drain_outbox(db, now).awarded == []
    # When the hourly job runs today, nothing is due
    assert enqueue_due_evaluations(db) == 0
    # And when tomorrow comes (the row's date moved back a day stands in for the clock), it queues the mentor
    db.query("UPDATE scheduled_evaluations SET due_on = due_on - 1")
    assert enqueue_due_evaluations(db) == 1
    assert enqueue_due_evaluations(db) == 0  # taken once
    assert _scheduled(db) == []
    # Then the drain on that day awards, as a live award (the write came after the definition)
    report = drain_outbox(db, now + timedelta(days=1))
    assert len(report.awarded) == 1
    badge = db.query_one("SELECT source, earned_at FROM earned_badges")
    assert badge == {"source": "evaluation", "earned_at": tomorrow}
    row = db.query_one(
        "SELECT reason, backfill FROM evaluation_outbox WHERE reason = 'activity_date_arrived'"
    )
    assert row == {"reason": "activity_date_arrived", "backfill": False}


def _finished_rows(db: Database, org: Org) -> None:
    """Done/parked/pending evaluation rows and published/unpublished events, old and recent."""
    for status, processed in [
        ("done", "40 days"),
        ("done", "1 day"),
        ("parked", "40 days"),
        ("pending", None),
    ]:
        db.query(
            """INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason, status, processed_at, parked_at,
                                               created_at)
               VALUES (:o, :m, 'test', :s, CASE WHEN :s = 'done' THEN now() - CAST(:p AS interval) END,
                       CASE WHEN :s = 'parked' THEN now() - CAST(:p AS interval) END, now() - interval '41 days')""",
            o=org.id,
            m=org.mentor,
            s=status,
            p=processed,
        )
    badge = db.query_one(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                                      definition_revision, criteria_snapshot)
           SELECT org_id, :m, id, 1, current_date, 'manual', 1, criteria FROM badge_definitions WHERE org_id = :o
           RETURNING id""",
        o=org.id,
        m=org.mentor,
    )
    assert badge is not None
    for detail_type, published in [("BadgeAwarded", "40 days"), ("HonorarMilestoneReached", None)]:
        db.query(
            """INSERT INTO event_outbox (earned_badge_id, detail_type, detail, status, published_at, created_at,
                                          attempts)
               VALUES (:b, :t, '{}', CASE WHEN CAST(:p AS interval) IS NULL THEN 'pending' ELSE 'done' END,
                       now() - CAST(:p AS interval), now() - interval '2 hours', 4)""",
            b=badge["id"],
            t=detail_type,
            p=published,
        )


def test_only_finished_rows_older_than_the_retention_are_purged(db: Database, org: Org) -> None:
    _finished_rows(db, org)

    report = purge_finished(db, timedelta(days=14), batch=1)  # batch 1: the loop takes several rounds

    assert (report.evaluation_rows, report.event_rows) == (1, 1)
    left = db.query(
        "SELECT status, coalesce(processed_at, parked_at) > now() - interval '2 days' AS recent"
        " FROM evaluation_outbox ORDER BY id"
    )
    assert left == [
        {"status": "done", "recent": True},
        {"status": "parked", "recent": False},
        {"status": "pending", "recent": None},
    ]
    assert db.query("SELECT detail_type FROM event_outbox") == [{"detail_type": "HonorarMilestoneReached"}]
    assert purge_finished(db, timedelta(days=14)) == type(report)(0, 0)  # safe to run again


def test_a_retention_under_an_hour_is_refused(db: Database) -> None:
    with pytest.raises(Exception, match="retention must be at least an hour"):
        purge_finished(db, timedelta(minutes=5))


def test_health_reports_the_oldest_waiting_rows_and_parked_rows_are_counted_per_queue(
    db: Database, org: Org
) -> None:
    assert outbox_health(db) == type(outbox_health(db))(0.0, 0.0, 0)
    _finished_rows(db, org)

    health = outbox_health(db)

    assert parked_counts(db)["evaluation"] == 1
    assert 41 * 86400 - 60 < health.evaluation_oldest_pending_s < 41 * 86400 + 60
    assert 7200 - 60 < health.event_oldest_pending_s < 7200 + 60
    assert health.events_retrying == 1


def test_the_scheduled_housekeeping_job_re_queues_and_purges(
    db: Database, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOX_RETENTION_DAYS", "30")
    from peer_badges.settings import get_settings

    get_settings.cache_clear()
    _finished_rows(db, org)
    add_activity(db, org.id, org.other_mentor, _today(org.timezone).date() + timedelta(days=1))
    db.query("UPDATE scheduled_evaluations SET due_on = due_on - 1")

    summary = lambda_handler(json.loads(SAMPLE.read_text()), LambdaContext())

    assert summary == {
        "action": "housekeeping",
        "requeued_mentors": 1,
        "purged_evaluation_rows": 1,
        "purged_event_rows": 1,
    }
