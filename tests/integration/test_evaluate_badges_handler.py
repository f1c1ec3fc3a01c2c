"""evaluate_badges handler: the schedule/nudge jobs and the admin evaluations route, via events/ samples."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from evaluate_badges.handler import lambda_handler
from peer_badges.db import Database
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import set_events_client
from tests.aws import moto_event_bus
from tests.helpers import (
    LambdaContext,
    Org,
    add_activity,
    add_first_activity_badge,
    api_event,
    invoke,
    seed_org,
)

EVENTS = Path(__file__).resolve().parents[2] / "events" / "evaluate_badges"
BUS = "peer-badges"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def sample_api(name: str, org_id: uuid.UUID, sub: uuid.UUID | None, body: Any = None) -> dict[str, Any]:
    """A committed API sample with this test's ids in place of the sample's."""
    event = sample(name)
    path = f"/orgs/{org_id}/evaluations"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"org_id": str(org_id)}
    if sub is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = str(sub)
    if body is not None:
        event["body"] = json.dumps(body, default=str)
    return event


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto EventBridge as the handlers' client; `subscriber()` is what reached a subscriber's queue."""
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    with moto_event_bus(monkeypatch, BUS) as bus:
        set_events_client(bus.client)
        yield bus.messages
        set_events_client(None)


@pytest.fixture
def org(db: Database) -> Org:
    definitions_cache.invalidate()
    org = seed_org(db)
    add_first_activity_badge(db, org.id)
    db.query("UPDATE definition_backfills SET status = 'done', processed_at = now()")  # long since run
    return org


@pytest.mark.parametrize("event_file", ["schedule-drain.json", "db-nudge.json"])
def test_a_scheduled_or_nudged_drain_awards_and_publishes_once(
    db: Database, org: Org, subscriber: Any, event_file: str
) -> None:
    # Given a mentor's first activity
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    # When the drain job runs (twice: at-least-once delivery)
    first = lambda_handler(sample(event_file), LambdaContext())
    second = lambda_handler(sample(event_file), LambdaContext())
    # Then one badge, one event on the bus, and a summary a person can read
    assert first["awarded"] == 1 and first["events_sent"] == 1 and first["parked_total"] == 0
    assert second["awarded"] == 0 and second["claimed_rows"] == 0
    messages = subscriber()
    assert [(m["detail-type"], m["detail"]["peer_mentor_id"], m["detail"]["backfill"]) for m in messages] == [
        ("BadgeAwarded", str(org.mentor), False)
    ]


def test_the_reconcile_job_backfills_quietly(db: Database, org: Org, subscriber: Any) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    db.query("DELETE FROM evaluation_outbox")  # the event path "missed" it
    summary = lambda_handler(sample("schedule-reconcile.json"), LambdaContext())
    assert summary["awarded"] == 1 and summary["organisations"] >= 1
    assert [m["detail"]["backfill"] for m in subscriber()] == [True]


def test_the_retry_parked_job_brings_the_orgs_parked_rows_back_and_the_next_drain_awards(
    db: Database, org: Org, subscriber: Any
) -> None:
    # Given a mentor's activity whose outbox row parked (say the definition was broken, then fixed)
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    db.query(
        "UPDATE evaluation_outbox SET status = 'parked', parked_at = now(), attempts = 10,"
        " last_error = 'ValueError: broken'"
    )
    parked = lambda_handler(sample("schedule-drain.json"), LambdaContext())
    assert parked["claimed_rows"] == 0 and parked["parked_total"] == 1 and parked["events_parked_total"] == 0
    # When an operator runs the retry job for the org
    retried = lambda_handler({"action": "retry_parked", "org_ids": [str(org.id)]}, LambdaContext())
    # Then the row is back, and the next drain awards live, as the activity deserved
    assert retried == {
        "action": "retry_parked",
        "evaluation_rows": 1,
        "event_rows": 0,
        "definition_backfill_rows": 0,
    }
    drained = lambda_handler(sample("schedule-drain.json"), LambdaContext())
    assert drained["awarded"] == 1 and drained["parked_total"] == 0
    assert [m["detail"]["backfill"] for m in subscriber()] == [False]


def test_an_unknown_job_is_refused_loudly(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        lambda_handler({"action": "explode"}, LambdaContext())


def test_admins_evaluate_named_mentors_and_a_dry_run_changes_nothing(
    db: Database, org: Org, subscriber: Any
) -> None:
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    db.query("DELETE FROM evaluation_outbox")
    # When an admin asks for a dry run
    dry = invoke(
        lambda_handler,
        sample_api(
            "api-evaluate-mentors.json", org.id, org.admin, {"mentor_ids": [org.mentor], "dry_run": True}
        ),
    )
    # Then the response says what would be awarded, and nothing is stored or published
    assert dry.status == 200
    assert dry.body["evaluated"] == 1 and [b["peer_mentor_id"] for b in dry.body["awarded"]] == [
        str(org.mentor)
    ]
    assert db.query_one("SELECT count(*) AS n FROM earned_badges")["n"] == 0
    assert subscriber() == []
    # When the admin runs it for real
    real = invoke(
        lambda_handler,
        sample_api("api-evaluate-mentors.json", org.id, org.admin, {"mentor_ids": [org.mentor]}),
    )
    assert real.status == 200 and real.body["awarded"][0]["source"] == "backfill"
    assert [m["detail"]["backfill"] for m in subscriber()] == [True]
    # And running it again awards nothing new
    again = invoke(
        lambda_handler,
        sample_api("api-evaluate-mentors.json", org.id, org.admin, {"mentor_ids": [org.mentor]}),
    )
    assert again.body == {"evaluated": 1, "awarded": []}


def test_a_whole_org_backfill_dry_run_reports_without_awarding(db: Database, org: Org) -> None:
    # Given history written before the definition was (its own backfill has not run yet)
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 3))
    db.query(
        "UPDATE evaluation_outbox SET created_at = created_at - interval '1 day',"
        " last_queued_at = last_queued_at - interval '1 day'"
    )
    reply = invoke(lambda_handler, sample_api("api-backfill-dry-run.json", org.id, org.admin))
    assert reply.status == 200 and reply.body["evaluated"] == 2
    assert sorted(b["peer_mentor_id"] for b in reply.body["awarded"]) == sorted(
        [str(org.mentor), str(org.other_mentor)]
    )
    assert db.query_one("SELECT count(*) AS n FROM earned_badges")["n"] == 0


def test_a_whole_org_backfill_leaves_mentors_with_a_pending_write_to_the_drain(
    db: Database, org: Org, subscriber: Any
) -> None:
    # Given a mentor whose activity, written after the definition existed, waits in the outbox
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    # When an admin runs a whole-org backfill before the drain got to it
    reply = invoke(lambda_handler, sample_api("api-backfill-dry-run.json", org.id, org.admin, {}))
    # Then the backfill leaves that award to the drain, which announces it live (SPEC 8.1)
    assert reply.status == 200 and reply.body["awarded"] == []
    lambda_handler(sample("schedule-drain.json"), LambdaContext())
    [badge] = db.query("SELECT source FROM earned_badges")
    assert badge["source"] == "evaluation"
    assert [m["detail"]["backfill"] for m in subscriber()] == [False]


@pytest.mark.parametrize(
    ("who", "status"),
    [("mentor", 403), ("coordinator", 403), ("other_org_admin", 403), ("nobody", 401)],
)
def test_only_the_orgs_admins_may_run_evaluations(db: Database, org: Org, who: str, status: int) -> None:
    other = seed_org(db, slug="hlf")
    sub = {
        "mentor": org.mentor,
        "coordinator": org.coordinator,
        "other_org_admin": other.admin,
        "nobody": None,
    }[who]
    reply = invoke(lambda_handler, sample_api("api-backfill-dry-run.json", org.id, sub, {"dry_run": False}))
    assert reply.status == status
    assert db.query_one("SELECT count(*) AS n FROM earned_badges")["n"] == 0


def test_bad_requests_are_clear_4xx(db: Database, org: Org) -> None:
    stranger = uuid.uuid4()
    unknown = invoke(
        lambda_handler, sample_api("api-evaluate-mentors.json", org.id, org.admin, {"mentor_ids": [stranger]})
    )
    assert unknown.status == 422 and str(stranger) in unknown.body["error"]["details"][0]["message"]
    wrong_type = invoke(
        lambda_handler, sample_api("api-evaluate-mentors.json", org.id, org.admin, {"mentor_ids": "all"})
    )
    assert wrong_type.status == 422
    extra = invoke(
        lambda_handler,
        sample_api("api-evaluate-mentors.json", org.id, org.admin, {"dry_run": True, "force": 1}),
    )
    assert extra.status == 422
    malformed = sample_api("api-evaluate-mentors.json", org.id, org.admin)
    malformed["body"] = "{not json"
    assert invoke(lambda_handler, malformed).status == 400
    bad_id = api_event("POST", "/orgs/not-a-uuid/evaluations", sub=org.admin, body={})
    reply = invoke(lambda_handler, bad_id)
    assert reply.status == 400 and reply.error_code == "invalid_path_parameter"


def test_one_organisations_failing_reconcile_does_not_starve_the_others(
    db: Database, org: Org, subscriber: Any
) -> None:
    # Given a reconcile job naming a broken organisation id before a healthy one
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    db.query("DELETE FROM evaluation_outbox")
    event = {"action": "reconcile", "org_ids": ["not-an-org", str(org.id)]}
    # When it runs, the healthy org is reconciled and the invocation still fails visibly afterwards
    with pytest.raises(RuntimeError, match="reconcile failed for 1 organisation"):
        lambda_handler(event, LambdaContext())
    assert (
        db.query_one("SELECT count(*) AS n FROM earned_badges WHERE peer_mentor_id = :m", m=org.mentor)["n"]
        == 1
    )
