"""How the credential routes answer: JSON-LD bodies with their media types, ETags, documented errors."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from peer_badges.api import etag_for, if_none_match_hits
from peer_badges.models import ErrorResponse

VC_MEDIA_TYPE = "application/vc"  # W3C VC 2.0 section 6.3: a credential secured with an embedded proof
LD_MEDIA_TYPE = "application/ld+json"

MEANING = {
    304: "Not modified: the ETag in If-None-Match is current.",
    400: "Malformed id.",
    401: "No valid access token.",
    403: "Only the mentor themself and organisation admins can get a mentor's credentials.",
    404: "No such organisation, badge definition, status list or earned badge (for this mentor).",
    503: "Credentials are not configured (PUBLIC_BASE_URL, signing keys) or the keys are unreadable.",
}


def documented(description: str, media_type: str, meaning: dict[int, str]) -> dict[int, OpenAPIResponse]:
    responses: dict[int, OpenAPIResponse] = {
        200: {"description": description, "content": {media_type: {"schema": {"type": "object"}}}}
    }
    for status, text in meaning.items():
        if status == 304:
            responses[status] = {"description": text}
        else:
            responses[status] = {
                "description": text,
                "content": {"application/json": {"model": ErrorResponse}},
            }
    return responses


def linked_data_response(
    document: dict[str, Any], media_type: str, cache_control: str, if_none_match: str | None = None
) -> Response:
    """200 with the document and its ETag, or 304 when the client's copy is current."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    etag = etag_for(body)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if if_none_match_hits(if_none_match, etag):
        return Response(status_code=304, content_type=None, body="", headers=headers)
    return Response(status_code=200, content_type=media_type, body=body, headers=headers)
