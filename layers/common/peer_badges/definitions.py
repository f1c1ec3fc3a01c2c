"""Badge definitions: what org admins configure (CRUD, archive, validation of drafts).

Mutations run in one short transaction each: lock the row, check the caller's revision, write only
the columns that change, and write the audit row. The ``revision`` column is bumped by a trigger on
every change, so it is the ETag clients send back in ``If-Match``. Triggers in
sql/008_criteria_queries.sql queue a quiet, set-based backfill when a change could award something
(created, criteria changed, unarchived, re-activated; a rename does not).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger
from pg8000.exceptions import DatabaseError
from pydantic import ValidationError

from peer_badges.criteria.base import CriteriaInvalid, ErrorDetail, format_path
from peer_badges.criteria.prerequisite import reference_problems, required_keys
from peer_badges.criteria.registry import parse_criteria, validate_criteria
from peer_badges.db import Database, Json, Queryable, Transaction, sqlstate
from peer_badges.definitions_cache import (
    COLUMNS,
    cached_org_definitions,
    definition_from_row,
    definitions_cache,
    definitions_from_rows,
)
from peer_badges.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from peer_badges.models import ValidationResult
from peer_badges.models.definitions import (
    BadgeDefinition,
    BadgeDefinitionCreate,
    BadgeDefinitionPatch,
    missing_icon_alt,
)

logger = Logger(service="peer-badges", child=True)

# Bounds the list response (returned whole) and the cache's memory per org.
MAX_DEFINITIONS_PER_ORG = 500

ENTITY_TYPE = "badge_definition"


def _key_taken(key: str | None) -> Conflict:
    return Conflict(f'A badge with the key "{key}" already exists in this organisation; choose another key.')


def _not_found(definition_id: UUID) -> NotFound:
    return NotFound(f"There is no badge definition {definition_id} in this organisation.")


# --- reads -------------------------------------------------------------------------------


def list_definitions(db: Database, org_id: UUID, include_archived: bool = False) -> list[BadgeDefinition]:
    if not include_archived:
        return cached_org_definitions(db, org_id)
    return definitions_from_rows(
        db.query(
            f"SELECT {COLUMNS} FROM badge_definitions WHERE org_id = :org_id ORDER BY key", org_id=org_id
        )
    )


def get_definition(db: Database, org_id: UUID, definition_id: UUID) -> BadgeDefinition:
    row = db.query_one(
        f"SELECT {COLUMNS} FROM badge_definitions WHERE org_id = :org_id AND id = :id",
        org_id=org_id,
        id=definition_id,
    )
    if row is None:
        raise _not_found(definition_id)
    return definition_from_row(row)


# --- validation --------------------------------------------------------------------------


def problems_from(error: ValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(path=format_path(item["loc"]), code=item["type"], message=item["msg"])
        for item in error.errors(include_url=False)
    ]


def validate_draft(db: Queryable, org_id: UUID, body: object) -> ValidationResult:
    """Check without storing: a criteria document, or a definition draft ``{"criteria": ..., ...}``.

    A draft's other fields are checked when present, so an admin form can be checked as it is typed;
    prerequisites (``requires_badge``) are checked against the organisation's badges, and for a draft
    with a ``key``, for cycles through it.
    """
    if isinstance(body, dict) and "criteria" in body and "type" not in body:
        try:
            draft = BadgeDefinitionPatch.model_validate(body)
        except ValidationError as error:
            return ValidationResult.of(problems_from(error))
        missing = missing_icon_alt(draft.icon, draft.icon_alt) if "icon" in draft.model_fields_set else []
        problems = [ErrorDetail.model_validate(problem) for problem in missing]
        if draft.criteria is not None:
            problems += reference_problems(
                draft.criteria, draft.key, org_criteria(db, org_id), prefix=("criteria",)
            )
        return ValidationResult.of(problems)
    problems = validate_criteria(body)
    if problems:
        return ValidationResult.of(problems)
    return ValidationResult.of(reference_problems(parse_criteria(body), None, org_criteria(db, org_id)))


def org_criteria(db: Queryable, org_id: UUID, except_id: UUID | None = None) -> dict[str, Any]:
    """Every definition key of the organisation (archived ones too: their badges are still held) with
    its criteria, for the prerequisite checks."""
    found: dict[str, Any] = {}
    for row in db.query(
        "SELECT id, key, criteria FROM badge_definitions WHERE org_id = :org_id ORDER BY key", org_id=org_id
    ):
        if row["id"] == except_id:
            continue
        try:
            found[row["key"]] = parse_criteria(row["criteria"])
        except CriteriaInvalid:
            found[row["key"]] = None  # a row another client broke: its key still exists
    return found


def _check_references(tx: Transaction, org_id: UUID, key: str, criteria: Any, except_id: UUID | None) -> None:
    """Refuse (422, every problem) prerequisites on unknown badges and cycles between definitions."""
    problems = reference_problems(criteria, key, org_criteria(tx, org_id, except_id), prefix=("criteria",))
    if problems:
        raise Unprocessable(
            "The criteria require badges that do not exist here, or would make a cycle; see details.",
            [problem.model_dump() for problem in problems],
        )


def _check_key_not_required(tx: Transaction, org_id: UUID, old_key: str) -> None:
    """A key other definitions require cannot change under them."""
    dependants = sorted(
        other
        for other, criteria in org_criteria(tx, org_id).items()
        if other != old_key and any(key == old_key for _, key in required_keys(criteria))
    )
    if dependants:
        message = (
            f'Other badges require "{old_key}" ({", ".join(dependants)}); change their criteria first, '
            "then rename this one."
        )
        raise Conflict(message)


# --- mutations ---------------------------------------------------------------------------


@contextmanager
def _constraint_errors(key: str | None) -> Iterator[None]:
    """Turn the table's own guards into the answers the client can act on."""
    try:
        yield
    except DatabaseError as error:
        state = sqlstate(error)
        if state == "23505":
            raise _key_taken(key) from error
        if state == "23514":
            # The table's CHECKs are named badge_definitions_<column>_check.
            constraint = str(error.args[0].get("n", ""))
            field = constraint.removeprefix("badge_definitions_").removesuffix("_check") or "body"
            message = f"The {field} is longer or shaped differently than a badge definition allows."
            raise Unprocessable(
                message, [{"path": field, "code": "invalid_value", "message": message}]
            ) from error
        raise


def _audit(
    tx: Transaction,
    org_id: UUID,
    actor_id: UUID,
    action: str,
    entity_id: UUID,
    before: BadgeDefinition | None,
    after: BadgeDefinition | None,
    correlation_id: str | None,
) -> None:
    tx.execute(
        """INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                                  correlation_id)
           VALUES (:org_id, :actor_id, 'user', :action, :entity_type, :entity_id,
                   CAST(:before AS jsonb), CAST(:after AS jsonb), :correlation_id)""",
        org_id=org_id,
        actor_id=actor_id,
        action=f"{ENTITY_TYPE}.{action}",
        entity_type=ENTITY_TYPE,
        entity_id=entity_id,
        before=Json(before.model_dump(mode="json")) if before else None,
        after=Json(after.model_dump(mode="json")) if after else None,
        correlation_id=correlation_id,
    )


def _locked(
    tx: Transaction, org_id: UUID, definition_id: UUID, expected_revision: int | None
) -> BadgeDefinition:
    """The current row, locked for this transaction; 404 when absent, 412 when the revision moved on."""
    row = tx.query_one(
        f"SELECT {COLUMNS} FROM badge_definitions WHERE org_id = :org_id AND id = :id FOR UPDATE",
        org_id=org_id,
        id=definition_id,
    )
    if row is None:
        raise _not_found(definition_id)
    current = definition_from_row(row)
    if expected_revision is not None and current.revision != expected_revision:
        raise PreconditionFailed(
            f"The badge definition changed since you loaded it (you have revision {expected_revision}, "
            f"it is now at {current.revision}). Reload it and apply your change again."
        )
    return current


def create_definition(
    db: Database,
    org_id: UUID,
    actor_id: UUID,
    request: BadgeDefinitionCreate,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    with db.transaction() as tx, _constraint_errors(request.key):
        # Holding the org's version row serialises creates, so the size bound below is exact.
        tx.query("SELECT 1 FROM org_definition_versions WHERE org_id = :org_id FOR UPDATE", org_id=org_id)
        count = tx.query_one(
            "SELECT count(*) AS n FROM badge_definitions WHERE org_id = :org_id", org_id=org_id
        )
        if count and count["n"] >= MAX_DEFINITIONS_PER_ORG:
            raise Conflict(
                f"An organisation can have at most {MAX_DEFINITIONS_PER_ORG} badge definitions; "
                "delete unused ones or change an existing one."
            )
        _check_references(tx, org_id, request.key, request.criteria, None)
        row = tx.query_one(
            f"""INSERT INTO badge_definitions (org_id, key, name, description, icon, icon_alt, criteria,
                                               active, created_by, updated_by)
                VALUES (:org_id, :key, :name, :description, :icon, :icon_alt, CAST(:criteria AS jsonb),
                        :active, :actor_id, :actor_id)
                ON CONFLICT (org_id, key) DO NOTHING
                RETURNING {COLUMNS}""",
            org_id=org_id,
            actor_id=actor_id,
            **_column_values(request.model_dump(mode="json")),
        )
        if row is None:
            raise _key_taken(request.key)
        created = definition_from_row(row)
        _audit(tx, org_id, actor_id, "created", created.id, None, created, correlation_id)
    definitions_cache.invalidate(org_id)
    return created


_PATCHABLE = ("key", "name", "description", "icon", "icon_alt", "criteria", "active")


def _column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Request fields as column values: the table keeps '' for no description, criteria as JSON."""
    values = {name: fields[name] for name in _PATCHABLE if name in fields}
    if "description" in values and values["description"] is None:
        values["description"] = ""
    if "criteria" in values:
        criteria = values["criteria"]
        values["criteria"] = Json(
            criteria if isinstance(criteria, dict) else criteria.model_dump(mode="json")
        )
    return values


def _changed(current: BadgeDefinition, patch: BadgeDefinitionPatch) -> dict[str, Any]:
    """The sent fields whose value differs from the stored one."""
    stored = {**current.model_dump(include=set(_PATCHABLE)), "criteria": current.criteria}
    stored["description"] = stored["description"] or ""
    sent = patch.changes()
    if "description" in sent:
        sent["description"] = sent["description"] or ""
    return {name: value for name, value in sent.items() if stored.get(name) != value}


def update_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    patch: BadgeDefinitionPatch,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    """Write only the sent fields that differ; a PATCH that changes nothing keeps the revision."""
    with db.transaction() as tx, _constraint_errors(patch.key):
        current = _locked(tx, org_id, definition_id, expected_revision)
        changes = _changed(current, patch)
        if not changes:
            return current
        # An icon keeps its text alternative: refused when the result would have one without the other.
        missing = missing_icon_alt(
            changes.get("icon", current.icon), changes.get("icon_alt", current.icon_alt)
        )
        if missing:
            raise Unprocessable(missing[0]["message"], missing)
        if "key" in changes:
            _check_key_not_required(tx, org_id, current.key)
        if "criteria" in changes or "key" in changes:
            criteria = changes.get("criteria", current.criteria)
            _check_references(tx, org_id, changes.get("key", current.key), criteria, definition_id)
        values = _column_values(changes)
        # Column names come from the fixed _PATCHABLE list, values are parameters.
        assignments = ", ".join(
            f"{name} = CAST(:{name} AS jsonb)" if name == "criteria" else f"{name} = :{name}"
            for name in values
        )
        row = tx.query_one(
            f"""UPDATE badge_definitions SET {assignments}, updated_by = :actor_id
                 WHERE org_id = :org_id AND id = :id AND revision = :revision
             RETURNING {COLUMNS}""",
            org_id=org_id,
            id=definition_id,
            revision=current.revision,
            actor_id=actor_id,
            **values,
        )
        if row is None:  # unreachable while the row lock is held; kept as the atomic guard
            raise PreconditionFailed("The badge definition changed while saving; reload it and try again.")
        updated = definition_from_row(row)
        _audit(tx, org_id, actor_id, "updated", definition_id, current, updated, correlation_id)
    definitions_cache.invalidate(org_id)
    return updated


def _set_archived(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    archived: bool,
    expected_revision: int | None,
    correlation_id: str | None,
) -> BadgeDefinition:
    with db.transaction() as tx:
        current = _locked(tx, org_id, definition_id, expected_revision)
        if (current.archived_at is not None) == archived:
            return current  # already there: repeating the request changes nothing
        row = tx.query_one(
            f"""UPDATE badge_definitions
                   SET archived_at = CASE WHEN :archived THEN now() END, updated_by = :actor_id
                 WHERE org_id = :org_id AND id = :id
             RETURNING {COLUMNS}""",
            archived=archived,
            actor_id=actor_id,
            org_id=org_id,
            id=definition_id,
        )
        assert row is not None  # the row is locked by _locked
        changed = definition_from_row(row)
        _audit(
            tx,
            org_id,
            actor_id,
            "archived" if archived else "unarchived",
            definition_id,
            current,
            changed,
            correlation_id,
        )
    definitions_cache.invalidate(org_id)
    return changed


def archive_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    """Stop evaluating and listing a definition; its earned badges stay."""
    return _set_archived(db, org_id, definition_id, actor_id, True, expected_revision, correlation_id)


def unarchive_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    return _set_archived(db, org_id, definition_id, actor_id, False, expected_revision, correlation_id)


def delete_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> None:
    """Delete a definition nobody has earned; otherwise 409 pointing to archive."""
    with db.transaction() as tx:
        current = _locked(tx, org_id, definition_id, expected_revision)
        result = tx.query_one(
            "SELECT outcome, earned_count FROM safe_delete_badge_definition(:org_id, :id)",
            org_id=org_id,
            id=definition_id,
        )
        outcome = (result or {}).get("outcome")
        if outcome == "not_found":
            raise _not_found(definition_id)
        if outcome == "has_earned_badges":
            earned = (result or {}).get("earned_count")
            raise Conflict(
                f'"{current.name}" has been earned {earned} time(s), so it cannot be deleted. '
                f"Archive it instead (POST /orgs/{org_id}/badge-definitions/{definition_id}/archive): "
                "it stops being awarded and the earned badges stay."
            )
        _audit(tx, org_id, actor_id, "deleted", definition_id, current, None, correlation_id)
    definitions_cache.invalidate(org_id)


def invalid_criteria(problems: list[ErrorDetail]) -> Unprocessable:
    return Unprocessable(
        "The criteria are not valid; see details.", [problem.model_dump() for problem in problems]
    )
