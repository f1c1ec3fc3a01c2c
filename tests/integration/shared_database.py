"""A faster `db` for tests whose every case seeds organisations of its own (fresh ids).

The conftest's `db` empties every table before each test (~0.2 s); tests that never look beyond
their own organisations can share one migrated database without that. Import both fixtures into
the test module: `from tests.integration.shared_database import shared_db_fixture, shared_module_db_fixture`;
tests then ask for `shared_db`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peer_badges import db as db_module
from peer_badges.db import Database, connect, params_from_url
from peer_badges.settings import Settings, get_settings


@pytest.fixture(scope="module", name="shared_module_db")
def shared_module_db_fixture(migrated_url: str) -> Iterator[Database]:
    settings = Settings(database_url=migrated_url)
    database = Database(lambda: connect(params_from_url(migrated_url), settings))
    yield database
    database.close()


@pytest.fixture(name="shared_db")
def shared_db_fixture(
    shared_module_db: Database, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """The handlers' database for one test, shared with the module, not emptied."""
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    get_settings.cache_clear()
    db_module.set_database(shared_module_db)
    yield shared_module_db
    db_module.set_database(None)  # closes the connection; the next test's first query reopens it
    get_settings.cache_clear()
