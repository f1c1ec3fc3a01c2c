"""Opaque keyset cursors: the sort key of a page's last item, as URL-safe base64 of a JSON list.

A cursor is only ever produced by the list that reads it back, so anything that does not decode into
the expected parts is the client's mistake (400), never a reason to start over silently.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from peer_badges.errors import BadRequest

INVALID = "The cursor is not valid; use next_cursor from the previous page as it is."


def encode(*parts: str) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *parsers: Callable[[str], Any]) -> tuple[Any, ...]:
    """The parts of `cursor`, each read by its parser (e.g. ``date.fromisoformat, UUID``)."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(parsers):
            raise ValueError("wrong number of parts")
        return tuple(parse(part) for parse, part in zip(parsers, parts, strict=True))
    except (binascii.Error, ValueError, TypeError, AttributeError) as error:
        raise BadRequest(INVALID) from error
