"""Activity to badge, locally, through the database trigger (sql/012) as `make run` wires it.

A new mentor's first activity is inserted and committed by the app's connection; the time runs until
the badge row is visible. Ours: the trigger's stand-in invoke NOTIFYs at commit, the listener wakes
the drain loop (localdev.invocations), the real evaluate_badges handler drains and awards. The
baseline is the previous local mode in the same run: no trigger, the drain schedule's stand-in
firing every 0.5 s. Target: p95 <= 300 ms.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.context import Bench, BenchError
from bench.results import Result, Target
from bench.timing import Sample
from localdev.invocations import InvocationListener, dispatcher
from localdev.lambda_runtime import Invoker, install_lambda_paths
from localdev.scheduler import DrainLoop, drain_schedule
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import set_events_client

POLL_INTERVAL_S = 0.5  # the local schedule before the trigger
GIVE_UP_S = 10.0


class AcceptingBus:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def run(bench: Bench) -> None:
    install_lambda_paths()  # the functions' packages, as the local API finds them (not only after other scenarios)
    # EMF lines from every drain would bury the report (as `make run` does, see localdev.run).
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    org_id, today = bench.data.big.id, bench.data.today
    definition = bench.raw.run(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
           VALUES (:o, :k, 'Bench: first activity', CAST(:c AS jsonb), now() - interval '1 year',
                   now() - interval '1 year') RETURNING id""",
        o=org_id,
        k=f"bench-first-{uuid.uuid4().hex[:6]}",
        c=json.dumps({"type": "threshold", "schema_version": 1, "threshold": 1}),
    )[0][0]
    # Defined a year ago: its backfill ran then. And what earlier scenarios queued (reconcile's awards
    # queue the holders of a prerequisite) was evaluated: the timing is of one new write's award, not of
    # a drain working through a backlog in front of it.
    bench.raw.run(
        "UPDATE definition_backfills SET status = 'done', processed_at = now() WHERE status = 'pending'"
    )
    bench.raw.run(
        "UPDATE evaluation_outbox SET status = 'done', processed_at = now() WHERE status = 'pending'"
    )
    definitions_cache.invalidate()
    set_events_client(AcceptingBus())
    schedule = drain_schedule()
    iterations = bench.n(60, 15)
    try:
        bench.raw.run("SELECT configure_lambda_invocation(:f, NULL, false)", f=schedule.function_logical_id)
        polled = _measure(bench, org_id, today, definition, iterations, schedule, interval_s=POLL_INTERVAL_S)
        bench.raw.run("SELECT configure_lambda_invocation(:f, NULL, true)", f=schedule.function_logical_id)
        triggered = _measure(bench, org_id, today, definition, iterations, schedule, listen=True)
    finally:
        bench.raw.run("DELETE FROM lambda_invocation_target")
        set_events_client(None)
    bench.add(
        Result.of(
            "activity_to_badge_trigger",
            "activity to badge, local (commit, DB trigger, NOTIFY, drain)",
            triggered,
            f"drain schedule every {POLL_INTERVAL_S} s, no trigger (the old local mode)",
            polled,
            Target("p95_max", 300),
            note="a new mentor's first activity; time until the badge row is visible",
        )
    )


def _measure(
    bench: Bench,
    org_id: uuid.UUID,
    today: Any,
    definition: uuid.UUID,
    iterations: int,
    schedule: Any,
    *,
    interval_s: float = 1.0,
    listen: bool = False,
) -> Sample:
    loop = DrainLoop(Invoker(), schedule, interval_s=interval_s)
    listener = InvocationListener(
        bench.url, dispatcher(schedule.function_logical_id, loop.wake, Invoker().invoke)
    )
    loop.start()
    if listen:
        listener.start()
        if not listener.listening.wait(10):
            raise BenchError("the invocation listener never connected")
    try:
        return Sample(
            tuple(_activity_to_badge(bench, org_id, today, definition) for _ in range(iterations + 3))[3:]
        )
    finally:
        listener.stop()
        loop.stop()


def _activity_to_badge(bench: Bench, org_id: uuid.UUID, today: Any, definition: uuid.UUID) -> float:
    mentor = uuid.uuid4()
    bench.writer.query(
        "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :m, 'peer_mentor')", o=org_id, m=mentor
    )
    started = time.perf_counter()
    bench.writer.query(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
           VALUES (:o, :m, 'assignment', :d, 60)""",
        o=org_id,
        m=mentor,
        d=today,
    )
    _until(
        lambda: bool(
            bench.raw.run(
                "SELECT 1 FROM earned_badges WHERE peer_mentor_id = :m AND badge_definition_id = :d",
                m=mentor,
                d=definition,
            )
        )
    )
    return (time.perf_counter() - started) * 1000


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GIVE_UP_S
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"no badge {GIVE_UP_S:g} s after the activity")
        time.sleep(0.002)
