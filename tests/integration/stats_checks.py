"""The stats snapshot's two invariants, shared by the trigger tests: snapshot == reference
computation, and week/year buckets == aggregates of the raw counted activities."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peer_badges.db import Database

SNAPSHOT_COLUMNS = (
    "total_count, by_type, total_minutes, first_activity_date, last_activity_date, "
    "last_active_week, latest_run_weeks, longest_streak_weeks"
)
COUNTED = "status = 'approved' AND deleted_at IS NULL"
_EMPTY: dict[str, Any] = {
    "total_count": 0,
    "by_type": {},
    "total_minutes": 0,
    "first_activity_date": None,
    "last_activity_date": None,
    "last_active_week": None,
    "latest_run_weeks": 0,
    "longest_streak_weeks": 0,
}


def assert_snapshot_matches_reference(db: Database, org_ids: Iterable[Any]) -> None:
    """mentor_stats equals reference_mentor_stats for every mentor (a missing row counts as zeros)."""
    org_ids = list(org_ids)
    snapshot = {
        (r["org_id"], r["peer_mentor_id"]): r
        for r in db.query(f"SELECT org_id, peer_mentor_id, {SNAPSHOT_COLUMNS} FROM mentor_stats")
    }
    reference = {
        (r["org_id"], r["peer_mentor_id"]): r
        for org_id in org_ids
        for r in db.query(
            f"SELECT org_id, peer_mentor_id, {SNAPSHOT_COLUMNS} FROM reference_mentor_stats(:o)", o=org_id
        )
    }
    for key in snapshot.keys() | reference.keys():
        got = {k: v for k, v in snapshot.get(key, _EMPTY).items() if k not in ("org_id", "peer_mentor_id")}
        want = {k: v for k, v in reference.get(key, _EMPTY).items() if k not in ("org_id", "peer_mentor_id")}
        assert got == want, f"mentor {key}"
    for org_id in org_ids:
        assert db.query("SELECT * FROM mentor_stats_drift(:o)", o=org_id) == []


def assert_buckets_match_raw(db: Database) -> None:
    weeks_raw = f"""SELECT org_id, peer_mentor_id, date_trunc('week', activity_date::timestamp)::date, activity_type,
                           count(*), coalesce(sum(duration_minutes), 0)
                    FROM activities WHERE {COUNTED} GROUP BY 1, 2, 3, 4"""
    weeks_kept = (
        "SELECT org_id, peer_mentor_id, week_start, activity_type, n, minutes FROM mentor_week_activity"
    )
    assert db.query(f"({weeks_kept} EXCEPT {weeks_raw}) UNION ALL ({weeks_raw} EXCEPT {weeks_kept})") == []
    years_raw = f"""SELECT org_id, peer_mentor_id, extract(year FROM activity_date)::int, activity_type, count(*)
                    FROM activities WHERE {COUNTED} GROUP BY 1, 2, 3, 4"""
    years_kept = "SELECT org_id, peer_mentor_id, year, activity_type, n FROM mentor_year_activity"
    assert db.query(f"({years_kept} EXCEPT {years_raw}) UNION ALL ({years_raw} EXCEPT {years_kept})") == []
