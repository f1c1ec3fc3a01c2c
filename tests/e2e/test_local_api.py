"""The local API over real HTTP: the start-up screen, tokens, awards within 2 s, stats, overview, admin config.

One `python -m localdev.run` serves the whole module (see conftest.py); activities are inserted
with SQL, exactly as the mobile app's backend writes them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import demo
from localdev.lambda_runtime import REPO_ROOT
from localdev.tokens import TokenAuthority
from tests.e2e.conftest import LocalApi, _free_port, _wait_until

pytestmark = pytest.mark.e2e

AWARD_DEADLINE_S = 2.0


def _today() -> date:
    return datetime.now(UTC).date()


def _insert_activities(
    api: LocalApi, org_id: uuid.UUID, mentor_id: uuid.UUID, kind: str, count: int
) -> float:
    """Register `count` approved activities today in one transaction; returns the commit time."""
    with api.database.transaction() as tx:
        for _ in range(count):
            tx.execute(
                """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
                   VALUES (:org, :mentor, :kind, :day, 60)""",
                org=org_id,
                mentor=mentor_id,
                kind=kind,
                day=_today(),
            )
    return time.monotonic()


def _poll(fetch: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float) -> tuple[Any, float]:
    """Call `fetch` until `until(result)`; returns the result and when it first held."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = fetch()
        if until(result) or time.monotonic() > deadline:
            return result, time.monotonic()
        time.sleep(0.05)


def _earned(client: httpx.Client, org_id: object, mentor_id: object) -> list[dict[str, Any]]:
    response = client.get(f"/orgs/{org_id}/mentors/{mentor_id}/badges")
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- start-up ------------------------------------------------------------------------------


def test_the_start_up_screen_shows_urls_and_a_working_curl_line_per_demo_user(local_api: LocalApi) -> None:
    screen = local_api.log()
    assert f"Start      {local_api.base_url}/ " in screen
    assert f"{local_api.base_url}/docs" in screen
    for user in demo.showcase_users():
        assert str(user.user_id) in screen
    curl_lines = [line.strip() for line in screen.splitlines() if line.strip().startswith("curl ")]
    assert len(curl_lines) == len(demo.showcase_users())
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    # A pasted line mints a token and reads real data.
    mentor_line = next(line for line in curl_lines if "/stats" in line)
    output = subprocess.run(
        ["bash", "-c", mentor_line], capture_output=True, text=True, timeout=30, check=True
    )
    assert '"peer_mentor_id"' in output.stdout


def test_the_openapi_document_and_swagger_ui_are_served(local_api: LocalApi) -> None:
    document = httpx.get(f"{local_api.base_url}/openapi.json", timeout=10).json()
    assert "/orgs/{org_id}/mentors/{mentor_id}/stats" in document["paths"]
    assert "/_local/token" in document["paths"]
    assert "swagger-ui" in httpx.get(f"{local_api.base_url}/docs", timeout=10).text
    # The root is where a newcomer starts: it points to the explorer and lists the demo users
    start = httpx.get(f"{local_api.base_url}/", headers={"Accept": "text/html"}, timeout=10)
    assert start.status_code == 200 and 'href="/docs"' in start.text
    assert all(str(user.user_id) in start.text for user in demo.showcase_users())


# --- the authorizer --------------------------------------------------------------------------


def test_a_minted_token_is_accepted(local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]) -> None:
    org = demo_orgs["nhf"]
    response = httpx.post(f"{local_api.base_url}/_local/token", json={"sub": str(org.admin)}, timeout=10)
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    listing = httpx.get(
        f"{local_api.base_url}/orgs/{org.id}/badge-definitions",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert listing.status_code == 200
    assert {item["key"] for item in listing.json()["items"]} >= {"forste-oppdrag", "innsats", "ildsjel"}


def _refused_tokens(authority: TokenAuthority, sub: str) -> dict[str, str]:
    stranger = TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return {
        "wrong audience": authority.mint(sub, audience="another-app"),
        "wrong issuer": authority.mint(sub, issuer="https://elsewhere.example/"),
        "expired": authority.mint(sub, now=time.time() - 7200, ttl_s=60),
        "bad signature": stranger.mint(sub),
        "unsigned": jwt.encode({"sub": sub, "exp": int(time.time()) + 60}, key=None, algorithm="none"),
        "garbage": "not.a.jwt",
    }


def test_tokens_the_authorizer_would_refuse_get_401_and_reach_no_function(
    local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]
) -> None:
    org = demo_orgs["nhf"]
    url = f"{local_api.base_url}/orgs/{org.id}/badge-definitions"
    for reason, token in _refused_tokens(local_api.authority, str(org.admin)).items():
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 401, reason
        assert response.json() == {"message": "Unauthorized"}, reason
    assert httpx.get(url, timeout=10).status_code == 401


@pytest.mark.parametrize("body", [{"sub": "12345"}, {"sub": ""}, {"user": "x"}, {"sub": None}])
def test_minting_a_token_for_a_malformed_subject_is_400(local_api: LocalApi, body: dict) -> None:
    response = httpx.post(f"{local_api.base_url}/_local/token", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_sub"


def test_routing_follows_the_template(local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]) -> None:
    org = demo_orgs["nhf"]
    with local_api.client(org.admin) as admin:
        assert admin.get(f"/orgs/{org.id}/no-such-thing").status_code == 404
        wrong_method = admin.put(f"/orgs/{org.id}/badge-definitions", json={})
        assert wrong_method.status_code == 405
        # A malformed id reaches the handler and gets its clear 400, never a 500.
        malformed = admin.get(f"/orgs/{org.id}/mentors/not-a-uuid/stats")
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"]


# --- a mentor's activities become badges -------------------------------------------------------


def test_the_third_assignment_awards_blindeforbundets_honorarium_within_two_seconds(
    local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]
) -> None:
    # Given the Blindeforbundet mentor with two approved assignments and no honorarium yet
    org = demo_orgs["blindeforbundet"]
    mentor = org.almost_milestone_mentor
    honorar = str(org.badge_id("honorar"))
    with local_api.client(mentor) as client:
        assert not [b for b in _earned(client, org.id, mentor) if b["badge_definition_id"] == honorar]
        # When the third assignment is registered
        committed = _insert_activities(local_api, org.id, mentor, "assignment", 1)
        # Then the level-1 honorarium badge is there within two seconds
        badges, seen = _poll(
            lambda: _earned(client, org.id, mentor),
            lambda items: any(b["badge_definition_id"] == honorar for b in items),
            timeout_s=10,
        )
        earned = [b for b in badges if b["badge_definition_id"] == honorar]
        assert [b["level"] for b in earned] == [1], badges
        assert seen - committed < AWARD_DEADLINE_S, f"award took {seen - committed:.2f} s"
        assert earned[0]["earned_at"] == _today().isoformat()
        assert earned[0]["source"] == "evaluation"

        # And the mentor's stats and milestones show the crossing and what is next
        stats = client.get(f"/orgs/{org.id}/mentors/{mentor}/stats")
        assert stats.status_code == 200
        honorarium = stats.json()["honorar"]
        assert honorarium["thresholds"] == [3, 15]
        assert honorarium["thresholds_met"] == [3]
        assert honorarium["next_threshold"] == 15 and honorarium["remaining_to_next"] == 12
        assert stats.json()["assignment_count"]["by_type"]["assignment"] == 3
        milestones = client.get(f"/orgs/{org.id}/mentors/{mentor}/milestones").json()
        assert milestones["crossed_thresholds"] == [3] and milestones["next_threshold"] == 15
        progress = [b for b in milestones["badges"] if b["badge_definition_id"] == honorar]
        assert [(b["level"], b["current"], b["target"], b["earned"]) for b in progress] == [
            (1, 3, 3, True),
            (2, 3, 15, False),
        ]

    # And consumers were told, once, with the payable milestone flagged
    events, _ = _poll(
        lambda: httpx.get(f"{local_api.base_url}/_local/events", timeout=10).json()["items"],
        lambda items: sum(e["detail"].get("id") == earned[0]["id"] for e in items) >= 2,
        timeout_s=10,
    )
    mine = [e for e in events if e["detail"].get("id") == earned[0]["id"]]
    assert sorted(e["detail-type"] for e in mine) == ["BadgeAwarded", "HonorarMilestoneReached"]
    assert all(e["detail"]["payable"] is True and e["detail"]["backfill"] is False for e in mine)


def test_stats_carry_an_etag_for_cheap_revalidation(
    local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]
) -> None:
    org = demo_orgs["nhf"]
    with local_api.client(org.featured_mentor) as client:
        first = client.get(f"/orgs/{org.id}/mentors/{org.featured_mentor}/stats")
        assert first.status_code == 200 and first.json()["assignment_count"]["total"] > 50
        again = client.get(
            f"/orgs/{org.id}/mentors/{org.featured_mentor}/stats",
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b""


# --- a coordinator's overview --------------------------------------------------------------------


def test_a_coordinator_sees_exactly_their_mentors(
    local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]
) -> None:
    org = demo_orgs["nhf"]
    coordinator = org.coordinators[0]
    assigned = {str(mentor) for c, mentor in org.assignments if c == coordinator}
    with local_api.client(coordinator) as client:
        seen: set[str] = set()
        cursor = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/orgs/{org.id}/mentor-stats", params=params)
            assert page.status_code == 200, page.text
            seen |= {item["peer_mentor_id"] for item in page.json()["items"]}
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == assigned
        # Specific mentors, repeated query parameter
        two = sorted(assigned)[:2]
        chosen = client.get(f"/orgs/{org.id}/mentor-stats", params=[("mentor_id", m) for m in two])
        assert chosen.status_code == 200
        assert sorted(item["peer_mentor_id"] for item in chosen.json()["items"]) == two
        # A mentor of another coordinator is out of scope
        stranger = next(str(m) for m in org.mentors if str(m) not in assigned)
        refused = client.get(f"/orgs/{org.id}/mentors/{stranger}/stats")
        assert refused.status_code == 403
        assert refused.json()["error"]["message"]


# --- an admin configures a badge ----------------------------------------------------------------


def test_an_admin_creates_patches_previews_and_the_badge_is_awarded(
    local_api: LocalApi, demo_orgs: dict[str, demo.DemoOrg]
) -> None:
    org = demo_orgs["hlf"]
    base = f"/orgs/{org.id}/badge-definitions"
    key = f"e2e-{uuid.uuid4().hex[:8]}"
    criteria = {"type": "threshold", "schema_version": 1, "threshold": 2, "activity_types": ["e2e_workshop"]}
    with local_api.client(org.admin) as admin:
        # Validation lists every problem and stores nothing
        checked = admin.post(f"{base}/validate", json={"type": "tier", "schema_version": 1, "tiers": []})
        assert checked.status_code == 200 and checked.json()["valid"] is False and checked.json()["problems"]
        # Preview: nobody has done this activity type yet
        preview = admin.post(f"{base}/preview", json={"criteria": criteria})
        assert preview.status_code == 200, preview.text
        assert preview.json()["qualifying"] == 0 and preview.json()["evaluated"] > 0
        # Create
        created = admin.post(base, json={"key": key, "name": "Verkstedleder", "criteria": criteria})
        assert created.status_code == 201, created.text
        definition = created.json()
        assert definition["revision"] == 1
        # Patch with If-Match; a stale revision is refused
        patched = admin.patch(
            f"{base}/{definition['id']}", json={"name": "Verkstedleder (HLF)"}, headers={"If-Match": '"1"'}
        )
        assert patched.status_code == 200 and patched.json()["revision"] == 2
        stale = admin.patch(f"{base}/{definition['id']}", json={"name": "x"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412
        assert admin.get(f"{base}/{definition['id']}").json()["name"] == "Verkstedleder (HLF)"

    # When a mentor runs two workshops
    mentor = org.mentors[10]
    committed = _insert_activities(local_api, org.id, mentor, "e2e_workshop", 2)
    # Then the new badge is awarded within two seconds
    with local_api.client(mentor) as client:
        badges, seen = _poll(
            lambda: _earned(client, org.id, mentor),
            lambda items: any(b["badge_definition_id"] == definition["id"] for b in items),
            timeout_s=10,
        )
    assert any(b["badge_definition_id"] == definition["id"] for b in badges)
    assert seen - committed < AWARD_DEADLINE_S, f"award took {seen - committed:.2f} s"


# --- re-running and stopping ---------------------------------------------------------------------


def _start(
    env_overrides: dict[str, str], tmp_path: Any, drop: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, Any, str]:
    port = _free_port()
    log_path = tmp_path / f"run-{port}.log"
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        {"API_PORT": str(port), "LOCALDEV_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1", **env_overrides}
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev.run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(log_path.read_text())
        try:
            return httpx.get(f"{base}/_local/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    _wait_until(ready, 120, "a second local API", log_path.read_text)
    return process, log_path, base


def _stop(process: subprocess.Popen, how: signal.Signals = signal.SIGINT) -> int:
    process.send_signal(how)
    return process.wait(30)


def test_a_second_run_on_the_same_database_duplicates_nothing_and_stops_cleanly(
    local_api: LocalApi, tmp_path: Any
) -> None:
    # Given the demo data already loaded
    def counts() -> dict:
        return (
            local_api.database.query_one(
                "SELECT (SELECT count(*) FROM organizations) AS orgs, (SELECT count(*) FROM org_members) AS members,"
                " (SELECT count(*) FROM activities) AS activities, (SELECT count(*) FROM badge_definitions) AS badges"
            )
            or {}
        )

    before = counts()
    # When `make run` is started again on the same database
    process, log_path, _ = _start({"DATABASE_URL": local_api.database_url}, tmp_path)
    try:
        # Then it reports the demo as already there and nothing was added
        assert "already loaded" in log_path.read_text()
        assert counts() == before
    finally:
        # And SIGTERM stops it cleanly
        assert _stop(process, signal.SIGTERM) == 0
    assert "Stopped the HTTP API, the outbox drain." in log_path.read_text()


def test_ctrl_c_stops_the_embedded_database_too(tmp_path: Any) -> None:
    # Given a local API on its own embedded PostgreSQL (no DATABASE_URL)
    pgdata = tmp_path / "pgdata"
    process, log_path, base = _start(
        {"LOCAL_PGDATA": str(pgdata), "DEMO_DATA": "0"}, tmp_path, drop=("DATABASE_URL",)
    )
    assert (pgdata / "postmaster.pid").exists()
    # When Ctrl-C is pressed
    assert _stop(process) == 0
    # Then the server, the drain and the database are all gone
    assert "Stopped the HTTP API, the outbox drain and the embedded database." in log_path.read_text()
    assert not (pgdata / "postmaster.pid").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/_local/health", timeout=2)
