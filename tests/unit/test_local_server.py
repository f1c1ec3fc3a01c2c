"""The local HTTP API turns requests into the events API Gateway sends, routed by template.yaml.

The functions are replaced by a recording fake: these tests are about the edge (routing, the JWT
authorizer, the v2 event and the response mapping), not about the handlers.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2 for its test client; httpx (pinned) works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from localdev.server import FeaturedUser, LocalApi
from localdev.template_routes import routes
from localdev.tokens import TokenAuthority

ORG = "0b6c8a2e-5d1f-4e3a-9c7b-1a2b3c4d5e6f"
MENTOR = "7e1d2c3b-4a5f-4e6d-8c9b-0a1b2c3d4e5f"
USER = "3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00"


class RecordingFunctions:
    """Stands in for the invoker: records each (function, event) and answers with `reply`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reply: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((logical_id, event))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    @property
    def event(self) -> dict[str, Any]:
        return self.calls[-1][1]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TokenAuthority:
    return TokenAuthority.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def functions() -> RecordingFunctions:
    return RecordingFunctions()


@pytest.fixture
def client(authority: TokenAuthority, functions: RecordingFunctions) -> TestClient:
    api = LocalApi(routes(), authority, functions, lambda: {"openapi": "3.1.0", "paths": {}})
    return TestClient(api.app())


@pytest.fixture
def auth(authority: TokenAuthority) -> dict[str, str]:
    return {"Authorization": f"Bearer {authority.mint(USER)}"}


def test_a_request_becomes_the_http_api_v2_event_of_its_template_route(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # Given a valid token
    # When a mentor's stats are requested
    response = client.get(f"/orgs/{ORG}/mentors/{MENTOR}/stats", headers={**auth, "X-Trace": "abc"})
    # Then the function the template names receives the v2 event for the route
    assert response.status_code == 200
    function, event = functions.calls[-1]
    assert function == "GetStatsFunction"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /orgs/{org_id}/mentors/{mentor_id}/stats"
    assert event["rawPath"] == f"/orgs/{ORG}/mentors/{MENTOR}/stats"
    assert event["pathParameters"] == {"org_id": ORG, "mentor_id": MENTOR}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["routeKey"] == event["routeKey"]
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == USER
    assert event["headers"]["x-trace"] == "abc"
    assert all(name == name.lower() for name in event["headers"])
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event


def test_repeated_query_parameters_are_comma_joined_as_api_gateway_does(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # When the overview is asked for two mentors
    client.get(f"/orgs/{ORG}/mentor-stats?mentor_id=a&mentor_id=b&limit=5", headers=auth)
    # Then the raw query is kept and the parsed one joins repeats
    assert functions.event["rawQueryString"] == "mentor_id=a&mentor_id=b&limit=5"
    assert functions.event["queryStringParameters"] == {"mentor_id": "a,b", "limit": "5"}


def test_a_literal_segment_wins_over_a_path_parameter(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # When a draft is validated (…/badge-definitions/validate also matches …/{definition_id})
    client.post(f"/orgs/{ORG}/badge-definitions/validate", headers=auth, json={"type": "manual"})
    # Then the literal route is chosen, with the JSON body passed as text
    assert functions.calls[-1][0] == "ConfigCrudFunction"
    assert functions.event["routeKey"] == "POST /orgs/{org_id}/badge-definitions/validate"
    assert json.loads(functions.event["body"]) == {"type": "manual"}
    assert functions.event["isBase64Encoded"] is False


def test_binary_bodies_are_base64_encoded_and_cookies_split_out(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # When a binary body and cookies arrive
    client.post(
        f"/orgs/{ORG}/evaluations",
        headers={**auth, "Content-Type": "application/octet-stream", "Cookie": "a=1; b=2"},
        content=b"\x00\xff",
    )
    # Then the event carries them as API Gateway would
    assert functions.event["isBase64Encoded"] is True
    assert base64.b64decode(functions.event["body"]) == b"\x00\xff"
    assert functions.event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in functions.event["headers"]


def test_the_functions_reply_is_mapped_back_to_http(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # Given a function replying with headers, cookies and a base64 body
    functions.reply = {
        "statusCode": 201,
        "headers": {"ETag": '"3"', "Content-Type": "application/json"},
        "cookies": ["session=x; Path=/"],
        "body": base64.b64encode(b'{"ok": true}').decode(),
        "isBase64Encoded": True,
    }
    # When it is called
    response = client.post(f"/orgs/{ORG}/badge-definitions", headers=auth, json={})
    # Then status, headers, cookies and body come back decoded
    assert response.status_code == 201
    assert response.headers["etag"] == '"3"'
    assert response.headers["set-cookie"] == "session=x; Path=/"
    assert response.json() == {"ok": True}
    assert response.headers["apigw-requestid"] == functions.event["requestContext"]["requestId"]


def test_a_reply_without_status_code_is_a_200_json_body(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    functions.reply = {"evaluated": 3}
    response = client.post(f"/orgs/{ORG}/evaluations", headers=auth, json={})
    assert response.status_code == 200
    assert response.json() == {"evaluated": 3}


def test_a_function_that_raises_gives_api_gateways_500(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    functions.reply = RuntimeError("boom")
    response = client.get(f"/orgs/{ORG}/badge-definitions", headers=auth)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic dXNlcjpwdw=="])
def test_without_a_valid_token_the_authorizer_answers_401_and_no_function_runs(
    client: TestClient, functions: RecordingFunctions, header: str | None
) -> None:
    response = client.get(
        f"/orgs/{ORG}/badge-definitions", headers={"Authorization": header} if header else {}
    )
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert functions.calls == []


def test_a_token_signed_by_another_key_is_refused(client: TestClient, functions: RecordingFunctions) -> None:
    stranger = TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    response = client.get(
        f"/orgs/{ORG}/badge-definitions", headers={"Authorization": f"Bearer {stranger.mint(USER)}"}
    )
    assert response.status_code == 401
    assert functions.calls == []


def test_unknown_paths_are_404_and_known_paths_with_another_method_405(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # Route checks come before the authorizer, as in API Gateway: no token needed to learn a route is absent.
    missing = client.get("/orgs/x/nothing-here")
    wrong_method = client.put(f"/orgs/{ORG}/badge-definitions", headers=auth, json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "route_not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert functions.calls == []


def test_local_tokens_are_minted_for_a_uuid_subject(client: TestClient, authority: TokenAuthority) -> None:
    # When a token is asked for a user id
    response = client.post("/_local/token", json={"sub": USER})
    # Then it is a bearer token the local authorizer accepts
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert authority.verify(body["access_token"])["sub"] == USER
    # And shell users can have it bare
    raw = client.post("/_local/token", json={"sub": USER}, headers={"Accept": "text/plain"})
    assert authority.verify(raw.text)["sub"] == USER


@pytest.mark.parametrize(
    "body",
    [
        '{"sub": "not-a-uuid"}',
        '{"sub": 42}',
        "{}",
        "[]",
        "{not json",
        json.dumps({"sub": USER, "expires_in": 0}),
    ],
)
def test_local_token_requests_with_bad_input_are_400(client: TestClient, body: str) -> None:
    response = client.post("/_local/token", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"]


def test_the_local_routes_are_not_in_the_template() -> None:
    assert not [route for route in routes() if route.path.startswith(("/_local", "/docs", "/openapi"))]


def test_the_openapi_document_and_swagger_ui_are_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["openapi"] == "3.1.0"
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/swagger-ui.css").status_code == 200


def test_a_path_segment_with_a_control_character_still_reaches_the_template_route(
    client: TestClient, functions: RecordingFunctions, auth: dict[str, str]
) -> None:
    # Given a mentor id holding an encoded newline (API Gateway routes it; the handler rejects the id)
    response = client.get(f"/orgs/{ORG}/mentors/bad%0Aid/stats", headers=auth)
    # Then the request is routed to the template's function, not answered by a bare text 404
    assert response.status_code == 200
    function, event = functions.calls[-1]
    assert function == "GetStatsFunction"
    assert event["pathParameters"]["mentor_id"] == "bad\nid"


def test_the_root_points_a_browser_to_the_explorer_the_token_route_and_the_demo_users(
    authority: TokenAuthority, functions: RecordingFunctions
) -> None:
    # Given a local API that features a demo mentor
    mentor = FeaturedUser(
        "NHF", ORG, "peer_mentor", MENTOR, "a live <streak>", f"/orgs/{ORG}/mentors/{MENTOR}/stats"
    )
    api = LocalApi(routes(), authority, functions, lambda: {}, featured=[mentor])
    client = TestClient(api.app())
    # When a browser opens /
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    # Then it gets a page linking to the explorer, explaining the token route and listing the user
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text and "POST /_local/token" in page.text
    assert "http://testserver/_local/token" in page.text
    assert MENTOR in page.text and "a live &lt;streak&gt;" in page.text
    # And no function ran, and no token was needed
    assert functions.calls == []


def test_the_root_answers_a_script_with_the_same_pointers_as_json(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["api_explorer"] == "/docs" and body["openapi"] == "/openapi.json"
    assert body["token"] == {"method": "POST", "path": "/_local/token", "body": {"sub": "<user uuid>"}}
    assert body["demo_users"] == []
    # Other methods on / are the HTTP API's, which has no such route
    assert client.post("/").status_code == 404
