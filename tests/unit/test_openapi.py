"""The committed OpenAPI document is the one the handlers' code generates, and covers every route."""

from __future__ import annotations

import json

import pytest

from localdev.openapi import (
    DOCUMENT_PATH,
    LOCAL_TAG,
    SECURITY_SCHEME,
    build_document,
    handler_modules,
    missing_routes,
    render,
    with_local_routes,
)
from localdev.template_routes import routes
from peer_badges.api_docs import TAGS
from peer_badges.criteria.registry import KNOWN_TYPES


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


OPERATION_METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(document: dict) -> list[tuple[str, dict]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in OPERATION_METHODS
    ]


def test_every_operation_sits_in_one_described_section_with_a_summary_and_a_description(
    document: dict,
) -> None:
    # Given the sections the document declares, with their descriptions
    sections = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert all(sections.values()), "every section needs a description (peer_badges.api_docs.TAGS)"
    for label, operation in _operations(document):
        # Then each operation names exactly one of them, says in one line what it does (not its
        # method and path, Powertools' default) and explains itself
        assert len(operation.get("tags", [])) == 1 and operation["tags"][0] in sections, label
        summary = operation["summary"]
        assert summary != label and "\n" not in summary and len(summary) <= 80, label
        assert len(operation.get("description", "")) >= 40, f"{label} needs a description"


def test_the_sections_are_those_a_reader_looks_for_in_the_declared_order(document: dict) -> None:
    names = [tag["name"] for tag in document["tags"]]
    assert (
        names[:6]
        == list(TAGS)[:6]
        == [
            "Statistics",
            "Earned badges",
            "Badge definitions",
            "Evaluations",
            "Payouts",
            "Settings",
        ]
    )
    # No section is declared without an operation in it
    used = {operation["tags"][0] for _, operation in _operations(document)}
    assert set(names) == used


def test_every_operation_documents_what_api_gateway_itself_answers(document: dict) -> None:
    gateway = "#/components/schemas/GatewayMessage"
    for label, operation in _operations(document):
        responses = operation["responses"]
        public = operation.get("security") == []  # no authorizer, so no 401 of its own
        for status in ("429", "500", "503", "504") if public else ("401", "429", "500", "503", "504"):
            schema = responses[status]["content"]["application/json"]["schema"]
            refs = [option["$ref"] for option in schema.get("anyOf", [schema])]
            assert gateway in refs, f"{label} {status}"
        assert "Retry-After" in responses["503"]["headers"], label
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]


def test_every_request_body_offers_examples_and_criteria_bodies_one_per_type(document: dict) -> None:
    for label, operation in _operations(document):
        if "requestBody" in operation:
            assert operation["requestBody"]["content"]["application/json"].get("examples"), label
    base = document["paths"]["/orgs/{org_id}/badge-definitions"]
    bodies = {
        "create": base["post"],
        "validate": document["paths"]["/orgs/{org_id}/badge-definitions/validate"]["post"],
        "preview": document["paths"]["/orgs/{org_id}/badge-definitions/preview"]["post"],
    }
    for name, operation in bodies.items():
        examples = operation["requestBody"]["content"]["application/json"]["examples"].values()
        values = [example["value"] for example in examples]
        documents = [value if "type" in value else value["criteria"] for value in values]
        assert {criteria["type"] for criteria in documents} >= set(KNOWN_TYPES), name


def test_the_local_document_adds_its_own_section(document: dict) -> None:
    local = with_local_routes(document)
    assert local["tags"][-1]["name"] == LOCAL_TAG and local["tags"][-1]["description"]
    assert local["paths"]["/_local/token"]["post"]["tags"] == [LOCAL_TAG]
    assert LOCAL_TAG not in {tag["name"] for tag in document["tags"]}
