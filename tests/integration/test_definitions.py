"""Badge definition logic on a real PostgreSQL: revisions, partial writes, If-Match under concurrency,
safe delete, the definitions version the cache relies on, backfills, audit and preview."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from peer_badges import definitions
from peer_badges.db import Database
from peer_badges.definitions import (
    archive_definition,
    create_definition,
    delete_definition,
    get_definition,
    unarchive_definition,
    update_definition,
)
from peer_badges.definitions_cache import DefinitionsCache
from peer_badges.errors import Conflict, NotFound, PreconditionFailed
from peer_badges.models.definitions import BadgeDefinition, BadgeDefinitionCreate, BadgeDefinitionPatch
from peer_badges.preview import DefinitionPreview, preview
from tests.helpers import Org, add_activity, seed_org

TEN_VISITS = {"type": "threshold", "schema_version": 1, "threshold": 10, "activity_types": ["visit"]}


@pytest.fixture
def org(db: Database) -> Org:
    return seed_org(db)


def _create(db: Database, org: Org, key: str = "ten-visits", **fields: Any) -> BadgeDefinition:
    request = BadgeDefinitionCreate.model_validate(
        {"key": key, "name": key.replace("-", " ").title(), "criteria": TEN_VISITS, **fields}
    )
    return create_definition(db, org.id, org.admin, request)


def _patch(**fields: Any) -> BadgeDefinitionPatch:
    return BadgeDefinitionPatch.model_validate(fields)


def _audit(db: Database, entity_id: uuid.UUID) -> list[dict[str, Any]]:
    return db.query("SELECT * FROM audit_log WHERE entity_id = :id ORDER BY id", id=entity_id)


def _backfills(db: Database, org_id: uuid.UUID) -> list[dict[str, Any]]:
    return db.query(
        "SELECT badge_definition_id, reason FROM definition_backfills WHERE org_id = :o ORDER BY id", o=org_id
    )


def _version(db: Database, org_id: uuid.UUID) -> int:
    row = db.query_one("SELECT version FROM org_definition_versions WHERE org_id = :o", o=org_id)
    return int(row["version"]) if row else 0


def _earn(db: Database, definition: BadgeDefinition, mentor_id: uuid.UUID) -> None:
    db.query(
        """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                                      definition_revision, criteria_snapshot)
           VALUES (:o, :m, :d, 1, current_date, 'manual', :r, CAST(:c AS jsonb))""",
        o=definition.org_id,
        m=mentor_id,
        d=definition.id,
        r=definition.revision,
        c='{"type": "manual", "schema_version": 1}',
    )


# --- create --------------------------------------------------------------------------------


def test_create_stores_the_definition_audits_it_and_queues_a_quiet_backfill(db: Database, org: Org) -> None:
    # When an admin creates a definition
    created = _create(db, org, description=None)

    # Then it is stored at revision 1 with normalised criteria
    assert created.revision == 1 and created.archived_at is None and created.description == ""
    stored = db.query_one("SELECT criteria, created_by FROM badge_definitions WHERE id = :id", id=created.id)
    assert stored == {
        "criteria": {**TEN_VISITS, "window": {"kind": "all_time"}},
        "created_by": org.admin,
    }
    # And the creation is audited with the actor and the after image
    [audit] = _audit(db, created.id)
    assert audit["action"] == "badge_definition.created" and audit["actor_id"] == org.admin
    assert audit["actor_kind"] == "user" and audit["before"] is None and audit["after"]["key"] == "ten-visits"
    # And one quiet, set-based backfill of the definition is queued
    assert [(r["badge_definition_id"], r["reason"]) for r in _backfills(db, org.id)] == [
        (created.id, "definition_created")
    ]


def test_creating_an_inactive_or_manual_definition_queues_nothing(db: Database, org: Org) -> None:
    # When an inactive and a manual definition are created
    _create(db, org, key="later", active=False)
    _create(db, org, key="hand-picked", criteria={"type": "manual", "schema_version": 1})

    # Then nothing needs backfilling
    assert _backfills(db, org.id) == []


def test_a_duplicate_key_is_refused_and_nothing_is_written(db: Database, org: Org) -> None:
    # Given a definition
    _create(db, org)
    audits = len(db.query("SELECT id FROM audit_log"))

    # When another one with the same key is created
    with pytest.raises(Conflict, match="already exists"):
        _create(db, org)

    # Then nothing more was written
    assert len(db.query("SELECT id FROM badge_definitions")) == 1
    assert len(db.query("SELECT id FROM audit_log")) == audits


def test_the_same_key_may_be_used_by_another_org(db: Database, org: Org) -> None:
    other = seed_org(db, slug="hlf")
    _create(db, org)
    assert _create(db, other).key == "ten-visits"


def test_an_org_cannot_exceed_the_definition_limit(
    db: Database, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an org at a (lowered) limit
    monkeypatch.setattr(definitions, "MAX_DEFINITIONS_PER_ORG", 2)
    _create(db, org, key="one")
    _create(db, org, key="two")

    # When one more is created, then it is refused
    with pytest.raises(Conflict, match="at most 2"):
        _create(db, org, key="three")


# --- PATCH ---------------------------------------------------------------------------------


def test_patch_writes_only_the_sent_fields_even_when_racing_another_writer(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a definition, and another client mid-way through changing its description
    created = _create(db, org, description="Ten home visits")
    other, patcher = connect_new(), connect_new()
    results: list[BadgeDefinition] = []
    with other.transaction() as tx:
        tx.execute(
            "UPDATE badge_definitions SET description = 'Edited elsewhere' WHERE id = :id", id=created.id
        )
        # When an admin renames it meanwhile
        thread = threading.Thread(
            target=lambda: results.append(
                update_definition(patcher, org.id, created.id, org.admin, _patch(name="Home visitor"))
            )
        )
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # waiting for the other writer's row lock
    thread.join(timeout=10)

    # Then both changes survive: the rename wrote the name only, over the committed description
    [renamed] = results
    assert (renamed.name, renamed.description, renamed.revision) == ("Home visitor", "Edited elsewhere", 3)
    assert get_definition(db, org.id, created.id).description == "Edited elsewhere"


def test_patch_writes_only_the_sent_fields(db: Database, org: Org) -> None:
    # Given a definition an admin loaded at revision 1
    created = _create(db, org, description="Ten home visits")
    # And another client changed its description meanwhile
    db.query("UPDATE badge_definitions SET description = 'Changed elsewhere' WHERE id = :id", id=created.id)

    # When the admin renames it (no If-Match)
    updated = update_definition(db, org.id, created.id, org.admin, _patch(name="Home visitor"))

    # Then the name changed and the concurrent description survived
    assert updated.name == "Home visitor" and updated.description == "Changed elsewhere"
    assert updated.revision == 3


def test_patch_that_changes_nothing_keeps_the_revision_and_writes_no_audit(db: Database, org: Org) -> None:
    created = _create(db, org)
    same = update_definition(
        db, org.id, created.id, org.admin, _patch(name=created.name, criteria=TEN_VISITS)
    )
    assert same.revision == 1
    assert [a["action"] for a in _audit(db, created.id)] == ["badge_definition.created"]


def test_patch_audits_before_and_after(db: Database, org: Org) -> None:
    created = _create(db, org)
    update_definition(
        db, org.id, created.id, org.admin, _patch(icon="star.svg", icon_alt="A star"), expected_revision=1
    )
    audit = _audit(db, created.id)[-1]
    assert audit["action"] == "badge_definition.updated" and audit["actor_id"] == org.admin
    assert audit["before"]["icon"] is None and audit["after"]["icon"] == "star.svg"
    assert audit["after"]["icon_alt"] == "A star"
    assert (audit["before"]["revision"], audit["after"]["revision"]) == (1, 2)


def test_patch_with_a_stale_if_match_is_refused_and_changes_nothing(db: Database, org: Org) -> None:
    # Given a definition at revision 2
    created = _create(db, org)
    update_definition(db, org.id, created.id, org.admin, _patch(name="Renamed"))

    # When a PATCH carries revision 1
    with pytest.raises(PreconditionFailed, match="revision 1"):
        update_definition(db, org.id, created.id, org.admin, _patch(name="Stale"), expected_revision=1)

    # Then the definition is unchanged
    assert get_definition(db, org.id, created.id).name == "Renamed"


def test_patch_of_an_unknown_or_foreign_definition_is_not_found(db: Database, org: Org) -> None:
    other = seed_org(db, slug="hlf")
    foreign = _create(db, other)
    for definition_id in (uuid.uuid4(), foreign.id):
        with pytest.raises(NotFound):
            update_definition(db, org.id, definition_id, org.admin, _patch(name="x"))
    assert get_definition(db, other.id, foreign.id).name == foreign.name


def test_concurrent_patches_with_the_same_if_match_exactly_one_wins(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a definition at revision 1 and four admins' sessions, each on its own connection
    created = _create(db, org)
    sessions = [connect_new() for _ in range(4)]
    start = threading.Barrier(len(sessions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(index: int, session: Database) -> None:
        start.wait()
        try:
            update_definition(
                session, org.id, created.id, org.admin, _patch(name=f"Name {index}"), expected_revision=1
            )
            result = "ok"
        except PreconditionFailed:
            result = "412"
        with lock:
            outcomes.append(result)

    # When all PATCH at once with If-Match 1
    threads = [threading.Thread(target=attempt, args=(i, s)) for i, s in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one wins, the rest get 412, and the definition moved one revision
    assert sorted(outcomes) == ["412", "412", "412", "ok"]
    assert get_definition(db, org.id, created.id).revision == 2
    assert [a["action"] for a in _audit(db, created.id)] == [
        "badge_definition.created",
        "badge_definition.updated",
    ]


def test_changing_the_key_to_a_taken_one_is_a_conflict(db: Database, org: Org) -> None:
    _create(db, org, key="first")
    second = _create(db, org, key="second")
    with pytest.raises(Conflict, match='"first"'):
        update_definition(db, org.id, second.id, org.admin, _patch(key="first"))
    assert get_definition(db, org.id, second.id).key == "second"


def test_changing_criteria_or_reactivating_queues_a_backfill_and_renaming_does_not(
    db: Database, org: Org
) -> None:
    created = _create(db, org)
    db.query("DELETE FROM definition_backfills")

    def started() -> object:
        return db.query_one("SELECT backfill_from FROM badge_definitions WHERE id = :id", id=created.id)

    before = started()
    update_definition(db, org.id, created.id, org.admin, _patch(name="Visitor", description="Renamed"))
    assert _backfills(db, org.id) == [] and started() == before

    update_definition(db, org.id, created.id, org.admin, _patch(criteria={**TEN_VISITS, "threshold": 5}))
    assert [r["reason"] for r in _backfills(db, org.id)] == ["definition_changed"]
    assert started() != before

    update_definition(db, org.id, created.id, org.admin, _patch(active=False))
    assert len(_backfills(db, org.id)) == 1
    update_definition(db, org.id, created.id, org.admin, _patch(active=True))
    assert [r["reason"] for r in _backfills(db, org.id)] == ["definition_changed"] * 2


# --- archive -------------------------------------------------------------------------------


def test_archive_and_unarchive_are_audited_idempotent_and_unarchive_backfills(db: Database, org: Org) -> None:
    created = _create(db, org)
    db.query("DELETE FROM definition_backfills")

    archived = archive_definition(db, org.id, created.id, org.admin)
    again = archive_definition(db, org.id, created.id, org.admin)
    assert archived.archived_at is not None and again.revision == archived.revision == 2
    assert _backfills(db, org.id) == []

    restored = unarchive_definition(db, org.id, created.id, org.admin, expected_revision=2)
    assert restored.archived_at is None and restored.revision == 3
    assert [r["reason"] for r in _backfills(db, org.id)] == ["definition_changed"]
    assert [a["action"] for a in _audit(db, created.id)] == [
        "badge_definition.created",
        "badge_definition.archived",
        "badge_definition.unarchived",
    ]


def test_archive_with_a_stale_if_match_is_refused(db: Database, org: Org) -> None:
    created = _create(db, org)
    update_definition(db, org.id, created.id, org.admin, _patch(name="Renamed"))
    with pytest.raises(PreconditionFailed):
        archive_definition(db, org.id, created.id, org.admin, expected_revision=1)
    assert get_definition(db, org.id, created.id).archived_at is None


# --- delete --------------------------------------------------------------------------------


def test_delete_removes_an_unearned_definition_and_audits_it(db: Database, org: Org) -> None:
    created = _create(db, org)
    delete_definition(db, org.id, created.id, org.admin)
    with pytest.raises(NotFound):
        get_definition(db, org.id, created.id)
    audit = _audit(db, created.id)[-1]
    assert audit["action"] == "badge_definition.deleted" and audit["after"] is None
    assert audit["before"]["key"] == "ten-visits"


def test_delete_is_refused_when_badges_were_earned_even_if_revoked(db: Database, org: Org) -> None:
    # Given a definition a mentor earned and that was later revoked
    created = _create(db, org)
    _earn(db, created, org.mentor)
    db.query("UPDATE earned_badges SET revoked_at = now(), revoke_reason = 'mistake'")

    # When an admin deletes it
    with pytest.raises(Conflict) as refused:
        delete_definition(db, org.id, created.id, org.admin)

    # Then it is refused with a pointer to archive, and everything stays
    assert "archive" in refused.value.message.lower()
    assert get_definition(db, org.id, created.id).id == created.id
    assert [a["action"] for a in _audit(db, created.id)] == ["badge_definition.created"]


def test_safe_delete_reports_each_outcome(db: Database, org: Org) -> None:
    earned, free = _create(db, org, key="earned"), _create(db, org, key="free")
    _earn(db, earned, org.mentor)
    _earn(db, earned, org.other_mentor)

    def outcome(definition_id: uuid.UUID) -> tuple[str, int]:
        row = db.query_one(
            "SELECT outcome, earned_count FROM safe_delete_badge_definition(:o, :d)",
            o=org.id,
            d=definition_id,
        )
        assert row is not None
        return row["outcome"], row["earned_count"]

    assert outcome(earned.id) == ("has_earned_badges", 2)
    assert outcome(free.id) == ("deleted", 0)
    assert outcome(free.id) == ("not_found", 0)
    assert outcome(uuid.uuid4()) == ("not_found", 0)


def test_an_award_in_flight_blocks_the_delete_until_it_commits_and_then_wins(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given a definition and an award inserted by another session, not yet committed
    created = _create(db, org)
    awarder, deleter = connect_new(), connect_new()
    outcome: list[BaseException | None] = []

    def delete() -> None:
        try:
            delete_definition(deleter, org.id, created.id, org.admin)
            outcome.append(None)
        except Conflict as error:
            outcome.append(error)

    with awarder.transaction() as tx:
        tx.execute(
            """INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, earned_at, source,
                                          definition_revision, criteria_snapshot)
               VALUES (:o, :m, :d, current_date, 'evaluation', 1, '{}'::jsonb)""",
            o=org.id,
            m=org.mentor,
            d=created.id,
        )
        # When an admin deletes the definition meanwhile
        thread = threading.Thread(target=delete)
        thread.start()
        time.sleep(0.5)
        # Then the delete waits for the award (the row lock) instead of deciding on stale data
        assert thread.is_alive()
    thread.join(timeout=10)

    # And once the award committed, the delete is refused
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
    assert len(db.query("SELECT id FROM earned_badges WHERE badge_definition_id = :d", d=created.id)) == 1


# --- the definitions version and the cache -------------------------------------------------


def test_every_committed_change_moves_the_org_version_and_only_that_org(db: Database, org: Org) -> None:
    other = seed_org(db, slug="hlf")
    _create(db, other)
    other_version = _version(db, other.id)

    created = _create(db, org)
    versions = [_version(db, org.id)]
    update_definition(db, org.id, created.id, org.admin, _patch(name="Renamed"))
    versions.append(_version(db, org.id))
    db.query("UPDATE badge_definitions SET name = name WHERE id = :id AND false", id=created.id)
    versions.append(_version(db, org.id))  # a statement touching no rows changes nothing
    archive_definition(db, org.id, created.id, org.admin)
    versions.append(_version(db, org.id))
    delete_definition(db, org.id, created.id, org.admin)
    versions.append(_version(db, org.id))

    assert versions == [1, 2, 2, 3, 4]
    assert _version(db, other.id) == other_version


def test_a_rolled_back_change_does_not_move_the_version(db: Database, org: Org) -> None:
    created = _create(db, org)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute("UPDATE badge_definitions SET name = 'x' WHERE id = :id", id=created.id)
        raise RuntimeError("abandon")
    assert _version(db, org.id) == 1


class CountingDatabase:
    """The real database, counting version checks and full loads (the cache's two queries)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loads = 0
        self.checks = 0

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        self.loads += "LEFT JOIN badge_definitions" in sql
        return self.db.query(sql, **params)

    def query_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        self.checks += "FROM org_definition_versions" in sql
        return self.db.query_one(sql, **params)


def test_the_cache_sees_a_change_made_by_another_container_at_the_next_read(
    db: Database, org: Org, connect_new: Callable[[], Database]
) -> None:
    # Given this container cached the org's definitions
    created = _create(db, org)
    counting = CountingDatabase(db)
    cache = DefinitionsCache(ttl=300)
    assert [d.name for d in cache.get(counting, org.id)] == ["Ten Visits"]

    # When another container (its own connection, its own cache) renames the definition
    update_definition(connect_new(), org.id, created.id, org.admin, _patch(name="Renamed"))

    # Then the next read, well inside the TTL, is current: the version check forced a reload
    assert [d.name for d in cache.get(counting, org.id)] == ["Renamed"]
    assert (counting.loads, counting.checks) == (2, 1)
    # And a read after that is served from the cache after one version check
    cache.get(counting, org.id)
    assert (counting.loads, counting.checks) == (2, 2)


def test_a_mutation_in_this_container_invalidates_the_shared_cache_at_once(db: Database, org: Org) -> None:
    # Given the container's cache holds the org
    definitions.definitions_cache.invalidate()
    created = _create(db, org)
    counting = CountingDatabase(db)
    definitions.cached_org_definitions(counting, org.id)
    definitions.cached_org_definitions(counting, org.id)
    assert (counting.loads, counting.checks) == (1, 1)

    # When an admin archives a definition through this container
    archive_definition(db, org.id, created.id, org.admin)

    # Then the next read goes straight to a reload, without a version check first
    assert definitions.cached_org_definitions(counting, org.id) == []
    assert (counting.loads, counting.checks) == (2, 1)


def test_the_cache_serves_inactive_but_not_archived_definitions(db: Database, org: Org) -> None:
    definitions.definitions_cache.invalidate()
    _create(db, org, key="inactive", active=False)
    archived = _create(db, org, key="archived")
    archive_definition(db, org.id, archived.id, org.admin)
    assert [(d.key, d.active) for d in definitions.cached_org_definitions(db, org.id)] == [
        ("inactive", False)
    ]


# --- preview -------------------------------------------------------------------------------


def _today(db: Database, org: Org) -> date:
    row = db.query_one(
        "SELECT (now() AT TIME ZONE timezone)::date AS d FROM organizations WHERE id = :o", o=org.id
    )
    assert row is not None
    return row["d"]


def _criteria(raw: dict[str, Any]) -> Any:
    return BadgeDefinitionCreate.model_validate({"key": "k", "name": "n", "criteria": raw}).criteria


def _add(
    db: Database, org: Org, mentor: uuid.UUID, day: date, n: int = 1, kind: str = "visit", **kw: Any
) -> None:
    for _ in range(n):
        add_activity(db, org.id, mentor, day, kind, **kw)


def test_preview_counts_threshold_qualifiers(db: Database, org: Org) -> None:
    # Given one mentor with 3 visits and 1 call, another with 2 visits, and rows that do not count
    today = _today(db, org)
    _add(db, org, org.mentor, today, 3)
    _add(db, org, org.mentor, today, 1, kind="call")
    _add(db, org, org.other_mentor, today, 2)
    _add(db, org, org.other_mentor, today, 5, status="pending")
    _add(db, org, org.other_mentor, today + timedelta(days=2), 3)  # dated ahead: not counted yet

    def run(raw: dict[str, Any], size: int = 10) -> DefinitionPreview:
        return preview(db, org.id, _criteria({"schema_version": 1, **raw}), size)

    # Then all time, per type, and sampling count only what counts today
    result = run({"type": "threshold", "threshold": 3, "activity_types": ["visit"]})
    assert (result.qualifying, result.evaluated, result.sample) == (1, 2, (org.mentor,))
    assert run({"type": "threshold", "threshold": 2}).qualifying == 2
    assert len(run({"type": "threshold", "threshold": 2}, size=1).sample) == 1
    assert run({"type": "threshold", "threshold": 4, "activity_types": ["visit", "call"]}).qualifying == 1
    assert run({"type": "threshold", "threshold": 1, "activity_types": ["course"]}).qualifying == 0
    assert run({"type": "threshold", "threshold": 3}).sample == (org.mentor,)


def _window_qualifying(db: Database, org: Org, window: dict[str, Any], threshold: int) -> int:
    raw = {"type": "threshold", "schema_version": 1, "threshold": threshold, "window": window}
    return preview(db, org.id, _criteria(raw)).qualifying


def test_preview_counts_rolling_windows_up_to_today(db: Database, org: Org) -> None:
    # Given recent activity, older activity, and an activity dated in the future
    today = _today(db, org)
    _add(db, org, org.mentor, today - timedelta(days=3), 2)
    _add(db, org, org.other_mentor, today - timedelta(days=40), 2)
    _add(db, org, org.other_mentor, today + timedelta(days=1), 1)

    # Then a window of N days counts today and the N-1 days before
    assert _window_qualifying(db, org, {"kind": "rolling_days", "days": 4}, 2) == 1
    assert _window_qualifying(db, org, {"kind": "rolling_days", "days": 3}, 1) == 0
    assert _window_qualifying(db, org, {"kind": "rolling_days", "days": 60}, 2) == 2
    assert _window_qualifying(db, org, {"kind": "rolling_days", "days": 60}, 3) == 0


def test_preview_counts_calendar_years_from_the_year_buckets(db: Database, org: Org) -> None:
    # Given activity on new year's day and the day before
    this_year = _today(db, org).year
    _add(db, org, org.mentor, date(this_year, 1, 1), 2)
    _add(db, org, org.mentor, date(this_year - 1, 12, 31), 5)
    _add(db, org, org.other_mentor, date(this_year, 1, 1), 1)
    if date(this_year, 12, 31) > _today(db, org):
        _add(db, org, org.other_mentor, date(this_year, 12, 31), 4)  # dated ahead: not counted yet

    # Then only this year's activity counts for calendar_year, all of it for all_time
    assert _window_qualifying(db, org, {"kind": "calendar_year"}, 1) == 2
    assert _window_qualifying(db, org, {"kind": "calendar_year"}, 2) == 1
    assert _window_qualifying(db, org, {"kind": "calendar_year"}, 3) == 0
    assert _window_qualifying(db, org, {"kind": "all_time"}, 7) == 1


def test_preview_finds_streaks_of_consecutive_weeks(db: Database, org: Org) -> None:
    # Given a mentor active 3 weeks in a row (twice a week), then a gap, and one with 2 weeks once a week
    monday = _today(db, org) - timedelta(days=_today(db, org).weekday())
    for weeks_ago in (6, 5, 4):
        _add(db, org, org.mentor, monday - timedelta(weeks=weeks_ago), 2)
    for weeks_ago in (1, 0):
        _add(db, org, org.other_mentor, monday - timedelta(weeks=weeks_ago), 1)

    def qualifying(weeks: int, min_per_week: int = 1) -> int:
        raw = {"type": "streak", "schema_version": 1, "weeks": weeks, "min_per_week": min_per_week}
        return preview(db, org.id, _criteria(raw)).qualifying

    assert qualifying(2) == 2
    assert qualifying(3) == 1
    assert qualifying(2, min_per_week=2) == 1
    assert qualifying(4) == 0


def test_preview_counts_tier_levels_and_training(db: Database, org: Org) -> None:
    today = _today(db, org)
    _add(db, org, org.mentor, today, 6)
    _add(db, org, org.other_mentor, today, 2)
    tier = _criteria(
        {
            "type": "tier",
            "schema_version": 1,
            "tiers": [{"name": "Bronze", "threshold": 2}, {"name": "Silver", "threshold": 5}],
        }
    )
    result = preview(db, org.id, tier)
    assert result.qualifying == 2
    assert [(level.level, level.target, level.qualifying) for level in result.levels] == [
        (1, 2, 2),
        (2, 5, 1),
    ]

    db.query(
        """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at, expires_at)
           VALUES (:o, :m, 'basic', now() - interval '10 days', NULL),
                  (:o, :m, 'first-aid', now() - interval '400 days', now() - interval '35 days'),
                  (:o, :x, 'basic', now() - interval '3 days', NULL)""",
        o=org.id,
        m=org.mentor,
        x=org.other_mentor,
    )

    def qualifying(require: str, only_valid: bool) -> int:
        raw = {
            "type": "training_completion",
            "schema_version": 1,
            "training_codes": ["basic", "first-aid"],
            "require": require,
            "only_valid": only_valid,
        }
        return preview(db, org.id, _criteria(raw)).qualifying

    assert qualifying("all", False) == 1
    assert qualifying("all", True) == 0
    assert qualifying("any", True) == 2


def test_preview_of_a_manual_badge_says_nobody_qualifies_automatically(db: Database, org: Org) -> None:
    _add(db, org, org.mentor, _today(db, org), 3)
    result = preview(db, org.id, _criteria({"type": "manual", "schema_version": 1}))
    assert (result.qualifying, result.evaluated, result.sample) == (0, 2, ())
    assert result.note and "never awarded automatically" in result.note
