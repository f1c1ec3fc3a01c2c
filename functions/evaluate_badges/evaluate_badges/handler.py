"""evaluate_badges: drain the outbox (schedule, DB nudge), reconcile (daily), and the admin API route.

One function serves three triggers; the event's shape says which: an HTTP API v2 event goes to the
resolver, anything else is a job `{"action": "drain" | "reconcile", ...}` (the DB nudge sends
`{"action": "drain", "source": "db-nudge"}`).
"""

import gc

# Init (imports, pydantic validators, routes) builds objects that live as long as the container, and
# the collector's passes while they are made only re-scan them: ~15 ms of a cold start. It is paused
# for init; what init built is then frozen out of its scans, and it runs again for the invocations.
gc.disable()

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from evaluate_badges import jobs
from evaluate_badges.routes import router
from peer_badges.api import create_app

logger = Logger(service="peer-badges")
metrics = Metrics(namespace="PeerBadges", service="peer-badges")
app = create_app()
app.include_router(router)
gc.freeze()
gc.enable()


def _is_http(event: dict[str, Any]) -> bool:
    return isinstance(event.get("requestContext"), dict) and "http" in event["requestContext"]


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if _is_http(event):
        logger.set_correlation_id(event["requestContext"].get("requestId"))
        return app.resolve(event, context)
    logger.set_correlation_id(context.aws_request_id)
    return jobs.run(event, metrics)
