"""Authorisation: identity comes from the verified token, role and scope from the database only.

A caller outside the organisation gets the same 403 whatever mentor they ask about, so the answer
never reveals whether a mentor exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from peer_badges.db import Queryable
from peer_badges.errors import Forbidden

PEER_MENTOR = "peer_mentor"
COORDINATOR = "coordinator"
ORG_ADMIN = "org_admin"

_UUID = TypeAdapter(UUID)

NOT_A_MEMBER = "You are not a member of this organisation. Ask an organisation admin to add you."


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


# The caller's roles in the org and whether they coordinate the mentor (caller_access, sql/021; the
# stats read calls it in the same statement).
_ACCESS_SQL = "SELECT * FROM caller_access(:org_id, :user_id, CAST(:mentor_id AS uuid))"


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


def require_reader_of(access: Access, mentor_id: UUID) -> Access:
    """``require_mentor_reader`` for access already read with the data (one round trip)."""
    return check_mentor_reader(access, mentor_id)


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


def require_person_or_admin(db: Queryable, org_id: UUID, user_id: UUID, person_id: UUID) -> Access:
    """The person themself (also after they left the organisation: their data is still theirs to see),
    or an org admin (SPEC 8.5's data export)."""
    access = load_access(db, org_id, user_id)
    if user_id == person_id or access.is_admin:
        return access
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    raise Forbidden("Only the person themself or an organisation admin can export a person's data.")


def require_overview_reader(db: Queryable, org_id: UUID, user_id: UUID) -> Access:
    """Coordinators (their own mentors) and admins (everyone) may read the overview."""
    access = require_member(db, org_id, user_id)
    if not (access.is_admin or access.is_coordinator):
        raise Forbidden("Only coordinators and organisation admins can see other mentors' statistics.")
    return access


def require_payout_reader(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID | None) -> Access:
    """Payouts: admins all, coordinators their mentors', a mentor their own (SPEC 8.4).

    Without `mentor_id` every member may list (the list is narrowed to what they may see); naming a
    mentor outside the caller's scope is refused, the same way whether that mentor exists or not.
    """
    access = load_access(db, org_id, user_id, mentor_id)
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    if mentor_id is None or access.is_admin or access.user_id == mentor_id or access.assigned_to_mentor:
        return access
    if access.is_coordinator:
        raise Forbidden("Coordinators can only see payouts of mentors assigned to them.")
    raise Forbidden("Mentors can only see their own payouts.")


_OUT_OF_SCOPE_SQL = """
SELECT r.id FROM unnest(CAST(:mentor_ids AS uuid[])) AS r(id)
WHERE NOT CASE WHEN :is_admin
               THEN EXISTS (SELECT 1 FROM org_members AS om WHERE om.org_id = :org_id AND om.user_id = r.id)
               ELSE EXISTS (SELECT 1 FROM coordinator_assignments AS ca
                            WHERE ca.org_id = :org_id AND ca.coordinator_id = :caller AND ca.peer_mentor_id = r.id)
          END
ORDER BY r.id
"""


def require_mentors_in_scope(db: Queryable, access: Access, mentor_ids: list[UUID] | None) -> Access:
    """Mentors named explicitly must all be in the caller's scope: refused (403, naming them), never
    silently dropped. Admins: members of the org; coordinators: mentors assigned to them."""
    if not mentor_ids:
        return access
    rows = db.query(
        _OUT_OF_SCOPE_SQL,
        mentor_ids=sorted(set(mentor_ids)),
        is_admin=access.is_admin,
        org_id=access.org_id,
        caller=access.user_id,
    )
    if not rows:
        return access
    named = ", ".join(str(row["id"]) for row in rows)
    if access.is_admin:
        raise Forbidden(f"These mentor ids are not members of this organisation: {named}.")
    raise Forbidden(
        f"You can only see mentors assigned to you; not assigned to you: {named}. "
        "Ask an organisation admin to assign them, or leave them out."
    )


def require_self_or_admin(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID, what: str) -> Access:
    """The mentor themself or an org admin (e.g. a mentor's portable credentials; not coordinators)."""
    access = require_member(db, org_id, user_id)
    if access.user_id == mentor_id or access.is_admin:
        return access
    raise Forbidden(f"Only the mentor themself and organisation admins can get {what}.")


def require_pause_reader(db: Queryable, org_id: UUID, user_id: UUID, mentor_id: UUID | None) -> Access:
    """Streak pauses (SPEC 8.3): admins see all; coordinators the organisation's and their mentors'.

    Naming a mentor outside a coordinator's scope is refused, the same way whether that mentor exists.
    """
    access = load_access(db, org_id, user_id, mentor_id)
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    if access.is_admin or (access.is_coordinator and (mentor_id is None or access.assigned_to_mentor)):
        return access
    if access.is_coordinator:
        raise Forbidden("Coordinators can only see the streak pauses of mentors assigned to them.")
    raise Forbidden("Only coordinators and organisation admins can see streak pauses.")


def uuid_or_none(value: object) -> UUID | None:
    """A request's value as a UUID, parsed exactly as the request models parse it (so an id this
    lets through unparsed is one validation refuses), or None when it is no UUID."""
    try:
        return _UUID.validate_python(value) if value is not None else None
    except ValidationError:
        return None


def require_pause_writer(db: Queryable, org_id: UUID, user_id: UUID, peer_mentor_id: object) -> Access:
    """Creating a streak pause: admins any; coordinators one for a mentor assigned to them, never one
    for the whole organisation.

    ``peer_mentor_id`` is the body's value as sent: null or absent means the whole organisation; text
    that is not a UUID names nobody, so it is left to validation to refuse (422, with the body's other
    problems).
    """
    mentor_id = uuid_or_none(peer_mentor_id)
    access = load_access(db, org_id, user_id, mentor_id)
    if not access.is_member:
        raise Forbidden(NOT_A_MEMBER)
    if access.is_admin:
        return access
    if not access.is_coordinator:
        raise Forbidden("Only coordinators and organisation admins can pause streaks.")
    if peer_mentor_id is None:
        raise Forbidden(
            "Only organisation admins can pause the whole organisation; coordinators give the "
            "peer_mentor_id of a mentor assigned to them."
        )
    if mentor_id is None or access.assigned_to_mentor:
        return access
    raise Forbidden("Coordinators can only pause the streaks of mentors assigned to them.")
