"""Migrations: applied once, recorded with checksums, edits refused, races serialised."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from localdev.pg import admin_connection
from peer_badges.migrations import MigrationError, default_directory, discover, migrate

FOUNDATION_TABLES = {
    "organizations",
    "org_members",
    "coordinator_assignments",
    "activities",
    "training_completions",
}
BUNDLE_TABLES = {"badge_definitions", "earned_badges", "evaluation_outbox", "event_outbox", "audit_log"}


def _tables(url: str) -> set[str]:
    conn = admin_connection(url)
    try:
        return {row[0] for row in conn.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        conn.close()


def _recorded(url: str) -> list[tuple[str, str]]:
    conn = admin_connection(url)
    try:
        return [
            tuple(row) for row in conn.run("SELECT version, checksum FROM schema_migrations ORDER BY version")
        ]
    finally:
        conn.close()


def test_migrations_from_empty_create_the_contract_tables(database_factory: Callable[[], str]) -> None:
    # Given an empty database
    url = database_factory()
    # When the migrations run
    applied = migrate(database_url=url)
    # Then every migration file is applied and recorded, and the SPEC's tables exist
    assert applied == [m.version for m in discover(default_directory())]
    assert _tables(url) >= FOUNDATION_TABLES | BUNDLE_TABLES
    assert [version for version, _ in _recorded(url)] == applied


def test_running_migrations_twice_changes_nothing(database_factory: Callable[[], str]) -> None:
    url = database_factory()
    migrate(database_url=url)
    before = _recorded(url)
    assert migrate(database_url=url) == []
    assert _recorded(url) == before


def test_an_edited_applied_migration_is_refused(database_factory: Callable[[], str], tmp_path: Path) -> None:
    # Given a database migrated from a copy of sql/
    url = database_factory()
    folder = tmp_path / "sql"
    shutil.copytree(default_directory(), folder)
    migrate(database_url=url, directory=folder)
    # When an applied file is edited
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    # Then the next run refuses with a message naming the file, and applies nothing
    with pytest.raises(MigrationError, match=f"{first.name} was changed after it was applied"):
        migrate(database_url=url, directory=folder)


def test_a_failing_migration_rolls_back_and_is_not_recorded(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    url = database_factory()
    folder = tmp_path / "sql"
    shutil.copytree(default_directory(), folder)
    (folder / "999_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="999_broken.sql failed and was rolled back"):
        migrate(database_url=url, directory=folder)
    assert "half_done" not in _tables(url)
    assert "999_broken" not in [version for version, _ in _recorded(url)]


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "add stuff.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_description.sql"):
        discover(tmp_path)


def test_two_racing_runs_apply_each_migration_once(database_factory: Callable[[], str]) -> None:
    # Given an empty database and two runners started at the same moment
    url = database_factory()
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(database_url=url))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then one applied everything, the other found nothing to do
    assert errors == []
    everything = [m.version for m in discover(default_directory())]
    assert sorted(results, key=len) == [[], everything]
    assert len(_recorded(url)) == len(everything)
