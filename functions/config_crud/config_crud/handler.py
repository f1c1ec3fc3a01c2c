"""config_crud: organisation admins' badge definitions (SPEC section 5), settings and streak pauses."""

import gc

# Init (imports, pydantic validators, routes) builds objects that live as long as the container, and
# the collector's passes while they are made only re-scan them: ~15 ms of a cold start. It is paused
# for init; what init built is then frozen out of its scans, and it runs again for the invocations.
gc.disable()

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from config_crud.pause_routes import router as pause_router
from config_crud.routes import router
from config_crud.settings_routes import router as settings_router
from peer_badges.api import create_app

logger = Logger(service="peer-badges")
metrics = Metrics(namespace="PeerBadges", service="peer-badges")
app = create_app()
app.include_router(router)
app.include_router(settings_router)
app.include_router(pause_router)
gc.freeze()
gc.enable()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
