"""Public, unauthenticated routes a verifier dereferences (SPEC 8.6): no JWT authorizer in front.

The issuer profile (with every public key, current and previous), an achievement, and a signed
revocation status list. They reveal nothing about mentors: names of organisations and badge
definitions, public keys, and bits that say only "revoked" for positions nobody can map to a person.
Shared caches may keep them for a few minutes; a revocation shows within that time.
"""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from award_badge.linked_data import LD_MEDIA_TYPE, MEANING, VC_MEDIA_TYPE, documented, linked_data_response
from peer_badges import api_docs, credentials
from peer_badges.db import get_database
from peer_badges.settings import get_settings

router = APIGatewayHttpRouter()

PUBLIC_CACHE = "public, max-age=300"
IfNoneMatch = Annotated[
    str | None, Header(description="An ETag from an earlier response; 304 if still current.")
]
ListId = Annotated[int, Path(ge=0, le=2**31 - 1, description="The status list number.")]
_PUBLIC_ERRORS = {status: MEANING[status] for status in (304, 400, 404, 503)}


@router.get(
    "/orgs/<org_id>/issuer",
    summary="The organisation as an Open Badges issuer",
    description=(
        "Public, no token: the issuer profile with its current and previous Ed25519 keys (Multikey), so credentials signed before a key rotation still verify. Cacheable."
    ),
    tags=[api_docs.OPEN_BADGES],
    responses=documented(
        "The organisation's Open Badges issuer Profile, listing its Ed25519 keys as Multikey "
        "verification methods (current and previous).",
        LD_MEDIA_TYPE,
        _PUBLIC_ERRORS,
    ),
)
def get_issuer(org_id: UUID, if_none_match: IfNoneMatch = None) -> Response[Any]:
    issuing = credentials.issuing(get_settings())
    document = credentials.issuer_document(get_database(), issuing, org_id)
    return linked_data_response(document, LD_MEDIA_TYPE, PUBLIC_CACHE, if_none_match)


@router.get(
    "/orgs/<org_id>/badge-definitions/<definition_id>/achievement",
    summary="A badge definition as an Open Badges achievement",
    description=(
        "Public, no token: the definition's name, description, criteria in words and image, as an Achievement. Cacheable."
    ),
    tags=[api_docs.OPEN_BADGES],
    responses=documented(
        "The badge definition as an Open Badges Achievement.", LD_MEDIA_TYPE, _PUBLIC_ERRORS
    ),
)
def get_achievement(org_id: UUID, definition_id: UUID, if_none_match: IfNoneMatch = None) -> Response[Any]:
    issuing = credentials.issuing(get_settings())
    document = credentials.achievement_document(get_database(), issuing, org_id, definition_id)
    return linked_data_response(document, LD_MEDIA_TYPE, PUBLIC_CACHE, if_none_match)


@router.get(
    "/orgs/<org_id>/credential-status/<list_id>",
    summary="The revocation status list",
    description=(
        "Public, no token: a signed BitstringStatusListCredential whose bit for a credential is set once its badge is revoked. Cacheable."
    ),
    tags=[api_docs.OPEN_BADGES],
    responses=documented(
        "A signed BitstringStatusListCredential (revocation) for this organisation's credentials.",
        VC_MEDIA_TYPE,
        _PUBLIC_ERRORS,
    ),
)
def get_status_list(org_id: UUID, list_id: ListId, if_none_match: IfNoneMatch = None) -> Response[Any]:
    issuing = credentials.issuing(get_settings())
    document = credentials.status_list_document(get_database(), issuing, org_id, list_id)
    return linked_data_response(document, VC_MEDIA_TYPE, PUBLIC_CACHE, if_none_match)
