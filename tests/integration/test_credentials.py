"""Open Badges 3.0 credentials (SPEC 8.6) through the local API and the real handlers, checked by an
independent verifier (Digital Bazaar's implementation, tests/verifier) that fetches the public
documents from the same API, without a token, like a verifier on the internet would."""

from __future__ import annotations

import copy
import json
import uuid
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from localdev.lambda_runtime import Invoker
from localdev.server import LocalApi
from localdev.template_routes import routes
from localdev.tokens import TokenAuthority
from peer_badges import data_integrity
from peer_badges.db import Database, Json
from peer_badges.keys import Keyring
from peer_badges.settings import get_settings
from tests.conftest import PUBLIC_BASE_URL
from tests.helpers import Org, seed_org
from tests.independent_verifier import verify as independent_verify

TIERS = {
    "type": "tier",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
}


class NullBus:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


@pytest.fixture(scope="module")
def authority() -> TokenAuthority:
    return TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def client(db: Database, authority: TokenAuthority, credential_settings: Keyring) -> Iterator[TestClient]:
    from peer_badges.events import set_events_client

    set_events_client(NullBus())
    api = LocalApi(routes(), authority, Invoker(), lambda: {"openapi": "3.1.0", "paths": {}})
    with TestClient(api.app()) as test_client:
        yield test_client
    set_events_client(None)


def definition(
    db: Database, org: Org, key: str, criteria: dict[str, Any], icon: str | None = None
) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, description, icon, icon_alt, criteria)
           VALUES (:org, :key, :name, '', :icon, :icon_alt, CAST(:criteria AS jsonb)) RETURNING id""",
        org=org.id,
        key=key,
        name=key.replace("-", " ").title(),
        icon=icon,
        icon_alt="A gold star" if icon else None,
        criteria=Json(criteria),
    )
    assert row is not None
    return row["id"]


def earned(
    db: Database, org: Org, definition_id: uuid.UUID, level: int = 1, mentor: uuid.UUID | None = None
) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:org, :mentor, :definition, :level, :day, 'evaluation', 1, CAST(:criteria AS jsonb))
           RETURNING id""",
        org=org.id,
        mentor=mentor or org.mentor,
        definition=definition_id,
        level=level,
        day=date(2025, 3, 3),
        criteria=Json(TIERS),
    )
    assert row is not None
    return row["id"]


def get(client: TestClient, path: str, token: str | None = None, **headers: str) -> Any:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(path.removeprefix(PUBLIC_BASE_URL), headers=headers)


def credential_of(
    client: TestClient, authority: TokenAuthority, org: Org, badge: uuid.UUID
) -> dict[str, Any]:
    response = get(
        client,
        f"/orgs/{org.id}/mentors/{org.mentor}/badges/{badge}/credential",
        authority.mint(str(org.mentor)),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vc"
    return dict(response.json())


def published(client: TestClient, *credentials: dict[str, Any]) -> dict[str, Any]:
    """What a verifier fetches for these credentials: issuer profiles and status lists, without a token."""
    documents = {}
    for credential in credentials:
        for url in (credential["issuer"]["id"], credential["credentialStatus"]["statusListCredential"]):
            response = get(client, url)
            assert response.status_code == 200, response.text
            documents[url] = response.json()
    return documents


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db, "nhf")


def test_the_independent_verifier_accepts_a_fresh_credential_and_refuses_tampered_and_revoked_ones(
    client: TestClient, authority: TokenAuthority, db: Database, org: Org
) -> None:
    # Given a mentor's Silver badge and a Bronze one
    tiers = definition(db, org, "assignments", TIERS)
    silver, bronze = earned(db, org, tiers, level=2), earned(db, org, tiers, level=1)

    # When the mentor gets both credentials, and a copy of one is changed
    fresh = credential_of(client, authority, org, silver)
    to_revoke = credential_of(client, authority, org, bronze)
    tampered = copy.deepcopy(fresh)
    tampered["credentialSubject"]["achievement"]["name"] = "Gold"

    # Then the independent verifier accepts the untouched ones and refuses the changed one
    ok, ok_too, bad = independent_verify([fresh, to_revoke, tampered], published(client, fresh))
    assert ok == {"verified": True, "signature_verified": True, "revoked": False, "errors": []}
    assert ok_too["verified"] and ok_too["revoked"] is False
    assert not bad["verified"] and not bad["signature_verified"]
    assert any("signature" in error.lower() for error in bad["errors"]), bad

    # When an admin revokes the Bronze badge
    revoked = client.post(
        f"/orgs/{org.id}/mentors/{org.mentor}/badges/{bronze}/revoke",
        json={"reason": "Registered twice"},
        headers={"Authorization": f"Bearer {authority.mint(str(org.admin))}"},
    )
    assert revoked.status_code == 200, revoked.text

    # Then its credential, still correctly signed, is refused as revoked; the other one still verifies
    ok, refused = independent_verify([fresh, to_revoke], published(client, fresh))
    assert ok["verified"] and ok["revoked"] is False
    assert refused == {"verified": False, "signature_verified": True, "revoked": True, "errors": []}
    # ... and no new credential is issued for it
    again = get(
        client,
        f"/orgs/{org.id}/mentors/{org.mentor}/badges/{bronze}/credential",
        authority.mint(str(org.mentor)),
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_the_credential_carries_the_open_badges_shape_and_no_raw_mentor_id(
    client: TestClient, authority: TokenAuthority, db: Database, org: Org
) -> None:
    # Given a badge earned on 3 March 2025 in an org on Oslo time
    tiers = definition(db, org, "assignments", TIERS, icon="https://cdn.example.org/star.svg")
    badge = earned(db, org, tiers, level=2)

    # When the mentor asks for its credential
    credential = credential_of(client, authority, org, badge)

    # Then it is an OpenBadgeCredential from the org, valid from the day earned, naming the level
    assert credential["@context"] == [data_integrity.VC_V2_CONTEXT, data_integrity.OB_V3_CONTEXT]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"] == f"urn:uuid:{badge}"
    assert credential["issuer"] == {
        "id": f"{PUBLIC_BASE_URL}/orgs/{org.id}/issuer",
        "type": ["Profile"],
        "name": "NHF",
    }
    assert credential["validFrom"] == "2025-03-03T00:00:00+01:00"
    assert credential["name"] == "Assignments: Silver"
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["id"] == f"{PUBLIC_BASE_URL}/orgs/{org.id}/badge-definitions/{tiers}/achievement"
    assert achievement["criteria"]["narrative"] == (
        "Register activities of type “assignment” to reach the levels Bronze (5) and Silver (25)."
    )
    assert achievement["image"] == {
        "id": "https://cdn.example.org/star.svg",
        "type": "Image",
        "caption": "A gold star",  # the icon's text alternative
    }
    # ... the mentor only as a salted hash
    (identity,) = credential["credentialSubject"]["identifier"]
    assert identity["type"] == "IdentityObject" and identity["hashed"] is True
    assert identity["identityHash"].startswith("sha256$")
    assert str(org.mentor) not in json.dumps(credential)
    assert str(org.mentor).replace("-", "") not in json.dumps(credential)
    # ... with its status list entry and a proof by the org's current key
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    assert status["statusListCredential"].startswith(f"{PUBLIC_BASE_URL}/orgs/{org.id}/credential-status/")
    proof = credential["proof"]
    assert (proof["type"], proof["cryptosuite"], proof["proofPurpose"]) == (
        "DataIntegrityProof",
        "eddsa-rdfc-2022",
        "assertionMethod",
    )
    keyring = Keyring.model_validate_json(Path(get_settings().credential_keys_file or "").read_text())
    assert proof["verificationMethod"] == f"{PUBLIC_BASE_URL}/orgs/{org.id}/issuer#key-{keyring.current.id}"
    assert data_integrity.verify(credential, keyring.current.public_key)


def test_a_rotated_key_keeps_verifying_what_it_signed(
    client: TestClient, authority: TokenAuthority, db: Database, org: Org, credential_settings: Keyring
) -> None:
    # Given a credential signed before a key rotation
    tiers = definition(db, org, "assignments", TIERS)
    before = credential_of(client, authority, org, earned(db, org, tiers, level=1))
    keyring_file = Path(get_settings().credential_keys_file or "")
    rotated = credential_settings.rotated()
    keyring_file.write_text(rotated.model_dump_json())

    # When a credential is issued after it, and the issuer profile is fetched again
    after = credential_of(client, authority, org, earned(db, org, tiers, level=2))
    profile = get(client, f"/orgs/{org.id}/issuer").json()

    # Then the profile lists both keys, the new one signs, and both credentials verify
    assert [method["id"].rsplit("#key-", 1)[1] for method in profile["verificationMethod"]] == [
        key.id for key in rotated.keys
    ]
    assert profile["assertionMethod"] == [method["id"] for method in profile["verificationMethod"]]
    assert before["proof"]["verificationMethod"] != after["proof"]["verificationMethod"]
    assert after["proof"]["verificationMethod"].endswith(rotated.current.id)
    results = independent_verify([before, after], published(client, before, after))
    assert [result["verified"] for result in results] == [True, True], results


def test_every_award_path_gives_each_badge_its_own_status_bit(db: Database, org: Org) -> None:
    # Given badges inserted one by one and several in one statement (as a reconcile does)
    tiers = definition(db, org, "assignments", TIERS)
    one = earned(db, org, tiers, level=1)
    db.query(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                                      definition_revision, criteria_snapshot)
           SELECT :org, :mentor, :definition, level, DATE '2025-03-04', 'backfill', 1, '{}'::jsonb
             FROM generate_series(2, 4) AS level RETURNING id""",
        org=org.id,
        mentor=org.other_mentor,
        definition=tiers,
    )

    # Then each has exactly one entry, and no two share a position
    rows = db.query(
        """SELECT e.id, e.status_position AS position, e.list_id, e.status_index FROM earned_badges e
            WHERE e.org_id = :org""",
        org=org.id,
    )
    assert len(rows) == 4 and one in {row["id"] for row in rows}
    assert all(row["position"] is not None for row in rows)
    assert len({row["position"] for row in rows}) == 4
    assert all(row["list_id"] * 131072 + row["status_index"] == row["position"] for row in rows)


def test_the_public_documents_are_cacheable_and_need_no_token(
    client: TestClient, authority: TokenAuthority, db: Database, org: Org
) -> None:
    # Given a credential's status list and achievement
    tiers = definition(db, org, "assignments", TIERS)
    credential = credential_of(client, authority, org, earned(db, org, tiers))
    status_list = credential["credentialStatus"]["statusListCredential"]

    for url in (
        status_list,
        credential["credentialSubject"]["achievement"]["id"],
        credential["issuer"]["id"],
    ):
        # When fetched without a token, then again with the ETag
        first = get(client, url)
        second = get(client, url, **{"If-None-Match": first.headers["etag"]})

        # Then shared caches may keep it, and an unchanged document is a 304
        assert first.status_code == 200, first.text
        assert first.headers["cache-control"] == "public, max-age=300"
        assert second.status_code == 304

    # ... and the status list is itself a signed credential the verifier accepts
    document = get(client, status_list).json()
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    (result,) = independent_verify([document], published(client, credential))
    assert result["verified"], result


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/orgs/not-a-uuid/issuer", 400, "invalid_path_parameter"),
        ("/orgs/{org}/credential-status/abc", 400, "invalid_path_parameter"),
        ("/orgs/{org}/credential-status/-1", 400, "invalid_path_parameter"),
        ("/orgs/{org}/credential-status/999999", 404, "not_found"),
        ("/orgs/{org}/badge-definitions/{unknown}/achievement", 404, "not_found"),
        ("/orgs/{unknown}/issuer", 404, "not_found"),
    ],
)
def test_bad_public_requests_are_clear_4xx(
    client: TestClient, org: Org, path: str, status: int, code: str
) -> None:
    response = get(client, path.format(org=org.id, unknown=uuid.uuid4()))

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_bad_credential_requests_are_clear_4xx(
    client: TestClient, authority: TokenAuthority, db: Database, org: Org
) -> None:
    tiers = definition(db, org, "assignments", TIERS)
    badge = earned(db, org, tiers)
    base = f"/orgs/{org.id}/mentors/{org.mentor}/badges"
    mentor = authority.mint(str(org.mentor))

    malformed = get(client, f"{base}/not-a-uuid/credential", mentor)
    unknown = get(client, f"{base}/{uuid.uuid4()}/credential", mentor)
    someone_elses = get(
        client, f"/orgs/{org.id}/mentors/{org.other_mentor}/badges/{badge}/credential", mentor
    )
    coordinator = get(client, f"{base}/{badge}/credential", authority.mint(str(org.coordinator)))
    other_mentor = get(client, f"{base}/{badge}/credential", authority.mint(str(org.other_mentor)))

    assert malformed.status_code == 400
    assert unknown.status_code == 404
    assert someone_elses.status_code == 403  # another mentor's id in the path
    assert coordinator.status_code == 403 and other_mentor.status_code == 403


@pytest.mark.parametrize(
    ("unset", "setting"),
    [("PUBLIC_BASE_URL", "PUBLIC_BASE_URL"), ("CREDENTIAL_KEYS_FILE", "CREDENTIAL_KEYS_")],
)
def test_without_configuration_the_routes_say_what_to_set_and_sign_nothing(
    client: TestClient,
    authority: TokenAuthority,
    db: Database,
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
    unset: str,
    setting: str,
) -> None:
    # Given no public base URL (or no keys) configured
    badge = earned(db, org, definition(db, org, "assignments", TIERS))
    monkeypatch.delenv(unset)
    get_settings.cache_clear()

    # When the credential and a public document are asked for
    credential = get(
        client,
        f"/orgs/{org.id}/mentors/{org.mentor}/badges/{badge}/credential",
        authority.mint(str(org.mentor)),
    )
    issuer = get(client, f"/orgs/{org.id}/issuer")

    # Then both are a 503 naming the setting, with no document
    for response in (credential, issuer):
        assert response.status_code == 503, response.text
        assert setting in response.json()["error"]["message"]
        assert "proof" not in response.text
