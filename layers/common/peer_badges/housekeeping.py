"""Outbox housekeeping: the figures the alarms watch, purging finished rows, and mentors whose
future-dated activity's date has arrived.

- `outbox_health`: the age of the oldest unfinished row of each outbox and the events still
  retrying, in one round trip, measured after every drain (they become CloudWatch metrics). Parked
  rows of every queue are counted once, by `outbox.parked_counts`.
- `purge_finished`: evaluation rows `done` and events published longer ago than the retention are
  deleted in bounded batches through `purge_finished_outbox_rows` (sql/012), the only delete the
  application role may do on the outboxes. Parked and pending rows are never purged.
- `enqueue_due_evaluations`: an activity dated in the future counts from its date, so the activity
  triggers note `(mentor, date)` in `scheduled_evaluations`; this moves the ones whose date has
  come, in each organisation's timezone, into the evaluation outbox (a live evaluation, as the
  write was). Run hourly, it catches every timezone within an hour of its midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from peer_badges.db import Database

PURGE_BATCH = 5_000
PURGE_MAX_BATCHES = 200
# Events that failed this many sends are reported as retrying (until they park; parked rows are
# counted by peer_badges.outbox.parked_counts).
EVENT_RETRYING_ATTEMPTS = 3

_HEALTH_SQL = """
SELECT coalesce((SELECT extract(epoch FROM now() - created_at) FROM evaluation_outbox
                  WHERE id = (SELECT min(id) FROM evaluation_outbox WHERE status = 'pending')), 0)::float8
           AS evaluation_oldest_pending_s,
       coalesce((SELECT extract(epoch FROM now() - created_at) FROM event_outbox
                  WHERE id = (SELECT min(id) FROM event_outbox WHERE status = 'pending')), 0)::float8
           AS event_oldest_pending_s,
       (SELECT count(*) FROM event_outbox
         WHERE status = 'pending' AND attempts >= CAST(:retrying AS int)) AS events_retrying
"""

_ENQUEUE_DUE_SQL = """
WITH due AS (
    DELETE FROM scheduled_evaluations s
     USING organizations o
     WHERE o.id = s.org_id
       AND s.due_on <= (now() AT TIME ZONE o.timezone)::date
    RETURNING s.org_id, s.peer_mentor_id
)
SELECT coalesce(queue_evaluations(array_agg(org_id), array_agg(peer_mentor_id), 'activity_date_arrived', false), 0)
       AS queued
  FROM due
"""


@dataclass(frozen=True)
class OutboxHealth:
    # (Parked rows of every queue: outbox.parked_counts, which the drain reports as OutboxRowsParked.)
    evaluation_oldest_pending_s: float
    event_oldest_pending_s: float
    events_retrying: int


@dataclass(frozen=True)
class PurgeReport:
    evaluation_rows: int
    event_rows: int


def outbox_health(db: Database) -> OutboxHealth:
    row = db.query_one(_HEALTH_SQL, retrying=EVENT_RETRYING_ATTEMPTS) or {}
    return OutboxHealth(
        evaluation_oldest_pending_s=float(row.get("evaluation_oldest_pending_s", 0.0)),
        event_oldest_pending_s=float(row.get("event_oldest_pending_s", 0.0)),
        events_retrying=int(row.get("events_retrying", 0)),
    )


def purge_finished(
    db: Database, retention: timedelta, *, batch: int = PURGE_BATCH, max_batches: int = PURGE_MAX_BATCHES
) -> PurgeReport:
    """Delete finished rows older than `retention`, one short transaction per batch."""
    evaluation_rows = event_rows = 0
    for _ in range(max_batches):
        row = db.query_one(
            "SELECT evaluation_rows, event_rows FROM purge_finished_outbox_rows("
            "make_interval(secs => CAST(:seconds AS float8)), CAST(:batch AS int))",
            seconds=retention.total_seconds(),
            batch=batch,
        ) or {"evaluation_rows": 0, "event_rows": 0}
        evaluation_rows += row["evaluation_rows"]
        event_rows += row["event_rows"]
        if row["evaluation_rows"] < batch and row["event_rows"] < batch:
            break
    return PurgeReport(evaluation_rows=evaluation_rows, event_rows=event_rows)


def enqueue_due_evaluations(db: Database) -> int:
    """Queue the mentors whose scheduled date has arrived in their organisation; returns how many."""
    row = db.query_one(_ENQUEUE_DUE_SQL) or {}
    return int(row.get("queued", 0))
