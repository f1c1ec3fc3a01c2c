"""The committed OpenAPI document is the one the handlers' code generates, and covers every route."""

from __future__ import annotations

import json

import pytest

from localdev.openapi import (
    DOCUMENT_PATH,
    SECURITY_SCHEME,
    build_document,
    handler_modules,
    missing_routes,
    render,
    with_local_routes,
)
from localdev.template_routes import routes


@pytest.fixture(scope="module")
def document() -> dict:
    return build_document()


def test_the_committed_document_matches_the_code(document: dict) -> None:
    # Given the document generated from the handlers' routers now
    # When it is compared with docs/openapi.json
    committed = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
    # Then they are identical (regenerate with `python -m localdev.openapi --write`)
    assert committed == render(document), "docs/openapi.json is stale: run python -m localdev.openapi --write"


def test_every_template_route_is_described(document: dict) -> None:
    assert missing_routes(document) == []


def test_the_document_describes_no_route_the_template_lacks(document: dict) -> None:
    # Given the routes API Gateway will serve
    served = {(route.method.lower(), route.path) for route in routes()}
    # Then the document promises nothing else
    described = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert described <= served


def test_every_route_requires_the_jwt_bearer_token(document: dict) -> None:
    scheme = document["components"]["securitySchemes"][SECURITY_SCHEME]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and scheme["bearerFormat"] == "JWT"
    assert document["security"] == [{SECURITY_SCHEME: []}]


def test_all_four_handlers_are_merged() -> None:
    assert sorted(handler_modules()) == [
        "award_badge.handler",
        "config_crud.handler",
        "evaluate_badges.handler",
        "get_stats.handler",
    ]


def test_only_the_local_document_has_the_token_route(document: dict) -> None:
    local = with_local_routes(document)
    assert "/_local/token" in local["paths"]
    assert "/_local/token" not in document["paths"]
    assert json.loads(render(document)) == document


def test_only_the_templates_public_routes_are_described_without_a_token(document: dict) -> None:
    public = {(route.method.lower(), route.path) for route in routes() if route.public}
    tokenless = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }

    assert public == {
        ("get", "/orgs/{org_id}/issuer"),
        ("get", "/orgs/{org_id}/badge-definitions/{definition_id}/achievement"),
        ("get", "/orgs/{org_id}/credential-status/{list_id}"),
    }
    assert tokenless == public
    for method, path in public:
        assert "401" not in document["paths"][path][method]["responses"]
