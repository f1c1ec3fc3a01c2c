"""The local end of the database's Lambda invocations: LISTEN where the stand-in `aws_lambda.invoke`
(sql/012) sends them, and hand each to the local runtime.

In AWS the `aws_lambda` extension calls the Lambda API; here the stand-in NOTIFYs the channel
`aws_lambda_invoke` with `{"function_name", "payload", ...}` when the writing transaction commits.
A drain for the drain loop's function wakes that loop (so drains never overlap and a burst of
invocations becomes one or two drains); any other invocation runs the named function with its
payload. A lost connection is retried every second; meanwhile the loop's own schedule drains.

psycopg is used for the blocking wait (`Connection.notifies`), which pg8000 has no public API for.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

logger = logging.getLogger("localdev.invocations")

CHANNEL = "aws_lambda_invoke"
LISTENER_THREAD = "db-invocations"
_RECONNECT_S = 1.0
_POLL_S = 0.5  # how often the blocking wait looks at the stop flag


class InvocationListener:
    def __init__(self, database_url: str, on_invocation: Callable[[str, dict[str, Any]], None]) -> None:
        self.database_url = database_url
        self.on_invocation = on_invocation
        self.received = 0
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=LISTENER_THREAD, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.database_url, autocommit=True, application_name="localdev-listener"
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=_POLL_S):
                            self._dispatch(notify.payload)
            except psycopg.Error as error:
                self.listening.clear()
                if not self._stop.is_set():
                    logger.warning("database invocation listener lost its connection (%s); retrying", error)
                    self._stop.wait(_RECONNECT_S)

    def _dispatch(self, raw: str) -> None:
        self.received += 1
        try:
            invocation = json.loads(raw)
            function_name, payload = invocation["function_name"], invocation["payload"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed invocation on %s: %.200s", CHANNEL, raw)
            return
        try:
            self.on_invocation(function_name, payload)
        except Exception:
            # An asynchronous invocation's failure is the function's, as in Lambda: log and go on.
            logger.exception("invocation of %s from the database failed", function_name)


def dispatcher(
    drain_function: str, wake_drain: Callable[[], None], invoke: Callable[[str, dict[str, Any]], Any]
) -> Callable[[str, dict[str, Any]], None]:
    """Drains of `drain_function` wake the drain loop; anything else is invoked as sent."""

    def on_invocation(function_name: str, payload: dict[str, Any]) -> None:
        if function_name == drain_function and payload.get("action") == "drain":
            wake_drain()
        else:
            invoke(function_name, payload)

    return on_invocation
