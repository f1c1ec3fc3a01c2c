"""The award transaction: one row per key ever, under concurrency and retries; audit and events once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from peer_badges.awards import (
    AwardCommand,
    AwardDefinition,
    AwardOutcome,
    award,
    award_in_own_transaction,
    list_badges,
    manual_award,
    revoke,
    revoke_in_own_transaction,
)
from peer_badges.db import Database, Json
from peer_badges.errors import BadRequest, Conflict, NotFound, Unprocessable
from peer_badges.models import EarnedBadge
from peer_badges.models.awards import AwardRequest, BadgeAwardedEvent
from peer_badges.models.definitions import BadgeDefinition
from tests.helpers import Org, seed_org

THRESHOLD = {"type": "threshold", "schema_version": 1, "threshold": 10}
MILESTONE = {
    "type": "milestone",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "thresholds": [3, 15],
    "payable": True,
}
TIERS = {
    "type": "tier",
    "schema_version": 1,
    "tiers": [
        {"name": "Bronze", "threshold": 5},
        {"name": "Silver", "threshold": 25},
        {"name": "Gold", "threshold": 100},
    ],
}
MANUAL = {"type": "manual", "schema_version": 1}


def make_definition(
    db: Database, org_id: uuid.UUID, criteria: dict[str, Any], *, active: bool = True, archived: bool = False
) -> BadgeDefinition:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria, active, archived_at)
           VALUES (:org, :key, :name, CAST(:criteria AS jsonb), :active,
                   CASE WHEN CAST(:archived AS boolean) THEN now() END)
           RETURNING *""",
        org=org_id,
        key=f"{criteria['type']}-{uuid.uuid4().hex[:8]}",
        name=f"{criteria['type'].title()} badge",
        criteria=Json(criteria),
        active=active,
        archived=archived,
    )
    return BadgeDefinition.model_validate(row)


def command(org: Org, definition: BadgeDefinition, **changes: Any) -> AwardCommand:
    values: dict[str, Any] = {
        "org_id": org.id,
        "peer_mentor_id": org.mentor,
        "definition": AwardDefinition.of(definition),
        "level": 1,
        "earned_at": date(2024, 3, 14),
        "source": "evaluation",
    }
    return AwardCommand(**(values | changes))


def count(db: Database, sql: str, **params: Any) -> int:
    row = db.query_one(f"SELECT count(*) AS n FROM ({sql}) AS counted", **params)
    assert row is not None
    return int(row["n"])


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


# --- the award transaction -----------------------------------------------------------------


def test_a_new_award_records_the_badge_its_audit_entry_and_one_event(db: Database, org: Org) -> None:
    # Given a threshold badge definition
    definition = make_definition(db, org.id, THRESHOLD)
    # When the evaluator awards it
    outcome = award_in_own_transaction(db, command(org, definition, correlation_id="req-1"))
    # Then the badge records when it was earned and under which revision and criteria
    badge = outcome.badge
    assert outcome.created
    assert (badge.peer_mentor_id, badge.badge_definition_id, badge.level) == (org.mentor, definition.id, 1)
    assert badge.earned_at == date(2024, 3, 14) and badge.source == "evaluation" and badge.awarded_by is None
    assert badge.definition_revision == definition.revision
    assert badge.criteria_snapshot == definition.criteria.model_dump(mode="json")
    # And the audit log says the system awarded it, with the row as "after"
    audit = db.query("SELECT * FROM audit_log WHERE entity_id = :id", id=badge.id)
    assert len(audit) == 1
    assert audit[0]["action"] == "badge.awarded" and audit[0]["actor_kind"] == "system"
    assert audit[0]["before"] is None and audit[0]["after"]["id"] == str(badge.id)
    assert audit[0]["correlation_id"] == "req-1"
    # And exactly one BadgeAwarded event waits in the outbox, its detail the badge plus flags
    events = db.query("SELECT * FROM event_outbox WHERE earned_badge_id = :id", id=badge.id)
    assert [e["detail_type"] for e in events] == ["BadgeAwarded"]
    detail = events[0]["detail"]
    assert BadgeAwardedEvent.model_validate(detail) == BadgeAwardedEvent.of(
        badge, backfill=False, payable=False
    )
    assert detail["idempotency_key"] == str(badge.id) == detail["id"]
    assert events[0]["published_at"] is None
    # And the badge's credential status position stays in the table, out of the event and the audit
    assert not {"status_position", "list_id", "status_index"} & (set(detail) | set(audit[0]["after"]))


def test_a_payable_milestone_level_also_queues_honorar_milestone_reached(db: Database, org: Org) -> None:
    # Given Blindeforbundet's payable honorarium milestones (3rd and 15th assignment)
    definition = make_definition(db, org.id, MILESTONE)
    # When level 2 is awarded by a backfill
    outcome = award_in_own_transaction(
        db, command(org, definition, level=2, source="backfill", backfill=True)
    )
    # Then both events are queued, flagged payable and backfill
    events = db.query("SELECT detail_type, detail FROM event_outbox ORDER BY detail_type")
    assert [e["detail_type"] for e in events] == ["BadgeAwarded", "HonorarMilestoneReached"]
    for event in events:
        assert event["detail"]["payable"] is True and event["detail"]["backfill"] is True
        assert event["detail"]["level"] == 2 and event["detail"]["id"] == str(outcome.badge.id)


def test_a_repeated_award_returns_the_same_badge_and_writes_nothing(db: Database, org: Org) -> None:
    # Given an awarded badge
    definition = make_definition(db, org.id, THRESHOLD)
    first = award_in_own_transaction(db, command(org, definition))
    # When the same key is awarded again, later and with other details (a retry, a manual award)
    again = award_in_own_transaction(
        db,
        command(
            org, definition, earned_at=date(2024, 5, 1), source="manual", awarded_by=org.admin, note="hi"
        ),
    )
    # Then the original badge comes back unchanged and no audit entry or event is added
    assert again == AwardOutcome(badge=first.badge, created=False)
    assert count(db, "SELECT 1 FROM earned_badges") == 1
    assert count(db, "SELECT 1 FROM audit_log") == 1
    assert count(db, "SELECT 1 FROM event_outbox") == 1


def test_each_level_is_its_own_key(db: Database, org: Org) -> None:
    # Given a tier badge
    definition = make_definition(db, org.id, TIERS)
    # When levels 1 and 2 are awarded
    bronze = award_in_own_transaction(db, command(org, definition, level=1))
    silver = award_in_own_transaction(db, command(org, definition, level=2))
    # Then they are two badges with two events
    assert bronze.created and silver.created and bronze.badge.id != silver.badge.id
    assert count(db, "SELECT 1 FROM event_outbox") == 2


def test_a_revoked_badge_is_returned_as_it_is_and_never_re_awarded(db: Database, org: Org) -> None:
    # Given a badge an admin revoked
    definition = make_definition(db, org.id, THRESHOLD)
    first = award_in_own_transaction(db, command(org, definition))
    revoke_in_own_transaction(db, org.id, org.mentor, first.badge.id, org.admin, "Entered by mistake")
    # When the evaluator finds the criterion met again
    again = award_in_own_transaction(db, command(org, definition))
    # Then the revoked row comes back, still revoked, and no new event is queued
    assert not again.created and again.badge.id == first.badge.id
    assert again.badge.revoked_at is not None and again.badge.revoke_reason == "Entered by mistake"
    assert count(db, "SELECT 1 FROM event_outbox") == 1


def test_the_award_is_part_of_the_callers_transaction(db: Database, org: Org) -> None:
    # Given a definition
    definition = make_definition(db, org.id, THRESHOLD)
    # When the caller's transaction fails after awarding
    with pytest.raises(RuntimeError), db.transaction() as tx:
        award(tx, command(org, definition))
        raise RuntimeError("evaluator crashed before marking its outbox rows done")
    # Then neither the badge nor its audit entry nor its event exist
    assert count(db, "SELECT 1 FROM earned_badges") == 0
    assert count(db, "SELECT 1 FROM audit_log") == 0
    assert count(db, "SELECT 1 FROM event_outbox") == 0


def test_a_command_with_an_org_that_does_not_own_the_definition_is_refused_by_the_database(
    db: Database, org: Org
) -> None:
    # Given another org's definition
    other = seed_org(db, "hlf")
    definition = make_definition(db, other.id, THRESHOLD)
    # When a buggy caller awards it under this org, then the foreign key refuses it
    with pytest.raises(Exception, match="earned_badges_definition_fk"):
        award_in_own_transaction(db, command(org, definition))
    assert count(db, "SELECT 1 FROM earned_badges") == 0


def test_64_concurrent_awards_of_one_key_give_one_row_and_the_same_badge_to_everyone(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a definition and 64 separate connections, all connected before the start
    definition = make_definition(db, org.id, THRESHOLD)
    connections = [connect_new() for _ in range(64)]
    for connection in connections:
        connection.query("SELECT 1")
    barrier = threading.Barrier(len(connections))
    outcomes: list[AwardOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(connection: Database) -> None:
        try:
            barrier.wait(timeout=30)
            outcome = award_in_own_transaction(connection, command(org, definition))
            with lock:
                outcomes.append(outcome)
        except BaseException as error:
            with lock:
                errors.append(error)

    # When they all award the same key at once
    threads = [threading.Thread(target=run, args=(connection,)) for connection in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then every caller got the same badge, exactly one of them created it, and one event is queued
    assert errors == []
    assert len(outcomes) == 64
    assert len({outcome.badge.id for outcome in outcomes}) == 1
    assert sum(outcome.created for outcome in outcomes) == 1
    assert count(db, "SELECT 1 FROM earned_badges") == 1
    assert count(db, "SELECT 1 FROM event_outbox") == 1
    assert count(db, "SELECT 1 FROM audit_log") == 1


def test_an_award_waiting_on_the_lock_returns_the_winners_row_once_it_commits(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a first award that holds the key's lock in an open transaction
    definition = make_definition(db, org.id, THRESHOLD)
    first, second = connect_new(), connect_new()
    results: list[AwardOutcome] = []
    with first.transaction() as tx:
        winner = award(tx, command(org, definition))
        # When a second award of the key starts (from the evaluator) and has to wait
        waiter = threading.Thread(
            target=lambda: results.append(award_in_own_transaction(second, command(org, definition)))
        )
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive(), "the second award must wait for the advisory lock"
    # Then, after the first commits, the second returns the first's badge without creating one
    waiter.join(timeout=10)
    assert results == [AwardOutcome(badge=winner.badge, created=False)]
    assert count(db, "SELECT 1 FROM event_outbox") == 1


@pytest.mark.parametrize("other_writer", ["commits", "rolls_back"])
def test_a_writer_that_bypasses_the_lock_still_cannot_make_a_second_row(
    db: Database, org: Org, connect_new: Callable[[], Database], other_writer: str
) -> None:
    # Given another client inserting the same key directly, without the lock, not yet committed
    definition = make_definition(db, org.id, THRESHOLD)
    other, ours = connect_new(), connect_new()
    results: list[AwardOutcome] = []
    with (
        pytest.raises(RuntimeError) if other_writer == "rolls_back" else nullcontext(),
        other.transaction() as tx,
    ):
        direct = tx.query_one(
            """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                          definition_revision, criteria_snapshot)
               VALUES (:o, :m, :d, '2024-01-01', 'manual', 1, '{}') RETURNING id""",
            o=org.id,
            m=org.mentor,
            d=definition.id,
        )
        # When our award runs meanwhile, it waits on the unique index for that transaction
        waiter = threading.Thread(
            target=lambda: results.append(award_in_own_transaction(ours, command(org, definition)))
        )
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()
        if other_writer == "rolls_back":
            raise RuntimeError("the other client gave up")
    waiter.join(timeout=10)
    # Then it returns the other client's row if that committed, or creates its own if it did not
    [outcome] = results
    assert direct is not None
    assert (outcome.badge.id == direct["id"]) == (other_writer == "commits")
    assert outcome.created == (other_writer == "rolls_back")
    assert count(db, "SELECT 1 FROM earned_badges") == 1
    assert count(db, "SELECT 1 FROM event_outbox") == (1 if outcome.created else 0)


def test_concurrent_manual_and_evaluator_awards_of_one_key_give_one_row(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a definition, a coordinator's manual award and the evaluator, on separate connections
    definition = make_definition(db, org.id, MANUAL)
    manual_db, evaluator_db = connect_new(), connect_new()
    barrier = threading.Barrier(2)
    outcomes: dict[str, AwardOutcome] = {}

    def manual() -> None:
        barrier.wait(timeout=10)
        request = AwardRequest(badge_definition_id=definition.id)
        outcomes["manual"] = manual_award(manual_db, org.id, org.mentor, org.coordinator, request)

    def evaluator() -> None:
        barrier.wait(timeout=10)
        outcomes["evaluation"] = award_in_own_transaction(evaluator_db, command(org, definition))

    # When both award the same key at the same moment
    threads = [threading.Thread(target=manual), threading.Thread(target=evaluator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then there is one row, both callers got it, and one of them created it
    assert set(outcomes) == {"manual", "evaluation"}
    assert outcomes["manual"].badge.id == outcomes["evaluation"].badge.id
    assert outcomes["manual"].created != outcomes["evaluation"].created
    assert count(db, "SELECT 1 FROM earned_badges") == 1
    assert count(db, "SELECT 1 FROM event_outbox") == 1


# --- manual awards -------------------------------------------------------------------------


def test_a_manual_award_is_earned_today_in_the_orgs_timezone_and_names_the_actor(db: Database) -> None:
    # Given an org far east of UTC, where "today" usually differs from UTC's date
    org = seed_org(db, "kiribati", timezone="Pacific/Kiritimati")
    definition = make_definition(db, org.id, MANUAL)
    # When a coordinator awards a manual badge with a note
    before = datetime.now(ZoneInfo(org.timezone)).date()
    request = AwardRequest(badge_definition_id=definition.id, note="  Ran the summer camp  ")
    outcome = manual_award(db, org.id, org.mentor, org.coordinator, request, correlation_id="c-9")
    after = datetime.now(ZoneInfo(org.timezone)).date()
    # Then it is earned today there, sourced "manual", awarded by the coordinator, note trimmed
    badge = outcome.badge
    assert outcome.created and before <= badge.earned_at <= after
    assert (
        badge.source == "manual"
        and badge.awarded_by == org.coordinator
        and badge.note == "Ran the summer camp"
    )
    audit = db.query_one(
        "SELECT actor_id, actor_kind, correlation_id FROM audit_log WHERE entity_id = :id", id=badge.id
    )
    assert audit == {"actor_id": org.coordinator, "actor_kind": "user", "correlation_id": "c-9"}


def test_a_manual_award_accepts_every_level_of_a_tier_badge_and_no_other(db: Database, org: Org) -> None:
    definition = make_definition(db, org.id, TIERS)
    # When levels 1..3 are awarded, they are created
    for level in (1, 2, 3):
        request = AwardRequest(badge_definition_id=definition.id, level=level)
        assert manual_award(db, org.id, org.mentor, org.admin, request, today=date(2024, 1, 2)).created
    # And level 4 is refused with the levels that exist
    with pytest.raises(Unprocessable) as refused:
        manual_award(
            db, org.id, org.mentor, org.admin, AwardRequest(badge_definition_id=definition.id, level=4)
        )
    assert refused.value.details[0]["path"] == "level"
    assert "levels 1 to 3" in refused.value.details[0]["message"]


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("unknown", NotFound, "no badge definition"),
        ("other_org", NotFound, "no badge definition"),
        ("archived", Conflict, "archived"),
        ("inactive", Conflict, "inactive"),
        ("level_2_of_single", Unprocessable, "no level 2"),
        ("not_a_mentor", NotFound, "not a peer mentor"),
    ],
)
def test_a_manual_award_that_cannot_be_given_is_refused_and_changes_nothing(
    db: Database, org: Org, setup: str, error: type[Exception], message: str
) -> None:
    # Given a definition or mentor that cannot receive this award
    definition_id = uuid.uuid4()
    mentor, level = org.mentor, 1
    if setup == "other_org":
        definition_id = make_definition(db, seed_org(db, "hlf").id, MANUAL).id
    elif setup in ("archived", "inactive"):
        definition_id = make_definition(
            db, org.id, MANUAL, archived=setup == "archived", active=setup != "inactive"
        ).id
    elif setup == "level_2_of_single":
        definition_id, level = make_definition(db, org.id, THRESHOLD).id, 2
    elif setup == "not_a_mentor":
        definition_id, mentor = make_definition(db, org.id, MANUAL).id, org.coordinator
    # When it is awarded manually
    request = AwardRequest(badge_definition_id=definition_id, level=level)
    with pytest.raises(error, match=f"(?i){message}"):
        manual_award(db, org.id, mentor, org.admin, request)
    # Then nothing was written
    assert count(db, "SELECT 1 FROM earned_badges") == 0
    assert count(db, "SELECT 1 FROM audit_log") == 0


# --- revoking ------------------------------------------------------------------------------


def test_revoking_keeps_the_row_marks_it_and_audits_before_and_after(db: Database, org: Org) -> None:
    # Given an earned badge
    definition = make_definition(db, org.id, THRESHOLD)
    badge = award_in_own_transaction(db, command(org, definition)).badge
    # When an admin revokes it with a reason
    revoked = revoke_in_own_transaction(
        db,
        org.id,
        org.mentor,
        badge.id,
        org.admin,
        "  Activities were registered twice ",
        correlation_id="r-1",
    )
    # Then the row stays, marked revoked by the admin with the trimmed reason
    assert revoked.id == badge.id and revoked.revoked_by == org.admin
    assert revoked.revoke_reason == "Activities were registered twice" and revoked.revoked_at is not None
    assert revoked.model_copy(update={"revoked_at": None, "revoked_by": None, "revoke_reason": None}) == badge
    # And the audit entry has the row before and after
    audit = db.query_one("SELECT * FROM audit_log WHERE action = 'badge.revoked'")
    assert audit is not None and audit["actor_id"] == org.admin and audit["correlation_id"] == "r-1"
    assert audit["before"]["revoked_at"] is None and audit["after"]["revoke_reason"] == revoked.revoke_reason


def test_revoking_twice_is_a_conflict_and_keeps_the_first_revocation(db: Database, org: Org) -> None:
    definition = make_definition(db, org.id, THRESHOLD)
    badge = award_in_own_transaction(db, command(org, definition)).badge
    first = revoke_in_own_transaction(db, org.id, org.mentor, badge.id, org.admin, "first")
    with pytest.raises(Conflict, match="already revoked"):
        revoke_in_own_transaction(db, org.id, org.mentor, badge.id, org.admin, "second")
    stored = db.query_one("SELECT * FROM earned_badges WHERE id = :id", id=badge.id)
    assert EarnedBadge.model_validate(stored) == first
    assert count(db, "SELECT 1 FROM audit_log WHERE action = 'badge.revoked'") == 1


def test_two_concurrent_revokes_give_one_revocation_and_one_conflict(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    definition = make_definition(db, org.id, THRESHOLD)
    badge = award_in_own_transaction(db, command(org, definition)).badge
    barrier = threading.Barrier(2)
    results: list[str] = []

    def run(connection: Database, reason: str) -> None:
        barrier.wait(timeout=10)
        try:
            revoke_in_own_transaction(connection, org.id, org.mentor, badge.id, org.admin, reason)
            results.append("revoked")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=run, args=(connect_new(), reason)) for reason in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["conflict", "revoked"]
    assert count(db, "SELECT 1 FROM audit_log WHERE action = 'badge.revoked'") == 1


@pytest.mark.parametrize("whose", ["other_mentor", "other_org", "unknown"])
def test_revoking_a_badge_that_is_not_this_mentors_in_this_org_is_not_found(
    db: Database, org: Org, whose: str
) -> None:
    # Given a badge of the mentor
    definition = make_definition(db, org.id, THRESHOLD)
    badge = award_in_own_transaction(db, command(org, definition)).badge
    org_id, mentor_id, badge_id = org.id, org.mentor, badge.id
    if whose == "other_mentor":
        mentor_id = org.other_mentor
    elif whose == "other_org":
        org_id = seed_org(db, "hlf").id
    else:
        badge_id = uuid.uuid4()
    # When it is revoked through the wrong mentor or org, then it is not found and stays as it was
    with pytest.raises(NotFound):
        revoke_in_own_transaction(db, org_id, mentor_id, badge_id, org.admin, "reason")
    assert count(db, "SELECT 1 FROM earned_badges WHERE revoked_at IS NOT NULL") == 0


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_revoking_needs_a_reason_of_sensible_length(db: Database, org: Org, reason: str) -> None:
    definition = make_definition(db, org.id, THRESHOLD)
    badge = award_in_own_transaction(db, command(org, definition)).badge
    with pytest.raises(Unprocessable), db.transaction() as tx:
        revoke(tx, org.id, org.mentor, badge.id, org.admin, reason)
    assert count(db, "SELECT 1 FROM earned_badges WHERE revoked_at IS NOT NULL") == 0


# --- listing -------------------------------------------------------------------------------


def test_listing_pages_through_every_badge_newest_first_including_revoked(db: Database, org: Org) -> None:
    # Given five badges of the mentor (one revoked) and one of another mentor
    definition = make_definition(db, org.id, TIERS)
    extra = make_definition(db, org.id, MANUAL)
    badges = [
        award_in_own_transaction(db, command(org, definition, level=level)).badge for level in (1, 2, 3)
    ]
    badges.append(award_in_own_transaction(db, command(org, extra)).badge)
    award_in_own_transaction(db, command(org, extra, peer_mentor_id=org.other_mentor))
    revoked = revoke_in_own_transaction(db, org.id, org.mentor, badges[0].id, org.admin, "mistake")
    # When the list is read two at a time
    seen: list[EarnedBadge] = []
    cursor = None
    for _ in range(5):
        page = list_badges(db, org.id, org.mentor, cursor=cursor, limit=2)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then every badge of this mentor appears once, newest first, the revoked one marked
    assert [b.id for b in seen] == [
        b.id for b in sorted(badges, key=lambda b: (b.awarded_at, b.id), reverse=True)
    ]
    assert next(b for b in seen if b.id == revoked.id).revoked_at is not None
    # And without revoked ones it is left out
    active = list_badges(db, org.id, org.mentor, include_revoked=False)
    assert revoked.id not in {b.id for b in active.items} and len(active.items) == 3


@pytest.mark.parametrize("cursor", ["not-a-cursor", "W10", "WyJ4IiwgInkiXQ"])
def test_a_malformed_cursor_is_a_bad_request(db: Database, org: Org, cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor"):
        list_badges(db, org.id, org.mentor, cursor=cursor)
