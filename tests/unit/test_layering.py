"""The layering rule (docs/architecture.md), checked on the source where a machine can check it.

Routes authorise first, call one logic function and reply; they never build SQL. Logic never builds
HTTP. Authorisation lives in peer_badges.auth and the routes, not inside reads, except where listed
below with the reason (each exception must still exist, so the list cannot go stale).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "peer_badges"
ROUTES = sorted(ROOT.glob("functions/*/*/*routes.py"))

# Routes whose authorisation happens inside a logic function, and why. Keep this list short.
AUTHORISED_INSIDE_LOGIC: dict[str, str] = {}
# Reads that fetch the caller's access together with the data, in one round trip, decide nothing, and
# must be followed at once by the route's require_* call on that access.
ACCESS_READS = {"read_mentor_stats"}
# Routes anyone may call, and why (template.yaml: Authorizer NONE; tests/integration/test_template.py).
PUBLIC: dict[str, str] = {
    "award_badge.routes.get_issuer": "SPEC 8.6: a verifier fetches the issuer profile without an account",
    "award_badge.routes.get_achievement": "SPEC 8.6: a verifier fetches the achievement without an account",
    "award_badge.routes.get_status_list": "SPEC 8.6: a verifier fetches the status list without an account",
}
# Layer modules that authorise inside a read, and why (none: authorisation is in the routes).
LOGIC_THAT_AUTHORISES: dict[str, str] = {}

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
PREAMBLE_CALLS = {"get_database", "caller_id"}
# peer_badges.api's replies, and award_badge.linked_data's JSON-LD reply (its media type and caching).
REPLIES = {"reply", "cacheable_response", "text_reply", "linked_data_response"}
DB_METHODS = {"query", "query_one", "execute", "transaction"}
SQL = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b[\s\S]*\b(FROM|SET|VALUES|WHERE)\b")


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _calls(node: ast.AST) -> list[str]:
    return [_name(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)]


def _routes(path: Path) -> list[tuple[str, ast.FunctionDef]]:
    module = f"{path.parent.name}.routes"
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in HTTP_METHODS
            for d in node.decorator_list
        ):
            found.append((f"{module}.{node.name}", node))
    return found


ALL_ROUTES = [route for path in ROUTES for route in _routes(path)]


def test_every_routes_module_and_route_is_seen() -> None:
    assert len(ROUTES) >= 4
    assert len(ALL_ROUTES) >= 16
    names = {name for name, _ in ALL_ROUTES}
    assert set(AUTHORISED_INSIDE_LOGIC) | set(PUBLIC) <= names, "an exception names a route that is gone"


@pytest.mark.parametrize(("name", "route"), ALL_ROUTES, ids=[name for name, _ in ALL_ROUTES])
def test_a_route_authorises_first_then_calls_logic_and_replies(name: str, route: ast.FunctionDef) -> None:
    body = route.body[1:] if isinstance(route.body[0], ast.Expr) else route.body  # after a docstring
    if name in PUBLIC or name in AUTHORISED_INSIDE_LOGIC:
        assert not any(call.startswith("require_") for call in _calls(route)), f"{name} is no exception now"
    else:
        # Only `db = get_database()` and `caller = caller_id(router)` may come before the require_* call.
        first = next(i for i, stmt in enumerate(body) if set(_calls(stmt)) - PREAMBLE_CALLS)
        if set(_calls(body[first])) & ACCESS_READS:
            first += 1
        authorising = [call for call in _calls(body[first]) if call.startswith("require_")]
        assert authorising, f"{name}: the first thing it does must be a require_* call from peer_badges.auth"
    last = body[-1]
    assert isinstance(last, ast.Return) and last.value is not None
    assert _name(last.value.func if isinstance(last.value, ast.Call) else last.value) in REPLIES, (
        f"{name} must reply through peer_badges.api (reply / cacheable_response)"
    )
    lines = (route.end_lineno or 0) - body[0].lineno + 1
    assert lines <= 15, f"{name}'s body is {lines} lines; move the work into one logic function"


@pytest.mark.parametrize("path", ROUTES, ids=[p.parent.name for p in ROUTES])
def test_routes_modules_build_no_sql_and_no_helpers_of_their_own(path: Path) -> None:
    tree = ast.parse(path.read_text())
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if SQL.search(s)], f"{path.name} holds SQL; it belongs in the layer"
    db_calls = [
        call.func.attr
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in DB_METHODS
    ]
    assert db_calls == [], f"{path.parent.name} talks to the database itself: {db_calls}"
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m for m in imported if m.startswith("pg8000")}
    # The helpers every routes module used to repeat live once, in peer_badges.api.
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert not defined & {"_reply", "_errors", "_ok", "_request_id", "_now"}


LAYER_MODULES = sorted(p for p in LAYER.glob("*.py") if p.name not in {"api.py", "auth.py"})


@pytest.mark.parametrize("path", LAYER_MODULES, ids=[p.name for p in LAYER_MODULES])
def test_logic_builds_no_http_and_authorises_only_where_listed(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    http = {m for m in imported if m.startswith("aws_lambda_powertools.event_handler")}
    assert not http, f"{path.name} imports the HTTP layer ({http}); raise peer_badges.errors instead"
    authorises = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "peer_badges.auth"
        for alias in node.names
        if alias.name.startswith(("require_", "check_"))
    }
    if path.name in LOGIC_THAT_AUTHORISES:
        assert authorises, f"{path.name} no longer authorises: drop it from LOGIC_THAT_AUTHORISES"
    else:
        assert not authorises, f"{path.name} authorises inside logic ({authorises}); do it in the route"
