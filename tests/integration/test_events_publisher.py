"""The event publisher: every new award reaches EventBridge once, after commit, retried (or parked for an
operator after the outbox policy's attempt limit).

EventBridge is moto's, with a rule routing source `peer-badges` to an SQS queue, so the tests count
what a subscriber would actually receive.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoRegionError
from botocore.stub import Stubber

from peer_badges import events
from peer_badges.db import Database
from peer_badges.events import PublishReport, publish_after_commit, publish_pending, without_free_text
from peer_badges.models.awards import BadgeAwardedEvent
from peer_badges.outbox import POLICY
from tests.aws import Bus, ThrottledClient, moto_event_bus
from tests.helpers import Org, award_many, seed_org

BUS = "peer-badges-test"
MILESTONE = {"type": "milestone", "schema_version": 1, "thresholds": [3, 15], "payable": True}
MAX_ATTEMPTS = POLICY.max_attempts


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    with moto_event_bus(monkeypatch, BUS) as bus:
        yield bus


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def outbox(db: Database) -> list[dict[str, Any]]:
    return db.query(
        """SELECT id, earned_badge_id, detail_type, attempts, last_error, published_at,
                  extract(epoch FROM available_at - now())::float8 AS due_in_s
             FROM event_outbox ORDER BY id"""
    )


def make_all_due(db: Database) -> None:
    """Time passes: every backoff and lease has run out."""
    db.query("UPDATE event_outbox SET available_at = now() WHERE published_at IS NULL")


class CountingClient:
    """The real (moto) client, recording each PutEvents call's entries."""

    def __init__(self, real: Any, fail_on_call: int | None = None) -> None:
        self.real = real
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_on_call = fail_on_call

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.fail_on_call == len(self.calls):
            raise RuntimeError("container frozen mid-publish")
        return self.real.put_events(Entries=Entries)


class RejectingClient:
    """EventBridge accepting every entry except those for some badges (FailedEntryCount > 0)."""

    def __init__(self, real: Any, reject: set[uuid.UUID]) -> None:
        self.real, self.reject = real, {str(badge_id) for badge_id in reject}

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        rejected = [json.loads(e["Detail"])["idempotency_key"] in self.reject for e in Entries]
        to_send = [e for e, r in zip(Entries, rejected, strict=True) if not r]
        accepted = iter(self.real.put_events(Entries=to_send)["Entries"] if to_send else [])
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"} if r else next(accepted)
            for r in rejected
        ]
        return {"FailedEntryCount": sum(rejected), "Entries": results}


# --- crash between commit and publish --------------------------------------------------------


def test_a_crash_after_commit_and_before_publish_loses_nothing_and_duplicates_nothing(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given awards that committed, and then the process died before publishing (nothing was sent)
    [plain] = award_many(db, org, 1)
    [payable] = award_many(db, org, 1, MILESTONE)
    assert bus.messages() == []
    # When a later drain publishes what is pending
    report = publish_pending(db, bus.client, BUS)
    # Then each event reaches the subscriber once, with the badge as detail and its id as the key
    assert report == PublishReport(sent=3, failed=0)
    assert bus.keys() == Counter(
        {
            ("BadgeAwarded", str(plain.id)): 1,
            ("BadgeAwarded", str(payable.id)): 1,
            ("HonorarMilestoneReached", str(payable.id)): 1,
        }
    )
    delivered = next(m for m in bus.messages() if m["detail"]["id"] == str(plain.id))
    assert delivered["source"] == "peer-badges"
    assert BadgeAwardedEvent.model_validate(delivered["detail"]) == BadgeAwardedEvent.of(
        plain, backfill=False, payable=False
    )
    assert all(row["published_at"] is not None for row in outbox(db))
    # And draining again (and again after every backoff would have passed) sends nothing more
    make_all_due(db)
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=0, failed=0)
    assert sum(bus.keys().values()) == 3


def test_events_are_sent_in_put_events_calls_of_at_most_ten(db: Database, org: Org, bus: Bus) -> None:
    # Given 23 pending events
    badges = award_many(db, org, 23)
    client = CountingClient(bus.client)
    # When they are published
    report = publish_pending(db, client, BUS)
    # Then three calls carry 10, 10 and 3 entries, in outbox order, and every event arrives once
    assert report.sent == 23
    assert [len(call) for call in client.calls] == [10, 10, 3]
    sent_keys = [json.loads(entry["Detail"])["idempotency_key"] for call in client.calls for entry in call]
    assert sent_keys == [str(badge.id) for badge in badges]
    assert set(bus.keys().values()) == {1} and len(bus.keys()) == 23


def test_the_put_events_request_has_the_contract_shape(db: Database, org: Org, bus: Bus) -> None:
    # Given one pending event
    [badge] = award_many(db, org, 1)
    detail = db.query_one("SELECT detail FROM event_outbox")
    assert detail is not None
    # When it is published, then the request is exactly source, detail-type, JSON detail and bus
    client = boto3.client("events")
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]},
            {
                "Entries": [
                    {
                        "Source": "peer-badges",
                        "DetailType": "BadgeAwarded",
                        # ... without free text (notes, reasons, references: SPEC 8.5)
                        "Detail": json.dumps(without_free_text(detail["detail"])),
                        "EventBusName": BUS,
                    }
                ]
            },
        )
        assert publish_pending(db, client, BUS) == PublishReport(sent=1, failed=0)
        stub.assert_no_pending_responses()
    assert json.loads(json.dumps(detail["detail"]))["id"] == str(badge.id)


# --- failures and retries --------------------------------------------------------------------


def test_a_failing_publish_is_retried_later_with_growing_backoff_and_then_sent_once(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given a pending event and EventBridge throttling every call
    [badge] = award_many(db, org, 1)
    throttled = ThrottledClient()
    # When the publisher runs
    assert publish_pending(db, throttled, BUS) == PublishReport(sent=0, failed=1)
    # Then the row stays unpublished, counts the attempt, says why, and waits ~30 s (+-25%)
    [row] = outbox(db)
    assert row["published_at"] is None and row["attempts"] == 1
    assert "ThrottlingException" in row["last_error"]
    assert 22 <= row["due_in_s"] <= 37.6
    # And a publisher running again before the backoff ends does not touch it
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=0, failed=0)
    # When it fails again after the backoff, the next wait is about twice as long
    make_all_due(db)
    publish_pending(db, throttled, BUS)
    [row] = outbox(db)
    assert row["attempts"] == 2 and 44 <= row["due_in_s"] <= 75.1
    # When EventBridge recovers and the backoff has passed, it is sent exactly once
    make_all_due(db)
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=1, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(badge.id)): 1})
    [row] = outbox(db)
    assert row["published_at"] is not None and row["last_error"] is None


def test_entries_eventbridge_rejected_are_retried_and_accepted_ones_are_not_resent(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given three pending events, and EventBridge rejecting the second one's entry
    badges = award_many(db, org, 3)
    # When they are published
    report = publish_pending(db, RejectingClient(bus.client, {badges[1].id}), BUS)
    # Then only the rejected one is left for retry, with its error code
    assert report == PublishReport(sent=2, failed=1)
    rows = outbox(db)
    assert [row["published_at"] is not None for row in rows] == [True, False, True]
    assert rows[1]["attempts"] == 1 and rows[1]["last_error"].startswith("InternalFailure")
    # When the retry runs later, only that one is sent, and every event arrived once
    make_all_due(db)
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=1, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(badge.id)): 1 for badge in badges})


def test_a_publisher_dying_mid_batch_resends_nothing_it_recorded_and_loses_nothing(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given 15 pending events, and a publisher that sends the first 10 and then dies
    badges = award_many(db, org, 15)
    dying = CountingClient(bus.client, fail_on_call=2)
    with pytest.raises(RuntimeError):
        publish_pending(db, dying, BUS)
    # Then the first 10 are recorded as published; the other 5 stay leased, unpublished
    rows = outbox(db)
    assert sum(row["published_at"] is not None for row in rows) == 10
    assert all(row["due_in_s"] > 60 for row in rows if row["published_at"] is None)
    # And another publisher leaves the leased rows alone until the lease runs out
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=0, failed=0)
    make_all_due(db)
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=5, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(badge.id)): 1 for badge in badges})


def test_rows_left_when_the_time_budget_is_spent_are_released_at_once(
    db: Database, org: Org, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 15 pending events and a publisher whose time budget is spent after the first call
    award_many(db, org, 15)
    monkeypatch.setattr(events, "TIME_BUDGET_S", 0)
    # When it publishes
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=10, failed=0)
    # Then the 5 it did not try are due again straight away, with no attempt counted
    left = [row for row in outbox(db) if row["published_at"] is None]
    assert len(left) == 5 and all(row["due_in_s"] <= 0 and row["attempts"] == 0 for row in left)


def test_an_event_rejected_max_attempts_times_parks_and_the_operator_retry_sends_it_once(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given one event EventBridge rejects, next to one it accepts
    rejected, accepted = award_many(db, org, 2)
    client = RejectingClient(bus.client, {rejected.id})
    # When every retry after its backoff is rejected too, up to the attempt limit
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert publish_pending(db, client, BUS).failed == 1
        [row] = [row for row in outbox(db) if row["published_at"] is None]
        assert row["attempts"] == attempt
        make_all_due(db)
    # Then it is parked: not published, not claimed again, counted for the org's operators
    [row] = db.query(
        "SELECT status, attempts, parked_at IS NOT NULL AS parked, last_error FROM event_outbox"
        " WHERE earned_badge_id = :id",
        id=rejected.id,
    )
    assert row["status"] == "parked" and row["parked"] and row["attempts"] == MAX_ATTEMPTS
    assert row["last_error"].startswith("InternalFailure")
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=0, failed=0)
    assert events.parked_count(db) == 1 and events.parked_count(db, org.id) == 1
    assert events.parked_count(db, uuid.uuid4()) == 0
    # When an operator retries another org's parked rows, nothing happens; this org's, it is sent once
    assert events.retry_parked(db, uuid.uuid4()) == 0
    assert events.retry_parked(db, org.id) == 1
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=1, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(b.id)): 1 for b in (rejected, accepted)})
    assert events.parked_count(db) == 0


def test_parallel_publishers_never_send_the_same_row_twice(
    db: Database, org: Org, bus: Bus, connect_new: Callable[[], Database]
) -> None:
    # Given 60 pending events and four publishers on their own connections
    badges = award_many(db, org, 60)
    barrier = threading.Barrier(4)
    reports: list[PublishReport] = []
    lock = threading.Lock()

    def run(connection: Database) -> None:
        barrier.wait(timeout=10)
        while (report := publish_pending(connection, bus.client, BUS, limit=7)).sent:
            with lock:
                reports.append(report)

    threads = [threading.Thread(target=run, args=(connect_new(),)) for _ in range(4)]
    # When they drain at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then every event was sent exactly once in total
    assert sum(report.sent for report in reports) == 60
    assert bus.keys() == Counter({("BadgeAwarded", str(badge.id)): 1 for badge in badges})


# --- right after the API's commit ------------------------------------------------------------


def test_publish_after_commit_sends_only_the_given_awards(db: Database, org: Org, bus: Bus) -> None:
    # Given two pending awards
    first, second = award_many(db, org, 2)
    # When the API publishes right after committing the first
    report = publish_after_commit(db, lambda: bus.client, BUS, [first.id])
    # Then only that one is sent; the other waits for the drain
    assert report == PublishReport(sent=1, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(first.id)): 1})
    assert publish_pending(db, bus.client, BUS).sent == 1
    assert bus.keys() == Counter({("BadgeAwarded", str(first.id)): 1, ("BadgeAwarded", str(second.id)): 1})


def test_publish_after_commit_never_raises_and_leaves_failures_to_the_drain(
    db: Database, org: Org, bus: Bus
) -> None:
    # Given a committed award, and no usable EventBridge client in this container
    [badge] = award_many(db, org, 1)

    def no_client() -> Any:
        raise NoRegionError()

    # When the API tries to publish after commit, then it does not raise
    report = publish_after_commit(db, no_client, BUS, [badge.id])
    assert report.sent == 0
    # And the event stays in the outbox, due at once, and the scheduled drain sends it once
    [row] = outbox(db)
    assert row["published_at"] is None and row["due_in_s"] <= 0
    assert publish_pending(db, bus.client, BUS) == PublishReport(sent=1, failed=0)
    assert bus.keys() == Counter({("BadgeAwarded", str(badge.id)): 1})


def test_publish_after_commit_counts_a_throttled_send_for_retry(db: Database, org: Org, bus: Bus) -> None:
    [badge] = award_many(db, org, 1)
    report = publish_after_commit(db, ThrottledClient, BUS, [badge.id])
    assert report == PublishReport(sent=0, failed=1)
    [row] = outbox(db)
    assert row["attempts"] == 1 and row["published_at"] is None and row["due_in_s"] > 5
