"""Authorisation: identity comes from the verified token, role and scope from the database only.

A caller outside the organisation gets the same 403 whatever mentor they ask about, so the answer
never reveals whether a mentor exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from peer_badges.errors import Forbidden

PEER_MENTOR = "peer_mentor"
COORDINATOR = "coordinator"
ORG_ADMIN = "org_admin"

NOT_A_MEMBER = "You are not a member of this organisation. Ask an organisation admin to add you."


class Queryable(Protocol):
    def query_one(self, sql: str, **params: object) -> dict[str, object] | None: ...


@dataclass(frozen=True)
class Access:
    """What one caller may do in one organisation (and towards one mentor, when asked)."""

    user_id: UUID
    org_id: UUID
    roles: frozenset[str]
    assigned_to_mentor: bool = False

    @property
    def is_member(self) -> bool:
        return bool(self.roles)

    @property
    def is_admin(self) -> bool:
        return ORG_ADMIN in self.roles

    @property
    def is_coordinator(self) -> bool:
        return COORDINATOR in self.roles


# The caller's roles in the org and whether they coordinate the mentor; other reads embed it.
ACCESS_COLUMNS = """
    COALESCE((SELECT array_agg(role ORDER BY role) FROM org_members
              WHERE org_id = :org_id AND user_id = :user_id), '{}'::text[]) AS roles,
    EXISTS (SELECT 1 FROM coordinator_assignments
            WHERE org_id = :org_id AND coordinator_id = :user_id
              AND peer_mentor_id = CAST(:mentor_id AS uuid)) AS assigned
"""
_ACCESS_SQL = "SELECT" + ACCESS_COLUMNS


def load_access(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID | None = None) -> Access:
    row = db.query_one(_ACCESS_SQL, org_id=org_id, user_id=user_id, mentor_id=mentor_id) or {}
    roles = row.get("roles") or []
    assert isinstance(roles, list)
    return Access(
        user_id=user_id,
        org_id=org_id,
        roles=frozenset(str(role) for role in roles),
        assigned_to_mentor=bool(row.get("assigned")),
    )


def require_member(db: Queryable, org_id: UUID, user_id: UUID) -> Access:
    access = load_access(db, org_id, user_id)
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    return access


def require_admin(db: Queryable, org_id: UUID, user_id: UUID, action: str = "change this") -> Access:
    access = require_member(db, org_id, user_id)
    if not access.is_admin:
        raise Forbidden(f"Only organisation admins can {action}.")
    return access


def require_mentor_reader(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID) -> Access:
    """The mentor themself, a coordinator assigned to them, or an org admin."""
    return check_mentor_reader(load_access(db, org_id, user_id, mentor_id), mentor_id)


def access_from_row(org_id: UUID, user_id: UUID, roles: object, assigned: object) -> Access:
    """An Access from columns read by another statement (e.g. folded into a stats read)."""
    return Access(
        user_id=user_id,
        org_id=org_id,
        roles=frozenset(str(role) for role in (roles or [])),  # type: ignore[attr-defined]
        assigned_to_mentor=bool(assigned),
    )


def check_mentor_reader(access: Access, mentor_id: UUID) -> Access:
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    if access.user_id == mentor_id or access.is_admin or access.assigned_to_mentor:
        return access
    if access.is_coordinator:
        raise Forbidden("Coordinators can only see mentors assigned to them.")
    raise Forbidden("Mentors can only see their own statistics and badges.")


def require_mentor_manager(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID) -> Access:
    """A coordinator assigned to the mentor, or an org admin (e.g. for manual awards)."""
    access = load_access(db, org_id, user_id, mentor_id)
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    if access.is_admin or (access.is_coordinator and access.assigned_to_mentor):
        return access
    if access.is_coordinator:
        raise Forbidden("Coordinators can only award badges to mentors assigned to them.")
    raise Forbidden("Only coordinators and organisation admins can award badges.")


def require_overview_reader(db: Queryable, org_id: UUID, user_id: UUID) -> Access:
    """Coordinators (their own mentors) and admins (everyone) may read the overview."""
    access = require_member(db, org_id, user_id)
    if not (access.is_admin or access.is_coordinator):
        raise Forbidden("Only coordinators and organisation admins can see other mentors' statistics.")
    return access


def require_self_or_admin(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID, what: str) -> Access:
    """The mentor themself or an org admin (e.g. a mentor's portable credentials; not coordinators)."""
    access = require_member(db, org_id, user_id)
    if access.user_id == mentor_id or access.is_admin:
        return access
    raise Forbidden(f"Only the mentor themself and organisation admins can get {what}.")
