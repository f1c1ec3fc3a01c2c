"""`make run`'s database-triggered drains: the stand-in invoke notifies, the listener wakes the drain."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localdev.invocations import InvocationListener, dispatcher
from localdev.lambda_runtime import Invoker
from localdev.pg import admin_connection
from localdev.scheduler import DrainLoop, drain_schedule
from peer_badges.db import Database
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import set_events_client
from tests.helpers import add_first_activity_badge, seed_org

NEVER_S = 3600.0  # the safety-net schedule, out of the way: only the database's invocation can drain


class AcceptingBus:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def _eventually(condition: Callable[[], bool], limit_s: float = 20.0) -> bool:
    """Polls until the condition holds; the limit only bounds a failing test, it measures nothing."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def running(db: Database, migrated_url: str) -> Iterator[tuple[DrainLoop, InvocationListener]]:
    schedule = drain_schedule()
    db.query("SELECT configure_lambda_invocation(:f, NULL, true)", f=schedule.function_logical_id)
    set_events_client(AcceptingBus())
    loop = DrainLoop(Invoker(), schedule, interval_s=NEVER_S)
    listener = InvocationListener(
        migrated_url, dispatcher(schedule.function_logical_id, loop.wake, Invoker().invoke)
    )
    loop.start()
    listener.start()
    assert listener.listening.wait(20), "the listener never connected"
    # The loop's first tick, at start, finished: until it has, the drain is using the connection the
    # test is about to write on (a started-but-running tick made pg8000 read another's rows)
    assert _eventually(lambda: loop.completed == 1)
    yield loop, listener
    listener.stop()
    loop.stop()
    set_events_client(None)


def test_an_activity_commit_drains_through_the_database_trigger(
    db: Database, migrated_url: str, running: tuple[DrainLoop, InvocationListener]
) -> None:
    loop, listener = running
    # Given a badge for a first activity, written before the listener ran (the drain loop shares the
    # test's connection, so the test writes nothing while it may drain)
    db.query("SELECT configure_lambda_invocation(:f, NULL, false)", f=drain_schedule().function_logical_id)
    definitions_cache.invalidate()
    org = seed_org(db)
    add_first_activity_badge(db, org.id)
    db.query("UPDATE definition_backfills SET status = 'done', processed_at = now()")  # long since run
    db.query("SELECT configure_lambda_invocation(:f, NULL, true)", f=drain_schedule().function_logical_id)
    # When an activity is committed (the schedule will not fire for an hour) by the app's own connection
    writer = admin_connection(migrated_url)
    try:
        writer.run(
            "INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date)"
            " VALUES (:o, :m, 'visit', '2026-03-02')",
            o=org.id,
            m=org.mentor,
        )
    finally:
        writer.close()
    # Then the database's invocation reaches the listener, which wakes the drain, which awards
    reader = admin_connection(migrated_url)
    try:
        assert _eventually(lambda: reader.run("SELECT count(*) FROM earned_badges") == [[1]])
    finally:
        reader.close()
    assert listener.received == 1
    assert loop.invocations >= 2


def test_other_invocations_run_the_named_function_with_their_payload() -> None:
    woken: list[bool] = []
    invoked: list[tuple[str, dict[str, Any]]] = []
    on_invocation = dispatcher(
        "EvaluateBadgesFunction", lambda: woken.append(True), lambda f, p: invoked.append((f, p))
    )

    on_invocation("EvaluateBadgesFunction", {"action": "drain", "source": "db-nudge"})
    on_invocation("EvaluateBadgesFunction", {"action": "reconcile"})

    assert woken == [True]
    assert invoked == [("EvaluateBadgesFunction", {"action": "reconcile"})]


def test_a_malformed_notification_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    listener = InvocationListener("postgresql://unused", lambda f, p: calls.append(f))

    listener._dispatch("not json")
    listener._dispatch('{"payload": {}}')

    assert calls == [] and listener.received == 2
    assert "malformed invocation" in caplog.text
