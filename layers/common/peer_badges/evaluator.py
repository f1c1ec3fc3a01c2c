"""The I/O side of evaluation: load a mentor's facts, run the pure evaluator, award what is due.

`evaluate_mentor` runs inside the caller's transaction (the drain marks outbox rows done in the same
one). Its cost is bounded by the definitions and their thresholds, not by the mentor's history: facts
come from the stats snapshot and index-bounded lookups (peer_badges.stats.load_facts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.criteria import ManualCriteria
from peer_badges.db import Database, Transaction
from peer_badges.definitions import cached_org_definitions
from peer_badges.drain import DrainReport, drain
from peer_badges.errors import NotFound, Unprocessable
from peer_badges.evaluation import EarnedLevel, evaluate, required_facts
from peer_badges.models import BadgeDefinition, EarnedBadge
from peer_badges.stats import load_facts, local_date

_EARNED_SQL = """
SELECT badge_definition_id, level, earned_at, revoked_at IS NOT NULL AS revoked
  FROM earned_badges
 WHERE peer_mentor_id = :mentor_id AND org_id = :org_id
"""


class OrgClock:
    """Each organisation's local date at one instant, looked up once per run."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._zones: dict[UUID, str] = {}

    def zone(self, db: Database | Transaction, org_id: UUID) -> str:
        zone = self._zones.get(org_id)
        if zone is None:
            row = db.query_one("SELECT timezone FROM organizations WHERE id = :org_id", org_id=org_id)
            if row is None:
                raise NotFound("There is no such organisation.")
            zone = self._zones[org_id] = str(row["timezone"])
        return zone

    def today(self, db: Database | Transaction, org_id: UUID) -> date:
        return local_date(self.now, self.zone(db, org_id))


def earned_levels(tx: Database | Transaction, org_id: UUID, mentor_id: UUID) -> list[EarnedLevel]:
    return [
        EarnedLevel.model_validate(row) for row in tx.query(_EARNED_SQL, org_id=org_id, mentor_id=mentor_id)
    ]


def evaluate_mentor(
    tx: Transaction,
    org_id: UUID,
    mentor_id: UUID,
    *,
    today: date,
    backfill: bool,
    definitions: list[BadgeDefinition] | None = None,
    correlation_id: str | None = None,
) -> list[EarnedBadge]:
    """Award every level the mentor has crossed and not yet been awarded; returns the new badges."""
    live = [
        d for d in (definitions if definitions is not None else cached_org_definitions(tx, org_id)) if d.live
    ]
    if not live:
        return []
    earned = earned_levels(tx, org_id, mentor_id)
    # Only definitions with a level still to win cost anything: a veteran mentor who holds most
    # badges is evaluated as cheaply as a newcomer (facts are never fetched for finished ones).
    held = {(e.badge_definition_id, e.level) for e in earned}
    pending = [
        d
        for d in live
        if not isinstance(d.criteria, ManualCriteria)
        and any((d.id, level) not in held for level, _ in d.criteria.levels())
    ]
    if not pending:
        return []
    facts = load_facts(tx, org_id, mentor_id, required_facts(pending, earned, today), live)
    new_badges = []
    for due in evaluate(facts, pending, earned, today).due:
        quiet = backfill or due.source_hint == "backfill"
        outcome = award(
            tx,
            AwardCommand(
                org_id=org_id,
                peer_mentor_id=mentor_id,
                definition=AwardDefinition(
                    id=due.badge_definition_id,
                    revision=due.definition_revision,
                    criteria=dict(due.criteria_snapshot),
                    payable=due.payable,
                ),
                level=due.level,
                earned_at=due.earned_at,
                source="backfill" if quiet else "evaluation",
                backfill=quiet,
                correlation_id=correlation_id,
            ),
        )
        if outcome.created:
            new_badges.append(outcome.badge)
    return new_badges


def drain_outbox(
    db: Database, now: datetime, correlation_id: str | None = None, **options: Any
) -> DrainReport:
    """Drain the evaluation outbox with the real evaluator."""
    clock = OrgClock(now)

    def evaluate_one(tx: Transaction, org_id: UUID, mentor_id: UUID, backfill: bool) -> list[Any]:
        return evaluate_mentor(
            tx,
            org_id,
            mentor_id,
            today=clock.today(tx, org_id),
            backfill=backfill,
            correlation_id=correlation_id,
        )

    return drain(db, evaluate_one, **options)


class _DryRun(Exception):
    """Raised to roll back a dry run's transaction after collecting what it would have awarded."""


def evaluate_mentors(
    db: Database,
    org_id: UUID,
    mentor_ids: list[UUID],
    *,
    now: datetime,
    dry_run: bool,
    correlation_id: str | None = None,
    on_committed: Callable[[list[EarnedBadge]], None] | None = None,
) -> list[EarnedBadge]:
    """Admin re-evaluation of named mentors, as a quiet backfill. A dry run awards inside a
    transaction that is rolled back, so it reports exactly what a real run would award."""
    unknown = _not_peer_mentors(db, org_id, mentor_ids)
    if unknown:
        raise Unprocessable(
            "Some mentor ids are not peer mentors of this organisation.",
            [
                {
                    "path": "mentor_ids",
                    "code": "unknown_mentor",
                    "message": f"{mentor_id} is not a peer mentor here",
                }
                for mentor_id in unknown
            ],
        )
    today = OrgClock(now).today(db, org_id)
    awarded: list[EarnedBadge] = []
    try:
        with db.transaction() as tx:
            # One fixed order, so two admins re-evaluating overlapping lists never deadlock.
            for mentor_id in sorted(mentor_ids, key=str):
                awarded.extend(
                    evaluate_mentor(
                        tx, org_id, mentor_id, today=today, backfill=True, correlation_id=correlation_id
                    )
                )
            if dry_run:
                raise _DryRun()
    except _DryRun:
        return awarded
    if on_committed is not None:
        on_committed(awarded)
    return awarded


def _not_peer_mentors(db: Database, org_id: UUID, mentor_ids: list[UUID]) -> list[UUID]:
    rows = db.query(
        """SELECT m AS id FROM unnest(CAST(:ids AS uuid[])) AS m
            WHERE NOT EXISTS (SELECT 1 FROM org_members
                               WHERE org_id = :org_id AND user_id = m AND role = 'peer_mentor')""",
        org_id=org_id,
        ids=mentor_ids,
    )
    return [row["id"] for row in rows]
