"""The demo data set `make run` loads: realistic, valid, the same everywhere, and never duplicated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from itertools import pairwise

import pytest

from localdev import demo
from peer_badges import db as db_module
from peer_badges import stats
from peer_badges.criteria.registry import validate_criteria
from peer_badges.definitions_cache import DefinitionsCache
from peer_badges.migrations import migrate
from peer_badges.settings import Settings

TODAY = date(2026, 6, 1)


def _database(url: str) -> db_module.Database:
    migrate(database_url=url)
    settings = Settings(database_url=url)
    return db_module.Database(lambda: db_module.connect(db_module.params_from_url(url), settings))


@pytest.fixture(scope="module")
def db(database_factory: Callable[[], str]) -> Iterator[db_module.Database]:
    """A database of its own, loaded once for the whole module (loading takes a couple of seconds)."""
    database = _database(database_factory())
    yield database
    database.close()


@pytest.fixture(scope="module")
def loaded(db: db_module.Database) -> demo.LoadReport:
    return demo.load(db, today=TODAY)


def _fingerprint(database: db_module.Database) -> dict:
    row = database.query_one(
        """SELECT (SELECT count(*) FROM activities) AS activities,
                  (SELECT coalesce(sum(duration_minutes), 0) FROM activities) AS minutes,
                  (SELECT count(*) FROM activities WHERE deleted_at IS NOT NULL) AS deleted,
                  (SELECT count(*) FROM training_completions) AS trainings,
                  (SELECT count(*) FROM org_members) AS members,
                  (SELECT count(*) FROM coordinator_assignments) AS assignments,
                  (SELECT count(*) FROM badge_definitions) AS definitions,
                  (SELECT count(*) FROM streak_pauses) AS pauses"""
    )
    assert row is not None
    return row


def test_loading_twice_changes_nothing(db: db_module.Database, loaded: demo.LoadReport) -> None:
    # Given the demo set was loaded once
    before = _fingerprint(db)
    # When it is loaded again (a second `make run`)
    again = demo.load(db, today=TODAY)
    # Then every organisation is skipped and nothing is duplicated
    assert loaded.loaded == ("nhf", "blindeforbundet", "hlf")
    assert again.loaded == () and again.skipped == loaded.loaded
    assert _fingerprint(db) == before


def test_the_data_set_is_the_same_on_every_machine(
    db: db_module.Database, loaded: demo.LoadReport, database_factory: Callable[[], str]
) -> None:
    # Given a second, independent database
    other = _database(database_factory())
    try:
        # When the demo set is loaded there for the same day
        demo.load(other, today=TODAY)
        # Then it holds exactly the same data
        assert _fingerprint(other) == _fingerprint(db)
    finally:
        other.close()


def test_three_organisations_with_a_few_hundred_mentors_and_their_staff(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    rows = db.query(
        """SELECT o.slug, m.role, count(*) AS n
             FROM organizations o JOIN org_members m ON m.org_id = o.id
            GROUP BY o.slug, m.role"""
    )
    counts = {(row["slug"], row["role"]): row["n"] for row in rows}
    assert {slug for slug, _ in counts} == {"nhf", "blindeforbundet", "hlf"}
    for slug in ("nhf", "blindeforbundet", "hlf"):
        assert counts[(slug, "org_admin")] == 1
        assert counts[(slug, "coordinator")] >= 3
    assert sum(n for (_, role), n in counts.items() if role == "peer_mentor") >= 250
    # Every coordinator has mentors; a few mentors have no coordinator (only admins see them).
    idle = db.query(
        """SELECT m.user_id FROM org_members m
            WHERE m.role = 'coordinator'
              AND NOT EXISTS (SELECT 1 FROM coordinator_assignments a WHERE a.coordinator_id = m.user_id)"""
    )
    assert idle == []


def test_each_organisation_configures_its_own_valid_badges(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    rows = db.query(
        "SELECT o.slug, d.key, d.criteria FROM badge_definitions d JOIN organizations o ON o.id = d.org_id"
    )
    assert all(validate_criteria(row["criteria"]) == [] for row in rows)
    types = {row["criteria"]["type"] for row in rows}
    # Every criteria type top-level, except all_of and requires_badge, which the combination holds
    assert types == {"threshold", "streak", "training_completion", "tier", "milestone", "manual", "any_of"}
    assert any(row["criteria"].get("measure") == "minutes" for row in rows)  # HLF's hours
    per_org = {
        slug: {row["key"] for row in rows if row["slug"] == slug}
        for slug in ("nhf", "blindeforbundet", "hlf")
    }
    assert all(len(keys) >= 5 for keys in per_org.values())
    honorar = next(
        row["criteria"] for row in rows if row["slug"] == "blindeforbundet" and row["key"] == "honorar"
    )
    assert honorar["thresholds"] == [3, 15] and honorar["payable"] is True
    assert honorar["activity_types"] == ["assignment"]


def test_two_years_of_mixed_activity_and_training_history(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    span = db.query_one("SELECT min(activity_date) AS first, max(activity_date) AS last FROM activities")
    assert span is not None
    assert (span["last"] - span["first"]).days >= 700 and span["last"] <= TODAY
    statuses = {row["status"] for row in db.query("SELECT DISTINCT status FROM activities")}
    assert statuses == {"approved", "pending", "rejected"}
    kinds = {row["activity_type"] for row in db.query("SELECT DISTINCT activity_type FROM activities")}
    assert kinds == {"assignment", "visit", "phone_call", "group_session"}
    assert _fingerprint(db)["deleted"] > 0
    expired = db.query_one(
        "SELECT count(*) FILTER (WHERE expires_at < CAST(:today AS timestamptz)) AS expired, count(*) AS total"
        " FROM training_completions",
        today=TODAY,
    )
    assert expired is not None and 0 < expired["expired"] < expired["total"]


def test_the_showcased_users_exist_with_their_roles(db: db_module.Database, loaded: demo.LoadReport) -> None:
    for user in demo.showcase_users():
        row = db.query_one(
            "SELECT 1 AS ok FROM org_members WHERE org_id = :org AND user_id = :user AND role = :role",
            org=user.org_id,
            user=user.user_id,
            role=user.role,
        )
        assert row is not None, user


def test_one_blindeforbundet_mentor_is_one_assignment_from_the_honorarium(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    org = next(org for org in demo.demo_orgs() if org.spec.slug == "blindeforbundet")
    row = db.query_one(
        """SELECT count(*) AS n FROM activities
            WHERE peer_mentor_id = :mentor AND activity_type = 'assignment'
              AND status = 'approved' AND deleted_at IS NULL""",
        mentor=org.almost_milestone_mentor,
    )
    assert row == {"n": 2}


def test_blindeforbundet_has_amounts_payouts_in_every_state_and_one_mentor_over_the_limit(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    org = next(org for org in demo.demo_orgs() if org.spec.slug == "blindeforbundet")
    definition = db.query_one(
        "SELECT criteria FROM badge_definitions WHERE org_id = :org AND key = 'honorar'", org=org.id
    )
    assert definition is not None and definition["criteria"]["amounts_nok"] == [2500, 8000]
    statuses = db.query(
        "SELECT status, count(*) AS n FROM honorar_payouts WHERE org_id = :org GROUP BY status", org=org.id
    )
    assert {row["status"] for row in statuses} == {"pending", "approved", "paid", "cancelled"}
    over = db.query(
        """SELECT DISTINCT peer_mentor_id, income_year FROM honorar_payouts AS p
            WHERE org_id = :org
              AND honorar_year_to_date_nok(org_id, peer_mentor_id, income_year) > honorar_tax_free_limit_nok(org_id)""",
        org=org.id,
    )
    assert len(over) == 1
    # Every payout belongs to an earned badge of the payable definition, with the level's amount
    mismatched = db.query(
        """SELECT p.id FROM honorar_payouts AS p JOIN earned_badges AS e ON e.id = p.earned_badge_id
            WHERE p.org_id = :org AND (p.level <> e.level OR p.amount_nok <> (ARRAY[2500, 8000])[p.level]
                                       OR p.earned_at <> e.earned_at)""",
        org=org.id,
    )
    assert mismatched == []


# --- the featured users show what they are featured for, whatever the day ---------------------


def _featured_state(database: db_module.Database, today: date) -> dict[str, tuple[int, int | None]]:
    """Per organisation: the featured mentor's current streak, and (Blindeforbundet) how many
    assignments the new mentor still needs for the next honorarium threshold, as of ``today``."""
    state: dict[str, tuple[int, int | None]] = {}
    for org in demo.demo_orgs():
        defined = DefinitionsCache(ttl=0).get(database, org.id)  # this database's, never another's
        featured = stats.load_stats(database, org.id, org.featured_mentor, today, defined)
        remaining = None
        if org.spec.slug == "blindeforbundet":
            newcomer = stats.load_stats(database, org.id, org.almost_milestone_mentor, today, defined)
            remaining = newcomer.honorar.remaining_to_next
        state[org.spec.slug] = (featured.streak.current_streak_weeks, remaining)
    return state


def _assert_featured(state: dict[str, tuple[int, int | None]]) -> None:
    for slug, (streak, _) in state.items():
        assert streak >= demo.FEATURED_STREAK_WEEKS, f"{slug}'s featured mentor has no live streak"
    assert state["blindeforbundet"][1] == 1, "the new mentor is not one assignment from the honorarium"


def test_the_featured_users_show_what_they_are_featured_for(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    # Given the demo set loaded on a Monday (the current ISO week is one day old)
    assert TODAY.weekday() == 0
    # Then each featured mentor's streak is live, and the newcomer is one assignment from the honorarium
    _assert_featured(_featured_state(db, TODAY))
    notes = [user.note for user in demo.showcase_users() if user.role == "peer_mentor"]
    assert any("live streak" in note for note in notes) and any("honorarium" in note for note in notes)


def test_the_featured_users_stay_current_whatever_the_day_and_on_a_later_re_run(
    database_factory: Callable[[], str],
) -> None:
    other = _database(database_factory())
    try:
        # Given the demo set loaded on the Sunday clocks go forward (the last day of an ISO week)
        first = date(2026, 3, 29)
        demo.load(other, today=first)
        _assert_featured(_featured_state(other, first))
        # When `make run` runs again on a later day, in ISO week 53 of 2026 (a year boundary)
        later = date(2027, 1, 1)
        report = demo.load(other, today=later)
        # Then nothing is reloaded, but the featured mentors' missing recent weeks are filled in
        assert report.loaded == () and report.topped_up > 0
        _assert_featured(_featured_state(other, later))
        # And a third run that day adds nothing
        assert demo.load(other, today=later).topped_up == 0
    finally:
        other.close()


def test_featured_days_are_the_last_weeks_up_to_today_and_never_after() -> None:
    start = date(2026, 12, 20)
    for today in (start + timedelta(days=offset) for offset in range(21)):
        planned = demo.featured_days(today)
        mondays = sorted(planned)
        assert len(mondays) == demo.FEATURED_STREAK_WEEKS
        assert mondays[-1] == today - timedelta(days=today.weekday())
        assert all(later - earlier == timedelta(weeks=1) for earlier, later in pairwise(mondays))
        for monday, days in planned.items():
            assert len(days) == demo.FEATURED_PER_WEEK
            assert all(monday <= day <= min(today, monday + timedelta(days=6)) for day in days)


def test_nhf_pauses_every_summer_and_one_mentor_was_on_sick_leave(
    db: db_module.Database, loaded: demo.LoadReport
) -> None:
    nhf = demo.build_org(demo.ORGS[0])
    rows = db.query(
        """SELECT o.slug, p.peer_mentor_id, p.starts_on, p.ends_on, p.created_by
             FROM streak_pauses AS p JOIN organizations AS o ON o.id = p.org_id
            ORDER BY p.starts_on""",
    )
    # NHF only: the summer break of last year and this year, for everyone, by the admin ...
    assert {row["slug"] for row in rows} == {"nhf"}
    summers = [row for row in rows if row["peer_mentor_id"] is None]
    assert [(row["starts_on"], row["ends_on"]) for row in summers] == [
        (date(2025, 7, 1), date(2025, 7, 28)),
        (date(2026, 7, 1), date(2026, 7, 28)),
    ]
    assert {row["created_by"] for row in summers} == {nhf.admin}
    # ... and five weeks of one assigned mentor's sick leave, Monday to Sunday, recorded by their coordinator
    (sick,) = [row for row in rows if row["peer_mentor_id"] is not None]
    assert sick["peer_mentor_id"] == demo.sick_leave_mentor(nhf)
    assert (nhf.coordinators[0], sick["peer_mentor_id"]) in nhf.assignments
    assert sick["created_by"] == nhf.coordinators[0]
    assert sick["starts_on"].isoweekday() == 1 and sick["ends_on"] - sick["starts_on"] == timedelta(days=34)
    assert sick["ends_on"] < TODAY
    # Each made as the route makes it: audited
    audited = db.query_one(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'streak_pause.created' AND org_id = :o", o=nhf.id
    )
    assert audited is not None and audited["n"] == 3
