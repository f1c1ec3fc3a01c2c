"""One OpenAPI document for the whole HTTP API, generated from the handlers' Powertools resolvers.

Which handlers serve HTTP comes from template.yaml's route table; each handler module's `app`
describes its own routes, and the per-function documents are merged (a path+method defined twice,
or two different schemas under one component name, is an error rather than a silent overwrite).
The committed copy is `docs/openapi.json`:

    python -m localdev.openapi --write     regenerate docs/openapi.json
    python -m localdev.openapi --check     exit 1 if the committed copy differs from the code
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from localdev.lambda_runtime import REPO_ROOT, install_lambda_paths
from localdev.template_routes import Route, routes

DOCUMENT_PATH = REPO_ROOT / "docs" / "openapi.json"
TITLE = "Peer-mentor badges API"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Statistics, organisation-configured badges and awards for volunteer peer mentors. "
    "Every route needs `Authorization: Bearer <JWT>` (the HTTP API's JWT authorizer checks issuer, "
    "audience, signature and expiry; the caller is the token's `sub`), except the public Open Badges "
    "documents a credential verifier fetches (issuer profile, achievement, credential status list). "
    'Errors have one shape: `{"error": {"code", "message", "details": [{"path", "code", "message"}]}}`. '
    "Answers that API Gateway gives itself (401 from the authorizer, 429 when throttled, 500/503/504 "
    'when the function fails or is slow) are `{"message": ...}` instead; every operation lists them. '
    "Error messages and validation problem messages follow `Accept-Language`: Norwegian bokmål (`nb`, "
    "also for `no` and `nn`) or English (`en`, the default; also for any language not offered). `code`s and "
    "`path`s never change with the language."
)
# Every operation documents the header it honours (SPEC 8.7).
ACCEPT_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "nb (also no, nn) or en: the language of error and validation messages; English when "
    "absent or not offered.",
    "schema": {"type": "string", "examples": ["nb", "en", "nn-NO, en;q=0.5"]},
}
SECURITY_SCHEME = "jwt"
LOCAL_TAG = "Local only"
_LOCAL_TAG_TEXT = "Routes of `make run`'s local server only; API Gateway in AWS has none of them."


class DocumentError(Exception):
    pass


def handler_modules(table: list[Route] | None = None) -> list[str]:
    """The handler modules that serve HTTP routes, in template order."""
    modules: list[str] = []
    for route in routes() if table is None else table:
        module = route.handler.rpartition(".")[0]
        if module not in modules:
            modules.append(module)
    return modules


def _merge_components(target: dict[str, dict[str, Any]], source: dict[str, Any], origin: str) -> None:
    for kind, entries in source.items():
        merged = target.setdefault(kind, {})
        for name, value in entries.items():
            if name in merged and merged[name] != value:
                raise DocumentError(
                    f"components.{kind}.{name} differs between handlers ({origin} and an earlier one)"
                )
            merged[name] = value


def build_document(table: list[Route] | None = None) -> dict[str, Any]:
    """The merged document; handler modules must be importable (see install_lambda_paths)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from peer_badges.api_docs import TAGS

    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    for module_name in handler_modules(table):
        app = importlib.import_module(module_name).app
        schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=API_VERSION))
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method in paths.get(path, {}):
                    raise DocumentError(f"{method.upper()} {path} is described by two handlers")
                paths.setdefault(path, {})[method] = operation
        _merge_components(components, schema.get("components", {}), module_name)
    bearer = HTTPBearer(
        bearerFormat="JWT", description="An access token from the organisation's identity provider."
    )
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = bearer.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    public = {
        (route.method.lower(), route.path) for route in (routes() if table is None else table) if route.public
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if (method, path) in public:
                operation["security"] = []  # no authorizer in front (template.yaml: Authorizer NONE)
            _add_edge_responses(operation, authorized=(method, path) not in public)
            operation.setdefault("parameters", []).append(ACCEPT_LANGUAGE)
    components.setdefault("schemas", {})[_GATEWAY_MESSAGE["title"]] = _GATEWAY_MESSAGE
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": API_VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": dict(sorted(paths.items())),
        "components": {kind: dict(sorted(entries.items())) for kind, entries in sorted(components.items())},
    }
    used = {
        tag
        for operations in paths.values()
        for operation in operations.values()
        for tag in operation.get("tags", [])
    }
    # The explorer's sections, in the order peer_badges.api_docs gives them; an undeclared tag last.
    declared = [{"name": name, "description": text} for name, text in TAGS.items() if name in used]
    document["tags"] = declared + [{"name": name} for name in sorted(used - set(TAGS))]
    return document


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_GATEWAY_MESSAGE = {
    "type": "object",
    "title": "GatewayMessage",
    "description": (
        "API Gateway's own answer: the request never reached the function (the JWT authorizer, "
        "throttling) or the function's answer never came back (it failed or took too long)."
    ),
    "properties": {"message": {"type": "string", "example": "Unauthorized"}},
    "required": ["message"],
}


def _gateway_or_error(description: str, **extra: Any) -> dict[str, Any]:
    """A status both API Gateway (`{"message"}`) and the function (the error shape) can answer with."""
    either = {
        "anyOf": [
            {"$ref": "#/components/schemas/GatewayMessage"},
            {"$ref": "#/components/schemas/ErrorResponse"},
        ]
    }
    return {"description": description, **extra, "content": {"application/json": {"schema": either}}}


def _gateway(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/GatewayMessage"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _add_edge_responses(operation: dict[str, Any], authorized: bool) -> None:
    """Statuses every route can give that no single route declares: API Gateway's own (the authorizer's
    401, not on public routes; throttling's 429, a failed or slow function's 500/503/504), the shared
    edge's 413/415 for bodies, and the function's 503 with Retry-After when the database is away."""
    responses = operation.setdefault("responses", {})
    if authorized:
        responses["401"] = _gateway_or_error(
            "No valid access token (missing, expired, wrong issuer/audience or signature)."
        )
    else:
        responses.pop("401", None)
    if "requestBody" in operation:
        responses.setdefault(
            "413", {"description": "The body is larger than the API accepts.", "content": _ERROR}
        )
        responses.setdefault("415", {"description": "The body is not application/json.", "content": _ERROR})
    responses.setdefault(
        "429",
        _gateway(
            "Throttled by API Gateway (the API's rate or burst limit): nothing was done; retry after a "
            'pause, with backoff. Body `{"message": "Too Many Requests"}`.'
        ),
    )
    responses.setdefault(
        "500",
        _gateway_or_error(
            "Something failed unexpectedly. From the function: the error shape with code internal_error "
            'and a correlation_id to quote. From API Gateway (`{"message": "Internal Server Error"}`): the '
            "function crashed or answered malformed. Writes are transactional: retrying is safe."
        ),
    )
    unavailable = _gateway_or_error(
        "Temporarily unavailable: the database is briefly away (the error shape, with Retry-After "
        'seconds), or API Gateway could not get an answer from the function (`{"message": '
        '"Service Unavailable"}`). Retry after a pause.',
        headers={"Retry-After": {"schema": {"type": "integer"}}},
    )
    if "503" in responses:  # the route's own 503 (e.g. not configured) joins the shared one
        unavailable["description"] = f"{responses['503']['description']} Or: {unavailable['description']}"
    responses["503"] = unavailable
    responses.setdefault(
        "504",
        _gateway(
            "API Gateway stopped waiting for the function (the integration timeout). The work may still "
            "complete; repeating a write never applies it twice."
        ),
    )


def missing_routes(document: dict[str, Any], table: list[Route] | None = None) -> list[str]:
    """Template routes the document does not describe."""
    described = document.get("paths", {})
    return [
        f"{route.method} {route.path}"
        for route in (routes() if table is None else table)
        if route.method.lower() not in described.get(route.path, {})
    ]


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def with_local_routes(document: dict[str, Any]) -> dict[str, Any]:
    """The document the local server serves: the API plus its local-only token route."""
    local = json.loads(json.dumps(document))
    local["info"]["description"] += (
        "\n\nLocal mode: mint a token with `POST /_local/token`, then paste it under *Authorize*."
    )
    local["tags"] = [*local.get("tags", []), {"name": LOCAL_TAG, "description": _LOCAL_TAG_TEXT}]
    local["paths"]["/_local/token"] = {
        "post": {
            "tags": [LOCAL_TAG],
            "summary": "Mint a local access token (local server only; not deployed)",
            "description": (
                'Send `{"sub": "<user uuid>"}` (a demo user id from the start screen) and paste the '
                "access_token under Authorize. With `Accept: text/plain` the answer is the bare token."
            ),
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["sub"],
                            "properties": {
                                "sub": {"type": "string", "format": "uuid"},
                                "expires_in": {"type": "integer", "minimum": 1, "maximum": 86400},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "A bearer token signed with the local key",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "access_token": {"type": "string"},
                                    "token_type": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "sub is not a UUID"},
            },
        }
    }
    return local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {DOCUMENT_PATH.relative_to(REPO_ROOT)}")
    action.add_argument("--check", action="store_true", help="fail if the committed document is out of date")
    parser.add_argument("--path", type=Path, default=DOCUMENT_PATH)
    args = parser.parse_args(argv)

    install_lambda_paths()
    document = build_document()
    missing = missing_routes(document)
    if missing:
        print(
            "routes in template.yaml that no handler describes:\n  " + "\n  ".join(missing), file=sys.stderr
        )
        return 1
    text = render(document)
    if args.write:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path} ({len(document['paths'])} paths)")
        return 0
    committed = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
    if committed != text:
        print(
            f"{args.path} is out of date: run `python -m localdev.openapi --write` and commit it",
            file=sys.stderr,
        )
        return 1
    print(f"{args.path} matches the handlers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
