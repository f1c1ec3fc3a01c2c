"""The local HTTP API: API Gateway HTTP API (payload 2.0) in front of the real handlers.

Each request is routed with template.yaml's own route table (404 for an unknown path, 405 for a
known path with another method), authorised like the HTTP API JWT authorizer (401
`{"message":"Unauthorized"}` before any function runs), turned into the v2 event API Gateway would
send, and handed to the function's handler as configured in the template. The handler's result is
mapped back the way API Gateway maps it.

Local-only extras, never in template.yaml: `GET /` (a start page pointing to the explorer, the token
route and the demo users; JSON unless the client asks for HTML), `POST /_local/token` (mint a token),
`GET /_local/jwks.json`, `GET /_local/events` (what was published to the local event bus),
`GET /_local/health`, `GET /openapi.json` and the Swagger UI at `/docs`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import aws_lambda_powertools
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as HttpRoute

from localdev.template_routes import Route, allowed_methods, function_for
from localdev.tokens import (
    TOKEN_TTL_S,
    InvalidToken,
    TokenAuthority,
    bearer_token,
    event_claims,
    event_scopes,
)

logger = logging.getLogger("localdev.server")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Bodies API Gateway passes as text; anything else arrives base64-encoded.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "+json",
    "+xml",
)
# Swagger UI ships inside Powertools: the page works offline.
_SWAGGER_ASSETS = Path(aws_lambda_powertools.__file__).parent / "event_handler/openapi/swagger_ui"
_MAX_TOKEN_TTL_S = 24 * 3600


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": []}}, status_code=status, headers=headers
    )


def _unauthorized(reason: str) -> JSONResponse:
    logger.info("401 from the local JWT authorizer: %s", reason)
    return JSONResponse(
        {"message": "Unauthorized"},
        status_code=401,
        headers={"www-authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


def _joined_headers(request: Request) -> tuple[dict[str, str], list[str]]:
    """Lower-cased headers, repeated ones comma-joined; cookies split out, as the v2 payload carries them."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers, cookies


def _body_fields(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {"isBase64Encoded": False}
    textual = not content_type or any(marker in content_type.lower() for marker in _TEXT_TYPES)
    if textual:
        try:
            return {"body": body.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}


def build_event(
    request: Request,
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event for this request, after the JWT authorizer accepted `claims`
    (None: a public route, which has no authorizer and so no authorizer context)."""
    raw_path = _raw_path(request)
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    headers, cookies = _joined_headers(request)
    route_key = f"{route.method} {route.path}"
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": headers.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode("ascii"),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        **_body_fields(body, headers.get("content-type", "")),
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": event_claims(claims), "scopes": event_scopes(claims)}
        }
    if cookies:
        event["cookies"] = cookies
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    if query:
        event["queryStringParameters"] = {name: ",".join(values) for name, values in query.items()}
    if path_parameters:
        event["pathParameters"] = {name: unquote(value) for name, value in path_parameters.items()}
    return event


def to_response(result: Any, request_id: str) -> Response:
    """Map a handler's return value back to HTTP the way API Gateway does for payload 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Payload 2.0 treats any other return value as a 200 JSON body.
        return JSONResponse(result, headers={"apigw-requestid": request_id})
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(content=content, status_code=int(result["statusCode"]))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    response.headers["apigw-requestid"] = request_id
    return response


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else request.url.path


@dataclass(frozen=True)
class FeaturedUser:
    """A demo user the start page (and the start-up screen) points to, and what to look at them for."""

    org_name: str
    org_id: str
    role: str
    user_id: str
    featured_for: str
    try_path: str  # a GET worth trying with this user's token


class Functions(Protocol):
    """What the server needs from the Lambda runtime stand-in (localdev.lambda_runtime.Invoker)."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any: ...


class LocalApi:
    def __init__(
        self,
        routes: list[Route],
        authority: TokenAuthority,
        invoker: Functions,
        openapi_document: Callable[[], dict[str, Any]],
        published_events: Callable[[], list[dict[str, Any]]] = list,
        featured: Sequence[FeaturedUser] = (),
    ) -> None:
        self.routes = routes
        self.authority = authority
        self.invoker = invoker
        self.openapi_document = openapi_document
        self.published_events = published_events
        self.featured = tuple(featured)

    async def dispatch(self, request: Request) -> Response:
        path = _raw_path(request)
        match = function_for(request.method, path, self.routes)
        if match is None:
            allowed = allowed_methods(path, self.routes)
            if allowed:
                return _error(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}.",
                    headers={"allow": ", ".join(sorted(allowed))},
                )
            return _error(404, "route_not_found", "No such route.")
        claims: dict[str, Any] | None = None
        if not match.route.public:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                return _unauthorized("missing bearer token")
            try:
                claims = self.authority.verify(token)
            except InvalidToken as error:
                return _unauthorized(str(error))
        event = build_event(request, await request.body(), match.route, match.path_parameters, claims)
        request_id = event["requestContext"]["requestId"]
        try:
            result = await run_in_threadpool(self.invoker.invoke, match.route.function_logical_id, event)
        except Exception:
            # What API Gateway answers when the function itself fails (not a handled 5xx).
            logger.exception("%s raised", match.route.function_logical_id)
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        return to_response(result, request_id)

    async def mint_token(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            return _error(400, "malformed_json", "The request body is not valid JSON.")
        if not isinstance(payload, dict):
            return _error(400, "invalid_request", 'Send a JSON object: {"sub": "<user uuid>"}.')
        sub, ttl = payload.get("sub"), payload.get("expires_in", TOKEN_TTL_S)
        try:
            subject = str(uuid.UUID(str(sub))) if isinstance(sub, str) else None
        except ValueError:
            subject = None
        if subject is None:
            return _error(
                400,
                "invalid_sub",
                "'sub' must be a user id (UUID), e.g. 3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00.",
            )
        if type(ttl) is not int or not 1 <= ttl <= _MAX_TOKEN_TTL_S:
            return _error(
                400, "invalid_expires_in", f"'expires_in' must be whole seconds from 1 to {_MAX_TOKEN_TTL_S}."
            )
        token = self.authority.mint(subject, ttl_s=ttl)
        if "text/plain" in request.headers.get("accept", ""):
            # For shell one-liners: `Authorization: Bearer $(curl ... -H 'Accept: text/plain')`.
            return PlainTextResponse(token)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    async def jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self.authority.public_jwk()]})

    async def openapi(self, _: Request) -> Response:
        try:
            return JSONResponse(self.openapi_document())
        except Exception as error:
            # Typically a handler that does not import yet; the API routes that do import still work.
            logger.exception("cannot build the OpenAPI document")
            return _error(503, "openapi_unavailable", f"The OpenAPI document cannot be built: {error}")

    async def home(self, request: Request) -> Response:
        """Where a newcomer lands: the explorer, how to get a token, and whom to try it as."""
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_start_page(self.featured, str(request.base_url).rstrip("/")))
        return JSONResponse(
            {
                "api_explorer": "/docs",
                "openapi": "/openapi.json",
                "token": {"method": "POST", "path": "/_local/token", "body": {"sub": "<user uuid>"}},
                "demo_users": [asdict(user) for user in self.featured],
            }
        )

    async def docs(self, _: Request) -> Response:
        return HTMLResponse(_SWAGGER_PAGE)

    async def events(self, _: Request) -> Response:
        return JSONResponse({"items": self.published_events()})

    async def health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok", "routes": len(self.routes)})

    async def _unrouted(self, scope: Any, receive: Any, send: Any) -> None:
        # Paths Starlette's patterns cannot match (e.g. an encoded newline in a segment) still go to
        # the HTTP API routing, as API Gateway would send them, rather than a bare text 404.
        if scope["type"] != "http":
            return
        response = await self.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    def app(self) -> Starlette:
        application = Starlette(
            routes=[
                HttpRoute("/", self.home, methods=["GET"]),
                HttpRoute("/_local/token", self.mint_token, methods=["POST"]),
                HttpRoute("/_local/jwks.json", self.jwks, methods=["GET"]),
                HttpRoute("/_local/health", self.health, methods=["GET"]),
                HttpRoute("/_local/events", self.events, methods=["GET"]),
                HttpRoute("/openapi.json", self.openapi, methods=["GET"]),
                HttpRoute("/docs", self.docs, methods=["GET"]),
                HttpRoute(
                    "/docs/swagger-ui.css",
                    lambda _: FileResponse(_SWAGGER_ASSETS / "swagger-ui.min.css"),
                    methods=["GET"],
                ),
                HttpRoute(
                    "/docs/swagger-ui-bundle.js",
                    lambda _: FileResponse(_SWAGGER_ASSETS / "swagger-ui-bundle.min.js"),
                    methods=["GET"],
                ),
                # Everything else is the HTTP API, routed by template.yaml.
                HttpRoute("/{path:path}", self.dispatch, methods=_METHODS),
            ]
        )
        application.router.default = self._unrouted
        return application


def _start_page(featured: Sequence[FeaturedUser], base: str) -> str:
    rows = "\n".join(
        "      <tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>GET {}</code></td></tr>".format(
            *(
                html.escape(value)
                for value in (user.org_name, user.role, user.user_id, user.featured_for, user.try_path)
            )
        )
        for user in featured
    )
    users = (
        "  <h2>Demo users</h2>\n  <p>Mint a token for one of them, then try the request beside it.</p>\n"
        "  <table>\n      <tr><th>Organisation</th><th>Role</th><th>User id (sub)</th><th>Look at</th>"
        f"<th>Try</th></tr>\n{rows}\n  </table>\n"
        if featured
        else ""
    )
    return _START_PAGE.replace("{base}", html.escape(base)).replace("{users}", users)


_START_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Peer badges API (local)</title>
  <style>body {font-family: sans-serif; max-width: 60rem; margin: 2rem auto; line-height: 1.5}
         td, th {text-align: left; padding: 0.2rem 0.6rem 0.2rem 0; vertical-align: top}</style>
</head>
<body>
  <h1>Peer badges API (local)</h1>
  <p>The real handlers behind a local stand-in for API Gateway's HTTP API, routed from template.yaml.</p>
  <ul>
    <li><a href="/docs">API explorer</a>: every route, grouped by what it is for, with examples
        (the document itself: <a href="/openapi.json">/openapi.json</a>).</li>
    <li>Every API route needs a bearer token. Mint one with <code>POST /_local/token</code> and
        <code>{"sub": "&lt;user uuid&gt;"}</code> (in the explorer under <em>Local only</em>), then paste
        its <code>access_token</code> under <em>Authorize</em>. From a shell:
        <code>curl -s -H 'Accept: text/plain' -d '{"sub": "&lt;user uuid&gt;"}' {base}/_local/token</code></li>
    <li>Events published to the local bus: <a href="/_local/events">/_local/events</a>;
        health: <a href="/_local/health">/_local/health</a>.</li>
  </ul>
{users}</body>
</html>
"""


_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Peer badges API (local)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui">Loading…</div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    // Mint a token with POST /_local/token, then paste it under "Authorize".
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true,
                                 deepLinking: true, docExpansion: "list", filter: true});
  </script>
</body>
</html>
"""
