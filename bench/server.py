"""The benchmark's database: a scratch database that is dropped on exit, never the caller's own data.

Without DATABASE_URL an embedded PostgreSQL (pgserver) runs in a temporary directory that is deleted
afterwards. With DATABASE_URL a uniquely named database is created on that server and dropped at the
end; nothing else on the server is read or written.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg8000.native

from localdev.pg import admin_connection, create_database, drop_database, start_embedded
from peer_badges import db as db_module
from peer_badges.migrations import migrate
from peer_badges.settings import Settings, get_settings


@dataclass(frozen=True)
class Target:
    url: str  # the scratch database
    server: str  # "embedded PostgreSQL 16.x" or "DATABASE_URL server (PostgreSQL 15.x)"


def _raise_on_sigterm(signum: int, _: Any) -> None:
    # Unwind like Ctrl-C so the finally blocks drop the scratch database and stop the server.
    raise SystemExit(128 + signum)


@contextmanager
def scratch_database() -> Iterator[Target]:
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    external = os.environ.get("DATABASE_URL")
    try:
        if external:
            url = create_database(external, prefix="pb_bench")
            try:
                migrate(database_url=url)
                yield Target(url, f"DATABASE_URL server (PostgreSQL {_version(url)})")
            finally:
                drop_database(external, url)
        else:
            # Outside any private tmp tree: pgserver runs the server as a user that must reach it.
            home = Path(tempfile.mkdtemp(prefix="peer-badges-bench-"))
            home.chmod(0o755)
            server, server_url = start_embedded(home / "data", cleanup_mode="delete")
            try:
                url = create_database(server_url, prefix="pb_bench")
                migrate(database_url=url)
                yield Target(url, f"embedded PostgreSQL {_version(url)}")
            finally:
                server.cleanup()  # type: ignore[attr-defined]
                shutil.rmtree(home, ignore_errors=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _version(url: str) -> str:
    conn = admin_connection(url)
    try:
        return str(conn.run("SHOW server_version")[0][0]).split()[0]
    finally:
        conn.close()


def use_database(url: str) -> Settings:
    """Point the layer's settings at the scratch database (this process only)."""
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    return get_settings()


def new_database(settings: Settings) -> db_module.Database:
    """A Database as a Lambda container opens it: the layer's own driver settings and timeouts."""
    params = db_module.params_from_url(settings.database_url or "")
    return db_module.Database(lambda: db_module.connect(params, settings))


def raw_connection(url: str) -> pg8000.native.Connection:
    """A plain connection with no statement timeout, for loading data and DDL."""
    return admin_connection(url)
