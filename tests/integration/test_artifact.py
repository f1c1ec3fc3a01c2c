"""The deployable bundle works, not only the source tree: `sam build`, then every built handler runs.

Each function is imported in a fresh interpreter whose path holds only what Lambda gives it: the
function's build directory (/var/task), the layer's `python/` (/opt/python) and the packages the
runtime provides (boto3 and its dependencies, which the layer deliberately leaves out). No
site-packages, no repository paths. Every sample event in `events/` is then invoked against a real
PostgreSQL seeded with the ids the samples use.

The layer is built for Lambda (arm64, CPython 3.13). Its compiled extensions cannot load on this
machine, so each one is swapped for the same distribution, at the same version, from this
interpreter's environment; every other file, the peer_badges package included, is the build output.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from localdev.template_routes import load_template
from peer_badges.db import Database, Json
from peer_badges.settings import Settings
from tests.aws import CloudFormation

REPO = Path(__file__).resolve().parents[2]
SAM = REPO / ".venv-sam" / "bin" / "sam"
EVENTS = REPO / "events"
# What the Lambda Python runtime ships (and the layer's Makefile therefore leaves out), with the
# third-party modules they import.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
MANUAL = {"type": "manual", "schema_version": 1}
THRESHOLD = {"type": "threshold", "schema_version": 1, "threshold": 3, "activity_types": ["assignment"]}

# function, sample, expected status (None: a scheduled job, answered with a summary dict). In an
# order that walks one definition through its life.
PLAN: list[tuple[str, str, int | None]] = [
    ("GetStatsFunction", "get_stats/stats", 200),
    ("GetStatsFunction", "get_stats/milestones", 200),
    ("GetStatsFunction", "get_stats/mentor_stats_overview", 200),
    ("AwardBadgeFunction", "award_badge/award_badge", 201),
    ("AwardBadgeFunction", "award_badge/list_badges", 200),
    ("AwardBadgeFunction", "award_badge/revoke_badge", 200),
    ("ConfigCrudFunction", "config_crud/list_definitions", 200),
    ("ConfigCrudFunction", "config_crud/create_definition", 201),
    ("ConfigCrudFunction", "config_crud/get_definition", 200),
    ("ConfigCrudFunction", "config_crud/update_definition", 200),
    ("ConfigCrudFunction", "config_crud/archive_definition", 200),
    ("ConfigCrudFunction", "config_crud/unarchive_definition", 200),
    ("ConfigCrudFunction", "config_crud/validate_definition", 200),
    ("ConfigCrudFunction", "config_crud/preview_definition", 200),
    ("ConfigCrudFunction", "config_crud/delete_definition", 204),
    ("EvaluateBadgesFunction", "evaluate_badges/api-evaluate-mentors", 200),
    ("EvaluateBadgesFunction", "evaluate_badges/api-backfill-dry-run", 200),
    ("EvaluateBadgesFunction", "evaluate_badges/schedule-drain", None),
    ("EvaluateBadgesFunction", "evaluate_badges/db-nudge", None),
    ("EvaluateBadgesFunction", "evaluate_badges/schedule-reconcile", None),
    ("EvaluateBadgesFunction", "evaluate_badges/schedule-housekeeping", None),
    # The deploy's custom resource: answers CloudFormation (a local receiver here) with SUCCESS.
    ("MigrateDatabaseFunction", "migrate_database/create", None),
]

# Runs inside the bare interpreter: import the handler as Lambda would and invoke each event.
_RUNNER = """
import json, sys, uuid
paths = json.loads(sys.argv[1])
sys.path[:0] = paths
handler_spec, events = sys.argv[2], json.load(sys.stdin)
module_name, _, attribute = handler_spec.rpartition(".")
import importlib
module = importlib.import_module(module_name)
handler = getattr(module, attribute)

class Context:
    function_name = "artifact-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-north-1:123456789012:function:artifact-test"
    def __init__(self): self.aws_request_id = str(uuid.uuid4())
    def get_remaining_time_in_millis(self): return 10000

import peer_badges, pydantic, pydantic_core
results = [handler(event, Context()) for event in events]
print(json.dumps({
    "results": results,
    "files": {name: mod.__file__ for name, mod in
              {"handler": module, "peer_badges": peer_badges, "pydantic": pydantic,
               "pydantic_core": pydantic_core}.items()},
    "site_packages_on_path": [p for p in sys.path if "site-packages" in p],
}, default=str))
"""

needs_sam = pytest.mark.skipif(
    not SAM.exists(), reason=".venv-sam is absent: run `make sam-tools` to create it"
)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("artifact") / "build"
    env = {
        **os.environ,
        # SAM runs the build Makefiles with this PATH, so python3 is the tools' venv (which has pip).
        "PATH": f"{SAM.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "SAM_CLI_TELEMETRY": "0",
    }
    result = subprocess.run(
        [str(SAM), "build", "--template-file", "template.yaml", "--build-dir", str(build_dir), "--no-cached"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build_dir


def _distribution_of(package_dir: Path, layer: Path) -> tuple[str, str]:
    """(name, version) of the distribution in the layer that installed `package_dir`."""
    for record in layer.glob("*.dist-info/RECORD"):
        if any(
            line.split(",", 1)[0].split("/", 1)[0] == package_dir.name
            for line in record.read_text().splitlines()
        ):
            name, version = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)
            return name, version
    raise AssertionError(f"no dist-info in the layer claims {package_dir.name}")


@pytest.fixture(scope="module")
def runnable_layer(build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built layer, with each compiled package swapped for this machine's build of the same version."""
    layer = tmp_path_factory.mktemp("opt") / "python"
    shutil.copytree(build / "CommonLayer" / "python", layer, symlinks=True)
    for package_dir in sorted({so.relative_to(layer).parts[0] for so in layer.rglob("*.so")}):
        name, version = _distribution_of(layer / package_dir, layer)
        installed = importlib.metadata.version(name)
        assert installed == version, f"{name}: the layer pins {version}, this environment has {installed}"
        if (layer / package_dir).is_file():
            # A top-level extension module (cffi's _cffi_backend.cpython-313-aarch64-linux-gnu.so).
            spec = importlib.util.find_spec(package_dir.split(".", 1)[0])
            assert spec is not None and spec.origin is not None
            (layer / package_dir).unlink()
            shutil.copy2(spec.origin, layer / Path(spec.origin).name)
            continue
        spec = importlib.util.find_spec(package_dir)
        assert spec is not None and spec.origin is not None
        shutil.rmtree(layer / package_dir)
        shutil.copytree(Path(spec.origin).parent, layer / package_dir)
    return layer


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What /var/runtime offers a Python function: boto3 and its dependencies."""
    runtime = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def _seed(db: Database) -> None:
    """The organisations, people, definitions and earned badge the samples refer to."""
    events = [_sample(name) for _, name, _ in PLAN]
    members: set[tuple[str, str, str]] = set()
    for event in events:
        params = event.get("pathParameters") or {}
        org = params.get("org_id")
        if not org:
            continue
        mentors = {params.get("mentor_id")} | set(
            json.loads(event.get("body") or "{}").get("mentor_ids") or []
        )
        mentors |= set((event.get("queryStringParameters") or {}).get("mentor_id", "").split(","))
        members |= {(org, mentor, "peer_mentor") for mentor in mentors if mentor}
        sub = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
        if sub not in mentors:
            members.add((org, sub, "org_admin"))
    for org in sorted({org for org, _, _ in members}):
        db.query(
            "INSERT INTO organizations (id, slug, name) VALUES (:id, :slug, 'Sample')", id=org, slug=org[:8]
        )
    for org, user, role in sorted(members):
        db.query("INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :u, :r)", o=org, u=user, r=role)

    award = _sample("award_badge/award_badge")
    revoke = _sample("award_badge/revoke_badge")["pathParameters"]
    crud = _sample("config_crud/get_definition")["pathParameters"]
    earlier = uuid.uuid4()
    definitions = [
        (
            award["pathParameters"]["org_id"],
            json.loads(award["body"])["badge_definition_id"],
            "walking-group",
            MANUAL,
        ),
        (revoke["org_id"], str(earlier), "earlier", MANUAL),
        (crud["org_id"], crud["definition_id"], "sample-definition", THRESHOLD),
    ]
    for org, definition_id, key, criteria in definitions:
        db.query(
            """INSERT INTO badge_definitions (id, org_id, key, name, criteria)
               VALUES (:id, :org, :key, :key, CAST(:criteria AS jsonb))""",
            id=definition_id,
            org=org,
            key=key,
            criteria=Json(criteria),
        )
    db.query(
        """INSERT INTO earned_badges (id, org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:id, :org, :mentor, :definition, '2025-05-12', 'manual', 1, CAST(:criteria AS jsonb))""",
        id=revoke["earned_badge_id"],
        org=revoke["org_id"],
        mentor=revoke["mentor_id"],
        definition=earlier,
        criteria=Json(MANUAL),
    )


@needs_sam
def test_every_built_function_serves_its_sample_events_from_the_bundle_alone(
    db: Database, app_settings: Settings, build: Path, runnable_layer: Path, runtime_dir: Path
) -> None:
    # Given the database the samples refer to, and somewhere for the custom resource to answer
    _seed(db)
    cloudformation = CloudFormation()
    env = {
        "DATABASE_URL": app_settings.database_url or "",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # no credentials here: event publishing fails fast, as designed
        "POWERTOOLS_SERVICE_NAME": "peer-badges",
        "POWERTOOLS_METRICS_NAMESPACE": "PeerBadges",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "LOG_LEVEL": "WARNING",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    for function in dict.fromkeys(f for f, _, _ in PLAN):
        plan = [(name, status) for f, name, status in PLAN if f == function]
        task = build / function
        handler_spec = _handler_of(build, function)
        # When the built handler is imported with Lambda's paths only and invoked with each sample
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                _RUNNER,
                json.dumps([str(task), str(runnable_layer), str(runtime_dir)]),
                handler_spec,
            ],
            input=json.dumps([_sample(name) | _answer_to(cloudformation, name) for name, _ in plan]),
            cwd=task,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{function}:\n{result.stderr[-4000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        # Then the code came from the bundle
        assert report["site_packages_on_path"] == []
        assert report["files"]["handler"].startswith(str(task))
        for module in ("peer_badges", "pydantic", "pydantic_core"):
            assert report["files"][module].startswith(str(runnable_layer)), module
        # And every sample got its documented answer
        for (name, expected), reply in zip(plan, report["results"], strict=True):
            if name.startswith("migrate_database/"):
                assert reply["Status"] == "SUCCESS", reply  # migrated from the bundle's own sql/
                assert cloudformation.answers[-1]["Status"] == "SUCCESS"
            elif expected is None:
                assert isinstance(reply, dict) and reply.get("action") in (
                    "drain",
                    "reconcile",
                    "housekeeping",
                ), (
                    name,
                    reply,
                )
            else:
                assert reply["statusCode"] == expected, (name, reply)


def _answer_to(cloudformation: CloudFormation, name: str) -> dict[str, Any]:
    return {"ResponseURL": cloudformation.url} if name.startswith("migrate_database/") else {}


def _handler_of(build: Path, function: str) -> str:
    """The Handler string from the built template (what Lambda will call)."""
    return load_template(build / "template.yaml")["Resources"][function]["Properties"]["Handler"]


def test_the_plan_covers_every_function_and_sample_event() -> None:
    functions = {
        logical_id
        for logical_id, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    samples = {str(path.relative_to(EVENTS).with_suffix("")) for path in EVENTS.glob("*/*.json")}
    assert {function for function, _, _ in PLAN} == functions
    assert {name for _, name, _ in PLAN} == samples
