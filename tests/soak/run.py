"""`make soak`: a bounded load run against the local API on 127.0.0.1, then the invariants.

For SOAK_SECONDS (60 by default), at the same time:
- mentors register activities: SQL inserts into `activities`, as the organisations' app does (and
  a few soft deletes), each in its own transaction, from several connections;
- coordinators read their mentors' stats and the overview over HTTP (with If-None-Match now and then);
- admins edit badge definitions over HTTP: renames, and threshold changes that trigger backfills,
  with If-Match (a 412 from racing another admin is expected and retried).
The local server drains the outbox continuously, as `make run` does.

Afterwards, once the outboxes are drained: a reconcile (dry run) finds nothing missing and no stats
snapshot drifted, no award key has two rows, and every award has exactly one event per detail type
(BadgeAwarded always; HonorarMilestoneReached for payable milestone levels), all of them published
once. Prints throughput and p50/p99 latency per operation; exits 1 if any invariant or request failed.

Options: --seconds, --orgs, --mentors (per org), --rate (writes/s), --writers, --readers, --admins;
DATABASE_URL to run on another server (a fresh database is created there and dropped after).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localdev.lambda_runtime import REPO_ROOT, install_lambda_paths

install_lambda_paths()

import httpx  # noqa: E402

from localdev.local_bus import KEEP  # noqa: E402
from localdev.pg import create_database, drop_database, start_embedded  # noqa: E402
from peer_badges.db import Database, Json, connect, params_from_url  # noqa: E402
from peer_badges.migrations import migrate  # noqa: E402
from peer_badges.reconcile import reconcile_org  # noqa: E402
from peer_badges.settings import Settings  # noqa: E402

HOST = "127.0.0.1"
TYPES = ("assignment", "assignment", "visit", "call", "group_session")
TIERS = [5, 25, 100]
DEFINITIONS = {
    "first-activity": {"type": "threshold", "schema_version": 1, "threshold": 1},
    "visits": {
        "type": "tier",
        "schema_version": 1,
        "activity_types": ["visit", "call"],
        "tiers": [
            {"name": name, "threshold": n}
            for name, n in zip(("Bronze", "Silver", "Gold"), TIERS, strict=True)
        ],
    },
    "honorar": {
        "type": "milestone",
        "schema_version": 1,
        "activity_types": ["assignment"],
        "thresholds": [3, 15],
        "payable": True,
    },
    "steady": {"type": "streak", "schema_version": 1, "weeks": 3, "min_per_week": 1},
    "thank-you": {"type": "manual", "schema_version": 1},
}


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[operation].append(elapsed)

    def status(self, operation: str, status: int, detail: str = "") -> None:
        with self.lock:
            self.statuses[operation][status] += 1
            if status >= 500:
                self.errors.append(f"{operation}: {status} {detail[:300]}")

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# --- the world ------------------------------------------------------------------------------------


@dataclass
class Org:
    id: uuid.UUID
    admin: uuid.UUID
    coordinators: list[uuid.UUID]
    mentors: list[uuid.UUID]
    assigned: dict[uuid.UUID, list[uuid.UUID]]  # coordinator -> mentors
    definitions: dict[str, uuid.UUID]


def seed(db: Database, orgs: int, mentors_per_org: int) -> list[Org]:
    world = []
    for index in range(orgs):
        org_id = uuid.uuid4()
        db.query(
            "INSERT INTO organizations (id, slug, name) VALUES (:id, :slug, :name)",
            id=org_id,
            slug=f"soak-{index}-{org_id.hex[:6]}",
            name=f"Soak {index}",
        )
        admin = uuid.uuid4()
        coordinators = [uuid.uuid4() for _ in range(max(1, mentors_per_org // 10))]
        mentors = [uuid.uuid4() for _ in range(mentors_per_org)]
        members = (
            [(admin, "org_admin")]
            + [(c, "coordinator") for c in coordinators]
            + [(m, "peer_mentor") for m in mentors]
        )
        for user, role in members:
            db.query("INSERT INTO org_members VALUES (:o, :u, :r)", o=org_id, u=user, r=role)
        assigned: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for position, mentor in enumerate(mentors):
            coordinator = coordinators[position % len(coordinators)]
            assigned[coordinator].append(mentor)
            db.query(
                "INSERT INTO coordinator_assignments VALUES (:o, :c, :m)", o=org_id, c=coordinator, m=mentor
            )
        definitions = {}
        for key, criteria in DEFINITIONS.items():
            row = db.query_one(
                """INSERT INTO badge_definitions (org_id, key, name, criteria, created_at, updated_at)
                   VALUES (:o, :k, :n, CAST(:c AS jsonb), now() - interval '1 year', now() - interval '1 year')
                   RETURNING id""",
                o=org_id,
                k=key,
                n=key.replace("-", " ").title(),
                c=Json(criteria),
            )
            assert row is not None
            definitions[key] = row["id"]
        world.append(Org(org_id, admin, coordinators, mentors, dict(assigned), definitions))
    return world


# --- the load ---------------------------------------------------------------------------------------


def mentor_writer(
    url: str, world: list[Org], stop: threading.Event, stats: Stats, rng: random.Random, per_second: float
) -> None:
    settings = Settings(database_url=url)
    db = Database(lambda: connect(params_from_url(url), settings))
    today = datetime.now(UTC).date()
    interval = 1 / per_second
    next_write = time.monotonic()
    try:
        while not stop.is_set():
            # A steady arrival rate (catching up when behind), not a flood: the app's users type.
            next_write += interval
            stop.wait(max(0.0, next_write - time.monotonic()))
            org = rng.choice(world)
            mentor = rng.choice(org.mentors)
            if rng.random() < 0.08:
                with stats.timed("delete activity (SQL)"):
                    db.query(
                        """UPDATE activities SET deleted_at = now()
                            WHERE id = (SELECT id FROM activities WHERE org_id = :o AND peer_mentor_id = :m
                                           AND deleted_at IS NULL ORDER BY random() LIMIT 1)""",
                        o=org.id,
                        m=mentor,
                    )
                continue
            day = today - timedelta(days=rng.randrange(0, 70))
            with stats.timed("register activity (SQL)"):
                db.query(
                    """INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
                       VALUES (:o, :m, :t, :d, :minutes)""",
                    o=org.id,
                    m=mentor,
                    t=rng.choice(TYPES),
                    d=day,
                    minutes=rng.choice((30, 45, 60, 90)),
                )
    except Exception as error:  # the run reports it instead of dying silently in a thread
        stats.fail(f"writer: {type(error).__name__}: {error}")
    finally:
        db.close()


def coordinator_reader(
    base: str,
    tokens: dict[uuid.UUID, str],
    world: list[Org],
    stop: threading.Event,
    stats: Stats,
    rng: random.Random,
) -> None:
    etags: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            org = rng.choice(world)
            coordinator = rng.choice(org.coordinators)
            headers = {"Authorization": f"Bearer {tokens[coordinator]}"}
            if rng.random() < 0.5:
                operation, path = "overview (GET mentor-stats)", f"/orgs/{org.id}/mentor-stats?limit=50"
            else:
                mentor = rng.choice(org.assigned[coordinator])
                operation, path = "mentor stats (GET)", f"/orgs/{org.id}/mentors/{mentor}/stats"
            if path in etags and rng.random() < 0.3:
                headers["If-None-Match"] = etags[path]
            with stats.timed(operation):
                response = client.get(path, headers=headers)
            stats.status(operation, response.status_code, response.text)
            if response.status_code not in (200, 304):
                stats.fail(f"{operation}: unexpected {response.status_code} {response.text[:200]}")
            if "etag" in response.headers:
                etags[path] = response.headers["etag"]


def admin_editor(
    base: str,
    tokens: dict[uuid.UUID, str],
    world: list[Org],
    stop: threading.Event,
    stats: Stats,
    rng: random.Random,
) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            org = rng.choice(world)
            headers = {"Authorization": f"Bearer {tokens[org.admin]}"}
            key = rng.choice(("visits", "first-activity", "steady"))
            path = f"/orgs/{org.id}/badge-definitions/{org.definitions[key]}"
            with stats.timed("read definition (GET)"):
                current = client.get(path, headers=headers)
            stats.status("read definition (GET)", current.status_code, current.text)
            if current.status_code != 200:
                stats.fail(f"read definition: {current.status_code} {current.text[:200]}")
                continue
            body: dict[str, Any] = {"name": f"{key.title()} {rng.randrange(1000)}"}
            if key == "visits" and rng.random() < 0.5:
                # A criteria change re-evaluates the whole org (a quiet backfill).
                first = rng.choice((4, 5, 6))
                criteria = current.json()["criteria"]
                criteria["tiers"][0]["threshold"] = first
                body["criteria"] = criteria
            with stats.timed("edit definition (PATCH)"):
                response = client.patch(
                    path, json=body, headers={**headers, "If-Match": current.headers["etag"]}
                )
            stats.status("edit definition (PATCH)", response.status_code, response.text)
            if response.status_code not in (200, 412):
                stats.fail(f"edit definition: {response.status_code} {response.text[:200]}")
            stop.wait(0.5)


# --- the server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_api(url: str, state: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "API_PORT": str(port),
        "LOCALDEV_DIR": str(state),
        "DEMO_DATA": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    log = (state / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.run"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the local API exited: see {state / 'server.log'}")
            try:
                if httpx.get(f"{base}/_local/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the local API did not start within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database on DATABASE_URL's server, or on an embedded server in a temporary directory."""
    external = os.environ.get("DATABASE_URL")
    if external:
        url = create_database(external, prefix="pb_soak")
        try:
            yield url
        finally:
            drop_database(external, url)
        return
    with tempfile.TemporaryDirectory(prefix="peer-badges-soak-") as directory:
        Path(directory).chmod(0o755)
        server, server_url = start_embedded(Path(directory) / "data", cleanup_mode="delete")
        try:
            yield create_database(server_url, prefix="pb_soak")
        finally:
            server.cleanup()  # type: ignore[attr-defined]


# --- the invariants ----------------------------------------------------------------------------------


def wait_until_drained(db: Database, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        row = db.query_one(
            """SELECT (SELECT count(*) FROM evaluation_outbox WHERE status = 'pending') AS evaluations,
                      (SELECT count(*) FROM event_outbox WHERE published_at IS NULL) AS events"""
        )
        if row and row["evaluations"] == 0 and row["events"] == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"the outboxes were not drained within {timeout_s} s")


def check_invariants(db: Database, world: list[Org], base: str) -> list[str]:
    problems = []
    now = datetime.now(UTC)
    for org in world:
        report = reconcile_org(db, org.id, now=now, dry_run=True)
        if report.candidates:
            problems.append(f"reconcile found {report.candidates} missing awards in org {org.id}")
        drift = db.query("SELECT peer_mentor_id FROM mentor_stats_drift(:o)", o=org.id)
        if drift:
            problems.append(f"{len(drift)} stats snapshots drifted in org {org.id}")
    duplicates = db.query(
        """SELECT peer_mentor_id, badge_definition_id, level, count(*) AS n FROM earned_badges
            GROUP BY 1, 2, 3 HAVING count(*) > 1"""
    )
    if duplicates:
        problems.append(f"{len(duplicates)} award keys have more than one row")
    wrong_events = db.query(
        """SELECT e.id, e.criteria_snapshot ->> 'type' AS type,
                  count(o.id) FILTER (WHERE o.detail_type = 'BadgeAwarded') AS awarded,
                  count(o.id) FILTER (WHERE o.detail_type = 'HonorarMilestoneReached') AS honorar,
                  count(o.id) FILTER (WHERE o.published_at IS NULL) AS unpublished
             FROM earned_badges AS e LEFT JOIN event_outbox AS o ON o.earned_badge_id = e.id
            GROUP BY e.id
           HAVING count(o.id) FILTER (WHERE o.detail_type = 'BadgeAwarded') <> 1
               OR count(o.id) FILTER (WHERE o.detail_type = 'HonorarMilestoneReached')
                  <> CASE WHEN e.criteria_snapshot ->> 'type' = 'milestone'
                           AND (e.criteria_snapshot ->> 'payable')::boolean THEN 1 ELSE 0 END
               OR count(o.id) FILTER (WHERE o.published_at IS NULL) > 0"""
    )
    if wrong_events:
        problems.append(f"{len(wrong_events)} awards without exactly one published event per detail type")
    published = httpx.get(f"{base}/_local/events", timeout=30).json()["items"]
    keys = [(item.get("detail-type"), _badge_id(item)) for item in published]
    if len(keys) != len(set(keys)):
        problems.append(f"{len(keys) - len(set(keys))} events were published more than once")
    outbox = db.query_one("SELECT count(*) AS n FROM event_outbox")
    # The local bus lists its most recent KEEP events only.
    if outbox and len(keys) != min(outbox["n"], KEEP):
        problems.append(f"the bus lists {len(keys)} events, the outbox holds {outbox['n']}")
    return problems


def _badge_id(item: dict[str, Any]) -> str:
    detail = item.get("detail") or {}
    return str(detail.get("idempotency_key") or detail.get("id"))


# --- main -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    stats = Stats()
    rng = random.Random(args.seed)
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="peer-badges-soak-state-") as state:
        migrate(database_url=url)
        settings = Settings(database_url=url)
        db = Database(lambda: connect(params_from_url(url), settings))
        world = seed(db, args.orgs, args.mentors)
        print(
            f"soak: {args.orgs} orgs x {args.mentors} mentors, {args.seconds:.0f} s, {args.rate:.0f} writes/s "
            f"from {args.writers} writers, {args.readers} readers, {args.admins} admins, on {HOST}",
            flush=True,
        )
        with local_api(url, Path(state)) as base:
            users = [u for org in world for u in (org.admin, *org.coordinators)]
            tokens = {
                user: httpx.post(f"{base}/_local/token", json={"sub": str(user)}, timeout=10).json()[
                    "access_token"
                ]
                for user in users
            }
            stop = threading.Event()
            workers: list[tuple[Callable[..., None], tuple[Any, ...]]] = (
                [
                    (
                        mentor_writer,
                        (url, world, stop, stats, random.Random(rng.random()), args.rate / args.writers),
                    )
                    for _ in range(args.writers)
                ]
                + [
                    (coordinator_reader, (base, tokens, world, stop, stats, random.Random(rng.random())))
                    for _ in range(args.readers)
                ]
                + [
                    (admin_editor, (base, tokens, world, stop, stats, random.Random(rng.random())))
                    for _ in range(args.admins)
                ]
            )
            threads = [
                threading.Thread(target=target, args=arguments, daemon=True) for target, arguments in workers
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            stop.wait(args.seconds)
            stop.set()
            for thread in threads:
                thread.join(60)
            elapsed = time.monotonic() - started
            drain_s = wait_until_drained(db, timeout_s=max(120, args.seconds * 2))
            problems = check_invariants(db, world, base)
        totals = db.query_one(
            """SELECT (SELECT count(*) FROM activities) AS activities, (SELECT count(*) FROM earned_badges) AS awards,
                      (SELECT count(*) FROM event_outbox) AS events,
                      (SELECT count(*) FROM evaluation_outbox WHERE status = 'parked') AS parked"""
        )
        db.close()

    print(f"\n{'operation':<30}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for operation, values in sorted(stats.latencies.items()):
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses.get(operation, {}).items()))
        print(
            f"{operation:<30}{len(values):>8}{len(values) / elapsed:>9.1f}{percentile(values, 0.5) * 1000:>9.1f}"
            f"{percentile(values, 0.99) * 1000:>9.1f}{max(values) * 1000:>9.1f}  {codes}"
        )
    print(f"\nafter the load: outboxes drained in {drain_s:.1f} s; {totals}")
    if totals and totals["parked"]:
        problems.append(f"{totals['parked']} evaluation outbox rows were parked")
    for problem in stats.errors + problems:
        print(f"FAIL {problem}")
    print("soak: OK, every invariant holds" if not (stats.errors or problems) else "soak: FAILED")
    return 1 if stats.errors or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "60")))
    parser.add_argument("--orgs", type=int, default=2)
    parser.add_argument("--mentors", type=int, default=60, help="peer mentors per organisation")
    parser.add_argument("--writers", type=int, default=4, help="threads registering activities")
    parser.add_argument(
        "--rate", type=float, default=40, help="activity writes per second, all writers together"
    )
    parser.add_argument("--readers", type=int, default=3, help="coordinator threads reading stats")
    parser.add_argument("--admins", type=int, default=1, help="admin threads editing definitions")
    parser.add_argument("--seed", type=int, default=20261122)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
