"""Apply the ordered SQL migrations in `sql/` exactly once each, recorded with a checksum.

Runs hold a session advisory lock, so two racing deploys apply each file once. Every file runs in
its own transaction together with its bookkeeping row. A file that changed after it was applied is
refused: write a new migration instead of editing history.

    python -m peer_badges.migrations [--dir sql] [--dry-run]     (uses DATABASE_URL or DB_* settings)
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

_FILE_PATTERN = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# Arbitrary constant shared by every runner of this bundle's migrations.
_LOCK_KEY = 0x6261646765  # "badge"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        if not _FILE_PATTERN.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        migrations.append(Migration(version=path.stem, path=path, sql=path.read_text(encoding="utf-8")))
    numbers = [m.version.split("_", 1)[0] for m in migrations]
    if len(numbers) != len(set(numbers)):
        raise MigrationError(f"two migrations in {directory} share a number: {numbers}")
    return migrations


def apply(conn: pg8000.native.Connection, migrations: list[Migration], dry_run: bool = False) -> list[str]:
    """Apply pending migrations; return the versions applied (or that would be, with dry_run)."""
    conn.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        conn.run(_BOOKKEEPING)
        applied = {
            version: checksum
            for version, checksum in conn.run("SELECT version, checksum FROM schema_migrations")
        }
        pending = []
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is None:
                pending.append(migration)
            elif recorded != migration.checksum:
                raise MigrationError(
                    f"{migration.path.name} was changed after it was applied "
                    f"(recorded checksum {recorded[:12]}, file now {migration.checksum[:12]}). "
                    "Applied migrations are history: revert the edit and add a new migration instead."
                )
        if dry_run:
            return [m.version for m in pending]
        for migration in pending:
            conn.run("BEGIN")
            try:
                conn.run(migration.sql)
                conn.run(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (:v, :c)",
                    v=migration.version,
                    c=migration.checksum,
                )
                conn.run("COMMIT")
            except Exception as error:
                conn.run("ROLLBACK")
                raise MigrationError(f"{migration.path.name} failed and was rolled back: {error}") from error
        return [m.version for m in pending]
    finally:
        conn.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)


def default_directory() -> Path:
    return Path(__file__).resolve().parents[3] / "sql"


def migrate(
    database_url: str | None = None, directory: Path | None = None, dry_run: bool = False
) -> list[str]:
    from peer_badges.db import connect, params_from_settings
    from peer_badges.settings import Settings, get_settings

    settings = Settings(database_url=database_url) if database_url else get_settings()
    conn = connect(
        params_from_settings(settings), settings.model_copy(update={"db_statement_timeout_ms": 300_000})
    )
    try:
        return apply(conn, discover(directory or default_directory()), dry_run=dry_run)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder of NNN_name.sql files (default: ./sql)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list pending migrations, apply nothing")
    args = parser.parse_args(argv)
    try:
        versions = migrate(directory=args.dir, dry_run=args.dry_run)
    except MigrationError as error:
        print(f"migration refused: {error}", file=sys.stderr)
        return 2
    verb = "pending" if args.dry_run else "applied"
    print(f"{len(versions)} migration(s) {verb}" + (": " + ", ".join(versions) if versions else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
