"""A person's data (SPEC 8.5): the export holds every row naming them, erasure leaves none, the org's
totals stay, and neither logs nor events carry free text about anyone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from award_badge.handler import lambda_handler as award_badge
from get_stats.handler import lambda_handler as get_stats
from peer_badges.db import Database, DatabaseError, Json
from peer_badges.definitions_cache import definitions_cache
from peer_badges.events import publish_pending, set_events_client
from peer_badges.models.personal_data import MentorErasedEvent
from peer_badges.reconcile import reconcile_org
from tests.helpers import Org, Reply, add_activity, api_event, invoke, seed_org
from tests.integration.captured_logs import captured_logs

MANUAL = {"type": "manual", "schema_version": 1}
PAYABLE = {
    "type": "milestone",
    "schema_version": 1,
    "thresholds": [3, 15],
    "payable": True,
    "amounts_nok": [2500, 8000],
}
# Free text an admin or coordinator might type about a person; none may leave in logs or events.
NOTE = "Kari Nordmann helped at the Bergen office"
REVOKE_REASON = "Awarded to Kari by mistake"
REFERENCE = "BANK-KARI-NORDMANN-2026"
OTHER_REFERENCE = "BANK-OLA-2026"
CANCEL_REASON = "Kari asked us to cancel"
ERASURE_REASON = "GDPR request from Kari Nordmann, case 17"
FREE_TEXT = (
    NOTE,
    REVOKE_REASON,
    REFERENCE,
    OTHER_REFERENCE,
    CANCEL_REASON,
    ERASURE_REASON,
    "Kari",
    "Nordmann",
)

# uuid columns that never name a person; any other uuid column must be a person column by name.
NOT_A_PERSON = {"id", "org_id", "badge_definition_id", "earned_badge_id", "event_key"}
APP_TABLES = {"organizations", "org_members", "coordinator_assignments", "activities", "training_completions"}


class RecordingBus:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


@pytest.fixture
def bus() -> Iterator[RecordingBus]:
    recording = RecordingBus()
    set_events_client(recording)
    yield recording
    set_events_client(None)


@dataclass(frozen=True)
class Person:
    org: Org
    other_org: Org  # where the same person also mentors
    id: uuid.UUID
    manual: uuid.UUID
    payable: uuid.UUID


def call(method: str, path: str, sub: uuid.UUID, body: Any = None) -> Reply:
    handler = get_stats if path.endswith(("/stats", "/milestones")) else award_badge
    return invoke(handler, api_event(method, path, sub=sub, body=body))


def _definition(db: Database, org: Org, key: str, criteria: dict[str, Any]) -> uuid.UUID:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, created_by)
           VALUES (:o, :k, :k, CAST(:c AS jsonb), :by) RETURNING id""",
        o=org.id,
        k=key,
        c=Json(criteria),
        by=org.admin,
    )
    assert row is not None
    return row["id"]


@pytest.fixture
def person(db: Database, bus: RecordingBus) -> Person:
    """`org.mentor` with a bit of everything: activities (snapshot, buckets, outbox rows, a future date),
    a manual badge with a note, payable badges (one paid, one revoked: its payout cancelled), and, as a
    coordinator too, a badge they awarded to another mentor. The same person mentors in another org."""
    definitions_cache.invalidate()
    org, other_org = seed_org(db, "nhf"), seed_org(db, "hlf")
    pid = org.mentor
    db.query("INSERT INTO org_members VALUES (:o, :u, 'peer_mentor')", o=other_org.id, u=pid)
    db.query("INSERT INTO org_members VALUES (:o, :u, 'coordinator')", o=org.id, u=pid)
    db.query("INSERT INTO coordinator_assignments VALUES (:o, :c, :m)", o=org.id, c=pid, m=org.other_mentor)
    manual, payable = _definition(db, org, "helper", MANUAL), _definition(db, org, "honorar", PAYABLE)
    other_manual = _definition(db, other_org, "helper", MANUAL)
    for day in range(1, 6):
        add_activity(db, org.id, pid, date(2026, 10, day))
    add_activity(db, org.id, pid, date.today() + timedelta(days=30))  # a scheduled evaluation
    add_activity(db, other_org.id, pid, date(2026, 10, 1))
    db.query(
        "INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at) "
        "VALUES (:o, :m, 'basic-course', '2026-01-10Z')",
        o=org.id,
        m=pid,
    )

    base, mine = f"/orgs/{org.id}", f"/orgs/{org.id}/mentors/{pid}/badges"
    assert call("POST", mine, org.admin, {"badge_definition_id": str(manual), "note": NOTE}).status == 201
    paid = call("POST", mine, org.admin, {"badge_definition_id": str(payable), "level": 1}).body
    revoked = call("POST", mine, org.admin, {"badge_definition_id": str(payable), "level": 2}).body
    payout = call("GET", f"{base}/payouts", org.admin).body["items"]
    paid_payout = next(p for p in payout if p["earned_badge_id"] == paid["id"])
    assert call("POST", f"{base}/payouts/{paid_payout['id']}/approve", org.admin).status == 200
    body = {"reference": REFERENCE}
    assert call("POST", f"{base}/payouts/{paid_payout['id']}/paid", org.admin, body).status == 200
    refused = call(
        "POST", f"{base}/payouts/{paid_payout['id']}/paid", org.admin, {"reference": OTHER_REFERENCE}
    )
    assert refused.status == 409
    body = {"reason": REVOKE_REASON}
    assert call("POST", f"{mine}/{revoked['id']}/revoke", org.admin, body).status == 200
    theirs = f"/orgs/{org.id}/mentors/{org.other_mentor}/badges"
    assert call("POST", theirs, pid, {"badge_definition_id": str(manual), "note": "Great work"}).status == 201
    elsewhere = f"/orgs/{other_org.id}/mentors/{pid}/badges"
    assert call("POST", elsewhere, other_org.admin, {"badge_definition_id": str(other_manual)}).status == 201
    return Person(org=org, other_org=other_org, id=pid, manual=manual, payable=payable)


def leave_and_erase_app_rows(db: Database, person: Person) -> None:
    """What the app does first: the membership goes, then the person's activities and trainings."""
    o, m = person.org.id, person.id
    db.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :m", o=o, m=m)
    db.query(
        "DELETE FROM coordinator_assignments WHERE org_id = :o AND :m IN (coordinator_id, peer_mentor_id)",
        o=o,
        m=m,
    )
    db.query("DELETE FROM activities WHERE org_id = :o AND peer_mentor_id = :m", o=o, m=m)
    db.query("DELETE FROM training_completions WHERE org_id = :o AND peer_mentor_id = :m", o=o, m=m)


def erase(person: Person, reason: Any = ERASURE_REASON, mentor: uuid.UUID | None = None) -> Reply:
    body = {"reason": reason} if reason is not None else {}
    path = f"/orgs/{person.org.id}/mentors/{mentor or person.id}/erasure"
    return call("POST", path, person.org.admin, body)


def bundle_tables(db: Database) -> list[str]:
    rows = db.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' "
        "ORDER BY 1"
    )
    return [r["tablename"] for r in rows if r["tablename"] not in APP_TABLES]


def rows_naming(db: Database, needle: uuid.UUID, org_id: uuid.UUID | None = None) -> dict[str, int]:
    """Per table of this bundle: rows whose any column (uuid, JSON, text) holds the id, in the org."""
    found = {}
    for table in bundle_tables(db):
        row = db.query_one(
            f'SELECT count(*) AS n FROM "{table}" AS t WHERE strpos(to_jsonb(t)::text, :needle) > 0 '
            "AND (CAST(:org AS text) IS NULL OR strpos(to_jsonb(t)::text, CAST(:org AS text)) > 0)",
            needle=str(needle),
            org=str(org_id) if org_id else None,
        )
        if row and row["n"]:
            found[table] = row["n"]
    return found


def uuid_columns_holding(db: Database, needle: uuid.UUID, org_id: uuid.UUID) -> list[str]:
    """Every uuid column of every table of this bundle that holds the id in a row of the org."""
    columns = db.query(
        """SELECT c.table_name, c.column_name FROM information_schema.columns AS c
             JOIN information_schema.tables AS t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND c.data_type = 'uuid' ORDER BY 1, 2"""
    )
    holding = []
    for col in columns:
        if col["table_name"] in APP_TABLES:
            continue
        row = db.query_one(
            f'SELECT count(*) AS n FROM "{col["table_name"]}" AS t WHERE "{col["column_name"]}" = :id '
            "AND strpos(to_jsonb(t)::text, :org) > 0",
            id=needle,
            org=str(org_id),
        )
        if row and row["n"]:
            holding.append(f"{col['table_name']}.{col['column_name']}")
    return holding


def everything(db: Database) -> dict[str, list[str]]:
    return {
        table: sorted(
            json.dumps(r["row"], sort_keys=True)
            for r in db.query(f'SELECT to_jsonb(t) AS row FROM "{table}" AS t')
        )
        for table in bundle_tables(db)
    }


def org_totals(db: Database, org_id: uuid.UUID) -> dict[str, Any]:
    return (
        db.query_one(
            """SELECT (SELECT count(*) FROM earned_badges WHERE org_id = :o) AS badges,
                  (SELECT count(*) FROM earned_badges WHERE org_id = :o AND revoked_at IS NOT NULL) AS revoked,
                  (SELECT count(DISTINCT peer_mentor_id) FROM earned_badges WHERE org_id = :o) AS holders,
                  (SELECT jsonb_object_agg(status, nok) FROM (
                      SELECT status, sum(amount_nok) AS nok FROM honorar_payouts WHERE org_id = :o GROUP BY status) s)
                      AS payouts_by_status,
                  (SELECT jsonb_agg(earned_at ORDER BY earned_at) FROM honorar_payouts WHERE org_id = :o) AS payout_dates""",
            o=org_id,
        )
        or {}
    )


def masked(body: Any, mentor: uuid.UUID, as_mentor: uuid.UUID) -> str:
    """The body with the mentor id written as another and the correlation id left out."""
    error = body.get("error") if isinstance(body, dict) else None
    if error:
        body = {"error": {k: v for k, v in error.items() if k != "correlation_id"}}
    return json.dumps(body, sort_keys=True).replace(str(mentor), str(as_mentor))


# --- every table naming a person is covered ---------------------------------------------------------


def uncovered(db: Any) -> dict[str, Any]:
    """Tables with a person column that the registry does not cover, and uuid columns that are
    neither person columns by name nor known non-person ids."""
    tables = db.query(
        """SELECT DISTINCT c.table_name FROM personal_data_columns() AS c
            WHERE c.table_name NOT IN (SELECT table_name FROM personal_data_tables) ORDER BY 1"""
    )
    columns = db.query(
        """SELECT c.table_name || '.' || c.column_name AS name FROM information_schema.columns AS c
            JOIN information_schema.tables AS t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND c.data_type = 'uuid'
              AND c.column_name <> ALL (CAST(:known AS text[]))
              AND (c.table_name, c.column_name) NOT IN (SELECT table_name, column_name FROM personal_data_columns())
            ORDER BY 1""",
        known=sorted(NOT_A_PERSON),
    )
    return {"tables": [r["table_name"] for r in tables], "columns": [r["name"] for r in columns]}


def test_every_table_with_a_column_naming_a_person_is_exported_and_erased_or_left_to_the_app(
    db: Database,
) -> None:
    assert uncovered(db) == {"tables": [], "columns": []}
    registered = {r["table_name"]: r["owner"] for r in db.query("SELECT * FROM personal_data_tables")}
    assert {t for t, owner in registered.items() if owner == "app"} == APP_TABLES - {"organizations"}


class _RollBack(Exception):
    pass


def test_a_new_table_or_column_naming_a_person_fails_the_coverage_check_until_registered(
    db: Database,
) -> None:
    # Given a migration that adds a table naming a mentor, and a uuid column the name rule cannot place
    try:
        with db.transaction() as tx:
            tx.execute(
                "CREATE TABLE mentor_notes (id uuid, org_id uuid, peer_mentor_id uuid, reviewed_by uuid)"
            )
            tx.execute("ALTER TABLE earned_badges ADD COLUMN reviewer uuid")
            # Then the check names both
            assert uncovered(tx) == {"tables": ["mentor_notes"], "columns": ["earned_badges.reviewer"]}
            # And once the table is registered, it is exported with no further code
            tx.execute(
                "INSERT INTO personal_data_tables VALUES ('mentor_notes', 'bundle', 'delete', 'Notes.', 'A year.')"
            )
            tx.execute("ALTER TABLE earned_badges DROP COLUMN reviewer")
            assert uncovered(tx) == {"tables": [], "columns": []}
            mentor = uuid.uuid4()
            tx.execute(
                "INSERT INTO mentor_notes VALUES (gen_random_uuid(), :o, :m, NULL)",
                o=uuid.UUID(int=1),
                m=mentor,
            )
            document = tx.query_one("SELECT personal_data_export(:o, :m) AS d", o=uuid.UUID(int=1), m=mentor)
            assert document is not None and len(document["d"]["tables"]["mentor_notes"]["rows"]) == 1
            raise _RollBack
    except _RollBack:
        pass


# --- export -------------------------------------------------------------------------------------------


def test_the_export_holds_every_row_naming_the_person_in_that_org_and_nothing_of_another_org(
    db: Database, person: Person
) -> None:
    # When the person asks for their data (and an admin does)
    path = f"/orgs/{person.org.id}/mentors/{person.id}/data-export"
    mine, admins = call("GET", path, person.id), call("GET", path, person.org.admin)

    # Then both get one document with, per table, exactly the rows that name them in this org
    assert mine.status == admins.status == 200, mine.body
    assert mine.headers["cache-control"] == "no-store"
    assert mine.body["tables"] == admins.body["tables"]
    tables = mine.body["tables"]
    exported = {name: len(t["rows"]) for name, t in tables.items() if t["rows"]}
    assert exported == rows_naming(db, person.id, person.org.id)
    for expected in (
        "mentor_stats",
        "mentor_week_activity",
        "mentor_year_activity",
        "evaluation_outbox",
        "scheduled_evaluations",
        "event_outbox",
        "earned_badges",
        "honorar_payouts",
        "audit_log",
    ):
        assert exported.get(expected), expected
    # ... revoked badges too, payouts with their amounts, audit rows where they acted
    assert any(b["revoked_at"] for b in tables["earned_badges"]["rows"])
    assert sorted(p["amount_nok"] for p in tables["honorar_payouts"]["rows"]) == [2500, 8000]
    assert any(a["actor_id"] == str(person.id) for a in tables["audit_log"]["rows"])
    assert all(t["purpose"] and t["retention"] for t in tables.values())
    assert set(mine.body["app_tables"]) == APP_TABLES - {"organizations"}
    # ... and nothing from the other organisation
    assert str(person.other_org.id) not in json.dumps(mine.body)


def test_the_export_is_for_the_person_and_admins_only_and_still_theirs_after_they_left(
    db: Database, person: Person
) -> None:
    path = f"/orgs/{person.org.id}/mentors/{person.id}/data-export"
    assert call("GET", path, person.org.other_mentor).status == 403
    assert call("GET", path, person.org.coordinator).status == 403
    assert call("GET", path, person.other_org.admin).status == 403
    db.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :m", o=person.org.id, m=person.id)
    assert call("GET", path, person.id).status == 200


# --- erasure refused ----------------------------------------------------------------------------------


def test_erasure_is_refused_while_the_person_is_a_member_or_the_app_still_has_their_activities(
    db: Database, person: Person
) -> None:
    before = everything(db)
    member = erase(person)
    assert member.status == 409 and "membership" in member.body["error"]["message"]
    db.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :m", o=person.org.id, m=person.id)
    before = everything(db)
    app_rows = erase(person)
    assert app_rows.status == 409
    assert "6 activities and 1 training completions" in app_rows.body["error"]["message"]
    assert everything(db) == before


@pytest.mark.parametrize("body", [None, "", "   "])
def test_erasure_needs_a_reason(db: Database, person: Person, body: Any) -> None:
    leave_and_erase_app_rows(db, person)
    before = everything(db)
    reply = erase(person, reason=body)
    assert reply.status == 422, reply.body
    assert everything(db) == before


def test_erasure_of_someone_unknown_here_is_404_whether_or_not_they_exist_in_another_org(
    db: Database, person: Person
) -> None:
    # person.other_org.mentor exists, but only in the other org
    real = erase(person, mentor=person.other_org.mentor)
    made_up = erase(person, mentor=uuid.uuid4())
    assert real.status == made_up.status == 404
    assert masked(real.body, person.other_org.mentor, person.id) == masked(made_up.body, person.id, person.id)
    assert (
        call(
            "POST",
            f"/orgs/{person.org.id}/mentors/{person.id}/erasure",
            person.org.coordinator,
            {"reason": "x"},
        ).status
        == 403
    )


# --- erasure -------------------------------------------------------------------------------------------


def test_erasure_leaves_no_row_naming_the_person_and_keeps_the_orgs_totals(
    db: Database, person: Person, bus: RecordingBus
) -> None:
    # Given a person who left, whose activities the app erased
    leave_and_erase_app_rows(db, person)
    totals, other_org_rows = org_totals(db, person.org.id), rows_naming(db, person.id, person.other_org.id)
    their_badge = db.query_one(
        "SELECT id, note FROM earned_badges WHERE org_id = :o AND peer_mentor_id = :m",
        o=person.org.id,
        m=person.org.other_mentor,
    )
    bus.entries.clear()

    # When an admin erases them
    reply = erase(person)

    # Then it answers with counts of what it did
    assert reply.status == 200, reply.body
    report = reply.body
    assert report["deleted"]["mentor_stats"] == 1 and report["deleted"]["scheduled_evaluations"] >= 1
    assert report["deleted"]["evaluation_outbox"] >= 1
    # (the app's deletions emptied the buckets already; the snapshot row stays until erased)
    assert report["deleted"]["mentor_week_activity"] == report["deleted"]["mentor_year_activity"] == 0
    assert report["pseudonymised"]["earned_badges"] == 3 and report["pseudonymised"]["honorar_payouts"] == 2
    assert report["pseudonymised"]["audit_log"] >= 5
    assert report["actor_pseudonymised"]["earned_badges"] == 1  # the badge they awarded as a coordinator
    assert {t: n for t, n in report["free_text_cleared"].items() if n} == {
        "earned_badges": 2,
        "honorar_payouts": 2,
        "audit_log": 4,
    }
    assert "activities" in report["not_erased_here"]
    assert str(person.id) not in json.dumps(report)

    # ... no uuid column of this bundle holds their id, nor (once MentorErased is out) any row at all
    assert uuid_columns_holding(db, person.id, person.org.id) == []
    assert rows_naming(db, person.id, person.org.id) == {}
    assert rows_naming(db, person.id, person.other_org.id) == other_org_rows  # the other org is untouched
    # ... and the organisation's totals (badges, payout sums by status, dates) are unchanged
    assert org_totals(db, person.org.id) == totals

    # ... their badges and payouts stay under one pseudonym, with their free text cleared
    kept = db.query(
        "SELECT peer_mentor_id, note, revoke_reason FROM earned_badges WHERE org_id = :o AND awarded_by = :a "
        "AND peer_mentor_id NOT IN (:m1, :m2) ORDER BY level, note",
        o=person.org.id,
        a=person.org.admin,
        m1=person.org.mentor,
        m2=person.org.other_mentor,
    )
    assert len(kept) == 3 and len({r["peer_mentor_id"] for r in kept}) == 1
    pseudonym = kept[0]["peer_mentor_id"]
    assert sorted(str(r["note"]) for r in kept) == ["None", "None", "[erased]"]
    assert sorted(str(r["revoke_reason"]) for r in kept) == ["None", "None", "[erased]"]
    payouts = db.query("SELECT * FROM honorar_payouts WHERE peer_mentor_id = :p ORDER BY level", p=pseudonym)
    assert [(p["status"], p["paid_reference"], p["cancel_reason"]) for p in payouts] == [
        ("paid", "[erased]", None),
        ("cancelled", None, "[erased]"),
    ]
    # ... the badge they awarded keeps its recipient and note, with the same pseudonym as awarder
    awarded = db.query_one("SELECT awarded_by, note FROM earned_badges WHERE id = :id", id=their_badge["id"])
    assert awarded == {"awarded_by": pseudonym, "note": their_badge["note"]}

    # ... the erasure is audited without their id, with who and why
    audit = db.query("SELECT * FROM audit_log WHERE action = 'person.erased'")
    assert len(audit) == 1 and audit[0]["actor_id"] == person.org.admin
    assert audit[0]["after"]["reason"] == ERASURE_REASON and str(person.id) not in json.dumps(
        audit[0], default=str
    )

    # ... MentorErased was published, and its outbox row forgot them once it was
    erased = [e for e in bus.entries if e["DetailType"] == "MentorErased"]
    assert len(erased) == 1
    detail = MentorErasedEvent.model_validate_json(erased[0]["Detail"])
    assert (detail.org_id, detail.peer_mentor_id) == (person.org.id, person.id)
    outbox = db.query_one("SELECT detail, status FROM event_outbox WHERE detail_type = 'MentorErased'")
    assert outbox == {
        "detail": {"org_id": str(person.org.id), "idempotency_key": str(detail.idempotency_key)},
        "status": "done",
    }

    # ... stats and badge reads answer as for someone never seen
    never = uuid.uuid4()
    for suffix in ("stats", "badges"):
        erased_read = call("GET", f"/orgs/{person.org.id}/mentors/{person.id}/{suffix}", person.org.admin)
        unknown_read = call("GET", f"/orgs/{person.org.id}/mentors/{never}/{suffix}", person.org.admin)
        assert erased_read.status == unknown_read.status
        assert masked(erased_read.body, person.id, never) == masked(unknown_read.body, never, never)

    # When it is repeated, and reconcile runs
    before = everything(db)
    again = erase(person)
    reconcile_org(db, person.org.id, now=datetime.now(UTC))

    # Then it answers 404 like for someone never seen, and nothing changed or came back
    assert again.status == 404
    assert everything(db) == before
    assert rows_naming(db, person.id, person.org.id) == {}


def test_erasure_is_one_transaction(db: Database, person: Person) -> None:
    # Given an erasure that fails at its very last write
    leave_and_erase_app_rows(db, person)
    db.query(
        """CREATE FUNCTION pg_temp_fail() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'disk full'; END; $$"""
    )
    db.query(
        "CREATE TRIGGER fail_erasure_event BEFORE INSERT ON event_outbox FOR EACH ROW "
        "WHEN (NEW.detail_type = 'MentorErased') EXECUTE FUNCTION pg_temp_fail()"
    )
    try:
        before = everything(db)
        with captured_logs():
            reply = erase(person)
        # Then it answers 500 with a correlation id, and nothing at all changed
        assert reply.status == 500
        assert everything(db) == before
    finally:
        db.query("DROP TRIGGER fail_erasure_event ON event_outbox")
        db.query("DROP FUNCTION pg_temp_fail()")
    with pytest.raises(DatabaseError):
        db.query("SELECT erase_personal_data(gen_random_uuid(), gen_random_uuid(), NULL, ' ', NULL)")


def test_pauses_are_exported_and_the_persons_own_deleted_once_the_table_exists(
    db: Database, person: Person
) -> None:
    # Given the streak pauses table as issue 14 adds it (registered already by sql/015)
    created = db.query_one("SELECT to_regclass('public.streak_pauses') IS NULL AS missing")["missing"]  # type: ignore[index]
    if created:
        db.query(
            """CREATE TABLE streak_pauses (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL,
               peer_mentor_id uuid NULL, starts_on date NOT NULL, ends_on date NOT NULL, reason text NOT NULL,
               created_by uuid NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""
        )
    try:
        o, m = person.org.id, person.id
        insert = (
            "INSERT INTO streak_pauses (org_id, peer_mentor_id, starts_on, ends_on, reason, created_by) "
            "VALUES (:o, CAST(:m AS uuid), '2026-07-01', '2026-07-31', :r, :by)"
        )
        db.query(insert, o=o, m=m, r="Kari is in hospital", by=person.org.admin)  # about them
        db.query(insert, o=o, m=None, r="Summer", by=m)  # org-wide, created by them
        export = call("GET", f"/orgs/{o}/mentors/{m}/data-export", m).body["tables"]["streak_pauses"]
        assert len(export["rows"]) == 2

        leave_and_erase_app_rows(db, person)
        report = erase(person).body
        assert report["deleted"]["streak_pauses"] == 1 and report["actor_pseudonymised"]["streak_pauses"] == 1
        left = db.query("SELECT peer_mentor_id, reason, created_by FROM streak_pauses WHERE org_id = :o", o=o)
        assert len(left) == 1 and left[0]["peer_mentor_id"] is None and left[0]["reason"] == "Summer"
        assert left[0]["created_by"] not in (m, None)
    finally:
        if created:
            db.query("DROP TABLE streak_pauses")


# --- logs and events -----------------------------------------------------------------------------------


def test_logs_and_events_carry_ids_but_no_notes_reasons_references_or_names(
    db: Database, bus: RecordingBus
) -> None:
    # Given everything that takes free text, also refused and failed requests, then an erasure
    definitions_cache.invalidate()
    with captured_logs() as logs:
        org = seed_org(db, "blindeforbundet")
        payable = _definition(db, org, "honorar", PAYABLE)
        base, mine = f"/orgs/{org.id}", f"/orgs/{org.id}/mentors/{org.mentor}/badges"
        first = call("POST", mine, org.admin, {"badge_definition_id": str(payable), "note": NOTE}).body
        second = call("POST", mine, org.admin, {"badge_definition_id": str(payable), "level": 2}).body
        payouts = {
            p["earned_badge_id"]: p["id"] for p in call("GET", f"{base}/payouts", org.admin).body["items"]
        }
        call("POST", f"{base}/payouts/{payouts[first['id']]}/approve", org.admin)
        call("POST", f"{base}/payouts/{payouts[first['id']]}/paid", org.admin, {"reference": REFERENCE})
        call("POST", f"{base}/payouts/{payouts[first['id']]}/paid", org.admin, {"reference": OTHER_REFERENCE})
        call("POST", f"{base}/payouts/{payouts[first['id']]}/cancel", org.admin, {"reason": CANCEL_REASON})
        call("POST", f"{mine}/{second['id']}/revoke", org.admin, {"reason": REVOKE_REASON})
        call("POST", f"{mine}/{second['id']}/revoke", org.admin, {"reason": REVOKE_REASON})
        call("POST", f"{mine}/{second['id']}/revoke", org.other_mentor, {"reason": REVOKE_REASON})
        call("POST", f"{base}/mentors/{org.mentor}/erasure", org.admin, {"reason": ERASURE_REASON})
        db.query("DELETE FROM org_members WHERE org_id = :o AND user_id = :m", o=org.id, m=org.mentor)
        assert (
            call("POST", f"{base}/mentors/{org.mentor}/erasure", org.admin, {"reason": ERASURE_REASON}).status
            == 200
        )
        publish_pending(db, bus, "bus")
    published = json.dumps([json.loads(e["Detail"]) for e in bus.entries])
    logged = logs.getvalue()

    # Then events went out (with ids) and the logs say what happened
    assert {e["DetailType"] for e in bus.entries} >= {"BadgeAwarded", "HonorarPayoutPaid", "MentorErased"}
    assert str(org.mentor) in published and "request refused" in logged
    # ... and no free text typed about anyone appears in either
    for text in FREE_TEXT:
        assert text not in published, text
        assert text not in logged, text
