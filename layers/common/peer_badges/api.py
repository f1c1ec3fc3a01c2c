"""HTTP edge shared by the API handlers: the resolver, the one error mapping, identity, ETags, and the
helpers every routes module uses to document its responses and reply.

Logic raises `peer_badges.errors.AppError` subclasses; this module is the only place that turns
exceptions into HTTP responses. 4xx are logged at info; only unexpected failures get a trace, and
their response carries a correlation id, never internals.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from peer_badges.criteria.base import format_path
from peer_badges.db import is_unavailable
from peer_badges.errors import AppError, ServiceUnavailable, Unauthorized
from peer_badges.language import DEFAULT, Lang, negotiate, translate, translate_details, translate_pydantic
from peer_badges.models import ErrorResponse, ValidationResult

logger = Logger(service="peer-badges")

_LOCATION_CODES = {
    "path": "invalid_path_parameter",
    "query": "invalid_query_parameter",
    "header": "invalid_header",
}


def error_body(code: str, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "details": details or []}
    correlation_id = logger.get_correlation_id()
    if correlation_id:
        body["correlation_id"] = correlation_id
    return {"error": body}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    lang: Lang = DEFAULT,
) -> Response:
    """The one error shape; ``message`` and the details' messages in ``lang`` (codes and paths as they are)."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(code, translate(message, lang), translate_details(details or [], lang))),
        headers={**(headers or {}), "Content-Language": lang},
    )


# The caller's language for this request (set by the resolver's middleware), for replies that carry
# messages in a 200 (a validation result).
_language: ContextVar[Lang] = ContextVar("language", default=DEFAULT)


def caller_language(router: Router) -> Lang:
    """``nb`` or ``en`` from the request's Accept-Language; English when absent or not understood."""
    return negotiate((router.current_event.headers or {}).get("accept-language"))


def _language_middleware(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
    token = _language.set(caller_language(app))
    try:
        return next_middleware(app)
    finally:
        _language.reset(token)


# Nesting deeper than any request body here needs (criteria are ~4 levels); far below the depth at
# which Python's parser or a recursive validator would run out of stack.
MAX_JSON_DEPTH = 32
# The largest valid body (1,000 mentor ids, or a definition at every size limit) is under 50 KB. A
# bigger one is refused before parsing: a 5 MB body of unknown fields otherwise costs seconds of
# validation and an error listing that exceeds Lambda's 6 MB response limit (a 500 from API Gateway).
MAX_BODY_CHARS = 256 * 1024
MAX_ERROR_DETAILS = 50


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class _InvalidJson(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _InvalidJson(f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise _InvalidJson(f"{name} is not a JSON number")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise _InvalidJson("text cannot contain the NUL character (\\u0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _InvalidJson("text contains an unpaired UTF-16 surrogate escape") from None


def _check_values(value: Any) -> None:
    """Iteratively, so a deep document cannot exhaust the stack here either."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise _InvalidJson(f"it is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def strict_json_loads(text: str | bytes) -> Any:
    """JSON as RFC 8259 and PostgreSQL accept it, refused with a reason (JSONDecodeError) otherwise.

    `json.loads` alone keeps the last of duplicate keys, accepts NaN/Infinity, and lets through NUL
    characters and unpaired surrogates that PostgreSQL's text and jsonb refuse at INSERT time (a 500);
    a deep document or a 5,000-digit integer makes it raise errors that are not JSONDecodeError.
    """
    if len(text) > MAX_BODY_CHARS:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_CHARS // 1024} KB.")
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        _check_values(value)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(
            f"it is nested deeper than {MAX_JSON_DEPTH} levels", str(text), 0
        ) from None
    except _InvalidJson as error:
        raise json.JSONDecodeError(str(error), str(text), 0) from None
    except ValueError:
        # Python refuses integer literals beyond sys.get_int_max_str_digits() (4,300 digits).
        raise json.JSONDecodeError("a number has too many digits", str(text), 0) from None
    return value


def _validation_details(
    errors: list[dict[str, Any]], lang: Lang = DEFAULT
) -> tuple[int, str, str, list[dict[str, str]]]:
    details = []
    status, code, message = 422, "validation_failed", "The request has invalid fields; see details."
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "body"
        path = format_path(error.get("loc", ())[1:]) or where
        if error.get("type") == "json_invalid":
            reason = str((error.get("ctx") or {}).get("error") or "")
            message = (
                f"The request body is not valid JSON: {reason}."
                if reason
                else "The request body is not valid JSON."
            )
            return 400, "malformed_json", message, []
        if where in _LOCATION_CODES:
            status, code = 400, _LOCATION_CODES[where]
            message = f"Invalid {where} parameter '{path}'."
            if error.get("type") == "uuid_parsing" or "uuid" in str(error.get("msg", "")).lower():
                message = f"'{path}' must be a UUID, e.g. 3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00."
        code_ = str(error.get("type", "invalid"))
        text = translate_pydantic(code_, error.get("ctx"), str(error.get("msg", "")), lang)
        details.append({"path": path, "code": code_, "message": text})
    if len(details) > MAX_ERROR_DETAILS:
        more = len(details) - MAX_ERROR_DETAILS + 1
        details = [
            *details[: MAX_ERROR_DETAILS - 1],
            {"path": "body", "code": "too_many_errors", "message": f"... and {more} more problems."},
        ]
    return status, code, message, details


def _body_is_undecodable(app: APIGatewayHttpResolver) -> bool:
    try:
        _ = app.current_event.decoded_body
    except (UnicodeDecodeError, binascii.Error):
        return True
    return False


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=strict_json_loads)
    app.use([_language_middleware])

    @app.exception_handler(AppError)
    def _app_error(error: AppError) -> Response:
        if isinstance(error, ServiceUnavailable):
            logger.warning("service unavailable", extra={"reason": error.message}, exc_info=error.__cause__)
            return error_response(
                error.status,
                error.code,
                error.message,
                headers={"Retry-After": str(error.retry_after_s)},
                lang=caller_language(app),
            )
        logger.info(
            "request refused", extra={"status": error.status, "code": error.code, "reason": error.message}
        )
        return error_response(
            error.status, error.code, error.message, error.details, lang=caller_language(app)
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        lang = caller_language(app)
        status, code, message, details = _validation_details(list(error.errors()), lang)
        logger.info("invalid request", extra={"status": status, "code": code, "details": details})
        return error_response(status, code, message, details, lang=lang)

    @app.exception_handler(NotFoundError)
    def _no_route(_: NotFoundError) -> Response:
        return error_response(404, "route_not_found", "No such route.", lang=caller_language(app))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
        logger.info("unsupported content type", extra={"status": 415})
        return error_response(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
            lang=caller_language(app),
        )

    @app.exception_handler(UnicodeDecodeError)
    @app.exception_handler(binascii.Error)
    def _undecodable_body(error: ValueError) -> Response:
        # Raised while Powertools decodes the body (base64, then UTF-8); from anywhere else it is a bug.
        if not _body_is_undecodable(app):
            return _unexpected(error)
        logger.info("undecodable body", extra={"status": 400})
        return error_response(
            400, "malformed_json", "The request body must be UTF-8 encoded JSON.", lang=caller_language(app)
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        if is_unavailable(error):
            logger.warning("database unavailable", exc_info=error)
            return error_response(
                503,
                ServiceUnavailable.code,
                "The service is temporarily unavailable; retry shortly.",
                headers={"Retry-After": str(ServiceUnavailable.retry_after_s)},
                lang=caller_language(app),
            )
        logger.exception("unhandled error")
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side; quote the correlation id.",
            lang=caller_language(app),
        )

    return app


def caller_id(app: Router) -> UUID:
    """The caller's user id: the verified token's `sub` claim, as placed there by the JWT authorizer."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer else None
    subject = (claims or {}).get("sub")
    if not subject:
        raise Unauthorized("A valid access token is required.")
    try:
        return UUID(str(subject))
    except ValueError as error:
        raise Unauthorized("The access token's subject is not a known user id.") from error


Router = APIGatewayHttpResolver | APIGatewayHttpRouter
# What a route lists in `responses=` for a success: a description, or a description and its model.
Success = str | tuple[str, Any]


def documented_responses(
    meanings: Mapping[int, str], success: Mapping[int, Success], *errors: int
) -> dict[int, OpenAPIResponse]:
    """A route's `responses=`: its successes, then each error status with the router's meaning of it,
    all in the one error shape. Powertools documents only the listed responses once any are given, so
    successes are listed too; one without a model gets the route's return annotation as its schema."""
    documented: dict[int, OpenAPIResponse] = {}
    for status, described in success.items():
        if isinstance(described, tuple) and isinstance(described[1], str):
            text, media_type = described  # a non-JSON body, e.g. ("CSV ...", "text/csv")
            documented[status] = {
                "description": text,
                "content": {media_type: {"schema": {"type": "string"}}},
            }
        elif isinstance(described, tuple):
            text, model = described
            documented[status] = {"description": text, "content": {"application/json": {"model": model}}}
        else:
            documented[status] = {"description": described}
    for status in errors:
        documented[status] = {
            "description": meanings[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return documented


def examples(named: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """A request body's `openapi_examples=`: the explorer's menu of bodies (peer_badges.api_docs).

    Imported here, not at the top: the OpenAPI models cost a get_stats cold start (no bodies) ~10 ms."""
    from aws_lambda_powertools.event_handler.openapi.models import Example

    return {name: Example(summary=summary, value=value) for name, (summary, value) in named.items()}


def text_reply(body: str, content_type: str, headers: dict[str, str] | None = None) -> Response:
    """A 200 with a body that is not JSON (e.g. a CSV export)."""
    return Response(200, content_type, body, headers or {})


def reply(model: BaseModel | None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply. The body stays a model: Powertools validates it against the route's return
    annotation. None is an empty body (204). A validation result's problems are in the caller's language."""
    if isinstance(model, ValidationResult):
        model = model.in_language(_language.get())
    return Response(status, content_types.APPLICATION_JSON, model if model is not None else "", headers or {})


def request_id(router: Router) -> str:
    """API Gateway's request id: the correlation id logic records in audit rows and events."""
    return router.current_event.request_context.request_id


def request_time(router: Router) -> datetime:
    """API Gateway's arrival time: one instant for the whole request, and replayed events replay exactly."""
    epoch_ms = (router.current_event.get("requestContext") or {}).get("timeEpoch")
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC) if epoch_ms else datetime.now(UTC)


def etag_for(body: str) -> str:
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def if_none_match_hits(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def cacheable_response(model: BaseModel, if_none_match: str | None) -> Response:
    """200 with an ETag, or 304 when the client's copy is current."""
    body = model.model_dump_json()
    etag = etag_for(body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match_hits(if_none_match, etag):
        return Response(status_code=304, content_type=None, body="", headers=headers)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)
