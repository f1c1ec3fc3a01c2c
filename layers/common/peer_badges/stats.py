"""Mentor statistics and evaluation facts, read from the trigger-kept snapshot (sql/002_stats.sql).

A stats read is one statement whose cost does not grow with the mentor's history: the snapshot row
(primary key), the mentor's training completions (a handful, by index) and org membership. Activity
rows are only touched when the snapshot says some are dated after today (they are not counted
yet, see below), and then only those rows.

Facts for the evaluator (``load_facts``) are one statement too, each requested key answered by the
cheapest source that is exact:

- all-time counts: the snapshot's per-type counts;
- calendar-year counts: ``mentor_year_activity`` (one row per type);
- rolling windows: an index range scan of ``activities (peer_mentor_id, activity_date, ...)`` over the
  window only;
- the date of the Nth qualifying activity: the same index in date order, ``LIMIT`` the largest N
  asked for, so the cost is bounded by the badge threshold, not by the history;
- streaks with a type filter or a weekly minimum, and streak milestones: runs over the week
  buckets (``mentor_week_runs``), never over raw activities; the plain streak (every type, one a
  week) comes from the snapshot.

Counting rule (the evaluator's contract): only activities dated up to ``today``, the org-local
date, count. Everything here takes ``today`` from the caller: an org-local ``date``, or an aware
``datetime`` that the same statement turns into the org's local date (``AT TIME ZONE`` the org's
IANA zone, so DST is handled by the time zone database). Nothing reads a clock.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from peer_badges.auth import Access, access_from_row
from peer_badges.criteria.facts import CountFact, CountRequest, StreakFact, StreakRequest, streak_alive
from peer_badges.db import Json, Queryable, Row
from peer_badges.errors import BadRequest, NotFound
from peer_badges.models import (
    AssignmentCount,
    DefinitionRecord,
    HonorarMilestone,
    MilestoneStatus,
    Page,
    PayoutSummary,
    PeerMentorStats,
    StreakData,
    TrainingCompletion,
    TrainingStatus,
)

# The evaluator's reads (load_facts, load_milestone_status) import peer_badges.evaluation where they
# use it: it loads its own models and, for BadgeDefinition, every criteria type; GET .../stats needs none.
if TYPE_CHECKING:
    from peer_badges.evaluation import FactRequests, MentorFacts
    from peer_badges.models.definitions import BadgeDefinition

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# updated_at of a mentor with no snapshot row (no activity or training ever): a fixed value, so the
# response and its ETag stay the same until something really changes.
NEVER_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

Today = date | datetime


# --- SQL ---------------------------------------------------------------------------------
# The statements live in SQL functions (mentor_stats_read_one and mentor_stats_read, sql/021;
# mentor_facts_read, sql/019) so each connection plans them once; these are the calls.

_STATS_ONE = """
SELECT * FROM mentor_stats_read_one(:org_id, CAST(:mentor_id AS uuid), CAST(:today AS date),
                                    CAST(:now AS timestamptz))
"""

# What GET …/stats needs in one round trip and one cached plan (mentor_stats_for_caller, sql/021): the
# caller's access, the definitions version for the cache check, and the mentor's stats row as one JSON
# object (read alongside; discarded unless access allows it).
_STATS_WITH_ACCESS = """
SELECT a.roles, a.assigned, a.definitions_version, a.stats
  FROM mentor_stats_for_caller(:org_id, :user_id, CAST(:mentor_id AS uuid), CAST(:today AS date),
                               CAST(:now AS timestamptz)) AS a
"""

_FACTS_ONE = """
SELECT * FROM mentor_stats_read_one(:org_id, CAST(:mentor_id AS uuid), CAST(:today AS date), NULL)
CROSS JOIN mentor_facts_read(:org_id, :mentor_id, CAST(:today AS date), :need_year, CAST(:windows AS jsonb),
                             CAST(:crossings AS jsonb), CAST(:streaks AS jsonb))
"""

_AFTER = "(CAST(:after AS uuid) IS NULL OR {column} > CAST(:after AS uuid))"
_PAGE = """
SELECT * FROM mentor_stats_read(:org_id, ARRAY({mentors}), CAST(:today AS date), CAST(:now AS timestamptz))
ORDER BY peer_mentor_id
"""
# Admins: every peer mentor of the org. Coordinators: their assigned mentors. Or the ids asked for
# (already checked to be in scope). Keyset pages in id order.
_STATS_ALL_PEER_MENTORS = _PAGE.format(
    mentors=f"""SELECT om.user_id FROM org_members AS om
                WHERE om.org_id = :org_id AND om.role = 'peer_mentor' AND {_AFTER.format(column="om.user_id")}
                ORDER BY 1 LIMIT :fetch"""
)
_STATS_ASSIGNED = _PAGE.format(
    mentors=f"""SELECT ca.peer_mentor_id FROM coordinator_assignments AS ca
                WHERE ca.org_id = :org_id AND ca.coordinator_id = :caller
                  AND {_AFTER.format(column="ca.peer_mentor_id")}
                ORDER BY 1 LIMIT :fetch"""
)
_STATS_LISTED = _PAGE.format(
    mentors=f"""SELECT r.id FROM unnest(CAST(:mentor_ids AS uuid[])) AS r(id)
                WHERE {_AFTER.format(column="r.id")} ORDER BY 1 LIMIT :fetch"""
)

_PRELUDE_SQL = """
SELECT o.timezone,
       coalesce(CAST(:today AS date), (CAST(:now AS timestamptz) AT TIME ZONE o.timezone)::date) AS today,
       (SELECT json_agg(json_build_object('badge_definition_id', e.badge_definition_id, 'level', e.level,
                                          'earned_at', e.earned_at, 'revoked', e.revoked_at IS NOT NULL))
        FROM earned_badges AS e
        WHERE e.org_id = o.id AND e.peer_mentor_id = :mentor_id) AS earned
FROM organizations AS o
WHERE o.id = :org_id
"""


# --- time --------------------------------------------------------------------------------


def _clock(today: Today) -> dict[str, Any]:
    if isinstance(today, datetime):
        if today.tzinfo is None:
            raise ValueError("today as a datetime must be timezone-aware")
        return {"today": None, "now": today}
    return {"today": today, "now": None}


# --- rows -> models ----------------------------------------------------------------------


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


class Run(NamedTuple):
    """A run of consecutive ISO weeks (sql: week_runs): its first qualifying week, how many qualifying
    weeks it has, its last week (paused weeks included) and, when pauses are in it, its qualifying weeks."""

    start: date
    weeks: int
    end: date | None = None
    qualifying: tuple[date, ...] | None = None

    @property
    def last_week(self) -> date:
        return self.end if self.end is not None else self.start + timedelta(weeks=self.weeks - 1)

    @property
    def last_qualifying_week(self) -> date:
        return self.qualifying[-1] if self.qualifying else self.start + timedelta(weeks=self.weeks - 1)

    def nth_week(self, n: int) -> date:
        """The Monday of the week in which this run reached ``n`` qualifying weeks."""
        return self.qualifying[n - 1] if self.qualifying else self.start + timedelta(weeks=n - 1)


def _runs(raw: Iterable[Mapping[str, Any]] | None) -> list[Run]:
    def day(value: Any) -> date:
        return date.fromisoformat(str(value))

    return [
        Run(
            start=day(run["start_week"]),
            weeks=int(run["weeks"]),
            end=day(run["end_week"]) if run.get("end_week") else None,
            qualifying=tuple(day(w) for w in run["qualifying"]) if run.get("qualifying") else None,
        )
        for run in raw or ()
    ]


def _streak_from_runs(
    runs: Sequence[Run | tuple[date, int]], today: date, targets: Iterable[int] = ()
) -> StreakFact:
    """Longest and current run, and for each reached target the Monday of the week a run first got there.
    A run is current while its last week (paused weeks included) is this week or last week."""
    found = [run if isinstance(run, Run) else Run(*run) for run in runs]
    if not found:
        return StreakFact(longest_weeks=0, current_weeks=0)
    longest = max(run.weeks for run in found)
    latest = found[-1]
    current = latest.weeks if streak_alive(latest.last_week, today) else 0
    reached = {
        target: next(run.nth_week(target) for run in found if run.weeks >= target)
        for target in targets
        if target <= longest
    }
    return StreakFact(longest_weeks=longest, current_weeks=current, reached_dates=reached)


def _is_unknown(row: Row) -> bool:
    """Neither a member of the org nor anyone with recorded data: a 404, not zeros."""
    return not row["is_member"] and not row["has_snapshot"]


def _future_rows(row: Row) -> list[Mapping[str, Any]]:
    last = row["last_activity_date"]
    return list(row["future"] or ()) if last is not None and last > row["today"] else []


def _counted(row: Row) -> tuple[AssignmentCount, int, dict[str, int], date | None, date | None]:
    """Counts, minutes (in all and per type) and first/last dates of the activities dated up to today."""
    by_type = {str(k): int(v) for k, v in (row["by_type"] or {}).items()}
    minutes_by_type = {str(k): int(v) for k, v in (row.get("minutes_by_type") or {}).items()}
    total = int(row["total_count"] or 0)
    minutes = int(row["total_minutes"] or 0)
    last = row["last_activity_date"]
    future = _future_rows(row)
    if future:
        for item in future:
            by_type[item["activity_type"]] = by_type.get(item["activity_type"], 0) - int(item["n"])
            minutes_by_type[item["activity_type"]] = minutes_by_type.get(item["activity_type"], 0) - int(
                item["minutes"]
            )
            total -= int(item["n"])
            minutes -= int(item["minutes"])
        by_type = {key: n for key, n in by_type.items() if n > 0}
        minutes_by_type = {key: n for key, n in minutes_by_type.items() if n > 0}
        last = row["last_counted_date"]
    first = row["first_activity_date"] if total > 0 else None
    return AssignmentCount(total=total, by_type=by_type), minutes, minutes_by_type, first, last


def _plain_streak(row: Row) -> tuple[StreakFact, date | None]:
    """The streak over every type, one a week: from the snapshot, or from its week buckets when the
    snapshot cannot tell (activities dated in future weeks, or paused weeks: the read sends the runs)."""
    today: date = row["today"]
    if row["default_runs"] is not None:
        runs = _runs(row["default_runs"])
        last_week = runs[-1].last_qualifying_week if runs else None
        return _streak_from_runs(runs, today), last_week
    last_week = row["last_active_week"]
    latest = int(row["latest_run_weeks"] or 0)
    current = latest if streak_alive(last_week, today) else 0
    return StreakFact(longest_weeks=int(row["longest_streak_weeks"] or 0), current_weeks=current), last_week


def _stats(row: Row, org_id: UUID, definitions: Iterable[DefinitionRecord] | None) -> PeerMentorStats:
    assignment_count, minutes, minutes_by_type, first, last = _counted(row)
    streak, last_week = _plain_streak(row)
    training = TrainingStatus(
        completed=tuple(TrainingCompletion.model_validate(item) for item in row["training"] or ())
    )
    honorar = HonorarMilestone()
    if definitions is not None:
        honorar = HonorarMilestone.of(assignment_count, definitions, minutes_by_type, minutes)
        if row.get("payouts"):
            payouts = tuple(PayoutSummary.model_validate(item) for item in row["payouts"])
            honorar = honorar.model_copy(update={"payouts": payouts})
    return PeerMentorStats(
        peer_mentor_id=row["peer_mentor_id"],
        org_id=org_id,
        assignment_count=assignment_count,
        streak=StreakData(
            current_streak_weeks=streak.current_weeks,
            longest_streak_weeks=streak.longest_weeks,
            last_active_week=last_week,
            paused_this_week=bool(row.get("paused_this_week")),
        ),
        training=training,
        honorar=honorar,
        total_minutes=minutes,
        minutes_by_type=minutes_by_type,
        first_activity_date=first,
        last_activity_date=last,
        updated_at=row["updated_at"] or NEVER_UPDATED,
    )


def _not_found(mentor_id: UUID) -> NotFound:
    return NotFound(f"There is no peer mentor {mentor_id} in this organisation.")


# --- stats -------------------------------------------------------------------------------


def load_stats(
    db: Queryable,
    org_id: UUID,
    mentor_id: UUID,
    today: Today,
    definitions: Iterable[DefinitionRecord] | None,
) -> PeerMentorStats:
    """One mentor's stats as of ``today``; zeros for a member with no activity, 404 for a stranger.

    ``definitions`` (the org's milestone ones, ``cached_milestone_definitions``, or all of them) feed
    ``honorar``; None leaves it empty.
    """
    row = db.query_one(_STATS_ONE, org_id=org_id, mentor_id=mentor_id, **_clock(today))
    if row is None or _is_unknown(row):
        raise _not_found(mentor_id)
    return _stats(row, org_id, definitions)


@dataclass(frozen=True)
class MentorStatsRead:
    """A caller's access and a mentor's stats row, read together in one statement; nothing decided.

    The route authorises with ``access`` (``auth.require_reader_of``) before it asks for ``stats()``."""

    access: Access
    row: Row
    org_id: UUID
    mentor_id: UUID
    definitions: Callable[[int], Iterable[DefinitionRecord]]

    def stats(self) -> PeerMentorStats:
        """The stats; 404 for someone neither a member nor with recorded data."""
        if self.row["stats"] is None:  # no such organisation
            raise _not_found(self.mentor_id)
        row = _typed(self.row["stats"])
        if _is_unknown(row):
            raise _not_found(self.mentor_id)
        return _stats(row, self.org_id, self.definitions(int(self.row["definitions_version"])))


_DATE_FIELDS = ("today", "first_activity_date", "last_activity_date", "last_active_week", "last_counted_date")


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A stats row sent as JSON with its dates and ``updated_at`` as Python values again."""
    typed = dict(row)
    for field in _DATE_FIELDS:
        if typed.get(field) is not None:
            typed[field] = date.fromisoformat(typed[field])
    if typed.get("updated_at") is not None:
        typed["updated_at"] = datetime.fromisoformat(typed["updated_at"])
    return typed


def read_mentor_stats(
    db: Queryable,
    org_id: UUID,
    caller: UUID,
    mentor_id: UUID,
    today: Today,
    definitions: Callable[[int], Iterable[DefinitionRecord]],
) -> MentorStatsRead:
    """The caller's access, the definitions version for the cache check and the mentor's stats row, in
    one round trip. ``definitions(version)`` returns the org's (milestone) definitions given the version
    read here (e.g. ``lambda v: cached_milestone_definitions(db, org_id, v)``)."""
    row = db.query_one(
        _STATS_WITH_ACCESS, org_id=org_id, user_id=caller, mentor_id=mentor_id, **_clock(today)
    )
    assert row is not None  # caller_access always answers one row
    return MentorStatsRead(
        access=access_from_row(org_id, caller, row["roles"], row["assigned"]),
        row=row,
        org_id=org_id,
        mentor_id=mentor_id,
        definitions=definitions,
    )


def list_stats(
    db: Queryable,
    org_id: UUID,
    visible_to: Access,
    mentor_ids: Sequence[UUID] | None,
    cursor: str | None,
    limit: int,
    today: Today,
    definitions: Iterable[DefinitionRecord] | None,
) -> Page[PeerMentorStats]:
    """The coordinator overview: admins see every peer mentor of the org, coordinators their assigned
    mentors (``visible_to``, from ``require_overview_reader``). Explicit ``mentor_ids`` must have been
    checked by the caller (``require_mentors_in_scope``). Keyset pagination by mentor id."""
    if visible_to.org_id != org_id:
        raise ValueError("access was loaded for another organisation")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}.")
    after = decode_cursor(cursor) if cursor else None
    params: dict[str, Any] = {
        "org_id": org_id,
        "after": after,
        "fetch": limit + 1,
        **_clock(today),
    }
    definitions = list(definitions) if definitions is not None else None
    if mentor_ids:
        requested = sorted(set(mentor_ids))
        if len(requested) > MAX_PAGE_SIZE:
            raise BadRequest(
                f"Ask for at most {MAX_PAGE_SIZE} mentor_id values at a time; got {len(requested)}."
            )
        sql = _STATS_LISTED
        params["mentor_ids"] = requested
    elif visible_to.is_admin:
        sql = _STATS_ALL_PEER_MENTORS
    else:
        sql = _STATS_ASSIGNED
        params["caller"] = visible_to.user_id
    rows = db.query(sql, **params)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]["peer_mentor_id"]) if len(rows) > limit else None
    return Page[PeerMentorStats](
        items=tuple(_stats(row, org_id, definitions) for row in page), next_cursor=next_cursor
    )


_CURSOR_PREFIX = "m1:"


def encode_cursor(mentor_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{mentor_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        return UUID(text.removeprefix(_CURSOR_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadRequest(
            "The cursor is not valid; use next_cursor from the previous page, or leave it out to start over."
        ) from error


# --- facts for the evaluator -------------------------------------------------------------


def _types(activity_types: Sequence[str] | None) -> list[str] | None:
    return None if activity_types is None else list(activity_types)


def _count_of(by_type: Mapping[str, int], total: int, types: Sequence[str] | None) -> int:
    return total if types is None else sum(by_type.get(t, 0) for t in set(types))


def load_facts(
    db: Queryable,
    org_id: UUID,
    mentor_id: UUID,
    requests: FactRequests,
    definitions: Iterable[DefinitionRecord] | None = None,
) -> MentorFacts:
    """Answer every count and streak in ``requests`` (as of ``requests.today``) in one statement.

    Works for any mentor id (the outbox may name someone no longer a member); ``definitions`` only
    fill ``stats.honorar``.
    """
    return _facts(db, org_id, mentor_id, requests, definitions)[1]


def _facts(
    db: Queryable,
    org_id: UUID,
    mentor_id: UUID,
    requests: FactRequests,
    definitions: Iterable[DefinitionRecord] | None,
) -> tuple[Row, MentorFacts]:
    from peer_badges.evaluation import MentorFacts  # see the imports

    today = requests.today
    year_start = date(today.year, 1, 1)
    windows = [r for r in requests.counts if r.since is not None and r.since != year_start]
    crossings = [r for r in requests.counts if r.crossing_targets]
    row = db.query_one(
        _FACTS_ONE,
        org_id=org_id,
        mentor_id=mentor_id,
        need_year=any(r.since == year_start for r in requests.counts),
        windows=Json(
            [
                {"key": r.key, "since": r.since, "types": _types(r.activity_types), "measure": r.measure}
                for r in windows
            ]
        ),
        crossings=Json(
            [
                {
                    "key": r.key,
                    "since": r.since,
                    "types": _types(r.activity_types),
                    "max_n": max(r.crossing_targets),
                    "measure": r.measure,
                    "targets": list(r.crossing_targets),
                }
                for r in crossings
            ]
        ),
        streaks=Json(
            [
                {
                    "key": r.key,
                    "types": _types(r.activity_types),
                    "min_per_week": r.min_per_week,
                    "targets": list(r.week_targets),
                }
                for r in requests.streaks
            ]
        ),
        today=today,
    )
    if row is None:
        raise NotFound("There is no such organisation.")
    stats = _stats(row, org_id, list(definitions) if definitions is not None else None)
    return row, MentorFacts(
        org_id=org_id,
        peer_mentor_id=mentor_id,
        timezone=row["timezone"],
        stats=stats,
        counts={r.key: _count_fact(row, stats, r, year_start) for r in requests.counts},
        streaks={r.key: _streak_fact(row, r) for r in requests.streaks},
        held_badges=_held_badges(db, org_id, mentor_id, requests.held_badges),
    )


_HELD_SQL = """
SELECT d.key, e.level, e.earned_at
  FROM earned_badges AS e
  JOIN badge_definitions AS d ON d.id = e.badge_definition_id
 WHERE e.org_id = :org_id AND e.peer_mentor_id = :mentor_id AND e.revoked_at IS NULL
   AND d.key = ANY(CAST(:keys AS text[]))
"""


def _held_badges(
    db: Queryable, org_id: UUID, mentor_id: UUID, keys: Sequence[str]
) -> dict[str, dict[int, date]]:
    """The unrevoked levels (with earned_at) the mentor holds of the definitions with these keys; asked
    only when a prerequisite is evaluated (one indexed read)."""
    held: dict[str, dict[int, date]] = {}
    if keys:
        for row in db.query(_HELD_SQL, org_id=org_id, mentor_id=mentor_id, keys=list(keys)):
            held.setdefault(row["key"], {})[int(row["level"])] = row["earned_at"]
    return held


def _count_fact(row: Row, stats: PeerMentorStats, request: CountRequest, year_start: date) -> CountFact:
    """A count (or sum of minutes) from the cheapest exact source: the snapshot (all time), the year
    buckets (calendar year), the window's rows (rolling days); future-dated rows taken off."""
    types = request.activity_types
    minutes = request.measure == "minutes"
    if request.since is None:
        if minutes:
            count = _count_of(stats.minutes_by_type, stats.total_minutes, types)
        else:
            count = _count_of(stats.assignment_count.by_type, stats.assignment_count.total, types)
    elif request.since == year_start:
        column = "year_minutes" if minutes else "year_counts"
        year = {str(k): int(v) for k, v in (row[column] or {}).items()}
        count = _count_of(year, sum(year.values()), types)
        count -= sum(
            int(item["minutes" if minutes else "n"])
            for item in _future_rows(row)
            if date.fromisoformat(str(item["activity_date"])).year == year_start.year
            and (types is None or item["activity_type"] in types)
        )
    else:
        count = int((row["window_counts"] or {})[request.key])
    answered = (row["crossing_dates"] or {}).get(request.key) or ()
    if minutes:  # {target: the date the running sum reached it}
        reached = {int(n): date.fromisoformat(str(d)) for n, d in dict(answered).items()}
        crossing = {n: reached[n] for n in request.crossing_targets if n <= count and n in reached}
    else:  # the dates of the first max_n activities
        dates = [date.fromisoformat(str(d)) for d in answered]
        crossing = {n: dates[n - 1] for n in request.crossing_targets if n <= min(count, len(dates))}
    return CountFact(count=count, crossing_dates=crossing)


def _streak_fact(row: Row, request: StreakRequest) -> StreakFact:
    runs = (row["streak_runs"] or {}).get(request.key)
    if runs is None:  # the snapshot answers: every type, one a week, nothing to date
        fact, _ = _plain_streak(row)
        return fact
    return _streak_from_runs(_runs(runs), row["today"], request.week_targets)


# --- milestones --------------------------------------------------------------------------


def load_milestone_status(
    db: Queryable,
    org_id: UUID,
    mentor_id: UUID,
    today: Today,
    definitions: Iterable[BadgeDefinition],
) -> MilestoneStatus:
    """Progress per live definition and level, merged with what was earned (two statements)."""
    from peer_badges.evaluation import EarnedLevel, milestone_status, required_facts  # see the imports

    prelude = db.query_one(_PRELUDE_SQL, org_id=org_id, mentor_id=mentor_id, **_clock(today))
    if prelude is None:
        raise _not_found(mentor_id)
    local_today: date = prelude["today"]
    definitions = list(definitions)
    earned = [
        EarnedLevel(
            badge_definition_id=item["badge_definition_id"],
            level=item["level"],
            earned_at=_as_date(item["earned_at"]),
            revoked=item["revoked"],
        )
        for item in prelude["earned"] or ()
    ]
    # Progress needs counts and streaks, not the dates they were crossed on.
    wanted = required_facts(definitions, earned, local_today)
    requests = wanted.without_dates()
    row, facts = _facts(db, org_id, mentor_id, requests, None)
    if _is_unknown(row):
        raise _not_found(mentor_id)
    return milestone_status(facts, definitions, earned, local_today)
