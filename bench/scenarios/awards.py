"""Awards: `peer_badges.awards.award` in its own transaction, against a bare INSERT + COMMIT.

The baseline inserts a row of the same width (same columns and values, criteria snapshot included)
into bench_award_plain (bench/scratch.py: earned_badges' columns, defaults, checks and indexes; no
foreign key, no lock, audit or events) through the same Database, so both pay the same BEGIN/COMMIT round trips. A new
key is a new mentor each time; an existing key is one key awarded once beforehand.

Contended: `threads` connections award the same `keys` keys, each thread all of them in its own
order, started together. Exactly one row per key must come out, and every caller must get the same
badge id for a key. The baseline is the same threads inserting as many distinct rows into the scratch
table.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.context import Bench, BenchError
from bench.results import Result, Target
from bench.server import new_database
from bench.timing import Sample, compare
from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.db import Database, Json
from peer_badges.definitions_cache import cached_org_definitions

PLAIN_INSERT_SQL = """
INSERT INTO bench_award_plain (org_id, peer_mentor_id, badge_definition_id, level, earned_at, awarded_by,
                               source, definition_revision, criteria_snapshot, note)
VALUES (:org, :mentor, :definition, :level, :earned_at, NULL, 'evaluation', :revision,
        CAST(:criteria AS jsonb), NULL)
"""


def _command(org_id: uuid.UUID, definition: AwardDefinition, mentor: uuid.UUID) -> AwardCommand:
    return AwardCommand(
        org_id=org_id,
        peer_mentor_id=mentor,
        definition=definition,
        level=1,
        earned_at=datetime.now(UTC).date(),
        source="evaluation",
    )


def _award(db: Database, command: AwardCommand) -> Any:
    with db.transaction() as tx:
        return award(tx, command)


def _plain_insert(db: Database, org_id: uuid.UUID, definition: AwardDefinition) -> None:
    with db.transaction() as tx:
        tx.execute(
            PLAIN_INSERT_SQL,
            org=org_id,
            mentor=uuid.uuid4(),
            definition=definition.id,
            level=1,
            earned_at=datetime.now(UTC).date(),
            revision=definition.revision,
            criteria=Json(definition.criteria),
        )


def _definition(bench: Bench) -> AwardDefinition:
    org = bench.data.big
    by_key = {d.key: d for d in cached_org_definitions(bench.db, org.id)}
    return AwardDefinition.of(by_key.get("innsats") or next(iter(by_key.values())))


def run(bench: Bench) -> None:
    org_id = bench.data.big.id
    definition = _definition(bench)
    iterations = bench.n(300, 60)

    def new_key() -> None:
        if not _award(bench.db, _command(org_id, definition, uuid.uuid4())).created:
            raise BenchError("a new key was not awarded")

    existing = _command(org_id, definition, uuid.uuid4())
    _award(bench.db, existing)

    def existing_key() -> None:
        if _award(bench.db, existing).created:
            raise BenchError("an existing key was awarded again")

    def plain() -> None:
        _plain_insert(bench.db, org_id, definition)

    for name, operation in (("new", new_key), ("existing", existing_key)):
        ours, baseline = compare(operation, plain, warmup=20, iterations=iterations)
        bench.add(
            Result.of(
                f"award_{name}",
                f"award, {name} key (own transaction)",
                ours,
                "bare INSERT + COMMIT, same-width row",
                baseline,
                Target("ratio_max", 2),
                note="lock, insert, audit, event outbox" if name == "new" else "lock, find the existing row",
            )
        )
    _contended(bench, org_id, definition)


def _in_threads(
    databases: list[Database], work: Callable[[int, Database], list[float]]
) -> tuple[float, Sample]:
    """Runs `work` once per connection, all started together; (wall ms, per-call latencies)."""
    start = threading.Barrier(len(databases) + 1)
    latencies: list[list[float]] = [[] for _ in databases]
    errors: list[BaseException] = []

    def body(index: int, db: Database) -> None:
        try:
            start.wait()
            latencies[index] = work(index, db)
        except BaseException as error:  # reported below; a thread must not die silently
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i, db)) for i, db in enumerate(databases)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = (time.perf_counter() - began) * 1000
    if errors:
        raise BenchError(f"contended run failed: {errors[0]!r}") from errors[0]
    return wall, Sample(tuple(t for per_thread in latencies for t in per_thread))


def _timed(operation: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = operation()
    return (time.perf_counter() - started) * 1000, value


def _contended(bench: Bench, org_id: uuid.UUID, definition: AwardDefinition) -> None:
    threads, keys = bench.options.threads, bench.n(100, 30)
    mentors = [uuid.uuid4() for _ in range(keys)]
    databases = [new_database(bench.settings) for _ in range(threads)]
    try:
        for db in databases:
            db.query("SELECT 1")  # connect before the clock starts
        ids: list[dict[uuid.UUID, uuid.UUID]] = [{} for _ in databases]

        def awarding(index: int, db: Database) -> list[float]:
            order = mentors[:]
            random.Random(index).shuffle(order)
            times = []
            for mentor in order:
                elapsed, outcome = _timed(lambda m=mentor: _award(db, _command(org_id, definition, m)))
                ids[index][mentor] = outcome.badge.id
                times.append(elapsed)
            return times

        def inserting(index: int, db: Database) -> list[float]:
            return [_timed(lambda: _plain_insert(db, org_id, definition))[0] for _ in mentors]

        ours_wall, ours = _in_threads(databases, awarding)
        base_wall, baseline = _in_threads(databases, inserting)
    finally:
        for db in databases:
            db.close()
    rows = bench.db.query_one(
        "SELECT count(*) AS n FROM earned_badges WHERE peer_mentor_id = ANY (CAST(:m AS uuid[]))", m=mentors
    )
    distinct = {frozenset(per_thread[m] for per_thread in ids) for m in mentors}
    if (rows or {}).get("n") != keys or any(len(same) != 1 for same in distinct):
        raise BenchError(f"contended awards: {rows} rows for {keys} keys, or callers got different ids")
    calls = threads * keys
    bench.add(
        Result(
            id="award_contended",
            title=f"award contended, {threads} threads x {keys} keys",
            median=ours_wall / calls,
            p95=ours.p95,
            baseline_title=f"{threads} threads x {keys} bare INSERT + COMMIT",
            baseline_median=base_wall / calls,
            baseline_p95=baseline.p95,
            note=f"{calls / ours_wall * 1000:,.0f} awards/s vs {calls / base_wall * 1000:,.0f} inserts/s; "
            f"{keys} rows, one id per key",
            n=calls,
            extra={
                "awards_per_s": round(calls / ours_wall * 1000, 1),
                "inserts_per_s": round(calls / base_wall * 1000, 1),
                "median_ms_means": "wall time per call (1 / throughput); p95 is per-call latency",
                "per_call_median_ms": round(ours.median, 4),
            },
        )
    )
