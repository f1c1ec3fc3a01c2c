"""Evaluate per activity event: one new activity, then the mentor's evaluation, at every probe size.

Each iteration is one transaction on the container's connection: insert an activity dated today
(the stats triggers run), evaluate the mentor, roll back, so every iteration sees the same state.
Only the evaluation is timed. Ours is `peer_badges.mentor_evaluation.evaluate_mentor` (what the outbox drain
runs); the baseline is bench.naive, which recomputes every fact from the raw activities. Before
timing, both must find the same awards with the same earned_at for a mentor with nothing earned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from bench.context import Bench, BenchError
from bench.naive import naive_due, naive_evaluate_mentor
from bench.results import Result, Target
from bench.timing import Operation, Stopwatch, interleaved
from peer_badges.clock import OrgClock
from peer_badges.db import Transaction
from peer_badges.definitions_cache import cached_org_definitions
from peer_badges.evaluation import evaluate, required_facts
from peer_badges.mentor_evaluation import evaluate_mentor
from peer_badges.stats import load_facts

INSERT_SQL = """
INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
VALUES (:org_id, :mentor_id, 'visit', :today, 45)
"""

TARGET_SIZES = (50, 500, 5000)


class _Rollback(Exception):
    pass


Evaluate = Callable[..., Any]


def _event(bench: Bench, evaluate_one: Evaluate, org_id: UUID, mentor: UUID, today: Any) -> float:
    """One activity event in a transaction that is rolled back; returns the evaluation's ms."""
    watch = Stopwatch()
    try:
        with bench.db.transaction() as tx:
            tx.execute(INSERT_SQL, org_id=org_id, mentor_id=mentor, today=today)
            with watch:
                evaluate_one(tx, org_id, mentor, today=today)
            raise _Rollback
    except _Rollback:
        pass
    return watch.ms


def _ours(tx: Transaction, org_id: UUID, mentor: UUID, *, today: Any) -> None:
    evaluate_mentor(tx, org_id, mentor, today=today, backfill=False)


def _agree(bench: Bench, org_id: UUID, mentor: UUID, today: Any) -> int:
    """Ours and the naive evaluation find the same (definition, level, earned_at) from scratch."""
    with bench.db.transaction() as tx:
        live = [d for d in cached_org_definitions(tx, org_id) if d.live]
        facts = load_facts(tx, org_id, mentor, required_facts(live, [], today), live)
        ours = {(d.badge_definition_id, d.level, d.earned_at) for d in evaluate(facts, live, [], today).due}
        naive = {
            (d.definition.id, d.level, d.earned_at) for d in naive_due(tx, org_id, mentor, today, live, [])
        }
    if ours != naive:
        raise BenchError(
            f"the naive evaluation disagrees with ours for mentor {mentor}: "
            f"only ours {sorted(map(str, ours - naive))}, only naive {sorted(map(str, naive - ours))}"
        )
    return len(ours)


def run(bench: Bench) -> None:
    org = bench.data.big
    today = OrgClock(datetime.now(UTC)).today(bench.db, org.id)
    definitions = len(cached_org_definitions(bench.db, org.id))
    agreed: dict[int, int] = {}
    operations: dict[tuple[str, int], Operation] = {}
    for size, mentor in sorted(bench.data.probes.items()):
        agreed[size] = _agree(bench, org.id, mentor, today)
        # Steady state: everything already earned is awarded (and committed) before timing.
        with bench.db.transaction() as tx:
            _ours(tx, org.id, mentor, today=today)

        def ours(mentor: UUID = mentor) -> float:
            return _event(bench, _ours, org.id, mentor, today)

        def naive(mentor: UUID = mentor) -> float:
            return _event(bench, naive_evaluate_mentor, org.id, mentor, today)

        operations["ours", size] = ours
        operations["naive", size] = naive
    # Round-robin over every size: the flatness comparison between sizes is not skewed by load drift.
    samples = interleaved(operations, warmup=3, iterations=bench.n(40, 10))
    for size in sorted(bench.data.probes):
        ours_sample, naive_sample = samples["ours", size], samples["naive", size]
        bench.plot("evaluate (snapshot)", size, ours_sample.median, ours_sample.p95)
        bench.plot("evaluate (naive recompute)", size, naive_sample.median, naive_sample.p95)
        if size in TARGET_SIZES:
            bench.add(
                Result.of(
                    f"evaluate_{size}",
                    f"evaluate per activity, {size:,} activities",
                    ours_sample,
                    "naive recompute from raw activities",
                    naive_sample,
                    Target("ratio_max", 0.1) if size == max(TARGET_SIZES) else None,
                    note=f"{definitions} definitions; naive agrees on {agreed[size]} levels",
                )
            )
    # Flat means a longer history costs no more: the slowest larger history against the smallest.
    # (A larger history may well be cheaper: everything it can earn is earned, nothing left to find.)
    measured = {size: samples["ours", size] for size in bench.data.probes if size in TARGET_SIZES}
    if len(measured) >= 2:
        smallest = min(measured)
        slowest = max((s for s in measured if s != smallest), key=lambda s: measured[s].median)
        bench.add(
            Result.of(
                "evaluate_flat",
                f"evaluate at {slowest:,} vs {smallest:,} activities",
                measured[slowest],
                f"evaluate at {smallest:,} activities",
                measured[smallest],
                Target("ratio_max", 1.25),
                note="slowest of " + "/".join(f"{s:,}" for s in sorted(measured) if s != smallest),
            )
        )
