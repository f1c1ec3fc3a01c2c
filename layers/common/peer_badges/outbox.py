"""One outbox policy for every queue: claim under a lease, retry with backoff, park, operator retry.

The evaluation outbox (mentors to evaluate, peer_badges.drain), the event outbox (events to publish,
peer_badges.events) and the definition backfills (definitions to backfill, peer_badges.backfill) are
the same machine over three tables with the same bookkeeping columns (sql/008_criteria_queries.sql,
sql/009_outbox_policy.sql): `status` pending | done | parked, `attempts`, `available_at`,
`last_error`, `parked_at`, and the time the row was done (`processed_at` | `published_at`).

- Claim: one short statement leases due rows (`FOR UPDATE SKIP LOCKED`, then `available_at` moves
  past the lease) and counts the attempt, so parallel workers take disjoint rows, no transaction stays
  open while the work runs, and a worker killed mid-way still used up an attempt. Its rows come back
  when the lease ends.
- Failure: retry after base * 2^(attempts - 1), capped, ±jitter so rows that failed together spread
  out; after `max_attempts` the row is parked: never retried automatically, visible, countable.
- Operator retry: parked rows get a fresh set of attempts (`retry_parked`, also the drain job's
  `{"action": "retry_parked"}` and `python -m peer_badges.outbox retry-parked`).

Table and column names come only from the closed set below, never from input.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from peer_badges.db import Database, Transaction, get_database

QueueName = Literal["evaluation", "event", "definition_backfill"]
QUEUES: tuple[QueueName, ...] = ("evaluation", "event", "definition_backfill")
Executor = Database | Transaction  # claims and marks write: a Queryable is not enough


@dataclass(frozen=True)
class OutboxPolicy:
    lease: timedelta = timedelta(minutes=5)
    # 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: about 2 h 45 min of retrying before a row parks,
    # enough to ride out an EventBridge or database incident without an operator.
    max_attempts: int = 10
    base_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    jitter: float = 0.25

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt, before jitter."""
        return min(self.base_backoff * 2 ** max(attempts - 1, 0), self.max_backoff)


POLICY = OutboxPolicy()


@dataclass(frozen=True)
class _Table:
    name: str
    done_column: str
    # The rows a targeted claim may take (events: those of the awards just committed).
    key_column: str
    # True when the row belongs to the organisation :org (for operator actions scoped to one org).
    in_org: str


_TABLES: dict[QueueName, _Table] = {
    "evaluation": _Table(
        "evaluation_outbox", "processed_at", "peer_mentor_id", "org_id = CAST(:org AS uuid)"
    ),
    "event": _Table(
        "event_outbox",
        "published_at",
        # The earned badge for badge and payout events, the event's own key otherwise (sql/015).
        "event_key",
        "detail->>'org_id' = CAST(CAST(:org AS uuid) AS text)",
    ),
    "definition_backfill": _Table(
        "definition_backfills", "processed_at", "badge_definition_id", "org_id = CAST(:org AS uuid)"
    ),
}


class Outbox:
    """One queue's statements under one policy."""

    def __init__(self, queue: QueueName, policy: OutboxPolicy = POLICY) -> None:
        if queue not in _TABLES:
            raise ValueError(f"unknown outbox {queue!r}; known: {', '.join(QUEUES)}")
        t = _TABLES[queue]
        self.queue, self.policy = queue, policy
        returning = "RETURNING o.*, extract(epoch FROM now() - o.created_at)::float8 AS lag_s"
        lease = "available_at = now() + make_interval(secs => :lease_s), attempts = o.attempts + 1"
        self._claim_due = f"""
UPDATE {t.name} AS o SET {lease}
  FROM (SELECT id FROM {t.name}
         WHERE status = 'pending' AND available_at <= now()
         ORDER BY available_at, id
         LIMIT :limit
         FOR UPDATE SKIP LOCKED) AS due
 WHERE o.id = due.id
{returning}"""
        self._claim_keys = f"""
UPDATE {t.name} AS o SET {lease}
  FROM (SELECT id FROM {t.name}
         WHERE {t.key_column} = ANY(CAST(:keys AS uuid[]))
           AND status = 'pending' AND available_at <= now()
         ORDER BY id
         FOR UPDATE SKIP LOCKED) AS due
 WHERE o.id = due.id
{returning}"""
        self._done = f"""
UPDATE {t.name} SET status = 'done', {t.done_column} = now(), last_error = NULL
 WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'pending'"""
        self._failed = f"""
UPDATE {t.name} AS o
   SET status = CASE WHEN o.attempts >= :max_attempts THEN 'parked' ELSE 'pending' END,
       parked_at = CASE WHEN o.attempts >= :max_attempts THEN now() END,
       last_error = f.error,
       available_at = now() + make_interval(secs =>
           least(CAST(:max_s AS float8), CAST(:base_s AS float8) * power(2, greatest(o.attempts - 1, 0)))
           * (1 - CAST(:jitter AS float8) + 2 * CAST(:jitter AS float8) * random()))
  FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS f(id, error)
 WHERE o.id = f.id AND o.status = 'pending'
RETURNING o.id, o.status"""
        # Claimed but never tried (a time budget ran out): due again at once, the attempt given back.
        self._release = f"""
UPDATE {t.name} SET available_at = now(), attempts = greatest(attempts - 1, 0)
 WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'pending'"""
        org_filter = f"(CAST(:org AS uuid) IS NULL OR {t.in_org})"
        self._parked_count = f"SELECT count(*) AS n FROM {t.name} WHERE status = 'parked' AND {org_filter}"
        self._retry_parked = f"""
UPDATE {t.name} SET status = 'pending', attempts = 0, available_at = now(), parked_at = NULL
 WHERE status = 'parked' AND {org_filter}
RETURNING id"""

    def claim(self, db: Executor, limit: int, lease: timedelta | None = None) -> list[dict[str, Any]]:
        """Lease up to `limit` due rows, oldest first; each row also carries `lag_s` since it was queued."""
        return db.query(self._claim_due, limit=limit, lease_s=self._lease_s(lease))

    def claim_keys(self, db: Executor, keys: Sequence[UUID | str]) -> list[dict[str, Any]]:
        """Lease the due rows of these keys only (events: earned badge ids, or the event's own key for
        events without a badge; evaluations: mentor ids)."""
        return db.query(self._claim_keys, keys=[str(key) for key in keys], lease_s=self._lease_s(None))

    def done(self, db: Executor, ids: Sequence[int]) -> None:
        if ids:
            db.query(self._done, ids=list(ids))

    def failed(
        self, db: Executor, errors: Mapping[int, str], max_attempts: int | None = None
    ) -> dict[int, str]:
        """Record failures (row id → reason); returns each row's new status, 'pending' or 'parked'."""
        if not errors:
            return {}
        rows = db.query(
            self._failed,
            ids=list(errors),
            errors=[reason[:MAX_ERROR_LENGTH] for reason in errors.values()],
            max_attempts=max_attempts if max_attempts is not None else self.policy.max_attempts,
            base_s=self.policy.base_backoff.total_seconds(),
            max_s=self.policy.max_backoff.total_seconds(),
            jitter=self.policy.jitter,
        )
        return {row["id"]: row["status"] for row in rows}

    def release(self, db: Executor, ids: Sequence[int]) -> None:
        if ids:
            db.query(self._release, ids=list(ids))

    def parked_count(self, db: Executor, org_id: UUID | None = None) -> int:
        row = db.query_one(self._parked_count, org=org_id)
        return int((row or {}).get("n", 0))

    def retry_parked(self, db: Executor, org_id: UUID | None = None) -> int:
        """Operator action: parked rows (of one org, or all) get a fresh set of attempts, due now."""
        return len(db.query(self._retry_parked, org=org_id))

    def _lease_s(self, lease: timedelta | None) -> float:
        return (lease if lease is not None else self.policy.lease).total_seconds()


MAX_ERROR_LENGTH = 1000

EVALUATIONS = Outbox("evaluation")
EVENTS = Outbox("event")
DEFINITION_BACKFILLS = Outbox("definition_backfill")
_OUTBOXES: dict[QueueName, Outbox] = {
    "evaluation": EVALUATIONS,
    "event": EVENTS,
    "definition_backfill": DEFINITION_BACKFILLS,
}


def parked_counts(db: Executor, org_id: UUID | None = None) -> dict[QueueName, int]:
    return {name: outbox.parked_count(db, org_id) for name, outbox in _OUTBOXES.items()}


def retry_parked(
    db: Executor, org_id: UUID | None = None, queues: Sequence[QueueName] = QUEUES
) -> dict[QueueName, int]:
    """The operator retry for every queue at once: how many rows of each came back."""
    return {name: _OUTBOXES[name].retry_parked(db, org_id) for name in queues}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m peer_badges.outbox",
        description="Outbox operator actions (uses DATABASE_URL or DB_*).",
    )
    parser.add_argument("action", choices=["parked", "retry-parked"])
    parser.add_argument("--org", type=UUID, default=None, help="only this organisation's rows")
    parser.add_argument("--queue", choices=QUEUES, action="append", help="repeatable; default: all")
    args = parser.parse_args(argv)
    db = get_database()
    queues: Sequence[QueueName] = args.queue or QUEUES
    if args.action == "parked":
        result = {name: _OUTBOXES[name].parked_count(db, args.org) for name in queues}
    else:
        result = retry_parked(db, args.org, queues)
    print(" ".join(f"{name}={count}" for name, count in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
