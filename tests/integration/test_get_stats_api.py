"""get_stats over its sample events: who may read what, malformed input, ETags, the overview's pages."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from get_stats.handler import lambda_handler
from peer_badges import db as db_module
from peer_badges.db import Database, Json
from peer_badges.definitions_cache import definitions_cache
from tests.helpers import Org, Reply, add_activity, invoke, seed_org

EVENTS = Path(__file__).resolve().parents[2] / "events" / "get_stats"
ROUTES = {"stats": "stats.json", "milestones": "milestones.json", "overview": "mentor_stats_overview.json"}
SAMPLE_ORG = "5b1f3c2a-7d4e-4f6a-9b8c-1e2d3f4a5b6c"
SAMPLE_MENTOR = "a3c9e7f1-2b4d-4e6f-8a1c-3d5e7f9b1c2d"


def event_for(
    route: str,
    org_id: uuid.UUID | str,
    mentor_id: uuid.UUID | str | None = None,
    *,
    sub: uuid.UUID | str | None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The route's sample event, pointed at our org and mentor, sent by `sub` (None: no token)."""
    event = copy.deepcopy(json.loads((EVENTS / ROUTES[route]).read_text()))
    path = event["rawPath"].replace(SAMPLE_ORG, str(org_id))
    if mentor_id is not None:
        path = path.replace(SAMPLE_MENTOR, str(mentor_id))
        event["pathParameters"]["mentor_id"] = str(mentor_id)
    event["pathParameters"]["org_id"] = str(org_id)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if route == "overview":
        query = query if query is not None else {"mentor_id": [str(mentor_id)]} if mentor_id else {}
    if query is not None:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()} or None
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, vs in query.items() for v in vs)
    if sub is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = str(sub)
    event["headers"].update(headers or {})
    event["requestContext"]["timeEpoch"] = int((at or datetime.now(UTC)).timestamp() * 1000)
    return event


def call(route: str, org_id: Any, mentor_id: Any = None, **kwargs: Any) -> Reply:
    return invoke(lambda_handler, event_for(route, org_id, mentor_id, **kwargs))


@pytest.fixture(autouse=True)
def fresh_definitions_cache() -> None:
    definitions_cache.invalidate()


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def add_definition(db: Database, org_id: uuid.UUID, key: str, criteria: dict[str, Any]) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org_id, :key, :name, CAST(:criteria AS jsonb)) RETURNING id""",
        org_id=org_id,
        key=key,
        name=key.replace("-", " ").title(),
        criteria=Json(criteria),
    )
    assert row is not None
    return row["id"]


# --- who may read what ---------------------------------------------------------------------

CALLERS = [
    "mentor_self",
    "other_mentor",
    "assigned_coordinator",
    "unassigned_coordinator",
    "admin",
    "foreign_admin",
]
MENTOR_ROUTE_STATUS = {
    "mentor_self": 200,
    "other_mentor": 403,
    "assigned_coordinator": 200,
    "unassigned_coordinator": 403,
    "admin": 200,
    "foreign_admin": 403,
}
OVERVIEW_STATUS = {**MENTOR_ROUTE_STATUS, "mentor_self": 403}


def caller(db: Database, org: Org, who: str) -> uuid.UUID:
    if who == "foreign_admin":
        return seed_org(db, slug="hlf").admin
    return {
        "mentor_self": org.mentor,
        "other_mentor": org.other_mentor,
        "assigned_coordinator": org.coordinator,
        "unassigned_coordinator": org.other_coordinator,
        "admin": org.admin,
    }[who]


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("route", ["stats", "milestones", "overview"])
def test_each_route_answers_each_kind_of_caller(db: Database, org: Org, route: str, who: str) -> None:
    # Given a mentor with one activity
    add_activity(db, org.id, org.mentor, date(2026, 3, 10))

    # When someone asks about that mentor
    reply = call(route, org.id, org.mentor, sub=caller(db, org, who))

    # Then only the mentor, their coordinator and the org's admins see the stats
    expected = (OVERVIEW_STATUS if route == "overview" else MENTOR_ROUTE_STATUS)[who]
    assert reply.status == expected, reply.body
    if expected == 403:
        assert reply.error_code == "forbidden"
        assert reply.body["error"]["message"]
        assert str(org.mentor) not in json.dumps(reply.body) or who != "foreign_admin"
    else:
        item = reply.body["items"][0] if route == "overview" else reply.body
        assert item["peer_mentor_id"] == str(org.mentor)


@pytest.mark.parametrize("route", ["stats", "milestones", "overview"])
def test_no_token_is_401(db: Database, org: Org, route: str) -> None:
    reply = call(route, org.id, org.mentor, sub=None)

    assert reply.status == 401
    assert reply.error_code == "unauthorized"


def test_an_outsider_cannot_tell_a_real_mentor_from_a_made_up_one(db: Database, org: Org) -> None:
    outsider = seed_org(db, slug="hlf").admin

    real = call("stats", org.id, org.mentor, sub=outsider)
    made_up = call("stats", org.id, uuid.uuid4(), sub=outsider)

    assert (real.status, real.body) == (made_up.status, made_up.body)


# --- malformed input changes nothing and queries nothing -----------------------------------


class CountingDatabase:
    """The handlers' database, counting the statements sent through it."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.statements = 0

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        self.statements += 1
        return self.inner.query(sql, **params)

    def query_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        self.statements += 1
        return self.inner.query_one(sql, **params)

    def transaction(self):  # type: ignore[no-untyped-def]
        self.statements += 1
        return self.inner.transaction()


@pytest.fixture
def counting_db(db: Database) -> Iterator[CountingDatabase]:
    counting = CountingDatabase(db)
    # Swapped in directly: set_database() would close the real connection.
    db_module._database = counting  # type: ignore[assignment]
    yield counting
    db_module._database = db


@pytest.mark.parametrize(
    ("route", "org_id", "mentor_id", "query", "path"),
    [
        ("stats", "not-a-uuid", "MENTOR", None, "org_id"),
        ("stats", "ORG", "12345", None, "mentor_id"),
        ("milestones", "ORG", "a3c9e7f1-2b4d-4e6f-8a1c-3d5e7f9b1c2", None, "mentor_id"),
        ("overview", "ORG", None, {"mentor_id": ["MENTOR", "nope"]}, "mentor_id"),
        ("overview", "ORG", None, {"limit": ["0"]}, "limit"),
        ("overview", "ORG", None, {"limit": ["many"]}, "limit"),
    ],
)
def test_malformed_input_is_a_400_before_any_query(
    counting_db: CountingDatabase, route: str, org_id: str, mentor_id: str | None, query: Any, path: str
) -> None:
    org = seed_org(counting_db.inner)

    def fill(value: str) -> str:
        return value.replace("ORG", str(org.id)).replace("MENTOR", str(org.mentor))

    query = {k: [fill(v) for v in vs] for k, vs in query.items()} if query else None
    reply = call(route, fill(org_id), fill(mentor_id) if mentor_id else None, sub=org.admin, query=query)

    assert reply.status == 400, reply.body
    assert reply.body["error"]["details"][0]["path"].startswith(path)
    assert counting_db.statements == 0


def test_a_cursor_that_was_not_issued_is_a_400(db: Database, org: Org) -> None:
    reply = call("overview", org.id, sub=org.admin, query={"cursor": ["bm90LWEtY3Vyc29y"]})

    assert reply.status == 400
    assert "cursor" in reply.body["error"]["message"]


# --- content -------------------------------------------------------------------------------


def test_a_member_without_activity_gets_zeros(db: Database, org: Org) -> None:
    reply = call("stats", org.id, org.other_mentor, sub=org.admin)

    assert reply.status == 200
    body = reply.body
    assert body["assignment_count"] == {"total": 0, "by_type": {}}
    assert body["streak"] == {
        "current_streak_weeks": 0,
        "longest_streak_weeks": 0,
        "last_active_week": None,
        "paused_this_week": False,
    }
    assert body["total_minutes"] == 0
    assert body["first_activity_date"] is None
    assert body["training"] == {"completed": []}


def test_someone_who_is_not_in_the_org_is_404_for_an_admin(db: Database, org: Org) -> None:
    stranger = uuid.uuid4()

    for route in ("stats", "milestones"):
        reply = call(route, org.id, stranger, sub=org.admin)
        assert reply.status == 404, route
        assert str(stranger) in reply.body["error"]["message"]


def test_stats_show_counts_streak_training_and_honorar(db: Database, org: Org) -> None:
    # Given Blindeforbundet-style honorarium milestones and three weeks of activity
    add_definition(
        db,
        org.id,
        "honorar",
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
        },
    )
    for day, kind in [(2, "assignment"), (10, "assignment"), (11, "visit"), (17, "assignment")]:
        add_activity(db, org.id, org.mentor, date(2026, 3, day), kind, duration_minutes=30)
    db.query(
        """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at)
           VALUES (:o, :m, 'basic-course', '2026-01-15T10:00:00Z')""",
        o=org.id,
        m=org.mentor,
    )

    # When the mentor looks on Wednesday 18 March
    reply = call("stats", org.id, org.mentor, sub=org.mentor, at=datetime(2026, 3, 18, 12, tzinfo=UTC))

    # Then
    body = reply.body
    assert body["assignment_count"] == {"total": 4, "by_type": {"assignment": 3, "visit": 1}}
    assert body["streak"] == {
        "current_streak_weeks": 3,
        "longest_streak_weeks": 3,
        "last_active_week": "2026-03-16",
        "paused_this_week": False,
    }
    assert body["honorar"] == {
        "thresholds": [3, 15],
        "thresholds_met": [3],
        "next_threshold": 15,
        "remaining_to_next": 12,
        "payouts": [],  # nothing awarded yet: the outbox was not drained
    }
    assert body["total_minutes"] == 120
    assert (body["first_activity_date"], body["last_activity_date"]) == ("2026-03-02", "2026-03-17")
    assert [t["training_code"] for t in body["training"]["completed"]] == ["basic-course"]


def test_milestones_merge_progress_with_what_was_earned(db: Database, org: Org) -> None:
    tier = add_definition(
        db,
        org.id,
        "visits",
        {
            "type": "tier",
            "schema_version": 1,
            "tiers": [{"name": "Bronze", "threshold": 2}, {"name": "Silver", "threshold": 5}],
        },
    )
    add_definition(
        db, org.id, "steady", {"type": "streak", "schema_version": 1, "weeks": 4, "min_per_week": 2}
    )
    for day in (2, 3, 10):
        add_activity(db, org.id, org.mentor, date(2026, 3, day))
    db.query(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:o, :m, :d, 1, '2026-03-03', 'evaluation', 1, '{}')""",
        o=org.id,
        m=org.mentor,
        d=tier,
    )

    reply = call(
        "milestones", org.id, org.mentor, sub=org.coordinator, at=datetime(2026, 3, 11, 9, tzinfo=UTC)
    )

    assert reply.status == 200, reply.body
    badges = {(b["key"], b["level"]): b for b in reply.body["badges"]}
    assert (badges[("visits", 1)]["current"], badges[("visits", 1)]["earned"]) == (3, True)
    assert badges[("visits", 1)]["earned_at"] == "2026-03-03"
    assert (
        badges[("visits", 2)]["current"],
        badges[("visits", 2)]["target"],
        badges[("visits", 2)]["earned"],
    ) == (
        3,
        5,
        False,
    )
    # Two a week only in the week of 2 March: on 11 March that was last week, so the run is still current
    assert (badges[("steady", 1)]["current"], badges[("steady", 1)]["target"]) == (1, 4)


# --- "this week" is the org's week ---------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "expected_current"),
    [("UTC", 1), ("Europe/Oslo", 0)],
)
def test_the_current_week_is_decided_in_the_orgs_time_zone(
    db: Database, timezone: str, expected_current: int
) -> None:
    # Given a mentor last active in the week of 16 March 2026
    org = seed_org(db, timezone=timezone)
    add_activity(db, org.id, org.mentor, date(2026, 3, 18))

    # When asked on Sunday 29 March at 22:30 UTC: still Sunday in UTC, but 00:30 on Monday 30 March in Oslo
    # (summer time started that morning, so Oslo is two hours ahead)
    reply = call("stats", org.id, org.mentor, sub=org.mentor, at=datetime(2026, 3, 29, 22, 30, tzinfo=UTC))

    # Then the week of 16 March is "last week" in UTC (alive) but two weeks ago in Oslo (ended)
    assert reply.body["streak"]["current_streak_weeks"] == expected_current
    assert reply.body["streak"]["longest_streak_weeks"] == 1


# --- ETags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["stats", "milestones", "overview"])
def test_a_current_etag_gets_304_and_a_change_gets_a_new_one(db: Database, org: Org, route: str) -> None:
    add_definition(db, org.id, "ten", {"type": "threshold", "schema_version": 1, "threshold": 10})
    add_activity(db, org.id, org.mentor, date(2026, 3, 10))
    first = call(route, org.id, org.mentor, sub=org.admin)
    etag = first.headers["etag"]

    again = call(route, org.id, org.mentor, sub=org.admin, headers={"if-none-match": etag})
    assert again.status == 304
    assert again.body is None
    assert again.headers["etag"] == etag

    add_activity(db, org.id, org.mentor, date(2026, 3, 11))
    changed = call(route, org.id, org.mentor, sub=org.admin, headers={"if-none-match": etag})
    assert changed.status == 200
    assert changed.headers["etag"] != etag


def test_a_304_still_requires_permission(db: Database, org: Org) -> None:
    etag = call("stats", org.id, org.mentor, sub=org.mentor).headers["etag"]

    reply = call("stats", org.id, org.mentor, sub=org.other_mentor, headers={"if-none-match": etag})

    assert reply.status == 403


# --- the overview --------------------------------------------------------------------------


def test_admins_page_through_every_peer_mentor(db: Database, org: Org) -> None:
    extra = [uuid.uuid4() for _ in range(3)]
    for mentor in extra:
        db.query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :u, 'peer_mentor')",
            o=org.id,
            u=mentor,
        )
    add_activity(db, org.id, org.mentor, date(2026, 3, 10))

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": ["2"], **({"cursor": [cursor]} if cursor else {})}
        reply = call("overview", org.id, sub=org.admin, query=query)
        assert reply.status == 200, reply.body
        assert len(reply.body["items"]) <= 2
        seen += [item["peer_mentor_id"] for item in reply.body["items"]]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(str(m) for m in [org.mentor, org.other_mentor, *extra])
    assert cursor is None


def test_coordinators_see_only_their_mentors(db: Database, org: Org) -> None:
    reply = call("overview", org.id, sub=org.coordinator, query={})

    assert [item["peer_mentor_id"] for item in reply.body["items"]] == [str(org.mentor)]
    assert reply.body["next_cursor"] is None


def test_asking_for_a_mentor_outside_your_scope_names_them(db: Database, org: Org) -> None:
    reply = call(
        "overview", org.id, sub=org.coordinator, query={"mentor_id": [str(org.mentor), str(org.other_mentor)]}
    )

    assert reply.status == 403
    assert str(org.other_mentor) in reply.body["error"]["message"]
    assert str(org.mentor) not in reply.body["error"]["message"]


def test_explicit_mentors_come_back_once_each_in_id_order(db: Database, org: Org) -> None:
    ids = [str(org.other_mentor), str(org.mentor), str(org.mentor)]

    reply = call("overview", org.id, sub=org.admin, query={"mentor_id": ids})

    assert [item["peer_mentor_id"] for item in reply.body["items"]] == sorted(
        {str(org.mentor), str(org.other_mentor)}
    )
