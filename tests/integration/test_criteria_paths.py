"""Every path that decides a badge agrees, for every criteria type and level, including ``earned_at``.

Hypothesis writes random histories into a real database through the real triggers (inserts, bulk
inserts, hard and soft deletes, status changes, moves of date, type and mentor, training completions
with expiry around midnight and DST changes, in several time zones, with "today" in ISO week 53 or on a
DST weekend), for an organisation with one random definition of each criteria type. Then:

- the event path (the outbox drain, per-mentor evaluation from bounded facts) awards, live;
- the set-based query of each type (``badge_queries.qualifying``) answers;
- preview counts each level and samples;
- reconcile, run again on the same history with the awards forgotten, awards quietly;

and each must equal ``tests.reference``, a plain evaluation from the raw rows. CRITERIA_PATH_EXAMPLES
sets the number of histories (default 100, about 15 s).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peer_badges.badge_queries import qualifying
from peer_badges.clock import local_date
from peer_badges.criteria.registry import parse_criteria
from peer_badges.db import Database, Json
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.preview import preview
from peer_badges.reconcile import reconcile_org
from tests.reference import paused_weeks, reference_met

EXAMPLES = int(os.environ.get("CRITERIA_PATH_EXAMPLES", "100"))
TYPES = ["assignment", "visit", "call"]
CODES = ["basic-course", "first-aid", "refresher"]
MENTORS = 3
# Instants whose local dates sit in ISO week 53 of 2026, on the EU and US DST weekends, or at midnight.
NOWS = [
    datetime(2027, 1, 2, 23, 30, tzinfo=UTC),
    datetime(2027, 1, 4, 0, 10, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 23, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
]
ZONES = ["Europe/Oslo", "America/New_York", "Pacific/Auckland", "UTC"]

# Members of a combination (documents without schema_version; added when seeded).
MEMBERS = [
    {"type": "threshold", "threshold": 2},
    {"type": "threshold", "threshold": 3, "activity_types": ["visit"], "window": {"kind": "calendar_year"}},
    {"type": "streak", "weeks": 2},
    {"type": "training_completion", "training_codes": ["first-aid"], "only_valid": True},
    {"type": "requires_badge", "badge_key": "tier", "level": 1},
    {"type": "any_of", "criteria": [{"type": "threshold", "threshold": 5}, {"type": "streak", "weeks": 3}]},
]


def _versioned(document: dict[str, Any]) -> dict[str, Any]:
    """A generated document with schema_version on it and on every member."""
    members = document.get("criteria")
    return {
        "schema_version": 1,
        **document,
        **({"criteria": [_versioned(m) for m in members]} if members else {}),
    }


# A count, or minutes (thresholds in half hours, so a few activities reach them).
measures = st.sampled_from(["count", "minutes"])
SCALE = {"count": 1, "minutes": 30}
MINUTES = st.sampled_from([None, 0, 15, 30, 45, 90])

type_filters = st.one_of(st.none(), st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True))
windows = st.one_of(
    st.just({"kind": "all_time"}),
    st.just({"kind": "calendar_year"}),
    st.builds(lambda days: {"kind": "rolling_days", "days": days}, st.integers(1, 60)),
)
increasing = st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True).map(sorted)

CRITERIA = st.fixed_dictionaries(
    {
        "threshold": st.builds(
            lambda n, types, window, measure: {
                "type": "threshold",
                "threshold": n * SCALE[measure],
                "activity_types": types,
                "window": window,
                "measure": measure,
            },
            st.integers(1, 8),
            type_filters,
            windows,
            measures,
        ),
        "streak": st.builds(
            lambda weeks, per_week, types: {
                "type": "streak",
                "weeks": weeks,
                "min_per_week": per_week,
                "activity_types": types,
            },
            st.integers(1, 4),
            st.integers(1, 2),
            type_filters,
        ),
        "training": st.builds(
            lambda codes, require, only_valid: {
                "type": "training_completion",
                "training_codes": codes,
                "require": require,
                "only_valid": only_valid,
            },
            st.lists(st.sampled_from(CODES), min_size=1, max_size=2, unique=True),
            st.sampled_from(["all", "any"]),
            st.booleans(),
        ),
        "tier": st.builds(
            lambda targets, types, measure: {
                "type": "tier",
                "activity_types": types,
                "tiers": [{"name": f"T{i}", "threshold": t * SCALE[measure]} for i, t in enumerate(targets)],
                "measure": measure,
            },
            increasing,
            type_filters,
            measures,
        ),
        "milestone": st.builds(
            lambda targets, types, measure: {
                "type": "milestone",
                "thresholds": [t * SCALE[measure] for t in targets],
                "payable": True,
                "activity_types": types,
                "measure": measure,
            },
            increasing,
            type_filters,
            measures,
        ),
        "manual": st.just({"type": "manual"}),
        # prerequisites name the tier definition (keyed "tier"); combinations mix every member type
        "prereq": st.builds(
            lambda level: {"type": "requires_badge", "badge_key": "tier", "level": level}, st.integers(1, 3)
        ),
        "combo": st.builds(
            lambda kind, members: {"type": kind, "criteria": members},
            st.sampled_from(["all_of", "any_of"]),
            st.lists(st.sampled_from(MEMBERS), min_size=2, max_size=3),
        ),
    }
)

mentor = st.integers(0, MENTORS - 1)
days_back = st.integers(0, 70)
row = st.integers(0, 1_000)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("insert"),
            mentor,
            st.sampled_from(TYPES),
            days_back,
            st.sampled_from(["approved"] * 4 + ["pending", "rejected"]),
            MINUTES,
        ),
        st.tuples(
            st.just("bulk"),
            mentor,
            st.lists(st.tuples(st.sampled_from(TYPES), days_back, MINUTES), min_size=2, max_size=6),
        ),
        st.tuples(st.just("delete"), row),
        st.tuples(st.just("soft_delete"), row),
        st.tuples(st.just("status"), row, st.sampled_from(["approved", "pending", "rejected"])),
        st.tuples(st.just("move_date"), row, days_back),
        st.tuples(st.just("move_type"), row, st.sampled_from(TYPES)),
        st.tuples(st.just("set_minutes"), row, MINUTES),
        st.tuples(st.just("move_mentor"), row, mentor),
    ),
    min_size=1,
    max_size=30,
)
# Streak pauses: the whole organisation's (None) or one mentor's, around today's last weeks.
PAUSES = st.lists(
    st.tuples(st.one_of(st.none(), mentor), st.integers(0, 70), st.integers(0, 34)),
    max_size=3,
)
TRAININGS = st.lists(
    st.tuples(
        st.just("training"),
        mentor,
        st.sampled_from(CODES),
        # completed: hours from today's 00:00 UTC, often within a day of it (time zones decide)
        st.one_of(st.integers(-36, 30), st.integers(-24 * 40, 30)),
        # expires: never, hours after today's 00:00 UTC (around today's local date), or after completion
        st.one_of(
            st.none(),
            st.tuples(st.just("today"), st.integers(-30, 54)),
            st.tuples(st.just("after"), st.integers(1, 24 * 40)),
        ),
    ),
    max_size=6,
)


def _seed(
    db: Database, timezone: str, documents: dict[str, dict[str, Any]]
) -> tuple[uuid.UUID, list[uuid.UUID], dict]:
    org_id = uuid.uuid4()
    db.query(
        "INSERT INTO organizations (id, slug, name, timezone) VALUES (:id, :slug, 'Paths', :tz)",
        id=org_id,
        slug=f"paths-{org_id.hex[:12]}",
        tz=timezone,
    )
    mentors = [uuid.uuid4() for _ in range(MENTORS)]
    for mentor_id in mentors:
        db.query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (:o, :u, 'peer_mentor')",
            o=org_id,
            u=mentor_id,
        )
    definitions = {}
    for key, document in documents.items():
        criteria = parse_criteria(_versioned(document))
        created = db.query_one(
            """INSERT INTO badge_definitions (org_id, key, name, criteria)
               VALUES (:o, :k, :k, CAST(:c AS jsonb)) RETURNING id""",
            o=org_id,
            k=key,
            c=Json(criteria.model_dump(mode="json")),
        )
        assert created is not None
        definitions[created["id"]] = criteria
    return org_id, mentors, definitions


def _apply(
    db: Database, org_id: uuid.UUID, mentors: list[uuid.UUID], today: date, operations: list[tuple]
) -> None:
    start_of_today = datetime(today.year, today.month, today.day, tzinfo=UTC)
    for operation in operations:
        kind = operation[0]
        ids = [r["id"] for r in db.query("SELECT id FROM activities WHERE org_id = :o ORDER BY id", o=org_id)]
        target = ids[operation[1] % len(ids)] if ids and kind not in ("insert", "bulk", "training") else None
        if kind == "insert":
            _, who, activity_type, back, status, minutes = operation
            db.query(
                """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes, status)
                   VALUES (:o, :m, :t, :d, :minutes, :s)""",
                minutes=minutes,
                o=org_id,
                m=mentors[who],
                t=activity_type,
                d=today - timedelta(days=back),
                s=status,
            )
        elif kind == "bulk":
            _, who, rows = operation
            db.query(
                """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
                   SELECT :o, :m, r.t, r.d, r.minutes
                     FROM unnest(CAST(:kinds AS text[]), CAST(:dates AS date[]), CAST(:minutes AS int[]))
                          AS r(t, d, minutes)""",
                o=org_id,
                m=mentors[who],
                kinds=[t for t, _, _ in rows],
                dates=[today - timedelta(days=b) for _, b, _ in rows],
                minutes=[m for _, _, m in rows],
            )
        elif kind == "training":
            _, who, code, hours, expiry = operation
            completed = start_of_today + timedelta(hours=hours)
            expires = None
            if expiry is not None:
                base = start_of_today if expiry[0] == "today" else completed
                expires = max(completed + timedelta(hours=1), base + timedelta(hours=expiry[1]))
            db.query(
                """INSERT INTO training_completions (org_id, peer_mentor_id, training_code, completed_at, expires_at)
                   VALUES (:o, :m, :c, :done, :expires)""",
                o=org_id,
                m=mentors[who],
                c=code,
                done=completed,
                expires=expires,
            )
        elif target is None:
            continue
        elif kind == "delete":
            db.query("DELETE FROM activities WHERE id = :id", id=target)
        elif kind == "soft_delete":
            db.query("UPDATE activities SET deleted_at = now() WHERE id = :id", id=target)
        elif kind == "status":
            db.query("UPDATE activities SET status = :s WHERE id = :id", id=target, s=operation[2])
        elif kind == "move_date":
            db.query(
                "UPDATE activities SET activity_date = :d WHERE id = :id",
                id=target,
                d=today - timedelta(days=operation[2]),
            )
        elif kind == "set_minutes":
            db.query("UPDATE activities SET duration_minutes = :m WHERE id = :id", id=target, m=operation[2])
        elif kind == "move_type":
            db.query("UPDATE activities SET activity_type = :t WHERE id = :id", id=target, t=operation[2])
        elif kind == "move_mentor":
            db.query(
                "UPDATE activities SET peer_mentor_id = :m WHERE id = :id", id=target, m=mentors[operation[2]]
            )


def _awards(db: Database, org_id: uuid.UUID) -> dict[tuple, tuple[date, str]]:
    rows = db.query(
        "SELECT badge_definition_id, peer_mentor_id, level, earned_at, source FROM earned_badges WHERE org_id = :o",
        o=org_id,
    )
    return {
        (r["badge_definition_id"], r["peer_mentor_id"], r["level"]): (r["earned_at"], r["source"])
        for r in rows
    }


def _forget_awards(db: Database, org_id: uuid.UUID) -> None:
    """Delete the org's awards and every row that refers to them (whatever table that is)."""
    referring = db.query(
        """SELECT c.conrelid::regclass::text AS table_name, a.attname AS column_name
             FROM pg_constraint AS c
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.confrelid = 'earned_badges'::regclass"""
    )
    for ref in referring:
        db.query(
            f"DELETE FROM {ref['table_name']} WHERE {ref['column_name']} IN "
            "(SELECT id FROM earned_badges WHERE org_id = :o)",
            o=org_id,
        )
    db.query("DELETE FROM earned_badges WHERE org_id = :o", o=org_id)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    documents=CRITERIA,
    operations=OPERATIONS,
    trainings=TRAININGS,
    pauses=PAUSES,
    now=st.sampled_from(NOWS),
    timezone=st.sampled_from(ZONES),
)
def test_event_path_reconcile_preview_and_the_reference_agree(
    db: Database,
    documents: dict[str, dict[str, Any]],
    operations: list[tuple],
    trainings: list[tuple],
    pauses: list[tuple],
    now: datetime,
    timezone: str,
) -> None:
    today = local_date(now, timezone)
    # Given an organisation whose definitions exist before any of its history (so awards are live)
    org_id, mentors, definitions = _seed(db, timezone, documents)
    for who, back, length in pauses:
        db.query(
            """INSERT INTO streak_pauses (org_id, peer_mentor_id, starts_on, ends_on, reason, created_by)
               VALUES (:o, :m, :s, :e, 'away', :o) ON CONFLICT DO NOTHING""",
            o=org_id,
            m=None if who is None else mentors[who],
            s=today - timedelta(days=back),
            e=today - timedelta(days=back) + timedelta(days=length),
        )
    drain_outbox(db, now)  # the definitions' own backfills: nothing to find yet
    assert _awards(db, org_id) == {}
    # When the history is written and the outbox drained
    _apply(db, org_id, mentors, today, operations + trainings)
    drain_outbox(db, now)
    event = _awards(db, org_id)

    activities = db.query("SELECT * FROM activities WHERE org_id = :o", o=org_id)
    trainings = db.query("SELECT * FROM training_completions WHERE org_id = :o", o=org_id)
    paused = paused_weeks(db.query("SELECT * FROM streak_pauses WHERE org_id = :o", o=org_id), mentors)
    expected: dict[tuple, date] = {}
    held: dict[str, dict[tuple, date]] = {}
    keys = {definition_id: key for key, definition_id in zip(documents, definitions, strict=True)}
    # prerequisites first: "prereq" and "combo" may require the tier definition
    order = sorted(definitions, key=lambda d: keys[d] in ("prereq", "combo"))
    for definition_id in order:
        criteria = definitions[definition_id]
        met = reference_met(criteria, activities, trainings, timezone, today, held, paused)
        held[keys[definition_id]] = met
        expected.update({(definition_id, m, level): day for (m, level), day in met.items()})
        # Then the type's set-based query finds what the reference finds
        found = {
            (definition_id, c.peer_mentor_id, c.level): c.earned_at
            for c in qualifying(db, org_id, criteria, today)
        }
        assert found == {k: v for k, v in expected.items() if k[0] == definition_id}, criteria
        # ... preview counts each level the same, and samples only mentors who qualify
        shown = preview(db, org_id, criteria, sample_size=MENTORS, today=today)
        assert [lv.qualifying for lv in shown.levels] == [
            sum(1 for (_, level) in met if level == lv.level) for lv in shown.levels
        ], criteria
        assert set(shown.sample) == {m for (m, level) in met if level == 1}, criteria

    # ... the event path awarded exactly that, live
    assert {k: day for k, (day, _) in event.items()} == expected
    assert {source for _, source in event.values()} <= {"evaluation"}

    # ... and reconcile, over the same history with the awards forgotten, awards it again quietly
    _forget_awards(db, org_id)
    reconcile_org(db, org_id, now=now)
    reconciled = _awards(db, org_id)
    assert {k: day for k, (day, _) in reconciled.items()} == expected
    assert {source for _, source in reconciled.values()} <= {"backfill"}
