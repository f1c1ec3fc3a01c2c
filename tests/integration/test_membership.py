"""Membership decides who earns (SPEC 8.5): someone who left earns nothing new on any path; what they
earned stays; a mentor who rejoins is evaluated again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from peer_badges.criteria.registry import parse_criteria
from peer_badges.db import Database, Json
from peer_badges.definitions_cache import definitions_cache
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.preview import preview
from peer_badges.reconcile import reconcile_org
from tests.helpers import Org, add_activity, seed_org

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRST = {"type": "threshold", "schema_version": 1, "threshold": 1}


@pytest.fixture
def org(db: Database) -> Org:
    definitions_cache.invalidate()
    org = seed_org(db)
    db.query(
        "INSERT INTO badge_definitions (org_id, key, name, criteria) VALUES (:o, 'first', 'First', CAST(:c AS jsonb))",
        o=org.id,
        c=Json(FIRST),
    )
    drain_outbox(db, NOW)  # the definition's backfill and the seeded members' evaluations: nothing yet
    return org


def leave(db: Database, org: Org) -> None:
    db.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :u", o=org.id, u=org.mentor)


def awards(db: Database, org: Org) -> list[tuple[object, str]]:
    rows = db.query(
        "SELECT peer_mentor_id, source FROM earned_badges WHERE org_id = :o ORDER BY peer_mentor_id", o=org.id
    )
    return [(r["peer_mentor_id"], r["source"]) for r in rows]


def test_someone_who_left_earns_nothing_new_on_the_event_path(db: Database, org: Org) -> None:
    leave(db, org)
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))  # the app still writes their history
    drain_outbox(db, NOW)
    assert awards(db, org) == []


def test_someone_who_left_earns_nothing_from_reconcile_or_a_whole_org_backfill(
    db: Database, org: Org
) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 2))
    db.query("UPDATE evaluation_outbox SET status = 'done'")  # as if the drain had missed them
    leave(db, org)
    report = reconcile_org(db, org.id, now=NOW)
    assert [b.peer_mentor_id for b in report.awarded] == [org.other_mentor]
    # ... and preview counts only current peer mentors
    shown = preview(db, org.id, parse_criteria(FIRST), today=date(2026, 11, 20))
    assert (shown.qualifying, shown.evaluated, shown.sample) == (1, 1, (org.other_mentor,))


def test_what_was_earned_stays_after_leaving(db: Database, org: Org) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    drain_outbox(db, NOW)
    leave(db, org)
    reconcile_org(db, org.id, now=NOW)
    assert awards(db, org) == [(org.mentor, "evaluation")]


def test_a_mentor_who_rejoins_is_evaluated_again_quietly(db: Database, org: Org) -> None:
    leave(db, org)
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    drain_outbox(db, NOW)
    assert awards(db, org) == []
    db.query(
        "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :u, 'peer_mentor')",
        o=org.id,
        u=org.mentor,
    )
    drain_outbox(db, NOW)
    assert awards(db, org) == [(org.mentor, "backfill")]
