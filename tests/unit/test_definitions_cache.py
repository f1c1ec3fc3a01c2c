"""The per-container definitions cache: TTL with an injected clock, version checks, invalidation.

A counting fake database stands in for PostgreSQL: it answers the version lookup and the full
load, and records which of the two each read cost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from peer_badges.definitions_cache import DefinitionsCache

MINUTE = 60.0
TTL = 5 * MINUTE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeDatabase:
    """Org definitions and versions in memory; counts version checks and full loads."""

    def __init__(self) -> None:
        self.versions: dict[uuid.UUID, int] = {}
        self.rows: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self.version_checks = 0
        self.loads = 0

    def add(self, org_id: uuid.UUID, key: str, *, archived: bool = False, criteria: Any = None) -> None:
        now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        self.rows.setdefault(org_id, []).append(
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "key": key,
                "name": key.title(),
                "description": "",
                "icon": None,
                "criteria": criteria or {"type": "threshold", "schema_version": 1, "threshold": 5},
                "active": True,
                "revision": 1,
                "archived_at": now if archived else None,
                "created_at": now,
                "updated_at": now,
            }
        )
        self.versions[org_id] = self.versions.get(org_id, 0) + 1  # as the trigger does

    def query_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        assert "FROM org_definition_versions WHERE org_id" in sql and "badge_definitions" not in sql
        self.version_checks += 1
        version = self.versions.get(params["org_id"])
        return None if version is None else {"version": version}

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        assert "LEFT JOIN badge_definitions" in sql
        self.loads += 1
        org_id = params["org_id"]
        version = self.versions.get(org_id, 0)
        live = sorted(
            (row for row in self.rows.get(org_id, []) if row["archived_at"] is None), key=lambda r: r["key"]
        )
        if not live:
            return [{"version": version, **dict.fromkeys(("id", "org_id", "key"))}]
        return [{"version": version, **row} for row in live]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cache(clock: Clock) -> DefinitionsCache:
    return DefinitionsCache(clock=clock, ttl=TTL)


ORG = uuid.UUID("3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00")


def test_a_read_inside_the_ttl_costs_only_the_version_check(
    cache: DefinitionsCache, fake: FakeDatabase, clock: Clock
) -> None:
    # Given definitions loaded at T
    fake.add(ORG, "first-visit")
    first = cache.get(fake, ORG)
    assert (fake.loads, fake.version_checks) == (1, 0)

    # When the org is read again at T+4 min with nothing changed
    clock.advance(4 * MINUTE)
    again = cache.get(fake, ORG)

    # Then the cached list is served after one version check, without loading the list
    assert (fake.loads, fake.version_checks) == (1, 1)
    assert [d.key for d in again] == [d.key for d in first] == ["first-visit"]


def test_a_read_after_the_ttl_reloads_from_the_database(
    cache: DefinitionsCache, fake: FakeDatabase, clock: Clock
) -> None:
    # Given definitions loaded at T
    fake.add(ORG, "first-visit")
    cache.get(fake, ORG)

    # When the org is read at T+5 min+1 s
    clock.advance(TTL + 1)
    cache.get(fake, ORG)

    # Then the list is loaded again (no version check needed first)
    assert (fake.loads, fake.version_checks) == (2, 0)


def test_the_ttl_restarts_after_a_reload(cache: DefinitionsCache, fake: FakeDatabase, clock: Clock) -> None:
    # Given a reload at T+5 min+1 s
    fake.add(ORG, "first-visit")
    cache.get(fake, ORG)
    clock.advance(TTL + 1)
    cache.get(fake, ORG)

    # When read 4 minutes after that reload
    clock.advance(4 * MINUTE)
    cache.get(fake, ORG)

    # Then the reloaded copy is served
    assert (fake.loads, fake.version_checks) == (2, 1)


def test_a_change_by_another_container_is_seen_at_the_next_read(
    cache: DefinitionsCache, fake: FakeDatabase, clock: Clock
) -> None:
    # Given a cached org
    fake.add(ORG, "first-visit")
    cache.get(fake, ORG)

    # When another container adds a definition (the trigger moves the version) and we read at T+1 min
    fake.add(ORG, "ten-visits")
    clock.advance(MINUTE)
    definitions = cache.get(fake, ORG)

    # Then the version check notices and the new list is loaded
    assert [d.key for d in definitions] == ["first-visit", "ten-visits"]
    assert (fake.loads, fake.version_checks) == (2, 1)


def test_invalidating_an_org_forces_a_load_and_leaves_other_orgs_cached(
    cache: DefinitionsCache, fake: FakeDatabase
) -> None:
    # Given two cached orgs
    other = uuid.uuid4()
    fake.add(ORG, "first-visit")
    fake.add(other, "streak")
    cache.get(fake, ORG)
    cache.get(fake, other)

    # When this container changes ORG's definitions and invalidates it
    cache.invalidate(ORG)
    cache.get(fake, ORG)
    cache.get(fake, other)

    # Then ORG is loaded at once and the other org still costs only a version check
    assert (fake.loads, fake.version_checks) == (3, 1)


def test_archived_definitions_are_not_served_and_an_empty_org_is_cached_too(
    cache: DefinitionsCache, fake: FakeDatabase, clock: Clock
) -> None:
    # Given an org whose only definition is archived
    fake.add(ORG, "retired", archived=True)

    # When it is read twice within the TTL
    first = cache.get(fake, ORG)
    clock.advance(MINUTE)
    second = cache.get(fake, ORG)

    # Then nothing is served and the second read is a version check only
    assert first == second == []
    assert (fake.loads, fake.version_checks) == (1, 1)


def test_an_org_without_definitions_yet_is_cached_with_version_zero(
    cache: DefinitionsCache, fake: FakeDatabase, clock: Clock
) -> None:
    # Given an org that never had definitions (no version row)
    assert cache.get(fake, ORG) == []

    # When read again within the TTL, and once more after its first definition appears
    clock.advance(MINUTE)
    assert cache.get(fake, ORG) == []
    fake.add(ORG, "first-visit")
    clock.advance(MINUTE)

    # Then the empty list is served from the cache, and the new definition is picked up
    assert [d.key for d in cache.get(fake, ORG)] == ["first-visit"]
    assert (fake.loads, fake.version_checks) == (2, 2)


def test_a_stored_definition_that_no_longer_parses_is_skipped(
    cache: DefinitionsCache, fake: FakeDatabase
) -> None:
    # Given a row written directly by another client with criteria the layer rejects
    fake.add(ORG, "broken", criteria={"type": "threshold", "schema_version": 1, "threshold": 0})
    fake.add(ORG, "fine")

    # When the org is read
    definitions = cache.get(fake, ORG)

    # Then the valid definitions are still served
    assert [d.key for d in definitions] == ["fine"]


def test_callers_get_their_own_list(cache: DefinitionsCache, fake: FakeDatabase) -> None:
    # Given a cached org
    fake.add(ORG, "first-visit")
    first = cache.get(fake, ORG)

    # When a caller empties the list it got
    first.clear()

    # Then the next caller still gets the definitions
    assert len(cache.get(fake, ORG)) == 1


def test_the_cache_holds_a_bounded_number_of_orgs(clock: Clock, fake: FakeDatabase) -> None:
    # Given a cache for two orgs holding two orgs
    cache = DefinitionsCache(clock=clock, ttl=TTL, max_orgs=2)
    orgs = [uuid.uuid4() for _ in range(3)]
    for org in orgs:
        fake.add(org, "badge")
    cache.get(fake, orgs[0])
    cache.get(fake, orgs[1])

    # When a third org is read
    cache.get(fake, orgs[2])

    # Then the least recently loaded org was dropped and loads again
    cache.get(fake, orgs[0])
    assert fake.loads == 4


MILESTONE = {"type": "milestone", "schema_version": 1, "thresholds": [3, 15], "payable": True}


def test_the_milestone_view_parses_only_milestones_from_the_same_load(
    cache: DefinitionsCache, fake: FakeDatabase
) -> None:
    # Given an org with a threshold badge, a milestone and a milestone whose stored criteria no longer parse
    fake.add(ORG, "first-visit")
    fake.add(ORG, "honorarium", criteria=MILESTONE)
    fake.add(ORG, "broken", criteria={**MILESTONE, "thresholds": [15, 3]})

    # When stats read the milestone view and evaluation the full list
    milestones = cache.milestones(fake, ORG)
    everything = cache.get(fake, ORG)

    # Then the view holds the valid milestone, as the full list does, from one load
    assert [(d.key, type(d).__name__) for d in milestones] == [("honorarium", "MilestoneDefinition")]
    assert [d.key for d in everything] == ["first-visit", "honorarium"]
    assert milestones[0].model_dump() == {
        key: value for key, value in everything[1].model_dump().items() if key != "criteria_text"
    }
    assert (fake.loads, fake.version_checks) == (1, 1)
