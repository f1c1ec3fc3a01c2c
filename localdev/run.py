"""`make run`: the whole bundle on one machine, with no AWS account, Docker or system PostgreSQL.

1. the database: an embedded PostgreSQL in `.pgdata/` (database `peer_badges`), or DATABASE_URL;
2. migrations from `sql/`;
3. the demo data set (skipped for organisations already loaded, so re-running is safe);
4. the local HTTP API on 127.0.0.1:${API_PORT:-3000}, routed from template.yaml, serving the real handlers;
5. evaluate_badges invoked by the database, as in AWS: the same trigger SQL (sql/012) calls a stand-in
   `aws_lambda.invoke` that NOTIFYs, a listener wakes the drain, and the drain schedule still fires
   every second as the safety net;
6. a start-up screen with the URLs, the database and a ready curl line per demo user.

Ctrl-C (or SIGTERM) stops the HTTP server, then the drain loop, then the embedded database.

Environment: API_PORT (3000), DATABASE_URL (unset: embedded), LOCAL_PGDATA (the embedded server's
data directory, `.pgdata/`), DEMO_DATA=0 (skip the demo set), LOCALDEV_DIR (`.localdev/`, the token
signing key and the Open Badges credential keyring), LOG_LEVEL (INFO), PUBLIC_BASE_URL (the local API's
own address).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from localdev.lambda_runtime import REPO_ROOT, install_lambda_paths, template_environment

# The layer and the function directories go on sys.path the way Lambda lays them out (/opt/python,
# /var/task) before anything below imports the layer.
install_lambda_paths()

import uvicorn  # noqa: E402

from localdev import demo  # noqa: E402
from localdev.invocations import InvocationListener, dispatcher  # noqa: E402
from localdev.lambda_runtime import Invoker  # noqa: E402
from localdev.local_bus import LocalEventBus  # noqa: E402
from localdev.openapi import build_document, with_local_routes  # noqa: E402
from localdev.pg import admin_connection, start_embedded, with_database  # noqa: E402
from localdev.scheduler import DRAIN_INTERVAL_S, DrainLoop, drain_schedule, quiet_idle_drains  # noqa: E402
from localdev.server import FeaturedUser, LocalApi  # noqa: E402
from localdev.template_routes import routes  # noqa: E402
from localdev.tokens import TokenAuthority, state_dir  # noqa: E402
from peer_badges import events  # noqa: E402
from peer_badges.db import get_database, set_database, sqlstate  # noqa: E402
from peer_badges.keys import ensure_local_keyring  # noqa: E402
from peer_badges.migrations import MigrationError, migrate  # noqa: E402
from peer_badges.settings import get_settings  # noqa: E402

logger = logging.getLogger("localdev")

HOST = "127.0.0.1"
PGDATA = Path(os.environ.get("LOCAL_PGDATA") or REPO_ROOT / ".pgdata")
LOCAL_DATABASE = "peer_badges"


@dataclass
class DatabaseTarget:
    url: str
    description: str
    shell: str | None = None  # a psql command line, when we know one
    stop: Callable[[], None] = field(default=lambda: None)


def _masked(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        parsed = parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@"))
    return urlunparse(parsed)


def open_database() -> DatabaseTarget:
    external = os.environ.get("DATABASE_URL")
    if external:
        return DatabaseTarget(external, f"DATABASE_URL {_masked(external)}", f"psql {shlex.quote(external)}")
    from pgserver._commands import POSTGRES_BIN_PATH

    server, server_url = start_embedded(PGDATA, cleanup_mode="stop")
    url = with_database(server_url, LOCAL_DATABASE)
    conn = admin_connection(server_url)
    try:
        if not conn.run("SELECT 1 FROM pg_database WHERE datname = :name", name=LOCAL_DATABASE):
            try:
                conn.run(f'CREATE DATABASE "{LOCAL_DATABASE}"')
            except Exception as error:
                if sqlstate(error) != "42P04":  # created meanwhile by a second `make run`
                    raise
    finally:
        conn.close()
    return DatabaseTarget(
        url,
        f"embedded PostgreSQL, data in {PGDATA}",
        f"{POSTGRES_BIN_PATH / 'psql'} {shlex.quote(url)}",
        stop=server.cleanup,  # type: ignore[attr-defined]
    )


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise SystemExit(
            f"cannot listen on {HOST}:{port} ({error.strerror}); try API_PORT={port + 1} make run"
        ) from error
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _handler_status(invoker: Invoker, logical_ids: list[str]) -> dict[str, str | None]:
    """Import every function now: a broken one is reported on the screen, the others still serve."""
    status: dict[str, str | None] = {}
    for logical_id in logical_ids:
        try:
            invoker.handler(logical_id)
            status[logical_id] = None
        except Exception as error:
            status[logical_id] = f"{type(error).__name__}: {error}"
    return status


def try_path(user: demo.DemoUser) -> str:
    """The request that shows what the user is featured for."""
    org = f"/orgs/{user.org_id}"
    if "milestone" in user.note:
        return f"{org}/mentors/{user.user_id}/milestones"
    if user.role == "peer_mentor":
        return f"{org}/mentors/{user.user_id}/stats"
    return f"{org}/mentor-stats"


def _curl(base: str, user: demo.DemoUser) -> str:
    token = f"$(curl -s -H 'Accept: text/plain' -d '{{\"sub\":\"{user.user_id}\"}}' {base}/_local/token)"
    return f'curl -s -H "Authorization: Bearer {token}" {base}{try_path(user)}'


def featured_users(users: list[demo.DemoUser]) -> list[FeaturedUser]:
    return [
        FeaturedUser(user.org_name, str(user.org_id), user.role, str(user.user_id), user.note, try_path(user))
        for user in users
    ]


def startup_screen(
    base: str,
    database: DatabaseTarget,
    demo_line: str,
    handlers: dict[str, str | None],
    drain_line: str,
    users: list[demo.DemoUser],
) -> str:
    role_names = {"org_admin": "admin", "coordinator": "coordinator", "peer_mentor": "mentor"}
    lines = [
        "",
        "Peer badges: local API (the real handlers behind an HTTP API v2 stand-in)",
        "",
        f"  Start      {base}/   (where to begin: the explorer, tokens, the demo users)",
        f"  Explorer   {base}/docs   (OpenAPI document: {base}/openapi.json)",
        f"  Database   {database.description}",
    ]
    if database.shell:
        lines.append(f"             {database.shell}")
    lines += [
        f'  Tokens     POST {base}/_local/token {{"sub": "<user uuid>"}}  (RS256, key in {state_dir()})',
        f"  Outbox     {drain_line}",
        f"  Events     logged as published, and listed at {base}/_local/events (a local stand-in for EventBridge)",
        f"  Demo data  {demo_line}",
        "  Functions  "
        + ", ".join(
            f"{name} {'ok' if problem is None else 'NOT IMPORTABLE'}" for name, problem in handlers.items()
        ),
    ]
    lines += [f"             {name}: {problem}" for name, problem in handlers.items() if problem]
    if users:
        lines += ["", "Demo users (paste a line into a shell; jq or python -m json.tool make it readable):"]
        current = None
        for user in users:
            if user.org_slug != current:
                current = user.org_slug
                lines += ["", f"  {user.org_name} ({user.org_slug})  org_id {user.org_id}"]
            lines.append(f"    {role_names[user.role]:<12}{user.user_id}  {user.note}")
            lines.append(f"      {_curl(base, user)}")
    lines += ["", "Ctrl-C stops the API, the outbox drain and the embedded database.", ""]
    return "\n".join(lines)


def _environment() -> None:
    for name, value in template_environment().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("LOG_LEVEL", "INFO")
    # EMF metrics are CloudWatch's input format; locally they would only bury the logs.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # No instance metadata service here: without this, every AWS SDK credential lookup waits on it.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-north-1")


def _credential_environment(base: str) -> None:
    """Open Badges credentials locally: URLs on this API, keys generated into .localdev/ on first start."""
    os.environ.setdefault("PUBLIC_BASE_URL", base)
    if not os.environ.get("CREDENTIAL_KEYS_SECRET_ARN"):
        keyring_file = Path(os.environ.get("CREDENTIAL_KEYS_FILE") or state_dir() / "credential-keys.json")
        ensure_local_keyring(keyring_file)
        os.environ["CREDENTIAL_KEYS_FILE"] = str(keyring_file)
    get_settings.cache_clear()


def _terminate(signum: int, _: Any) -> None:
    # uvicorn re-raises the signal it shut down on; SIGTERM then unwinds like Ctrl-C, so the
    # drain loop and the embedded database are stopped in the finally blocks below.
    raise KeyboardInterrupt


def serve() -> None:
    _environment()
    logging.basicConfig(
        level=os.environ["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # pgserver narrates every initdb and pg_ctl call at INFO; its warnings and errors still show.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    port = int(os.environ.get("API_PORT") or 3000)
    sock = _bind(port)
    base = f"http://{HOST}:{port}"
    _credential_environment(base)
    database = open_database()
    drain: DrainLoop | None = None
    listener: InvocationListener | None = None
    try:
        os.environ["DATABASE_URL"] = database.url
        get_settings.cache_clear()
        applied = migrate(database_url=database.url)
        logger.info("migrations applied: %s", ", ".join(applied) or "none pending")

        users: list[demo.DemoUser] = []
        if os.environ.get("DEMO_DATA", "1") != "0":
            report = demo.load(get_database())
            users = demo.showcase_users()
            demo_line = (
                f"loaded {', '.join(report.loaded)}: {report.activities:,} activities, "
                f"{report.trainings:,} training completions"
                if report.loaded
                else "already loaded (re-runs never duplicate it)"
            )
            if report.topped_up:
                demo_line += (
                    f"; {report.topped_up} activities added to the featured mentors' last "
                    f"{demo.FEATURED_STREAK_WEEKS} weeks so their streaks are live today"
                )
            if report.loaded and report.skipped:
                demo_line += f"; {', '.join(report.skipped)} already present"
        else:
            demo_line = "skipped (DEMO_DATA=0)"

        table = routes()
        invoker = Invoker()
        schedule = drain_schedule()
        logical_ids = list(
            dict.fromkeys([route.function_logical_id for route in table] + [schedule.function_logical_id])
        )
        handlers = _handler_status(invoker, logical_ids)
        if handlers[schedule.function_logical_id] is None:
            quiet_idle_drains()
            drain = DrainLoop(invoker, schedule)
            # The database invokes the function by its logical id, which the listener maps to the loop.
            mode = get_database().query_one(
                "SELECT configure_lambda_invocation(:name, NULL, true) AS mode",
                name=schedule.function_logical_id,
            )
            listener = InvocationListener(
                database.url, dispatcher(schedule.function_logical_id, drain.wake, invoker.invoke)
            )
            drain_line = (
                f"{schedule.function_logical_id} invoked by the database trigger "
                f"({(mode or {}).get('mode')}), and with {schedule.input} every {DRAIN_INTERVAL_S} s"
            )
        else:
            drain_line = f"drain DISABLED: {schedule.function_logical_id} is not importable yet"
            logger.warning("outbox drain disabled: %s", handlers[schedule.function_logical_id])

        # Award events go to a local bus that logs them (and lists them at /_local/events).
        bus = LocalEventBus()
        events.set_events_client(bus)
        api = LocalApi(
            table,
            TokenAuthority.load_or_create(),
            invoker,
            cache(lambda: with_local_routes(build_document(table))),
            bus.events,
            featured_users(users),
        )
        server = uvicorn.Server(
            uvicorn.Config(api.app(), log_level=os.environ["LOG_LEVEL"].lower(), access_log=True)
        )
        print(startup_screen(base, database, demo_line, handlers, drain_line, users), flush=True)
        if drain:
            drain.start()
        if listener:
            listener.start()
        signal.signal(signal.SIGTERM, _terminate)
        server.run(sockets=[sock])
    finally:
        if listener:
            listener.stop()
        if drain:
            drain.stop()
        set_database(None)
        sock.close()
        database.stop()


def main() -> int:
    embedded = not os.environ.get("DATABASE_URL")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve()
    except MigrationError as error:
        print(f"\nmigration refused: {error}", file=sys.stderr)
        if embedded:
            print(
                f"The local database in {PGDATA} was migrated by an older checkout; "
                f"remove that directory to start afresh (the demo data is reloaded).",
                file=sys.stderr,
            )
        return 2
    print(
        "Stopped the HTTP API, the outbox drain" + (" and the embedded database." if embedded else "."),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
