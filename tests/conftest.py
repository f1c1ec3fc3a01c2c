"""Shared fixtures: a real PostgreSQL (embedded by default, DATABASE_URL to use another server)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localdev.pg import create_database, drop_database, start_embedded
from peer_badges import db as db_module
from peer_badges.keys import Keyring, ensure_local_keyring
from peer_badges.migrations import migrate
from peer_badges.settings import Settings, get_settings


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server to create test databases on; never the caller's own database."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    # Outside pytest's private tmp tree: the server runs as an unprivileged user that must reach it.
    pgdata = Path(tempfile.mkdtemp(prefix="peer-badges-pg-"))
    pgdata.chmod(0o755)
    server, url = start_embedded(pgdata / "data", cleanup_mode="delete")
    yield url
    server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def database_factory(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Creates empty databases on the test server and drops them at the end of the session."""
    created: list[str] = []

    def factory() -> str:
        url = create_database(pg_server_url, prefix="pb_test")
        created.append(url)
        return url

    yield factory
    for url in created:
        drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
def migrated_url(database_factory: Callable[[], str]) -> str:
    url = database_factory()
    migrate(database_url=url)
    return url


# Written by the migrations themselves, not by the code under test: kept.
MIGRATION_DATA = ("schema_migrations", "personal_data_tables")


def _truncate_all(database: db_module.Database) -> None:
    tables = database.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL (CAST(:kept AS text[]))",
        kept=list(MIGRATION_DATA),
    )
    names = ", ".join(f'"{row["tablename"]}"' for row in tables)
    if names:
        database.query(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def app_settings(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def db(app_settings: Settings) -> Iterator[db_module.Database]:
    """The handlers' Database on a migrated, emptied database."""
    settings = app_settings
    database = db_module.Database(
        lambda: db_module.connect(db_module.params_from_url(settings.database_url or ""), settings)
    )
    _truncate_all(database)
    db_module.set_database(database)
    yield database
    db_module.set_database(None)


@pytest.fixture
def connect_new(app_settings: Settings) -> Callable[[], db_module.Database]:
    """Independent connections, for concurrency tests."""
    opened: list[db_module.Database] = []

    def factory() -> db_module.Database:
        settings = app_settings
        database = db_module.Database(
            lambda: db_module.connect(db_module.params_from_url(settings.database_url or ""), settings)
        )
        opened.append(database)
        return database

    yield factory  # type: ignore[misc]
    for database in opened:
        database.close()


PUBLIC_BASE_URL = "https://badges.example.org"


@pytest.fixture
def credential_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keyring]:
    """Open Badges credentials configured: a public base URL and a fresh keyring file."""
    keyring_file = tmp_path / "credential-keys.json"
    keyring = ensure_local_keyring(keyring_file)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    monkeypatch.setenv("CREDENTIAL_KEYS_FILE", str(keyring_file))
    get_settings.cache_clear()
    yield keyring
    get_settings.cache_clear()
