"""The demo data set `make run` loads: three organisations that look like the real users.

NHF, Blindeforbundet (honorarium at the 3rd and 15th assignment) and HLF, each with its own badge
configuration, an admin, coordinators with assigned mentors, a few hundred mentors and about two
years of activity and training history. Ids are uuid5 of stable names and the history comes from a
seeded generator, so the data set is the same on every machine; nothing in it is personal data.

The featured users (the start-up screen's) show what they are featured for whatever the day: the busy
mentor has two approved activities in each of the last FEATURED_STREAK_WEEKS ISO weeks up to today (the
organisation's date), so their streak is live; the new Blindeforbundet mentor has exactly two approved
assignments, one short of the honorarium. The rest of the history stays random. A re-run on a later day
tops the busy mentor's recent weeks up again (only what is missing), so an old `.pgdata/` still shows a
live streak.

Loading is idempotent per organisation: the organisation row is inserted with ON CONFLICT DO NOTHING
in the same transaction as everything else of that organisation, so a re-run (or a second `make run`
racing the first) finds it and skips, and an interrupted load leaves nothing half-done.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from peer_badges import pauses, payouts
from peer_badges.awards import AwardCommand, AwardDefinition, award
from peer_badges.criteria.facts import week_start
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.criteria.registry import parse_criteria, validate_criteria
from peer_badges.db import Database, Json, Transaction
from peer_badges.models.pauses import StreakPauseCreate

NAMESPACE = uuid.UUID("6f1c2d3e-4b5a-5c6d-8e7f-90a1b2c3d4e5")
HISTORY_DAYS = 730
# The featured mentor's guaranteed recent activity: weeks, and approved activities in each (HLF's
# streak badge asks for two a week).
FEATURED_STREAK_WEEKS = 10
FEATURED_PER_WEEK = 2
_BATCH = 5000


def demo_id(*parts: str) -> uuid.UUID:
    """A stable id for a named demo object, e.g. demo_id("nhf", "mentor", "7")."""
    return uuid.uuid5(NAMESPACE, "/".join(parts))


@dataclass(frozen=True)
class Training:
    code: str
    share: float  # of mentors who completed it
    valid_days: int | None  # None: never expires


@dataclass(frozen=True)
class Badge:
    key: str
    name: str
    description: str
    criteria: dict[str, Any]
    icon: str | None = None
    icon_alt: str | None = None  # required with an icon: what a screen reader says instead
    active: bool = True


@dataclass(frozen=True)
class OrgSpec:
    slug: str
    name: str
    coordinators: int
    mentors: int
    # Relative weights of activity types: each organisation works differently.
    activity_mix: dict[str, int]
    trainings: tuple[Training, ...]
    badges: tuple[Badge, ...]
    timezone: str = "Europe/Oslo"


def _tiers(types: list[str] | None, bronze: int, silver: int, gold: int) -> dict[str, Any]:
    return {
        "type": "tier",
        "schema_version": 1,
        "activity_types": types,
        "tiers": [
            {"name": "Bronse", "threshold": bronze},
            {"name": "Sølv", "threshold": silver},
            {"name": "Gull", "threshold": gold},
        ],
    }


ORGS: tuple[OrgSpec, ...] = (
    OrgSpec(
        slug="nhf",
        name="Norges Handikapforbund",
        coordinators=4,
        mentors=120,
        activity_mix={"visit": 40, "phone_call": 30, "assignment": 20, "group_session": 10},
        trainings=(
            Training("nhf-grunnkurs", share=0.85, valid_days=None),
            Training("nhf-likepersonkurs", share=0.6, valid_days=730),
        ),
        badges=(
            Badge(
                "forste-oppdrag",
                "Første oppdrag",
                "Ditt første godkjente oppdrag som likeperson.",
                {"type": "threshold", "schema_version": 1, "threshold": 1, "activity_types": ["assignment"]},
                icon="star",
                icon_alt="Stjerne for første oppdrag",
            ),
            Badge(
                "aktiv-i-ar",
                "Aktiv i år",
                "Ti besøk eller samtaler i løpet av kalenderåret.",
                {
                    "type": "threshold",
                    "schema_version": 1,
                    "threshold": 10,
                    "activity_types": ["visit", "phone_call"],
                    "window": {"kind": "calendar_year"},
                },
                icon="calendar",
                icon_alt="Kalender: aktiv i år",
            ),
            Badge(
                "fire-uker-pa-rad",
                "Fire uker på rad",
                "Minst én aktivitet hver uke i fire uker på rad.",
                {
                    "type": "streak",
                    "schema_version": 1,
                    "weeks": 4,
                    "min_per_week": 1,
                    "activity_types": None,
                },
                icon="flame",
                icon_alt="Flamme: fire uker på rad",
            ),
            Badge(
                "kurset",
                "Kurset likeperson",
                "Grunnkurs og likepersonkurs fullført, og likepersonkurset er fortsatt gyldig.",
                {
                    "type": "training_completion",
                    "schema_version": 1,
                    "training_codes": ["nhf-grunnkurs", "nhf-likepersonkurs"],
                    "require": "all",
                    "only_valid": True,
                },
                icon="graduation-cap",
                icon_alt="Studenterlue: kurset likeperson",
            ),
            Badge(
                "innsats",
                "Innsats",
                "Bronse, sølv og gull for godkjente aktiviteter av alle slag.",
                _tiers(None, 5, 25, 100),
                icon="medal",
                icon_alt="Medalje i bronse, sølv eller gull for innsats",
            ),
            Badge(
                "ildsjel",
                "Ildsjel",
                "Tildeles av koordinator for en ekstra innsats.",
                {"type": "manual", "schema_version": 1},
                icon="heart",
                icon_alt="Hjerte for ildsjeler",
            ),
        ),
    ),
    OrgSpec(
        slug="blindeforbundet",
        name="Norges Blindeforbund",
        coordinators=3,
        mentors=100,
        activity_mix={"assignment": 45, "visit": 25, "phone_call": 25, "group_session": 5},
        trainings=(
            Training("ledsagerkurs", share=0.8, valid_days=None),
            Training("forstehjelp", share=0.7, valid_days=365),
        ),
        badges=(
            Badge(
                "honorar",
                "Honorar",
                "Honorar utbetales ved 3. og 15. godkjente oppdrag.",
                {
                    "type": "milestone",
                    "schema_version": 1,
                    "activity_types": ["assignment"],
                    "thresholds": [3, 15],
                    "payable": True,
                    "amounts_nok": [2500, 8000],
                },
                icon="coins",
                icon_alt="Mynter for honorar",
            ),
            Badge(
                "ledsager",
                "Godkjent ledsager",
                "Ledsagerkurs fullført og gyldig førstehjelpskurs.",
                {
                    "type": "training_completion",
                    "schema_version": 1,
                    "training_codes": ["ledsagerkurs", "forstehjelp"],
                    "require": "all",
                    "only_valid": True,
                },
                icon="hands-helping",
                icon_alt="Hender som hjelper: godkjent ledsager",
            ),
            Badge(
                "telefonvenn",
                "Telefonvenn",
                "Tolv telefonsamtaler de siste 90 dagene.",
                {
                    "type": "threshold",
                    "schema_version": 1,
                    "threshold": 12,
                    "activity_types": ["phone_call"],
                    "window": {"kind": "rolling_days", "days": 90},
                },
                icon="phone",
                icon_alt="Telefonrør for telefonvenn",
            ),
            Badge(
                "atte-uker",
                "Åtte uker på rad",
                "Minst én aktivitet hver uke i åtte uker på rad.",
                {"type": "streak", "schema_version": 1, "weeks": 8, "min_per_week": 1},
                icon="flame",
                icon_alt="Flamme: åtte uker på rad",
            ),
            Badge(
                "oppdrag",
                "Oppdragsmerket",
                "Bronse, sølv og gull for godkjente oppdrag.",
                _tiers(["assignment"], 10, 40, 120),
                icon="medal",
                icon_alt="Medalje i bronse, sølv eller gull for oppdrag",
            ),
            Badge(
                "arets-likeperson",
                "Årets likeperson",
                "Kåres av forbundet.",
                {"type": "manual", "schema_version": 1},
                icon="trophy",
                icon_alt="Pokal for årets likeperson",
            ),
            Badge(
                "forbilde",
                "Forbilde",
                "Gull i oppdragsmerket og et gyldig førstehjelpskurs, eller åtte uker på rad med minst "
                "to aktiviteter i uka.",
                {
                    "type": "any_of",
                    "schema_version": 1,
                    "criteria": [
                        {
                            "type": "all_of",
                            "schema_version": 1,
                            "criteria": [
                                {
                                    "type": "requires_badge",
                                    "schema_version": 1,
                                    "badge_key": "oppdrag",
                                    "level": 3,
                                },
                                {
                                    "type": "training_completion",
                                    "schema_version": 1,
                                    "training_codes": ["forstehjelp"],
                                    "only_valid": True,
                                },
                            ],
                        },
                        {"type": "streak", "schema_version": 1, "weeks": 8, "min_per_week": 2},
                    ],
                },
                icon="star",
                icon_alt="Stjerne: forbilde",
            ),
        ),
    ),
    OrgSpec(
        slug="hlf",
        name="Hørselshemmedes Landsforbund",
        coordinators=3,
        mentors=80,
        activity_mix={"group_session": 30, "visit": 30, "assignment": 25, "phone_call": 15},
        trainings=(
            Training("hlf-likepersonkurs", share=0.75, valid_days=None),
            Training("hlf-horselsteknikk", share=0.5, valid_days=730),
        ),
        badges=(
            Badge(
                "likeperson",
                "Likeperson i HLF",
                "Likepersonkurs eller kurs i hørselsteknikk fullført.",
                {
                    "type": "training_completion",
                    "schema_version": 1,
                    "training_codes": ["hlf-likepersonkurs", "hlf-horselsteknikk"],
                    "require": "any",
                    "only_valid": False,
                },
                icon="ear",
                icon_alt="Øre: likeperson i HLF",
            ),
            Badge(
                "gruppeleder",
                "Gruppeleder",
                "Ti gruppesamlinger ledet.",
                {
                    "type": "threshold",
                    "schema_version": 1,
                    "threshold": 10,
                    "activity_types": ["group_session"],
                },
                icon="users",
                icon_alt="Gruppe med mennesker: gruppeleder",
            ),
            Badge(
                "stodig",
                "Stødig",
                "To aktiviteter i uka, seks uker på rad.",
                {"type": "streak", "schema_version": 1, "weeks": 6, "min_per_week": 2},
                icon="flame",
                icon_alt="Flamme: stødig i seks uker",
            ),
            Badge(
                "aktivitet",
                "Aktivitet",
                "Bronse, sølv og gull for godkjente aktiviteter av alle slag.",
                _tiers(None, 10, 50, 150),
                icon="medal",
                icon_alt="Medalje i bronse, sølv eller gull for aktivitet",
            ),
            Badge(
                "timer",
                "Timer som likeperson",
                "Bronse, sølv og gull for 20, 100 og 300 timer med godkjente aktiviteter.",
                {**_tiers(None, 20 * 60, 100 * 60, 300 * 60), "measure": "minutes"},
                icon="clock",
                icon_alt="Klokke: timer som likeperson",
            ),
            Badge(
                "hederstegn",
                "Hederstegn",
                "Tildeles av koordinator.",
                {"type": "manual", "schema_version": 1},
                icon="ribbon",
                icon_alt="Sløyfe for hederstegn",
            ),
            Badge(
                "vinteraktiv",
                "Vinteraktiv (utkast)",
                "Utkast: femten aktiviteter de siste 120 dagene. Ikke aktivert ennå.",
                {
                    "type": "threshold",
                    "schema_version": 1,
                    "threshold": 15,
                    "window": {"kind": "rolling_days", "days": 120},
                },
                icon="snowflake",
                icon_alt="Snøfnugg for vinteraktiv",
                active=False,
            ),
        ),
    ),
)

_MINUTES = {"assignment": (60, 180), "visit": (45, 120), "phone_call": (10, 45), "group_session": (90, 150)}
# Activities per week: most mentors are occasional, a few carry much of the load.
_RATES = ((0.2, 20), (0.5, 25), (1.0, 25), (1.5, 15), (2.5, 10), (4.0, 5))


@dataclass(frozen=True)
class DemoUser:
    role: str  # org_admin | coordinator | peer_mentor
    org_id: uuid.UUID
    org_slug: str
    org_name: str
    user_id: uuid.UUID
    note: str = ""


@dataclass(frozen=True)
class DemoOrg:
    spec: OrgSpec
    id: uuid.UUID
    admin: uuid.UUID
    coordinators: tuple[uuid.UUID, ...]
    mentors: tuple[uuid.UUID, ...]
    assignments: tuple[tuple[uuid.UUID, uuid.UUID], ...]  # (coordinator, mentor)

    @property
    def featured_mentor(self) -> uuid.UUID:
        """A long-standing, busy mentor assigned to the first coordinator."""
        return self.mentors[0]

    @property
    def almost_milestone_mentor(self) -> uuid.UUID:
        """A new mentor with exactly two approved assignments: the next one crosses a milestone."""
        return self.mentors[1]

    def badge_id(self, key: str) -> uuid.UUID:
        return demo_id(self.spec.slug, "badge", key)


def build_org(spec: OrgSpec) -> DemoOrg:
    slug = spec.slug
    coordinators = tuple(demo_id(slug, "coordinator", str(i)) for i in range(spec.coordinators))
    mentors = tuple(demo_id(slug, "mentor", str(i)) for i in range(spec.mentors))
    assignments: list[tuple[uuid.UUID, uuid.UUID]] = []
    # The last three mentors are unassigned (only admins see them); every 9th also has a second coordinator.
    for index, mentor in enumerate(mentors[:-3]):
        assignments.append((coordinators[index % len(coordinators)], mentor))
        if index % 9 == 4:
            assignments.append((coordinators[(index + 1) % len(coordinators)], mentor))
    return DemoOrg(
        spec=spec,
        id=demo_id(slug),
        admin=demo_id(slug, "admin"),
        coordinators=coordinators,
        mentors=mentors,
        assignments=tuple(assignments),
    )


def demo_orgs() -> list[DemoOrg]:
    return [build_org(spec) for spec in ORGS]


def showcase_users(orgs: Sequence[DemoOrg] | None = None) -> list[DemoUser]:
    """Per organisation: its admin, a coordinator and mentors worth looking at (start-up screen, e2e tests)."""
    users = []
    for org in orgs or demo_orgs():
        spec = org.spec
        assigned = sum(1 for coordinator, _ in org.assignments if coordinator == org.coordinators[0])
        users += [
            DemoUser("org_admin", org.id, spec.slug, spec.name, org.admin, "sees every mentor"),
            DemoUser(
                "coordinator",
                org.id,
                spec.slug,
                spec.name,
                org.coordinators[0],
                f"{assigned} assigned mentors",
            ),
            DemoUser(
                "peer_mentor",
                org.id,
                spec.slug,
                spec.name,
                org.featured_mentor,
                f"two years of history and a live streak: active every week for {FEATURED_STREAK_WEEKS}+ weeks",
            ),
        ]
        if spec.slug == "blindeforbundet":
            users.append(
                DemoUser(
                    "peer_mentor",
                    org.id,
                    spec.slug,
                    spec.name,
                    org.almost_milestone_mentor,
                    "2 assignments: the 3rd crosses the honorarium milestone",
                )
            )
    return users


# --- generated history ---------------------------------------------------------------------


@dataclass
class _Rows:
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def batches(self, size: int = _BATCH) -> Iterator[dict[str, list[Any]]]:
        for start in range(0, len(self), size):
            yield {name: values[start : start + size] for name, values in self.columns.items()}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _activities(org: DemoOrg, today: date, rng: random.Random) -> _Rows:
    rows = _Rows()
    rates, rate_weights = zip(*_RATES, strict=True)
    for index, mentor in enumerate(org.mentors):
        if mentor == org.almost_milestone_mentor:
            for days_ago in (40, 12):
                _activity(rows, mentor, today - timedelta(days=days_ago), "assignment", today, rng, "pinned")
            continue
        if mentor == org.featured_mentor:
            first, last, rate = today - timedelta(days=HISTORY_DAYS - 5), today, 2.5
        else:
            # A third have been with the organisation for the whole period; the rest joined since.
            joined = HISTORY_DAYS if index % 3 == 0 else rng.randint(20, HISTORY_DAYS)
            first = today - timedelta(days=joined)
            # One in four has paused: no activity in the last one to ten months.
            last = today - timedelta(days=rng.randint(30, 300)) if rng.random() < 0.25 else today
            rate = rng.choices(rates, weights=rate_weights)[0]
        day = first
        while day <= last:
            if rng.random() < rate / 7:
                _activity(rows, mentor, day, _weighted(rng, org.spec.activity_mix), today, rng, None)
            day += timedelta(days=1)
    return rows


def _activity(
    rows: _Rows, mentor: uuid.UUID, day: date, kind: str, today: date, rng: random.Random, status: str | None
) -> None:
    """One activity; status None draws it, "pinned" is approved and never deleted (a featured user's)."""
    pinned = status == "pinned"
    if pinned:
        status = "approved"
    elif status is None:
        outcome = rng.random()
        # Recent registrations wait for approval; older ones were decided long ago.
        if outcome > 0.95:
            status = "rejected"
        elif outcome > 0.6 and (today - day).days < 21:
            status = "pending"
        else:
            status = "approved"
    low, high = _MINUTES.get(kind, (30, 90))
    # Registered on the day of the activity, never in the future.
    created = min(datetime.combine(day, time(hour=rng.randint(8, 21)), UTC), datetime.now(UTC))
    deleted = (
        created + timedelta(days=rng.randint(1, 5))
        if status == "approved" and not pinned and rng.random() < 0.02
        else None
    )
    rows.add(
        mentor=str(mentor),
        kind=kind,
        day=day.isoformat(),
        minutes=rng.randrange(low, high + 1, 5) if rng.random() > 0.05 else None,
        status=status,
        created=created.isoformat(),
        deleted=deleted.isoformat() if deleted else None,
    )


def _trainings(org: DemoOrg, today: date, rng: random.Random) -> _Rows:
    rows = _Rows()
    for mentor in org.mentors:
        if mentor == org.almost_milestone_mentor:
            continue
        for training in org.spec.trainings:
            if mentor != org.featured_mentor and rng.random() >= training.share:
                continue
            days_ago = 30 if mentor == org.featured_mentor else rng.randint(1, HISTORY_DAYS + 365)
            completed = datetime.combine(today - timedelta(days=days_ago), time(hour=rng.randint(9, 16)), UTC)
            expires = completed + timedelta(days=training.valid_days) if training.valid_days else None
            rows.add(
                mentor=str(mentor),
                code=training.code,
                completed=completed.isoformat(),
                expires=expires.isoformat() if expires else None,
            )
    return rows


# --- loading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    loaded: tuple[str, ...]  # slugs of organisations inserted by this call
    skipped: tuple[str, ...]  # already present
    activities: int
    trainings: int
    topped_up: int = 0  # activities added to featured mentors' recent weeks in organisations already there


def check_badges() -> None:
    """Every demo badge's criteria must pass the layer's validator, or the demo would teach bad data."""
    for spec in ORGS:
        for badge in spec.badges:
            problems = validate_criteria(badge.criteria)
            if problems:
                raise ValueError(f"demo badge {spec.slug}/{badge.key} is invalid: {problems}")


def org_today(spec: OrgSpec, now: datetime | None = None) -> date:
    """The organisation's date now: its streak weeks are ISO weeks in its own time zone."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(spec.timezone)).date()


def load(db: Database, today: date | None = None) -> LoadReport:
    """Insert every demo organisation that is not there yet (one transaction per organisation), and
    keep the featured mentor's recent weeks current in those already there.

    ``today`` (the organisations' date; default: each one's date now) ends the generated history."""
    check_badges()
    loaded, skipped, activities, trainings, topped_up = [], [], 0, 0, 0
    for org in demo_orgs():
        org_date = today or org_today(org.spec)
        with db.transaction() as tx:
            created = tx.query(
                """INSERT INTO organizations (id, slug, name, timezone) VALUES (:id, :slug, :name, :tz)
                   ON CONFLICT DO NOTHING RETURNING id""",
                id=org.id,
                slug=org.spec.slug,
                name=org.spec.name,
                tz=org.spec.timezone,
            )
            if not created:
                skipped.append(org.spec.slug)
                topped_up += keep_featured_current(tx, org, org_date)
                continue
            # Seeded, not secret: the same data set on every machine.
            rng = random.Random(f"peer-badges-demo/{org.spec.slug}")  # noqa: S311
            _insert_people(tx, org)
            _insert_badges(tx, org)
            activity_rows = _activities(org, org_date, rng)
            training_rows = _trainings(org, org_date, rng)
            _insert_activities(tx, org, activity_rows)
            _insert_trainings(tx, org, training_rows)
            _settle_honoraria(tx, org, activity_rows)
            _insert_pauses(tx, org, org_date)
            added = keep_featured_current(tx, org, org_date)
        loaded.append(org.spec.slug)
        activities += len(activity_rows) + added
        trainings += len(training_rows)
    return LoadReport(tuple(loaded), tuple(skipped), activities, trainings, topped_up)


def featured_days(today: date) -> dict[date, list[date]]:
    """Per ISO week (its Monday) of the last FEATURED_STREAK_WEEKS up to ``today``: the days on which
    the featured mentor is active, FEATURED_PER_WEEK of them, none after ``today``."""
    this_week = week_start(today)
    weeks = [this_week - timedelta(weeks=back) for back in range(FEATURED_STREAK_WEEKS)]
    # Tuesday and Friday; in the current week, no later than today (on a Monday, twice that day).
    return {monday: [min(monday + timedelta(days=offset), today) for offset in (1, 4)] for monday in weeks}


def keep_featured_current(tx: Transaction, org: DemoOrg, today: date) -> int:
    """Give the featured mentor FEATURED_PER_WEEK approved activities in each recent ISO week that has
    fewer (only what is missing, so a second call adds nothing); the number of activities added."""
    planned = featured_days(today)
    found = tx.query(
        """SELECT CAST(date_trunc('week', activity_date) AS date) AS week, count(*) AS n
             FROM activities
            WHERE org_id = :org AND peer_mentor_id = :mentor AND status = 'approved' AND deleted_at IS NULL
              AND activity_date BETWEEN :since AND :today
            GROUP BY 1""",
        org=org.id,
        mentor=org.featured_mentor,
        since=min(planned),
        today=today,
    )
    have = {row["week"]: row["n"] for row in found}
    days = [day for week, week_days in planned.items() for day in week_days[have.get(week, 0) :]]
    if not days:
        return 0
    kind = max(org.spec.activity_mix, key=lambda name: org.spec.activity_mix[name])
    now = datetime.now(UTC)
    tx.execute(
        """INSERT INTO activities
               (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status, created_at)
           SELECT :org, :mentor, :kind, d.day, 60, 'approved', d.created
             FROM unnest(CAST(:days AS date[]), CAST(:created AS timestamptz[])) AS d(day, created)""",
        org=org.id,
        mentor=org.featured_mentor,
        kind=kind,
        days=[day.isoformat() for day in days],
        created=[min(datetime.combine(day, time(hour=12), UTC), now).isoformat() for day in days],
    )
    return len(days)


def _insert_people(tx: Transaction, org: DemoOrg) -> None:
    people = [(org.admin, "org_admin")]
    people += [(coordinator, "coordinator") for coordinator in org.coordinators]
    people += [(mentor, "peer_mentor") for mentor in org.mentors]
    tx.execute(
        """INSERT INTO org_members (org_id, user_id, role)
           SELECT :org, u.user_id, u.role
             FROM unnest(CAST(:users AS uuid[]), CAST(:roles AS text[])) AS u(user_id, role)
           ON CONFLICT DO NOTHING""",
        org=org.id,
        users=[str(user) for user, _ in people],
        roles=[role for _, role in people],
    )
    tx.execute(
        """INSERT INTO coordinator_assignments (org_id, coordinator_id, peer_mentor_id)
           SELECT :org, a.coordinator_id, a.peer_mentor_id
             FROM unnest(CAST(:coordinators AS uuid[]), CAST(:mentors AS uuid[])) AS a(coordinator_id, peer_mentor_id)
           ON CONFLICT DO NOTHING""",
        org=org.id,
        coordinators=[str(coordinator) for coordinator, _ in org.assignments],
        mentors=[str(mentor) for _, mentor in org.assignments],
    )


def _insert_badges(tx: Transaction, org: DemoOrg) -> None:
    for badge in org.spec.badges:
        tx.execute(
            """INSERT INTO badge_definitions
                   (id, org_id, key, name, description, icon, icon_alt, criteria, active, created_by, updated_by)
               VALUES (:id, :org, :key, :name, :description, :icon, :icon_alt, CAST(:criteria AS jsonb), :active,
                       :admin, :admin)
               ON CONFLICT DO NOTHING""",
            id=org.badge_id(badge.key),
            org=org.id,
            key=badge.key,
            name=badge.name,
            description=badge.description,
            icon=badge.icon,
            icon_alt=badge.icon_alt,
            criteria=Json(badge.criteria),
            active=badge.active,
            admin=org.admin,
        )


def _insert_activities(tx: Transaction, org: DemoOrg, rows: _Rows) -> None:
    for batch in rows.batches():
        tx.execute(
            """INSERT INTO activities
                   (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status,
                    created_at, deleted_at)
               SELECT :org, a.mentor, a.kind, a.day, a.minutes, a.status, a.created, a.deleted
                 FROM unnest(CAST(:mentor AS uuid[]), CAST(:kind AS text[]), CAST(:day AS date[]),
                             CAST(:minutes AS int[]), CAST(:status AS text[]),
                             CAST(:created AS timestamptz[]), CAST(:deleted AS timestamptz[]))
                      AS a(mentor, kind, day, minutes, status, created, deleted)
                ORDER BY a.mentor, a.day""",
            org=org.id,
            **batch,
        )


def _insert_trainings(tx: Transaction, org: DemoOrg, rows: _Rows) -> None:
    for batch in rows.batches():
        tx.execute(
            """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at, expires_at)
               SELECT :org, t.mentor, t.code, t.completed, t.expires
                 FROM unnest(CAST(:mentor AS uuid[]), CAST(:code AS text[]),
                             CAST(:completed AS timestamptz[]), CAST(:expires AS timestamptz[]))
                      AS t(mentor, code, completed, expires)""",
            org=org.id,
            **batch,
        )


# --- honorarium payouts --------------------------------------------------------------------


def _milestone_crossings(rows: _Rows, criteria: MilestoneCriteria) -> dict[str, list[tuple[int, date]]]:
    """Per mentor, each milestone level crossed and the date of the activity that crossed it."""
    counting = sorted(
        (mentor, day)
        for mentor, kind, day, status, deleted in zip(
            *(rows.columns[name] for name in ("mentor", "kind", "day", "status", "deleted")), strict=True
        )
        if status == "approved"
        and deleted is None
        and (criteria.activity_filter is None or kind in criteria.activity_filter)
    )
    counts: dict[str, int] = {}
    crossings: dict[str, list[tuple[int, date]]] = {}
    for mentor, day in counting:
        counts[mentor] = counts.get(mentor, 0) + 1
        for level, threshold in criteria.levels():
            if counts[mentor] == threshold:
                crossings.setdefault(mentor, []).append((level, date.fromisoformat(day)))
    return crossings


def _settle_honoraria(tx: Transaction, org: DemoOrg, rows: _Rows) -> None:
    """Award the org's payable milestones from the history, with payouts in every state.

    Level 1 payouts cycle through paid, approved, pending and cancelled; level 2 payouts stay pending,
    except for one mentor who crossed both levels in one year and has both approved and paid: the
    demo's mentor over the tax-free limit. The outbox drain later finds these badges already earned.
    """
    badge = next((badge for badge in org.spec.badges if badge.criteria.get("payable")), None)
    if badge is None:
        return
    criteria = parse_criteria(badge.criteria)
    assert isinstance(criteria, MilestoneCriteria)
    definition = AwardDefinition(
        id=org.badge_id(badge.key), revision=1, criteria=criteria.model_dump(mode="json"), payable=True
    )
    crossings = _milestone_crossings(rows, criteria)
    over_limit = next(
        (
            mentor
            for mentor, levels in crossings.items()
            if len(levels) == 2 and levels[0][1].year == levels[1][1].year
        ),
        None,
    )
    level_one_steps: tuple[tuple[payouts.Action, ...], ...] = (
        ("approve", "pay"),
        ("approve",),
        (),
        ("cancel",),
    )
    for index, mentor in enumerate(sorted(crossings)):
        for level, day in crossings[mentor]:
            command = AwardCommand(
                org_id=org.id,
                peer_mentor_id=uuid.UUID(mentor),
                definition=definition,
                level=level,
                earned_at=day,
                source="evaluation",
            )
            badge_id = award(tx, command).badge.id
            row = tx.query_one("SELECT id FROM honorar_payouts WHERE earned_badge_id = :b", b=badge_id)
            assert row is not None
            if mentor == over_limit:
                steps: tuple[payouts.Action, ...] = ("approve", "pay")
            else:
                steps = level_one_steps[index % len(level_one_steps)] if level == 1 else ()
            for step in steps:
                payouts.transition_in(
                    tx,
                    org.id,
                    row["id"],
                    step,
                    org.admin,
                    reference=f"DEMO-{day.year}-{index:04d}-{level}",
                    reason="Registrert to ganger",
                )


# --- streak pauses -------------------------------------------------------------------------


def sick_leave_mentor(org: DemoOrg) -> uuid.UUID:
    """A mentor of the first two coordinators (both see the pause), not the featured one."""
    return org.mentors[4]


def demo_pauses(org: DemoOrg, today: date) -> list[tuple[uuid.UUID, StreakPauseCreate]]:
    """(who made it, the pause): NHF's summer break, the four weeks from 1 July this year and last,
    and one mentor's five weeks of sick leave that ended a fortnight ago."""
    if org.spec.slug != "nhf":
        return []
    summers = [
        StreakPauseCreate(
            peer_mentor_id=None,
            starts_on=date(year, 7, 1),
            ends_on=date(year, 7, 28),
            reason="Sommerferie: likepersonarbeidet tar pause i juli",
        )
        for year in (today.year - 1, today.year)
    ]
    back_at_work = week_start(today) - timedelta(weeks=2)
    sick_leave = StreakPauseCreate(
        peer_mentor_id=sick_leave_mentor(org),
        starts_on=back_at_work - timedelta(weeks=5),
        ends_on=back_at_work - timedelta(days=1),
        reason="Sykemeldt",
    )
    return [(org.admin, pause) for pause in summers] + [(org.coordinators[0], sick_leave)]


def _insert_pauses(tx: Transaction, org: DemoOrg, today: date) -> None:
    """Through the layer, as the routes make them: audited, and the mentors they touch queued."""
    for creator, pause in demo_pauses(org, today):
        pauses.create_in(tx, org.id, creator, pause)
