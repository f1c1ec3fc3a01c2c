"""Awarding badges exactly once, revoking them, listing them (SPEC section 4).

`award` is the one award transaction shared by the API (manual awards) and the evaluator. It runs
inside the caller's transaction, so the evaluator can award a mentor's badges and mark its outbox
rows done atomically. One call of `award_earned_badge` (sql/003_awards.sql) does the work: it takes
`pg_advisory_xact_lock` on the award key, returns the row already holding the key, or inserts with
`ON CONFLICT DO NOTHING` and, only for a row it inserted, writes the audit entry and the event-outbox
rows. Concurrent awards of one key queue on the lock and the later ones get the first one's row, so
a retry gets the same badge. Revoked rows are returned as they are and never re-awarded.

The caller's transaction must be READ COMMITTED (PostgreSQL's default): after waiting for the lock,
the function needs a fresh snapshot to see the previous holder's row.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pg8000.exceptions import DatabaseError
from pydantic import ValidationError

from peer_badges.db import Database, Json, Transaction, sqlstate
from peer_badges.errors import BadRequest, Conflict, NotFound, Unprocessable
from peer_badges.events import publish_events
from peer_badges.models import MAX_REASON_LENGTH, AwardSource, EarnedBadge, Page
from peer_badges.models.awards import MAX_NOTE_LENGTH, AwardRequest
from peer_badges.models.definitions import BadgeDefinition

AWARD_SOURCES: tuple[AwardSource, ...] = ("evaluation", "manual", "backfill")
AUDIT_AWARDED = "badge.awarded"  # written by award_earned_badge in sql/003_awards.sql
AUDIT_REVOKED = "badge.revoked"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class AwardDefinition:
    """What an award records about its definition: the revision and criteria it was earned under."""

    id: UUID
    revision: int
    criteria: dict[str, Any]
    payable: bool

    @classmethod
    def of(cls, definition: BadgeDefinition) -> AwardDefinition:
        return cls(
            id=definition.id,
            revision=definition.revision,
            criteria=definition.criteria.model_dump(mode="json"),
            payable=definition.payable,
        )


@dataclass(frozen=True)
class AwardCommand:
    org_id: UUID
    peer_mentor_id: UUID
    definition: AwardDefinition
    level: int
    earned_at: date
    source: AwardSource
    awarded_by: UUID | None = None  # None: the system (evaluation, backfill)
    note: str | None = None
    backfill: bool = False  # events of quiet backfills carry backfill: true
    correlation_id: str | None = None

    def __post_init__(self) -> None:
        # Programming errors, not user input: the API validates requests before building a command.
        if self.level < 1:
            raise ValueError(f"level must be >= 1, got {self.level}")
        if self.source not in AWARD_SOURCES:
            raise ValueError(f"source must be one of {AWARD_SOURCES}, got {self.source!r}")
        if self.note is not None and len(self.note) > MAX_NOTE_LENGTH:
            raise ValueError(f"note is longer than {MAX_NOTE_LENGTH} characters")


@dataclass(frozen=True)
class AwardOutcome:
    badge: EarnedBadge
    created: bool  # False: the key was already awarded (possibly revoked); nothing was written


# One round trip to sql/003_awards.sql's award_earned_badge, which takes the advisory lock, returns
# an existing row or inserts with ON CONFLICT DO NOTHING, and writes the audit entry and events for
# a new row. Kept short: the driver rewrites :name placeholders in Python on every call.
_AWARD_SQL = (
    "SELECT created, (badge).* FROM award_earned_badge("
    ":org, :mentor, :definition, :level, :earned_at, :source, :by, :revision, CAST(:criteria AS jsonb), "
    ":note, :backfill, :payable, :correlation_id)"
)


def award(tx: Transaction, command: AwardCommand) -> AwardOutcome:
    """Award once: a new row with audit entry and events, or the row that already holds the key."""
    return _award(tx, command)


def award_in_own_transaction(db: Database, command: AwardCommand) -> AwardOutcome:
    """The same, as one statement in its own implicit transaction (no BEGIN/COMMIT round trips)."""
    return _award(db, command)


def _award(runner: Transaction | Database, command: AwardCommand) -> AwardOutcome:
    definition = command.definition
    row = runner.query_one(
        _AWARD_SQL,
        org=command.org_id,
        mentor=command.peer_mentor_id,
        definition=definition.id,
        level=command.level,
        earned_at=command.earned_at,
        source=command.source,
        by=command.awarded_by,
        revision=definition.revision,
        criteria=Json(definition.criteria),
        note=command.note,
        backfill=command.backfill,
        payable=definition.payable,
        correlation_id=command.correlation_id,
    )
    assert row is not None
    return AwardOutcome(badge=EarnedBadge.model_validate(row), created=row["created"])


# --- manual awards ---------------------------------------------------------------------------

# The definition is looked up only inside the caller's org, so another org's definition is "unknown".
_MANUAL_CONTEXT_SQL = """
SELECT (SELECT (now() AT TIME ZONE o.timezone)::date FROM organizations AS o WHERE o.id = :org_id) AS today,
       EXISTS (SELECT 1 FROM org_members
                WHERE org_id = :org_id AND user_id = :mentor_id AND role = 'peer_mentor') AS is_mentor,
       to_jsonb(d) AS definition
  FROM (SELECT 1) AS one
  LEFT JOIN badge_definitions AS d ON d.org_id = :org_id AND d.id = :definition_id
"""


def manual_award(
    db: Database,
    org_id: UUID,
    mentor_id: UUID,
    actor: UUID,
    request: AwardRequest,
    *,
    today: date | None = None,
    correlation_id: str | None = None,
) -> AwardOutcome:
    """A coordinator's or admin's award; `earned_at` is today in the org's timezone unless given."""
    with db.transaction() as tx:
        context = tx.query_one(
            _MANUAL_CONTEXT_SQL, org_id=org_id, mentor_id=mentor_id, definition_id=request.badge_definition_id
        )
        assert context is not None
        if not context["is_mentor"]:
            raise NotFound(
                "This person is not a peer mentor in this organisation, so they cannot get badges."
            )
        definition = _awardable_definition(context["definition"], request)
        note = request.note.strip() if request.note and request.note.strip() else None
        command = AwardCommand(
            org_id=org_id,
            peer_mentor_id=mentor_id,
            definition=AwardDefinition.of(definition),
            level=request.level,
            earned_at=today or context["today"],
            source="manual",
            awarded_by=actor,
            note=note,
            correlation_id=correlation_id,
        )
        try:
            return award(tx, command)
        except DatabaseError as error:
            if sqlstate(error) == "23503":  # the definition was deleted between the lookup and the insert
                raise NotFound("That badge definition no longer exists in this organisation.") from error
            raise


def award_manually(
    db: Database,
    org_id: UUID,
    mentor_id: UUID,
    actor: UUID,
    request: AwardRequest,
    *,
    correlation_id: str | None = None,
) -> AwardOutcome:
    """`manual_award`, then a new badge's events published right after the commit (if that fails,
    the outbox drain sends them)."""
    outcome = manual_award(db, org_id, mentor_id, actor, request, correlation_id=correlation_id)
    if outcome.created:
        publish_events(db, [outcome.badge.id])
    return outcome


def _awardable_definition(raw: dict[str, Any] | None, request: AwardRequest) -> BadgeDefinition:
    if raw is None:
        raise NotFound(f"There is no badge definition {request.badge_definition_id} in this organisation.")
    if raw.get("archived_at") is not None:
        raise Conflict(f"The badge '{raw.get('name')}' is archived and can no longer be awarded.")
    if not raw.get("active"):
        raise Conflict(
            f"The badge '{raw.get('name')}' is inactive; an organisation admin must activate it first."
        )
    try:
        definition = BadgeDefinition.model_validate(raw)
    except ValidationError as error:
        raise Conflict(
            f"The badge '{raw.get('name')}' has criteria this version cannot read; an admin must fix them."
        ) from error
    levels = [level for level, _ in definition.criteria.levels()]
    if request.level not in levels:
        allowed = "only level 1" if levels == [1] else f"levels 1 to {len(levels)}"
        raise Unprocessable(
            f"The badge '{definition.name}' has no level {request.level}.",
            [{"path": "level", "code": "invalid_level", "message": f"This badge has {allowed}."}],
        )
    return definition


# --- revoking --------------------------------------------------------------------------------

_TARGET_SQL = """
SELECT e.*, to_jsonb(e) AS as_json FROM earned_badges AS e
 WHERE e.id = :badge_id AND e.org_id = :org_id AND e.peer_mentor_id = :mentor_id
   FOR UPDATE
"""

_REVOKE_SQL = """
WITH revoked AS (
    UPDATE earned_badges SET revoked_at = now(), revoked_by = :actor, revoke_reason = :reason
     WHERE id = :badge_id AND revoked_at IS NULL
    RETURNING *
), audited AS (
    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    SELECT r.org_id, :actor, 'user', :audit_action, 'earned_badge', r.id, CAST(:before AS jsonb), to_jsonb(r),
           :correlation_id
      FROM revoked AS r
)
SELECT * FROM revoked
"""


def revoke(
    tx: Transaction,
    org_id: UUID,
    mentor_id: UUID,
    earned_badge_id: UUID,
    actor: UUID,
    reason: str,
    *,
    correlation_id: str | None = None,
) -> EarnedBadge:
    """Mark an earned badge revoked (the row stays); 404 when not this mentor's, 409 when already revoked."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise Unprocessable(
            "A reason is required to revoke a badge.",
            [
                {
                    "path": "reason",
                    "code": "invalid_value",
                    "message": f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.",
                }
            ],
        )
    ids = {"badge_id": earned_badge_id, "org_id": org_id, "mentor_id": mentor_id}
    # The row lock makes a concurrent second revoke wait and then see the first one's result.
    before = tx.query_one(_TARGET_SQL, **ids)
    if before is None:
        raise NotFound("This mentor has no earned badge with that id in this organisation.")
    if before["revoked_at"] is not None:
        raise Conflict(f"This badge was already revoked at {before['revoked_at'].isoformat()}.")
    row = tx.query_one(
        _REVOKE_SQL,
        badge_id=earned_badge_id,
        actor=actor,
        reason=reason,
        audit_action=AUDIT_REVOKED,
        before=Json(before["as_json"]),
        correlation_id=correlation_id,
    )
    assert row is not None
    return EarnedBadge.model_validate(row)


def revoke_in_own_transaction(
    db: Database,
    org_id: UUID,
    mentor_id: UUID,
    earned_badge_id: UUID,
    actor: UUID,
    reason: str,
    *,
    correlation_id: str | None = None,
) -> EarnedBadge:
    with db.transaction() as tx:
        return revoke(tx, org_id, mentor_id, earned_badge_id, actor, reason, correlation_id=correlation_id)


# --- listing ---------------------------------------------------------------------------------

# Newest first; the cursor is the last item's (awarded_at, id), so pages never skip or repeat rows.
_LIST_SQL = """
SELECT * FROM earned_badges
 WHERE org_id = :org_id AND peer_mentor_id = :mentor_id
   AND (CAST(:include_revoked AS boolean) OR revoked_at IS NULL)
   AND (CAST(:after_awarded_at AS timestamptz) IS NULL
        OR (awarded_at, id) < (CAST(:after_awarded_at AS timestamptz), CAST(:after_id AS uuid)))
 ORDER BY awarded_at DESC, id DESC
 LIMIT :fetch
"""


def list_badges(
    db: Database,
    org_id: UUID,
    mentor_id: UUID,
    *,
    include_revoked: bool = True,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Page[EarnedBadge]:
    """A mentor's earned badges, newest first; revoked ones carry `revoked_at` and `revoke_reason`."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}.")
    after_awarded_at, after_id = _decode_cursor(cursor) if cursor else (None, None)
    rows = db.query(
        _LIST_SQL,
        org_id=org_id,
        mentor_id=mentor_id,
        include_revoked=include_revoked,
        after_awarded_at=after_awarded_at,
        after_id=after_id,
        fetch=limit + 1,
    )
    items = tuple(EarnedBadge.model_validate(row) for row in rows[:limit])
    next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
    return Page[EarnedBadge](items=items, next_cursor=next_cursor)


def _encode_cursor(badge: EarnedBadge) -> str:
    raw = json.dumps([badge.awarded_at.isoformat(), str(badge.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        awarded_at, badge_id = json.loads(raw)
        position = datetime.fromisoformat(awarded_at), UUID(badge_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise BadRequest(
            "The cursor is not valid; use next_cursor from the previous page as it is."
        ) from error
    if position[0].tzinfo is None:
        raise BadRequest("The cursor is not valid; use next_cursor from the previous page as it is.")
    return position
