"""The deploy-time custom resource: migrates, points the database trigger, answers CloudFormation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.pg import admin_connection
from migrate_database import handler
from peer_badges.migrations import default_directory, discover
from peer_badges.settings import get_settings
from tests.aws import CloudFormation
from tests.helpers import LambdaContext

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "migrate_database" / "create.json"


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    receiver = CloudFormation()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def empty_database(database_factory: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = database_factory()
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _event(cloudformation: CloudFormation, request_type: str = "Create", **properties: str) -> dict[str, Any]:
    event = json.loads(SAMPLE.read_text())
    event["RequestType"] = request_type
    event["ResponseURL"] = cloudformation.url
    event["ResourceProperties"].update(properties)
    if request_type != "Create":
        event["PhysicalResourceId"] = "DatabaseMigrations-migrations"
    return event


def _target(url: str) -> list[list[Any]]:
    conn = admin_connection(url)
    try:
        return conn.run("SELECT function_name, region, enabled FROM lambda_invocation_target")
    finally:
        conn.close()


def test_create_migrates_an_empty_database_and_enables_the_trigger(
    empty_database: str, cloudformation: CloudFormation
) -> None:
    event = _event(cloudformation)

    handler.lambda_handler(event, LambdaContext())

    [answer] = cloudformation.answers
    everything = ", ".join(m.version for m in discover(default_directory()))
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["content_type"] == ""
    assert answer["Data"] == {
        "Applied": everything,
        "DatabaseTrigger": "enabled, via stand-in (NOTIFY aws_lambda_invoke)",
    }
    assert answer["PhysicalResourceId"] == "DatabaseMigrations-migrations"
    assert {answer[k] == event[k] for k in ("StackId", "RequestId", "LogicalResourceId")} == {True}
    assert _target(empty_database) == [
        [event["ResourceProperties"]["EvaluateFunctionArn"], "eu-north-1", True]
    ]


def test_an_update_applies_nothing_twice_and_can_turn_the_trigger_off(
    empty_database: str, cloudformation: CloudFormation
) -> None:
    handler.lambda_handler(_event(cloudformation), LambdaContext())

    handler.lambda_handler(
        _event(cloudformation, "Update", DatabaseTriggerInvocations="false"), LambdaContext()
    )

    answer = cloudformation.answers[-1]
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"] == {"Applied": "none pending", "DatabaseTrigger": "disabled"}
    assert answer["PhysicalResourceId"] == "DatabaseMigrations-migrations"
    assert _target(empty_database)[0][2] is False


def test_a_failing_migration_fails_the_deploy_with_the_runners_message(
    empty_database: str, cloudformation: CloudFormation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(default_directory(), folder)
    (folder / "999_broken.sql").write_text("SELECT no_such_function();\n")
    monkeypatch.setattr(handler, "SQL_DIRECTORY", folder)

    handler.lambda_handler(_event(cloudformation, "Update"), LambdaContext())

    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(
        "MigrationError: 999_broken.sql failed and was rolled back: 42883 function"
    )
    assert answer["Data"] == {}


def test_invalid_properties_fail_without_touching_the_database(
    empty_database: str, cloudformation: CloudFormation
) -> None:
    handler.lambda_handler(_event(cloudformation, DatabaseTriggerInvocations="maybe"), LambdaContext())

    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED" and "DatabaseTriggerInvocations" in answer["Reason"]
    conn = admin_connection(empty_database)
    try:
        assert conn.run("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [[0]]
    finally:
        conn.close()


def test_delete_leaves_the_schema_alone(empty_database: str, cloudformation: CloudFormation) -> None:
    handler.lambda_handler(_event(cloudformation), LambdaContext())

    handler.lambda_handler(_event(cloudformation, "Delete"), LambdaContext())

    answer = cloudformation.answers[-1]
    assert (answer["Status"], answer["Data"]) == ("SUCCESS", {})
    assert _target(empty_database) != []
