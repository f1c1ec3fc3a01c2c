"""At most one waiting evaluation per mentor and kind (sql/018), and no write is ever lost to it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from peer_badges.db import Database, Json
from peer_badges.definitions_cache import definitions_cache
from peer_badges.drain import enqueue
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.outbox import EVALUATIONS
from tests.helpers import add_activity, seed_org

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def waiting(db: Database) -> list[dict[str, object]]:
    return db.query(
        """SELECT peer_mentor_id, backfill, count(*) AS n FROM evaluation_outbox
            WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL
            GROUP BY 1, 2 ORDER BY 1, 2"""
    )


def test_a_hot_mentors_writes_share_one_waiting_row_per_kind(db: Database) -> None:
    org = seed_org(db)
    for day in range(30):
        add_activity(db, org.id, org.mentor, date(2026, 10, 1) + timedelta(days=day))
    enqueue(db, org.id, [org.mentor], "api", backfill=True)
    enqueue(db, org.id, [org.mentor], "api", backfill=True)
    assert waiting(db) == [
        {"peer_mentor_id": org.mentor, "backfill": False, "n": 1},
        {"peer_mentor_id": org.mentor, "backfill": True, "n": 1},
    ]


def test_a_write_while_the_mentor_is_being_evaluated_queues_a_new_row(db: Database) -> None:
    # Given a mentor's waiting row, claimed by a drain (its evaluation has not read anything yet)
    org = seed_org(db)
    add_activity(db, org.id, org.mentor, date(2026, 10, 1))
    [claimed] = EVALUATIONS.claim(db, 10)
    # When another activity is written meanwhile
    add_activity(db, org.id, org.mentor, date(2026, 10, 2))
    # Then it waits in a row of its own: the claimed evaluation may have missed it, the next will not
    rows = db.query("SELECT id, attempts FROM evaluation_outbox WHERE status = 'pending' ORDER BY id")
    assert (rows[0]["id"], rows[0]["attempts"]) == (claimed["id"], 1)
    assert [r["attempts"] for r in rows] == [1, 0]


def test_concurrent_writers_of_one_mentor_never_fail_and_leave_one_waiting_row(
    db: Database, connect_new: Callable[[], Database]
) -> None:
    org = seed_org(db)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(offset: int) -> None:
        own = connect_new()
        barrier.wait()
        try:
            for day in range(15):
                add_activity(own, org.id, org.mentor, date(2026, 1, 1) + timedelta(days=offset * 20 + day))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert waiting(db) == [{"peer_mentor_id": org.mentor, "backfill": False, "n": 1}]
    assert db.query_one("SELECT total_count FROM mentor_stats WHERE peer_mentor_id = :m", m=org.mentor) == {
        "total_count": 60
    }


def test_a_write_joining_a_waiting_row_still_counts_as_live(db: Database) -> None:
    # Given a mentor whose row has waited since before a definition was created
    definitions_cache.invalidate()
    org = seed_org(db)
    add_activity(db, org.id, org.mentor, date(2026, 10, 1))
    db.query(
        "UPDATE evaluation_outbox SET created_at = created_at - interval '1 hour', last_queued_at = "
        "last_queued_at - interval '1 hour'"
    )
    db.query(
        "INSERT INTO badge_definitions (org_id, key, name, criteria) VALUES (:o, 'two', 'Two', CAST(:c AS jsonb))",
        o=org.id,
        c=Json({"type": "threshold", "schema_version": 1, "threshold": 2}),
    )
    db.query("UPDATE definition_backfills SET status = 'done', processed_at = now()")
    # When the mentor's second activity (after the definition existed) joins that waiting row
    add_activity(db, org.id, org.mentor, date(2026, 10, 2))
    assert len(waiting(db)) == 1
    drain_outbox(db, NOW)
    # Then the award it caused is live
    assert db.query("SELECT source FROM earned_badges") == [{"source": "evaluation"}]
