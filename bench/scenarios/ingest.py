"""Activity ingest with the stats triggers, against the same writes into a table without them.

The baseline table is bench_activities_plain (bench/scratch.py): `activities` without the triggers.

Bulk: `ingest_rows` new activities for `ingest_mentors` mentors of the big organisation, dated over
the last two years, loaded with one COPY, and with one INSERT ... SELECT from a staging table. Each
iteration runs in a transaction that is rolled back, so the tables do not grow; the statement alone
is timed (statement-level AFTER triggers run inside it). Single row: INSERT + COMMIT through the
app's driver, one row per transaction, for one mentor; these commit.
"""

from __future__ import annotations

import io
import random
import time
from datetime import timedelta

from bench.context import Bench
from bench.dataset import to_csv
from bench.results import Result, Target
from bench.scratch import ACTIVITY_COLUMNS as COLUMNS
from bench.timing import compare

SINGLE_SQL = """
INSERT INTO {table} (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
VALUES (:org_id, :mentor_id, 'phone_call', :today, 20)
"""


def _batch(bench: Bench) -> tuple[str, int]:
    org = bench.data.big
    rng = random.Random("bench-ingest")
    mentors = rng.sample(org.mentors, min(bench.options.ingest_mentors, len(org.mentors)))
    kinds = ["visit", "phone_call", "assignment", "group_session"]
    rows = []
    for i in range(bench.options.ingest_rows):
        day = bench.data.today - timedelta(days=rng.randint(0, 730))
        status = "approved" if rng.random() < 0.9 else "pending"
        created = f"{day.isoformat()}T12:00:00+00:00"
        rows.append(
            (org.id, mentors[i % len(mentors)], rng.choice(kinds), day.isoformat(), 30, status, created, None)
        )
    return to_csv(rows).getvalue(), len(mentors)


def run(bench: Bench) -> None:
    conn = bench.raw
    batch, mentors = _batch(bench)
    conn.run(f"COPY bench_ingest_batch ({COLUMNS}) FROM STDIN WITH (FORMAT csv)", stream=io.StringIO(batch))
    conn.run("ANALYZE")
    rows = bench.options.ingest_rows
    iterations = bench.n(5, 2)

    def rolled_back(statement: str, stream: str | None = None) -> float:
        conn.run("BEGIN")
        try:
            started = time.perf_counter()
            if stream is None:
                conn.run(statement)
            else:
                conn.run(statement, stream=io.StringIO(stream))
            return (time.perf_counter() - started) * 1000
        finally:
            conn.run("ROLLBACK")

    for how, statement, stream in (
        ("COPY", f"COPY {{table}} ({COLUMNS}) FROM STDIN WITH (FORMAT csv)", batch),
        (
            "INSERT ... SELECT",
            f"INSERT INTO {{table}} ({COLUMNS}) SELECT {COLUMNS} FROM bench_ingest_batch",
            None,
        ),
    ):
        ours, baseline = compare(
            lambda s=statement, b=stream: rolled_back(s.format(table="activities"), b),
            lambda s=statement, b=stream: rolled_back(s.format(table="bench_activities_plain"), b),
            warmup=1,
            iterations=iterations,
        )
        bench.add(
            Result.of(
                "ingest_bulk_" + how.split()[0].lower(),
                f"ingest bulk {how}, {rows:,} rows / {mentors} mentors",
                ours,
                "same statement, table without triggers",
                baseline,
                Target("ratio_max", 1.5),
                note=f"{rows / ours.median * 1000:,.0f} rows/s with triggers",
            )
        )

    org, mentor, today = bench.data.big.id, bench.data.ingest_mentor, bench.data.today

    def single(table: str) -> None:
        with bench.writer.transaction() as tx:
            tx.execute(SINGLE_SQL.format(table=table), org_id=org, mentor_id=mentor, today=today)

    ours, baseline = compare(
        lambda: single("activities"),
        lambda: single("bench_activities_plain"),
        warmup=10,
        iterations=bench.n(200, 40),
    )
    bench.add(
        Result.of(
            "ingest_single",
            "ingest single row, INSERT + COMMIT",
            ours,
            "same, table without triggers",
            baseline,
            Target("ratio_max", 1.5),
            note="snapshot, buckets, outbox in the same transaction",
        )
    )
