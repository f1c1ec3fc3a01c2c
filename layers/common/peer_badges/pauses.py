"""Streak pauses (SPEC 8.3): list, create and delete; what a pause means for a streak is the streak
queries' business (sql/016_streak_pauses.sql and the criteria), not this module's.

A pause belongs to one peer mentor, or (``peer_mentor_id`` null) to the whole organisation. Creating
or deleting one writes an audit row and queues the mentors it touches for evaluation (live, not a
backfill) in the same transaction: a pause may complete a streak, and evaluation never revokes, so a
deleted pause takes nothing back. The routes authorise (peer_badges.auth.require_pause_*) first.

A request body is checked as a whole: every field problem, the dates against each other, and whether
the mentor is a peer mentor of the organisation are listed in one 422. The same period for the same
mentor (or the whole organisation) is one pause: the database's unique index makes a retried POST
find the pause it made (200, nothing written), and a different reason for it a 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from peer_badges import cursors, drain
from peer_badges.auth import Access, uuid_or_none
from peer_badges.criteria.base import ErrorDetail
from peer_badges.db import Database, Transaction
from peer_badges.definitions import problems_from
from peer_badges.errors import BadRequest, Conflict, NotFound, Unprocessable
from peer_badges.models import Page
from peer_badges.models.pauses import StreakPause, StreakPauseCreate

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
OUTBOX_REASON = "streak_pause"
ENTITY_TYPE = "streak_pause"

_COLUMNS = "id, org_id, peer_mentor_id, starts_on, ends_on, reason, created_by, created_at"

_NOT_PEER_MENTOR_SQL = """
SELECT NOT EXISTS (SELECT 1 FROM org_members
                    WHERE org_id = :org_id AND user_id = :mentor_id AND role = 'peer_mentor') AS unknown
"""

# The pause and its audit row in one statement; nothing at all when the period is already paused.
_CREATE_SQL = f"""
WITH made AS (
    INSERT INTO streak_pauses (org_id, peer_mentor_id, starts_on, ends_on, reason, created_by)
    VALUES (:org_id, CAST(:mentor_id AS uuid), :starts_on, :ends_on, :reason, :actor)
    ON CONFLICT (org_id, peer_mentor_id, starts_on, ends_on) DO NOTHING
    RETURNING {_COLUMNS}
), audited AS (
    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    SELECT m.org_id, :actor, 'user', '{ENTITY_TYPE}.created', '{ENTITY_TYPE}', m.id, NULL, to_jsonb(m),
           :correlation_id
      FROM made AS m
)
SELECT {_COLUMNS} FROM made
"""

_SAME_PERIOD_SQL = f"""
SELECT {_COLUMNS} FROM streak_pauses
 WHERE org_id = :org_id AND peer_mentor_id IS NOT DISTINCT FROM CAST(:mentor_id AS uuid)
   AND starts_on = :starts_on AND ends_on = :ends_on
"""

_DELETE_SQL = f"""
WITH gone AS (
    DELETE FROM streak_pauses WHERE org_id = :org_id AND id = :pause_id RETURNING {_COLUMNS}
), audited AS (
    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    SELECT g.org_id, :actor, 'user', '{ENTITY_TYPE}.deleted', '{ENTITY_TYPE}', g.id, to_jsonb(g), NULL,
           :correlation_id
      FROM gone AS g
)
SELECT {_COLUMNS} FROM gone
"""

# Newest first by start. Admins see every pause; coordinators the organisation's and their mentors'.
# With a mentor: the pauses that apply to them, their own and the organisation's.
_LIST_SQL = f"""
SELECT {_COLUMNS} FROM streak_pauses AS p
 WHERE p.org_id = :org_id
   AND (CAST(:mentor_id AS uuid) IS NULL OR p.peer_mentor_id IS NULL
        OR p.peer_mentor_id = CAST(:mentor_id AS uuid))
   AND (CAST(:see_all AS boolean) OR p.peer_mentor_id IS NULL
        OR EXISTS (SELECT 1 FROM coordinator_assignments AS ca
                    WHERE ca.org_id = p.org_id AND ca.coordinator_id = CAST(:caller AS uuid)
                      AND ca.peer_mentor_id = p.peer_mentor_id))
   AND (CAST(:after_starts_on AS date) IS NULL
        OR (p.starts_on, p.id) < (CAST(:after_starts_on AS date), CAST(:after_id AS uuid)))
 ORDER BY p.starts_on DESC, p.id DESC
 LIMIT :fetch
"""


@dataclass(frozen=True)
class CreateOutcome:
    pause: StreakPause
    created: bool  # False: this very pause existed already (a retry); nothing was written


# --- validation ------------------------------------------------------------------------------


def check_body(body: Mapping[str, Any]) -> tuple[StreakPauseCreate | None, list[ErrorDetail]]:
    """The parsed pause, or every problem of the body that needs no database (pure)."""
    try:
        return StreakPauseCreate.model_validate(body), []
    except ValidationError as error:
        return None, problems_from(error)


def _not_a_peer_mentor(mentor_id: UUID) -> ErrorDetail:
    return ErrorDetail(
        path="peer_mentor_id",
        code="unknown_mentor",
        message=f"{mentor_id} is not a peer mentor of this organisation; use null to pause everyone.",
    )


def _validated(tx: Transaction, org_id: UUID, body: Mapping[str, Any]) -> StreakPauseCreate:
    pause, problems = check_body(body)
    mentor_id = pause.peer_mentor_id if pause else uuid_or_none(body.get("peer_mentor_id"))
    if mentor_id is not None:
        row = tx.query_one(_NOT_PEER_MENTOR_SQL, org_id=org_id, mentor_id=mentor_id)
        if row is not None and row["unknown"]:
            problems.insert(0, _not_a_peer_mentor(mentor_id))  # the first field: problems in body order
    if problems or pause is None:
        raise Unprocessable(
            "The streak pause is not valid; every problem is listed in details.",
            [problem.model_dump() for problem in problems],
        )
    return pause


# --- mutations ---------------------------------------------------------------------------------


def create_pause(
    db: Database, org_id: UUID, actor: UUID, body: Mapping[str, Any], *, correlation_id: str | None = None
) -> CreateOutcome:
    """Validate the body (422 with every problem), then create the pause, its audit row and the
    touched mentors' evaluation rows in one transaction."""
    with db.transaction() as tx:
        return create_in(tx, org_id, actor, _validated(tx, org_id, body), correlation_id=correlation_id)


def create_in(
    tx: Transaction,
    org_id: UUID,
    actor: UUID,
    pause: StreakPauseCreate,
    *,
    correlation_id: str | None = None,
) -> CreateOutcome:
    """`create_pause` for a pause already validated, inside the caller's transaction."""
    period = {
        "org_id": org_id,
        "mentor_id": pause.peer_mentor_id,
        "starts_on": pause.starts_on,
        "ends_on": pause.ends_on,
    }
    row = tx.query_one(_CREATE_SQL, **period, reason=pause.reason, actor=actor, correlation_id=correlation_id)
    if row is None:
        existing = tx.query_one(_SAME_PERIOD_SQL, **period)
        if existing is None:  # the pause that stopped the insert was deleted since
            raise Conflict("The same pause was deleted a moment ago; send the request again.")
        found = StreakPause.model_validate(existing)
        if found.reason != pause.reason:
            raise Conflict(
                f"This period is already paused ({found.id}, reason '{found.reason}'); "
                "delete that pause first to give another reason."
            )
        return CreateOutcome(found, created=False)
    _queue_touched(tx, org_id, pause.peer_mentor_id)
    return CreateOutcome(StreakPause.model_validate(row), created=True)


def delete_pause(
    db: Database, org_id: UUID, pause_id: UUID, actor: UUID, *, correlation_id: str | None = None
) -> StreakPause:
    """Delete the pause with an audit row and queue the mentors it touched; 404 when it is not there."""
    with db.transaction() as tx:
        row = tx.query_one(
            _DELETE_SQL, org_id=org_id, pause_id=pause_id, actor=actor, correlation_id=correlation_id
        )
        if row is None:
            raise NotFound(f"There is no streak pause {pause_id} in this organisation.")
        pause = StreakPause.model_validate(row)
        _queue_touched(tx, org_id, pause.peer_mentor_id)
    return pause


def _queue_touched(tx: Transaction, org_id: UUID, mentor_id: UUID | None) -> None:
    """Live evaluation (not a backfill) of the one mentor, or of every peer mentor of the organisation."""
    drain.enqueue(tx, org_id, [mentor_id] if mentor_id else None, OUTBOX_REASON, backfill=False)


# --- reading -----------------------------------------------------------------------------------


def list_pauses(
    db: Database,
    access: Access,
    *,
    mentor_id: UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Page[StreakPause]:
    """The pauses `access` may see (authorised by auth.require_pause_reader), newest start first."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}.")
    after_starts_on, after_id = cursors.decode(cursor, date.fromisoformat, UUID) if cursor else (None, None)
    rows = db.query(
        _LIST_SQL,
        org_id=access.org_id,
        mentor_id=mentor_id,
        see_all=access.is_admin,
        caller=access.user_id,
        after_starts_on=after_starts_on,
        after_id=after_id,
        fetch=limit + 1,
    )
    items = tuple(StreakPause.model_validate(row) for row in rows[:limit])
    last = items[-1] if items else None
    next_cursor = (
        cursors.encode(last.starts_on.isoformat(), str(last.id)) if last and len(rows) > limit else None
    )
    return Page[StreakPause](items=items, next_cursor=next_cursor)
