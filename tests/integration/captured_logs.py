"""Everything the handlers log, as the JSON lines CloudWatch would receive."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Adds a handler with Powertools' own formatter (so exceptions and extra keys are included)
    to the service's logger, which every module's Logger(service="peer-badges") writes through."""
    service_logger = Logger(service="peer-badges")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(service_logger.registered_formatter)
    python_logger = logging.getLogger("peer-badges")
    python_logger.addHandler(handler)
    try:
        yield stream
    finally:
        python_logger.removeHandler(handler)
