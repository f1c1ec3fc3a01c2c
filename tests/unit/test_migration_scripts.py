"""Splitting a no-transaction migration into statements keeps quoted text and bodies whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from peer_badges.migrations import Migration, MigrationError, split_statements


def test_statements_split_at_top_level_semicolons_only() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE INDEX CONCURRENTLY a_idx ON t (x);
    /* block; comment */
    INSERT INTO t (s) VALUES ('it''s; fine'), (E'x;y');
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$;
    SELECT "odd;name" FROM t;
    SELECT $$a;b$$
    """

    statements = split_statements(script)

    assert [statement.split()[0] for statement in statements] == [
        "CREATE",
        "INSERT",
        "CREATE",
        "SELECT",
        "SELECT",
    ]
    assert "PERFORM 1; RETURN 2;" in statements[2]
    assert statements[1].endswith("(E'x;y')")
    assert statements[4] == "SELECT $$a;b$$"


def test_comment_only_scripts_have_no_statements() -> None:
    assert split_statements("-- nothing\n/* here */\n;\n") == []


@pytest.mark.parametrize("script", ["SELECT 'open", "SELECT $x$ open", "/* open"])
def test_unterminated_quotes_are_refused(script: str) -> None:
    with pytest.raises(MigrationError, match="unterminated"):
        split_statements(script)


@pytest.mark.parametrize(
    ("first_line", "transactional"),
    [("-- migrate: no-transaction", False), ("-- Migrate: No-Transaction  ", False), ("-- a comment", True)],
)
def test_the_marker_on_the_first_line_decides(first_line: str, transactional: bool) -> None:
    migration = Migration("999_x", Path("999_x.sql"), f"{first_line}\nSELECT 1;\n")
    assert migration.transactional is transactional


def test_the_marker_elsewhere_does_not_count() -> None:
    migration = Migration("999_x", Path("999_x.sql"), "SELECT 1;\n-- migrate: no-transaction\n")
    assert migration.transactional
