"""Personal data (SPEC 8.5): export everything this bundle stores about a person in one organisation,
and erase it.

Both are one call of a function in sql/015_personal_data.sql, which finds the rows from the catalog
(columns named like a person: peer_mentor_id, actor_id, *_by, ...) and the registry of tables
(`personal_data_tables`: what each is for, how long it is kept, what erasure does to it), so a table
added later is covered once it is registered, and a test fails until it is.

Erasure runs in one transaction: rows only about the person (snapshot, buckets, outbox rows, scheduled
evaluations, pauses) are deleted; earned badges, payouts and audit rows are kept for the organisation
with the person's id replaced by a random pseudonym that is stored nowhere, and their free text
(notes, reasons, payment references) cleared; where the person acted (awarded_by, approved_by, ...)
the same pseudonym replaces them. The org's totals do not change. `MentorErased` is queued in the
same transaction and published right after the commit (the outbox drain sends it if that fails).

Preconditions, so an erasure is final: the person is no longer a member of the org (409), and the app
has erased their activities and training completions (409): those would rebuild the snapshot on the
next write or reconcile. A repeat finds nothing and answers 404, like an id never seen: nothing is
kept that could tell the two apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from peer_badges.db import Database
from peer_badges.errors import Conflict, NotFound
from peer_badges.events import publish_events
from peer_badges.models.personal_data import ErasureReport, PersonalDataExport

APP_TABLES_NOTE = (
    "The app's own tables (activities, training_completions, org_members, coordinator_assignments) "
    "are the app's to erase; this bundle only reads them."
)

_EXPORT_SQL = "SELECT personal_data_export(:org_id, :person_id) AS document"
_ERASE_SQL = "SELECT outcome, counts, event_key FROM erase_personal_data(:org_id, :person_id, :actor, :reason, :correlation_id)"


def export(db: Database, org_id: UUID, person_id: UUID, *, now: datetime | None = None) -> PersonalDataExport:
    """Every row naming the person in the org, per table (empty tables included: nothing stored)."""
    row = db.query_one(_EXPORT_SQL, org_id=org_id, person_id=person_id)
    assert row is not None
    document: dict[str, Any] = row["document"]
    return PersonalDataExport(
        org_id=org_id,
        peer_mentor_id=person_id,
        generated_at=now or datetime.now(UTC),
        tables=document["tables"],
        app_tables=document["app_tables"],
    )


def erase(
    db: Database,
    org_id: UUID,
    person_id: UUID,
    actor: UUID,
    reason: str,
    *,
    correlation_id: str | None = None,
) -> ErasureReport:
    """Erase the person from the org in one transaction, then publish `MentorErased`."""
    with db.transaction() as tx:
        row = tx.query_one(
            _ERASE_SQL,
            org_id=org_id,
            person_id=person_id,
            actor=actor,
            reason=reason.strip(),
            correlation_id=correlation_id,
        )
    assert row is not None
    outcome, counts = row["outcome"], row["counts"]
    if outcome == "member":
        raise Conflict(
            "This person is still a member of the organisation. Remove their membership first "
            "(in the app), then erase their data."
        )
    if outcome == "app_data":
        raise Conflict(
            f"The app still has {counts['activities']} activities and {counts['training_completions']} "
            "training completions of this person in this organisation, which would rebuild their "
            "statistics. Erase those in the app first, then erase here."
        )
    if outcome == "unknown":
        raise NotFound("Nothing is stored about this person in this organisation (never, or no longer).")
    publish_events(db, [row["event_key"]])
    return ErasureReport(org_id=org_id, **counts, not_erased_here=APP_TABLES_NOTE)
