"""The database invokes evaluate_badges once per transaction that queues mentors (sql/012).

Here the stand-in `aws_lambda.invoke` (the real extension is RDS-only) turns each invocation into a
NOTIFY on `aws_lambda_invoke`, delivered when the writer commits; these tests listen there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pg8000.native
import pytest

from localdev.pg import admin_connection
from peer_badges.db import Database
from peer_badges.definitions_cache import definitions_cache
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.migrations import migrate
from tests.helpers import Org, add_activity, add_first_activity_badge, seed_org

CHANNEL = "aws_lambda_invoke"
FUNCTION = "EvaluateBadgesFunction"
DRAIN = {"action": "drain", "source": "db-nudge"}


class Listener:
    def __init__(self, url: str) -> None:
        self.conn = admin_connection(url)
        self.conn.run(f"LISTEN {CHANNEL}")

    def received(self) -> list[dict[str, Any]]:
        """Invocations notified so far (a round trip collects what the server sent)."""
        self.conn.run("SELECT 1")
        found = []
        while self.conn.notifications:
            _pid, channel, payload = self.conn.notifications.popleft()
            assert channel == CHANNEL
            found.append(json.loads(payload))
        return found


@pytest.fixture
def listener(db: Database, migrated_url: str) -> Iterator[Listener]:
    db.query("SELECT configure_lambda_invocation(:f, NULL, true)", f=FUNCTION)
    listening = Listener(migrated_url)
    yield listening
    listening.conn.close()


@pytest.fixture
def writer(migrated_url: str) -> Iterator[pg8000.native.Connection]:
    conn = admin_connection(migrated_url)
    yield conn
    conn.close()


def _queue(conn: pg8000.native.Connection, mentors: int = 1) -> None:
    conn.run(
        "INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)"
        " SELECT gen_random_uuid(), gen_random_uuid(), 'test' FROM generate_series(1, :n)",
        n=mentors,
    )


def test_a_transaction_queueing_many_mentors_invokes_once_after_commit(
    listener: Listener, writer: pg8000.native.Connection
) -> None:
    # Given a transaction that queues mentors in three statements, 250 rows in all
    writer.run("BEGIN")
    _queue(writer, 100)
    _queue(writer, 100)
    _queue(writer, 50)
    # Then nothing is invoked before the commit
    assert listener.received() == []
    # When it commits
    writer.run("COMMIT")
    # Then evaluate_badges is invoked exactly once, asynchronously, with the drain job
    assert listener.received() == [
        {
            "function_name": FUNCTION,
            "region": None,
            "invocation_type": "Event",
            "qualifier": None,
            "payload": DRAIN,
        }
    ]


def test_each_transaction_invokes_once(listener: Listener, writer: pg8000.native.Connection) -> None:
    for _ in range(3):
        _queue(writer, 5)  # autocommit: three transactions
    assert [invocation["payload"] for invocation in listener.received()] == [DRAIN] * 3


def test_a_rolled_back_transaction_invokes_nothing_and_a_rolled_back_savepoint_does_not_count(
    listener: Listener, writer: pg8000.native.Connection
) -> None:
    writer.run("BEGIN")
    _queue(writer)
    writer.run("ROLLBACK")
    assert listener.received() == []
    # A savepoint that queued and was rolled back takes its invocation with it; a later queue still invokes.
    writer.run("BEGIN")
    writer.run("SAVEPOINT s")
    _queue(writer)
    writer.run("ROLLBACK TO SAVEPOINT s")
    _queue(writer)
    writer.run("COMMIT")
    assert len(listener.received()) == 1


def test_without_an_enabled_target_nothing_is_invoked(
    db: Database, listener: Listener, writer: pg8000.native.Connection
) -> None:
    db.query("SELECT configure_lambda_invocation(:f, NULL, false)", f=FUNCTION)
    _queue(writer)
    db.query("DELETE FROM lambda_invocation_target")
    _queue(writer)
    assert listener.received() == []


def test_the_drain_does_not_invoke_itself(
    db: Database, listener: Listener, writer: pg8000.native.Connection
) -> None:
    # Given two mentors of an organisation and one of an unknown organisation queued (one invocation)
    org = seed_org(db)
    writer.run(
        "INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)"
        " VALUES (:o, :m, 'test'), (:o, :other, 'test'), (gen_random_uuid(), gen_random_uuid(), 'test')",
        o=org.id,
        m=org.mentor,
        other=org.other_mentor,
    )
    assert len(listener.received()) == 1
    # When a drain claims them, finishes two and fails the third (retried after a backoff)
    drain_outbox(db, datetime.now(UTC))
    # Then the drain's own updates invoke nothing more
    assert listener.received() == []
    statuses = db.query("SELECT status, attempts FROM evaluation_outbox ORDER BY status")
    assert statuses == [{"status": "done", "attempts": 1}] * 2 + [{"status": "pending", "attempts": 1}]


def test_an_operator_retrying_parked_rows_invokes(
    db: Database, listener: Listener, writer: pg8000.native.Connection
) -> None:
    writer.run(
        "INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason, status, parked_at) VALUES "
        "(gen_random_uuid(), gen_random_uuid(), 'test', 'parked', now())"
    )
    assert listener.received() == []
    writer.run(
        "UPDATE evaluation_outbox SET status = 'pending', attempts = 0, available_at = now(), parked_at = NULL"
    )
    assert len(listener.received()) == 1


def test_an_activity_write_invokes_through_the_stats_trigger(db: Database, listener: Listener) -> None:
    org = seed_org(db)
    add_activity(db, org.id, org.mentor, date(2026, 3, 2))
    assert [invocation["payload"] for invocation in listener.received()] == [DRAIN]


@pytest.fixture
def first_badge(db: Database) -> Org:
    definitions_cache.invalidate()
    org = seed_org(db)
    add_first_activity_badge(db, org.id)
    return org


def test_a_drain_that_runs_before_the_writer_commits_finds_nothing_and_changes_nothing(
    db: Database, first_badge: Org, writer: pg8000.native.Connection
) -> None:
    org = first_badge
    # Given an activity written but not committed yet (in AWS the invoke can overtake the commit)
    writer.run("BEGIN")
    writer.run(
        "INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date) VALUES (:o, :m, 'visit', :d)",
        o=org.id,
        m=org.mentor,
        d=date(2026, 3, 2),
    )
    # When the drain runs first
    early = drain_outbox(db, datetime.now(UTC))
    # Then it finds nothing and leaves nothing behind
    assert early.claimed_rows == 0
    assert db.query("SELECT id FROM earned_badges") == []
    # And after the commit the next drain awards as usual
    writer.run("COMMIT")
    late = drain_outbox(db, datetime.now(UTC))
    assert late.claimed_rows == 1 and len(late.awarded) == 1


def test_a_failing_invoke_never_fails_the_writer(
    database_factory: Callable[[], str],
) -> None:
    # Given a database whose aws_lambda.invoke fails (the Lambda API unreachable, say)
    url = database_factory()
    migrate(database_url=url)
    conn = admin_connection(url)
    try:
        conn.run("SELECT configure_lambda_invocation('EvaluateBadgesFunction', NULL, true)")
        conn.run(
            """CREATE OR REPLACE FUNCTION aws_lambda.invoke(
                   IN function_name text, IN payload json, IN region text DEFAULT NULL,
                   IN invocation_type text DEFAULT 'RequestResponse', IN log_type text DEFAULT 'None',
                   IN context json DEFAULT NULL, IN qualifier varchar(128) DEFAULT NULL,
                   OUT status_code int, OUT payload json, OUT executed_version text, OUT log_result text)
               LANGUAGE sql AS $$ SELECT 1 / 0, NULL::json, NULL::text, NULL::text $$"""
        )
        notices: list[Any] = []
        conn.notices = notices  # type: ignore[assignment]
        # When a writer queues a mentor
        _queue(conn)
        # Then its write is committed, with a WARNING instead of an error
        assert conn.run("SELECT count(*) FROM evaluation_outbox") == [[1]]
        assert any("evaluate_badges invocation failed" in str(notice) for notice in conn.notices)
    finally:
        conn.close()


def test_the_stand_in_has_the_rds_signature(db: Database) -> None:
    row = db.query_one(
        "SELECT pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result"
        "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'aws_lambda' AND p.proname = 'invoke'"
    )
    assert row is not None
    assert row["args"] == (
        "function_name text, payload json, region text DEFAULT NULL::text, "
        "invocation_type text DEFAULT 'RequestResponse'::text, log_type text DEFAULT 'None'::text, "
        "context json DEFAULT NULL::json, qualifier character varying DEFAULT NULL::character varying, "
        "OUT status_code integer, OUT payload json, OUT executed_version text, OUT log_result text"
    )
    assert db.query_one("SELECT install_lambda_invoke() AS mode") == {
        "mode": "stand-in (NOTIFY aws_lambda_invoke)"
    }
