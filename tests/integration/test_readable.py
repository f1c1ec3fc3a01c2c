"""Readable by everyone (SPEC 8.7) through the real handlers on a real PostgreSQL: icon_alt on badge
definitions, criteria_text with definitions and milestone items, and Accept-Language for messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from config_crud.handler import lambda_handler
from get_stats.handler import lambda_handler as stats_handler
from peer_badges.db import Database
from tests.helpers import Org, Reply, api_event, invoke, seed_org

TEN_VISITS = {"type": "threshold", "schema_version": 1, "threshold": 10, "activity_types": ["visit"]}
WITH_ICON = {
    "key": "ten-visits",
    "name": "Ten visits",
    "icon": "star",
    "icon_alt": "A star",
    "criteria": TEN_VISITS,
}
TEN_VISITS_TEXT = {
    "nb": "Registrer 10 aktiviteter av typen «visit».",
    "en": "Register 10 activities of type “visit”.",
}


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def call(method: str, path: str, sub: uuid.UUID | None, **kwargs: Any) -> Reply:
    return invoke(lambda_handler, api_event(method, path, sub=sub, **kwargs))


def base(org: Org) -> str:
    return f"/orgs/{org.id}/badge-definitions"


def stored(db: Database) -> list[dict[str, Any]]:
    return [dict(row) for row in db.query("SELECT * FROM badge_definitions ORDER BY id")]


def details(reply: Reply) -> dict[str, str]:
    return {item["path"]: item["code"] for item in reply.body["error"]["details"]}


def test_icon_alt_and_criteria_text_come_back_everywhere_a_definition_does(db: Database, org: Org) -> None:
    # Given an admin creates a definition with an icon and its text alternative (with spaces around it)
    created = call("POST", base(org), org.admin, body={**WITH_ICON, "icon_alt": "  A star  "})
    assert created.status == 201, created.body
    # Then the alternative is stored trimmed, and the criteria are in words in both languages
    assert created.body["icon_alt"] == "A star"
    assert created.body["criteria_text"] == TEN_VISITS_TEXT
    definition_id = created.body["id"]
    # And the list and the single read say the same
    listed = call("GET", base(org), org.mentor).body["items"][0]
    single = call("GET", f"{base(org)}/{definition_id}", org.mentor).body
    for body in (listed, single):
        assert (body["icon_alt"], body["criteria_text"]) == ("A star", TEN_VISITS_TEXT)
    # And each milestone-status item carries them
    milestones = invoke(
        stats_handler,
        api_event("GET", f"/orgs/{org.id}/mentors/{org.mentor}/milestones", sub=org.mentor),
    )
    assert milestones.status == 200, milestones.body
    item = next(badge for badge in milestones.body["badges"] if badge["badge_definition_id"] == definition_id)
    assert (item["icon_alt"], item["criteria_text"]) == ("A star", TEN_VISITS_TEXT)


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"icon_alt": None}, "icon_alt", "required"),  # an icon without its alternative
        ({"icon_alt": "x" * 201}, "icon_alt", "string_too_long"),
        ({"icon_alt": "   "}, "icon_alt", "string_too_short"),  # blank once trimmed
        ({"criteria_text": TEN_VISITS_TEXT}, "criteria_text", "extra_forbidden"),  # read-only
    ],
)
def test_create_refuses_a_missing_or_bad_icon_alt_and_stores_nothing(
    db: Database, org: Org, fields: dict[str, Any], path: str, code: str
) -> None:
    body = {key: value for key, value in {**WITH_ICON, **fields}.items() if value is not None}
    before = stored(db)
    reply = call("POST", base(org), org.admin, body=body)
    assert reply.status == 422, reply.body
    assert details(reply) == {path: code}
    assert stored(db) == before


def test_an_icon_alt_of_200_characters_is_accepted_and_one_without_an_icon_too(
    db: Database, org: Org
) -> None:
    assert call("POST", base(org), org.admin, body={**WITH_ICON, "icon_alt": "x" * 200}).status == 201
    plain = {"key": "plain", "name": "Plain", "icon_alt": "No picture yet", "criteria": TEN_VISITS}
    assert call("POST", base(org), org.admin, body=plain).status == 201


def test_patch_keeps_an_icon_with_its_alternative(db: Database, org: Org) -> None:
    # Given a definition without an icon
    plain = call("POST", base(org), org.admin, body={"key": "plain", "name": "Plain", "criteria": TEN_VISITS})
    url = f"{base(org)}/{plain.body['id']}"
    before = stored(db)
    # When an icon is set without an alternative: refused, nothing changes
    refused = call("PATCH", url, org.admin, body={"icon": "star"})
    assert refused.status == 422 and details(refused) == {"icon_alt": "required"}
    assert stored(db) == before
    # When both are sent: accepted
    both = call("PATCH", url, org.admin, body={"icon": "star", "icon_alt": "A star"})
    assert both.status == 200 and both.body["icon_alt"] == "A star"
    # Clearing the alternative while the icon stays: refused
    before = stored(db)
    cleared = call("PATCH", url, org.admin, body={"icon_alt": None})
    assert cleared.status == 422 and details(cleared) == {"icon_alt": "required"}
    assert stored(db) == before
    # Removing both together, or changing only the alternative: accepted
    assert call("PATCH", url, org.admin, body={"icon_alt": "A gold star"}).body["icon_alt"] == "A gold star"
    removed = call("PATCH", url, org.admin, body={"icon": None, "icon_alt": None})
    assert removed.status == 200 and (removed.body["icon"], removed.body["icon_alt"]) == (None, None)


def test_the_database_refuses_an_icon_without_its_alternative_from_any_client(db: Database, org: Org) -> None:
    with pytest.raises(Exception, match="badge_definitions_icon_alt_check"), db.transaction() as tx:
        tx.execute(
            """INSERT INTO badge_definitions (org_id, key, name, icon, criteria)
               VALUES (:org, 'direct', 'Direct', 'star', CAST(:criteria AS jsonb))""",
            org=org.id,
            criteria='{"type": "manual", "schema_version": 1}',
        )


def test_validate_reports_an_icon_without_its_alternative(db: Database, org: Org) -> None:
    draft = {"key": "x", "name": "X", "icon": "star", "criteria": TEN_VISITS}
    reply = call("POST", f"{base(org)}/validate", org.admin, body=draft)
    assert reply.status == 200
    assert reply.body["valid"] is False
    assert [(p["path"], p["code"]) for p in reply.body["problems"]] == [("icon_alt", "required")]


# --- Accept-Language ---------------------------------------------------------------------------

BAD_CRITERIA = {"type": "threshold", "schema_version": 1, "threshold": 0, "colour": "gold"}


def _refused(org: Org, language: str | None) -> Reply:
    headers = {"Accept-Language": language} if language is not None else None
    return call(
        "POST",
        base(org),
        org.admin,
        body={"key": "k", "name": "K", "criteria": BAD_CRITERIA},
        headers=headers,
    )


@pytest.mark.parametrize("language", ["nb", "no", "nn-NO", "da, nb;q=0.5", "NB"])
def test_errors_are_in_bokmal_for_nb_no_and_nn_with_codes_and_paths_unchanged(
    db: Database, org: Org, language: str
) -> None:
    english = _refused(org, None)
    norwegian = _refused(org, language)
    assert norwegian.status == english.status == 422
    assert norwegian.headers["content-language"] == "nb"
    error = norwegian.body["error"]
    assert error["code"] == english.body["error"]["code"]
    assert [(d["path"], d["code"]) for d in error["details"]] == [
        (d["path"], d["code"]) for d in english.body["error"]["details"]
    ]
    messages = {d["path"]: d["message"] for d in error["details"]}
    assert messages["criteria.threshold"] == "Terskelen må være større enn 0; fikk 0."
    assert messages["criteria.colour"].startswith('Ukjent felt "colour" for et merke av typen threshold.')


@pytest.mark.parametrize("language", [None, "en", "en-GB", "de", "zz-Qq-invalid;;q=x", "*", "nb;q=0", ","])
def test_any_other_language_reads_english_and_is_never_an_error(
    db: Database, org: Org, language: str | None
) -> None:
    reply = _refused(org, language)
    assert reply.status == 422
    assert reply.headers["content-language"] == "en"
    messages = {d["path"]: d["message"] for d in reply.body["error"]["details"]}
    assert messages["criteria.threshold"] == "Threshold must be greater than 0; got 0."


def test_validation_results_and_plain_errors_follow_the_language(db: Database, org: Org) -> None:
    nb = {"Accept-Language": "nb-NO"}
    checked = call("POST", f"{base(org)}/validate", org.admin, body=BAD_CRITERIA, headers=nb)
    assert checked.status == 200
    assert {p["path"]: p["message"] for p in checked.body["problems"]}["threshold"] == (
        "Terskelen må være større enn 0; fikk 0."
    )
    missing = call("GET", f"{base(org)}/{uuid.uuid4()}", org.admin, headers=nb)
    assert missing.status == 404 and missing.body["error"]["code"] == "not_found"
    assert missing.body["error"]["message"].startswith("Det finnes ingen merkedefinisjon")
    malformed = call("GET", f"{base(org)}/not-a-uuid", org.admin, headers=nb)
    assert malformed.status == 400
    assert malformed.body["error"]["details"][0]["message"] == "Må være en UUID."
