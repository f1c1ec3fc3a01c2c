"""Streak pause bodies and list cursors, without a database: what is refused, at which path, and why."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer_badges import cursors
from peer_badges.auth import uuid_or_none
from peer_badges.errors import BadRequest
from peer_badges.models.pauses import MAX_PAUSE_DAYS, StreakPauseCreate
from peer_badges.pauses import check_body

VALID = {"peer_mentor_id": None, "starts_on": "2026-06-29", "ends_on": "2026-07-26", "reason": "Sommerferie"}


def codes(body: dict[str, object]) -> dict[str, str]:
    pause, problems = check_body(body)
    assert (pause is None) == bool(problems)
    return {problem.path: problem.code for problem in problems}


def test_a_valid_body_parses_with_its_reason_trimmed() -> None:
    pause, problems = check_body({**VALID, "reason": "  Sommerferie \n"})
    assert problems == []
    assert pause == StreakPauseCreate(
        peer_mentor_id=None, starts_on=date(2026, 6, 29), ends_on=date(2026, 7, 26), reason="Sommerferie"
    )


def test_every_field_problem_comes_back_at_once() -> None:
    body = {"peer_mentor_id": "7", "starts_on": "2026-07-10", "ends_on": "2026-07-01", "reason": "", "x": 1}
    assert codes(body) == {
        "peer_mentor_id": "uuid_parsing",
        "ends_on": "ends_before_start",
        "reason": "string_too_short",
        "x": "extra_forbidden",
    }


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    days=st.integers(min_value=-400, max_value=400),
)
def test_a_pause_is_accepted_exactly_when_it_ends_on_or_after_its_start_within_26_weeks(
    start: date, days: int
) -> None:
    end = start + timedelta(days=days)
    found = codes({**VALID, "starts_on": start.isoformat(), "ends_on": end.isoformat()})
    if days < 0:
        assert found == {"ends_on": "ends_before_start"}
    elif days >= MAX_PAUSE_DAYS:
        assert found == {"ends_on": "too_long"}
    else:
        assert found == {}


@pytest.mark.parametrize("value", [0, 20260701, "2026-7-1", "01.07.2026", "2026-07-01T00:00:00", None, True])
def test_a_date_is_only_ever_yyyy_mm_dd_text(value: object) -> None:
    assert set(codes({**VALID, "starts_on": value})) == {"starts_on"}


def test_a_bad_start_date_leaves_the_end_date_checked_on_its_own() -> None:
    assert codes({**VALID, "starts_on": "2026-02-30", "ends_on": "2020-01-01"}) == {
        "starts_on": "date_from_datetime_parsing"
    }


def test_reasons_are_between_one_and_500_characters_after_trimming() -> None:
    assert codes({**VALID, "reason": "x" * 500}) == {}
    assert codes({**VALID, "reason": "x" * 501}) == {"reason": "string_too_long"}
    assert codes({**VALID, "reason": " \t "}) == {"reason": "string_too_short"}
    assert codes({**VALID, "reason": 5}) == {"reason": "string_type"}


def test_peer_mentor_id_is_required_so_a_pause_for_everyone_is_always_meant() -> None:
    body = {key: value for key, value in VALID.items() if key != "peer_mentor_id"}
    assert codes(body) == {"peer_mentor_id": "missing"}
    assert codes({**VALID, "peer_mentor_id": str(uuid.uuid4())}) == {}


def test_a_cursor_reads_back_what_it_was_made_of() -> None:
    pause_id = uuid.uuid4()
    cursor = cursors.encode("2026-06-29", str(pause_id))
    assert "=" not in cursor
    assert cursors.decode(cursor, date.fromisoformat, uuid.UUID) == (date(2026, 6, 29), pause_id)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "bm90IGpzb24",  # "not json"
        cursors.encode("2026-06-29"),  # one part short
        cursors.encode("2026-06-29", "not-a-uuid"),
        cursors.encode("yesterday", str(uuid.uuid4())),
        "eyJhIjogMX0",  # {"a": 1}
        "WzEsIDJd",  # [1, 2]
    ],
)
def test_anything_else_is_a_400_that_says_what_to_do(cursor: str) -> None:
    with pytest.raises(BadRequest, match="next_cursor"):
        cursors.decode(cursor, date.fromisoformat, uuid.UUID)


@pytest.mark.parametrize(
    "value",
    [
        str(uuid.UUID(int=7)),
        str(uuid.UUID(int=7)).upper(),
        uuid.UUID(int=7).hex,
        "{" + str(uuid.UUID(int=7)) + "}",
        "urn:uuid:" + str(uuid.UUID(int=7)),
        " " + str(uuid.UUID(int=7)),
        "nobody",
        "",
        7,
        2**100,
        1.5,
        True,
        [],
        {},
    ],
)
def test_the_coordinator_check_reads_peer_mentor_id_exactly_as_validation_does(value: object) -> None:
    # A coordinator's pause is allowed only for an assigned mentor, or for a value that names nobody
    # (validation then refuses it): so "names nobody" must mean "validation refuses it", for any JSON.
    pause, problems = check_body({**VALID, "peer_mentor_id": value})
    named = uuid_or_none(value)
    if named is None:
        assert pause is None and {problem.path for problem in problems} == {"peer_mentor_id"}
    else:
        assert pause is not None and pause.peer_mentor_id == named
