"""Activity to fresh stats: the app inserts an activity and commits; the get_stats handler shows it.

The insert goes through another connection (the app writing activities), then the real handler runs
on the container's connection and must return the new total: end to end, no drain or cache in
between. The baseline is the least such a path costs: the same INSERT + COMMIT into the scratch
table without triggers, then a bare primary-key lookup of the snapshot.
"""

from __future__ import annotations

from bench.context import Bench, BenchError, call_stats_handler, stats_event
from bench.results import Result, Target
from bench.scenarios.stats import PK_LOOKUP_SQL
from bench.timing import compare

INSERT_SQL = """
INSERT INTO {table} (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
VALUES (:org_id, :mentor_id, 'assignment', :today, 90)
"""


def run(bench: Bench) -> None:
    org_id, mentor, today = bench.data.big.id, bench.data.fresh_mentor, bench.data.today
    event = stats_event(org_id, mentor)
    total = call_stats_handler(event)[1]["assignment_count"]["total"]

    def insert(table: str) -> None:
        with bench.writer.transaction() as tx:
            tx.execute(INSERT_SQL.format(table=table), org_id=org_id, mentor_id=mentor, today=today)

    def ours() -> None:
        nonlocal total
        insert("activities")
        _, body = call_stats_handler(event)
        total += 1
        if body["assignment_count"]["total"] != total:
            raise BenchError(f"stale stats: {body['assignment_count']['total']} after the {total}th activity")

    def baseline() -> None:
        insert("bench_activities_plain")
        bench.db.query(PK_LOOKUP_SQL, org_id=org_id, mentor_id=mentor)

    ours_sample, baseline_sample = compare(ours, baseline, warmup=5, iterations=bench.n(100, 20))
    bench.add(
        Result.of(
            "activity_to_fresh_stats",
            "activity to fresh stats (insert, commit, GET)",
            ours_sample,
            "INSERT + COMMIT without triggers, PK lookup",
            baseline_sample,
            Target("absolute_max", 50),
            note="the handler's reply includes the new activity",
        )
    )
