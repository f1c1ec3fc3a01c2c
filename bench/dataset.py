"""The benchmark data set: the three demo organisations, scaled, loaded with COPY.

Each organisation gets `mentors` peer mentors whose histories average `activities` rows over `years`
years (most mentors occasional, a few very busy: an exponential spread), the demo organisations'
activity mixes, training completions and badge configurations. NHF is the big organisation the
reconcile scenario runs on: it carries `definitions` badge definitions (its six demo ones plus
realistic extras of every criteria type) and the probe mentors, whose histories have exactly the
sizes asked for (all approved, spread over the same years), so per-mentor scenarios can be compared
at 50, 500 and 5,000 activities.

Activities go in with COPY, so the real statement-level stats triggers build the snapshot exactly as
they would for any bulk writer. The generator is seeded: the same sizes give the same data.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pg8000.native

from localdev.demo import ORGS, OrgSpec
from peer_badges.criteria.registry import validate_criteria

# One COPY statement (one run of the statement-level stats trigger) per this many mentors or rows.
# Few mentors per statement keeps the load fast: the trigger's streak step costs more than linear
# in the number of mentors one statement touches (see the ingest scenario).
COPY_MENTORS = 50
COPY_ROWS = 50_000
BIG_ORG = "nhf"

_MINUTES = {"assignment": (60, 180), "visit": (45, 120), "phone_call": (10, 45), "group_session": (90, 150)}


def _tiers(types: list[str] | None, *thresholds: int) -> dict[str, Any]:
    names = ("Bronse", "Sølv", "Gull", "Platina")
    return {
        "type": "tier",
        "schema_version": 1,
        "activity_types": types,
        "tiers": [{"name": n, "threshold": t} for n, t in zip(names, thresholds, strict=False)],
    }


def _threshold(
    n: int, types: list[str] | None = None, window: dict[str, Any] | None = None
) -> dict[str, Any]:
    criteria: dict[str, Any] = {
        "type": "threshold",
        "schema_version": 1,
        "threshold": n,
        "activity_types": types,
    }
    if window is not None:
        criteria["window"] = window
    return criteria


def _streak(weeks: int, per_week: int = 1, types: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "streak",
        "schema_version": 1,
        "weeks": weeks,
        "min_per_week": per_week,
        "activity_types": types,
    }


# What a busy organisation configures beyond the demo set: every criteria type and window kind.
EXTRA_DEFINITIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("besokskamerat", _threshold(10, ["visit"])),
    ("samlingsleder", _threshold(5, ["group_session"])),
    ("oppdrag-i-ar", _threshold(12, ["assignment"], {"kind": "calendar_year"})),
    ("aktiv-hele-aret", _threshold(30, None, {"kind": "calendar_year"})),
    ("siste-maned", _threshold(4, None, {"kind": "rolling_days", "days": 30})),
    ("telefonkvartal", _threshold(12, ["phone_call"], {"kind": "rolling_days", "days": 90})),
    ("aret-som-gikk", _threshold(40, None, {"kind": "rolling_days", "days": 365})),
    ("besok-trinn", _tiers(["visit"], 10, 50, 200)),
    ("samtale-trinn", _tiers(["phone_call"], 10, 50, 200)),
    (
        "honorar",
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
        },
    ),
    ("atte-uker", _streak(8)),
    ("stodig", _streak(6, 2)),
    ("besoksrekke", _streak(12, 1, ["visit"])),
    (
        "grunnkurs",
        {
            "type": "training_completion",
            "schema_version": 1,
            "training_codes": ["nhf-grunnkurs"],
            "require": "any",
        },
    ),
    # The second stage's types (SPEC 8.2): hours, a combination with a prerequisite, and a choice.
    ("timer", {**_tiers(None, 20 * 60, 100 * 60, 300 * 60), "measure": "minutes"}),
    (
        "forbilde",
        {
            "type": "all_of",
            "schema_version": 1,
            "criteria": [
                {"type": "requires_badge", "schema_version": 1, "badge_key": "innsats", "level": 2},
                {"type": "training_completion", "schema_version": 1, "training_codes": ["nhf-grunnkurs"]},
            ],
        },
    ),
    (
        "jevn-innsats",
        {
            "type": "any_of",
            "schema_version": 1,
            "criteria": [
                _streak(4),
                {**_threshold(600, None, {"kind": "rolling_days", "days": 90}), "measure": "minutes"},
            ],
        },
    ),
)


@dataclass(frozen=True)
class Sizes:
    mentors: int = 2000  # per organisation
    activities: int = 40  # mean per mentor
    years: int = 4
    definitions: int = 23  # in the big organisation (every criteria type, the second stage's too)
    probes: tuple[int, ...] = (50, 150, 500, 1500, 5000)
    seed: str = "peer-badges-bench"

    def __post_init__(self) -> None:
        limit = len(_big_org_spec().badges) + len(EXTRA_DEFINITIONS)
        if not 1 <= self.definitions <= limit:
            raise ValueError(f"definitions must be between 1 and {limit}")
        if self.mentors < 1 or self.activities < 1 or self.years < 1 or not self.probes:
            raise ValueError("mentors, activities, years and probes must be positive")


@dataclass
class BenchOrg:
    slug: str
    id: uuid.UUID
    timezone: str
    admin: uuid.UUID
    coordinator: uuid.UUID
    mentors: list[uuid.UUID] = field(default_factory=list)
    definitions: dict[str, uuid.UUID] = field(default_factory=dict)  # key -> id


@dataclass
class Dataset:
    today: date
    orgs: dict[str, BenchOrg]
    probes: dict[int, uuid.UUID]  # exact approved activity count -> mentor (big org)
    fresh_mentor: uuid.UUID  # activity-to-fresh-stats writes here (big org, 500 activities)
    ingest_mentor: uuid.UUID  # single-row ingest writes here (big org, 50 activities)
    activities: int = 0
    trainings: int = 0
    load_s: float = 0.0

    @property
    def big(self) -> BenchOrg:
        return self.orgs[BIG_ORG]


def _big_org_spec() -> OrgSpec:
    return next(spec for spec in ORGS if spec.slug == BIG_ORG)


def definitions_for(spec: OrgSpec, sizes: Sizes) -> list[tuple[str, str, dict[str, Any], bool]]:
    """(key, name, criteria, active) for one organisation: its demo badges, extras for the big one."""
    chosen = [(b.key, b.name, b.criteria, b.active) for b in spec.badges]
    if spec.slug == BIG_ORG:
        taken = {key for key, *_ in chosen}
        extras = [(key, key.replace("-", " ").capitalize(), c, True) for key, c in EXTRA_DEFINITIONS]
        chosen = (chosen + [e for e in extras if e[0] not in taken])[: sizes.definitions]
    for key, _, criteria, _ in chosen:
        problems = validate_criteria(criteria)
        if problems:
            raise ValueError(f"bench badge {spec.slug}/{key} is invalid: {problems}")
    return chosen


# --- CSV rows ----------------------------------------------------------------------------


def to_csv(rows: Iterable[Sequence[Any]]) -> io.StringIO:
    """CSV for COPY ... (FORMAT csv): None becomes an unquoted empty field, which COPY reads as NULL.
    Values are uuids, dates, numbers and identifiers: nothing that needs quoting."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write(",".join("" if value is None else str(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    return buffer


class _Activities:
    """Activity rows for COPY, flushed in chunks so each COPY (and its trigger run) stays bounded."""

    COLUMNS = "org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status, created_at, deleted_at"

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn
        self._rows: list[tuple[Any, ...]] = []
        self._mentors = 0
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)

    def mentor_done(self) -> None:
        self._mentors += 1
        if self._mentors >= COPY_MENTORS or len(self._rows) >= COPY_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._conn.run(
                f"COPY activities ({self.COLUMNS}) FROM STDIN WITH (FORMAT csv)",
                stream=to_csv(self._rows),
            )
            self.count += len(self._rows)
            self._rows = []
        self._mentors = 0


def _activity(
    rng: random.Random, org_id: uuid.UUID, mentor: uuid.UUID, day: date, kind: str, status: str
) -> tuple[Any, ...]:
    low, high = _MINUTES[kind]
    minutes = rng.randrange(low, high + 1, 5) if rng.random() > 0.05 else None
    created = datetime(day.year, day.month, day.day, rng.randint(8, 21), tzinfo=UTC)
    deleted = created + timedelta(days=2) if status == "approved" and rng.random() < 0.01 else None
    return (org_id, mentor, kind, day.isoformat(), minutes, status, created.isoformat(), deleted)


def _status(rng: random.Random) -> str:
    roll = rng.random()
    return "rejected" if roll < 0.04 else "pending" if roll < 0.08 else "approved"


def _history(
    rng: random.Random,
    out: _Activities,
    org_id: uuid.UUID,
    mentor: uuid.UUID,
    spec: OrgSpec,
    count: int,
    first: date,
    last: date,
    exact: bool,
) -> None:
    """`count` activities on random days in [first, last]; `exact`: all approved, none deleted."""
    span = (last - first).days
    kinds = rng.choices(list(spec.activity_mix), weights=list(spec.activity_mix.values()), k=count)
    days = sorted(first + timedelta(days=rng.randint(0, span)) for _ in range(count))
    for day, kind in zip(days, kinds, strict=True):
        if exact:
            low, high = _MINUTES[kind]
            created = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat()
            out.add(
                (
                    org_id,
                    mentor,
                    kind,
                    day.isoformat(),
                    rng.randrange(low, high + 1, 5),
                    "approved",
                    created,
                    None,
                )
            )
        else:
            out.add(_activity(rng, org_id, mentor, day, kind, _status(rng)))
    out.mentor_done()


# --- loading -----------------------------------------------------------------------------


def load(conn: pg8000.native.Connection, sizes: Sizes, today: date | None = None) -> Dataset:
    """Create the organisations, people, definitions, trainings and activities; returns their ids."""
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    rng = random.Random(sizes.seed)
    activities = _Activities(conn)
    trainings: list[tuple[Any, ...]] = []
    orgs: dict[str, BenchOrg] = {}
    probes: dict[int, uuid.UUID] = {}
    history_start = today - timedelta(days=365 * sizes.years)
    for spec in ORGS:
        org = BenchOrg(
            slug=spec.slug,
            id=_uuid(rng),
            timezone=spec.timezone,
            admin=_uuid(rng),
            coordinator=_uuid(rng),
            mentors=[_uuid(rng) for _ in range(sizes.mentors)],
        )
        orgs[spec.slug] = org
        conn.run(
            "INSERT INTO organizations (id, slug, name, timezone) VALUES (:id, :slug, :name, :tz)",
            id=org.id,
            slug=spec.slug,
            name=spec.name,
            tz=spec.timezone,
        )
        for key, name, criteria, active in definitions_for(spec, sizes):
            row = conn.run(
                """INSERT INTO badge_definitions (org_id, key, name, criteria, active, created_by, updated_by)
                   VALUES (:org, :key, :name, CAST(:criteria AS jsonb), :active, :admin, :admin) RETURNING id""",
                org=org.id,
                key=key,
                name=name,
                criteria=json.dumps(criteria),
                active=active,
                admin=org.admin,
            )
            org.definitions[key] = row[0][0]
        for mentor in org.mentors:
            # Exponential spread around the mean: most mentors occasional, a few carry much of the load.
            count = min(int(rng.expovariate(1 / sizes.activities)) + 1, sizes.activities * 25)
            first = today - timedelta(days=rng.randint(30, 365 * sizes.years))
            # One in four has paused for one to ten months.
            last = today - timedelta(days=rng.randint(30, 300)) if rng.random() < 0.25 else today
            _history(rng, activities, org.id, mentor, spec, count, first, max(first, last), exact=False)
            trainings.extend(_trainings(rng, org.id, mentor, spec, today, sizes.years))
        if spec.slug == BIG_ORG:
            for size in sizes.probes:
                probes[size] = _special(rng, activities, org, spec, size, history_start, today)
            fresh = _special(rng, activities, org, spec, 500, history_start, today)
            ingest = _special(rng, activities, org, spec, 50, history_start, today)
            for mentor in [*probes.values(), fresh, ingest]:
                trainings.extend(_trainings(rng, org.id, mentor, spec, today, sizes.years))
        _members(conn, org)
    activities.flush()
    _copy(
        conn,
        "training_completions (org_id, peer_mentor_id, training_code, completed_at, expires_at)",
        trainings,
    )
    # The loaded history is old: the evaluations its writes queued and the definitions' own backfills
    # are what the reconcile scenario does set-based (a pending write-caused row would make it leave the
    # mentor to the drain); the evaluation scenarios start from the steady state after it.
    conn.run("UPDATE definition_backfills SET status = 'done', processed_at = now() WHERE status = 'pending'")
    conn.run("UPDATE evaluation_outbox SET status = 'done', processed_at = now() WHERE status = 'pending'")
    conn.run("ANALYZE")
    return Dataset(
        today=today,
        orgs=orgs,
        probes=probes,
        fresh_mentor=fresh,
        ingest_mentor=ingest,
        activities=activities.count,
        trainings=len(trainings),
        load_s=time.perf_counter() - started,
    )


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _special(
    rng: random.Random, out: _Activities, org: BenchOrg, spec: OrgSpec, size: int, first: date, today: date
) -> uuid.UUID:
    mentor = _uuid(rng)
    org.mentors.append(mentor)
    _history(rng, out, org.id, mentor, spec, size, first, today, exact=True)
    return mentor


def _trainings(
    rng: random.Random, org_id: uuid.UUID, mentor: uuid.UUID, spec: OrgSpec, today: date, years: int
) -> Iterator[tuple[Any, ...]]:
    for training in spec.trainings:
        if rng.random() >= training.share:
            continue
        completed = datetime.combine(
            today - timedelta(days=rng.randint(1, 365 * years)), datetime.min.time(), UTC
        )
        completed += timedelta(hours=rng.randint(9, 16))
        expires = completed + timedelta(days=training.valid_days) if training.valid_days else None
        yield (org_id, mentor, training.code, completed.isoformat(), expires.isoformat() if expires else None)


def _members(conn: pg8000.native.Connection, org: BenchOrg) -> None:
    people = [(org.id, org.admin, "org_admin"), (org.id, org.coordinator, "coordinator")]
    people += [(org.id, mentor, "peer_mentor") for mentor in org.mentors]
    _copy(conn, "org_members (org_id, user_id, role)", people)
    _copy(
        conn,
        "coordinator_assignments (org_id, coordinator_id, peer_mentor_id)",
        [(org.id, org.coordinator, mentor) for mentor in org.mentors],
    )


def _copy(conn: pg8000.native.Connection, target: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.run(f"COPY {target} FROM STDIN WITH (FORMAT csv)", stream=to_csv(rows))
