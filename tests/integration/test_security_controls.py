"""The security review's controls, each proved: database least privilege, TLS to RDS verified, no
secrets or tokens in logs, no Swagger UI in AWS, IAM scoped to the resources used.

docs/security.md lists every control with the test that proves it.
"""

from __future__ import annotations

import inspect
import json
import ssl
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws
from pg8000.exceptions import DatabaseError, InterfaceError
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

import award_badge.handler
import config_crud.handler
import evaluate_badges.handler
import get_stats.handler
from localdev.lambda_runtime import Invoker
from localdev.server import LocalApi
from localdev.template_routes import TEMPLATE_PATH, load_template, routes
from localdev.tokens import TokenAuthority
from peer_badges import db as db_module
from peer_badges.db import Database, Json, connect, params_from_settings, params_from_url, sqlstate
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import set_events_client
from peer_badges.settings import Settings
from tests.aws import fake_credentials
from tests.helpers import LambdaContext, Org, add_activity, api_event, invoke, seed_org
from tests.integration.captured_logs import captured_logs

REPO = Path(__file__).resolve().parents[2]
APP_ROLE = "peer_badges_app"
HANDLERS = {
    "get_stats": get_stats.handler,
    "award_badge": award_badge.handler,
    "config_crud": config_crud.handler,
    "evaluate_badges": evaluate_badges.handler,
}

# Exactly what sql/005_app_role.sql grants; every other table gets nothing.
EXPECTED_PRIVILEGES = {
    "organizations": {"SELECT"},
    "org_members": {"SELECT"},
    "coordinator_assignments": {"SELECT"},
    "activities": {"SELECT"},
    "training_completions": {"SELECT"},
    "badge_definitions": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "org_definition_versions": {"SELECT", "INSERT", "UPDATE"},
    "earned_badges": {"SELECT", "INSERT", "UPDATE"},
    "evaluation_outbox": {"SELECT", "INSERT", "UPDATE"},
    "event_outbox": {"SELECT", "INSERT", "UPDATE"},
    "audit_log": {"SELECT", "INSERT"},
    "mentor_stats": {"SELECT", "INSERT", "UPDATE"},
    "mentor_week_activity": {"SELECT", "INSERT", "DELETE"},
    "mentor_year_activity": {"SELECT", "INSERT", "DELETE"},
    "definition_backfills": {"SELECT", "INSERT", "UPDATE"},
    "org_settings": {"SELECT", "INSERT", "UPDATE"},
    "honorar_payouts": {"SELECT", "INSERT", "UPDATE"},
    "streak_pauses": {"SELECT", "INSERT", "DELETE"},  # created and deleted, never changed
    "schema_migrations": set(),
    # sql/012: the hourly job takes due rows; the activity trigger writes them as their owner.
    "scheduled_evaluations": {"SELECT", "DELETE"},
    # Written only by the deploy (as the owner); read by the owner's SECURITY DEFINER trigger.
    "lambda_invocation_target": set(),
    # sql/015: read only through the owner's SECURITY DEFINER export and erasure functions.
    "personal_data_tables": set(),
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

MANUAL = {"type": "manual", "schema_version": 1}
FIRST_ACTIVITY = {"type": "threshold", "schema_version": 1, "threshold": 1}
PAYABLE = {
    "type": "milestone",
    "schema_version": 1,
    "thresholds": [3],
    "payable": True,
    "amounts_nok": [2500],
}


class RecordingBus:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


# --- least privilege in the database ------------------------------------------------------------------


def as_user(url: str, user: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(netloc=f"{user}@{parsed.netloc.rpartition('@')[2]}"))


@pytest.fixture
def app_user(db: Database, migrated_url: str) -> Iterator[Database]:
    """A LOGIN user in peer_badges_app (as the operator creates for the Lambdas), connected."""
    name = f"pb_lambda_{uuid.uuid4().hex[:8]}"
    db.query(f'CREATE ROLE "{name}" LOGIN IN ROLE {APP_ROLE}')
    url = as_user(migrated_url, name)
    settings = Settings(database_url=url)
    database = Database(lambda: connect(params_from_url(url), settings))
    try:
        yield database
    finally:
        database.close()
        db.query(f'DROP ROLE "{name}"')


def _refused(database: Database, sql: str) -> str | None:
    """The SQLSTATE the statement fails with (None if it succeeded; rolled back either way)."""
    try:
        with database.transaction() as tx:
            tx.execute(sql)
            raise _RollBack
    except _RollBack:
        return None
    except DatabaseError as error:
        return sqlstate(error)


class _RollBack(Exception):
    pass


def test_the_app_role_has_exactly_the_privileges_the_handlers_need(db: Database) -> None:
    tables = [
        row["tablename"] for row in db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    granted = {
        table: {
            privilege
            for privilege in PRIVILEGES
            if db.query_one(
                "SELECT has_table_privilege(:role, :table, :privilege) AS ok",
                role=APP_ROLE,
                table=f"public.{table}",
                privilege=privilege,
            )["ok"]  # type: ignore[index]
        }
        for table in tables
    }
    # A new table must be decided on: granted in its migration, or deliberately withheld here.
    assert set(granted) == set(EXPECTED_PRIVILEGES), "a table is missing from the app role's grants"
    assert granted == EXPECTED_PRIVILEGES


def test_the_app_role_is_a_group_role_with_no_special_powers(db: Database) -> None:
    role = db.query_one(
        """SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls
             FROM pg_roles WHERE rolname = :role""",
        role=APP_ROLE,
    )
    assert role == {
        "rolcanlogin": False,
        "rolsuper": False,
        "rolcreatedb": False,
        "rolcreaterole": False,
        "rolreplication": False,
        "rolbypassrls": False,
    }
    schema = db.query_one(
        "SELECT has_schema_privilege(:r, 'public', 'USAGE') AS usage, has_schema_privilege(:r, 'public', 'CREATE') AS create",
        r=APP_ROLE,
    )
    assert schema == {"usage": True, "create": False}


def test_the_role_migration_can_run_again_on_a_cluster_that_has_the_role(migrated_url: str) -> None:
    # Every database on the cluster runs it; the second and later find the role already there.
    sql = (REPO / "sql" / "005_app_role.sql").read_text(encoding="utf-8")
    conn = connect(params_from_url(migrated_url), Settings(database_url=migrated_url))
    try:
        conn.run(sql)
        conn.run(sql)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE public.backdoor (id int)",
        "CREATE FUNCTION public.backdoor() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "ALTER TABLE earned_badges ADD COLUMN backdoor int",
        "DROP TABLE audit_log",
        "TRUNCATE earned_badges",
        "TRUNCATE audit_log",
        "DROP TRIGGER badge_definitions_revision ON badge_definitions",
        "CREATE INDEX backdoor_idx ON activities (org_id)",
        "CREATE SCHEMA backdoor",
        f"ALTER ROLE {APP_ROLE} SUPERUSER",
        "SET ROLE postgres",
        "UPDATE audit_log SET action = 'nothing happened'",
        "DELETE FROM audit_log",
        "DELETE FROM earned_badges",
        "INSERT INTO org_members (org_id, user_id, role) VALUES (gen_random_uuid(), gen_random_uuid(), 'org_admin')",
        "UPDATE activities SET status = 'approved'",
        "DELETE FROM organizations",
        "SELECT * FROM schema_migrations",
        "DELETE FROM schema_migrations",
        "DELETE FROM evaluation_outbox",
        "DELETE FROM event_outbox",
        "SELECT configure_lambda_invocation('elsewhere', NULL, true)",
        "SELECT install_lambda_invoke()",
        "UPDATE personal_data_tables SET on_erasure = 'none'",
        "DELETE FROM mentor_stats",
        "INSERT INTO lambda_invocation_target (function_name, enabled) VALUES ('elsewhere', true)",
    ],
)
def test_the_app_role_cannot_change_the_schema_rewrite_history_or_forge_membership(
    db: Database, app_user: Database, statement: str
) -> None:
    assert _refused(app_user, statement) == "42501", statement  # insufficient_privilege


def test_every_handler_works_connected_as_a_member_of_the_app_role(db: Database, app_user: Database) -> None:
    # Given an organisation with a definition, an earned badge, a drifted snapshot and a pending outbox
    definitions_cache.invalidate()
    org = seed_org(db)
    _definition(db, org, "first", FIRST_ACTIVITY, since="2020-01-01Z")
    manual = _definition(db, org, "manual", MANUAL)
    spare = _definition(db, org, "spare", MANUAL)
    payable = _definition(db, org, "honorar", PAYABLE)
    add_activity(db, org.id, org.mentor, date(2026, 11, 2))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 3))
    bus = RecordingBus()
    set_events_client(bus)
    db_module.set_database(app_user)
    try:
        # When every route and both jobs run as the app role
        results = _exercise_every_route(org, manual, spare)
        results |= _exercise_payout_routes(org, payable, db)
        db.query("UPDATE mentor_stats SET total_count = 999 WHERE peer_mentor_id = :m", m=org.mentor)
        drained = evaluate_badges.handler.lambda_handler({"action": "drain"}, LambdaContext())
        reconciled = evaluate_badges.handler.lambda_handler({"action": "reconcile"}, LambdaContext())
        housekept = evaluate_badges.handler.lambda_handler({"action": "housekeeping"}, LambdaContext())
    finally:
        db_module.set_database(db)
        set_events_client(None)

    # Then each did its job without a privilege error
    assert {name: status for name, status in results.items() if status >= 500} == {}
    assert results == {
        "stats": 200,
        "milestones": 200,
        "overview": 200,
        "list badges": 200,
        "award": 201,
        "revoke": 200,
        "list definitions": 200,
        "create definition": 201,
        "get definition": 200,
        "patch definition": 200,
        "archive": 200,
        "unarchive": 200,
        "delete": 204,
        "validate": 200,
        "preview": 200,
        "evaluations": 200,
        "award payable": 201,
        "list payouts": 200,
        "approve payout": 200,
        "pay payout": 200,
        "export payouts": 200,
        "get settings": 200,
        "patch settings": 200,
        "award payable to another mentor": 201,
        "revoke with a payout": 200,
        "export personal data": 200,
        "erase personal data": 200,
    }
    assert drained["events_failed"] == 0 and drained["parked_total"] == 0
    assert reconciled["repaired_snapshots"] >= 1  # rebuild_mentor_stats ran as the app role
    assert housekept["action"] == "housekeeping"  # purge and re-queue ran as the app role
    assert bus.entries, "the awards' events were published"


def _definition(
    db: Database, org: Org, key: str, criteria: dict[str, Any], since: str | None = None
) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
           VALUES (:org, :key, :key, CAST(:c AS jsonb), coalesce(CAST(:since AS timestamptz), now()),
                   coalesce(CAST(:since AS timestamptz), now())) RETURNING id""",
        org=org.id,
        key=key,
        c=Json(criteria),
        since=since,
    )
    assert row is not None
    return row["id"]


def _exercise_every_route(org: Org, manual: uuid.UUID, spare: uuid.UUID) -> dict[str, int]:
    base, mentor = f"/orgs/{org.id}", f"/orgs/{org.id}/mentors/{org.mentor}"
    defs = f"{base}/badge-definitions"
    stats, awards, config, evaluate = (
        get_stats.handler.lambda_handler,
        award_badge.handler.lambda_handler,
        config_crud.handler.lambda_handler,
        evaluate_badges.handler.lambda_handler,
    )
    results: dict[str, int] = {}

    def call(name: str, handler: Callable[..., Any], method: str, path: str, body: Any = None) -> Any:
        reply = invoke(handler, api_event(method, path, sub=org.admin, body=body))
        results[name] = reply.status
        return reply.body

    call("stats", stats, "GET", f"{mentor}/stats")
    call("milestones", stats, "GET", f"{mentor}/milestones")
    call("overview", stats, "GET", f"{base}/mentor-stats")
    call("list badges", awards, "GET", f"{mentor}/badges")
    awarded = call("award", awards, "POST", f"{mentor}/badges", {"badge_definition_id": str(manual)})
    call("revoke", awards, "POST", f"{mentor}/badges/{awarded['id']}/revoke", {"reason": "Testing revoke"})
    call("list definitions", config, "GET", defs)
    created = call(
        "create definition",
        config,
        "POST",
        defs,
        {"key": "visits", "name": "Visits", "criteria": FIRST_ACTIVITY},
    )
    call("get definition", config, "GET", f"{defs}/{created['id']}")
    call("patch definition", config, "PATCH", f"{defs}/{created['id']}", {"name": "Many visits"})
    call("archive", config, "POST", f"{defs}/{spare}/archive")
    call("unarchive", config, "POST", f"{defs}/{spare}/unarchive")
    call("delete", config, "DELETE", f"{defs}/{spare}")
    call("validate", config, "POST", f"{defs}/validate", FIRST_ACTIVITY)
    call("preview", config, "POST", f"{defs}/preview", {"criteria": FIRST_ACTIVITY})
    call("evaluations", evaluate, "POST", f"{base}/evaluations", {})
    return results


def _exercise_payout_routes(org: Org, payable: uuid.UUID, owner: Database) -> dict[str, int]:
    base = f"/orgs/{org.id}"
    results: dict[str, int] = {}

    def call(name: str, handler: Callable[..., Any], method: str, path: str, body: Any = None) -> Any:
        reply = invoke(handler, api_event(method, path, sub=org.admin, body=body))
        results[name] = reply.status
        return reply.body

    awards, config = award_badge.handler.lambda_handler, config_crud.handler.lambda_handler
    badges = f"{base}/mentors/{org.other_mentor}/badges"
    call("award payable", awards, "POST", badges, {"badge_definition_id": str(payable)})
    payout = call("list payouts", awards, "GET", f"{base}/payouts")["items"][0]
    call("approve payout", awards, "POST", f"{base}/payouts/{payout['id']}/approve")
    call("pay payout", awards, "POST", f"{base}/payouts/{payout['id']}/paid", {"reference": "BANK-1"})
    call("export payouts", awards, "GET", f"{base}/payouts/export")
    call("get settings", config, "GET", f"{base}/settings")
    call("patch settings", config, "PATCH", f"{base}/settings", {"honorar_tax_free_limit_nok": 9000})
    # The revoke trigger cancels a pending payout as the app role
    other = f"{base}/mentors/{org.mentor}/badges"
    pending = call(
        "award payable to another mentor", awards, "POST", other, {"badge_definition_id": str(payable)}
    )
    call("revoke with a payout", awards, "POST", f"{other}/{pending['id']}/revoke", {"reason": "Test revoke"})
    # Export, and erasure of someone who left with no activities (it rewrites the audit log as the owner)
    call("export personal data", awards, "GET", f"{base}/mentors/{org.other_mentor}/data-export")
    departed = org.other_mentor
    owner.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :m", o=org.id, m=departed)
    owner.query("DELETE FROM activities WHERE org_id = :o AND peer_mentor_id = :m", o=org.id, m=departed)
    call("erase personal data", awards, "POST", f"{base}/mentors/{departed}/erasure", {"reason": "Asked to"})
    return results


# --- TLS to RDS -----------------------------------------------------------------------------------------


def test_verify_full_requires_a_trusted_certificate_for_the_right_host_name() -> None:
    params = params_from_url("postgresql://app:pw@db.example.internal:5432/peer_badges?sslmode=verify-full")
    context = params.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_unix_socket_does_not_ask_for_tls_that_postgresql_never_offers_there() -> None:
    # sslmode=disable (the default): no SSL context built and no SSLRequest sent on a local socket
    assert params_from_url("postgresql://app:pw@/peer_badges?host=/run/postgresql").ssl_context is False
    # An explicit sslmode keeps its meaning (and over TCP, disable stays pg8000's try-then-plaintext)
    assert params_from_url("postgresql://app:pw@/db?host=/run/pg&sslmode=require").ssl_context
    assert params_from_url("postgresql://app:pw@127.0.0.1:5432/peer_badges").ssl_context is None


def test_in_aws_the_functions_verify_tls_by_default_with_the_secret_from_secrets_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the settings the template gives the functions, and the database secret in Secrets Manager
    fake_credentials(monkeypatch)
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(
            Name="peer-badges/db",
            SecretString=json.dumps({"username": "peer_badges_lambda", "password": "pw"}),
        )["ARN"]
        settings = Settings(db_host="proxy.example.internal", db_secret_arn=arn)

        # When the connection parameters are built
        params = params_from_settings(settings)

    # Then TLS is on, the certificate must verify against the trust store and name the host
    assert settings.db_sslmode == "verify-full"
    assert params.ssl_context is not None
    assert params.ssl_context.verify_mode == ssl.CERT_REQUIRED and params.ssl_context.check_hostname
    assert params.user == "peer_badges_lambda" and params.host == "proxy.example.internal"


def test_a_server_that_cannot_prove_its_identity_is_refused_never_used_in_plaintext(
    migrated_url: str,
) -> None:
    # Given the test server, which offers no certificate the default trust store accepts
    separator = "&" if "?" in migrated_url else "?"
    url = f"{migrated_url}{separator}sslmode=verify-full"

    # When a connection with verify-full is attempted, it fails instead of falling back to plaintext
    with pytest.raises((InterfaceError, ssl.SSLError, OSError)):
        connect(params_from_url(url), Settings(database_url=url)).close()


# --- no secrets or tokens in logs ------------------------------------------------------------------------


class _Exploding(Database):
    def __init__(self) -> None:
        super().__init__(lambda: None)  # type: ignore[arg-type, return-value]

    def query(self, sql: str, **params: Any) -> Any:
        raise RuntimeError("an unexpected bug")


def test_no_token_appears_in_the_logs_of_a_served_a_refused_or_a_failed_request(db: Database) -> None:
    # Given a request carrying a bearer token (and its claims, as the authorizer passes them)
    org = seed_org(db)
    authority = TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    token = authority.mint(str(org.admin))
    signature = token.rsplit(".", 1)[1]

    def request(sub: uuid.UUID) -> dict[str, Any]:
        return api_event(
            "GET", f"/orgs/{org.id}/badge-definitions", sub=sub, headers={"Authorization": f"Bearer {token}"}
        )

    with captured_logs() as logs:
        # When it is served, refused, and fails unexpectedly
        assert invoke(config_crud.handler.lambda_handler, request(org.admin)).status == 200
        assert invoke(config_crud.handler.lambda_handler, request(uuid.uuid4())).status == 403
        db_module.set_database(_Exploding())
        try:
            assert invoke(config_crud.handler.lambda_handler, request(org.admin)).status == 500
        finally:
            db_module.set_database(db)

    # Then the logs say what happened, and hold neither the token nor any part of its signature
    text = logs.getvalue()
    assert "unhandled error" in text and "request refused" in text
    assert signature not in text and token not in text and "Bearer" not in text


def test_the_local_authorizer_logs_why_a_token_was_refused_but_not_the_token(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    authority = TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    api = LocalApi(routes(), authority, Invoker(), lambda: {"openapi": "3.1.0", "paths": {}})
    org = seed_org(db)
    expired = authority.mint(str(org.admin), now=time.time() - 7200, ttl_s=60)
    valid = authority.mint(str(org.admin))
    with captured_logs() as logs, caplog.at_level("DEBUG"), TestClient(api.app()) as client:
        for token in (expired, valid):
            client.get(f"/orgs/{org.id}/badge-definitions", headers={"Authorization": f"Bearer {token}"})
    text = logs.getvalue() + caplog.text
    assert "ExpiredSignatureError" in text
    for token in (expired, valid):
        assert token.rsplit(".", 1)[1] not in text


def test_no_handler_logs_the_incoming_event() -> None:
    # Logging the event would log the Authorization header; neither the code nor the template turns it on.
    for name, module in HANDLERS.items():
        source = inspect.getsource(module)
        assert "log_event=True" not in source, name
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert "POWERTOOLS_LOGGER_LOG_EVENT" not in variables
    assert "POWERTOOLS_LOGGER_SAMPLE_RATE" not in variables  # sampling switches requests to DEBUG


# --- no Swagger UI or OpenAPI document in AWS ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/swagger", "/swagger.json", "/docs", "/openapi.json", "/swagger?format=json"]
)
@pytest.mark.parametrize("name", list(HANDLERS))
def test_no_handler_serves_swagger_or_the_openapi_document(name: str, path: str) -> None:
    # The HTTP API only routes template paths, but a handler must not answer these even if reached.
    module = HANDLERS[name]
    source = inspect.getsource(module) + inspect.getsource(sys.modules[f"{name}.routes"])
    assert "enable_swagger" not in source, name
    route_paths = [route.rule.pattern for route in module.app._static_routes + module.app._dynamic_routes]
    assert not any("swagger" in pattern or "openapi" in pattern for pattern in route_paths), name
    raw_path, _, query = path.partition("?")
    event = api_event("GET", raw_path, sub=uuid.uuid4(), query=dict([query.split("=")]) if query else None)
    assert invoke(module.lambda_handler, event).status == 404


def test_the_template_routes_no_documentation_or_local_only_path() -> None:
    for route in routes():
        assert not route.path.startswith(("/docs", "/swagger", "/openapi", "/_local")), route.path


# --- IAM scoped to the resources used ------------------------------------------------------------------------

# AWS managed policies the functions need: ENI management (VPC) and X-Ray writes have no resource-level
# permissions, so they are granted as AWS manages them rather than re-stated with Resource "*".
DOCUMENTED_MANAGED_POLICIES = {
    "service-role/AWSLambdaENIManagementAccess",
    "AWSXrayWriteOnlyAccess",
}


def _policy_statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    properties = resource.get("Properties", {})
    documents = [
        policy["PolicyDocument"] for policy in properties.get("Policies", []) if isinstance(policy, dict)
    ]
    if "PolicyDocument" in properties:
        documents.append(properties["PolicyDocument"])
    for document in documents:
        statements = document.get("Statement", [])
        yield from statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_grants_every_action_or_every_resource() -> None:
    resources = load_template(TEMPLATE_PATH)["Resources"]
    checked = 0
    for logical_id, resource in resources.items():
        for statement in _policy_statements(resource):
            checked += 1
            assert "NotAction" not in statement and "NotResource" not in statement, logical_id
            for action in _as_list(statement.get("Action", [])):
                assert isinstance(action, str) and "*" not in action, (logical_id, action)
            if "Principal" in statement:  # trust policies name who may assume the role
                assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}, logical_id
                continue
            for target in _as_list(statement.get("Resource")):
                assert target != "*" and not (isinstance(target, str) and target.endswith(":*")), (
                    logical_id,
                    target,
                )
    assert checked >= 8


def test_functions_use_their_own_roles_and_only_the_documented_managed_policies() -> None:
    resources = load_template(TEMPLATE_PATH)["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    roles = set()
    for logical_id, function in functions.items():
        properties = function["Properties"]
        # SAM's Policies/policy templates would create a role we do not review here.
        assert "Policies" not in properties and "Role" in properties, logical_id
        roles.add(properties["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(functions), "each function has a role of its own"
    for role in roles:
        for arn in resources[role]["Properties"].get("ManagedPolicyArns", []):
            text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
            assert text.rsplit(":policy/", 1)[1] in DOCUMENTED_MANAGED_POLICIES, (role, text)
