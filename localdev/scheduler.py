"""The local stand-in for evaluate_badges' drain schedule: the same event, every second, and at once
when the database invokes the function.

In AWS the database's trigger invokes the function as soon as a transaction queues mentors, and an
EventBridge schedule invokes it with the template's `{"action": "drain"}` input every minute as the
safety net. Locally the database trigger's stand-in notifies `localdev.invocations`, which wakes this
loop (`wake()`); the loop also fires on its own every `DRAIN_INTERVAL_S`, the schedule's stand-in.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from localdev.lambda_runtime import Invoker
from localdev.template_routes import Schedule, schedules

logger = logging.getLogger("localdev.scheduler")

# The safety net: a drain this often even if no invocation arrives (the database trigger disabled,
# the listener reconnecting). Awards still appear within the SPEC's 2 s without the trigger.
DRAIN_INTERVAL_S = 1.0
# Small batches: every function shares one in-process lock locally, so a long drain would stall the
# API behind it. A batch that found work is followed at once by the next one.
LOCAL_BATCH = {"batch_size": 25, "max_batches": 1}
_REPEAT_LOG_S = 30.0
DRAIN_THREAD = "outbox-drain"


def drain_schedule(table: list[Schedule] | None = None) -> Schedule:
    """The template's schedule whose input asks for a drain."""
    for schedule in schedules() if table is None else table:
        if schedule.input.get("action") == "drain":
            return schedule
    raise LookupError('template.yaml has no schedule with Input {"action": "drain"}')


class IdleDrainFilter(logging.Filter):
    """Drops the drain loop's info-level records about drains that found nothing to do.

    In AWS the drain runs once a minute and its summary line is useful; locally it runs twice a
    second, and idle summaries would bury everything else. Warnings and errors always pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or record.threadName != DRAIN_THREAD:
            return True
        worked = [getattr(record, name, None) for name in ("claimed_rows", "events_sent", "awarded")]
        return any(value not in (None, 0) for value in worked) or all(value is None for value in worked)


def quiet_idle_drains(logger_name: str = "peer-badges") -> None:
    """Attach IdleDrainFilter to the handlers of the layer's Powertools logger."""
    for handler in logging.getLogger(logger_name).handlers:
        if not any(isinstance(existing, IdleDrainFilter) for existing in handler.filters):
            handler.addFilter(IdleDrainFilter())


class DrainLoop:
    def __init__(self, invoker: Invoker, schedule: Schedule, interval_s: float = DRAIN_INTERVAL_S) -> None:
        self.invoker = invoker
        self.schedule = schedule
        self.interval_s = interval_s
        self.invocations = 0  # started
        self.completed = 0  # returned or failed: the shared connection is free again
        self.failures = 0
        self._last_logged = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=DRAIN_THREAD, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the loop to stop and wait for the invocation in flight to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """Drain now (an invocation arrived) instead of at the next tick; wakes while busy coalesce."""
        self._wake.set()

    def run_once(self) -> Any:
        self.invocations += 1
        try:
            return self.invoker.invoke(
                self.schedule.function_logical_id, {**self.schedule.input, **LOCAL_BATCH}
            )
        finally:
            self.completed += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            # Invocations that arrive during this drain are covered by it only if their rows were
            # committed before its claim; clearing first makes a later one drain once more.
            self._wake.clear()
            try:
                summary = self.run_once()
                if isinstance(summary, dict) and (summary.get("claimed_rows") or summary.get("events_sent")):
                    continue
            except Exception:
                # The function failed as a whole (a row-level failure is handled inside it); the
                # schedule just fires again, as EventBridge would. A persistent failure (say, the
                # database is down) is logged every 30 s rather than twice a second.
                self.failures += 1
                if time.monotonic() - self._last_logged >= _REPEAT_LOG_S:
                    self._last_logged = time.monotonic()
                    logger.exception("%s drain invocation failed", self.schedule.function_logical_id)
            self._wake.wait(self.interval_s)
