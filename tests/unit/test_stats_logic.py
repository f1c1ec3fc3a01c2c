"""The pure parts of the stats reader: local dates, streak runs, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from peer_badges.clock import local_date
from peer_badges.errors import BadRequest
from peer_badges.stats import _streak_from_runs, decode_cursor, encode_cursor


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 15, 22, 59, tzinfo=UTC), date(2026, 3, 15)),  # 23:59 CET, Sunday
        (datetime(2026, 3, 15, 23, 30, tzinfo=UTC), date(2026, 3, 16)),  # 00:30 CET, Monday
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), date(2026, 3, 29)),  # 23:59 CEST, the day DST began
        (datetime(2026, 3, 29, 22, 30, tzinfo=UTC), date(2026, 3, 30)),  # 00:30 CEST: UTC+2 now, not +1
        (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # 23:30 CET, the day DST ended
    ],
)
def test_the_local_date_follows_oslo_summer_time(now: datetime, expected: date) -> None:
    assert local_date(now, "Europe/Oslo") == expected


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 3, 15, 12), "Europe/Oslo")


def test_runs_give_longest_current_and_the_week_each_target_was_first_reached() -> None:
    # Given runs of 3 weeks (from 2 March) and 2 weeks (from 30 March)
    runs = [(date(2026, 3, 2), 3), (date(2026, 3, 30), 2)]

    # When it is the week after the second run ended
    fact = _streak_from_runs(runs, date(2026, 4, 15), targets=(1, 2, 3, 4))

    # Then the second run is still current, and targets are dated by the first run reaching them
    assert (fact.longest_weeks, fact.current_weeks) == (3, 2)
    assert fact.reached_dates == {1: date(2026, 3, 2), 2: date(2026, 3, 9), 3: date(2026, 3, 16)}


def test_a_run_ends_when_a_whole_week_passes_without_activity() -> None:
    runs = [(date(2026, 3, 30), 2)]  # last active week: 6 April

    assert _streak_from_runs(runs, date(2026, 4, 19), ()).current_weeks == 2  # Sunday of the next week
    assert _streak_from_runs(runs, date(2026, 4, 20), ()).current_weeks == 0  # the Monday after


def test_no_runs_is_no_streak() -> None:
    fact = _streak_from_runs([], date(2026, 4, 20), (1,))

    assert (fact.longest_weeks, fact.current_weeks, fact.reached_dates) == (0, 0, {})


def test_a_cursor_round_trips_and_anything_else_is_a_400() -> None:
    mentor = uuid.uuid4()

    assert decode_cursor(encode_cursor(mentor)) == mentor
    for garbage in ("", "!!!", "bm90LWEtY3Vyc29y", encode_cursor(mentor)[:-3]):
        with pytest.raises(BadRequest, match="cursor"):
            decode_cursor(garbage)
