"""Hostile and broken input: every body field, query parameter and header, and bodies that are not JSON.

Each request goes through the real handler as API Gateway would deliver it. The contract: never a
5xx; a clear 4xx in the one error shape for anything invalid, with nothing stored (every table's
contents compared before and after); text that is valid but hostile (SQL-injection strings) is
stored verbatim as data, never executed; and no response leaks SQL, a stack trace or internal
names. Through the local HTTP server, the same for raw bytes a client can send.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from award_badge.handler import lambda_handler as award_badge
from config_crud.handler import lambda_handler as config_crud
from evaluate_badges.handler import lambda_handler as evaluate_badges
from get_stats.handler import lambda_handler as get_stats
from peer_badges.api import MAX_BODY_CHARS, MAX_ERROR_DETAILS
from peer_badges.db import Database, Json
from peer_badges.events import set_events_client
from tests.helpers import Org, Reply, add_activity, api_event, invoke, seed_org
from tests.integration.shared_database import shared_db_fixture, shared_module_db_fixture  # noqa: F401

MANUAL = {"type": "manual", "schema_version": 1}
THRESHOLD = {
    "type": "threshold",
    "schema_version": 1,
    "threshold": 3,
    "activity_types": ["assignment"],
    "window": {"kind": "rolling_days", "days": 90},
}
TIER = {
    "type": "tier",
    "schema_version": 1,
    "activity_types": ["visit"],
    "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
}
TRAINING = {
    "type": "training_completion",
    "schema_version": 1,
    "training_codes": ["basic-course"],
    "require": "all",
    "only_valid": True,
}

INJECTIONS = (
    "' OR '1'='1",
    "'; DROP TABLE earned_badges; --",
    "1; SELECT pg_sleep(3) --",
    "' UNION SELECT id, key, name FROM badge_definitions --",
    ":org_id",  # the data layer's own placeholder syntax
    "$1) OR (1=1",
)
OVERSIZED = ("x" * 100_000, "é" * 3_000)
PG_SLEEP_S = 3

LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/var/task|/opt/python|pg8000|psycopg|sqlstate|"
    r"syntax error|at or near|ERROR:|DETAIL:|CONTEXT:|\bpeer_badges\b|"
    r"\b(?:badge_definitions|earned_badges|evaluation_outbox|event_outbox|audit_log|org_members|"
    r"coordinator_assignments|mentor_stats|mentor_week_activity|mentor_year_activity|"
    r"org_definition_versions|schema_migrations|training_completions|activities)\b|"
    r"\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bDELETE FROM\b",
    re.IGNORECASE,
)


class NullBus:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


@pytest.fixture(autouse=True)
def events() -> Iterator[None]:
    set_events_client(NullBus())
    yield
    set_events_client(None)


@dataclass
class World:
    db: Database
    org: Org
    definition: uuid.UUID  # a threshold definition, patched by PATCH bodies
    manual: Callable[[], uuid.UUID]  # a fresh manual definition per call (a fresh award key)
    earned: Callable[[], uuid.UUID]  # a fresh earned badge of the org's mentor per call


def _insert_definition(db: Database, org_id: uuid.UUID, criteria: dict[str, Any]) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, :key, 'Seeded', CAST(:criteria AS jsonb)) RETURNING id""",
        org=org_id,
        key=f"seeded-{uuid.uuid4().hex[:10]}",
        criteria=Json(criteria),
    )
    assert row is not None
    return row["id"]


@pytest.fixture
def world(shared_db: Database) -> World:
    db = shared_db
    org = seed_org(db)
    add_activity(db, org.id, org.mentor, date(2025, 3, 3))

    def earned() -> uuid.UUID:
        definition = _insert_definition(db, org.id, MANUAL)
        row = db.query_one(
            """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                          definition_revision, criteria_snapshot)
               VALUES (:org, :mentor, :definition, DATE '2025-03-03', 'manual', 1, CAST(:c AS jsonb))
               RETURNING id""",
            org=org.id,
            mentor=org.mentor,
            definition=definition,
            c=Json(MANUAL),
        )
        assert row is not None
        return row["id"]

    return World(
        db=db,
        org=org,
        definition=_insert_definition(db, org.id, THRESHOLD),
        manual=lambda: _insert_definition(db, org.id, MANUAL),
        earned=earned,
    )


@dataclass(frozen=True)
class BodyRoute:
    handler: Callable[..., Any]
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict[str, Any]]  # a fresh, valid body
    stores: str | None  # the table a 2xx writes the body's text to (None: stores nothing)
    success: tuple[int, ...]


def _create_body(_: World) -> dict[str, Any]:
    return {
        "key": f"k-{uuid.uuid4().hex[:12]}",
        "name": "Ten visits",
        "description": "Given for ten visits",
        "icon": "https://cdn.example.org/icons/visit.png",
        "criteria": THRESHOLD,
        "active": True,
    }


def _draft(_: World) -> dict[str, Any]:
    return {"criteria": TIER, "name": "Visits"}


BODY_ROUTES = {
    "award": BodyRoute(
        award_badge,
        "POST",
        lambda w: f"/orgs/{w.org.id}/mentors/{w.org.mentor}/badges",
        lambda w: {"badge_definition_id": str(w.manual()), "level": 1, "note": "For the spring campaign"},
        "earned_badges",
        (201,),
    ),
    "revoke": BodyRoute(
        award_badge,
        "POST",
        lambda w: f"/orgs/{w.org.id}/mentors/{w.org.mentor}/badges/{w.earned()}/revoke",
        lambda _: {"reason": "Registered by mistake"},
        "earned_badges",
        (200,),
    ),
    "create definition": BodyRoute(
        config_crud,
        "POST",
        lambda w: f"/orgs/{w.org.id}/badge-definitions",
        _create_body,
        "badge_definitions",
        (201,),
    ),
    "create training definition": BodyRoute(
        config_crud,
        "POST",
        lambda w: f"/orgs/{w.org.id}/badge-definitions",
        lambda w: {**_create_body(w), "criteria": TRAINING},
        "badge_definitions",
        (201,),
    ),
    "patch definition": BodyRoute(
        config_crud,
        "PATCH",
        lambda w: f"/orgs/{w.org.id}/badge-definitions/{w.definition}",
        lambda _: {"name": "Renamed", "description": "New text", "icon": "star", "criteria": THRESHOLD},
        "badge_definitions",
        (200,),
    ),
    "validate": BodyRoute(
        config_crud, "POST", lambda w: f"/orgs/{w.org.id}/badge-definitions/validate", _draft, None, (200,)
    ),
    "preview": BodyRoute(
        config_crud, "POST", lambda w: f"/orgs/{w.org.id}/badge-definitions/preview", _draft, None, (200,)
    ),
    "evaluations": BodyRoute(
        evaluate_badges,
        "POST",
        lambda w: f"/orgs/{w.org.id}/evaluations",
        lambda w: {"mentor_ids": [str(w.org.mentor)], "dry_run": True},
        None,
        (200,),
    ),
}


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every scalar in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def fingerprint(db: Database) -> dict[str, str]:
    """Every table's whole contents, hashed: equal before and after means nothing was written."""
    tables = [
        row["tablename"]
        for row in db.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
    ]
    # An order-independent digest (no sort): the row count and the sum of the rows' 64-bit hashes.
    sql = " UNION ALL ".join(
        f"SELECT '{name}' AS name, count(*) || ':' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)"
        f' AS digest FROM "{name}" AS t'
        for name in tables
    )
    return {row["name"]: row["digest"] for row in db.query(sql)}


def assert_no_leak(reply: Reply, sent: str = "") -> None:
    text = json.dumps(reply.body) if not isinstance(reply.body, str) else reply.body
    # An error may quote what was sent (e.g. a bad If-Match); that is the caller's text, not a leak.
    for form in {
        sent,
        json.dumps(sent)[1:-1],
        repr(sent[:40])[1:-1],
        json.dumps(repr(sent[:40])[1:-1])[1:-1],
    }:
        if form:
            text = text.replace(form, "")
    match = LEAKS.search(text)
    assert match is None, f"response leaks {match.group(0)!r}: {text[:500]}"


def assert_clear_refusal(reply: Reply) -> None:
    """A 4xx in the one error shape, or validate's own answer: 200 with valid=false and its problems."""
    if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("valid") is False:
        assert reply.body["problems"], reply.body
        return
    assert 400 <= reply.status < 500, (reply.status, str(reply.body)[:300])
    error = reply.body["error"]
    assert error["code"] and error["message"] and isinstance(error["details"], list), reply.body


@dataclass(frozen=True)
class Target:
    """A route's path and a valid body, prepared (and seeded) before the "before" snapshot."""

    route: BodyRoute
    path: str
    body: dict[str, Any]


def target(route: BodyRoute, world: World) -> Target:
    return Target(route, route.path(world), route.body(world))


def send(to: Target, world: World, body: Any = None, raw_body: str | None = None, **event: Any) -> Reply:
    request = api_event(to.route.method, to.path, sub=world.org.admin, body=body, raw_body=raw_body)
    for key, value in event.items():
        request[key] = value
    return invoke(to.route.handler, request)


# --- every field of every body -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BODY_ROUTES))
def test_hostile_text_in_every_body_field_is_refused_or_stored_verbatim(world: World, name: str) -> None:
    route = BODY_ROUTES[name]
    paths = list(leaves(route.body(world)))
    assert paths, "a body without fields tests nothing"
    for path in paths:
        for payload in INJECTIONS:
            # Given a valid body with one field replaced by an injection string
            to = target(route, world)
            body = replaced(to.body, path, payload)
            before = fingerprint(world.db)

            # When an admin sends it
            started = time.monotonic()
            reply = send(to, world, body)
            elapsed = time.monotonic() - started

            # Then it is never a 5xx, never executed (no pg_sleep), and leaks nothing
            where = f"{name} {'.'.join(map(str, path))} = {payload!r}"
            assert reply.status < 500, (where, reply.body)
            assert elapsed < PG_SLEEP_S - 0.5, where
            assert_no_leak(reply, payload)
            if reply.status >= 400 or route.stores is None:
                # ... and a refusal (or a route that stores nothing) changes nothing
                if reply.status >= 400:
                    assert_clear_refusal(reply)
                assert fingerprint(world.db) == before, where
            else:
                # ... and what was accepted is stored as the very text that was sent
                assert reply.status in route.success, (where, reply.body)
                stored = world.db.query_one(
                    f"SELECT to_jsonb(t) AS row FROM {route.stores} AS t WHERE id = :id", id=reply.body["id"]
                )
                assert stored is not None
                column = {"note": ("note",), "reason": ("revoke_reason",)}.get(path[0], path)
                assert at(stored["row"], column) == payload, where


@pytest.mark.parametrize("name", list(BODY_ROUTES))
def test_oversized_text_in_every_body_field_is_a_clear_4xx_that_stores_nothing(
    world: World, name: str
) -> None:
    route = BODY_ROUTES[name]
    for path in leaves(route.body(world)):
        for payload in OVERSIZED:
            # Given a valid body with one field replaced by 100,000 characters (or 3,000 two-byte ones)
            to = target(route, world)
            body = replaced(to.body, path, payload)
            before = fingerprint(world.db)

            # When an admin sends it
            reply = send(to, world, body)

            # Then it is refused clearly and nothing is stored
            assert_clear_refusal(reply)
            assert_no_leak(reply, payload)
            assert fingerprint(world.db) == before, (name, path, len(payload))


# --- bodies that are not what JSON or the database accept ----------------------------------------------


def _deep(levels: int) -> str:
    return '{"criteria": ' + '{"a": ' * levels + "1" + "}" * levels + "}"


@functools.cache
def raw_bodies() -> dict[str, str]:
    """Built on first use: the 5 MB ones take a moment, which collection should not pay."""
    return {
        "deeply nested objects": _deep(100_000),
        "deeply nested arrays": "[" * 100_000 + "]" * 100_000,
        "nested just past the bound": _deep(40),
        "duplicate keys": '{"name": "Visits", "name": "Visits", "criteria": {"type": "manual", "schema_version": 1}}',
        "NaN": '{"level": NaN}',
        "Infinity": '{"level": -Infinity}',
        "a 5,000-digit integer": '{"level": 1' + "0" * 5_000 + "}",
        "a NUL character": '{"note": "before\\u0000after", "reason": "a\\u0000b", "name": "x\\u0000"}',
        "a NUL character in a key": '{"criteria\\u0000": {}}',
        "an unpaired surrogate": '{"note": "\\ud800", "reason": "\\udfff", "name": "\\ud83d"}',
        "truncated": '{"name": "Visits", "criteria": {"type": ',
        "empty": "",
        "null": "null",
        "a string": '"hello"',
        "an array": "[]",
        "a 5 MB string": json.dumps({"note": "x" * 5_000_000, "reason": "x", "name": "x"}),
        "a 5 MB array": json.dumps(
            {"mentor_ids": [str(uuid.UUID(int=1))] * 130_000, "criteria": {"x": [1] * 10}}
        ),
        "5 MB of unknown fields": json.dumps({f"field_{i}": i for i in range(300_000)}),
        "just under the size bound, all unknown fields": json.dumps({f"f{i}": 0 for i in range(20_000)}),
    }


@pytest.mark.parametrize("name", ["create definition", "evaluations"])
def test_a_body_with_thousands_of_problems_answers_quickly_with_a_bounded_list(
    world: World, name: str
) -> None:
    # Given a body just under the size bound made of 20,000 unknown fields
    raw = raw_bodies()["just under the size bound, all unknown fields"]
    assert len(raw) < MAX_BODY_CHARS

    # When an admin sends it
    started = time.monotonic()
    reply = send(target(BODY_ROUTES[name], world), world, raw_body=raw)

    # Then the 422 comes back within a second and lists a bounded number of problems, saying so
    assert time.monotonic() - started < 1.5
    assert reply.status == 422
    details = reply.body["error"]["details"]
    assert len(details) == MAX_ERROR_DETAILS
    assert details[-1]["code"] == "too_many_errors"


@pytest.mark.parametrize("name", list(BODY_ROUTES))
def test_bodies_that_are_not_acceptable_json_are_a_clear_4xx_that_stores_nothing(
    world: World, name: str
) -> None:
    route = BODY_ROUTES[name]
    for kind, raw in raw_bodies().items():
        # Given a body JSON parsers disagree on, or the database would refuse
        to = target(route, world)
        before = fingerprint(world.db)

        # When an admin sends it
        reply = send(to, world, raw_body=raw)

        # Then it is a clear refusal, nothing leaks and nothing is stored
        assert_clear_refusal(reply)
        if len(raw) > MAX_BODY_CHARS:
            assert reply.status == 413, (name, kind)
        assert_no_leak(reply)
        assert fingerprint(world.db) == before, (name, kind)


@pytest.mark.parametrize("name", list(BODY_ROUTES))
def test_non_utf8_and_undecodable_bodies_are_400(world: World, name: str) -> None:
    route = BODY_ROUTES[name]
    for raw in (b'{"name": "\xff\xfe caf\xe9"}', b"\xc3\x28", b"\x00\x01\x02"):
        # Given bytes that are not UTF-8, base64-encoded as API Gateway passes binary bodies
        to = target(route, world)
        before = fingerprint(world.db)
        reply = send(to, world, raw_body=base64.b64encode(raw).decode(), isBase64Encoded=True)

        # Then the request is refused clearly, and nothing changes
        assert reply.status == 400, (name, raw, reply.body)
        assert reply.error_code == "malformed_json"
        assert_no_leak(reply)
        assert fingerprint(world.db) == before
    reply = send(target(route, world), world, raw_body="%%% not base64 %%%", isBase64Encoded=True)
    assert reply.status == 400, reply.body


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_a_body_that_is_not_json_by_content_type_is_415(world: World, content_type: str) -> None:
    for name, route in BODY_ROUTES.items():
        to = target(route, world)
        before = fingerprint(world.db)
        request = api_event(
            route.method,
            to.path,
            sub=world.org.admin,
            raw_body=json.dumps(to.body),
            headers={"content-type": content_type},
        )
        reply = invoke(route.handler, request)
        assert reply.status == 415, (name, reply.body)
        assert reply.error_code == "unsupported_media_type"
        assert fingerprint(world.db) == before


# --- query parameters and headers ---------------------------------------------------------------------------


def _query_routes(world: World) -> dict[str, tuple[Callable[..., Any], str, list[str]]]:
    org, mentor = world.org.id, world.org.mentor
    return {
        "list badges": (
            award_badge,
            f"/orgs/{org}/mentors/{mentor}/badges",
            ["limit", "cursor", "include_revoked"],
        ),
        "overview": (get_stats, f"/orgs/{org}/mentor-stats", ["mentor_id", "cursor", "limit"]),
        "list definitions": (config_crud, f"/orgs/{org}/badge-definitions", ["include_archived"]),
    }


def test_hostile_query_parameters_are_400_and_leak_nothing(world: World) -> None:
    for name, (handler, path, parameters) in _query_routes(world).items():
        for parameter in parameters:
            valid_here = {"0", "1"} if parameter.startswith("include_") else set()
            for payload in (*INJECTIONS, *OVERSIZED, "-1", "0", "1e9", "", "\x00"):
                if payload in valid_here:
                    continue
                # Given one query parameter replaced by hostile or oversized text
                started = time.monotonic()
                reply = invoke(
                    handler, api_event("GET", path, sub=world.org.admin, query={parameter: payload})
                )

                # Then it is refused as a bad request, quickly, without leaking anything
                where = (name, parameter, payload[:40])
                if parameter == "cursor" and payload == "":
                    assert reply.status == 200, where  # an empty cursor is the first page
                    continue
                assert reply.status == 400, (where, reply.body)
                assert time.monotonic() - started < PG_SLEEP_S - 0.5, where
                assert_clear_refusal(reply)
                assert_no_leak(reply, payload)


def test_hostile_if_match_is_400_and_changes_nothing(world: World) -> None:
    path = f"/orgs/{world.org.id}/badge-definitions/{world.definition}"
    for payload in (*INJECTIONS, "x" * 10_000, '"1" OR 1=1', "W/", '""'):
        before = fingerprint(world.db)
        for method, suffix, body in (
            ("PATCH", "", {"name": "x"}),
            ("DELETE", "", None),
            ("POST", "/archive", None),
        ):
            reply = invoke(
                config_crud,
                api_event(
                    method, path + suffix, sub=world.org.admin, body=body, headers={"If-Match": payload}
                ),
            )
            assert reply.status == 400, (method, suffix, payload[:40], reply.body)
            assert_no_leak(reply, payload)
        assert fingerprint(world.db) == before


def test_hostile_if_none_match_is_ignored_not_an_error(world: World) -> None:
    path = f"/orgs/{world.org.id}/mentors/{world.org.mentor}/stats"
    for payload in (*INJECTIONS, "x" * 10_000, "*, *, *"):
        reply = invoke(
            get_stats, api_event("GET", path, sub=world.org.admin, headers={"If-None-Match": payload})
        )
        # '*' legitimately matches any current representation (RFC 9110): 304; anything else, a fresh 200
        assert reply.status in (200, 304), (payload[:40], reply.body)
        assert_no_leak(reply, payload)


@pytest.mark.parametrize(
    "raw_id", ["' OR 1=1 --", "1;DROP TABLE x", "%00", "x" * 5_000, "00000000-0000-0000-0000-00000000000g"]
)
def test_hostile_path_ids_are_400(world: World, raw_id: str) -> None:
    for handler, method, path in (
        (get_stats, "GET", f"/orgs/{raw_id}/mentors/{world.org.mentor}/stats"),
        (get_stats, "GET", f"/orgs/{world.org.id}/mentors/{raw_id}/stats"),
        (config_crud, "GET", f"/orgs/{world.org.id}/badge-definitions/{raw_id}"),
        (award_badge, "POST", f"/orgs/{world.org.id}/mentors/{world.org.mentor}/badges/{raw_id}/revoke"),
    ):
        reply = invoke(handler, api_event(method, path, sub=world.org.admin, body={"reason": "x"}))
        assert reply.status == 400, (path, reply.body)
        assert_no_leak(reply, raw_id)
