"""A plain reference evaluation of every criteria type, straight from raw rows.

Written from the SPEC's words with lists and loops, sharing nothing with the bundle's evaluation, its
facts, its SQL or its derived tables, so that agreeing with it means something. Input: every
activity and training completion of one organisation as plain dicts (as read from the tables).
Output: for each (mentor, level) the criteria meet as of ``today``, the date it was met.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from peer_badges.criteria.combination import AllOfCriteria, AnyOfCriteria
from peer_badges.criteria.manual import ManualCriteria
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.criteria.prerequisite import RequiresBadgeCriteria
from peer_badges.criteria.registry import Criteria
from peer_badges.criteria.streak import StreakCriteria
from peer_badges.criteria.threshold import ThresholdCriteria
from peer_badges.criteria.tier import TierCriteria
from peer_badges.criteria.training import TrainingCompletionCriteria

Met = dict[tuple[UUID, int], date]
# The badges mentors hold, by definition key: {key: {(mentor, level): earned_at}}
Held = Mapping[str, Met]
# The paused weeks of each mentor
Paused = Mapping[UUID, set[date]]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _counted(activities: Iterable[Mapping[str, Any]], types: Iterable[str] | None) -> list[Mapping[str, Any]]:
    wanted = None if types is None else set(types)
    return [
        a
        for a in activities
        if a["status"] == "approved"
        and a["deleted_at"] is None
        and (wanted is None or a["activity_type"] in wanted)
    ]


def _by_mentor(rows: Iterable[Mapping[str, Any]]) -> dict[UUID, list[Mapping[str, Any]]]:
    grouped: dict[UUID, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["peer_mentor_id"], []).append(row)
    return grouped


def _window_start(criteria: Criteria, today: date) -> date:
    if isinstance(criteria, ThresholdCriteria):
        if criteria.window.kind == "calendar_year":
            return date(today.year, 1, 1)
        if criteria.window.kind == "rolling_days":
            return today - timedelta(days=criteria.window.days - 1)  # type: ignore[union-attr]
    return date.min


def _counting(
    criteria: ThresholdCriteria | TierCriteria | MilestoneCriteria,
    activities: list[Mapping[str, Any]],
    today: date,
) -> Met:
    """Activities in date order, counted one by one or by their minutes (None as 0); a level is met on
    the date the running number first reaches its target."""
    start = _window_start(criteria, today)
    met: Met = {}
    for mentor, rows in _by_mentor(_counted(activities, criteria.activity_types)).items():
        in_window = sorted(
            (a for a in rows if start <= a["activity_date"] <= today), key=lambda a: a["activity_date"]
        )
        running, reached = 0, []
        for activity in in_window:
            running += (activity["duration_minutes"] or 0) if criteria.measure == "minutes" else 1
            reached.append((running, activity["activity_date"]))
        for level, target in criteria.levels():
            day = next((day for total, day in reached if total >= target), None)
            if day is not None:
                met[(mentor, level)] = day
    return met


def _streak(
    criteria: StreakCriteria, activities: list[Mapping[str, Any]], today: date, paused: Paused | None = None
) -> Met:
    """Weeks walked in order: a qualifying week counts, a paused week without enough activity bridges
    (neither counts nor breaks), any other gap breaks the run."""
    met: Met = {}
    this_week = _monday(today)
    for mentor, rows in _by_mentor(_counted(activities, criteria.activity_types)).items():
        per_week = Counter(_monday(a["activity_date"]) for a in rows)
        qualifying = {w for w, n in per_week.items() if n >= criteria.min_per_week and w <= this_week}
        bridges = {w for w in (paused or {}).get(mentor, set()) if w <= this_week} - qualifying
        previous, length, reached = None, 0, None
        for week in sorted(qualifying | bridges):
            if previous is None or week != previous + timedelta(weeks=1):
                length = 0
            previous = week
            if week in qualifying:
                length += 1
                if length == criteria.weeks and reached is None:
                    reached = week
        if reached is not None:
            met[(mentor, 1)] = reached
    return met


def paused_weeks(pauses: Iterable[Mapping[str, Any]], mentors: Iterable[UUID]) -> Paused:
    """For each mentor, the Mondays of the weeks any of whose days lies in a pause that applies to them."""
    weeks: dict[UUID, set[date]] = {mentor: set() for mentor in mentors}
    for pause in pauses:
        day = pause["starts_on"]
        while day <= pause["ends_on"]:
            for mentor in weeks:
                if pause["peer_mentor_id"] in (None, mentor):
                    weeks[mentor].add(_monday(day))
            day += timedelta(days=1)
    return weeks


def _training(
    criteria: TrainingCompletionCriteria, trainings: list[Mapping[str, Any]], zone: ZoneInfo, today: date
) -> Met:
    met: Met = {}
    for mentor, rows in _by_mentor(trainings).items():
        first_done: dict[str, date] = {}
        for row in rows:
            if row["training_code"] not in criteria.training_codes:
                continue
            done = row["completed_at"].astimezone(zone).date()
            expires = row["expires_at"]
            if done > today:
                continue
            if criteria.only_valid and expires is not None and expires.astimezone(zone).date() <= today:
                continue
            code = row["training_code"]
            first_done[code] = min(done, first_done.get(code, done))
        if criteria.require == "all" and len(first_done) == len(criteria.training_codes):
            met[(mentor, 1)] = max(first_done.values())
        elif criteria.require == "any" and first_done:
            met[(mentor, 1)] = min(first_done.values())
    return met


def reference_met(
    criteria: Criteria,
    activities: list[Mapping[str, Any]],
    trainings: list[Mapping[str, Any]],
    timezone: str,
    today: date,
    held: Held | None = None,
    paused: Paused | None = None,
) -> Met:
    if isinstance(criteria, ThresholdCriteria | TierCriteria | MilestoneCriteria):
        return _counting(criteria, activities, today)
    if isinstance(criteria, StreakCriteria):
        return _streak(criteria, activities, today, paused)
    if isinstance(criteria, TrainingCompletionCriteria):
        return _training(criteria, trainings, ZoneInfo(timezone), today)
    if isinstance(criteria, RequiresBadgeCriteria):
        met: Met = {}
        for (mentor, level), day in (held or {}).get(criteria.badge_key, {}).items():
            if level >= criteria.level:
                met[(mentor, 1)] = min(day, met.get((mentor, 1), day))
        return met
    if isinstance(criteria, AllOfCriteria | AnyOfCriteria):
        members = [
            reference_met(m, activities, trainings, timezone, today, held, paused) for m in criteria.criteria
        ]
        mentors = {mentor for member in members for (mentor, _) in member}
        combined: Met = {}
        for mentor in mentors:
            days = [member[(mentor, 1)] for member in members if (mentor, 1) in member]
            if isinstance(criteria, AnyOfCriteria):
                combined[(mentor, 1)] = min(days)
            elif len(days) == len(members):
                combined[(mentor, 1)] = max(days)
        return combined
    assert isinstance(criteria, ManualCriteria)
    return {}
