"""The route table and schedules declared in template.yaml.

The local HTTP server and the tests route from this, so local routing cannot drift from
what API Gateway serves in AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"

_PARAM_SEGMENT = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function_logical_id: str
    handler: str
    code_uri: str
    # `Auth: {Authorizer: NONE}` on the event: API Gateway runs no authorizer for it.
    public: bool = False

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.removeprefix("/").split("/"))


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class Schedule:
    name: str
    function_logical_id: str
    expression: str
    input: dict[str, Any]


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads short-form intrinsics (!Ref, !Sub, !GetAtt, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        # A SafeLoader subclass that only adds the intrinsic tags: still safe.
        template: dict[str, Any] = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506
    return template


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """SAM functions with Globals.Function applied (function properties win)."""
    defaults = template.get("Globals", {}).get("Function", {})
    return {
        logical_id: {**defaults, **resource.get("Properties", {})}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _events(template: dict[str, Any], *types: str) -> Iterator[tuple[str, dict, str, dict]]:
    for logical_id, properties in _functions(template).items():
        for name, event in properties.get("Events", {}).items():
            if event["Type"] in types:
                yield logical_id, properties, name, event.get("Properties", {})


def routes(path: Path = TEMPLATE_PATH) -> list[Route]:
    """Every HttpApi event in the template, in template order."""
    found = []
    for logical_id, function, _name, event in _events(load_template(path), "HttpApi"):
        route_path = event["Path"]
        if "+}" in route_path:
            raise ValueError(f"greedy path parameters are not supported: {route_path}")
        found.append(
            Route(
                method=event["Method"].upper(),
                path=route_path,
                function_logical_id=logical_id,
                handler=function["Handler"],
                code_uri=function["CodeUri"],
                public=event.get("Auth", {}).get("Authorizer") == "NONE",
            )
        )
    return found


def schedules(path: Path = TEMPLATE_PATH) -> list[Schedule]:
    """Every Schedule/ScheduleV2 event, with its Input parsed from JSON."""
    return [
        Schedule(
            name=name,
            function_logical_id=logical_id,
            expression=event["ScheduleExpression"],
            input=json.loads(event.get("Input", "{}")),
        )
        for logical_id, _function, name, event in _events(load_template(path), "Schedule", "ScheduleV2")
    ]


def _match_segments(pattern: tuple[str, ...], actual: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(actual):
        return None
    parameters = {}
    for expected, segment in zip(pattern, actual, strict=True):
        param = _PARAM_SEGMENT.match(expected)
        if param:
            if not segment:
                return None
            parameters[param.group(1)] = segment
        elif expected != segment:
            return None
    return parameters


def _specificity(route: Route) -> tuple[bool, ...]:
    # Like API Gateway: a literal segment beats a parameter at the same position.
    return tuple(_PARAM_SEGMENT.match(segment) is not None for segment in route.segments)


def _matching(path: str, table: list[Route]) -> list[RouteMatch]:
    actual = path.split("?", 1)[0].removeprefix("/").split("/")
    found = []
    for route in table:
        parameters = _match_segments(route.segments, actual)
        if parameters is not None:
            found.append(RouteMatch(route, parameters))
    return sorted(found, key=lambda match: _specificity(match.route))


def function_for(method: str, path: str, table: list[Route] | None = None) -> RouteMatch | None:
    """The most specific route serving `method path`, with its path parameters; None if none does."""
    method = method.upper()
    for match in _matching(path, routes() if table is None else table):
        if match.route.method in (method, "ANY"):
            return match
    return None


def allowed_methods(path: str, table: list[Route] | None = None) -> set[str]:
    """Methods with a route for `path`: tells a 405 (non-empty) from a 404 (empty)."""
    return {match.route.method for match in _matching(path, routes() if table is None else table)}
