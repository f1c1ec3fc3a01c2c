"""sql/current/schema.sql is the schema the migrations produce, so a reader can trust it."""

from __future__ import annotations

from localdev.schema import SCHEMA_PATH, dump


def test_the_migrations_reproduce_the_committed_schema(migrated_url: str) -> None:
    # Given a database migrated from empty by the runner (the session's shared one)
    # When it is dumped the way localdev.schema writes the file
    # Then it is the committed file, line for line (regenerate: python -m localdev.schema --write)
    assert dump(migrated_url) == SCHEMA_PATH.read_text(encoding="utf-8"), (
        "sql/current/schema.sql is stale: run python -m localdev.schema --write"
    )


def test_the_schema_file_shows_each_function_once_as_it_stands() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    for name in ("week_runs", "count_crossings", "apply_activity_deltas", "award_earned_badge"):
        assert text.count(f"FUNCTION public.{name}(") == 1, name
