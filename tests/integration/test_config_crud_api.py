"""The config_crud handler end to end (API Gateway events in, HTTP replies out) on a real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from config_crud.handler import lambda_handler
from peer_badges.db import Database
from tests.helpers import Org, Reply, api_event, invoke, seed_org

EVENTS = Path(__file__).resolve().parents[2] / "events" / "config_crud"
SAMPLE_ORG = "3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00"
SAMPLE_ADMIN = "9b1d4f7a-2c3e-4a5b-8c6d-7e8f9a0b1c2d"
SAMPLE_DEFINITION = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"

TEN_VISITS = {"type": "threshold", "schema_version": 1, "threshold": 10, "activity_types": ["visit"]}
NEW_DEFINITION = {"key": "ten-visits", "name": "Ten visits", "criteria": TEN_VISITS}


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def sample(name: str, org: Org, definition_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A committed sample event, pointed at this test's org, admin and definition."""
    text = (EVENTS / f"{name}.json").read_text()
    text = text.replace(SAMPLE_ORG, str(org.id)).replace(SAMPLE_ADMIN, str(org.admin))
    if definition_id is not None:
        text = text.replace(SAMPLE_DEFINITION, str(definition_id))
    event: dict[str, Any] = json.loads(text)
    return event


def call(method: str, path: str, sub: uuid.UUID | None, **kwargs: Any) -> Reply:
    return invoke(lambda_handler, api_event(method, path, sub=sub, **kwargs))


def base(org: Org) -> str:
    return f"/orgs/{org.id}/badge-definitions"


def create(org: Org, **fields: Any) -> dict[str, Any]:
    reply = call("POST", base(org), org.admin, body={**NEW_DEFINITION, **fields})
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a refused request must leave untouched."""
    return {
        "definitions": db.query("SELECT * FROM badge_definitions ORDER BY id"),
        "audit": db.query("SELECT id FROM audit_log ORDER BY id"),
        "outbox": db.query("SELECT id FROM evaluation_outbox ORDER BY id"),
    }


def problems(reply: Reply) -> dict[str, str]:
    details = reply.body["problems"] if "problems" in reply.body else reply.body["error"]["details"]
    return {item["path"]: item["code"] for item in details}


# --- the sample events ---------------------------------------------------------------------


def test_the_sample_events_walk_a_definition_through_its_life(db: Database, org: Org) -> None:
    created = invoke(lambda_handler, sample("create_definition", org))
    assert created.status == 201 and created.headers["etag"] == '"1"'
    definition_id = uuid.UUID(created.body["id"])
    assert created.headers["location"] == f"{base(org)}/{definition_id}"
    assert created.body["criteria"]["tiers"][0] == {"name": "Bronze", "threshold": 5}

    def run(name: str) -> Reply:
        return invoke(lambda_handler, sample(name, org, definition_id))

    listed = run("list_definitions")
    assert listed.status == 200 and [item["id"] for item in listed.body["items"]] == [str(definition_id)]
    assert listed.body["next_cursor"] is None
    fetched = run("get_definition")
    assert fetched.status == 200 and fetched.headers["etag"] == '"1"' and fetched.body == created.body
    updated = run("update_definition")
    assert (
        updated.status == 200
        and updated.headers["etag"] == '"2"'
        and updated.body["name"] == "Assignment tiers"
    )
    assert run("validate_definition").body == {"valid": True, "problems": []}
    previewed = run("preview_definition")
    assert previewed.status == 200 and previewed.body["evaluated"] == 2 and previewed.body["qualifying"] == 0
    archived = run("archive_definition")
    assert archived.status == 200 and archived.body["archived_at"] is not None
    restored = run("unarchive_definition")
    assert (
        restored.status == 200 and restored.body["archived_at"] is None and restored.headers["etag"] == '"4"'
    )
    deleted = run("delete_definition")
    assert deleted.status == 204
    assert run("get_definition").status == 404


# --- reads ---------------------------------------------------------------------------------


def test_members_list_definitions_and_archived_ones_only_on_request(db: Database, org: Org) -> None:
    # Given a live and an archived definition
    create(org, key="live")
    archived = create(org, key="retired")
    assert call("POST", f"{base(org)}/{archived['id']}/archive", org.admin).status == 200

    # When a mentor lists them, with and without include_archived
    plain = call("GET", base(org), org.mentor)
    everything = call("GET", base(org), org.mentor, query={"include_archived": "true"})

    # Then the archived one shows only when asked for
    assert [item["key"] for item in plain.body["items"]] == ["live"]
    assert [item["key"] for item in everything.body["items"]] == ["live", "retired"]


def test_outsiders_cannot_read_definitions(db: Database, org: Org) -> None:
    definition = create(org)
    stranger = seed_org(db, slug="hlf").admin
    assert call("GET", base(org), stranger).status == 403
    assert call("GET", f"{base(org)}/{definition['id']}", stranger).status == 403
    assert call("GET", base(org), None).status == 401


def test_a_definition_of_another_org_is_not_found_here(db: Database, org: Org) -> None:
    other = seed_org(db, slug="hlf")
    foreign = create(other)
    reply = call("GET", f"{base(org)}/{foreign['id']}", org.admin)
    assert reply.status == 404 and reply.error_code == "not_found"


# --- validate and create -------------------------------------------------------------------


def test_validate_accepts_valid_criteria_and_stores_nothing(db: Database, org: Org) -> None:
    before = snapshot(db)
    for criteria in (
        TEN_VISITS,
        {"type": "streak", "schema_version": 1, "weeks": 4, "min_per_week": 1, "activity_types": None},
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
        },
        {"type": "manual", "schema_version": 1},
    ):
        reply = call("POST", f"{base(org)}/validate", org.admin, body=criteria)
        assert (reply.status, reply.body) == (200, {"valid": True, "problems": []}), criteria
    assert snapshot(db) == before


def test_validate_lists_every_problem(db: Database, org: Org) -> None:
    # Given criteria with a missing field, a non-integer, a zero and a negative threshold
    criteria = {
        "type": "tier",
        "schema_version": 1,
        "tiers": [
            {"name": "Bronze", "threshold": 2.5},
            {"name": "Silver", "threshold": "3"},
            {"name": "Gold", "threshold": 0},
            {"name": "Platinum", "threshold": -4},
            {"name": "Diamond"},
            {"name": "Flag", "threshold": True},
        ],
    }

    # When an admin validates them
    reply = call("POST", f"{base(org)}/validate", org.admin, body=criteria)

    # Then every problem is listed, each at its own path
    assert reply.status == 200 and reply.body["valid"] is False
    assert problems(reply) == {
        "tiers[0].threshold": "not_integer",
        "tiers[1].threshold": "not_integer",
        "tiers[2].threshold": "not_positive",
        "tiers[3].threshold": "not_positive",
        "tiers[4].threshold": "required",
        "tiers[5].threshold": "not_integer",
    }
    assert all(item["message"] for item in reply.body["problems"])


def test_validate_reports_missing_required_fields(db: Database, org: Org) -> None:
    reply = call("POST", f"{base(org)}/validate", org.admin, body={"type": "threshold"})
    assert problems(reply) == {"schema_version": "required", "threshold": "required"}
    reply = call("POST", f"{base(org)}/validate", org.admin, body={"schema_version": 1})
    assert problems(reply) == {"type": "required"}


def test_validate_checks_a_whole_draft_when_criteria_are_wrapped(db: Database, org: Org) -> None:
    draft = {"key": "Bad Key", "name": "Ok", "criteria": {**TEN_VISITS, "threshold": 0}}
    reply = call("POST", f"{base(org)}/validate", org.admin, body=draft)
    assert reply.status == 200 and set(problems(reply)) == {"key", "criteria.threshold"}


def test_create_refuses_invalid_criteria_with_every_problem_and_stores_nothing(
    db: Database, org: Org
) -> None:
    before = snapshot(db)
    criteria = {
        "type": "threshold",
        "schema_version": 1,
        "threshold": -1,
        "window": {"kind": "rolling_days", "days": 0},
    }
    reply = call("POST", base(org), org.admin, body={**NEW_DEFINITION, "criteria": criteria})
    assert reply.status == 422 and reply.error_code == "validation_failed"
    assert problems(reply) == {"criteria.threshold": "not_positive", "criteria.window.days": "not_positive"}
    assert snapshot(db) == before


def test_create_refuses_a_duplicate_key_with_409(db: Database, org: Org) -> None:
    create(org)
    before = snapshot(db)
    reply = call("POST", base(org), org.admin, body=NEW_DEFINITION)
    assert reply.status == 409 and "ten-visits" in reply.body["error"]["message"]
    assert snapshot(db) == before


def test_create_audits_and_queues_a_backfill(db: Database, org: Org) -> None:
    definition = create(org)
    audit = db.query("SELECT actor_id, action, after, created_at FROM audit_log")
    assert [(a["actor_id"], a["action"]) for a in audit] == [(org.admin, "badge_definition.created")]
    assert audit[0]["after"]["id"] == definition["id"] and audit[0]["created_at"] is not None
    queued = db.query(
        "SELECT badge_definition_id, reason FROM definition_backfills WHERE org_id = :o", o=org.id
    )
    assert [(row["badge_definition_id"], row["reason"]) for row in queued] == [
        (uuid.UUID(definition["id"]), "definition_created")
    ]


# --- PATCH ---------------------------------------------------------------------------------


def test_patch_checks_if_match_and_returns_the_new_revision(db: Database, org: Org) -> None:
    definition = create(org)
    path = f"{base(org)}/{definition['id']}"

    first = call("PATCH", path, org.admin, body={"name": "Visitor"}, headers={"If-Match": '"1"'})
    assert first.status == 200 and first.headers["etag"] == '"2"'

    stale = call("PATCH", path, org.admin, body={"name": "Late"}, headers={"If-Match": '"1"'})
    assert stale.status == 412 and stale.error_code == "precondition_failed"
    assert call("GET", path, org.mentor).body["name"] == "Visitor"


def test_patch_writes_only_the_fields_sent(db: Database, org: Org) -> None:
    # Given a definition, whose description another client changes after the admin loaded it
    definition = create(org, description="Ten home visits")
    db.query(
        "UPDATE badge_definitions SET description = 'Edited elsewhere' WHERE id = :id", id=definition["id"]
    )

    # When the admin PATCHes only the name
    reply = call("PATCH", f"{base(org)}/{definition['id']}", org.admin, body={"name": "Visitor"})

    # Then the description edited elsewhere is kept
    assert reply.status == 200 and reply.body["description"] == "Edited elsewhere"
    assert reply.body["name"] == "Visitor"


def test_patch_refuses_invalid_criteria_and_nulls_for_required_fields(db: Database, org: Org) -> None:
    definition = create(org)
    before = snapshot(db)
    path = f"{base(org)}/{definition['id']}"
    reply = call("PATCH", path, org.admin, body={"criteria": {**TEN_VISITS, "threshold": "10"}, "name": None})
    assert reply.status == 422 and problems(reply) == {
        "criteria.threshold": "not_integer",
        "name": "required",
    }
    assert snapshot(db) == before


def test_patch_of_criteria_queues_a_backfill(db: Database, org: Org) -> None:
    definition = create(org)
    db.query("DELETE FROM definition_backfills")
    call(
        "PATCH",
        f"{base(org)}/{definition['id']}",
        org.admin,
        body={"criteria": {**TEN_VISITS, "threshold": 3}},
    )
    queued = db.query("SELECT badge_definition_id, reason FROM definition_backfills")
    assert [(row["badge_definition_id"], row["reason"]) for row in queued] == [
        (uuid.UUID(definition["id"]), "definition_changed")
    ]


# --- DELETE --------------------------------------------------------------------------------


def test_delete_is_refused_with_409_when_badges_were_earned(db: Database, org: Org) -> None:
    # Given a definition a mentor earned
    definition = create(org)
    db.query(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:o, :m, :d, current_date, 'evaluation', 1, CAST(:c AS jsonb))""",
        o=org.id,
        m=org.mentor,
        d=definition["id"],
        c=json.dumps(TEN_VISITS),
    )
    before = snapshot(db)

    # When an admin deletes it
    reply = call("DELETE", f"{base(org)}/{definition['id']}", org.admin)

    # Then it is refused, suggesting archive, and nothing changed
    assert reply.status == 409 and "archive" in reply.body["error"]["message"].lower()
    assert snapshot(db) == before


def test_delete_removes_an_unearned_definition(db: Database, org: Org) -> None:
    definition = create(org)
    path = f"{base(org)}/{definition['id']}"
    assert call("DELETE", path, org.admin).status == 204
    assert call("GET", path, org.admin).status == 404
    assert call("DELETE", path, org.admin).status == 404
    actions = [row["action"] for row in db.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["badge_definition.created", "badge_definition.deleted"]


# --- authorisation -------------------------------------------------------------------------


def _mutations(org: Org, definition_id: str) -> list[tuple[str, str, Any]]:
    one = f"{base(org)}/{definition_id}"
    return [
        ("POST", base(org), {**NEW_DEFINITION, "key": "another"}),
        ("PATCH", one, {"name": "Taken over"}),
        ("DELETE", one, None),
        ("POST", f"{one}/archive", None),
        ("POST", f"{one}/unarchive", None),
        ("POST", f"{base(org)}/validate", TEN_VISITS),
        ("POST", f"{base(org)}/preview", TEN_VISITS),
    ]


def test_every_admin_route_refuses_mentors_coordinators_and_other_orgs_admins(db: Database, org: Org) -> None:
    # Given a definition, and callers who are not this org's admins
    definition = create(org)
    other_admin = seed_org(db, slug="hlf").admin
    before = snapshot(db)

    # When each of them tries every admin route
    for caller in (org.mentor, org.coordinator, other_admin):
        for method, path, body in _mutations(org, definition["id"]):
            reply = call(method, path, caller, body=body)
            # Then each is refused with 403 and an explanation
            assert reply.status == 403, (caller, method, path, reply.body)
            assert reply.error_code == "forbidden" and reply.body["error"]["message"]

    # And nothing changed
    assert snapshot(db) == before


def test_an_admin_of_this_org_may_use_every_admin_route(db: Database, org: Org) -> None:
    definition = create(org)
    statuses = [
        call(method, path, org.admin, body=body).status
        for method, path, body in _mutations(org, definition["id"])
    ]
    assert statuses == [201, 200, 204, 404, 404, 200, 200]


# --- malformed requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/not-a-uuid"),
        ("PATCH", "/not-a-uuid"),
        ("DELETE", "/123"),
        ("POST", "/not-a-uuid/archive"),
        ("POST", "/not-a-uuid/unarchive"),
    ],
)
def test_a_malformed_definition_id_is_a_400(db: Database, org: Org, method: str, suffix: str) -> None:
    reply = call(method, base(org) + suffix, org.admin, body={"name": "x"} if method == "PATCH" else None)
    assert reply.status == 400 and reply.error_code == "invalid_path_parameter"
    assert "UUID" in reply.body["error"]["message"]


def test_a_malformed_org_id_is_a_400(db: Database, org: Org) -> None:
    reply = call("GET", "/orgs/nhf/badge-definitions", org.admin)
    assert reply.status == 400 and reply.error_code == "invalid_path_parameter"


def test_malformed_bodies_and_headers_are_4xx_and_change_nothing(db: Database, org: Org) -> None:
    definition = create(org)
    one = f"{base(org)}/{definition['id']}"
    before = snapshot(db)

    assert call("POST", base(org), org.admin, raw_body="{not json").status == 400
    assert call("PATCH", one, org.admin, raw_body='{"name": ').status == 400
    assert call("POST", f"{base(org)}/validate", org.admin, raw_body="{").status == 400
    assert call("POST", base(org), org.admin, body=["a", "list"]).status == 422
    assert call("POST", base(org), org.admin, body={**NEW_DEFINITION, "colour": "red"}).status == 422
    assert call("POST", base(org), org.admin, body={**NEW_DEFINITION, "key": "Not A Key!"}).status == 422
    assert call("POST", base(org), org.admin, body={**NEW_DEFINITION, "icon": "x" * 600}).status == 422
    # One past the limit the request model and the table share.
    too_long = call("POST", base(org), org.admin, body={**NEW_DEFINITION, "icon": "x" * 501})
    assert too_long.status == 422 and set(problems(too_long)) == {"icon"}
    assert call("POST", base(org), org.admin).status == 422
    assert call("PATCH", one, org.admin, body={"active": "yes"}).status == 422
    assert call("PATCH", one, org.admin, body={"name": "x"}, headers={"If-Match": "banana"}).status == 400
    assert call("GET", base(org), org.admin, query={"include_archived": "perhaps"}).status == 400
    assert call("POST", f"{base(org)}/preview", org.admin, body={"type": "streak"}).status == 422
    assert (
        call(
            "POST", f"{base(org)}/preview", org.admin, body={"criteria": TEN_VISITS, "sample_size": 500}
        ).status
        == 422
    )

    assert snapshot(db) == before


def test_preview_answers_with_counts_a_sample_and_a_note_for_manual_badges(db: Database, org: Org) -> None:
    reply = call("POST", f"{base(org)}/preview", org.admin, body={"type": "manual", "schema_version": 1})
    assert reply.status == 200 and reply.body["qualifying"] == 0 and reply.body["evaluated"] == 2
    assert reply.body["sample"] == [] and "never awarded automatically" in reply.body["note"]
