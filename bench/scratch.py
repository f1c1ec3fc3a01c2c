"""Scratch tables for the baselines: the same shape as the real tables, without their triggers.

Created once after the data set is loaded. The real tables' triggers are never disabled.
"""

from __future__ import annotations

import pg8000.native

ACTIVITY_COLUMNS = (
    "org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status, created_at, deleted_at"
)

DDL = (
    # activities without the stats triggers: same columns, defaults, checks, indexes and foreign key,
    # and the same rows, so its indexes are as deep as the real table's.
    "CREATE TABLE bench_activities_plain (LIKE activities INCLUDING ALL)",
    """ALTER TABLE bench_activities_plain ADD FOREIGN KEY (org_id) REFERENCES organizations (id)
       ON DELETE CASCADE""",
    "INSERT INTO bench_activities_plain SELECT * FROM activities",
    # earned_badges without the award function's lock, audit and event rows (and no foreign key).
    """CREATE TABLE bench_award_plain
       (LIKE earned_badges INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)""",
    # Staging for the bulk INSERT ... SELECT.
    f"CREATE UNLOGGED TABLE bench_ingest_batch AS SELECT {ACTIVITY_COLUMNS} FROM activities WITH NO DATA",
)


def create(conn: pg8000.native.Connection) -> None:
    for statement in DDL:
        conn.run(statement)
    conn.run("ANALYZE")
