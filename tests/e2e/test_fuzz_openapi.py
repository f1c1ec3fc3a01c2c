"""Schemathesis against the committed OpenAPI document, through the local API, as every kind of caller.

For every operation in docs/openapi.json, Schemathesis generates requests that fit the document
(positive) and requests that break it (negative); each is sent over HTTP to `python -m localdev.run`
with a local token for an admin, a coordinator, a mentor or an outsider of a dedicated organisation,
its path ids sometimes pinned to that organisation's real mentor, definition and badge so requests
get past authorisation. Every response must be a non-5xx that the document describes: its status,
content type, headers and body schema; and a request that breaks the document must not succeed.

Bounded (FUZZ_EXAMPLES per operation and mode, 6 by default) and derandomized so `make test`
stays quick and repeatable; FUZZ_EXAMPLES=500 FUZZ_SEED=<n> explores further.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from localdev.lambda_runtime import REPO_ROOT
from peer_badges.db import Json
from tests.e2e.conftest import LocalApi

# Until requirements-dev.txt pins it, a venv without schemathesis skips this module (visibly) rather
# than failing the whole collection.
schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (requirements-dev.txt)"
)
import requests  # noqa: E402 (schemathesis brings it)
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
SEED = os.environ.get("FUZZ_SEED")

ROLES = ("admin", "coordinator", "mentor", "outsider")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class FuzzOrg:
    """An organisation of its own, so fuzzing never touches the demo data other e2e tests read."""

    org_id: uuid.UUID
    users: dict[str, uuid.UUID]
    mentor: uuid.UUID
    definition: uuid.UUID
    earned_badge: uuid.UUID
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def fuzz_org(local_api: LocalApi) -> FuzzOrg:
    db = local_api.database
    org_id = uuid.uuid4()
    users = {role: uuid.uuid4() for role in ROLES}
    mentor = users["mentor"]
    db.query(
        "INSERT INTO organizations (id, slug, name) VALUES (:id, :slug, 'Fuzz')",
        id=org_id,
        slug=f"fuzz-{org_id.hex[:8]}",
    )
    for role, member_role in (
        ("admin", "org_admin"),
        ("coordinator", "coordinator"),
        ("mentor", "peer_mentor"),
    ):
        db.query(
            "INSERT INTO org_members VALUES (:org, :user, :role)",
            org=org_id,
            user=users[role],
            role=member_role,
        )
    db.query(
        "INSERT INTO coordinator_assignments VALUES (:org, :c, :m)",
        org=org_id,
        c=users["coordinator"],
        m=mentor,
    )
    db.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
           VALUES (:org, :m, 'assignment', current_date, 60)""",
        org=org_id,
        m=mentor,
    )
    definition = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, 'fuzz-manual', 'Fuzz', CAST(:c AS jsonb)) RETURNING id""",
        org=org_id,
        c=Json({"type": "manual", "schema_version": 1}),
    )["id"]  # type: ignore[index]
    earned_badge = db.query_one(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:org, :m, :d, current_date, 'manual', 1, '{"type": "manual", "schema_version": 1}')
           RETURNING id""",
        org=org_id,
        m=mentor,
        d=definition,
    )["id"]  # type: ignore[index]
    tokens = {role: local_api.token(user) for role, user in users.items()}
    return FuzzOrg(org_id, users, mentor, definition, earned_badge, tokens)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def _pinned(operation: Any, org: FuzzOrg) -> list[dict[str, Any]]:
    """Path parameters to fix: none (all random), the org only, or the org and its real ids."""
    names = {parameter.name for parameter in operation.path_parameters}
    real = {
        "org_id": str(org.org_id),
        "mentor_id": str(org.mentor),
        "definition_id": str(org.definition),
        "earned_badge_id": str(org.earned_badge),
    }
    return [{}, {"org_id": real["org_id"]}, {name: real[name] for name in names if name in real}]


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"]
)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
def test_every_response_is_documented_and_none_is_a_server_error(
    local_api: LocalApi, fuzz_org: FuzzOrg, session: requests.Session, operation: Any, mode: GenerationMode
) -> None:
    cases = st.one_of(
        *[
            operation.as_strategy(generation_mode=mode, path_parameters=pinned)
            for pinned in _pinned(operation, fuzz_org)
        ]
    )
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    @_settings()
    @given(case=cases, role=st.sampled_from(ROLES))
    def fuzz(case: Any, role: str) -> None:
        headers = {**(case.headers or {}), "Authorization": f"Bearer {fuzz_org.tokens[role]}"}
        case.headers = headers
        response = case.call(base_url=local_api.base_url, session=session, timeout=10)
        case.validate_response(response, checks=checks, headers=headers)

    if SEED is not None:
        fuzz = hypothesis.seed(int(SEED))(fuzz)
    fuzz()
