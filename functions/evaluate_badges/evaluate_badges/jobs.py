"""The jobs: drain the evaluation outbox and publish events; reconcile organisations; housekeeping
(future-dated activities whose date arrived, purging finished outbox rows); and the operator's retry of
parked outbox rows (`{"action": "retry_parked", "org_ids": [...]}`, every queue)."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from peer_badges.db import get_database
from peer_badges.events import events_client, publish_pending
from peer_badges.housekeeping import enqueue_due_evaluations, outbox_health, purge_finished
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.outbox import QUEUES, parked_counts, retry_parked
from peer_badges.reconcile import all_org_ids, reconcile_org
from peer_badges.settings import get_settings

logger = Logger(service="peer-badges", child=True)


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: str = "drain"
    source: str = "schedule"
    org_ids: list[str] | None = None
    batch_size: int = Field(default=200, ge=1, le=1000)
    max_batches: int = Field(default=50, ge=1, le=1000)


def run(event: dict[str, Any], metrics: Metrics) -> dict[str, Any]:
    job = Job.model_validate(event)
    if job.action == "drain":
        return drain(job, metrics)
    if job.action == "reconcile":
        return reconcile(job, metrics)
    if job.action == "retry_parked":
        return retry(job)
    if job.action == "housekeeping":
        return housekeeping(metrics)
    raise ValueError(
        f"unknown action {job.action!r}; expected 'drain', 'reconcile', 'retry_parked' or 'housekeeping'"
    )


def drain(job: Job, metrics: Metrics) -> dict[str, Any]:
    db = get_database()
    report = drain_outbox(
        db,
        datetime.now(UTC),
        logger.get_correlation_id(),
        batch_size=job.batch_size,
        max_batches=job.max_batches,
    )
    published = publish_pending(db, events_client(), get_settings().event_bus_name)
    parked = parked_counts(db)
    health = outbox_health(db)
    metrics.add_metric(name="MentorsEvaluated", unit=MetricUnit.Count, value=report.mentors)
    metrics.add_metric(name="BadgesAwarded", unit=MetricUnit.Count, value=len(report.awarded))
    metrics.add_metric(name="EvaluationRetries", unit=MetricUnit.Count, value=report.retried)
    metrics.add_metric(name="OutboxRowsParked", unit=MetricUnit.Count, value=sum(parked.values()))
    metrics.add_metric(name="OutboxLag", unit=MetricUnit.Seconds, value=report.max_lag_s)
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published.sent)
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=published.failed)
    # Gauges for the alarms: what is still waiting after this drain, and for how long.
    metrics.add_metric(
        name="EvaluationOutboxOldestPendingAge",
        unit=MetricUnit.Seconds,
        value=health.evaluation_oldest_pending_s,
    )
    metrics.add_metric(
        name="EventOutboxOldestPendingAge", unit=MetricUnit.Seconds, value=health.event_oldest_pending_s
    )
    metrics.add_metric(name="EventsRetrying", unit=MetricUnit.Count, value=health.events_retrying)
    summary = {
        "action": "drain",
        "source": job.source,
        "claimed_rows": report.claimed_rows,
        "mentors": report.mentors,
        "succeeded": report.succeeded,
        "retried": report.retried,
        "parked_now": report.parked,
        "parked_total": parked["evaluation"],
        "events_parked_total": parked["event"],
        "definition_backfills_parked_total": parked["definition_backfill"],
        "awarded": len(report.awarded),
        "events_sent": published.sent,
        "events_failed": published.failed,
        "max_lag_s": round(report.max_lag_s, 3),
        "oldest_pending_s": round(health.evaluation_oldest_pending_s, 3),
        "oldest_unpublished_s": round(health.event_oldest_pending_s, 3),
    }
    logger.info("drain finished", extra=summary)
    return summary


def retry(job: Job) -> dict[str, Any]:
    """Parked rows of every queue (of the given organisations, or all) get a fresh set of attempts."""
    db = get_database()
    totals = dict.fromkeys(QUEUES, 0)
    for org_id in job.org_ids or [None]:
        for queue, count in retry_parked(db, UUID(org_id) if org_id else None).items():
            totals[queue] += count
    summary = {
        "action": "retry_parked",
        "evaluation_rows": totals["evaluation"],
        "event_rows": totals["event"],
        "definition_backfill_rows": totals["definition_backfill"],
    }
    logger.info("parked outbox rows retried", extra=summary)
    return summary


def housekeeping(metrics: Metrics) -> dict[str, Any]:
    db = get_database()
    requeued = enqueue_due_evaluations(db)
    purged = purge_finished(db, timedelta(days=get_settings().outbox_retention_days))
    metrics.add_metric(name="FutureActivitiesRequeued", unit=MetricUnit.Count, value=requeued)
    metrics.add_metric(
        name="OutboxRowsPurged", unit=MetricUnit.Count, value=purged.evaluation_rows + purged.event_rows
    )
    summary = {
        "action": "housekeeping",
        "requeued_mentors": requeued,
        "purged_evaluation_rows": purged.evaluation_rows,
        "purged_event_rows": purged.event_rows,
    }
    logger.info("housekeeping finished", extra=summary)
    return summary


def reconcile(job: Job, metrics: Metrics) -> dict[str, Any]:
    db = get_database()
    now = datetime.now(UTC)
    org_ids = job.org_ids or [str(org_id) for org_id in all_org_ids(db)]
    totals: dict[str, Any] = {
        "action": "reconcile",
        "organisations": 0,
        "mentors": 0,
        "awarded": 0,
        "repaired_snapshots": 0,
        "failed_organisations": [],
    }
    for org_id in org_ids:
        # One organisation's failure (say, a timeout on a huge org) must not starve the others.
        try:
            report = reconcile_org(db, UUID(str(org_id)), now=now, correlation_id=logger.get_correlation_id())
        except Exception:
            logger.exception("reconcile failed for one organisation", extra={"org_id": str(org_id)})
            totals["failed_organisations"].append(str(org_id))
            continue
        totals["organisations"] += 1
        totals["mentors"] += report.mentors
        totals["awarded"] += len(report.awarded)
        totals["repaired_snapshots"] += report.repaired_snapshots
        # Publish as we go so a huge backfill does not pile up in the outbox.
        publish_pending(db, events_client(), get_settings().event_bus_name, limit=1000)
    metrics.add_metric(
        name="ReconcileFailedOrganisations", unit=MetricUnit.Count, value=len(totals["failed_organisations"])
    )
    metrics.add_metric(name="ReconcileAwarded", unit=MetricUnit.Count, value=totals["awarded"])
    metrics.add_metric(name="SnapshotsRepaired", unit=MetricUnit.Count, value=totals["repaired_snapshots"])
    logger.info("reconcile finished", extra=totals)
    if totals["failed_organisations"]:
        # Fail the invocation after the others are done: the async retry and the DLQ make it visible.
        raise RuntimeError(f"reconcile failed for {len(totals['failed_organisations'])} organisation(s)")
    return totals
