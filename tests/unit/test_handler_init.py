"""What a Lambda init leaves behind: each API handler pauses the garbage collector for its imports and
route set-up, freezes what they built, and hands the invocations a running collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from localdev.lambda_runtime import lambda_paths, template_environment

HANDLERS = ["get_stats.handler", "award_badge.handler", "config_crud.handler", "evaluate_badges.handler"]

PROBE = """
import gc, json, importlib, sys
module = importlib.import_module(sys.argv[1])
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "has_handler": callable(module.lambda_handler)}))
"""


@pytest.mark.parametrize("module", HANDLERS)
def test_a_handler_init_freezes_what_it_built_and_leaves_the_collector_running(module: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(template_environment())
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in lambda_paths())
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["has_handler"]
    assert state["enabled"], "the collector must run during invocations"
    # Thousands of init objects (validators, routes) moved to the permanent generation.
    assert state["frozen"] > 1000
