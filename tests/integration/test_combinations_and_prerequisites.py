"""all_of / any_of and requires_badge (SPEC 8.2) on every path: the event path, reconcile, preview,
milestone status, validation against the organisation's badges, and re-evaluation when a
prerequisite is awarded or revoked."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.criteria.registry import parse_criteria
from peer_badges.db import Database
from peer_badges.definitions import create_definition, update_definition, validate_draft
from peer_badges.definitions_cache import cached_org_definitions, definitions_cache
from peer_badges.errors import Conflict, Unprocessable
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.models.definitions import BadgeDefinitionCreate, BadgeDefinitionPatch
from peer_badges.preview import preview
from peer_badges.reconcile import reconcile_org
from peer_badges.stats import load_milestone_status
from tests.helpers import Org, add_activity, seed_org

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
TIERS = {
    "type": "tier",
    "schema_version": 1,
    "tiers": [{"name": "Bronze", "threshold": 2}, {"name": "Silver", "threshold": 4}],
}
COURSE = {"type": "training_completion", "schema_version": 1, "training_codes": ["basic-course"]}
MENTOR_OF_THE_YEAR = {
    "type": "all_of",
    "schema_version": 1,
    "criteria": [{"type": "requires_badge", "schema_version": 1, "badge_key": "visits", "level": 2}, COURSE],
}
EITHER = {
    "type": "any_of",
    "schema_version": 1,
    "criteria": [
        {"type": "threshold", "schema_version": 1, "threshold": 3},
        {"type": "streak", "schema_version": 1, "weeks": 2},
    ],
}


@pytest.fixture
def org(db: Database) -> Org:
    definitions_cache.invalidate()
    return seed_org(db)


def define(db: Database, org: Org, key: str, criteria: dict[str, Any]) -> uuid.UUID:
    body = BadgeDefinitionCreate.model_validate({"key": key, "name": key.title(), "criteria": criteria})
    return create_definition(db, org.id, org.admin, body).id


def course(db: Database, org: Org, mentor: uuid.UUID, when: datetime) -> None:
    db.query(
        """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at)
           VALUES (:o, :m, 'basic-course', :t)""",
        o=org.id,
        m=mentor,
        t=when,
    )


def awards(db: Database, org: Org) -> dict[tuple[str, object, int], tuple[date, str]]:
    rows = db.query(
        """SELECT d.key, e.peer_mentor_id, e.level, e.earned_at, e.source FROM earned_badges e
             JOIN badge_definitions d ON d.id = e.badge_definition_id WHERE e.org_id = :o""",
        o=org.id,
    )
    return {(r["key"], r["peer_mentor_id"], r["level"]): (r["earned_at"], r["source"]) for r in rows}


def test_a_combination_with_a_prerequisite_is_awarded_live_with_the_latest_members_date(
    db: Database, org: Org
) -> None:
    # Given "mentor of the year": the silver visits tier and the basic course
    define(db, org, "visits", TIERS)
    define(db, org, "mentor-of-the-year", MENTOR_OF_THE_YEAR)
    drain_outbox(db, NOW)  # the definitions' own backfills: nothing yet
    # When the mentor takes the course, then reaches silver (4 activities, the 4th on 12 Nov)
    course(db, org, org.mentor, datetime(2026, 11, 1, 9, tzinfo=UTC))
    for day in (3, 5, 9, 12):
        add_activity(db, org.id, org.mentor, date(2026, 11, day))
    drain_outbox(db, NOW)
    # Then both tiers, and the combination on the later member's date (silver, 12 Nov), all live
    got = awards(db, org)
    assert got[("visits", org.mentor, 2)] == (date(2026, 11, 12), "evaluation")
    assert got[("mentor-of-the-year", org.mentor, 1)] == (date(2026, 11, 12), "evaluation")
    # And milestone status shows each member's progress and the prerequisite held
    status = load_milestone_status(db, org.id, org.other_mentor, TODAY, cached_org_definitions(db, org.id))
    combo = next(item for item in status.badges if item.key == "mentor-of-the-year")
    assert (combo.current, combo.target, combo.earned) == (0, 2, False)
    assert [(m.type, m.met, m.held) for m in combo.members] == [
        ("requires_badge", False, False),
        ("training_completion", False, None),
    ]
    mine = load_milestone_status(db, org.id, org.mentor, TODAY, cached_org_definitions(db, org.id))
    held = next(item for item in mine.badges if item.key == "mentor-of-the-year")
    assert (held.current, held.earned, held.earned_at) == (2, True, date(2026, 11, 12))
    assert [(m.type, m.met, m.held) for m in held.members] == [
        ("requires_badge", True, True),
        ("training_completion", True, None),
    ]


def test_an_any_of_takes_its_prerequisites_date_when_both_fall_due_in_one_drain(
    db: Database, org: Org
) -> None:
    # Given "any_of: 3 activities, or the bronze visits tier (2 activities)", both defined before history
    define(db, org, "visits", TIERS)
    define(
        db,
        org,
        "either",
        {
            "type": "any_of",
            "schema_version": 1,
            "criteria": [
                {"type": "threshold", "schema_version": 1, "threshold": 3},
                {"type": "requires_badge", "schema_version": 1, "badge_key": "visits", "level": 1},
            ],
        },
    )
    drain_outbox(db, NOW)
    # When three activities are drained at once (bronze on the 2nd, 5 Nov; the threshold on 9 Nov)
    for day in (3, 5, 9):
        add_activity(db, org.id, org.mentor, date(2026, 11, day))
    drain_outbox(db, NOW)
    # Then the combination counts bronze as held in the same pass: the earlier member's date, as
    # reconcile would give it (assessed before bronze's award, it took 9 Nov and kept it)
    got = awards(db, org)
    assert got[("visits", org.mentor, 1)] == (date(2026, 11, 5), "evaluation")
    assert got[("either", org.mentor, 1)] == (date(2026, 11, 5), "evaluation")


def test_a_manual_award_of_a_prerequisite_queues_its_holder_and_a_live_evaluation_award_does_not(
    db: Database, org: Org
) -> None:
    # Given "mentor of the year" requiring the visits tier, and nothing queued
    visits = define(db, org, "visits", TIERS)
    define(db, org, "mentor-of-the-year", MENTOR_OF_THE_YEAR)
    db.query("UPDATE evaluation_outbox SET status = 'done'")
    definition = AwardDefinition.of(next(d for d in cached_org_definitions(db, org.id) if d.id == visits))

    def award_visits(level: int, source: str) -> None:
        command = AwardCommand(org.id, org.mentor, definition, level, TODAY, source, awarded_by=org.admin)
        with db.transaction() as tx:
            assert award(tx, command).created

    def queued() -> int:
        row = db.query_one(
            "SELECT count(*) AS n FROM evaluation_outbox WHERE peer_mentor_id = :m AND status = 'pending'",
            m=org.mentor,
        )
        return int(row["n"]) if row else 0

    # When an evaluation awards bronze live (it assessed the dependants in the same pass) ...
    award_visits(1, "evaluation")
    # Then its holder is not queued again; a manual award of silver does queue them
    assert queued() == 0
    award_visits(2, "manual")
    assert queued() == 1


def test_revoking_the_prerequisite_never_revokes_the_dependent_badge(db: Database, org: Org) -> None:
    define(db, org, "visits", TIERS)
    define(db, org, "mentor-of-the-year", MENTOR_OF_THE_YEAR)
    course(db, org, org.mentor, datetime(2026, 11, 1, 9, tzinfo=UTC))
    for day in (3, 5, 9, 12):
        add_activity(db, org.id, org.mentor, date(2026, 11, day))
    drain_outbox(db, NOW)
    db.query(
        """UPDATE earned_badges SET revoked_at = now(), revoked_by = :a, revoke_reason = 'wrong'
            WHERE badge_definition_id = (SELECT id FROM badge_definitions WHERE key = 'visits' AND org_id = :o)""",
        a=org.admin,
        o=org.id,
    )
    drain_outbox(db, NOW)  # the revoke queued the holder; evaluation never revokes
    assert db.query_one(
        """SELECT revoked_at FROM earned_badges e JOIN badge_definitions d ON d.id = e.badge_definition_id
            WHERE d.key = 'mentor-of-the-year'"""
    ) == {"revoked_at": None}


def test_any_of_is_met_by_its_earliest_member_and_reconcile_and_preview_agree(db: Database, org: Org) -> None:
    # Given one mentor with 3 activities in one week (threshold on the 3rd), another with two weeks in a row
    for day in (2, 3, 4):
        add_activity(db, org.id, org.mentor, date(2026, 11, day))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 4))
    add_activity(db, org.id, org.other_mentor, date(2026, 11, 11))
    db.query("UPDATE evaluation_outbox SET status = 'done'")
    define(db, org, "either", EITHER)
    # When the definition's backfill (set-based) runs
    drain_outbox(db, NOW)
    got = awards(db, org)
    # Then the earliest member's date, quietly: 4 Nov (3rd activity), and the Monday of the 2nd week
    assert got[("either", org.mentor, 1)] == (date(2026, 11, 4), "backfill")
    assert got[("either", org.other_mentor, 1)] == (date(2026, 11, 9), "backfill")
    shown = preview(db, org.id, parse_criteria(EITHER), today=TODAY)
    assert (shown.qualifying, set(shown.sample)) == (2, {org.mentor, org.other_mentor})
    assert reconcile_org(db, org.id, now=NOW).awarded == []


def test_reconcile_awards_a_chain_of_prerequisites_in_one_run(db: Database, org: Org) -> None:
    for day in range(1, 5):
        add_activity(db, org.id, org.mentor, date(2026, 11, day))
    course(db, org, org.mentor, datetime(2026, 10, 1, 9, tzinfo=UTC))
    db.query("UPDATE evaluation_outbox SET status = 'done'")
    define(db, org, "visits", TIERS)
    define(db, org, "mentor-of-the-year", MENTOR_OF_THE_YEAR)
    db.query("UPDATE definition_backfills SET status = 'done'")
    report = reconcile_org(db, org.id, now=NOW)
    keys = sorted((b.badge_definition_id, b.level) for b in report.awarded)
    assert len(keys) == 3  # bronze, silver, then the combination that requires silver
    assert awards(db, org)[("mentor-of-the-year", org.mentor, 1)] == (date(2026, 11, 4), "backfill")


def test_prerequisites_on_unknown_badges_and_cycles_are_refused_with_every_problem(
    db: Database, org: Org
) -> None:
    define(db, org, "visits", TIERS)
    unknown = {
        "type": "any_of",
        "schema_version": 1,
        "criteria": [
            {"type": "requires_badge", "schema_version": 1, "badge_key": "nope"},
            {"type": "requires_badge", "schema_version": 1, "badge_key": "never"},
        ],
    }
    with pytest.raises(Unprocessable) as refused:
        define(db, org, "combo", unknown)
    assert [(d["path"], d["code"]) for d in refused.value.details] == [
        ("criteria.criteria[0].badge_key", "unknown_badge"),
        ("criteria.criteria[1].badge_key", "unknown_badge"),
    ]
    # A cycle: a requires b, then b would require a
    define(db, org, "a", {"type": "requires_badge", "schema_version": 1, "badge_key": "visits"})
    b = define(db, org, "b", {"type": "requires_badge", "schema_version": 1, "badge_key": "a"})
    with pytest.raises(Unprocessable) as cycle:
        update_definition(
            db,
            org.id,
            b,
            org.admin,
            BadgeDefinitionPatch.model_validate(
                {"key": "b", "criteria": {"type": "requires_badge", "schema_version": 1, "badge_key": "b"}}
            ),
        )
    assert [(d["path"], d["code"]) for d in cycle.value.details] == [("criteria.badge_key", "cycle")]
    a_id = db.query_one("SELECT id FROM badge_definitions WHERE key = 'a'")["id"]
    with pytest.raises(Unprocessable) as indirect:
        update_definition(
            db,
            org.id,
            a_id,
            org.admin,
            BadgeDefinitionPatch.model_validate(
                {"criteria": {"type": "requires_badge", "schema_version": 1, "badge_key": "b"}}
            ),
        )
    assert [(d["path"], d["code"]) for d in indirect.value.details] == [("criteria.badge_key", "cycle")]
    # ... renaming a key others require is refused; validate reports an unknown key too
    with pytest.raises(Conflict):
        update_definition(db, org.id, a_id, org.admin, BadgeDefinitionPatch.model_validate({"key": "a2"}))
    result = validate_draft(db, org.id, {"type": "requires_badge", "schema_version": 1, "badge_key": "gone"})
    assert [(p.path, p.code) for p in result.problems] == [("badge_key", "unknown_badge")]


def test_deep_or_single_member_combinations_and_misplaced_types_are_refused(db: Database, org: Org) -> None:
    deep = {
        "type": "all_of",
        "schema_version": 1,
        "criteria": [
            COURSE,
            {
                "type": "any_of",
                "schema_version": 1,
                "criteria": [
                    COURSE,
                    {
                        "type": "all_of",
                        "schema_version": 1,
                        "criteria": [
                            COURSE,
                            {"type": "any_of", "schema_version": 1, "criteria": [COURSE, COURSE]},
                        ],
                    },
                ],
            },
        ],
    }
    result = validate_draft(db, org.id, deep)
    assert [(p.path, p.code) for p in result.problems] == [
        ("criteria[1].criteria[1].criteria[1].type", "too_deep")
    ]
    single = validate_draft(db, org.id, {"type": "any_of", "schema_version": 1, "criteria": [TIERS]})
    assert {(p.path, p.code) for p in single.problems} == {
        ("criteria", "too_few"),
        ("criteria[0].type", "not_allowed"),
    }
    measure = validate_draft(
        db, org.id, {"type": "streak", "schema_version": 1, "weeks": 2, "measure": "minutes"}
    )
    assert [(p.path, p.code) for p in measure.problems] == [("measure", "unknown_field")]
