"""Publishing award events from the event outbox to EventBridge, after commit, with retry.

The award transaction writes `event_outbox` rows in the same transaction as the badge, so a crash
between commit and publish loses nothing: `publish_pending` (run on every evaluation drain) sends
whatever is left. The API calls `publish_after_commit` right after its commit so events usually
leave within the request; when that fails the scheduled drain sends them later.

Claim, send, record, under the shared outbox policy (peer_badges.outbox): a short statement leases
due rows and counts the attempt, so parallel publishers take disjoint rows and no transaction stays
open during network calls. Rows EventBridge accepted are marked published; rejected or failed ones
get `last_error` and an exponential backoff, and park after the policy's attempt limit, like the
evaluation outbox (the operator retry brings them back). A publisher that dies mid-way leaves its
rows leased; they come back when the lease ends. The only duplicate is a send whose success could
not be recorded, so consumers deduplicate on the detail's `idempotency_key` (the earned badge id;
with the detail-type it identifies an event).

Events carry ids, dates, amounts and states, never free text: notes, reasons and payment references
are left out of the detail on the way out (they may name or describe a person; SPEC 8.5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from peer_badges.db import Database
from peer_badges.models import EVENT_SOURCE
from peer_badges.outbox import EVENTS, MAX_ERROR_LENGTH, POLICY
from peer_badges.settings import get_settings

logger = Logger(service="peer-badges", child=True)

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit
DEFAULT_LIMIT = 100
# Stop sending well before the lease ends, or another publisher could claim rows still being sent.
TIME_BUDGET_S = POLICY.lease.total_seconds() / 2
# Free text typed by admins and coordinators, kept in the database but never sent on the bus.
FREE_TEXT_KEYS = frozenset({"note", "revoke_reason", "cancel_reason", "paid_reference", "reason"})


@dataclass(frozen=True)
class PublishReport:
    sent: int = 0
    failed: int = 0


_client: Any = None


def events_client() -> Any:
    """The container's EventBridge client, created on first use with short timeouts."""
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # Bounded, so a publish after an API commit cannot hold the request for long.
        config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
        _client = boto3.client("events", config=config)
    return _client


def set_events_client(client: Any) -> None:
    """Replace the container's client (tests, the local server); None recreates it on next use."""
    global _client
    _client = client


def publish_pending(db: Database, client: Any, bus_name: str, *, limit: int = DEFAULT_LIMIT) -> PublishReport:
    """Send up to `limit` due, unpublished events. Call outside any transaction of `db`."""
    rows = EVENTS.claim(db, limit)
    return _publish(db, client, bus_name, rows)


def publish_after_commit(
    db: Database, client_provider: Callable[[], Any], bus_name: str, earned_badge_ids: Iterable[UUID]
) -> PublishReport:
    """Best effort, right after the award committed: never raises; what fails waits for the drain."""
    ids = [str(badge_id) for badge_id in earned_badge_ids]
    if not ids:
        return PublishReport()
    try:
        # The client first: if it cannot be made, no row is left leased away from the drain.
        client = client_provider()
        rows = EVENTS.claim_keys(db, ids)
        return _publish(db, client, bus_name, rows) if rows else PublishReport()
    except Exception:
        # The award itself is committed and its events are in the outbox; the drain will send them.
        logger.warning("publishing after commit failed; left to the scheduled drain", exc_info=True)
        return PublishReport(failed=len(ids))


def _publish(db: Database, client: Any, bus_name: str, rows: Sequence[dict[str, Any]]) -> PublishReport:
    rows = sorted(rows, key=lambda row: row["id"])
    sent: list[int] = []
    failed: dict[int, str] = {}
    untried = [row["id"] for row in rows]
    deadline = time.monotonic() + TIME_BUDGET_S
    try:
        for start in range(0, len(rows), MAX_ENTRIES_PER_CALL):
            chunk = rows[start : start + MAX_ENTRIES_PER_CALL]
            del untried[: len(chunk)]
            ok, errors = _put_events(client, bus_name, chunk)
            sent.extend(ok)
            failed.update(errors)
            if time.monotonic() > deadline:
                break
    finally:
        # Recorded even if sending blew up part-way, so rows already sent are not sent again.
        _record(db, sent, failed, untried)
    if failed:
        logger.warning("some events were not published; they will be retried", extra={"errors": failed})
    return PublishReport(sent=len(sent), failed=len(failed))


def _put_events(
    client: Any, bus_name: str, chunk: Sequence[dict[str, Any]]
) -> tuple[list[int], dict[int, str]]:
    entries = [
        {
            "Source": EVENT_SOURCE,
            "DetailType": row["detail_type"],
            "Detail": json.dumps(without_free_text(row["detail"]), default=str),
            "EventBusName": bus_name,
        }
        for row in chunk
    ]
    try:
        response = client.put_events(Entries=entries)
    except (ClientError, BotoCoreError) as error:
        return [], {row["id"]: _truncate(f"{type(error).__name__}: {error}") for row in chunk}
    results = response.get("Entries") or []
    sent: list[int] = []
    failed: dict[int, str] = {}
    for index, row in enumerate(chunk):
        # Entries come back in request order; a missing or error entry counts as not sent.
        result = results[index] if index < len(results) else {}
        if result.get("EventId") and not result.get("ErrorCode"):
            sent.append(row["id"])
        else:
            code = result.get("ErrorCode") or "NoResult"
            failed[row["id"]] = _truncate(f"{code}: {result.get('ErrorMessage') or 'not accepted'}")
    return sent, failed


def without_free_text(detail: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in detail.items() if key not in FREE_TEXT_KEYS}


def _record(db: Database, sent: list[int], failed: dict[int, str], untried: list[int]) -> None:
    EVENTS.done(db, sent)
    parked = [row_id for row_id, status in EVENTS.failed(db, failed).items() if status == "parked"]
    if parked:
        logger.error("events parked after repeated failures", extra={"outbox_ids": parked})
    EVENTS.release(db, untried)


def _truncate(message: str) -> str:
    return message[:MAX_ERROR_LENGTH]


def parked_count(db: Database, org_id: UUID | None = None) -> int:
    return EVENTS.parked_count(db, org_id)


def retry_parked(db: Database, org_id: UUID | None = None) -> int:
    """Operator action: parked events get a fresh set of attempts (peer_badges.outbox.retry_parked
    does both outboxes at once)."""
    return EVENTS.retry_parked(db, org_id)


def publish_events(db: Database, event_keys: Iterable[UUID]) -> PublishReport:
    """The API's path for any event: keys are earned badge ids, or an event's own key (MentorErased)."""
    return publish_after_commit(db, events_client, get_settings().event_bus_name, event_keys)
