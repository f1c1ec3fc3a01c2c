"""Domain errors. Logic raises these; the HTTP edge (peer_badges.api) maps them to responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, details: Sequence[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"


class Unprocessable(AppError):
    status = 422
    code = "validation_failed"


class ServiceUnavailable(AppError):
    """The database is unreachable or too slow; the client should retry after a pause."""

    status = 503
    code = "service_unavailable"
    retry_after_s: ClassVar[int] = 2
