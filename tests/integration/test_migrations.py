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


def _migrated_copy(database_factory: Callable[[], str], tmp_path: Path) -> tuple[str, Path]:
    url = database_factory()
    folder = tmp_path / "sql"
    shutil.copytree(default_directory(), folder)
    migrate(database_url=url, directory=folder)
    return url, folder


def test_a_no_transaction_file_can_create_an_index_concurrently(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    # Given a migrated database and a file marked to run outside a transaction
    url, folder = _migrated_copy(database_factory, tmp_path)
    (folder / "999_concurrent_index.sql").write_text(
        "-- migrate: no-transaction\n"
        "-- Built without blocking writers.\n"
        "DROP INDEX CONCURRENTLY IF EXISTS activities_created_idx;\n"
        "CREATE INDEX CONCURRENTLY activities_created_idx ON activities (created_at);\n"
    )
    # When it is applied
    assert migrate(database_url=url, directory=folder) == ["999_concurrent_index"]
    # Then the index exists, is valid, and the file is recorded like any other
    conn = admin_connection(url)
    try:
        valid = conn.run(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = 'activities_created_idx'"
        )
    finally:
        conn.close()
    assert valid == [[True]]
    assert "999_concurrent_index" in [version for version, _ in _recorded(url)]


def test_the_same_file_without_the_marker_is_refused_by_postgresql(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    url, folder = _migrated_copy(database_factory, tmp_path)
    (folder / "999_concurrent_index.sql").write_text(
        "CREATE INDEX CONCURRENTLY activities_created_idx ON activities (created_at);\n"
    )
    with pytest.raises(
        MigrationError, match="25001 CREATE INDEX CONCURRENTLY cannot run inside a transaction"
    ):
        migrate(database_url=url, directory=folder)


def test_a_failed_no_transaction_file_says_where_it_stopped_and_runs_again_next_time(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    url, folder = _migrated_copy(database_factory, tmp_path)
    script = folder / "999_two_steps.sql"
    script.write_text(
        "-- migrate: no-transaction\n"
        "CREATE TABLE IF NOT EXISTS step_one (id int);\n"
        "SELECT no_such_function();\n"
    )
    with pytest.raises(MigrationError, match=r"failed at statement 2 of 2; the 1 before it stay applied"):
        migrate(database_url=url, directory=folder)
    assert "step_one" in _tables(url)
    assert "999_two_steps" not in [version for version, _ in _recorded(url)]


def test_a_migration_waiting_on_a_lock_gives_up_after_lock_timeout(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    # Given a long transaction holding a lock on activities (an app writer, say)
    url, folder = _migrated_copy(database_factory, tmp_path)
    (folder / "999_alter.sql").write_text("ALTER TABLE activities ADD COLUMN note text;\n")
    holder = admin_connection(url)
    try:
        holder.run("BEGIN")
        holder.run("LOCK TABLE activities IN ROW EXCLUSIVE MODE")
        # When the migration needs an exclusive lock on it
        with pytest.raises(MigrationError, match="55P03 canceling statement due to lock timeout"):
            migrate(database_url=url, directory=folder, lock_timeout_ms=200)
    finally:
        holder.run("ROLLBACK")
        holder.close()
    # Then it failed instead of queueing writers behind it, and nothing was recorded
    assert "999_alter" not in [version for version, _ in _recorded(url)]


def test_a_statement_running_past_statement_timeout_fails_the_run(
    database_factory: Callable[[], str], tmp_path: Path
) -> None:
    url, folder = _migrated_copy(database_factory, tmp_path)
    (folder / "999_slow.sql").write_text("SELECT pg_sleep(5);\n")
    with pytest.raises(MigrationError, match="57014 canceling statement due to statement timeout"):
        migrate(database_url=url, directory=folder, statement_timeout_ms=200)
