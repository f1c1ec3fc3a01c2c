"""Streak pauses through the config_crud handler (SPEC 8.3): create, list, delete, who may do what,
validation that lists every problem, audit rows, and the touched mentors queued for evaluation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from config_crud.handler import lambda_handler
from peer_badges.db import Database, Json
from peer_badges.mentor_evaluation import drain_outbox
from tests.helpers import Org, Reply, add_activity, api_event, invoke, seed_org
from tests.integration.shared_database import shared_db_fixture, shared_module_db_fixture  # noqa: F401

SUMMER = {"peer_mentor_id": None, "starts_on": "2026-06-29", "ends_on": "2026-07-26", "reason": "Sommerferie"}


@pytest.fixture
def org(shared_db: Database) -> Org:
    return seed_org(shared_db)


def pauses_path(org: Org) -> str:
    return f"/orgs/{org.id}/streak-pauses"


def post(org: Org, sub: uuid.UUID, body: Any) -> Reply:
    return invoke(lambda_handler, api_event("POST", pauses_path(org), sub=sub, body=body))


def get(org: Org, sub: uuid.UUID, **query: str) -> Reply:
    return invoke(lambda_handler, api_event("GET", pauses_path(org), sub=sub, query=query))


def delete(org: Org, sub: uuid.UUID, pause_id: object) -> Reply:
    return invoke(lambda_handler, api_event("DELETE", f"{pauses_path(org)}/{pause_id}", sub=sub))


def sick_leave(mentor: uuid.UUID, **fields: Any) -> dict[str, Any]:
    body = {
        "peer_mentor_id": str(mentor),
        "starts_on": "2026-03-02",
        "ends_on": "2026-04-12",
        "reason": "Sykemeldt",
    }
    return {**body, **fields}


def state(db: Database, org: Org) -> dict[str, Any]:
    """Everything a pause request may change in the organisation."""
    return {
        "pauses": db.query("SELECT * FROM streak_pauses WHERE org_id = :o ORDER BY id", o=org.id),
        "audit": db.query("SELECT * FROM audit_log WHERE org_id = :o ORDER BY id", o=org.id),
        "outbox": db.query("SELECT * FROM evaluation_outbox WHERE org_id = :o ORDER BY id", o=org.id),
    }


def queued(db: Database, org: Org) -> list[tuple[uuid.UUID, str, bool]]:
    rows = db.query(
        """SELECT peer_mentor_id, reason, backfill FROM evaluation_outbox
            WHERE org_id = :o AND reason = 'streak_pause' ORDER BY created_at, peer_mentor_id""",
        o=org.id,
    )
    return [(row["peer_mentor_id"], row["reason"], row["backfill"]) for row in rows]


def audit(db: Database, org: Org) -> list[dict[str, Any]]:
    return db.query(
        """SELECT actor_id, actor_kind, action, entity_type, entity_id, before, after, correlation_id
             FROM audit_log WHERE org_id = :o AND entity_type = 'streak_pause' ORDER BY id""",
        o=org.id,
    )


def problems(reply: Reply) -> dict[str, str]:
    return {item["path"]: item["code"] for item in reply.body["error"]["details"]}


# --- create ------------------------------------------------------------------------------------


def test_an_admin_pauses_the_whole_organisation_audited_and_every_peer_mentor_queued(
    shared_db: Database, org: Org
) -> None:
    # When an admin creates a summer break for everyone
    reply = post(org, org.admin, SUMMER)

    # Then it is created with who and when
    assert reply.status == 201, reply.body
    pause = reply.body
    assert {k: pause[k] for k in SUMMER} == SUMMER
    assert pause["org_id"] == str(org.id) and pause["created_by"] == str(org.admin)
    assert pause["created_at"] and uuid.UUID(pause["id"])
    assert reply.headers["location"] == f"{pauses_path(org)}/{pause['id']}"
    # ... both peer mentors (not the admin or the coordinators) are queued for a live evaluation
    assert sorted(queued(shared_db, org)) == sorted(
        [(org.mentor, "streak_pause", False), (org.other_mentor, "streak_pause", False)]
    )
    # ... and the audit log has the pause as it was created, by whom, with the request's id
    (row,) = audit(shared_db, org)
    assert row["action"] == "streak_pause.created" and row["actor_id"] == org.admin
    assert row["actor_kind"] == "user" and row["entity_id"] == uuid.UUID(pause["id"])
    assert row["before"] is None and row["after"]["reason"] == "Sommerferie"
    assert row["after"]["peer_mentor_id"] is None and row["correlation_id"]


def test_the_pause_is_what_the_streak_queries_read(shared_db: Database, org: Org) -> None:
    # Given an admin's pause from a Wednesday to the Monday two weeks later
    body = sick_leave(org.mentor, starts_on="2026-03-04", ends_on="2026-03-16")
    assert post(org, org.admin, body).status == 201

    # Then every ISO week touching it is paused for that mentor, and none for the other mentor
    weeks = shared_db.query_one(
        "SELECT paused_weeks(:o, :m, DATE '2026-12-28') AS mine, paused_weeks(:o, :n, DATE '2026-12-28') AS theirs",
        o=org.id,
        m=org.mentor,
        n=org.other_mentor,
    )
    assert weeks is not None
    assert weeks["mine"] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert weeks["theirs"] == []


def test_a_coordinator_pauses_an_assigned_mentor_and_only_that_mentor_is_queued(
    shared_db: Database, org: Org
) -> None:
    reply = post(org, org.coordinator, sick_leave(org.mentor))

    assert reply.status == 201, reply.body
    assert reply.body["peer_mentor_id"] == str(org.mentor)
    assert reply.body["created_by"] == str(org.coordinator)
    assert queued(shared_db, org) == [(org.mentor, "streak_pause", False)]
    assert [row["action"] for row in audit(shared_db, org)] == ["streak_pause.created"]


@pytest.mark.parametrize(
    ("who", "body", "says"),
    [
        ("coordinator", SUMMER, "Only organisation admins can pause the whole organisation"),
        ("coordinator", "other mentor", "mentors assigned to them"),
        ("other_coordinator", "mentor", "mentors assigned to them"),
        ("mentor", "mentor", "Only coordinators and organisation admins"),
        ("mentor", SUMMER, "Only coordinators and organisation admins"),
    ],
)
def test_creating_beyond_ones_scope_is_refused_and_changes_nothing(
    shared_db: Database, org: Org, who: str, body: Any, says: str
) -> None:
    before = state(shared_db, org)
    if isinstance(body, str):
        body = sick_leave(org.mentor if body == "mentor" else org.other_mentor)

    reply = post(org, getattr(org, who), body)

    assert reply.status == 403, reply.body
    assert reply.error_code == "forbidden" and says in reply.body["error"]["message"]
    assert state(shared_db, org) == before


def test_a_repeated_create_returns_the_same_pause_and_writes_nothing_more(
    shared_db: Database, org: Org
) -> None:
    first = post(org, org.admin, SUMMER)
    assert first.status == 201
    after_first = state(shared_db, org)

    # When the same request comes again (a client retry), from the same or another admin-level caller
    again = post(org, org.admin, {**SUMMER, "reason": "  Sommerferie  "})

    # Then it answers 200 with the pause made the first time, and nothing new is written
    assert again.status == 200, again.body
    assert again.body == first.body
    assert state(shared_db, org) == after_first


def test_the_same_period_with_another_reason_is_a_conflict(shared_db: Database, org: Org) -> None:
    first = post(org, org.admin, SUMMER)
    after_first = state(shared_db, org)

    reply = post(org, org.admin, {**SUMMER, "reason": "Fellesferie"})

    assert reply.status == 409 and reply.error_code == "conflict"
    assert first.body["id"] in reply.body["error"]["message"]
    assert state(shared_db, org) == after_first


def test_overlapping_pauses_are_fine(shared_db: Database, org: Org) -> None:
    assert post(org, org.admin, SUMMER).status == 201
    assert post(org, org.admin, {**SUMMER, "peer_mentor_id": str(org.mentor)}).status == 201
    assert post(org, org.admin, {**SUMMER, "ends_on": "2026-08-09"}).status == 201
    assert len(get(org, org.admin).body["items"]) == 3


def test_the_queued_evaluation_is_live_and_may_award(db: Database) -> None:
    # Given a mentor who qualifies for a badge but was never evaluated for it (queues emptied)
    org = seed_org(db)
    add_activity(db, org.id, org.mentor, date(2026, 3, 3))
    db.query(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:o, 'first-activity', 'First activity', CAST(:c AS jsonb))""",
        o=org.id,
        c=Json({"type": "threshold", "schema_version": 1, "threshold": 1}),
    )
    db.query("DELETE FROM evaluation_outbox")
    db.query("DELETE FROM definition_backfills")

    # When a pause is created for them and the outbox is drained
    assert post(org, org.admin, sick_leave(org.mentor)).status == 201
    report = drain_outbox(db, datetime(2026, 4, 1, 12, tzinfo=UTC))

    # Then the pause's evaluation awarded it, live (not a backfill), and the queue is done
    assert [(badge.peer_mentor_id, badge.source) for badge in report.awarded] == [(org.mentor, "evaluation")]
    pending = db.query("SELECT id FROM evaluation_outbox WHERE status <> 'done'")
    assert pending == []


# --- validation --------------------------------------------------------------------------------


def test_every_problem_of_a_body_is_listed_at_once_and_nothing_changes(shared_db: Database, org: Org) -> None:
    before = state(shared_db, org)
    # Given a body with a mentor who is not a peer mentor here, dates the wrong way round and no reason
    stranger = uuid.uuid4()
    body = {
        "peer_mentor_id": str(stranger),
        "starts_on": "2026-07-10",
        "ends_on": "2026-07-01",
        "reason": " ",
    }

    reply = post(org, org.admin, body)

    # Then one 422 names all three, each at its path
    assert reply.status == 422 and reply.error_code == "validation_failed", reply.body
    assert problems(reply) == {
        "peer_mentor_id": "unknown_mentor",
        "ends_on": "ends_before_start",
        "reason": "string_too_short",
    }
    messages = {item["path"]: item["message"] for item in reply.body["error"]["details"]}
    assert str(stranger) in messages["peer_mentor_id"]
    assert "2026-07-01" in messages["ends_on"] and "2026-07-10" in messages["ends_on"]
    assert state(shared_db, org) == before


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # 26 weeks counting both ends is the most; one day more is too long
        ({"starts_on": "2026-01-05", "ends_on": "2026-07-05"}, None),
        ({"starts_on": "2026-01-05", "ends_on": "2026-07-06"}, {"ends_on": "too_long"}),
        ({"starts_on": "2026-03-02", "ends_on": "2026-03-02"}, None),  # one day
        ({"starts_on": "2026-02-30", "ends_on": "1 March"}, {"starts_on": None, "ends_on": "date_format"}),
        ({"starts_on": 20260301, "ends_on": None}, {"starts_on": "date_format", "ends_on": "date_format"}),
        ({"peer_mentor_id": "not-a-uuid", "reason": "x" * 501}, {"peer_mentor_id": None, "reason": None}),
        ({"peer_mentor_id": 42}, {"peer_mentor_id": None}),
        ({"colour": "blue"}, {"colour": "extra_forbidden"}),
    ],
)
def test_bad_fields_are_each_a_problem_at_their_path(
    shared_db: Database, org: Org, fields: dict[str, Any], expected: dict[str, str | None] | None
) -> None:
    before = state(shared_db, org)

    reply = post(org, org.admin, sick_leave(org.mentor) | fields)

    if expected is None:
        assert reply.status == 201, reply.body
        return
    assert reply.status == 422, reply.body
    found = problems(reply)
    assert set(found) == set(expected)
    assert all(code is None or found[path] == code for path, code in expected.items()), found
    assert state(shared_db, org) == before


def test_someone_who_is_not_a_peer_mentor_here_cannot_be_paused(shared_db: Database, org: Org) -> None:
    other = seed_org(shared_db, "hlf")
    before = state(shared_db, org)

    for person in (org.coordinator, org.admin, other.mentor):
        reply = post(org, org.admin, sick_leave(person))
        assert reply.status == 422 and problems(reply) == {"peer_mentor_id": "unknown_mentor"}, reply.body
    assert state(shared_db, org) == before


def test_peer_mentor_id_must_be_given_so_an_org_wide_pause_is_always_meant(
    shared_db: Database, org: Org
) -> None:
    body = {key: value for key, value in SUMMER.items() if key != "peer_mentor_id"}

    reply = post(org, org.admin, body)

    assert reply.status == 422 and problems(reply) == {"peer_mentor_id": "missing"}


def test_a_coordinator_sending_a_malformed_id_is_told_what_is_wrong(shared_db: Database, org: Org) -> None:
    reply = post(org, org.coordinator, sick_leave(org.mentor, peer_mentor_id="nobody", ends_on="2026-01-01"))

    assert reply.status == 422
    assert set(problems(reply)) == {"peer_mentor_id", "ends_on"}


@pytest.mark.parametrize("raw", ["[]", '"pause"', "{", ""])
def test_a_body_that_is_no_json_object_is_refused(shared_db: Database, org: Org, raw: str) -> None:
    event = api_event("POST", pauses_path(org), sub=org.admin, raw_body=raw)

    reply = invoke(lambda_handler, event)

    assert reply.status in (400, 422) and reply.error_code, reply.body


# --- list --------------------------------------------------------------------------------------


def _seed_three(org: Org) -> dict[str, str]:
    made = {
        "org": post(org, org.admin, SUMMER),
        "mentor": post(org, org.admin, sick_leave(org.mentor)),
        "other": post(
            org, org.admin, sick_leave(org.other_mentor, starts_on="2026-09-07", ends_on="2026-09-20")
        ),
    }
    assert all(reply.status == 201 for reply in made.values())
    return {name: reply.body["id"] for name, reply in made.items()}


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [item["id"] for item in reply.body["items"]]


def test_admins_see_every_pause_newest_start_first(org: Org) -> None:
    made = _seed_three(org)

    assert ids(get(org, org.admin)) == [made["other"], made["org"], made["mentor"]]


def test_coordinators_see_the_organisations_pauses_and_their_mentors(org: Org) -> None:
    made = _seed_three(org)

    assert ids(get(org, org.coordinator)) == [made["org"], made["mentor"]]
    assert ids(get(org, org.other_coordinator)) == [made["org"]]


def test_mentor_id_lists_the_pauses_that_apply_to_that_mentor(org: Org) -> None:
    made = _seed_three(org)

    assert ids(get(org, org.admin, mentor_id=str(org.other_mentor))) == [made["other"], made["org"]]
    assert ids(get(org, org.coordinator, mentor_id=str(org.mentor))) == [made["org"], made["mentor"]]


@pytest.mark.parametrize(
    ("who", "query"),
    [
        ("mentor", {}),
        ("mentor", {"mentor_id": "mentor"}),
        ("other_coordinator", {"mentor_id": "mentor"}),
        ("coordinator", {"mentor_id": "other_mentor"}),
    ],
)
def test_listing_beyond_ones_scope_is_refused(org: Org, who: str, query: dict[str, str]) -> None:
    _seed_three(org)
    named = {key: str(getattr(org, value)) for key, value in query.items()}

    reply = get(org, getattr(org, who), **named)

    assert reply.status == 403 and reply.error_code == "forbidden"
    assert "Sykemeldt" not in str(reply.body)


def test_pages_follow_the_cursor_without_gaps_or_repeats(org: Org) -> None:
    made = _seed_three(org)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        reply = get(org, org.admin, **query)
        seen += ids(reply)
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [made["other"], made["org"], made["mentor"]]


@pytest.mark.parametrize(
    "query",
    [{"cursor": "not-a-cursor"}, {"cursor": "WyJ4Il0"}, {"limit": "0"}, {"limit": "201"}, {"mentor_id": "x"}],
)
def test_a_bad_cursor_limit_or_mentor_id_is_a_400(org: Org, query: dict[str, str]) -> None:
    reply = get(org, org.admin, **query)

    assert reply.status == 400, reply.body


# --- delete ------------------------------------------------------------------------------------


def test_an_admin_deletes_a_pause_audited_and_its_mentors_queued(shared_db: Database, org: Org) -> None:
    created = post(org, org.coordinator, sick_leave(org.mentor)).body
    shared_db.query("DELETE FROM evaluation_outbox WHERE org_id = :o", o=org.id)

    reply = delete(org, org.admin, created["id"])

    assert reply.status == 204 and reply.body is None
    assert ids(get(org, org.admin)) == []
    assert queued(shared_db, org) == [(org.mentor, "streak_pause", False)]
    created_row, deleted_row = audit(shared_db, org)
    assert created_row["action"] == "streak_pause.created" and created_row["actor_id"] == org.coordinator
    assert deleted_row["action"] == "streak_pause.deleted" and deleted_row["actor_id"] == org.admin
    assert deleted_row["before"]["id"] == created["id"] and deleted_row["after"] is None
    assert deleted_row["before"]["created_by"] == str(org.coordinator)

    # And a repeat finds nothing to delete and changes nothing
    before = state(shared_db, org)
    again = delete(org, org.admin, created["id"])
    assert again.status == 404 and again.error_code == "not_found"
    assert state(shared_db, org) == before


def test_deleting_an_org_wide_pause_queues_every_peer_mentor(shared_db: Database, org: Org) -> None:
    created = post(org, org.admin, SUMMER).body
    shared_db.query("DELETE FROM evaluation_outbox WHERE org_id = :o", o=org.id)

    assert delete(org, org.admin, created["id"]).status == 204

    assert sorted(queued(shared_db, org)) == sorted(
        [(org.mentor, "streak_pause", False), (org.other_mentor, "streak_pause", False)]
    )


@pytest.mark.parametrize("who", ["coordinator", "mentor"])
def test_only_admins_delete(shared_db: Database, org: Org, who: str) -> None:
    created = post(org, org.coordinator, sick_leave(org.mentor)).body
    before = state(shared_db, org)

    reply = delete(org, getattr(org, who), created["id"])

    assert reply.status == 403 and reply.error_code == "forbidden"
    assert state(shared_db, org) == before


def test_another_organisations_pause_is_not_found_through_this_one(shared_db: Database, org: Org) -> None:
    other = seed_org(shared_db, "hlf")
    theirs = post(other, other.admin, SUMMER).body
    before = state(shared_db, other)

    reply = delete(org, org.admin, theirs["id"])

    assert reply.status == 404
    assert state(shared_db, other) == before
    assert delete(org, org.admin, "not-a-uuid").status == 400
