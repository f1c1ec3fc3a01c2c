"""MigrateDatabase: the CloudFormation custom resource that migrates the database on every deploy.

CloudFormation calls it on Create and on every Update; the template gives it a property that
changes whenever the migrations do (the function's code version), plus the database trigger's
target, so a deploy that changes either runs it. It connects with the schema owner's secret,
applies pending migrations with the layer's runner (peer_badges.migrations), points the database
trigger at evaluate_badges (or disables it), and answers SUCCESS with what it did, or FAILED with
the runner's message, which CloudFormation shows as the reason and rolls the deploy back on.
Delete does nothing: the schema belongs to the database, which outlives the stack.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from peer_badges.migrations import DEFAULT_STATEMENT_TIMEOUT_MS, migrate, owner_connection

logger = Logger(service="peer-badges")

SQL_DIRECTORY = Path(__file__).resolve().parent.parent / "sql"
# Room to answer CloudFormation after a statement is cancelled: an unanswered request stalls the
# stack for an hour.
_ANSWER_MARGIN_MS = 30_000
_REASON_LIMIT = 3_000


class Target(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    function_arn: str = Field(alias="EvaluateFunctionArn", min_length=1)
    region: str = Field(alias="Region", min_length=1)
    enabled: Literal["true", "false"] = Field(alias="DatabaseTriggerInvocations")
    lock_timeout_ms: int = Field(default=5_000, alias="LockTimeoutMs", ge=100, le=60_000)


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    PhysicalResourceId: str | None = None
    ResourceProperties: dict[str, Any] = Field(default_factory=dict)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = Request.model_validate(event)
    logger.set_correlation_id(request.RequestId)
    try:
        data = {} if request.RequestType == "Delete" else run(request, context.get_remaining_time_in_millis())
        answer = {
            "Status": "SUCCESS",
            "Reason": "; ".join(f"{k}: {v}" for k, v in data.items()) or "nothing to do",
        }
    except Exception as error:
        logger.exception("migrations failed", extra={"request_type": request.RequestType})
        data, answer = {}, {"Status": "FAILED", "Reason": f"{type(error).__name__}: {error}"[:_REASON_LIMIT]}
    body = {
        **answer,
        # One physical resource for the stack's life: an Update never replaces (and so never deletes) it.
        "PhysicalResourceId": request.PhysicalResourceId or f"{request.LogicalResourceId}-migrations",
        "StackId": request.StackId,
        "RequestId": request.RequestId,
        "LogicalResourceId": request.LogicalResourceId,
        "Data": data,
    }
    respond(request.ResponseURL, body)
    return body


def run(request: Request, remaining_ms: int) -> dict[str, str]:
    target = Target.model_validate(request.ResourceProperties)
    statement_timeout_ms = max(1_000, min(DEFAULT_STATEMENT_TIMEOUT_MS, remaining_ms - _ANSWER_MARGIN_MS))
    applied = migrate(
        directory=SQL_DIRECTORY,
        lock_timeout_ms=target.lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
    )
    logger.info("migrations applied", extra={"applied": applied})
    conn = owner_connection(statement_timeout_ms=statement_timeout_ms)
    try:
        mode = conn.run(
            "SELECT configure_lambda_invocation(:arn, :region, :enabled)",
            arn=target.function_arn,
            region=target.region,
            enabled=target.enabled == "true",
        )[0][0]
    finally:
        conn.close()
    trigger = f"enabled, via {mode}" if target.enabled == "true" else "disabled"
    return {"Applied": ", ".join(applied) or "none pending", "DatabaseTrigger": trigger}


def respond(url: str, body: dict[str, Any]) -> None:
    """PUT the answer to CloudFormation's pre-signed S3 URL (the content type must be empty)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the ResponseURL is not an http(s) URL")
    data = json.dumps(body).encode()
    # S310: the scheme is checked just above (CloudFormation's is https; the tests' is http).
    put = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(put, timeout=30) as reply:  # noqa: S310
        reply.read()
