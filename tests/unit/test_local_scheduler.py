"""The local drain schedule: the template's drain input, fired continuously, stoppable, quiet when idle."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from localdev.scheduler import DRAIN_THREAD, LOCAL_BATCH, DrainLoop, IdleDrainFilter, drain_schedule
from localdev.template_routes import Schedule


class CountingFunctions:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.events.append((logical_id, event))
        if self.fail:
            raise RuntimeError("database down")
        return {"claimed_rows": 0}


def _wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_drain_schedule_comes_from_the_template() -> None:
    schedule = drain_schedule()
    assert schedule.function_logical_id == "EvaluateBadgesFunction"
    assert schedule.input == {"action": "drain"}


def test_the_loop_invokes_the_function_with_the_schedules_input_until_stopped() -> None:
    # Given a loop firing every 10 ms
    functions = CountingFunctions()
    loop = DrainLoop(functions, drain_schedule(), interval_s=0.01)  # type: ignore[arg-type]
    # When it runs for a while and is stopped
    loop.start()
    _wait_for(lambda: len(functions.events) >= 3)
    loop.stop()
    fired = len(functions.events)
    time.sleep(0.05)
    # Then it fired the template's event (in small local batches) repeatedly, and nothing after stop
    assert fired >= 3 and len(functions.events) == fired
    assert functions.events[0] == ("EvaluateBadgesFunction", {"action": "drain", **LOCAL_BATCH})


def test_a_failing_function_does_not_stop_the_loop() -> None:
    functions = CountingFunctions(fail=True)
    schedule = Schedule("DrainOutbox", "EvaluateBadgesFunction", "rate(1 minute)", {"action": "drain"})
    loop = DrainLoop(functions, schedule, interval_s=0.01)  # type: ignore[arg-type]
    loop.start()
    _wait_for(lambda: loop.failures >= 3)
    loop.stop()
    assert loop.failures >= 3


def _record(level: int, thread: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("peer-badges", level, __file__, 1, "drain finished", None, None)
    record.threadName = thread
    record.__dict__.update(extra)
    return record


def test_idle_drain_summaries_are_dropped_and_everything_else_kept() -> None:
    quiet = IdleDrainFilter()
    assert not quiet.filter(_record(logging.INFO, DRAIN_THREAD, claimed_rows=0, events_sent=0, awarded=0))
    assert quiet.filter(_record(logging.INFO, DRAIN_THREAD, claimed_rows=4, events_sent=0, awarded=1))
    assert quiet.filter(_record(logging.WARNING, DRAIN_THREAD, claimed_rows=0, events_sent=0, awarded=0))
    assert quiet.filter(_record(logging.INFO, threading.current_thread().name, claimed_rows=0, events_sent=0))
    assert quiet.filter(_record(logging.INFO, DRAIN_THREAD))
