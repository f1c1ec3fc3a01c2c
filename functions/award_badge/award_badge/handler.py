"""award_badge: list, manually award and revoke a mentor's earned badges (SPEC section 5); payouts
(SPEC 8.4); a person's data export and erasure (SPEC 8.5); Open Badges 3.0 credentials with the public
documents verifiers fetch (SPEC 8.6)."""

import gc

# Init (imports, pydantic validators, routes) builds objects that live as long as the container, and
# the collector's passes while they are made only re-scan them: ~15 ms of a cold start. It is paused
# for init; what init built is then frozen out of its scans, and it runs again for the invocations.
gc.disable()

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from award_badge import credential_routes, public_routes
from award_badge.payout_routes import router as payout_router
from award_badge.personal_data_routes import router as personal_data_router
from award_badge.routes import router
from peer_badges.api import create_app

logger = Logger(service="peer-badges")
metrics = Metrics(namespace="PeerBadges", service="peer-badges")
app = create_app()
app.include_router(router)
app.include_router(payout_router)
app.include_router(credential_routes.router)
app.include_router(public_routes.router)
app.include_router(personal_data_router)
gc.freeze()
gc.enable()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
