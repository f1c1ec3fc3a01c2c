"""Test helpers: API Gateway HTTP API (v2) events, a Lambda context, and seed data."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from peer_badges.awards import AwardCommand, AwardDefinition, award_in_own_transaction
from peer_badges.db import Database, Json
from peer_badges.models import EarnedBadge
from peer_badges.models.definitions import BadgeDefinition


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-north-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def api_event(
    method: str,
    path: str,
    *,
    sub: str | uuid.UUID | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str | list[str]] | None = None,
    raw_body: str | None = None,
    route_key: str | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event as API Gateway sends it after the JWT authorizer accepted the token."""
    query = query or {}
    pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(pairs),
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if pairs:
        event["queryStringParameters"] = {
            k: ",".join(v) if isinstance(v, list) else v for k, v in query.items()
        }
    if sub is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": str(sub)}, "scopes": None}}
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body, default=str)
    return event


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


def invoke(handler: Any, event: dict[str, Any]) -> Reply:
    result = handler(event, LambdaContext())
    raw = result.get("body") or ""
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        body = raw
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return Reply(status=result["statusCode"], headers=headers, body=body)


@dataclass
class Org:
    id: uuid.UUID
    admin: uuid.UUID
    coordinator: uuid.UUID
    other_coordinator: uuid.UUID
    mentor: uuid.UUID
    other_mentor: uuid.UUID
    timezone: str


def seed_org(db: Database, slug: str = "nhf", timezone: str = "Europe/Oslo") -> Org:
    """An organisation with an admin, two coordinators and two mentors; `coordinator` is assigned to `mentor`."""
    org = Org(
        id=uuid.uuid4(),
        admin=uuid.uuid4(),
        coordinator=uuid.uuid4(),
        other_coordinator=uuid.uuid4(),
        mentor=uuid.uuid4(),
        other_mentor=uuid.uuid4(),
        timezone=timezone,
    )
    db.query(
        "INSERT INTO organizations (id, slug, name, timezone) VALUES (:id, :slug, :name, :tz)",
        id=org.id,
        slug=f"{slug}-{org.id.hex[:6]}",
        name=slug.upper(),
        tz=timezone,
    )
    members = [
        (org.admin, "org_admin"),
        (org.coordinator, "coordinator"),
        (org.other_coordinator, "coordinator"),
        (org.mentor, "peer_mentor"),
        (org.other_mentor, "peer_mentor"),
    ]
    for user_id, role in members:
        db.query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :u, :r)", o=org.id, u=user_id, r=role
        )
    db.query(
        "INSERT INTO coordinator_assignments (org_id, coordinator_id, peer_mentor_id) VALUES (:o, :c, :m)",
        o=org.id,
        c=org.coordinator,
        m=org.mentor,
    )
    return org


def add_activity(
    db: Database,
    org_id: uuid.UUID,
    mentor_id: uuid.UUID,
    activity_date: date,
    activity_type: str = "assignment",
    duration_minutes: int | None = 60,
    status: str = "approved",
) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status)
           VALUES (:o, :m, :t, :d, :minutes, :s) RETURNING id""",
        o=org_id,
        m=mentor_id,
        t=activity_type,
        d=activity_date,
        minutes=duration_minutes,
        s=status,
    )
    assert row is not None
    return row["id"]


THRESHOLD = {"type": "threshold", "schema_version": 1, "threshold": 10}


def add_first_activity_badge(db: Database, org_id: uuid.UUID) -> None:
    """A badge 'first' for one counted activity, defined long ago (2020), so that crossing it now is
    news rather than a backfill."""
    db.query(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
           VALUES (:o, 'first', 'First', CAST(:c AS jsonb), '2020-01-01Z', '2020-01-01Z')""",
        o=org_id,
        c=Json({"type": "threshold", "schema_version": 1, "threshold": 1}),
    )


def make_definition(db: Database, org_id: uuid.UUID, criteria: dict[str, Any]) -> BadgeDefinition:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, :key, 'A badge', CAST(:criteria AS jsonb)) RETURNING *""",
        org=org_id,
        key=f"badge-{uuid.uuid4().hex[:8]}",
        criteria=Json(criteria),
    )
    return BadgeDefinition.model_validate(row)


def award_many(db: Database, org: Org, n: int, criteria: dict[str, Any] | None = None) -> list[EarnedBadge]:
    """n committed awards (one per mentor) whose events are still in the outbox."""
    definition = AwardDefinition.of(make_definition(db, org.id, criteria or THRESHOLD))
    return [
        award_in_own_transaction(
            db,
            AwardCommand(
                org_id=org.id,
                peer_mentor_id=uuid.uuid4(),
                definition=definition,
                level=1,
                earned_at=date(2024, 6, 3),
                source="evaluation",
            ),
        ).badge
        for _ in range(n)
    ]
