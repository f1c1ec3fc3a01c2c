"""Evaluating one mentor on the event path: load bounded facts, run the pure evaluator, award what is due.

``evaluate_mentor`` runs inside the caller's transaction (the drain marks outbox rows done in the same
one). Its cost is bounded by the definitions and their thresholds, not by the mentor's history: facts
come from the stats snapshot and index-bounded lookups (``peer_badges.stats.load_facts``).

Live or quiet (SPEC 8.1) is decided by what triggered the evaluation, never by dates: an award is live
when the mentor has a pending write-caused outbox row (an activity or training written) queued since
the definition last started a backfill (``badge_definitions.backfill_from``); otherwise a backfill
found it and it is quiet. The rows are looked up after the facts were read, so a write the facts saw
is always found (its outbox row committed with it), however the rows were batched.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.backfill import run_definition_backfills
from peer_badges.clock import OrgClock
from peer_badges.db import Database, Queryable, Transaction
from peer_badges.definitions_cache import cached_org_definitions
from peer_badges.drain import DrainReport, drain
from peer_badges.evaluation import DueAward, EarnedLevel, evaluate, required_facts
from peer_badges.models import EarnedBadge
from peer_badges.models.definitions import BadgeDefinition
from peer_badges.stats import load_facts

_EARNED_SQL = """
SELECT badge_definition_id, level, earned_at, revoked_at IS NOT NULL AS revoked
  FROM earned_badges
 WHERE peer_mentor_id = :mentor_id AND org_id = :org_id
"""

# Whether the mentor is a current peer mentor of the org, and what they have earned, in one round trip.
_MEMBER_AND_EARNED_SQL = """
SELECT EXISTS (SELECT 1 FROM org_members
                WHERE org_id = :org_id AND user_id = :mentor_id AND role = 'peer_mentor') AS member,
       (SELECT json_agg(json_build_object('badge_definition_id', e.badge_definition_id, 'level', e.level,
                                          'earned_at', e.earned_at, 'revoked', e.revoked_at IS NOT NULL))
          FROM earned_badges AS e
         WHERE e.peer_mentor_id = :mentor_id AND e.org_id = :org_id) AS earned
"""

# Per definition with something due: is there a write-caused evaluation of this mentor pending
# (claimed by this drain or still queued) since the definition's backfill started?
_LIVE_SQL = """
SELECT d.id,
       EXISTS (SELECT 1 FROM live_evaluations AS o
                WHERE o.peer_mentor_id = :mentor_id AND o.org_id = :org_id
                  AND o.last_queued_at >= d.backfill_from) AS live
  FROM badge_definitions AS d
 WHERE d.id = ANY(CAST(:definition_ids AS uuid[]))
"""


def earned_levels(tx: Queryable, org_id: UUID, mentor_id: UUID) -> list[EarnedLevel]:
    return [
        EarnedLevel.model_validate(row) for row in tx.query(_EARNED_SQL, org_id=org_id, mentor_id=mentor_id)
    ]


def _live_definitions(tx: Queryable, org_id: UUID, mentor_id: UUID, due: list[DueAward]) -> set[UUID]:
    rows = tx.query(
        _LIVE_SQL,
        org_id=org_id,
        mentor_id=mentor_id,
        definition_ids=sorted({str(item.badge_definition_id) for item in due}),
    )
    return {row["id"] for row in rows if row["live"]}


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
    """Award every level the mentor has crossed and not yet been awarded; returns the new badges.
    Only a current peer mentor of the org is awarded anything.

    ``backfill``: a backfill job (admin re-evaluation) is evaluating, so every award is quiet.
    Otherwise (the drain) each award is live or quiet by what queued the mentor (module docstring)."""
    live = [
        d for d in (definitions if definitions is not None else cached_org_definitions(tx, org_id)) if d.live
    ]
    if not live:
        return []
    state = tx.query_one(_MEMBER_AND_EARNED_SQL, org_id=org_id, mentor_id=mentor_id)
    if state is None or not state["member"]:
        return []  # someone no longer a peer mentor here earns nothing new (what they earned stays)
    earned = [EarnedLevel.model_validate(item) for item in state["earned"] or ()]
    # Only definitions with a level still to win cost anything: a veteran mentor who holds most
    # badges is evaluated as cheaply as a newcomer (facts are never fetched for finished ones).
    held = {(e.badge_definition_id, e.level) for e in earned}
    pending = [
        d
        for d in live
        if d.criteria.auto_awarded and any((d.id, level) not in held for level, _ in d.criteria.levels())
    ]
    if not pending:
        return []
    facts = load_facts(tx, org_id, mentor_id, required_facts(pending, earned, today), live)
    due = list(evaluate(facts, pending, earned, today).due)
    if not due:
        return []
    live_ids = set() if backfill else _live_definitions(tx, org_id, mentor_id, due)
    new_badges = []
    for item in due:
        quiet = item.badge_definition_id not in live_ids
        outcome = award(
            tx,
            AwardCommand(
                org_id=org_id,
                peer_mentor_id=mentor_id,
                definition=AwardDefinition(
                    id=item.badge_definition_id,
                    revision=item.definition_revision,
                    criteria=dict(item.criteria_snapshot),
                    payable=item.payable,
                ),
                level=item.level,
                earned_at=item.earned_at,
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
    """Drain the evaluation outbox with the real evaluator, then run the definition backfills that are
    due (set-based; after the mentors, so a large backfill never delays a write's award)."""
    clock = OrgClock(now)

    def evaluate_one(tx: Transaction, org_id: UUID, mentor_id: UUID) -> list[Any]:
        # Live or quiet is decided per award from the outbox itself (module docstring).
        return evaluate_mentor(
            tx,
            org_id,
            mentor_id,
            today=clock.today(tx, org_id),
            backfill=False,
            correlation_id=correlation_id,
        )

    report = drain(db, evaluate_one, **options)
    report.awarded.extend(run_definition_backfills(db, clock, correlation_id))
    return report
