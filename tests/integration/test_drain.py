"""Outbox drain mechanics: claims are disjoint, failures retry then park, kills lose nothing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest

from peer_badges.db import Database, Transaction
from peer_badges.drain import MAX_ATTEMPTS, drain, enqueue, parked_count, retry_parked


def _queue(db: Database, org_id: uuid.UUID, mentors: list[uuid.UUID], per_mentor: int = 1) -> None:
    db.query(
        """INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)
           SELECT :org, m, 'activity' FROM unnest(CAST(:mentors AS uuid[])) AS m, generate_series(1, :n)""",
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

    def __call__(self, tx: Transaction, org_id: uuid.UUID, mentor_id: uuid.UUID, backfill: bool) -> list[Any]:
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

    def dies_on_second(tx: Transaction, org_id: uuid.UUID, mentor_id: uuid.UUID, backfill: bool) -> list[Any]:
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
    from tests.helpers import seed_org

    org = seed_org(db)
    queued = enqueue(db, org.id, None, reason="backfill", backfill=True)
    assert queued == 2
    assert enqueue(db, org.id, [org.mentor, org.admin], reason="api", backfill=False) == 1
