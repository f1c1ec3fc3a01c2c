"""template.yaml's wiring, end to end, without deploying: every route, schedule and trigger path reaches
a handler the code has; every alarm watches a metric the code emits; every AWS call a handler makes is
granted to its role. Everything is read from the template itself, so adding a route, schedule, alarm
or AWS call without its other half fails here.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from localdev.lambda_runtime import Invoker, function_settings
from localdev.template_routes import load_template, routes, schedules
from peer_badges.db import Database
from peer_badges.events import set_events_client
from tests.helpers import LambdaContext

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
NAMESPACE = "PeerBadges"
SERVICE = "peer-badges"


def _handler(logical_id: str) -> Any:
    module_name, _, attribute = function_settings(logical_id)["Handler"].rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


# --- routes, schedules, triggers ------------------------------------------------------------------


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_served_by_the_function_the_template_sends_it_to(route: Any) -> None:
    _handler(route.function_logical_id)  # the template's Handler string resolves
    module = importlib.import_module(
        function_settings(route.function_logical_id)["Handler"].rpartition(".")[0]
    )
    served = json.loads(module.app.get_openapi_json_schema())["paths"]
    assert route.method.lower() in served.get(route.path, {}), (
        f"{route.function_logical_id} has no {route.method} {route.path}"
    )


class AcceptingBus:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


@pytest.fixture
def bus() -> Iterator[None]:
    set_events_client(AcceptingBus())
    yield
    set_events_client(None)


@pytest.mark.parametrize("schedule", schedules(), ids=lambda s: s.name)
def test_every_schedule_runs_a_job_its_function_has(db: Database, bus: None, schedule: Any) -> None:
    summary = Invoker().invoke(schedule.function_logical_id, schedule.input)
    assert summary["action"] == schedule.input["action"]


def test_the_database_trigger_invokes_evaluate_badges_with_a_job_it_runs(db: Database, bus: None) -> None:
    # The payload the trigger SQL sends, as written in the migration...
    sql = next((REPO / "sql").glob("012_*.sql")).read_text()
    built = re.search(r"json_build_object\('action', '(\w+)', 'source', '([\w-]+)'\)", sql)
    assert built is not None
    payload = {"action": built.group(1), "source": built.group(2)}
    # ...is the committed sample event, and the function the deploy points the trigger at runs it
    assert json.loads((REPO / "events" / "evaluate_badges" / "db-nudge.json").read_text()) == payload
    properties = RESOURCES["DatabaseMigrations"]["Properties"]
    target = properties["EvaluateFunctionArn"]["Fn::GetAtt"][0]
    assert Invoker().invoke(target, payload)["source"] == "db-nudge"


def test_the_custom_resource_reaches_the_migration_function_with_the_properties_it_reads() -> None:
    from migrate_database.handler import Target

    properties = RESOURCES["DatabaseMigrations"]["Properties"]
    function = properties["ServiceToken"]["Fn::GetAtt"][0]
    assert function_settings(function)["Handler"] == "migrate_database.handler.lambda_handler"
    _handler(function)
    # Intrinsics become placeholder strings; a renamed property or handler field fails validation.
    resolved = {
        name: ("true" if "Fn::If" in value else "resolved") if isinstance(value, dict) else value
        for name, value in properties.items()
    }
    Target.model_validate(resolved)
    # A new function version whenever its code (and so sql/) changes is what makes a deploy migrate.
    assert properties["MigrationsVersion"] == {"Ref": f"{function}.Version"}
    assert "AutoPublishAlias" in FUNCTIONS[function]["Properties"]
    # The API functions wait for the migrations.
    for logical_id in ("GetStatsFunction", "AwardBadgeFunction", "ConfigCrudFunction"):
        assert RESOURCES[logical_id]["DependsOn"] == "DatabaseMigrations"


# --- alarms watch what the code emits ---------------------------------------------------------------


def _emf_metrics(output: str) -> dict[str, dict[str, Any]]:
    """Metric name -> (namespace, dimensions) from the EMF lines Powertools printed."""
    found: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: blob[name] for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                found[metric["Name"]] = {"namespace": directive["Namespace"], "dimensions": dimensions}
    return found


@pytest.fixture
def emitted(db: Database, bus: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """What evaluate_badges' jobs emit, by running each scheduled job with metrics on."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    handler = _handler("EvaluateBadgesFunction")
    output = io.StringIO()
    with redirect_stdout(output):
        for schedule in schedules():
            handler(schedule.input, LambdaContext())
    return _emf_metrics(output.getvalue())


def _alarms() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def test_every_custom_metric_alarm_watches_a_metric_the_code_emits_with_its_dimensions(
    emitted: dict[str, dict[str, Any]],
) -> None:
    custom = {name: alarm for name, alarm in _alarms().items() if alarm.get("Namespace") == NAMESPACE}
    assert custom, "no alarm on the bundle's own metrics"
    for name, alarm in custom.items():
        metric = emitted.get(alarm["MetricName"])
        assert metric is not None, f"{name} watches {alarm['MetricName']}, which no job emits"
        assert metric["namespace"] == NAMESPACE
        assert _dimensions(alarm) == {"service": metric["dimensions"]["service"]}, name
    dashboard = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for metric_name in re.findall(rf'\["{NAMESPACE}", "(\w+)"', dashboard):
        assert metric_name in emitted, f"the dashboard graphs {metric_name}, which no job emits"


def test_every_aws_metric_alarm_points_at_a_resource_of_this_stack() -> None:
    references = {
        "FunctionName": "AWS::Serverless::Function",
        "QueueName": "AWS::SQS::Queue",
        "ApiId": "AWS::Serverless::HttpApi",
    }
    for name, alarm in _alarms().items():
        stats = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        for metric in [alarm, *stats]:
            if metric.get("Namespace", NAMESPACE) == NAMESPACE:
                continue
            for dimension in metric["Dimensions"]:
                value = dimension["Value"]
                target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                assert RESOURCES[target]["Type"] == references[dimension["Name"]], name


def test_the_asked_for_alarms_exist_and_notify_the_optional_topic() -> None:
    watched = {(a.get("Namespace"), a.get("MetricName")) for a in _alarms().values()}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        (NAMESPACE, "OutboxRowsParked"),
        (NAMESPACE, "EvaluationOutboxOldestPendingAge"),
        (NAMESPACE, "EventOutboxOldestPendingAge"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "Latency"),
    } <= watched
    assert any(
        m.get("Expression", "").startswith("IF(requests")
        for a in _alarms().values()
        for m in a.get("Metrics", [])
    )
    functions_alarmed = {
        (a["MetricName"], _dimensions(a)["FunctionName"]["Ref"])
        for a in _alarms().values()
        if a.get("Namespace") == "AWS/Lambda"
    }
    for logical_id in (
        "GetStatsFunction",
        "AwardBadgeFunction",
        "ConfigCrudFunction",
        "EvaluateBadgesFunction",
    ):
        assert {("Errors", logical_id), ("Throttles", logical_id)} <= functions_alarmed
    for alarm in _alarms().values():
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


# --- permissions ------------------------------------------------------------------------------------

# An AWS call in the code, and the IAM action it needs.
CALLS = {
    re.compile(r"\.put_events\("): "events:PutEvents",
    re.compile(r"parameters\.get_secret\("): "secretsmanager:GetSecretValue",
}


def _reachable_sources(package_dir: Path) -> list[Path]:
    """The function's package and every peer_badges module it imports, transitively."""
    layer = REPO / "layers" / "common"
    seen: set[Path] = set()
    pending = list(package_dir.rglob("*.py"))
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if isinstance(node, ast.ImportFrom) and node.module:  # `from peer_badges import payouts`
                names += [f"{node.module}.{alias.name}" for alias in node.names]
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("peer_badges"):
                    module = layer / name.replace(".", "/")
                    for candidate in (module.with_suffix(".py"), module / "__init__.py"):
                        pending += [candidate] if candidate.exists() else []
    return sorted(seen)


def _granted(logical_id: str) -> list[tuple[str, Any]]:
    role = RESOURCES[FUNCTIONS[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    grants = []
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            grants += [(action, statement["Resource"]) for action in actions]
    return grants


def _covers(resource: Any, expected: Any) -> bool:
    """The granted resource is the expected one, or (award_badge's secrets) a condition whose every
    branch includes it."""
    if resource == expected:
        return True
    if isinstance(resource, dict) and "Fn::If" in resource:
        branches = resource["Fn::If"][1:]
        return all(expected == b or (isinstance(b, list) and expected in b) for b in branches)
    return False


def _expected_resource(logical_id: str, action: str) -> Any:
    variables = {
        **TEMPLATE["Globals"]["Function"]["Environment"]["Variables"],
        **FUNCTIONS[logical_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    if action == "events:PutEvents":
        return {"Fn::GetAtt": [variables["EVENT_BUS_NAME"]["Ref"], "Arn"]}
    return variables["DB_SECRET_ARN"]  # the secret this function is configured to read


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_aws_call_a_handler_can_make_is_granted_on_its_resource(logical_id: str) -> None:
    code_uri = REPO / FUNCTIONS[logical_id]["Properties"]["CodeUri"]
    package = function_settings(logical_id)["Handler"].split(".")[0]
    sources = "\n".join(path.read_text() for path in _reachable_sources(code_uri / package))
    needed = {action for pattern, action in CALLS.items() if pattern.search(sources)}
    granted = _granted(logical_id)

    assert "secretsmanager:GetSecretValue" in needed  # every function reaches the database
    for action in needed:
        expected = _expected_resource(logical_id, action)
        assert any(a == action and _covers(r, expected) for a, r in granted), f"{logical_id} needs {action}"
    # Its asynchronous failures go to a queue: sending there is granted too.
    destination = (
        FUNCTIONS[logical_id]["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {})
    )
    if "OnFailure" in destination:
        assert ("sqs:SendMessage", destination["OnFailure"]["Destination"]) in granted
    # And nothing is granted that the code cannot use (logs and the failure queue aside).
    extra = {a for a, _ in granted if not a.startswith("logs:") and a != "sqs:SendMessage"} - needed
    assert extra == set(), f"{logical_id} is granted {extra} but never calls it"
