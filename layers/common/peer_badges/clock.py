"""Each organisation's local date: every "today" in evaluation, reconcile and preview comes from here."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from peer_badges.db import Queryable
from peer_badges.errors import NotFound


def local_date(now: datetime, timezone: str) -> date:
    """The calendar date at ``now`` in ``timezone`` (e.g. Sunday 23:30 UTC is Monday in Oslo)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ZoneInfo(timezone)).date()


class OrgClock:
    """Each organisation's local date at one instant, looked up once per run."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._zones: dict[UUID, str] = {}

    def zone(self, db: Queryable, org_id: UUID) -> str:
        zone = self._zones.get(org_id)
        if zone is None:
            row = db.query_one("SELECT timezone FROM organizations WHERE id = :org_id", org_id=org_id)
            if row is None:
                raise NotFound("There is no such organisation.")
            zone = self._zones[org_id] = str(row["timezone"])
        return zone

    def today(self, db: Queryable, org_id: UUID) -> date:
        return local_date(self.now, self.zone(db, org_id))
