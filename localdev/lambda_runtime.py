"""What the Lambda runtime does for a function, reproduced for the local server.

Import paths are laid out as Lambda lays them out: each layer's content (`/opt/python`) and each
function's CodeUri (`/var/task`) on `sys.path`, both read from template.yaml, so the local server
imports exactly the modules the deployed functions import. One warm "container" serves one
invocation at a time: the functions share the layer's one-connection-per-container database
handle, so invocations are serialised by a lock, as Lambda serialises them per container.

This module imports nothing from the layer, so the paths can be set before anything needs them.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localdev.template_routes import TEMPLATE_PATH, load_template

REPO_ROOT = TEMPLATE_PATH.parent
Handler = Callable[[dict[str, Any], Any], Any]


def lambda_paths(template_path: Path = TEMPLATE_PATH) -> list[Path]:
    """Layer content directories, then every function's code directory, from the template."""
    resources = load_template(template_path)["Resources"]
    root = template_path.parent
    layers = [
        root / resource["Properties"]["ContentUri"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]
    functions = [
        root / resource["Properties"]["CodeUri"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    return [path.resolve() for path in layers + functions]


def install_lambda_paths(template_path: Path = TEMPLATE_PATH) -> None:
    for path in reversed(lambda_paths(template_path)):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def function_settings(logical_id: str, template_path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """A function's properties with the template's Globals applied."""
    properties = load_template(template_path)["Resources"][logical_id].get("Properties", {})
    return {**function_settings_defaults(template_path), **properties}


def template_environment(template_path: Path = TEMPLATE_PATH) -> dict[str, str]:
    """The functions' Globals environment variables that have a literal value (no intrinsics)."""
    variables = function_settings_defaults(template_path).get("Environment", {}).get("Variables", {})
    return {name: str(value) for name, value in variables.items() if isinstance(value, str | int | float)}


def function_settings_defaults(template_path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return dict(load_template(template_path).get("Globals", {}).get("Function", {}))


@dataclass
class LambdaContext:
    """The attributes of the runtime's context object that Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 10.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class Invoker:
    """Loads handlers by their template `Handler` string and runs one invocation at a time."""

    def __init__(self, template_path: Path = TEMPLATE_PATH) -> None:
        self._template_path = template_path
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def handler(self, logical_id: str) -> Handler:
        if logical_id not in self._handlers:
            spec = function_settings(logical_id, self._template_path)["Handler"]
            module_name, _, attribute = spec.rpartition(".")
            self._handlers[logical_id] = getattr(importlib.import_module(module_name), attribute)
        return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        handler = self.handler(logical_id)
        settings = function_settings(logical_id, self._template_path)
        memory, timeout = settings.get("MemorySize", 128), settings.get("Timeout", 3)
        context = LambdaContext(
            function_name=logical_id,
            # Intrinsics (e.g. a !Ref to a parameter) have no local value: keep Lambda's defaults.
            memory_limit_in_mb=memory if isinstance(memory, int) else 128,
            timeout_s=float(timeout) if isinstance(timeout, int | float) else 3.0,
        )
        with self._lock:
            return handler(event, context)
