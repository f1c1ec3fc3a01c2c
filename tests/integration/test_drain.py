"""Outbox mechanics (peer_badges.outbox, both queues) and the evaluation drain: claims are disjoint,
failures back off then park, the operator retry brings both kinds back, kills lose nothing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest

from peer_badges import outbox
from peer_badges.db import Database, Transaction
from peer_badges.drain import MAX_ATTEMPTS, drain, enqueue, parked_count, retry_parked
from peer_badges.events import publish_pending
from peer_badges.outbox import POLICY, Outbox
from tests.aws import ThrottledClient
from tests.helpers import award_many, seed_org


def _queue(db: Database, org_id: uuid.UUID, mentors: list[uuid.UUID], per_mentor: int = 1) -> None:
    """Rows as the outbox can hold them: one waiting row per mentor, and the rest rows an earlier
    attempt left pending (sql/018 keeps at most one untried row per mentor and kind)."""
    db.query(
        """INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason, last_error)
           SELECT :org, m, 'activity', CASE WHEN g > 1 THEN 'an earlier attempt failed' END
             FROM unnest(CAST(:mentors AS uuid[])) AS m, generate_series(1, :n) AS g""",
        org=org_id,
        mentors=mentors,
        n=per_mentor,
    )


def _statuses(db: Database) -> Counter[str]:
    return Counter(
        {
            r["status"]: r["n"]
            for r in db.query("SELECT status, count(*) AS n FROM evaluation_outbox GROUP BY 1")
        }
    )


def _make_due(db: Database) -> None:
    db.query("UPDATE evaluation_outbox SET available_at = now() WHERE status = 'pending'")


class Recorder:
    def __init__(self, poison: set[uuid.UUID] | None = None) -> None:
        self.calls: list[uuid.UUID] = []
        self.poison = poison or set()
        self.lock = threading.Lock()

    def __call__(self, tx: Transaction, org_id: uuid.UUID, mentor_id: uuid.UUID) -> list[Any]:
        with self.lock:
            self.calls.append(mentor_id)
        if mentor_id in self.poison:
            raise ValueError("criteria snapshot cannot be evaluated")
        tx.query("SELECT 1")
        return []


def test_rows_of_one_mentor_are_coalesced_and_marked_done(db: Database) -> None:
    # Given three queued rows for each of two mentors
    org, mentors = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    _queue(db, org, mentors, per_mentor=3)
    recorder = Recorder()
    # When the outbox is drained
    report = drain(db, recorder)
    # Then each mentor is evaluated once and every row is done
    assert sorted(recorder.calls) == sorted(mentors)
    assert report.claimed_rows == 6 and report.mentors == 2 and report.succeeded == 2
    assert _statuses(db) == Counter({"done": 6})


def test_a_poison_row_is_retried_with_backoff_then_parked_while_others_complete(db: Database) -> None:
    # Given a batch where one mentor's evaluation always fails
    org = uuid.uuid4()
    healthy = [uuid.uuid4() for _ in range(5)]
    poison = uuid.uuid4()
    _queue(db, org, [*healthy[:2], poison, *healthy[2:]])
    recorder = Recorder(poison={poison})
    # When drained once
    report = drain(db, recorder)
    # Then the others are done, and the poison row waits for a retry with its error recorded
    assert report.succeeded == 5 and report.retried == 1
    row = db.query_one(
        "SELECT status, attempts, last_error, available_at > now() AS later FROM evaluation_outbox WHERE peer_mentor_id = :m",
        m=poison,
    )
    assert row == {"status": "pending", "attempts": 1, "last_error": row["last_error"], "later": True}
    assert "criteria snapshot cannot be evaluated" in row["last_error"]
    # And an immediate re-drain does not touch it (backoff)
    assert drain(db, recorder).claimed_rows == 0
    # When it keeps failing until the attempt limit
    for _ in range(MAX_ATTEMPTS - 1):
        _make_due(db)
        drain(db, recorder)
    # Then it is parked, visible and countable, and no longer claimed
    assert parked_count(db) == 1 and parked_count(db, org) == 1
    _make_due(db)
    assert drain(db, recorder).claimed_rows == 0
    assert recorder.calls.count(poison) == MAX_ATTEMPTS
    # And an operator can give it another round
    assert retry_parked(db, org) == 1
    assert drain(db, Recorder()).succeeded == 1
    assert _statuses(db) == Counter({"done": 6})


def test_the_backoff_doubles_per_failed_attempt_within_its_jitter(db: Database) -> None:
    # Given a mentor whose evaluation always fails
    poison = uuid.uuid4()
    _queue(db, uuid.uuid4(), [poison])
    recorder = Recorder(poison={poison})
    waits = []
    # When it fails four times, each time after its backoff has passed
    for attempt in range(1, 5):
        drain(db, recorder)
        row = db.query_one(
            "SELECT attempts, extract(epoch FROM available_at - now())::float8 AS wait_s FROM evaluation_outbox"
        )
        assert row is not None and row["attempts"] == attempt
        waits.append(row["wait_s"])
        _make_due(db)
    # Then each wait is base * 2^(attempt - 1), +-25 %: 30 s, 1, 2, 4 min (the windows never overlap)
    for attempt, wait in enumerate(waits, start=1):
        middle = POLICY.backoff(attempt).total_seconds()
        assert middle * (1 - POLICY.jitter) - 1 <= wait <= middle * (1 + POLICY.jitter)
    assert waits == sorted(waits)
    assert POLICY.backoff(30) == POLICY.max_backoff


class AcceptingClient:
    """EventBridge accepting every entry."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def test_the_operator_retry_brings_back_both_kinds_of_parked_rows(db: Database) -> None:
    # Given, in one org, a parked evaluation row and a parked event, and another org's parked row
    org = seed_org(db)
    poison, elsewhere = uuid.uuid4(), uuid.uuid4()
    _queue(db, org.id, [poison])
    _queue(db, uuid.uuid4(), [elsewhere])
    [badge] = award_many(db, org, 1)
    for _ in range(MAX_ATTEMPTS):
        drain(db, Recorder(poison={poison, elsewhere}))
        publish_pending(db, ThrottledClient(), "bus")
        _make_due(db)
        db.query("UPDATE event_outbox SET available_at = now() WHERE status = 'pending'")
    assert outbox.parked_counts(db, org.id) == {"evaluation": 1, "event": 1, "definition_backfill": 0}
    assert outbox.parked_counts(db) == {"evaluation": 2, "event": 1, "definition_backfill": 0}
    # When the operator retries that org's parked rows
    assert outbox.retry_parked(db, org.id) == {"evaluation": 1, "event": 1, "definition_backfill": 0}
    # Then both come back with a fresh set of attempts, due now, and complete
    rows = db.query(
        "SELECT status, attempts, parked_at FROM event_outbox"
        " UNION ALL SELECT status, attempts, parked_at FROM evaluation_outbox WHERE peer_mentor_id = :m",
        m=poison,
    )
    assert rows == [{"status": "pending", "attempts": 0, "parked_at": None}] * 2
    recorder = Recorder()
    assert drain(db, recorder).succeeded == 1 and recorder.calls == [poison]
    assert publish_pending(db, AcceptingClient(), "bus").sent == 1
    assert db.query_one("SELECT status FROM event_outbox WHERE earned_badge_id = :b", b=badge.id) == {
        "status": "done"
    }
    # And the other org's row stays parked until someone retries everything
    assert outbox.parked_counts(db) == {"evaluation": 1, "event": 0, "definition_backfill": 0}
    assert outbox.retry_parked(db) == {"evaluation": 1, "event": 0, "definition_backfill": 0}


def test_an_unknown_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outbox"):
        Outbox("evaluation_outbox; DROP TABLE activities")  # type: ignore[arg-type]


@pytest.mark.parametrize("queue", ["evaluation", "event"])
def test_parallel_claimers_take_disjoint_rows_of_either_outbox(
    db: Database, connect_new: Any, queue: outbox.QueueName
) -> None:
    # Given 60 due rows in the outbox
    if queue == "evaluation":
        _queue(db, uuid.uuid4(), [uuid.uuid4() for _ in range(60)])
    else:
        award_many(db, seed_org(db), 60)
    box = Outbox(queue)
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def run(connection: Database) -> None:
        barrier.wait(timeout=10)
        while rows := box.claim(connection, 7):
            claimed.append([row["id"] for row in rows])

    # When four claimers on their own connections claim in small batches at once
    threads = [threading.Thread(target=run, args=(connect_new(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then every row was claimed exactly once, with one attempt counted
    ids = [row_id for batch in claimed for row_id in batch]
    assert len(ids) == 60 and len(set(ids)) == 60
    table = {"evaluation": "evaluation_outbox", "event": "event_outbox"}[queue]
    assert db.query(f"SELECT attempts, count(*) AS n FROM {table} GROUP BY 1") == [{"attempts": 1, "n": 60}]


def test_parallel_drains_claim_disjoint_rows(db: Database, connect_new: Any) -> None:
    # Given 1,000 outbox rows for 250 mentors
    org = uuid.uuid4()
    mentors = [uuid.uuid4() for _ in range(250)]
    _queue(db, org, mentors, per_mentor=4)
    recorder = Recorder()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        own = connect_new()
        barrier.wait()
        try:
            drain(own, recorder, batch_size=50)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every row was claimed exactly once and is done
    assert errors == []
    assert _statuses(db) == Counter({"done": 1000})
    attempts = db.query("SELECT attempts, count(*) AS n FROM evaluation_outbox GROUP BY 1")
    assert attempts == [{"attempts": 1, "n": 1000}]
    assert set(recorder.calls) == set(mentors)


class Killed(BaseException):
    """Stands in for the Lambda runtime killing the process mid-batch."""


def test_a_drain_killed_mid_batch_leaves_claimed_rows_for_the_next_run(db: Database) -> None:
    # Given two mentors queued, and a drain that dies while evaluating the second
    org, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _queue(db, org, [first, second])

    def dies_on_second(tx: Transaction, org_id: uuid.UUID, mentor_id: uuid.UUID) -> list[Any]:
        if mentor_id == second:
            raise Killed()
        return []

    with pytest.raises(Killed):
        drain(db, dies_on_second)
    # Then the first mentor's row is done, the second's is still pending under its lease
    rows = {
        r["peer_mentor_id"]: r["status"]
        for r in db.query("SELECT peer_mentor_id, status FROM evaluation_outbox")
    }
    assert rows == {first: "done", second: "pending"}
    assert drain(db, Recorder()).claimed_rows == 0
    # When the lease runs out, the next drain finishes the job
    _make_due(db)
    recorder = Recorder()
    assert drain(db, recorder).succeeded == 1
    assert recorder.calls == [second]


def test_enqueue_queues_only_the_orgs_peer_mentors(db: Database) -> None:
    org = seed_org(db)
    queued = enqueue(db, org.id, None, reason="backfill", backfill=True)
    assert queued == 2
    assert enqueue(db, org.id, [org.mentor, org.admin], reason="api", backfill=False) == 1
