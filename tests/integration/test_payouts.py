"""Honorarium payouts (SPEC 8.4): created with the award, the state machine, the tax-free limit under
concurrency, the routes' scope, the CSV export as a spreadsheet reads it, events and the stats block."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

import award_badge.handler
import config_crud.handler
import get_stats.handler
from peer_badges.awards import (
    AwardCommand,
    AwardDefinition,
    award_in_own_transaction,
    revoke_in_own_transaction,
)
from peer_badges.db import Database, Json
from peer_badges.events import set_events_client
from peer_badges.models.definitions import BadgeDefinition
from peer_badges.payouts import EXPORT_COLUMNS
from peer_badges.settings import get_settings
from tests.aws import Bus, moto_event_bus
from tests.helpers import Org, Reply, api_event, invoke, seed_org

PAYABLE = {
    "type": "milestone",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "thresholds": [3, 15],
    "payable": True,
    "amounts_nok": [2500, 8000],
}


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    with moto_event_bus(monkeypatch, get_settings().event_bus_name) as moto_bus:
        set_events_client(moto_bus.client)
        yield moto_bus
        set_events_client(None)


@pytest.fixture
def org(db: Database, bus: Bus) -> Org:
    return seed_org(db, "blindeforbundet")


def make_definition(db: Database, org_id: uuid.UUID, criteria: dict[str, Any] = PAYABLE) -> BadgeDefinition:
    row = db.query_one(
        """INSERT INTO badge_definitions (org_id, key, name, criteria)
           VALUES (:org, :key, 'Honorar', CAST(:criteria AS jsonb)) RETURNING *""",
        org=org_id,
        key=f"honorar-{uuid.uuid4().hex[:6]}",
        criteria=Json(criteria),
    )
    return BadgeDefinition.model_validate(row)


def earn(
    db: Database,
    org: Org,
    definition: BadgeDefinition,
    level: int = 1,
    *,
    mentor: uuid.UUID | None = None,
    earned_at: date = date(2026, 3, 2),
    backfill: bool = False,
) -> Any:
    command = AwardCommand(
        org_id=org.id,
        peer_mentor_id=mentor or org.mentor,
        definition=AwardDefinition.of(definition),
        level=level,
        earned_at=earned_at,
        source="backfill" if backfill else "evaluation",
        backfill=backfill,
    )
    return award_in_own_transaction(db, command)


def payout_of(db: Database, badge_id: uuid.UUID) -> dict[str, Any]:
    row = db.query_one("SELECT * FROM honorar_payouts WHERE earned_badge_id = :b", b=badge_id)
    assert row is not None
    return row


def new_payout(db: Database, org: Org, definition: BadgeDefinition | None = None, **kwargs: Any) -> uuid.UUID:
    outcome = earn(db, org, definition or make_definition(db, org.id), **kwargs)
    return payout_of(db, outcome.badge.id)["id"]  # type: ignore[no-any-return]


def call(method: str, path: str, sub: uuid.UUID | None, body: Any = None, **kwargs: Any) -> Reply:
    return invoke(award_badge.handler.lambda_handler, api_event(method, path, sub=sub, body=body, **kwargs))


def act(org: Org, payout_id: Any, action: str, body: Any = None, sub: uuid.UUID | None = None) -> Reply:
    return call("POST", f"/orgs/{org.id}/payouts/{payout_id}/{action}", sub or org.admin, body)


def state(db: Database) -> list[dict[str, Any]]:
    """Everything a payout request could change."""
    return db.query(
        """SELECT 'payout' AS kind, to_jsonb(p) AS row FROM honorar_payouts AS p
           UNION ALL SELECT 'audit', to_jsonb(a) FROM audit_log AS a
           UNION ALL SELECT 'event', to_jsonb(o) - 'available_at' FROM event_outbox AS o
           UNION ALL SELECT 'settings', to_jsonb(s) FROM org_settings AS s ORDER BY 1, 2"""
    )


def audit_actions(db: Database, payout_id: uuid.UUID) -> list[str]:
    rows = db.query("SELECT action FROM audit_log WHERE entity_id = :id ORDER BY id", id=payout_id)
    return [row["action"] for row in rows]


# --- created with the award --------------------------------------------------------------------


def test_a_newly_earned_payable_level_creates_one_pending_payout_in_the_award(db: Database, org: Org) -> None:
    # Given a payable milestone with amounts
    definition = make_definition(db, org.id)
    # When level 2 is awarded, and then awarded again (a retry)
    first = earn(db, org, definition, level=2, earned_at=date(2025, 12, 30))
    again = earn(db, org, definition, level=2, earned_at=date(2025, 12, 30))
    # Then exactly one payout exists, pending, with the level's threshold and amount and the income year
    assert first.created and not again.created
    rows = db.query("SELECT * FROM honorar_payouts")
    assert len(rows) == 1
    payout = rows[0]
    assert (payout["level"], payout["threshold"], payout["amount_nok"]) == (2, 15, 8000)
    assert (payout["status"], payout["income_year"], payout["backfill"]) == ("pending", 2025, False)
    assert payout["earned_badge_id"] == first.badge.id and payout["peer_mentor_id"] == org.mentor
    assert audit_actions(db, payout["id"]) == ["payout.created"]


def test_a_backfilled_crossing_creates_a_payout_flagged_backfill_that_still_needs_approval(
    db: Database, org: Org
) -> None:
    outcome = earn(db, org, make_definition(db, org.id), backfill=True)
    payout = payout_of(db, outcome.badge.id)
    assert payout["backfill"] is True and payout["status"] == "pending"


def test_only_payable_milestones_create_payouts_and_one_without_amounts_pays_zero(
    db: Database, org: Org
) -> None:
    unpaid = make_definition(db, org.id, {**PAYABLE, "payable": False, "amounts_nok": None})
    no_amounts = make_definition(db, org.id, {**PAYABLE, "amounts_nok": None})
    earn(db, org, unpaid)
    zero = earn(db, org, no_amounts)
    assert [row["earned_badge_id"] for row in db.query("SELECT * FROM honorar_payouts")] == [zero.badge.id]
    assert payout_of(db, zero.badge.id)["amount_nok"] == 0


def test_the_unique_key_refuses_a_second_payout_for_one_earned_badge(db: Database, org: Org) -> None:
    outcome = earn(db, org, make_definition(db, org.id))
    with pytest.raises(Exception, match="honorar_payouts_earned_badge_key"):
        db.query(
            """INSERT INTO honorar_payouts (org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level,
                                            threshold, amount_nok, earned_at, backfill)
               SELECT org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level, threshold,
                      amount_nok, earned_at, backfill FROM honorar_payouts WHERE earned_badge_id = :b""",
            b=outcome.badge.id,
        )


# --- the state machine -------------------------------------------------------------------------


def test_pending_approved_paid_with_who_and_when_and_an_audit_row_per_transition(
    db: Database, org: Org
) -> None:
    payout_id = new_payout(db, org)

    approved = act(org, payout_id, "approve")
    assert approved.status == 200, approved.body
    assert approved.body["status"] == "approved" and approved.body["approved_by"] == str(org.admin)
    assert approved.body["approved_at"] and approved.body["year_to_date_nok"] == 2500

    paid = act(org, payout_id, "paid", {"reference": "  BANK-2026-0042 "})
    assert paid.status == 200, paid.body
    assert paid.body["status"] == "paid" and paid.body["paid_reference"] == "BANK-2026-0042"
    assert paid.body["paid_at"] and paid.body["paid_by"] == str(org.admin)
    assert paid.body["approved_at"] == approved.body["approved_at"]

    assert audit_actions(db, payout_id) == ["payout.created", "payout.approved", "payout.paid"]
    audit = db.query_one(
        "SELECT * FROM audit_log WHERE entity_id = :id AND action = 'payout.paid'", id=payout_id
    )
    assert audit is not None and audit["actor_id"] == org.admin
    assert audit["before"]["status"] == "approved" and audit["after"]["status"] == "paid"


@pytest.mark.parametrize(
    ("before", "action", "body"),
    [
        ("approved", "approve", None),
        ("paid", "paid", {"reference": "BANK-1"}),
        ("cancelled", "cancel", {"reason": "Duplicate registration"}),
        ("cancelled", "cancel", {"reason": "Another reason"}),
    ],
)
def test_repeating_the_transition_already_made_returns_the_row_unchanged(
    db: Database, org: Org, before: str, action: str, body: Any
) -> None:
    payout_id = new_payout(db, org)
    steps = {
        "approved": [("approve", None)],
        "paid": [("approve", None), ("paid", {"reference": "BANK-1"})],
        "cancelled": [("cancel", {"reason": "Duplicate registration"})],
    }[before]
    for step, step_body in steps:
        assert act(org, payout_id, step, step_body).status == 200
    snapshot = state(db)
    repeated = act(org, payout_id, action, body)
    assert repeated.status == 200, repeated.body
    assert repeated.body["status"] == before
    assert state(db) == snapshot


@pytest.mark.parametrize(
    ("before", "action", "body"),
    [
        ("pending", "paid", {"reference": "BANK-1"}),
        ("paid", "approve", None),
        ("paid", "cancel", {"reason": "Too late"}),
        ("paid", "paid", {"reference": "BANK-OTHER"}),
        ("cancelled", "approve", None),
        ("cancelled", "paid", {"reference": "BANK-1"}),
    ],
)
def test_a_transition_out_of_order_is_409_and_changes_nothing(
    db: Database, org: Org, before: str, action: str, body: Any
) -> None:
    payout_id = new_payout(db, org)
    steps = {
        "pending": [],
        "paid": [("approve", None), ("paid", {"reference": "BANK-1"})],
        "cancelled": [("cancel", {"reason": "Registered twice"})],
    }[before]
    for step, step_body in steps:
        assert act(org, payout_id, step, step_body).status == 200
    snapshot = state(db)
    refused = act(org, payout_id, action, body)
    assert refused.status == 409, refused.body
    assert refused.error_code == "conflict" and before in refused.body["error"]["message"]
    assert state(db) == snapshot


def test_approved_can_be_cancelled_with_a_reason(db: Database, org: Org) -> None:
    payout_id = new_payout(db, org)
    act(org, payout_id, "approve")
    cancelled = act(org, payout_id, "cancel", {"reason": "Paid in cash by the local branch"})
    assert cancelled.status == 200
    assert cancelled.body["status"] == "cancelled" and cancelled.body["cancelled_by"] == str(org.admin)
    assert cancelled.body["cancel_reason"] == "Paid in cash by the local branch"
    assert cancelled.body["year_to_date_nok"] == 0  # cancelled no longer counts


BAD_REQUESTS = {
    "malformed payout id": ("approve", "not-a-uuid", None, 400),
    "unknown payout id": ("approve", "{unknown}", None, 404),
    "another org's payout": ("approve", "{foreign}", None, 404),
    "paid without reference": ("paid", "{payout}", {}, 422),
    "paid with a blank reference": ("paid", "{payout}", {"reference": "   "}, 422),
    "paid with a number as reference": ("paid", "{payout}", {"reference": 42}, 422),
    "paid with no body": ("paid", "{payout}", None, 422),
    "cancel without reason": ("cancel", "{payout}", {}, 422),
    "cancel with a blank reason": ("cancel", "{payout}", {"reason": ""}, 422),
    "cancel with an unknown field": ("cancel", "{payout}", {"reason": "x", "force": True}, 422),
    "a mentor approving": ("approve", "{payout}", None, 403),
    "a coordinator approving": ("approve", "{payout}", None, 403),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_each_bad_transition_request_is_a_clear_4xx_that_changes_nothing(
    db: Database, org: Org, case: str
) -> None:
    action, target, body, status = BAD_REQUESTS[case]
    other = seed_org(db, "hlf")
    ids = {
        "payout": new_payout(db, org),
        "unknown": uuid.uuid4(),
        "foreign": new_payout(db, other),
    }
    sub = {"a mentor approving": org.mentor, "a coordinator approving": org.coordinator}.get(case, org.admin)
    snapshot = state(db)
    reply = act(org, target.format(**ids), action, body, sub=sub)
    assert reply.status == status, reply.body
    assert reply.body["error"]["message"]
    assert state(db) == snapshot


# --- revoke --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"), [("pending", "cancelled"), ("approved", "cancelled"), ("paid", "paid")]
)
def test_revoking_the_badge_cancels_a_pending_or_approved_payout_but_not_a_paid_one(
    db: Database, org: Org, before: str, after: str
) -> None:
    outcome = earn(db, org, make_definition(db, org.id))
    payout_id = payout_of(db, outcome.badge.id)["id"]
    if before in ("approved", "paid"):
        act(org, payout_id, "approve")
    if before == "paid":
        act(org, payout_id, "paid", {"reference": "BANK-7"})
    revoke_in_own_transaction(db, org.id, org.mentor, outcome.badge.id, org.admin, "Registered by mistake")
    payout = payout_of(db, outcome.badge.id)
    assert payout["status"] == after
    if after == "cancelled":
        assert payout["cancel_reason"] == "badge revoked" and payout["cancelled_by"] == org.admin
        assert audit_actions(db, payout_id)[-1] == "payout.cancelled"
    else:
        assert payout["cancel_reason"] is None


# --- year to date and the tax-free limit -----------------------------------------------------------


def test_year_to_date_sums_approved_and_paid_payouts_of_the_mentor_org_and_year(
    db: Database, org: Org
) -> None:
    definition = make_definition(
        db, org.id, {**PAYABLE, "thresholds": [3, 15, 30], "amounts_nok": [3000, 4000, 5000]}
    )
    level1 = payout_of(db, earn(db, org, definition, 1, earned_at=date(2026, 1, 5)).badge.id)["id"]
    level2 = payout_of(db, earn(db, org, definition, 2, earned_at=date(2026, 6, 1)).badge.id)["id"]
    level3 = payout_of(db, earn(db, org, definition, 3, earned_at=date(2026, 11, 2)).badge.id)["id"]
    last_year = new_payout(db, org, definition=make_definition(db, org.id), earned_at=date(2025, 6, 1))
    others = new_payout(db, org, definition=definition, mentor=org.other_mentor)
    for payout_id in (last_year, others):
        act(org, payout_id, "approve")

    assert act(org, level1, "approve").body["year_to_date_nok"] == 3000
    act(org, level1, "paid", {"reference": "BANK-1"})
    second = act(org, level2, "approve").body
    assert (second["year_to_date_nok"], second["exceeds_tax_free_limit"]) == (7000, False)
    # Approving over the limit is allowed and answers with the flag set
    third = act(org, level3, "approve")
    assert third.status == 200
    assert (third.body["year_to_date_nok"], third.body["exceeds_tax_free_limit"]) == (12000, True)

    listed = call(
        "GET", f"/orgs/{org.id}/payouts", org.admin, query={"mentor_id": str(org.mentor), "year": "2026"}
    )
    assert {(item["year_to_date_nok"], item["exceeds_tax_free_limit"]) for item in listed.body["items"]} == {
        (12000, True)
    }


def test_the_org_setting_moves_the_limit(db: Database, org: Org) -> None:
    payout_id = new_payout(db, org)
    assert act(org, payout_id, "approve").body["exceeds_tax_free_limit"] is False
    settings = config_crud.handler.lambda_handler
    patched = invoke(
        settings,
        api_event(
            "PATCH", f"/orgs/{org.id}/settings", sub=org.admin, body={"honorar_tax_free_limit_nok": 2000}
        ),
    )
    assert patched.status == 200 and patched.body == {"honorar_tax_free_limit_nok": 2000}
    listed = call("GET", f"/orgs/{org.id}/payouts", org.admin)
    assert listed.body["items"][0]["exceeds_tax_free_limit"] is True


def test_concurrent_approvals_of_one_mentors_payouts_each_see_the_ones_committed_before(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given two pending payouts of one mentor in one year, and one approval held open in a transaction
    definition = make_definition(db, org.id, {**PAYABLE, "amounts_nok": [6000, 7000]})
    first = payout_of(db, earn(db, org, definition, 1).badge.id)["id"]
    second = payout_of(db, earn(db, org, definition, 2).badge.id)["id"]
    holder, racer = connect_new(), connect_new()
    results: dict[str, Any] = {}

    def approve_second() -> None:
        row = racer.query_one(
            "SELECT payout FROM transition_honorar_payout(:org, :id, 'approve', :actor, NULL, NULL, NULL)",
            org=org.id,
            id=second,
            actor=org.admin,
        )
        results["second"] = row["payout"] if row else None

    with holder.transaction() as tx:
        held = tx.query_one(
            "SELECT payout FROM transition_honorar_payout(:org, :id, 'approve', :actor, NULL, NULL, NULL)",
            org=org.id,
            id=first,
            actor=org.admin,
        )
        assert held is not None and held["payout"]["year_to_date_nok"] == 6000
        # When the second approval starts while the first has not committed
        thread = threading.Thread(target=approve_second)
        thread.start()
        thread.join(timeout=1.0)
        # Then it waits for the first (the mentor+org+year lock) instead of answering without it
        assert thread.is_alive() and "second" not in results
    thread.join(timeout=10)
    # And once the first committed, it answers with both approvals in the year to date
    assert results["second"]["year_to_date_nok"] == 13000
    assert results["second"]["exceeds_tax_free_limit"] is True


def test_many_parallel_approvals_end_with_every_answer_a_distinct_running_total(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    definition = make_definition(
        db,
        org.id,
        {**PAYABLE, "thresholds": [1, 2, 3, 4, 5, 6], "amounts_nok": [1000, 2000, 3000, 4000, 5000, 6000]},
    )
    ids = [payout_of(db, earn(db, org, definition, level).badge.id)["id"] for level in range(1, 7)]
    answers: list[int] = []
    start = threading.Barrier(len(ids))

    def approve(payout_id: uuid.UUID) -> None:
        conn = connect_new()
        start.wait()
        row = conn.query_one(
            "SELECT payout FROM transition_honorar_payout(:org, :id, 'approve', :actor, NULL, NULL, NULL)",
            org=org.id,
            id=payout_id,
            actor=org.admin,
        )
        assert row is not None
        answers.append(row["payout"]["year_to_date_nok"])

    threads = [threading.Thread(target=approve, args=(payout_id,)) for payout_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Serialised: the last answer is the full sum and no two approvals answered the same total
    assert len(answers) == 6 and len(set(answers)) == 6 and max(answers) == 21000


# --- listing -------------------------------------------------------------------------------------


@pytest.fixture
def listed_world(db: Database, org: Org) -> dict[str, uuid.UUID]:
    """org.mentor (assigned to org.coordinator) has two payouts, org.other_mentor one."""
    definition = make_definition(db, org.id)
    return {
        "mentor-1": payout_of(db, earn(db, org, definition, 1, earned_at=date(2025, 5, 1)).badge.id)["id"],
        "mentor-2": payout_of(db, earn(db, org, definition, 2, earned_at=date(2026, 2, 1)).badge.id)["id"],
        "other": payout_of(
            db, earn(db, org, definition, 1, mentor=org.other_mentor, earned_at=date(2026, 3, 1)).badge.id
        )["id"],
    }


@pytest.mark.parametrize(
    ("who", "query", "status", "expected"),
    [
        ("admin", {}, 200, {"other", "mentor-2", "mentor-1"}),
        ("coordinator", {}, 200, {"mentor-2", "mentor-1"}),
        ("other_coordinator", {}, 200, set()),
        ("mentor", {}, 200, {"mentor-2", "mentor-1"}),
        ("other_mentor", {}, 200, {"other"}),
        ("admin", {"mentor_id": "{other_mentor}"}, 200, {"other"}),
        ("admin", {"year": "2025"}, 200, {"mentor-1"}),
        ("admin", {"status": "approved"}, 200, {"mentor-2"}),
        ("coordinator", {"mentor_id": "{mentor}"}, 200, {"mentor-2", "mentor-1"}),
        ("coordinator", {"mentor_id": "{other_mentor}"}, 403, None),
        ("mentor", {"mentor_id": "{other_mentor}"}, 403, None),
        ("other_org_admin", {}, 403, None),
        ("admin", {"status": "sent"}, 400, None),
        ("admin", {"year": "last"}, 400, None),
        ("admin", {"year": "1999"}, 400, None),
        ("admin", {"mentor_id": "nobody"}, 400, None),
        ("admin", {"cursor": "garbage!"}, 400, None),
        ("admin", {"limit": "0"}, 400, None),
    ],
)
def test_who_sees_which_payouts(
    db: Database,
    org: Org,
    listed_world: dict[str, uuid.UUID],
    who: str,
    query: dict[str, str],
    status: int,
    expected: set[str] | None,
) -> None:
    act(org, listed_world["mentor-2"], "approve")
    sub = seed_org(db, "hlf").admin if who == "other_org_admin" else getattr(org, who)
    filled = {k: v.format(mentor=org.mentor, other_mentor=org.other_mentor) for k, v in query.items()}
    reply = call("GET", f"/orgs/{org.id}/payouts", sub, query=filled)
    assert reply.status == status, reply.body
    if expected is not None:
        names = {str(payout_id): name for name, payout_id in listed_world.items()}
        assert {names[item["id"]] for item in reply.body["items"]} == expected
        assert [item["earned_at"] for item in reply.body["items"]] == sorted(
            (item["earned_at"] for item in reply.body["items"]), reverse=True
        )


def test_keyset_pages_cover_every_payout_once_newest_first(db: Database, org: Org) -> None:
    definition = make_definition(db, org.id, {**PAYABLE, "thresholds": [1, 2, 3], "amounts_nok": [1, 2, 3]})
    mentors = [uuid.uuid4() for _ in range(9)]
    for index, mentor in enumerate(mentors):
        for level in (1, 2, 3):
            # Several payouts share an earned_at: the id breaks the tie
            earn(db, org, definition, level, mentor=mentor, earned_at=date(2026, 1, 1 + index % 3))
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = call("GET", f"/orgs/{org.id}/payouts", org.admin, query=query).body
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 27 and len({item["id"] for item in seen}) == 27
    keys = [(item["earned_at"], uuid.UUID(item["id"])) for item in seen]
    assert keys == sorted(keys, reverse=True)


# --- export ---------------------------------------------------------------------------------------


def test_the_csv_export_parses_back_as_a_spreadsheet_reads_it(db: Database, org: Org) -> None:
    # Given payouts with text that needs quoting, non-ASCII letters and a formula-like reference
    first, second, third = (new_payout(db, org, definition=make_definition(db, org.id)) for _ in range(3))
    act(org, first, "approve")
    act(org, first, "paid", {"reference": '=HYPERLINK("http://evil")'})
    act(org, second, "cancel", {"reason": 'Dobbeltregistrert, "feil" i Tromsø;\nflyttet'})

    # When an admin exports
    reply = call("GET", f"/orgs/{org.id}/payouts/export", org.admin)

    # Then it is UTF-8 CSV with a header row in the fixed column order and one row per payout
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in reply.headers["content-disposition"]
    text = reply.body
    assert isinstance(text, str) and text.startswith("\ufeff")  # spreadsheets detect UTF-8 by the BOM
    rows = list(csv.reader(io.StringIO(text.encode("utf-8").decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    by_id = {record["id"]: record for record in records}
    assert set(by_id) == {str(first), str(second), str(third)}
    assert by_id[str(second)]["cancel_reason"] == 'Dobbeltregistrert, "feil" i Tromsø;\nflyttet'
    assert by_id[str(first)]["paid_reference"] == '\'=HYPERLINK("http://evil")'
    assert by_id[str(first)]["status"] == "paid" and by_id[str(first)]["amount_nok"] == "2500"
    assert by_id[str(first)]["year_to_date_nok"] == "2500" and by_id[str(first)]["backfill"] == "false"
    assert by_id[str(third)]["approved_at"] == ""

    # And it agrees with the JSON list, field by field
    listed = call("GET", f"/orgs/{org.id}/payouts", org.admin).body["items"]
    for item in listed:
        record = by_id[item["id"]]
        assert record["earned_at"] == item["earned_at"] and int(record["amount_nok"]) == item["amount_nok"]
        assert record["status"] == item["status"] and int(record["income_year"]) == item["income_year"]


def test_the_export_filters_by_year_and_status_and_is_for_admins_only(db: Database, org: Org) -> None:
    new_payout(db, org, earned_at=date(2025, 4, 1))
    approved = new_payout(db, org, earned_at=date(2026, 4, 1))
    act(org, approved, "approve")
    path = f"/orgs/{org.id}/payouts/export"
    only = call("GET", path, org.admin, query={"year": "2026", "status": "approved"})
    lines = only.body.encode().decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and str(approved) in lines[1]
    empty = call("GET", path, org.admin, query={"year": "2024"})
    assert empty.body.encode().decode("utf-8-sig").splitlines() == [",".join(EXPORT_COLUMNS)]
    for sub in (org.coordinator, org.mentor):
        assert call("GET", path, sub).status == 403
    assert call("GET", path, org.admin, query={"status": "unknown"}).status == 400


# --- events ---------------------------------------------------------------------------------------


def test_approve_and_paid_publish_one_event_each_with_the_payout_as_detail(
    db: Database, org: Org, bus: Bus
) -> None:
    payout_id = new_payout(db, org)
    bus.messages()  # the award's own events are not published by earn(); nothing to drain yet
    act(org, payout_id, "approve")
    act(org, payout_id, "approve")  # a repeat publishes nothing
    act(org, payout_id, "paid", {"reference": "BANK-9"})
    act(org, payout_id, "paid", {"reference": "BANK-9"})
    payout_events = [m for m in bus.messages() if m["detail-type"].startswith("HonorarPayout")]
    assert [m["detail-type"] for m in payout_events] == ["HonorarPayoutApproved", "HonorarPayoutPaid"]
    approved, paid = (m["detail"] for m in payout_events)
    assert approved["id"] == paid["id"] == approved["idempotency_key"] == str(payout_id)
    assert approved["status"] == "approved" and paid["status"] == "paid" and "paid_reference" not in paid
    assert paid["amount_nok"] == 2500 and paid["year_to_date_nok"] == 2500
    assert all(m["source"] == "peer-badges" for m in payout_events)


# --- settings --------------------------------------------------------------------------------------


def settings_call(method: str, org: Org, sub: uuid.UUID | None, body: Any = None, **kwargs: Any) -> Reply:
    event = api_event(method, f"/orgs/{org.id}/settings", sub=sub, body=body, **kwargs)
    return invoke(config_crud.handler.lambda_handler, event)


def test_settings_default_to_10000_and_an_admin_changes_them_with_an_audit_row(
    db: Database, org: Org
) -> None:
    assert settings_call("GET", org, org.admin).body == {"honorar_tax_free_limit_nok": 10000}
    changed = settings_call("PATCH", org, org.admin, {"honorar_tax_free_limit_nok": 12000})
    assert changed.status == 200 and changed.body == {"honorar_tax_free_limit_nok": 12000}
    assert settings_call("GET", org, org.admin).body == {"honorar_tax_free_limit_nok": 12000}
    audit = db.query_one("SELECT * FROM audit_log WHERE action = 'settings.changed'")
    assert audit is not None and audit["actor_id"] == org.admin
    assert audit["before"] == {"honorar_tax_free_limit_nok": 10000}
    assert audit["after"] == {"honorar_tax_free_limit_nok": 12000}


@pytest.mark.parametrize(
    ("who", "method", "body", "status"),
    [
        ("coordinator", "GET", None, 403),
        ("mentor", "PATCH", {"honorar_tax_free_limit_nok": 1}, 403),
        ("admin", "PATCH", {"honorar_tax_free_limit_nok": -1}, 422),
        ("admin", "PATCH", {"honorar_tax_free_limit_nok": 2.5}, 422),
        ("admin", "PATCH", {"honorar_tax_free_limit_nok": "3"}, 422),
        ("admin", "PATCH", {"honorar_tax_free_limit_nok": True}, 422),
        ("admin", "PATCH", {}, 422),
        ("admin", "PATCH", {"honorar_tax_free_limit_nok": 1, "currency": "SEK"}, 422),
    ],
)
def test_bad_settings_requests_are_refused_and_change_nothing(
    db: Database, org: Org, who: str, method: str, body: Any, status: int
) -> None:
    snapshot = state(db)
    reply = settings_call(method, org, getattr(org, who), body)
    assert reply.status == status, reply.body
    assert state(db) == snapshot


def test_malformed_org_id_in_settings_is_400(db: Database, org: Org) -> None:
    event = api_event("GET", "/orgs/not-an-org/settings", sub=org.admin)
    assert invoke(config_crud.handler.lambda_handler, event).status == 400


# --- stats ------------------------------------------------------------------------------------------


def test_a_mentor_sees_their_own_payouts_in_the_stats_honorar_block(db: Database, org: Org) -> None:
    definition = make_definition(db, org.id)
    payout_id = payout_of(db, earn(db, org, definition, 1).badge.id)["id"]
    act(org, payout_id, "approve")
    new_payout(db, org, mentor=org.other_mentor)
    event = api_event("GET", f"/orgs/{org.id}/mentors/{org.mentor}/stats", sub=org.mentor)
    reply = invoke(get_stats.handler.lambda_handler, event)
    assert reply.status == 200, reply.body
    payouts = reply.body["honorar"]["payouts"]
    assert [(p["id"], p["status"], p["amount_nok"], p["level"]) for p in payouts] == [
        (str(payout_id), "approved", 2500, 1)
    ]


def test_the_overview_shows_each_mentors_payouts_to_an_admin(db: Database, org: Org) -> None:
    definition = make_definition(db, org.id)
    payout_id = payout_of(db, earn(db, org, definition, 1).badge.id)["id"]
    other = new_payout(db, org, mentor=org.other_mentor)
    event = api_event("GET", f"/orgs/{org.id}/mentor-stats", sub=org.admin)
    reply = invoke(get_stats.handler.lambda_handler, event)
    assert reply.status == 200, reply.body
    shown = {item["peer_mentor_id"]: item["honorar"]["payouts"] for item in reply.body["items"]}
    assert [p["id"] for p in shown[str(org.mentor)]] == [str(payout_id)]
    assert [p["id"] for p in shown[str(org.other_mentor)]] == [str(other)]


# --- amounts_nok on definitions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "path", "code"),
    [
        ([-1, 8000], "criteria.amounts_nok[0]", "negative"),
        ([2500, 80.5], "criteria.amounts_nok[1]", "not_integer"),
        ([2500, "8000"], "criteria.amounts_nok[1]", "not_integer"),
        ([2500], "criteria.amounts_nok", "length_mismatch"),
        ([1, 2, 3], "criteria.amounts_nok", "length_mismatch"),
        (2500, "criteria.amounts_nok", "wrong_type"),
    ],
)
def test_a_definition_with_bad_amounts_is_422_and_not_stored(
    db: Database, org: Org, amounts: Any, path: str, code: str
) -> None:
    body = {"key": "honorar", "name": "Honorar", "criteria": {**PAYABLE, "amounts_nok": amounts}}
    event = api_event("POST", f"/orgs/{org.id}/badge-definitions", sub=org.admin, body=body)
    reply = invoke(config_crud.handler.lambda_handler, event)
    assert reply.status == 422, reply.body
    assert (path, code) in {(d["path"], d["code"]) for d in reply.body["error"]["details"]}
    assert db.query("SELECT id FROM badge_definitions") == []


def test_a_definition_with_amounts_is_stored_and_returned(db: Database, org: Org) -> None:
    body = {"key": "honorar", "name": "Honorar", "criteria": PAYABLE}
    event = api_event("POST", f"/orgs/{org.id}/badge-definitions", sub=org.admin, body=body)
    reply = invoke(config_crud.handler.lambda_handler, event)
    assert reply.status == 201, reply.body
    assert reply.body["criteria"]["amounts_nok"] == [2500, 8000]
