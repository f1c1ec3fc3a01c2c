"""get_stats warm: the real handler at every probe size, against a bare primary-key lookup.

All sizes and their lookups are measured round-robin, so the comparison between sizes (the read
must not grow with history) is not skewed by load changing during the run.
"""

from __future__ import annotations

from typing import Any

from bench.context import Bench, BenchError, call_stats_handler, stats_event
from bench.results import Result, Target
from bench.timing import Operation, interleaved

PK_LOOKUP_SQL = "SELECT * FROM mentor_stats WHERE org_id = :org_id AND peer_mentor_id = :mentor_id"


def run(bench: Bench) -> None:
    org = bench.data.big
    operations: dict[tuple[str, int], Operation] = {}
    for size, mentor in sorted(bench.data.probes.items()):
        event = stats_event(org.id, mentor)
        total = call_stats_handler(event)[1]["assignment_count"]["total"]
        if total != size:
            raise BenchError(f"probe mentor has {total} activities, not {size}")

        def handler(event: dict[str, Any] = event) -> float:
            return call_stats_handler(event)[0]

        def pk_lookup(mentor: object = mentor) -> None:
            bench.db.query(PK_LOOKUP_SQL, org_id=org.id, mentor_id=mentor)

        operations["handler", size] = handler
        operations["pk", size] = pk_lookup
    samples = interleaved(operations, warmup=20, iterations=bench.n(300, 60))
    sizes = sorted(bench.data.probes)
    for size in sizes:
        ours, baseline = samples["handler", size], samples["pk", size]
        bench.plot("get_stats handler (warm)", size, ours.median, ours.p95)
        bench.plot("primary-key lookup", size, baseline.median, baseline.p95)
        if size in (sizes[0], sizes[-1]):
            bench.add(
                Result.of(
                    f"get_stats_warm_{size}",
                    f"get_stats warm, {size:,} activities",
                    ours,
                    "bare PK lookup of mentor_stats",
                    baseline,
                    Target("ratio_max", 2.5),
                    note="one statement: access, definitions version and stats together",
                )
            )
    low, high = sizes[0], sizes[-1]
    bench.add(
        Result.of(
            "get_stats_flat",
            f"get_stats at {high:,} vs {low:,} activities",
            samples["handler", high],
            f"get_stats at {low:,} activities",
            samples["handler", low],
            Target("ratio_band", 1.2),
            note="the read must not grow with history",
        )
    )
