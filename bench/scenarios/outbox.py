"""A hot mentor's outbox: many writers, few mentors, nobody draining (sql/018).

8 threads each commit single-activity inserts for 8 mentors of the big organisation, as the app does
when several devices sync at once. Every write queues its mentor for evaluation; the outbox keeps at
most one waiting row per mentor and kind, so the rows left waiting stay at the number of mentors
however many writes there were (before sql/018 it was one row per write). Timed: each insert and
commit, against the same statement into the scratch table without triggers.
"""

from __future__ import annotations

import threading
import uuid

from bench.context import Bench
from bench.results import Result
from bench.server import new_database
from bench.timing import Sample, compare

INSERT_SQL = """
INSERT INTO {table} (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
VALUES (:org_id, :mentor_id, 'visit', :today, 30)
"""

HOT_MENTORS = 8


def run(bench: Bench) -> None:
    org_id, today = bench.data.big.id, bench.data.today
    mentors = [uuid.uuid4() for _ in range(HOT_MENTORS)]
    for mentor in mentors:
        bench.db.query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :m, 'peer_mentor')",
            o=org_id,
            m=mentor,
        )
    per_thread = bench.n(250, 40)
    times: list[float] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        own = new_database(bench.settings)

        def insert(table: str) -> None:
            with own.transaction() as tx:
                tx.execute(
                    INSERT_SQL.format(table=table),
                    org_id=org_id,
                    mentor_id=mentors[(index + len(found)) % HOT_MENTORS],
                    today=today,
                )
            found.append(1)

        found: list[int] = []
        ours, baseline = compare(
            lambda: insert("activities"),
            lambda: insert("bench_activities_plain"),
            warmup=0,
            iterations=per_thread,
        )
        with lock:
            times.extend(ours.times_ms)
            baselines.extend(baseline.times_ms)
        own.close()

    baselines: list[float] = []
    threads = [threading.Thread(target=write, args=(i,)) for i in range(bench.options.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writes = len(times)
    row = bench.db.query_one(
        """SELECT count(*) AS waiting FROM evaluation_outbox
            WHERE status = 'pending' AND peer_mentor_id = ANY(CAST(:mentors AS uuid[]))""",
        mentors=mentors,
    )
    waiting = int((row or {}).get("waiting") or 0)
    bench.add(
        Result.of(
            "outbox_hot_mentors",
            f"hot mentors: {writes:,} writes by {bench.options.threads} threads to {HOT_MENTORS} mentors",
            Sample(tuple(times)),
            "same inserts into the table without triggers",
            Sample(tuple(baselines)),
            note=f"{waiting} rows left waiting for {HOT_MENTORS} mentors (one per write before sql/018: {writes:,})",
            writes=writes,
            waiting_rows=waiting,
        )
    )
