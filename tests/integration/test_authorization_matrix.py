"""Every route x every kind of caller, through the local JWT authorizer and the real handlers.

Requests go over HTTP (Starlette's test client) into `localdev.server.LocalApi`, which verifies the
token like the HTTP API's JWT authorizer (signature, issuer, audience, expiry) and invokes the
handler the template routes to, against the test database. So one table covers both halves of
authorisation: the token (expired, wrong audience, missing: 401 before any function runs) and the
role and scope the database grants (SPEC section 5).

Beyond the status, no refusal may reveal another organisation's data: a refused caller gets the
same answer for a real id as for a made-up one, and an org's admin gets nothing of another org's
mentors, badges or definitions through their own org's routes.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2 for its test client; httpx (pinned) works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from localdev.lambda_runtime import Invoker
from localdev.server import LocalApi
from localdev.template_routes import routes
from localdev.tokens import TokenAuthority
from peer_badges.db import Database, Json
from peer_badges.events import set_events_client
from tests.helpers import Org, add_activity, seed_org
from tests.integration.shared_database import shared_db_fixture, shared_module_db_fixture  # noqa: F401

MANUAL = {"type": "manual", "schema_version": 1}
THRESHOLD_1 = {"type": "threshold", "schema_version": 1, "threshold": 1}
SICK_LEAVE = {
    "peer_mentor_id": "{mentor}",
    "starts_on": "2026-03-02",
    "ends_on": "2026-03-29",
    "reason": "Sykemeldt",
}
SUMMER_BREAK = {
    "peer_mentor_id": None,
    "starts_on": "2026-06-29",
    "ends_on": "2026-07-26",
    "reason": "Sommerferie",
}
PAUSE_READERS = {
    "mentor self": 403,
    "other mentor": 403,
    "assigned coordinator": 200,
    "unassigned coordinator": 200,  # the organisation's pauses, none of the mentor's
    "admin": 200,
    "admin of another org": 403,
}

# The callers, in the order each route is tried (order matters only for the two allowed awarders:
# the first award of a key is 201, the repeat 200).
CALLERS = (
    "no token",
    "expired token",
    "wrong audience",
    "mentor self",
    "other mentor",
    "assigned coordinator",
    "unassigned coordinator",
    "admin",
    "admin of another org",
)
TOKEN_REFUSED = {"no token": 401, "expired token": 401, "wrong audience": 401}
READERS_OF_THE_MENTOR = {
    "mentor self": 200,
    "other mentor": 403,
    "assigned coordinator": 200,
    "unassigned coordinator": 403,
    "admin": 200,
    "admin of another org": 403,
}
MEMBERS = {
    "mentor self": 200,
    "other mentor": 200,
    "assigned coordinator": 200,
    "unassigned coordinator": 200,
    "admin": 200,
    "admin of another org": 403,
}


def admins_only(success: int) -> dict[str, int]:
    return {
        "mentor self": 403,
        "other mentor": 403,
        "assigned coordinator": 403,
        "unassigned coordinator": 403,
        "admin": success,
        "admin of another org": 403,
    }


@dataclass(frozen=True)
class World:
    """Two organisations; everything below belongs to `org` (A) unless it says otherwise."""

    org: Org
    other: Org  # B: its admin is "admin of another org"
    manual: uuid.UUID  # a manual definition (awardable)
    spare: uuid.UUID  # a definition nothing was earned under (deletable)
    earned_badge: uuid.UUID  # the mentor's badge under `earned_under`
    earned_under: uuid.UUID
    other_definition: uuid.UUID  # B's own definition
    payout: uuid.UUID  # an approved payout of the mentor's
    status_list: int  # the list holding the earned badge's revocation bit
    pause: uuid.UUID  # a streak pause of the mentor's (sick leave)


# route name -> (method, path template, body, expected status per caller)
ROUTES: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "stats": ("GET", "/orgs/{org}/mentors/{mentor}/stats", None, READERS_OF_THE_MENTOR),
    "milestones": ("GET", "/orgs/{org}/mentors/{mentor}/milestones", None, READERS_OF_THE_MENTOR),
    "overview": (
        "GET",
        "/orgs/{org}/mentor-stats",
        None,
        {
            "mentor self": 403,
            "other mentor": 403,
            "assigned coordinator": 200,
            "unassigned coordinator": 200,  # sees their own (no) mentors
            "admin": 200,
            "admin of another org": 403,
        },
    ),
    "list badges": ("GET", "/orgs/{org}/mentors/{mentor}/badges", None, READERS_OF_THE_MENTOR),
    "award": (
        "POST",
        "/orgs/{org}/mentors/{mentor}/badges",
        {"badge_definition_id": "{manual}", "note": "For the autumn campaign"},
        {
            "mentor self": 403,
            "other mentor": 403,
            "assigned coordinator": 201,
            "unassigned coordinator": 403,
            "admin": 200,  # the same key again: the existing badge
            "admin of another org": 403,
        },
    ),
    "revoke": (
        "POST",
        "/orgs/{org}/mentors/{mentor}/badges/{earned_badge}/revoke",
        {"reason": "Registered by mistake"},
        admins_only(200),
    ),
    "list definitions": ("GET", "/orgs/{org}/badge-definitions", None, MEMBERS),
    "create definition": (
        "POST",
        "/orgs/{org}/badge-definitions",
        {"key": "first-visit", "name": "First visit", "criteria": THRESHOLD_1},
        admins_only(201),
    ),
    "get definition": ("GET", "/orgs/{org}/badge-definitions/{manual}", None, MEMBERS),
    "patch definition": (
        "PATCH",
        "/orgs/{org}/badge-definitions/{manual}",
        {"name": "Helping hand (renamed)"},
        admins_only(200),
    ),
    "delete definition": ("DELETE", "/orgs/{org}/badge-definitions/{spare}", None, admins_only(204)),
    "archive definition": ("POST", "/orgs/{org}/badge-definitions/{spare}/archive", None, admins_only(200)),
    "unarchive definition": (
        "POST",
        "/orgs/{org}/badge-definitions/{spare}/unarchive",
        None,
        admins_only(200),
    ),
    "validate": ("POST", "/orgs/{org}/badge-definitions/validate", THRESHOLD_1, admins_only(200)),
    "preview": ("POST", "/orgs/{org}/badge-definitions/preview", {"criteria": THRESHOLD_1}, admins_only(200)),
    "evaluations": ("POST", "/orgs/{org}/evaluations", {"dry_run": True}, admins_only(200)),
    "list payouts": ("GET", "/orgs/{org}/payouts", None, MEMBERS),  # each sees their own scope
    "list a mentor's payouts": ("GET", "/orgs/{org}/payouts?mentor_id={mentor}", None, READERS_OF_THE_MENTOR),
    "export payouts": ("GET", "/orgs/{org}/payouts/export", None, admins_only(200)),
    "approve payout": ("POST", "/orgs/{org}/payouts/{payout}/approve", None, admins_only(200)),
    "mark payout paid": (
        "POST",
        "/orgs/{org}/payouts/{payout}/paid",
        {"reference": "BANK-1"},
        admins_only(200),
    ),
    "cancel payout": (
        "POST",
        "/orgs/{org}/payouts/{payout}/cancel",
        {"reason": "Duplicate"},
        admins_only(200),
    ),
    "export personal data": (
        "GET",
        "/orgs/{org}/mentors/{mentor}/data-export",
        None,
        {**admins_only(200), "mentor self": 200},
    ),
    # The mentor is still a member: admins get 409 (remove the membership first), nothing is erased.
    "erase personal data": (
        "POST",
        "/orgs/{org}/mentors/{mentor}/erasure",
        {"reason": "Asked to"},
        admins_only(409),
    ),
    "get settings": ("GET", "/orgs/{org}/settings", None, admins_only(200)),
    "patch settings": (
        "PATCH",
        "/orgs/{org}/settings",
        {"honorar_tax_free_limit_nok": 9000},
        admins_only(200),
    ),
    "badge credential": (
        "GET",
        "/orgs/{org}/mentors/{mentor}/badges/{earned_badge}/credential",
        None,
        {**admins_only(200), "mentor self": 200},
    ),
    "list pauses": ("GET", "/orgs/{org}/streak-pauses", None, PAUSE_READERS),
    "list a mentor's pauses": (
        "GET",
        "/orgs/{org}/streak-pauses?mentor_id={mentor}",
        None,
        {**PAUSE_READERS, "unassigned coordinator": 403},
    ),
    "pause a mentor": (
        "POST",
        "/orgs/{org}/streak-pauses",
        SICK_LEAVE,
        {
            "mentor self": 403,
            "other mentor": 403,
            "assigned coordinator": 201,
            "unassigned coordinator": 403,
            "admin": 200,  # the same pause again: the existing one
            "admin of another org": 403,
        },
    ),
    "pause the organisation": ("POST", "/orgs/{org}/streak-pauses", SUMMER_BREAK, admins_only(201)),
    "delete pause": ("DELETE", "/orgs/{org}/streak-pauses/{pause}", None, admins_only(204)),
    # What a verifier fetches: no authorizer, so every caller, with a token or without, gets it.
    "issuer profile": ("GET", "/orgs/{org}/issuer", None, dict.fromkeys(CALLERS, 200)),
    "achievement": (
        "GET",
        "/orgs/{org}/badge-definitions/{manual}/achievement",
        None,
        dict.fromkeys(CALLERS, 200),
    ),
    "status list": ("GET", "/orgs/{org}/credential-status/{status_list}", None, dict.fromkeys(CALLERS, 200)),
}
PUBLIC = {"issuer profile", "achievement", "status list"}


class NullBus:
    """EventBridge that accepts everything: these tests are about who may call, not about events."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


@pytest.fixture(scope="module")
def authority() -> TokenAuthority:
    return TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def client(
    shared_db: Database, authority: TokenAuthority, credential_settings: object
) -> Iterator[TestClient]:
    set_events_client(NullBus())
    api = LocalApi(routes(), authority, Invoker(), lambda: {"openapi": "3.1.0", "paths": {}})
    with TestClient(api.app()) as test_client:
        yield test_client
    set_events_client(None)


def _definition(db: Database, org_id: uuid.UUID, key: str, criteria: dict[str, Any]) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, :key, :name, CAST(:criteria AS jsonb)) RETURNING id""",
        org=org_id,
        key=key,
        name=key.replace("-", " ").title(),
        criteria=Json(criteria),
    )
    assert row is not None
    return row["id"]


def _earned(db: Database, org: Org, definition_id: uuid.UUID) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:org, :mentor, :definition, :day, 'evaluation', 1, CAST(:criteria AS jsonb)) RETURNING id""",
        org=org.id,
        mentor=org.mentor,
        definition=definition_id,
        day=date(2025, 3, 3),
        criteria=Json(THRESHOLD_1),
    )
    assert row is not None
    return row["id"]


@pytest.fixture
def world(shared_db: Database) -> World:
    db = shared_db
    org, other = seed_org(db, "nhf"), seed_org(db, "hlf")
    for members_org in (org, other):
        add_activity(db, members_org.id, members_org.mentor, date(2025, 3, 3))
    earned_under = _definition(db, org.id, "first-activity", THRESHOLD_1)
    earned_badge = _earned(db, org, earned_under)
    entry = db.query_one("SELECT list_id FROM earned_badges WHERE id = :id", id=earned_badge)
    assert entry is not None
    return World(
        org=org,
        other=other,
        manual=_definition(db, org.id, "helping-hand", MANUAL),
        spare=_definition(db, org.id, "spare", MANUAL),
        earned_badge=earned_badge,
        earned_under=earned_under,
        other_definition=_definition(db, other.id, "hlf-helper", MANUAL),
        payout=_approved_payout(db, org, earned_badge, earned_under),
        status_list=entry["list_id"],
        pause=_pause(db, org),
    )


def _approved_payout(db: Database, org: Org, earned_badge: uuid.UUID, definition: uuid.UUID) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO honorar_payouts (org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level,
                                        threshold, amount_nok, earned_at, backfill, status, approved_by, approved_at)
           VALUES (:org, :mentor, :badge, :definition, 1, 1, 2500, :day, false, 'approved', :admin, now())
           RETURNING id""",
        org=org.id,
        mentor=org.mentor,
        badge=earned_badge,
        definition=definition,
        day=date(2025, 3, 3),
        admin=org.admin,
    )
    assert row is not None
    return row["id"]


def _pause(db: Database, org: Org) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO streak_pauses (org_id, peer_mentor_id, starts_on, ends_on, reason, created_by)
           VALUES (:org, :mentor, DATE '2026-01-05', DATE '2026-01-18', 'Sykemeldt', :admin) RETURNING id""",
        org=org.id,
        mentor=org.mentor,
        admin=org.admin,
    )
    assert row is not None
    return row["id"]


def token_for(authority: TokenAuthority, world: World, who: str) -> str | None:
    org = world.org
    subjects = {
        "expired token": org.admin,
        "wrong audience": org.admin,
        "mentor self": org.mentor,
        "other mentor": org.other_mentor,
        "assigned coordinator": org.coordinator,
        "unassigned coordinator": org.other_coordinator,
        "admin": org.admin,
        "admin of another org": world.other.admin,
    }
    if who == "no token":
        return None
    if who == "expired token":
        return authority.mint(str(org.admin), now=time.time() - 7200, ttl_s=600)
    if who == "wrong audience":
        return authority.mint(str(org.admin), audience="some-other-app")
    return authority.mint(str(subjects[who]))


def fill(template: Any, ids: dict[str, Any]) -> Any:
    """The path or body with {placeholders} replaced by the world's ids."""
    if isinstance(template, str):
        return template.format(**{name: str(value) for name, value in ids.items()})
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, ids) for value in template]
    return template


def ids_of(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "org": world.org.id,
        "mentor": world.org.mentor,
        "manual": world.manual,
        "spare": world.spare,
        "earned_badge": world.earned_badge,
        "payout": world.payout,
        "status_list": world.status_list,
        "pause": world.pause,
        **overrides,
    }


def call(client: TestClient, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


def without_correlation_id(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return {"error": {k: v for k, v in body["error"].items() if k != "correlation_id"}}
    return body


def identifying_strings(world: World) -> list[str]:
    """What would betray org A's data to someone outside it."""
    return [
        str(world.org.mentor),
        str(world.org.other_mentor),
        str(world.manual),
        str(world.spare),
        str(world.earned_badge),
        str(world.earned_under),
        str(world.payout),
        str(world.pause),
        "helping-hand",
        "first-activity",
    ]


# --- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(ROUTES))
def test_each_caller_gets_the_status_their_token_and_role_allow(
    client: TestClient, authority: TokenAuthority, world: World, route: str
) -> None:
    # Given a route, and callers from no token to an admin of another org
    method, template, body, allowed = ROUTES[route]
    expected = allowed if route in PUBLIC else {**TOKEN_REFUSED, **allowed}
    path, payload = fill(template, ids_of(world)), fill(body, ids_of(world))

    # When each calls it in turn
    got = {}
    for who in CALLERS:
        response = call(client, method, path, payload, token_for(authority, world, who))
        got[who] = response.status_code
        if who in TOKEN_REFUSED and route not in PUBLIC:
            # Then a refused token never reaches a function: API Gateway's own 401 body
            assert response.json() == {"message": "Unauthorized"}, who
        elif response.status_code == 403:
            # ... and a refusal says why in the one error shape, naming nothing of the org
            error = response.json()["error"]
            assert error["code"] == "forbidden" and error["message"], who
            for secret in identifying_strings(world):
                assert secret not in response.text, (who, secret)

    # Then every caller got exactly the status their token and role allow
    assert got == expected


# Routes naming a mentor, definition or badge, with each caller they refuse.
REFUSALS_NAMING_AN_ID = [
    (route, who)
    for route, (_, template, _, allowed) in ROUTES.items()
    if "{" in template.replace("{org}", "")
    for who, status in allowed.items()
    if status == 403
]


@pytest.mark.parametrize(("route", "who"), REFUSALS_NAMING_AN_ID)
def test_a_refusal_is_the_same_for_a_real_id_and_a_made_up_one(
    client: TestClient, authority: TokenAuthority, world: World, route: str, who: str
) -> None:
    # Given a caller refused on a route that names a mentor, definition or badge
    method, template, body, _ = ROUTES[route]
    made_up = {
        "mentor": uuid.uuid4(),
        "manual": uuid.uuid4(),
        "spare": uuid.uuid4(),
        "earned_badge": uuid.uuid4(),
        "payout": uuid.uuid4(),
        "pause": uuid.uuid4(),
    }
    token = token_for(authority, world, who)

    # When they ask about the real one and about one that does not exist
    real = call(client, method, fill(template, ids_of(world)), fill(body, ids_of(world)), token)
    fake_ids = ids_of(world, **made_up)
    fake = call(client, method, fill(template, fake_ids), fill(body, fake_ids), token)

    # Then the answers are identical: the refusal does not reveal whether it exists
    assert real.status_code == fake.status_code == 403
    assert without_correlation_id(real.json()) == without_correlation_id(fake.json())


# --- an admin of B reaching for A's data through B's own routes -------------------------------------------

# (method, path, body) in org B naming org A's ids; "{...}" are A's, "{b_*}" are B's.
CROSS_ORG = {
    "A's mentor's stats": ("GET", "/orgs/{b_org}/mentors/{mentor}/stats", None),
    "A's mentor's milestones": ("GET", "/orgs/{b_org}/mentors/{mentor}/milestones", None),
    "A's mentor in the overview": ("GET", "/orgs/{b_org}/mentor-stats?mentor_id={mentor}", None),
    "A's mentor's badges": ("GET", "/orgs/{b_org}/mentors/{mentor}/badges", None),
    "award B's badge to A's mentor": (
        "POST",
        "/orgs/{b_org}/mentors/{mentor}/badges",
        {"badge_definition_id": "{b_definition}"},
    ),
    "award A's badge to B's mentor": (
        "POST",
        "/orgs/{b_org}/mentors/{b_mentor}/badges",
        {"badge_definition_id": "{manual}"},
    ),
    "revoke A's badge": (
        "POST",
        "/orgs/{b_org}/mentors/{mentor}/badges/{earned_badge}/revoke",
        {"reason": "Not ours"},
    ),
    "revoke A's badge via B's mentor": (
        "POST",
        "/orgs/{b_org}/mentors/{b_mentor}/badges/{earned_badge}/revoke",
        {"reason": "Not ours"},
    ),
    "read A's definition": ("GET", "/orgs/{b_org}/badge-definitions/{manual}", None),
    "patch A's definition": ("PATCH", "/orgs/{b_org}/badge-definitions/{manual}", {"name": "Taken over"}),
    "delete A's definition": ("DELETE", "/orgs/{b_org}/badge-definitions/{spare}", None),
    "archive A's definition": ("POST", "/orgs/{b_org}/badge-definitions/{spare}/archive", None),
    "unarchive A's definition": ("POST", "/orgs/{b_org}/badge-definitions/{spare}/unarchive", None),
    "evaluate A's mentor": ("POST", "/orgs/{b_org}/evaluations", {"mentor_ids": ["{mentor}"]}),
    "A's mentor's payouts": ("GET", "/orgs/{b_org}/payouts?mentor_id={mentor}", None),
    "approve A's payout": ("POST", "/orgs/{b_org}/payouts/{payout}/approve", None),
    "pay A's payout": ("POST", "/orgs/{b_org}/payouts/{payout}/paid", {"reference": "BANK-1"}),
    "cancel A's payout": ("POST", "/orgs/{b_org}/payouts/{payout}/cancel", {"reason": "Not ours"}),
    "A's badge credential": ("GET", "/orgs/{b_org}/mentors/{mentor}/badges/{earned_badge}/credential", None),
    "A's badge credential via B's mentor": (
        "GET",
        "/orgs/{b_org}/mentors/{b_mentor}/badges/{earned_badge}/credential",
        None,
    ),
    "A's mentor's pauses": ("GET", "/orgs/{b_org}/streak-pauses?mentor_id={mentor}", None),
    "pause A's mentor": ("POST", "/orgs/{b_org}/streak-pauses", SICK_LEAVE),
    "delete A's pause": ("DELETE", "/orgs/{b_org}/streak-pauses/{pause}", None),
    "A's definition as B's achievement": (
        "GET",
        "/orgs/{b_org}/badge-definitions/{manual}/achievement",
        None,
    ),
    "export A's mentor's data": ("GET", "/orgs/{b_org}/mentors/{mentor}/data-export", None),
    "erase A's mentor": ("POST", "/orgs/{b_org}/mentors/{mentor}/erasure", {"reason": "Not ours"}),
}


def _org_a_rows(db: Database, world: World) -> list[dict[str, Any]]:
    return db.query(
        """SELECT 'definition' AS kind, to_jsonb(d) AS row FROM badge_definitions AS d WHERE org_id = :org
           UNION ALL SELECT 'badge', to_jsonb(e) FROM earned_badges AS e WHERE org_id = :org
           UNION ALL SELECT 'audit', to_jsonb(a) FROM audit_log AS a WHERE org_id = :org
           UNION ALL SELECT 'payout', to_jsonb(p) FROM honorar_payouts AS p WHERE org_id = :org
           UNION ALL SELECT 'pause', to_jsonb(s) FROM streak_pauses AS s WHERE org_id = :org
           ORDER BY 1, 2""",
        org=world.org.id,
    )


@pytest.mark.parametrize("attempt", list(CROSS_ORG))
def test_an_admin_gets_nothing_of_another_orgs_data_through_their_own_org(
    client: TestClient, authority: TokenAuthority, shared_db: Database, world: World, attempt: str
) -> None:
    db = shared_db
    # Given the admin of org B, and org A's mentor, definitions and badge ids
    method, template, body = CROSS_ORG[attempt]
    token = authority.mint(str(world.other.admin))
    b_ids = {"b_org": world.other.id, "b_mentor": world.other.mentor, "b_definition": world.other_definition}
    real_ids = {**ids_of(world), **b_ids}
    made_up_ids = {
        **real_ids,
        "mentor": uuid.uuid4(),
        "manual": uuid.uuid4(),
        "spare": uuid.uuid4(),
        "earned_badge": uuid.uuid4(),
        "payout": uuid.uuid4(),
        "pause": uuid.uuid4(),
    }
    before = _org_a_rows(db, world)

    # When they use A's ids in B's routes, and then made-up ids
    real = call(client, method, fill(template, real_ids), fill(body, real_ids), token)
    made_up = call(client, method, fill(template, made_up_ids), fill(body, made_up_ids), token)

    # Then A's ids behave exactly like ids that do not exist, nothing of A shows, and A is unchanged
    assert real.status_code == made_up.status_code, (real.text, made_up.text)
    assert real.status_code in (200, 403, 404, 422), real.text
    real_body, made_up_body = real.json(), made_up.json()
    if real.status_code >= 400:
        # Messages may quote the id that was sent; with it masked, the two answers are the same.
        masked = without_correlation_id(real_body)
        for name in ("mentor", "manual", "spare", "earned_badge", "payout", "pause"):
            masked = fill_back(masked, str(real_ids[name]), str(made_up_ids[name]))
        assert masked == without_correlation_id(made_up_body)
    else:
        assert real_body.get("items", []) == made_up_body.get("items", [])
        for secret in identifying_strings(world)[2:]:
            assert secret not in real.text
    assert _org_a_rows(db, world) == before
    print(attempt, real.status_code, real.text[:150])


def fill_back(value: Any, real: str, made_up: str) -> Any:
    """Replace a real id quoted in an error message by the made-up one sent in its place."""
    if isinstance(value, str):
        return value.replace(real, made_up)
    if isinstance(value, dict):
        return {key: fill_back(item, real, made_up) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_back(item, real, made_up) for item in value]
    return value


def test_a_preview_in_one_org_counts_and_samples_only_its_own_mentors(
    client: TestClient, authority: TokenAuthority, shared_db: Database, world: World
) -> None:
    db = shared_db
    # Given both orgs have a mentor with one approved activity (from the world) and A has ten more
    for _ in range(10):
        add_activity(db, world.org.id, world.org.other_mentor, date(2025, 3, 4))

    # When B's admin previews "at least one activity"
    response = call(
        client,
        "POST",
        f"/orgs/{world.other.id}/badge-definitions/preview",
        {"criteria": THRESHOLD_1},
        authority.mint(str(world.other.admin)),
    )

    # Then only B's mentor counts, and no mentor of A is in the sample
    assert response.status_code == 200, response.text
    for secret in identifying_strings(world):
        assert secret not in response.text
    assert str(world.other.mentor) in response.text
