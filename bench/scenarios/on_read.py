"""What a user would build instead: a mentor's stats computed on read by one SQL function.

bench/on_read.sql (created here, in the scratch database only) computes what GET /stats shows from
the raw activities, with window functions over the (peer_mentor_id, activity_date, activity_type)
index. Before timing, it must agree with our read for every probe mentor (counts, per-type counts,
minutes, first and last date, current and longest streak); then our read of the trigger-kept snapshot
(mentor_stats_read_one) and the on-read function are timed in alternation on the same connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from bench.context import Bench, BenchError, call_stats_handler, stats_event
from bench.results import Result
from bench.timing import Operation, interleaved

ON_READ_DDL = Path(__file__).resolve().parents[1] / "on_read.sql"

OURS_SQL = "SELECT * FROM mentor_stats_read_one(:org_id, CAST(:mentor_id AS uuid), NULL, now())"
THEIRS_SQL = "SELECT * FROM bench_stats_on_read(:org_id, CAST(:mentor_id AS uuid), NULL, now())"

OURS_LINE = "our stats read (SQL)"
THEIRS_LINE = "stats on read (one SQL function)"

PK_SQL = "SELECT * FROM mentor_stats WHERE org_id = :org_id AND peer_mentor_id = :mentor_id"

# The sizes issue 19 sets targets for, and the speedup asked (ours >= 3x / 20x faster). Through the
# driver they are reported, not judged: every call there also pays the driver's and the protocol's
# fixed cost (a bare primary-key lookup is measured alongside as the floor, and at 5,000 activities
# it is itself only ~20x faster than the on-read function), so the verdict is given at the server
# where the two designs' database time is compared (server_read: on_read_server_*).
TARGETS = {500: 3, 5000: 20}


def install(bench: Bench) -> None:
    """Create the competitor in the scratch database, once."""
    exists = bench.raw.run("SELECT to_regprocedure('bench_stats_on_read(uuid, uuid, date, timestamptz)')")
    if exists[0][0] is None:
        bench.raw.run(ON_READ_DDL.read_text())


def _theirs(bench: Bench, org: UUID, mentor: UUID) -> dict[str, Any]:
    rows = bench.db.query(THEIRS_SQL, org_id=org, mentor_id=mentor)
    if len(rows) != 1:
        raise BenchError(f"the on-read function returned {len(rows)} rows for mentor {mentor}")
    return rows[0]


def _check(bench: Bench, org: UUID, size: int, mentor: UUID) -> None:
    """The on-read function and our read (the get_stats handler's answer) must agree."""
    body = call_stats_handler(stats_event(org, mentor))[1]
    row = _theirs(bench, org, mentor)
    ours = {
        "total": body["assignment_count"]["total"],
        "by_type": body["assignment_count"]["by_type"],
        "total_minutes": body["total_minutes"],
        "minutes_by_type": body["minutes_by_type"],
        "first_activity_date": body["first_activity_date"],
        "last_activity_date": body["last_activity_date"],
        "current_streak_weeks": body["streak"]["current_streak_weeks"],
        "longest_streak_weeks": body["streak"]["longest_streak_weeks"],
        "trainings": len(body["training"]["completed"]),
    }
    theirs = {
        "total": row["total_count"],
        "by_type": row["by_type"],
        "total_minutes": row["total_minutes"],
        "minutes_by_type": row["minutes_by_type"],
        "first_activity_date": _iso(row["first_activity_date"]),
        "last_activity_date": _iso(row["last_activity_date"]),
        "current_streak_weeks": row["current_streak_weeks"],
        "longest_streak_weeks": row["longest_streak_weeks"],
        "trainings": len(row["training"] or ()),
    }
    differ = {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]}
    if differ:
        raise BenchError(f"on-read stats differ from ours at {size:,} activities (ours, theirs): {differ}")
    if ours["total"] != size:
        raise BenchError(f"probe mentor has {ours['total']} activities, not {size}")


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def run(bench: Bench) -> None:
    install(bench)
    org = bench.data.big.id
    operations: dict[tuple[str, int], Operation] = {}
    for size, mentor in sorted(bench.data.probes.items()):
        _check(bench, org, size, mentor)

        def ours(mentor: UUID = mentor) -> None:
            bench.db.query(OURS_SQL, org_id=org, mentor_id=mentor)

        def theirs(mentor: UUID = mentor) -> None:
            bench.db.query(THEIRS_SQL, org_id=org, mentor_id=mentor)

        def lookup(mentor: UUID = mentor) -> None:
            bench.db.query(PK_SQL, org_id=org, mentor_id=mentor)

        operations["ours", size] = ours
        operations["theirs", size] = theirs
        operations["pk", size] = lookup
    samples = interleaved(operations, warmup=10, iterations=bench.n(100, 20))
    for size in sorted(bench.data.probes):
        ours_sample, theirs_sample = samples["ours", size], samples["theirs", size]
        bench.plot(OURS_LINE, size, ours_sample.median, ours_sample.p95)
        bench.plot(THEIRS_LINE, size, theirs_sample.median, theirs_sample.p95)
        if size in TARGETS:
            floor = samples["pk", size]
            speedup = theirs_sample.median / ours_sample.median
            bench.add(
                Result.of(
                    f"on_read_{size}",
                    f"stats read vs on-read SQL, {size:,} activities (driver)",
                    ours_sample,
                    "one SQL function computing the stats from activities (bench/on_read.sql)",
                    theirs_sample,
                    note=(
                        f"ours {speedup:.1f}x faster (asked: {TARGETS[size]}x, judged at the server); a bare PK "
                        f"lookup ({floor.median:.3f} ms) is {theirs_sample.median / floor.median:.1f}x; "
                        "results checked equal first"
                    ),
                    speedup=round(theirs_sample.median / ours_sample.median, 1),
                )
            )
