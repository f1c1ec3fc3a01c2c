"""The embedded PostgreSQL used by `make run` and the tests when DATABASE_URL is not set.

pgserver ships the PostgreSQL binaries in its wheel; the server listens on a Unix socket only,
inside the data directory, so it never collides with a system PostgreSQL or another checkout.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pg8000.native

from peer_badges.db import connect, params_from_url
from peer_badges.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_embedded(pgdata: Path, cleanup_mode: str | None = "stop") -> tuple[object, str]:
    """Start (or attach to) the embedded server in `pgdata`; returns (server, database URL)."""
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    return server, server.get_uri()


def admin_connection(url: str) -> pg8000.native.Connection:
    """A connection for set-up work (databases, migrations), built the way the handlers build theirs."""
    return connect(params_from_url(url), Settings(database_url=url, db_statement_timeout_ms=300_000))


def with_database(url: str, database: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path="/" + database))


def create_database(server_url: str, prefix: str = "peer_badges") -> str:
    """Create an empty, uniquely named database on the server; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = admin_connection(server_url)
    try:
        conn.run(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return with_database(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    name = urlparse(database_url).path.lstrip("/")
    conn = admin_connection(server_url)
    try:
        conn.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
