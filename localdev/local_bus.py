"""A local stand-in for the EventBridge client: accepts PutEvents, logs each event, keeps the latest.

The layer publishes award events through `peer_badges.events` with whatever client it is given; the
local server hands it this one, so the event outbox drains exactly as in AWS and a person (or an
e2e test, through `GET /_local/events`) can see what consumers would receive.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("localdev.events")

KEEP = 1000


class LocalEventBus:
    def __init__(self, keep: int = KEEP) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        results = []
        for entry in Entries:
            event_id = str(uuid.uuid4())
            event = {
                "id": event_id,
                "time": datetime.now(UTC).isoformat(),
                "source": entry.get("Source"),
                "detail-type": entry.get("DetailType"),
                "event-bus-name": entry.get("EventBusName"),
                "detail": json.loads(entry.get("Detail") or "{}"),
            }
            with self._lock:
                self._events.append(event)
            detail = event["detail"]
            # Backfills are quiet by design (thousands when the demo history is first evaluated).
            logger.log(
                logging.DEBUG if detail.get("backfill") else logging.INFO,
                "event %s: mentor %s, badge definition %s level %s%s",
                event["detail-type"],
                detail.get("peer_mentor_id"),
                detail.get("badge_definition_id"),
                detail.get("level"),
                " (backfill)" if detail.get("backfill") else "",
            )
            results.append({"EventId": event_id})
        return {"FailedEntryCount": 0, "Entries": results}

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)
