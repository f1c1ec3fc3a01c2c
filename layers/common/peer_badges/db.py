"""PostgreSQL access: one pg8000 connection per container, opened lazily, reconnected once when dead.

Every query is parameterised (`:name` placeholders, values passed separately). Transactions are
explicit and short: `with db.transaction() as tx: ...` commits on success and rolls back on error.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlparse

import pg8000.core
import pg8000.native
from pg8000 import converters
from pg8000.converters import make_params
from pg8000.exceptions import DatabaseError, InterfaceError

from peer_badges.errors import ServiceUnavailable
from peer_badges.settings import Settings, get_settings

Row = dict[str, Any]


class Queryable(Protocol):
    """What read-only logic needs: a ``Database`` or a ``Transaction``."""

    def query(self, sql: str, **params: Any) -> list[Row]: ...

    def query_one(self, sql: str, **params: Any) -> Row | None: ...


# SQLSTATEs that mean "the server or the connection is gone / too slow", not "your query is wrong".
# 40P01/40001: a deadlock or serialization failure victim; retrying the request succeeds.
_UNAVAILABLE_STATES = {
    "40P01",
    "40001",
    "57014",
    "57P01",
    "57P02",
    "57P03",
    "08000",
    "08003",
    "08006",
    "53300",
    "55P03",
}
_NETWORK_MESSAGES = (
    "network error",
    "communication error",
    "connection is closed",
    "can't create a connection",
)


def sqlstate(error: BaseException) -> str | None:
    if isinstance(error, DatabaseError) and error.args and isinstance(error.args[0], dict):
        return error.args[0].get("C")
    return None


def is_connection_error(error: BaseException) -> bool:
    """The socket is gone. pg8000 also raises InterfaceError for programming mistakes; those are not."""
    if isinstance(error, InterfaceError):
        # pg8000 capitalises some of these ("Can't create a connection to host ..." over TCP).
        text = str(error).lower()
        return any(message in text for message in _NETWORK_MESSAGES)
    return isinstance(error, OSError | EOFError)


def is_unavailable(error: BaseException) -> bool:
    return is_connection_error(error) or sqlstate(error) in _UNAVAILABLE_STATES


@dataclass(frozen=True)
class ConnectParams:
    user: str
    password: str | None
    database: str
    host: str | None = None
    port: int = 5432
    unix_sock: str | None = None
    # pg8000's meaning: a context to use, None to try TLS unverified and fall back to plaintext, False for none.
    ssl_context: ssl.SSLContext | Literal[False] | None = None


def params_from_url(url: str) -> ConnectParams:
    """Parse postgresql://user:pw@host:port/db, including ?host=/socket/dir for Unix sockets."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    port = parsed.port or 5432
    unix_sock = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else None
    sslmode = query.get("sslmode", ["disable"])[0]
    ssl_context: ssl.SSLContext | Literal[False] | None = _ssl_context(sslmode, None)
    if ssl_context is None and unix_sock:
        # PostgreSQL never offers TLS on a Unix-domain socket; asking anyway costs pg8000 a default SSL
        # context (loading the CA store: 20-35 ms of a cold start) and a round trip, to be told no.
        ssl_context = False
    return ConnectParams(
        user=unquote(parsed.username or "postgres"),
        password=unquote(parsed.password) if parsed.password else None,
        database=(parsed.path or "/postgres").lstrip("/") or "postgres",
        host=None if unix_sock else host,
        port=port,
        unix_sock=unix_sock,
        ssl_context=ssl_context,
    )


def _ssl_context(sslmode: str, ca_file: str | None) -> ssl.SSLContext | None:
    if sslmode == "disable":
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if sslmode == "require":
        # Encrypted but unauthenticated: only for servers without a verifiable certificate.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def params_from_settings(settings: Settings) -> ConnectParams:
    if settings.database_url:
        return params_from_url(settings.database_url)
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(
        settings.db_secret_arn or "", transform="json", max_age=settings.secret_max_age_s
    )
    assert isinstance(secret, dict)
    return ConnectParams(
        user=secret["username"],
        password=secret["password"],
        database=secret.get("dbname") or settings.db_name,
        host=settings.db_host,
        port=int(secret.get("port") or settings.db_port),
        ssl_context=_ssl_context(settings.db_sslmode, settings.db_ca_file),
    )


# pg8000 rewrites `:name` placeholders with a pure-Python parser on every call (milliseconds for a
# long statement); our statements are a fixed set of constants, so parse each one once.
_to_statement = lru_cache(maxsize=1024)(pg8000.native.to_statement)


def _iso_first(parse: Callable[[str], Any], fallback: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` the server's ISO 8601 text; what it refuses (infinity, BC, beyond year 9999) gets
    pg8000's own answer."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            return fallback(text)

    return convert


# pg8000 parses dates and timestamps with strptime (5-9 µs each; a stats row has five or more);
# the server sends ISO 8601 (DateStyle ISO), which the C fromisoformat reads in 0.1-0.2 µs.
_FAST_IN = {
    1082: _iso_first(date.fromisoformat, converters.date_in),
    1114: _iso_first(datetime.fromisoformat, converters.timestamp_in),
    1184: _iso_first(datetime.fromisoformat, converters.timestamptz_in),
}


class _Connection(pg8000.native.Connection):
    """pg8000's native connection with latency fixes: dates and timestamps parsed in C (``_FAST_IN``),
    and for parameterised statements:

    Placeholders are parsed once per statement text, and Parse/Describe/Bind/Execute/Sync go out in
    ONE write, so a statement costs one network round trip instead of pg8000's three. The server
    answers in protocol order (row description before data rows), which is all the reader needs.
    Relies on pg8000.core internals of the pinned version (layers/common/requirements.txt).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for oid, parse in _FAST_IN.items():
            self.register_in_adapter(oid, parse)

    def run(self, sql: str, stream: Any = None, types: Any = None, **params: Any) -> Any:
        if not params or stream is not None or types is not None:
            return super().run(sql, stream=stream, types=types, **params)
        statement, make_vals = _to_statement(sql)
        # Everything that can fail on the client side happens before the first byte is buffered,
        # so a bad parameter never leaves half a message queue behind for the next statement.
        values = make_params(self.py_types, make_vals(params))
        for value in values:
            if value is not None:
                value.encode(self._client_encoding)
        context = pg8000.core.Context(statement)
        self.send_PARSE(pg8000.core.NULL_BYTE, statement, ())
        self.send_DESCRIBE_STATEMENT(pg8000.core.NULL_BYTE)
        self.send_BIND(pg8000.core.NULL_BYTE, values)
        self.send_EXECUTE()
        pg8000.core._write(self._sock, pg8000.core.SYNC_MSG)
        pg8000.core._flush(self._sock)
        self._context = context
        self.handle_messages(context)
        return context.rows


def connect(params: ConnectParams, settings: Settings) -> pg8000.native.Connection:
    return _Connection(
        params.user,
        password=params.password,
        database=params.database,
        host=params.host or "localhost",
        port=params.port,
        unix_sock=params.unix_sock,
        ssl_context=params.ssl_context,
        timeout=settings.db_connect_timeout_s + settings.db_statement_timeout_ms / 1000,
        tcp_keepalive=True,
        application_name="peer-badges",
        startup_params={"statement_timeout": str(settings.db_statement_timeout_ms), "TimeZone": "UTC"},
    )


def _rows(conn: pg8000.native.Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    prepared = {key: _adapt(value) for key, value in params.items()}
    result = conn.run(sql, **prepared)
    if conn.columns is None or result is None:
        return []
    names = [column["name"] for column in conn.columns]
    return [dict(zip(names, row, strict=True)) for row in result]


def _adapt(value: Any) -> Any:
    # pg8000 sends Python lists as text arrays; callers cast with ::uuid[] / ::text[] in SQL.
    if isinstance(value, (list, tuple)):
        return [_adapt(item) for item in value]
    if isinstance(value, Json):
        return json.dumps(value.value, default=str)
    return value


@dataclass(frozen=True)
class Json:
    """Wrap a value that must be sent as JSON text (cast with ::jsonb in SQL)."""

    value: Any


class Transaction:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, **params: Any) -> list[Row]:
        return _rows(self._conn, sql, params)

    def query_one(self, sql: str, **params: Any) -> Row | None:
        rows = _rows(self._conn, sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, **params: Any) -> int:
        _rows(self._conn, sql, params)
        return int(self._conn.row_count)


class Database:
    """A lazily opened connection with reconnect-once on a connection found dead while idle."""

    def __init__(self, opener: Callable[[], pg8000.native.Connection]) -> None:
        self._opener = opener
        self._conn: pg8000.native.Connection | None = None

    def _connection(self) -> pg8000.native.Connection:
        if self._conn is None:
            try:
                self._conn = self._opener()
            except Exception as error:
                if is_unavailable(error):
                    raise ServiceUnavailable("The database is not reachable right now.") from error
                raise
        return self._conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # The socket is already broken; closing is best effort.
            with contextlib.suppress(Exception):
                conn.close()

    def _first_round_trip(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Run the first statement of a unit of work; a dead idle socket gets one fresh connection."""
        try:
            return _rows(self._connection(), sql, params)
        except Exception as error:
            if not is_connection_error(error):
                raise
            self._discard()
        try:
            return _rows(self._connection(), sql, params)
        except Exception as error:
            if is_unavailable(error):
                self._discard()
                raise ServiceUnavailable("The database is not reachable right now.") from error
            raise

    def query(self, sql: str, **params: Any) -> list[Row]:
        """One statement in its own implicit transaction."""
        try:
            return self._first_round_trip(sql, params)
        except DatabaseError as error:
            if is_unavailable(error):
                raise ServiceUnavailable("The database took too long to answer.") from error
            raise

    def query_one(self, sql: str, **params: Any) -> Row | None:
        rows = self.query(sql, **params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back if it raises. ``rollback=True``
        always rolls it back (a dry run: do everything, report it, keep nothing)."""
        self._first_round_trip("BEGIN", {})
        assert self._conn is not None
        conn = self._conn
        try:
            yield Transaction(conn)
            conn.run("ROLLBACK" if rollback else "COMMIT")
        except BaseException as error:
            self._rollback_quietly()
            if is_unavailable(error) and not isinstance(error, ServiceUnavailable):
                # A timeout or deadlock leaves a healthy connection; only a broken one is dropped.
                if is_connection_error(error):
                    self._discard()
                raise ServiceUnavailable("The database is busy or not reachable right now.") from error
            raise

    def _rollback_quietly(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.run("ROLLBACK")
        except Exception:
            self._discard()

    def close(self) -> None:
        self._discard()


_database: Database | None = None


def get_database() -> Database:
    """The container's shared Database (one connection per Lambda container)."""
    global _database
    if _database is None:
        settings = get_settings()
        _database = Database(lambda: connect(params_from_settings(settings), settings))
    return _database


def set_database(database: Database | None) -> None:
    """Replace the container's Database (tests and the local server)."""
    global _database
    if _database is not None and _database is not database:
        _database.close()
    _database = database
