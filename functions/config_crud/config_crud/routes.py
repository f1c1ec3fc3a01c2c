"""Routes for /orgs/{org_id}/badge-definitions: authorise, call one logic function, reply.

Reads are for members; every mutation, validate and preview are for org admins. GET, POST, PATCH,
archive and unarchive return the definition's revision as a strong ETag; send it back in
``If-Match`` to refuse (412) a change to a definition someone else changed meanwhile.
"""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from peer_badges import api_docs, definitions, preview
from peer_badges.api import caller_id, documented_responses, examples, reply, request_id
from peer_badges.auth import require_admin, require_member
from peer_badges.db import get_database
from peer_badges.errors import BadRequest
from peer_badges.models import Page, ValidationResult
from peer_badges.models.definitions import BadgeDefinition, BadgeDefinitionCreate, BadgeDefinitionPatch

router = APIGatewayHttpRouter()

BASE = "/orgs/<org_id>/badge-definitions"
ONE = BASE + "/<definition_id>"
CHANGE = "change badge definitions"

_MEANING = {
    400: "Malformed id, query, header or JSON body.",
    401: "No verified caller identity.",
    403: "Not an admin (or not a member, for reads) of this organisation.",
    404: "No such badge definition in this organisation.",
    409: "The key is taken, the org is at its definition limit, or (DELETE) badges were earned: archive it.",
    412: "If-Match does not match the definition's current revision.",
    422: "The body is not valid; every problem is listed in details.",
}

IfMatch = Annotated[
    str | None, Header(description='The revision from the ETag, e.g. "3"; a mismatch is refused with 412.')
]
DraftBody = Annotated[
    dict[str, Any],
    Body(
        description='A criteria document, or a draft {"criteria": {...}, "name": ...}.',
        openapi_examples=examples(api_docs.validate_examples()),
    ),
]
PreviewBody = Annotated[
    dict[str, Any],
    Body(
        description='A criteria document, or a draft {"criteria": {...}, "name": ..., "sample_size": 10}: '
        "the draft's other fields are checked as in a PATCH, its criteria previewed.",
        openapi_examples=examples(api_docs.preview_examples()),
    ),
]
CreateBody = Annotated[BadgeDefinitionCreate, Body(openapi_examples=examples(api_docs.definition_examples()))]
PatchBody = Annotated[BadgeDefinitionPatch, Body(openapi_examples=examples(api_docs.PATCH_EXAMPLES))]
TAGS = [api_docs.BADGE_DEFINITIONS]


def _etag(definition: BadgeDefinition) -> dict[str, str]:
    return {"ETag": f'"{definition.revision}"'}


def _revision(if_match: str | None) -> int | None:
    """The revision in If-Match ('3', '"3"' or W/"3"); None for absent or '*' (any current one)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise BadRequest(
            f'If-Match must be the definition\'s revision from its ETag, e.g. "3"; got {if_match[:40]!r}.'
        )
    return int(tag)


@router.get(
    BASE,
    summary="The organisation's badge definitions",
    description=(
        "Every definition of the organisation, active or not; archived ones only with "
        "include_archived=true. For every member of the organisation."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", Page[BadgeDefinition])}, 400, 401, 403),
)
def list_badge_definitions(
    org_id: UUID, include_archived: Annotated[bool, Query()] = False
) -> Response[Page[BadgeDefinition]]:
    db = get_database()
    require_member(db, org_id, caller_id(router))
    items = definitions.list_definitions(db, org_id, include_archived)
    return reply(Page[BadgeDefinition](items=tuple(items)))


@router.post(
    BASE,
    summary="Create a badge definition",
    description=(
        "Admins only. The criteria are validated (422 lists every problem at its path); the key must be "
        "new in the organisation (409). Answers 201 with the definition, its revision as the ETag and its "
        "Location. Creating it queues a backfill: mentors who already qualify are awarded within "
        "seconds, quietly (source backfill), dated when they crossed it."
    ),
    tags=TAGS,
    status_code=201,
    responses=documented_responses(_MEANING, {201: ("Created", BadgeDefinition)}, 400, 401, 403, 409, 422),
)
def create_badge_definition(org_id: UUID, body: CreateBody) -> Response[BadgeDefinition]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, CHANGE)
    created = definitions.create_definition(db, org_id, caller, body, request_id(router))
    location = f"/orgs/{org_id}/badge-definitions/{created.id}"
    return reply(created, 201, {**_etag(created), "Location": location})


@router.post(
    BASE + "/validate",
    summary="Check criteria without saving",
    description=(
        "Admins only; nothing is stored. Send a criteria document or a whole draft; the answer is 200 "
        "with valid and every problem as {path, code, message}, so a form can show them all at once."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", ValidationResult)}, 400, 401, 403),
)
def validate_badge_definition(org_id: UUID, body: DraftBody) -> Response[ValidationResult]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "validate badge definitions")
    return reply(definitions.validate_draft(db, org_id, body))


@router.post(
    BASE + "/preview",
    summary="Who would qualify under these criteria",
    description=(
        "Admins only; nothing is stored or awarded. Evaluates the criteria against the organisation's "
        "current peer mentors: how many qualify, out of how many, and a sample of them."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", preview.DefinitionPreview)}, 400, 401, 403, 422),
)
def preview_badge_definition(org_id: UUID, body: PreviewBody) -> Response[preview.DefinitionPreview]:
    db = get_database()
    require_admin(db, org_id, caller_id(router), "preview badge definitions")
    return reply(preview.preview_draft(db, org_id, body))


@router.get(
    ONE,
    summary="One badge definition",
    description="For every member of the organisation; the ETag is the revision to send in If-Match.",
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", BadgeDefinition)}, 400, 401, 403, 404),
)
def get_badge_definition(org_id: UUID, definition_id: UUID) -> Response[BadgeDefinition]:
    db = get_database()
    require_member(db, org_id, caller_id(router))
    definition = definitions.get_definition(db, org_id, definition_id)
    return reply(definition, headers=_etag(definition))


@router.patch(
    ONE,
    summary="Change a badge definition",
    description=(
        "Admins only. Send only the fields that change; with If-Match the change is refused (412) if "
        "someone else changed the definition meanwhile. Every change raises the revision. New criteria "
        "queue a backfill; a rename or description change re-evaluates nothing. Earned badges stay."
    ),
    tags=TAGS,
    responses=documented_responses(
        _MEANING, {200: ("OK", BadgeDefinition)}, 400, 401, 403, 404, 409, 412, 422
    ),
)
def update_badge_definition(
    org_id: UUID, definition_id: UUID, body: PatchBody, if_match: IfMatch = None
) -> Response[BadgeDefinition]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, CHANGE)
    updated = definitions.update_definition(
        db, org_id, definition_id, caller, body, _revision(if_match), request_id(router)
    )
    return reply(updated, headers=_etag(updated))


@router.delete(
    ONE,
    summary="Delete a badge definition nobody has earned",
    description="Admins only. A definition with earned badges cannot be deleted (409): archive it instead.",
    tags=TAGS,
    status_code=204,
    responses=documented_responses(_MEANING, {204: "Deleted"}, 400, 401, 403, 404, 409, 412),
)
def delete_badge_definition(org_id: UUID, definition_id: UUID, if_match: IfMatch = None) -> Response[None]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, CHANGE)
    definitions.delete_definition(db, org_id, definition_id, caller, _revision(if_match), request_id(router))
    return reply(None, 204)


@router.post(
    ONE + "/archive",
    summary="Archive a badge definition",
    description=(
        "Admins only. Nothing new is awarded under it and it leaves the default listing; what was "
        "earned stays. Undo with unarchive."
    ),
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", BadgeDefinition)}, 400, 401, 403, 404, 412),
)
def archive_badge_definition(
    org_id: UUID, definition_id: UUID, if_match: IfMatch = None
) -> Response[BadgeDefinition]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, CHANGE)
    archived = definitions.archive_definition(
        db, org_id, definition_id, caller, _revision(if_match), request_id(router)
    )
    return reply(archived, headers=_etag(archived))


@router.post(
    ONE + "/unarchive",
    summary="Bring an archived badge definition back",
    description="Admins only. It queues a backfill: mentors who qualified meanwhile are awarded, quietly.",
    tags=TAGS,
    responses=documented_responses(_MEANING, {200: ("OK", BadgeDefinition)}, 400, 401, 403, 404, 412),
)
def unarchive_badge_definition(
    org_id: UUID, definition_id: UUID, if_match: IfMatch = None
) -> Response[BadgeDefinition]:
    db = get_database()
    caller = caller_id(router)
    require_admin(db, org_id, caller, CHANGE)
    restored = definitions.unarchive_definition(
        db, org_id, definition_id, caller, _revision(if_match), request_id(router)
    )
    return reply(restored, headers=_etag(restored))
