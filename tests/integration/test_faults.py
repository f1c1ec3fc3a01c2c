"""Faults: the database going away or stalling, and EventBridge failing, through the real handlers.

What a client must see: a 503 with `Retry-After` and a correlation id it can quote (never a 500),
nothing half-written, and the next request served on a fresh connection. What must never happen:
an award's events lost because the bus was down.

Covered elsewhere, not repeated here: a poison outbox row retried with backoff then parked while
others complete (test_drain.py::test_a_poison_row_is_retried_with_backoff_then_parked_while_others_complete),
a drain killed mid-batch (test_drain.py::test_a_drain_killed_mid_batch_leaves_claimed_rows_for_the_next_run,
test_evaluate.py::test_a_crash_after_awarding_before_marking_done_gives_no_duplicate_and_no_loss),
and the publisher's own retry/backoff (test_events_publisher.py).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.config import Config

from award_badge.handler import lambda_handler as award_badge
from config_crud.handler import lambda_handler as config_crud
from evaluate_badges.handler import lambda_handler as evaluate_badges
from peer_badges import db as db_module
from peer_badges.db import Database, Json, connect, params_from_settings, params_from_url
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import set_events_client
from peer_badges.settings import Settings, get_settings
from tests.helpers import LambdaContext, Org, Reply, add_activity, api_event, invoke, seed_org
from tests.integration.captured_logs import captured_logs

MANUAL = {"type": "manual", "schema_version": 1}
FIRST_ACTIVITY = {"type": "threshold", "schema_version": 1, "threshold": 1}


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingBus:
    """EventBridge that works: accepts every entry and remembers it."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def unreachable_eventbridge() -> Any:
    """A real EventBridge client whose endpoint refuses connections (the bus or the network is down)."""
    return boto3.client(
        "events",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        region_name="eu-north-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )


@pytest.fixture
def bus() -> Iterator[RecordingBus]:
    recording = RecordingBus()
    set_events_client(recording)
    yield recording
    set_events_client(None)


@pytest.fixture
def org(db: Database, bus: RecordingBus) -> Org:
    definitions_cache.invalidate()
    return seed_org(db)


def manual_definition(db: Database, org_id: uuid.UUID) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, 'helping-hand', 'Helping hand', CAST(:c AS jsonb)) RETURNING id""",
        org=org_id,
        c=Json(MANUAL),
    )
    assert row is not None
    return row["id"]


def list_definitions(org: Org) -> dict[str, Any]:
    return api_event("GET", f"/orgs/{org.id}/badge-definitions", sub=org.admin)


def award_event(org: Org, definition_id: uuid.UUID) -> dict[str, Any]:
    return api_event(
        "POST",
        f"/orgs/{org.id}/mentors/{org.mentor}/badges",
        sub=org.coordinator,
        body={"badge_definition_id": str(definition_id)},
    )


def award_rows(db: Database) -> dict[str, int]:
    row = db.query_one(
        """SELECT (SELECT count(*) FROM earned_badges) AS badges, (SELECT count(*) FROM audit_log) AS audit,
                  (SELECT count(*) FROM event_outbox) AS events"""
    )
    assert row is not None
    return dict(row)


def backend_pid(database: Database) -> int:
    row = database.query_one("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


def wait_until_waiting_on_a_lock(observer: Database, pid: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = observer.query_one("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid", pid=pid)
        if row and row["wait_event_type"] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on the lock")


def in_background(handler: Callable[..., Any], event: dict[str, Any]) -> Callable[[], Reply]:
    """Start a request on another thread (as API Gateway would while we break things); join() its reply."""
    result: list[Reply] = []
    thread = threading.Thread(target=lambda: result.append(invoke(handler, event)), daemon=True)
    thread.start()

    def join() -> Reply:
        thread.join(timeout=20)
        assert result, "the request never finished"
        return result[0]

    return join


def assert_retry_later(reply: Reply, event: dict[str, Any]) -> None:
    assert reply.status == 503, reply.body
    assert int(reply.headers["retry-after"]) > 0
    error = reply.body["error"]
    assert error["code"] == "service_unavailable"
    # The id the client can quote is the request's own, the one in every log line of this request.
    assert error["correlation_id"] == event["requestContext"]["requestId"]


# --- the database restarts or goes away ---------------------------------------------------------


def test_a_connection_killed_between_requests_is_replaced_without_the_client_noticing(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given the handlers' connection, killed while idle (as a database restart or failover does)
    pid = backend_pid(db)
    admin = connect_new()
    admin.query("SELECT pg_terminate_backend(:pid)", pid=pid)

    # When the next request comes
    reply = invoke(config_crud, list_definitions(org))

    # Then it is served on a new connection
    assert reply.status == 200, reply.body
    assert backend_pid(db) != pid


def test_a_connection_killed_mid_request_is_a_503_and_the_next_request_reconnects(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a request stuck behind a lock on the membership table
    pid = backend_pid(db)
    locker, observer = connect_new(), connect_new()
    event = list_definitions(org)
    with locker.transaction() as tx:
        tx.execute("LOCK TABLE org_members IN ACCESS EXCLUSIVE MODE")
        join = in_background(config_crud, event)
        wait_until_waiting_on_a_lock(observer, pid)

        # When its database backend is terminated mid-request
        observer.query("SELECT pg_terminate_backend(:pid)", pid=pid)
        reply = join()

    # Then the client is told to retry, with a correlation id to quote
    assert_retry_later(reply, event)
    # ... and the next request reconnects and is served
    again = invoke(config_crud, list_definitions(org))
    assert again.status == 200, again.body


def test_a_connection_killed_mid_transaction_writes_nothing_and_a_retry_awards_once(
    db: Database, org: Org, connect_new: Callable[[], Database], bus: RecordingBus
) -> None:
    # Given a manual award stuck inside its transaction, behind the award key's advisory lock
    definition = manual_definition(db, org.id)
    pid = backend_pid(db)
    locker, observer = connect_new(), connect_new()
    event = award_event(org, definition)
    with locker.transaction() as tx:
        tx.query(
            "SELECT pg_advisory_xact_lock(earned_badge_lock_key(:mentor, :definition, 1))",
            mentor=org.mentor,
            definition=definition,
        )
        join = in_background(award_badge, event)
        wait_until_waiting_on_a_lock(observer, pid)

        # When its backend is terminated mid-transaction
        observer.query("SELECT pg_terminate_backend(:pid)", pid=pid)
        reply = join()

    # Then: 503, and no badge, audit entry or event was left half-written
    assert_retry_later(reply, event)
    assert award_rows(db) == {"badges": 0, "audit": 0, "events": 0}

    # When the client retries
    retry = invoke(award_badge, award_event(org, definition))

    # Then the badge is awarded once, with its one event sent
    assert retry.status == 201, retry.body
    assert award_rows(db) == {"badges": 1, "audit": 1, "events": 1}
    assert [entry["DetailType"] for entry in bus.entries] == ["BadgeAwarded"]


def test_a_database_that_is_down_is_a_503_without_the_password_in_any_log_and_is_used_once_back(
    db: Database, org: Org, migrated_url: str
) -> None:
    # Given a container whose database is down (nothing listens), reached with a password
    password = "S3cret-" + uuid.uuid4().hex
    down_url = f"postgresql://peer_badges_app:{password}@127.0.0.1:{closed_port()}/peer_badges"
    target = {"url": down_url}
    settings = Settings(database_url=migrated_url, db_connect_timeout_s=2)
    container = Database(lambda: connect(params_from_url(target["url"]), settings))
    db_module.set_database(container)
    event = list_definitions(org)

    # When a request comes
    with captured_logs() as logs:
        reply = invoke(config_crud, event)

    # Then: 503 with Retry-After and the correlation id, and no log line carries the password
    assert_retry_later(reply, event)
    assert "database unavailable" in logs.getvalue() or "service unavailable" in logs.getvalue()
    assert "Connection refused" in logs.getvalue()  # the cause is there for the operator ...
    assert password not in logs.getvalue()  # ... but not the secret

    # When the database is back, the same container's next request connects and is served
    target["url"] = migrated_url
    assert invoke(config_crud, list_definitions(org)).status == 200


# --- the database is too slow ---------------------------------------------------------------------


@pytest.fixture
def impatient_db(db: Database, migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The handlers' database with DB_STATEMENT_TIMEOUT_MS at its minimum (100 ms)."""
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "100")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.db_statement_timeout_ms == 100
    impatient = Database(lambda: connect(params_from_settings(settings), settings))
    db_module.set_database(impatient)
    yield impatient
    db_module.set_database(db)
    get_settings.cache_clear()


def test_a_read_over_the_statement_timeout_is_a_503_not_a_500(
    db: Database, org: Org, impatient_db: Database, connect_new: Callable[[], Database]
) -> None:
    # Given the membership table locked by a long-running writer
    locker = connect_new()
    event = list_definitions(org)
    with locker.transaction() as tx:
        tx.execute("LOCK TABLE org_members IN ACCESS EXCLUSIVE MODE")

        # When a request needs it
        started = time.monotonic()
        reply = invoke(config_crud, event)
        elapsed = time.monotonic() - started

    # Then it gives up after the statement timeout with a 503 the client can retry
    assert_retry_later(reply, event)
    assert elapsed < 2
    # ... and once the lock is gone the same container serves requests again
    assert invoke(config_crud, list_definitions(org)).status == 200


def test_a_write_over_the_statement_timeout_is_a_503_and_writes_nothing(
    db: Database, org: Org, impatient_db: Database, connect_new: Callable[[], Database]
) -> None:
    # Given an award whose key is held by another transaction for longer than the timeout
    definition = manual_definition(db, org.id)
    locker = connect_new()
    event = award_event(org, definition)
    with locker.transaction() as tx:
        tx.query(
            "SELECT pg_advisory_xact_lock(earned_badge_lock_key(:mentor, :definition, 1))",
            mentor=org.mentor,
            definition=definition,
        )
        reply = invoke(award_badge, event)

    # Then: 503, nothing written; the retry awards
    assert_retry_later(reply, event)
    assert award_rows(db) == {"badges": 0, "audit": 0, "events": 0}
    assert invoke(award_badge, award_event(org, definition)).status == 201


# --- EventBridge fails ---------------------------------------------------------------------------------


def _org_with_first_activity_badge(db: Database, mentors: int) -> tuple[Org, list[uuid.UUID]]:
    org = seed_org(db)
    db.query(
        # Defined long ago, so crossing it now is news (BadgeAwarded, backfill false).
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
           VALUES (:o, 'first', 'First activity', CAST(:c AS jsonb), '2020-01-01Z', '2020-01-01Z')""",
        o=org.id,
        c=Json(FIRST_ACTIVITY),
    )
    extra = [uuid.uuid4() for _ in range(mentors - 2)]
    for mentor in extra:
        db.query("INSERT INTO org_members VALUES (:o, :m, 'peer_mentor')", o=org.id, m=mentor)
    everyone = [org.mentor, org.other_mentor, *extra]
    for mentor in everyone:
        add_activity(db, org.id, mentor, date(2026, 11, 2))
    return org, everyone


def _unpublished(db: Database) -> list[dict[str, Any]]:
    return db.query(
        "SELECT earned_badge_id, attempts, last_error FROM event_outbox WHERE published_at IS NULL ORDER BY id"
    )


def _make_due(db: Database) -> None:
    # The backoff elapsing, without waiting for it.
    db.query("UPDATE event_outbox SET available_at = now() WHERE published_at IS NULL")


def test_the_drain_job_with_eventbridge_down_awards_keeps_the_events_and_sends_each_once_later(
    db: Database,
) -> None:
    # Given five mentors who each just earned a badge, and EventBridge unreachable
    definitions_cache.invalidate()
    _, mentors = _org_with_first_activity_badge(db, mentors=5)
    set_events_client(unreachable_eventbridge())
    try:
        # When the scheduled drain runs
        summary = evaluate_badges({"action": "drain"}, LambdaContext())
    finally:
        set_events_client(None)

    # Then the awards are committed and the job succeeds (no Lambda retry storm) ...
    assert summary["awarded"] == 5 and summary["events_sent"] == 0 and summary["events_failed"] == 5
    # ... and every event waits in the outbox with the reason and a backoff
    waiting = _unpublished(db)
    assert len(waiting) == 5
    assert all(row["attempts"] == 1 and "EndpointConnectionError" in row["last_error"] for row in waiting)

    # When EventBridge is back and the backoff has passed, the next drains run
    bus = RecordingBus()
    set_events_client(bus)
    try:
        _make_due(db)
        later = evaluate_badges({"action": "drain"}, LambdaContext())
        again = evaluate_badges({"action": "drain"}, LambdaContext())
    finally:
        set_events_client(None)

    # Then each award's event is sent exactly once, none lost, none repeated
    assert later["events_sent"] == 5 and again["events_sent"] == 0
    assert _unpublished(db) == []
    sent = sorted(entry["Detail"] for entry in bus.entries)
    assert len(sent) == len(set(sent)) == 5
    assert {str(m) for m in mentors} == {
        row["peer_mentor_id"] for row in db.query("SELECT peer_mentor_id::text FROM earned_badges")
    }


def test_an_admin_evaluation_with_eventbridge_down_answers_200_and_the_drain_sends_the_events(
    db: Database,
) -> None:
    # Given three mentors due a badge, and EventBridge unreachable
    definitions_cache.invalidate()
    org, _ = _org_with_first_activity_badge(db, mentors=3)
    db.query("UPDATE evaluation_outbox SET status = 'done'")  # only the admin's request evaluates
    set_events_client(unreachable_eventbridge())
    try:
        # When an admin re-evaluates the organisation
        reply = invoke(
            evaluate_badges, api_event("POST", f"/orgs/{org.id}/evaluations", sub=org.admin, body={})
        )
    finally:
        set_events_client(None)

    # Then the request succeeds with the awards, and their events wait in the outbox
    assert reply.status == 200, reply.body
    assert len(reply.body["awarded"]) == 3
    assert len(_unpublished(db)) == 3

    # When the drain runs with EventBridge back
    bus = RecordingBus()
    set_events_client(bus)
    try:
        _make_due(db)
        summary = evaluate_badges({"action": "drain"}, LambdaContext())
    finally:
        set_events_client(None)

    # Then the three events are sent, once each
    assert summary["events_sent"] == 3
    assert len({entry["Detail"] for entry in bus.entries}) == len(bus.entries) == 3
    assert _unpublished(db) == []
