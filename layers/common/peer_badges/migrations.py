"""Apply the ordered SQL migrations in `sql/` exactly once each, recorded with a checksum.

Runs hold a session advisory lock, so two racing deploys apply each file once. Every file runs in
its own transaction together with its bookkeeping row. A file that changed after it was applied is
refused: write a new migration instead of editing history.

Once the lock is held the session sets `lock_timeout` (a migration waiting behind a long transaction
would otherwise queue every writer behind itself) and `statement_timeout` (a deploy fails with a
message instead of hanging). A file whose first line is `-- migrate: no-transaction` runs statement
by statement outside a transaction, for what PostgreSQL refuses inside one (`CREATE INDEX
CONCURRENTLY`); it is recorded after its last statement, so write it to be safe to run again
(`IF NOT EXISTS`, and `DROP INDEX CONCURRENTLY IF EXISTS` before rebuilding an index a failed run
may have left invalid).

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
NO_TRANSACTION_MARKER = "-- migrate: no-transaction"
DEFAULT_LOCK_TIMEOUT_MS = 5_000
DEFAULT_STATEMENT_TIMEOUT_MS = 300_000

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

    @property
    def transactional(self) -> bool:
        first_line = self.sql.lstrip("\ufeff").split("\n", 1)[0].strip()
        return first_line.lower() != NO_TRANSACTION_MARKER


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split at top-level semicolons, without their leading comments.

    Quotes ('…', "…", E'…'), dollar-quoted bodies and comments are skipped over, so a function body
    stays one statement. Statements that are only comments are left out.
    """
    statements: list[str] = []
    start: int | None = None  # where the current statement's first code character is
    i = 0
    while i < len(sql):
        char = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise MigrationError("unterminated /* comment")
            i = end + 2
            continue
        if char == ";":
            if start is not None:
                statements.append(sql[start:i].strip())
            start = None
            i += 1
            continue
        if start is None and not char.isspace():
            start = i
        i = _skip_quoted(sql, i)
    if start is not None:
        statements.append(sql[start:].strip())
    return statements


def _skip_quoted(sql: str, i: int) -> int:
    """The position after the quoted string or dollar-quoted body at `i`, or after its one character."""
    char = sql[i]
    if char in "'\"":
        end = i + 1
        while True:
            end = sql.find(char, end)
            if end < 0:
                raise MigrationError(f"unterminated {char} quote")
            if not sql.startswith(char * 2, end):
                return end + 1
            end += 2  # a doubled quote is part of the string
    tag = _DOLLAR_TAG.match(sql, i) if char == "$" else None
    if tag:
        end = sql.find(tag.group(), tag.end())
        if end < 0:
            raise MigrationError(f"unterminated {tag.group()} quote")
        return end + len(tag.group())
    return i + 1


def _message(error: BaseException) -> str:
    """pg8000 errors carry the server's fields as a dict: keep the SQLSTATE, message and position."""
    fields = error.args[0] if error.args and isinstance(error.args[0], dict) else None
    if not fields:
        return str(error)
    text = f"{fields.get('C', '?')} {fields.get('M', '')}"
    if fields.get("D"):
        text += f" ({fields['D']})"
    if fields.get("W"):
        text += f" [{fields['W'].splitlines()[-1]}]"
    return text


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


def apply(
    conn: pg8000.native.Connection,
    migrations: list[Migration],
    dry_run: bool = False,
    *,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> list[str]:
    """Apply pending migrations; return the versions applied (or that would be, with dry_run)."""
    # Waiting for a concurrent deploy's run is expected: the timeouts start once the lock is held.
    conn.run("SET lock_timeout = 0")
    conn.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        conn.run(f"SET lock_timeout = {int(lock_timeout_ms)}")
        conn.run(f"SET statement_timeout = {int(statement_timeout_ms)}")
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
            if migration.transactional:
                _apply_in_transaction(conn, migration)
            else:
                _apply_statement_by_statement(conn, migration)
        return [m.version for m in pending]
    finally:
        conn.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)


def _record(conn: pg8000.native.Connection, migration: Migration) -> None:
    conn.run(
        "INSERT INTO schema_migrations (version, checksum) VALUES (:v, :c)",
        v=migration.version,
        c=migration.checksum,
    )


def _apply_in_transaction(conn: pg8000.native.Connection, migration: Migration) -> None:
    conn.run("BEGIN")
    try:
        conn.run(migration.sql)
        _record(conn, migration)
        conn.run("COMMIT")
    except Exception as error:
        conn.run("ROLLBACK")
        raise MigrationError(
            f"{migration.path.name} failed and was rolled back: {_message(error)}"
        ) from error


def _apply_statement_by_statement(conn: pg8000.native.Connection, migration: Migration) -> None:
    statements = split_statements(migration.sql)
    for number, statement in enumerate(statements, start=1):
        try:
            conn.run(statement)
        except Exception as error:
            raise MigrationError(
                f"{migration.path.name} (no-transaction) failed at statement {number} of {len(statements)}; "
                f"the {number - 1} before it stay applied and the file is not recorded, so the next run "
                f"starts it again: {_message(error)}"
            ) from error
    _record(conn, migration)


def default_directory() -> Path:
    return Path(__file__).resolve().parents[3] / "sql"


def migrate(
    database_url: str | None = None,
    directory: Path | None = None,
    dry_run: bool = False,
    *,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> list[str]:
    conn = owner_connection(database_url, statement_timeout_ms)
    try:
        return apply(
            conn,
            discover(directory or default_directory()),
            dry_run=dry_run,
            lock_timeout_ms=lock_timeout_ms,
            statement_timeout_ms=statement_timeout_ms,
        )
    finally:
        conn.close()


def owner_connection(
    database_url: str | None = None, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
) -> pg8000.native.Connection:
    """A connection from DATABASE_URL or the DB_* settings (the schema owner's secret, when migrating)."""
    from peer_badges.db import connect, params_from_settings
    from peer_badges.settings import Settings, get_settings

    settings = Settings(database_url=database_url) if database_url else get_settings()
    return connect(
        params_from_settings(settings),
        settings.model_copy(update={"db_statement_timeout_ms": statement_timeout_ms}),
    )


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
