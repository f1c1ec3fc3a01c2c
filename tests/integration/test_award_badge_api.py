"""The award_badge API: who may list, award and revoke; every bad request a clear 4xx that changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from award_badge.handler import lambda_handler
from peer_badges import db as db_module
from peer_badges.awards import AwardCommand, AwardDefinition, award_in_own_transaction
from peer_badges.db import Database, Json
from peer_badges.events import set_events_client
from peer_badges.models import EarnedBadge
from peer_badges.models.definitions import BadgeDefinition
from peer_badges.settings import get_settings
from tests.aws import moto_event_bus
from tests.helpers import Org, Reply, api_event, invoke, seed_org

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events" / "award_badge"
MANUAL = {"type": "manual", "schema_version": 1}
TIERS = {
    "type": "tier",
    "schema_version": 1,
    "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
}
CALLERS = ["nobody", "mentor", "other_mentor", "coordinator", "other_coordinator", "admin", "other_org_admin"]


Received = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Iterator[Received]:
    """moto EventBridge as the handlers' client; `received()` is what reached a subscriber's queue."""
    with moto_event_bus(monkeypatch, get_settings().event_bus_name) as bus:
        set_events_client(bus.client)
        yield bus.messages
        set_events_client(None)


@pytest.fixture
def org(db: Database, received: Received) -> Org:
    return seed_org(db)


def make_definition(
    db: Database,
    org_id: uuid.UUID,
    criteria: dict[str, Any] = MANUAL,
    *,
    active: bool = True,
    archived: bool = False,
) -> BadgeDefinition:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, active, archived_at)
           VALUES (:org, :key, 'Helping hand', CAST(:criteria AS jsonb), :active,
                   CASE WHEN CAST(:archived AS boolean) THEN now() END) RETURNING *""",
        org=org_id,
        key=f"helping-hand-{uuid.uuid4().hex[:6]}",
        criteria=Json(criteria),
        active=active,
        archived=archived,
    )
    return BadgeDefinition.model_validate(row)


def earned(
    db: Database, org: Org, definition: BadgeDefinition, mentor: uuid.UUID | None = None
) -> EarnedBadge:
    command = AwardCommand(
        org_id=org.id,
        peer_mentor_id=mentor or org.mentor,
        definition=AwardDefinition.of(definition),
        level=1,
        earned_at=date(2024, 9, 2),
        source="evaluation",
    )
    return award_in_own_transaction(db, command).badge


def caller(db: Database, org: Org, who: str) -> uuid.UUID | None:
    if who == "nobody":
        return None
    if who == "other_org_admin":
        return seed_org(db, "hlf").admin
    return getattr(org, who)  # type: ignore[no-any-return]


def state(db: Database) -> list[dict[str, Any]]:
    """Everything an award or revoke could change."""
    return db.query(
        """SELECT 'badge' AS kind, to_jsonb(e) AS row FROM earned_badges AS e
           UNION ALL SELECT 'audit', to_jsonb(a) FROM audit_log AS a
           UNION ALL SELECT 'event', to_jsonb(o) FROM event_outbox AS o ORDER BY 1, 2"""
    )


def badges_path(org: Org, mentor: uuid.UUID | None = None) -> str:
    return f"/orgs/{org.id}/mentors/{mentor or org.mentor}/badges"


def post_award(org: Org, sub: uuid.UUID | None, body: Any = None, raw_body: str | None = None) -> Reply:
    return invoke(lambda_handler, api_event("POST", badges_path(org), sub=sub, body=body, raw_body=raw_body))


def post_revoke(
    org: Org, sub: uuid.UUID | None, badge_id: Any, body: Any = None, raw_body: str | None = None
) -> Reply:
    path = f"{badges_path(org)}/{badge_id}/revoke"
    return invoke(lambda_handler, api_event("POST", path, sub=sub, body=body, raw_body=raw_body))


# --- authorisation matrix ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("nobody", 401), ("mentor", 200), ("other_mentor", 403), ("coordinator", 200),
     ("other_coordinator", 403), ("admin", 200), ("other_org_admin", 403)],
)  # fmt: skip
def test_who_may_list_a_mentors_badges(db: Database, org: Org, who: str, status: int) -> None:
    # Given a mentor with a badge
    badge = earned(db, org, make_definition(db, org.id))
    # When someone lists the mentor's badges
    reply = invoke(lambda_handler, api_event("GET", badges_path(org), sub=caller(db, org, who)))
    # Then only the mentor, their coordinator and admins see them; others get a message, not data
    assert reply.status == status
    if status == 200:
        assert [item["id"] for item in reply.body["items"]] == [str(badge.id)]
    else:
        assert reply.body["error"]["message"] and "items" not in reply.body


@pytest.mark.parametrize(
    ("who", "status"),
    [("nobody", 401), ("mentor", 403), ("other_mentor", 403), ("coordinator", 201),
     ("other_coordinator", 403), ("admin", 201), ("other_org_admin", 403)],
)  # fmt: skip
def test_who_may_award_a_badge_manually(db: Database, org: Org, who: str, status: int) -> None:
    # Given a manual badge
    definition = make_definition(db, org.id)
    sub = caller(db, org, who)
    before = state(db)
    # When someone awards it to the mentor
    reply = post_award(org, sub, {"badge_definition_id": str(definition.id)})
    # Then only the mentor's coordinator and admins can; a refusal changes nothing
    assert reply.status == status, reply.body
    if status == 201:
        assert reply.body["awarded_by"] == str(sub) and reply.body["source"] == "manual"
    else:
        assert state(db) == before


@pytest.mark.parametrize(
    ("who", "status"),
    [("nobody", 401), ("mentor", 403), ("other_mentor", 403), ("coordinator", 403),
     ("other_coordinator", 403), ("admin", 200), ("other_org_admin", 403)],
)  # fmt: skip
def test_who_may_revoke_a_badge(db: Database, org: Org, who: str, status: int) -> None:
    # Given an earned badge
    badge = earned(db, org, make_definition(db, org.id))
    before = state(db)
    # When someone revokes it
    reply = post_revoke(org, caller(db, org, who), badge.id, {"reason": "Registered by mistake"})
    # Then only admins can; a refusal changes nothing
    assert reply.status == status, reply.body
    if status == 200:
        assert reply.body["revoke_reason"] == "Registered by mistake" and reply.body["revoked_at"]
    else:
        assert state(db) == before


# --- manual awards -----------------------------------------------------------------------------


def test_a_manual_award_is_201_once_and_200_with_the_same_badge_after(
    db: Database, org: Org, received: Received
) -> None:
    # Given a tier badge
    definition = make_definition(db, org.id, TIERS)
    body = {"badge_definition_id": str(definition.id), "level": 2, "note": "Covered for a colleague"}
    # When the coordinator awards level 2
    first = post_award(org, org.coordinator, body)
    # Then it is created, and its event went out right after the commit
    assert first.status == 201
    assert first.body["level"] == 2 and first.body["note"] == "Covered for a colleague"
    assert EarnedBadge.model_validate(first.body).peer_mentor_id == org.mentor
    assert [(e["detail-type"], e["detail"]["id"]) for e in received()] == [("BadgeAwarded", first.body["id"])]
    # When an admin awards the same again
    again = post_award(org, org.admin, body)
    # Then the existing badge comes back with 200 and no second event
    assert again.status == 200 and again.body == first.body
    assert len(received()) == 1


def test_an_award_stays_awarded_when_publishing_fails_and_the_drain_has_its_event(
    db: Database, org: Org
) -> None:
    # Given EventBridge failing
    class Down:
        def put_events(self, Entries: Any) -> Any:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "down"}}, "PutEvents")

    set_events_client(Down())
    definition = make_definition(db, org.id)
    # When the admin awards a badge
    reply = post_award(org, org.admin, {"badge_definition_id": str(definition.id)})
    # Then the award succeeds and its event waits in the outbox for a retry
    assert reply.status == 201
    rows = db.query("SELECT published_at, attempts FROM event_outbox")
    assert rows == [{"published_at": None, "attempts": 1}]


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({}, 422, "badge_definition_id"),
        ({"level": 1}, 422, "badge_definition_id"),
        ({"badge_definition_id": "not-a-uuid"}, 422, "badge_definition_id"),
        ({"badge_definition_id": 42}, 422, "badge_definition_id"),
        ({"badge_definition_id": "{def}", "level": "2"}, 422, "level"),
        ({"badge_definition_id": "{def}", "level": 1.5}, 422, "level"),
        ({"badge_definition_id": "{def}", "level": True}, 422, "level"),
        ({"badge_definition_id": "{def}", "level": 0}, 422, "level"),
        ({"badge_definition_id": "{def}", "level": 3}, 422, "level"),
        ({"badge_definition_id": "{def}", "level": 21}, 422, "level"),
        ({"badge_definition_id": "{def}", "note": 7}, 422, "note"),
        ({"badge_definition_id": "{def}", "note": "x" * 1001}, 422, "note"),
        ({"badge_definition_id": "{def}", "awarded_by": "someone"}, 422, "awarded_by"),
        ([], 422, None),
    ],
)
def test_an_award_with_a_bad_body_is_422_with_the_field_and_changes_nothing(
    db: Database, org: Org, body: Any, status: int, path: str | None
) -> None:
    # Given a two-tier badge
    definition = make_definition(db, org.id, TIERS)
    if isinstance(body, dict) and body.get("badge_definition_id") == "{def}":
        body = body | {"badge_definition_id": str(definition.id)}
    before = state(db)
    # When the admin sends a bad body
    reply = post_award(org, org.admin, body)
    # Then it is refused, naming the field, and nothing changed
    assert reply.status == status, reply.body
    assert reply.error_code == "validation_failed"
    if path:
        assert path in {detail["path"].split(".")[-1] for detail in reply.body["error"]["details"]}, (
            reply.body
        )
    assert state(db) == before


@pytest.mark.parametrize("raw_body", ["{", "not json", '{"badge_definition_id": }'])
def test_an_award_with_malformed_json_is_400(db: Database, org: Org, raw_body: str) -> None:
    reply = post_award(org, org.admin, raw_body=raw_body)
    assert reply.status == 400 and reply.error_code == "malformed_json"
    assert state(db) == []


@pytest.mark.parametrize(
    ("setup", "status"),
    [("unknown", 404), ("other_org", 404), ("archived", 409), ("inactive", 409), ("not_a_mentor", 404)],
)
def test_an_award_of_a_definition_that_cannot_be_given_is_refused_clearly(
    db: Database, org: Org, setup: str, status: int
) -> None:
    # Given a definition this org cannot award now (or a target who is not a mentor)
    path = badges_path(org)
    definition_id = make_definition(db, org.id).id
    if setup == "unknown":
        definition_id = uuid.uuid4()
    elif setup == "other_org":
        definition_id = make_definition(db, seed_org(db, "hlf").id).id
    elif setup in ("archived", "inactive"):
        definition_id = make_definition(
            db, org.id, archived=setup == "archived", active=setup == "archived"
        ).id
    elif setup == "not_a_mentor":
        path = badges_path(org, org.coordinator)
    before = state(db)
    # When the admin awards it
    reply = invoke(
        lambda_handler,
        api_event("POST", path, sub=org.admin, body={"badge_definition_id": str(definition_id)}),
    )
    # Then the refusal says why, and does not reveal another org's definition
    assert reply.status == status, reply.body
    assert reply.body["error"]["message"]
    if setup == "other_org":
        unknown_id = uuid.uuid4()
        unknown = post_award(org, org.admin, {"badge_definition_id": str(unknown_id)})
        assert (unknown.status, unknown.body["error"]["message"].replace(str(unknown_id), "<id>")) == (
            reply.status,
            reply.body["error"]["message"].replace(str(definition_id), "<id>"),
        )
    assert state(db) == before


# --- revoking ----------------------------------------------------------------------------------


def test_revoking_twice_is_409_and_the_badge_stays_listed_as_revoked(db: Database, org: Org) -> None:
    # Given a revoked badge
    badge = earned(db, org, make_definition(db, org.id))
    assert post_revoke(org, org.admin, badge.id, {"reason": "Duplicate registration"}).status == 200
    # When it is revoked again
    again = post_revoke(org, org.admin, badge.id, {"reason": "Once more"})
    # Then that is a conflict with a clear message
    assert again.status == 409 and "already revoked" in again.body["error"]["message"]
    # And the mentor still sees the badge, marked revoked with the first reason
    listed = invoke(lambda_handler, api_event("GET", badges_path(org), sub=org.mentor))
    [item] = listed.body["items"]
    assert (
        item["id"] == str(badge.id)
        and item["revoked_at"]
        and item["revoke_reason"] == "Duplicate registration"
    )
    assert item["revoked_by"] == str(org.admin)


@pytest.mark.parametrize(
    ("body", "raw_body", "status"),
    [
        ({}, None, 422),
        ({"reason": ""}, None, 422),
        ({"reason": "   "}, None, 422),
        ({"reason": 5}, None, 422),
        ({"reason": None}, None, 422),
        ({"reason": "x" * 1001}, None, 422),
        ({"reason": "ok", "extra": 1}, None, 422),
        (None, "{reason", 400),
    ],
)
def test_a_revoke_with_a_bad_body_is_refused_and_changes_nothing(
    db: Database, org: Org, body: Any, raw_body: str | None, status: int
) -> None:
    badge = earned(db, org, make_definition(db, org.id))
    before = state(db)
    reply = post_revoke(org, org.admin, badge.id, body, raw_body)
    assert reply.status == status, reply.body
    assert reply.body["error"]["message"]
    assert state(db) == before


def test_revoking_another_mentors_badge_through_this_mentor_is_404(db: Database, org: Org) -> None:
    # Given a badge of the other mentor
    badge = earned(db, org, make_definition(db, org.id), mentor=org.other_mentor)
    before = state(db)
    # When an admin revokes it under the wrong mentor's path, or an unknown id
    for badge_id in (badge.id, uuid.uuid4()):
        reply = post_revoke(org, org.admin, badge_id, {"reason": "mistake"})
        assert reply.status == 404, reply.body
    assert state(db) == before


# --- ids and query parameters ------------------------------------------------------------------


class _Unreachable(Database):
    def __init__(self) -> None:
        super().__init__(self._refuse)

    @staticmethod
    def _refuse() -> Any:
        raise AssertionError("a malformed request must be refused before any query")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/orgs/not-a-uuid/mentors/{m}/badges", None),
        ("GET", "/orgs/{o}/mentors/123/badges", None),
        ("POST", "/orgs/{o}/mentors/{m}x/badges", {"badge_definition_id": str(uuid.uuid4())}),
        ("POST", "/orgs/{o}/mentors/{m}/badges/nope/revoke", {"reason": "r"}),
        ("POST", "/orgs/%27;drop/mentors/{m}/badges/{m}/revoke", {"reason": "r"}),
    ],
)
def test_malformed_ids_are_400_before_any_query(
    db: Database, org: Org, method: str, path: str, body: Any
) -> None:
    # Given a database that must not be touched
    db_module.set_database(_Unreachable())
    # When a path carries a malformed id
    reply = invoke(
        lambda_handler, api_event(method, path.format(o=org.id, m=org.mentor), sub=org.admin, body=body)
    )
    # Then it is a 400 that says the id must be a UUID
    assert reply.status == 400 and reply.error_code == "invalid_path_parameter", reply.body
    assert "UUID" in reply.body["error"]["message"]


def test_listing_pages_with_next_cursor_and_can_leave_out_revoked(db: Database, org: Org) -> None:
    # Given three badges, one revoked
    badges = [earned(db, org, make_definition(db, org.id)) for _ in range(3)]
    post_revoke(org, org.admin, badges[0].id, {"reason": "mistake"})
    # When the coordinator pages two at a time
    first = invoke(
        lambda_handler, api_event("GET", badges_path(org), sub=org.coordinator, query={"limit": "2"})
    )
    cursor = first.body["next_cursor"]
    second = invoke(
        lambda_handler,
        api_event("GET", badges_path(org), sub=org.coordinator, query={"limit": "2", "cursor": cursor}),
    )
    # Then all three come back once, newest first, and the last page has no cursor
    ids = [item["id"] for item in first.body["items"] + second.body["items"]]
    assert ids == [str(b.id) for b in reversed(badges)] and second.body["next_cursor"] is None
    # And include_revoked=false leaves the revoked one out
    active = invoke(
        lambda_handler, api_event("GET", badges_path(org), sub=org.mentor, query={"include_revoked": "false"})
    )
    assert [item["id"] for item in active.body["items"]] == [str(b.id) for b in reversed(badges[1:])]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"limit": "ten"}, {"cursor": "garbage!"}]
)
def test_bad_list_parameters_are_400(db: Database, org: Org, query: dict[str, str]) -> None:
    reply = invoke(lambda_handler, api_event("GET", badges_path(org), sub=org.admin, query=query))
    assert reply.status == 400, reply.body
    assert reply.body["error"]["message"]


# --- sample events -----------------------------------------------------------------------------


def test_the_sample_events_work_end_to_end(db: Database, received: Received) -> None:
    # Given the org, people, definition and earned badge the sample events refer to
    samples = {path.stem: json.loads(path.read_text()) for path in sorted(EVENTS_DIR.glob("*.json"))}
    assert set(samples) == {"list_badges", "award_badge", "revoke_badge"}
    params = samples["revoke_badge"]["pathParameters"]
    org_id, mentor = uuid.UUID(params["org_id"]), uuid.UUID(params["mentor_id"])
    coordinator = uuid.UUID(samples["award_badge"]["requestContext"]["authorizer"]["jwt"]["claims"]["sub"])
    admin = uuid.UUID(samples["revoke_badge"]["requestContext"]["authorizer"]["jwt"]["claims"]["sub"])
    definition_id = uuid.UUID(json.loads(samples["award_badge"]["body"])["badge_definition_id"])
    db.query("INSERT INTO organizations (id, slug, name) VALUES (:id, 'nhf-sample', 'NHF')", id=org_id)
    for user, role in ((admin, "org_admin"), (coordinator, "coordinator"), (mentor, "peer_mentor")):
        db.query("INSERT INTO org_members VALUES (:o, :u, :r)", o=org_id, u=user, r=role)
    db.query("INSERT INTO coordinator_assignments VALUES (:o, :c, :m)", o=org_id, c=coordinator, m=mentor)
    db.query(
        """INSERT INTO badge_definitions (id, org_id, key, name, criteria)
           VALUES (:id, :o, 'walking-group', 'Walking group lead', CAST(:c AS jsonb))""",
        id=definition_id,
        o=org_id,
        c=Json(MANUAL),
    )
    earlier = make_definition(db, org_id, TIERS)
    db.query(
        """INSERT INTO earned_badges (id, org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:id, :o, :m, :d, '2025-05-12', 'evaluation', 1, CAST(:c AS jsonb))""",
        id=uuid.UUID(params["earned_badge_id"]),
        o=org_id,
        m=mentor,
        d=earlier.id,
        c=Json(TIERS),
    )
    # When each sample is invoked
    awarded = invoke(lambda_handler, samples["award_badge"])
    listed = invoke(lambda_handler, samples["list_badges"])
    revoked = invoke(lambda_handler, samples["revoke_badge"])
    # Then each answers as documented
    assert awarded.status == 201 and awarded.body["awarded_by"] == str(coordinator)
    assert listed.status == 200
    assert {item["id"] for item in listed.body["items"]} == {params["earned_badge_id"], awarded.body["id"]}
    assert revoked.status == 200 and revoked.body["revoked_by"] == str(admin)
    assert [m["detail"]["id"] for m in received()] == [awarded.body["id"]]
