"""template.yaml passes SAM's and cfn-lint's checks, builds without Docker, and grants least privilege.

The SAM tools live in their own virtualenv (.venv-sam, created by `make sam-tools`, which
`make test` depends on) because their pins conflict with the project's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localdev.template_routes import load_template

REPO = Path(__file__).resolve().parents[2]
SAM_BIN = REPO / ".venv-sam" / "bin"
FUNCTIONS = {
    "GetStatsFunction": "get_stats",
    "AwardBadgeFunction": "award_badge",
    "ConfigCrudFunction": "config_crud",
    "EvaluateBadgesFunction": "evaluate_badges",
    "MigrateDatabaseFunction": "migrate_database",
}
# What a function ships beside its package: the migrations, for the deploy's custom resource.
EXTRA_ARTIFACTS = {"MigrateDatabaseFunction": ["sql"]}
# The secret each function reads: the runtime role's, or the schema owner's for migrations.
SECRETS = {logical_id: "DatabaseSecretArn" for logical_id in FUNCTIONS} | {
    "MigrateDatabaseFunction": "SchemaOwnerSecretArn"
}
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
ELF_MACHINE_AARCH64 = 183

needs_sam_tools = pytest.mark.skipif(
    not (SAM_BIN / "sam").exists(), reason=".venv-sam is absent: run `make sam-tools` to create it"
)


def _run_sam_tool(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # SAM runs the build Makefiles with this PATH: python3 is then the tools' venv, which has pip.
        "PATH": f"{SAM_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "SAM_CLI_TELEMETRY": "0",
    }
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` into a private directory, uncached so it never touches the developer's .aws-sam."""
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = _run_sam_tool(
        SAM_BIN / "sam", "build", "--template-file", "template.yaml", "--build-dir", build_dir, "--no-cached"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build_dir


@needs_sam_tools
def test_the_sam_translator_accepts_the_template():
    result = _run_sam_tool(SAM_BIN / "sam", "validate", "--template-file", "template.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@needs_sam_tools
def test_sam_validate_with_lint_passes():
    result = _run_sam_tool(SAM_BIN / "sam", "validate", "--lint", "--template-file", "template.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@needs_sam_tools
def test_cfn_lint_with_the_serverless_rules_is_clean():
    result = _run_sam_tool(
        SAM_BIN / "cfn-lint", "template.yaml", "--append-rules", "cfn_lint_serverless.rules"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@needs_sam_tools
def test_the_layer_holds_peer_badges_and_arm64_py313_dependencies(sam_build: Path):
    python = sam_build / "CommonLayer" / "python"

    assert (python / "peer_badges" / "__init__.py").is_file()
    extensions = list((python / "pydantic_core").glob("*.so"))
    assert extensions, "pydantic_core has no compiled extension"
    for extension in extensions:
        assert "cpython-313-aarch64" in extension.name
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64


@needs_sam_tools
def test_the_layer_leaves_out_what_the_runtime_provides(sam_build: Path):
    python = sam_build / "CommonLayer" / "python"

    for name in RUNTIME_PROVIDED:
        assert not (python / name).exists(), name
        assert not list(python.glob(f"{name}-*.dist-info")), name
    assert not list(python.rglob("__pycache__"))


@needs_sam_tools
def test_each_function_ships_only_its_own_package(sam_build: Path):
    for logical_id, package in FUNCTIONS.items():
        artifact = sam_build / logical_id

        assert (artifact / package / "__init__.py").is_file(), logical_id
        assert sorted(path.name for path in artifact.iterdir()) == [
            package,
            *EXTRA_ARTIFACTS.get(logical_id, []),
        ]
    migrations = sam_build / "MigrateDatabaseFunction" / "sql"
    assert sorted(p.name for p in migrations.glob("*.sql")) == sorted(
        p.name for p in (REPO / "sql").glob("*.sql")
    )


# The checks below read the template itself; they need no tools.

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def _statements(role_id: str) -> list[dict]:
    role = RESOURCES[role_id]["Properties"]
    return [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def _role_of(function_id: str) -> str:
    return RESOURCES[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]


def test_functions_run_python313_on_arm64_with_the_shared_layer():
    defaults = TEMPLATE["Globals"]["Function"]

    assert defaults["Runtime"] == "python3.13"
    assert defaults["Architectures"] == ["arm64"]
    assert defaults["Layers"] == [{"Ref": "CommonLayer"}]
    layer = RESOURCES["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for logical_id in FUNCTIONS:
        assert RESOURCES[logical_id]["Metadata"]["BuildMethod"] == "makefile"


def test_the_environment_carries_the_settings_the_layer_reads():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]

    assert variables == {
        "POWERTOOLS_SERVICE_NAME": "peer-badges",
        "POWERTOOLS_METRICS_NAMESPACE": "PeerBadges",
        "LOG_LEVEL": {"Ref": "LogLevel"},
        "DB_HOST": {"Ref": "DatabaseHost"},
        "DB_PORT": {"Ref": "DatabasePort"},
        "DB_NAME": {"Ref": "DatabaseName"},
        "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
        "DB_SSLMODE": "verify-full",
        "EVENT_BUS_NAME": {"Ref": "EventBus"},
    }


def test_every_route_requires_a_jwt_from_the_configured_issuer():
    auth = RESOURCES["HttpApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]

    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    assert authorizer["JwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": {"Ref": "JwtAudience"},
    }
    opted_out = set()
    for logical_id in FUNCTIONS:
        for event in RESOURCES[logical_id]["Properties"].get("Events", {}).values():
            properties = event.get("Properties", {})
            if "Auth" in properties:
                assert properties["Auth"] == {"Authorizer": "NONE"}
                opted_out.add((properties["Method"], properties["Path"]))
    # Only what a credential verifier must fetch without an account (SPEC 8.6) is public.
    assert opted_out == PUBLIC_ROUTES


PUBLIC_ROUTES = {
    ("GET", "/orgs/{org_id}/issuer"),
    ("GET", "/orgs/{org_id}/badge-definitions/{definition_id}/achievement"),
    ("GET", "/orgs/{org_id}/credential-status/{list_id}"),
}


def test_the_public_routes_are_served_by_award_badge_with_the_credential_settings():
    award = RESOURCES["AwardBadgeFunction"]["Properties"]
    public = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for event in award["Events"].values()
        if "Auth" in event["Properties"]
    }
    variables = award["Environment"]["Variables"]

    assert public == PUBLIC_ROUTES
    assert variables["PUBLIC_BASE_URL"] == {
        "Fn::If": ["HasPublicBaseUrl", {"Ref": "PublicBaseUrl"}, {"Ref": "AWS::NoValue"}]
    }
    assert variables["CREDENTIAL_KEYS_SECRET_ARN"] == {
        "Fn::If": ["HasCredentialKeys", {"Ref": "CredentialKeysSecretArn"}, {"Ref": "AWS::NoValue"}]
    }


def test_each_function_reads_only_its_database_secret_and_writes_only_its_log_group():
    for logical_id in FUNCTIONS:
        read_secret = {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": SECRETS[logical_id]},
        }
        # award_badge also signs credentials, with the keyring secret when one is configured.
        if logical_id == "AwardBadgeFunction":
            read_secret["Resource"] = {
                "Fn::If": [
                    "HasCredentialKeys",
                    [{"Ref": SECRETS[logical_id]}, {"Ref": "CredentialKeysSecretArn"}],
                    {"Ref": SECRETS[logical_id]},
                ]
            }
        statements = _statements(_role_of(logical_id))
        log_group = RESOURCES[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

        assert read_secret in statements, logical_id
        logs = [statement for statement in statements if _actions(statement)[0].startswith("logs:")]
        assert [statement["Resource"] for statement in logs] == [{"Fn::GetAtt": [log_group, "Arn"]}]
        assert "RetentionInDays" in RESOURCES[log_group]["Properties"]
        assert all(statement["Resource"] != "*" for statement in statements), logical_id


def test_only_award_and_evaluate_publish_and_only_to_the_bus():
    publishers = {
        logical_id
        for logical_id in FUNCTIONS
        for statement in _statements(_role_of(logical_id))
        if _actions(statement) == ["events:PutEvents"]
        and statement["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    }
    any_events_access = {
        logical_id
        for logical_id in FUNCTIONS
        for statement in _statements(_role_of(logical_id))
        if any(action.startswith("events:") for action in _actions(statement))
    }

    assert publishers == any_events_access == {"AwardBadgeFunction", "EvaluateBadgesFunction"}


def test_failed_asynchronous_evaluations_land_in_the_dead_letter_queue():
    config = RESOURCES["EvaluateBadgesFunction"]["Properties"]["EventInvokeConfig"]
    dlq = {"Fn::GetAtt": ["EvaluateBadgesDLQ", "Arn"]}

    assert config["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": dlq}
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    send = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq}
    assert send in _statements("EvaluateBadgesRole")


def test_outputs_name_what_operators_and_consumers_need():
    assert {
        "ApiUrl",
        "EventBusName",
        "EvaluateBadgesDLQUrl",
        "DatabaseTrigger",
        "MigrationsApplied",
        "DashboardName",
        *(f"{logical_id}Name" for logical_id in FUNCTIONS if logical_id != "MigrateDatabaseFunction"),
    } <= set(TEMPLATE["Outputs"])
