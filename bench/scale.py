"""`python -m bench --scale`: the real code paths at production size (100,000 peer mentors, ~5M activities).

Separate from the scenario run (`make bench`): no baselines, one pass per figure, minutes not seconds.
In order, on one scratch database (bench.server, as the normal run):

1. load: bench.dataset.load (COPY through the real tables and triggers), the three demo organisations,
   `--scale-mentors` peer mentors in all (split evenly, plus the big organisation's probe mentors) with
   `--scale-activities` activities each on average;
2. reconcile: `peer_badges.reconcile.reconcile_org` over every organisation, as the evaluate_badges
   handler's daily `reconcile` action calls it (first run: awards the whole history quietly; second:
   steady state), through a connection with the evaluate_badges function's settings from template.yaml
   (its statement timeout: `DB_STATEMENT_TIMEOUT_MS` there, else the layer's default);
3. drain: every peer mentor queued as an activity write queues them (`queue_evaluations(..., 'activity',
   false)`, what the activity triggers call), then `peer_badges.mentor_evaluation.drain_outbox` with the
   scheduled drain's batch settings (evaluate_badges.jobs.Job defaults) and the function's statement
   timeout, invoked again and again until nothing is due: one worker process, then (everyone queued
   again) two in parallel;
4. stats: 1, then `--scale-readers` processes, each its own connection as a Lambda container has, calling
   the get_stats handler for random mentors for `--scale-seconds` after a warm-up.

Writes `bench/scale_results.json` (other sizes: `bench/out/scale_results.json`) after every step, so an
interrupted run keeps what it measured, and prints a table at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from bench import dataset
from bench.context import call_stats_handler, stats_event
from bench.server import new_database, raw_connection, scratch_database, use_database
from evaluate_badges.jobs import Job
from localdev.lambda_runtime import function_settings
from peer_badges import db as db_module
from peer_badges.db import Database
from peer_badges.mentor_evaluation import drain_outbox
from peer_badges.reconcile import all_org_ids, reconcile_org
from peer_badges.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
MENTORS = 100_000  # in all three organisations
ACTIVITIES = 50  # mean per mentor
SECONDS = 20.0  # measured window of each stats run
WARMUP_S = 5.0
READERS = 8
DRAIN_WORKERS = 2
# The scheduled drain's input is {"action": "drain"}: the job's defaults are the production batch settings.
PRODUCTION_JOB = Job()
JOB_FUNCTION = "EvaluateBadgesFunction"  # template.yaml: the drain and reconcile jobs run in it
# Used only to finish an organisation whose reconcile failed under the job's statement timeout, and
# labelled as such: the most Settings allows.
RETRY_STATEMENT_TIMEOUT_MS = 300_000
FIGURES = 7  # load, reconcile x 2, drain x 2, stats x 2

QUEUE_ALL_SQL = """
SELECT queue_evaluations(array_agg(m.org_id ORDER BY m.org_id, m.user_id),
                         array_agg(m.user_id ORDER BY m.org_id, m.user_id), 'activity', false) AS queued
  FROM org_members AS m
 WHERE m.role = 'peer_mentor'
"""
PENDING_SQL = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'parked') AS parked
  FROM evaluation_outbox
"""


def _job_function() -> tuple[int | None, int | None]:
    """evaluate_badges' Timeout (s) and DB_STATEMENT_TIMEOUT_MS from template.yaml (None: not a literal)."""
    properties = function_settings(JOB_FUNCTION)
    variables = properties.get("Environment", {}).get("Variables", {})
    timeout, statement = properties.get("Timeout"), variables.get("DB_STATEMENT_TIMEOUT_MS")
    return (
        timeout if isinstance(timeout, int) else None,
        int(statement) if isinstance(statement, int | str) and str(statement).isdigit() else None,
    )


LAMBDA_TIMEOUT_S, JOB_STATEMENT_TIMEOUT_MS = _job_function()


def _say(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Figure:
    id: str
    title: str
    metrics: dict[str, Any]  # the figures themselves: seconds, mentors_per_s, p50_ms, ...
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, **self.metrics, "note": self.note, "extra": self.extra}


@dataclass
class Run:
    args: argparse.Namespace
    out: Path
    meta: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        _say(
            f"{figure.title}: {_metrics_text(figure.metrics)}" + (f" ({figure.note})" if figure.note else "")
        )
        self.save()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        body = {"meta": self.meta, "figures": [f.as_json() for f in self.figures]}
        self.out.write_text(json.dumps(body, indent=2, default=str) + "\n")


# --- child processes -------------------------------------------------------------------------


def _child(
    work: Callable[..., Any], index: int, ready: Any, results: Any, args: tuple[Any, ...]
) -> None:  # pragma: no cover - runs in a forked process
    try:
        results.put((index, True, work(index, ready, *args)))
    except BaseException:
        results.put((index, False, traceback.format_exc()))


def _in_processes(work: Callable[..., Any], count: int, *args: Any) -> tuple[list[Any], float]:
    """Run `work(index, barrier, *args)` in `count` forked processes; each calls barrier.wait() when it is
    ready to be measured. Returns their results (in index order) and the wall time from the moment all
    were ready until the last one answered.

    Fork, not spawn: the children inherit the loaded modules and the settings. The parent closes the
    container connection before forking, and the children never touch the parent's other connections
    (they leave with os._exit, so nothing is closed on the parent's behalf)."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(count + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_child, args=(work, index, ready, results, args), daemon=True)
        for index in range(count)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=900)
    started = time.perf_counter()
    answers: dict[int, Any] = {}
    failures: list[str] = []
    for _ in processes:
        index, ok, payload = results.get()
        answers[index] = payload
        if not ok:
            failures.append(f"process {index}:\n{payload}")
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    if failures:
        raise RuntimeError("a child process failed:\n" + "\n".join(failures))
    return [answers[index] for index in range(count)], elapsed


def _container_database(settings: Settings) -> Database:
    """A process's own Database, installed as the layer's container connection (get_database())."""
    db = new_database(settings)
    db_module.set_database(db)
    db.query("SELECT 1")
    return db


def _drain_worker(index: int, ready: Any, settings: Settings) -> dict[str, Any]:
    """The scheduled drain invoked again and again until it finds nothing due."""
    db = _container_database(settings)
    ready.wait(timeout=900)
    started = time.perf_counter()
    invocations: list[float] = []
    totals = {"mentors": 0, "claimed_rows": 0, "succeeded": 0, "retried": 0, "parked": 0, "awarded": 0}
    while True:
        began = time.perf_counter()
        report = drain_outbox(
            db,
            datetime.now(UTC),
            f"scale-drain-{index}",
            batch_size=PRODUCTION_JOB.batch_size,
            max_batches=PRODUCTION_JOB.max_batches,
        )
        invocations.append(time.perf_counter() - began)
        totals["mentors"] += report.mentors
        totals["claimed_rows"] += report.claimed_rows
        totals["succeeded"] += report.succeeded
        totals["retried"] += report.retried
        totals["parked"] += report.parked
        totals["awarded"] += len(report.awarded)
        if report.mentors == 0:
            break
    return {**totals, "seconds": time.perf_counter() - started, "invocations": invocations}


def _stats_reader(
    index: int,
    ready: Any,
    settings: Settings,
    mentors: list[tuple[UUID, UUID]],
    warmup_s: float,
    seconds: float,
) -> dict[str, Any]:
    """One Lambda container answering GET .../stats for random mentors, one request after another."""
    _container_database(settings)
    rng = random.Random(f"scale-reader-{index}")
    until = time.perf_counter() + warmup_s
    while time.perf_counter() < until:
        call_stats_handler(stats_event(*rng.choice(mentors)))
    ready.wait(timeout=900)
    times: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    until = started + seconds
    while time.perf_counter() < until:
        times.append(call_stats_handler(stats_event(*rng.choice(mentors)))[0])
    return {
        "times_ms": times,
        "seconds": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started,
    }


# --- the steps -------------------------------------------------------------------------------


def _load(run: Run, raw: Any, sizes: dataset.Sizes) -> dataset.Dataset:
    _say(
        f"loading {sizes.mentors:,} mentors x ~{sizes.activities} activities x 3 orgs "
        f"(~{3 * sizes.mentors * sizes.activities:,} activities), probes {sizes.probes}"
    )
    data = dataset.load(raw, sizes)
    counts = raw.run(
        """SELECT (SELECT count(*) FROM org_members WHERE role = 'peer_mentor'),
                  (SELECT count(*) FROM mentor_stats), (SELECT count(*) FROM mentor_week_activity),
                  pg_database_size(current_database())"""
    )[0]
    mentors, snapshots, buckets, size = (int(v) for v in counts)
    run.meta["sizes"].update(
        peer_mentors=mentors,
        activities_loaded=data.activities,
        trainings_loaded=data.trainings,
        database_mb_after_load=round(size / 2**20),
    )
    run.add(
        Figure(
            "load",
            f"load {data.activities:,} activities for {mentors:,} mentors (COPY, real triggers)",
            {"seconds": round(data.load_s, 1), "activities_per_s": round(data.activities / data.load_s)},
            note=f"{snapshots:,} stats snapshots, {buckets:,} week buckets; database {size / 2**30:.1f} GB",
            extra={"trainings": data.trainings, "mentor_stats_rows": snapshots, "week_bucket_rows": buckets},
        )
    )
    return data


def _reconcile_pass(
    run: Run, settings: Settings, db: Database, org_ids: list[UUID], slugs: dict[UUID, str], label: str
) -> tuple[float, list[dict[str, Any]]]:
    """reconcile_org for each organisation in turn, as jobs.reconcile does (one failure does not stop
    the others); an organisation that fails is then finished on a connection with a longer statement
    timeout, and reported as such."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    total = 0.0
    for org_id in org_ids:
        began = time.perf_counter()
        row: dict[str, Any] = {"org": slugs[org_id]}
        try:
            report = reconcile_org(db, org_id, now=now, correlation_id=f"scale-{label}")
        except Exception as error:
            failed_after = time.perf_counter() - began
            row["failed_after_s"] = round(failed_after, 1)
            row["error"] = f"{type(error).__name__}: {error}"[:300]
            _say(f"reconcile {label} {slugs[org_id]} FAILED after {failed_after:.1f} s: {row['error']}")
            patient = new_database(
                settings.model_copy(update={"db_statement_timeout_ms": RETRY_STATEMENT_TIMEOUT_MS})
            )
            began = time.perf_counter()
            report = reconcile_org(patient, org_id, now=now, correlation_id=f"scale-{label}-retry")
            patient.close()
            row["retried_with_statement_timeout_ms"] = RETRY_STATEMENT_TIMEOUT_MS
        seconds = time.perf_counter() - began
        total += seconds + row.get("failed_after_s", 0.0)
        row.update(
            seconds=round(seconds, 1),
            mentors=report.mentors,
            definitions=report.definitions,
            candidates=report.candidates,
            awarded=len(report.awarded),
            repaired_snapshots=report.repaired_snapshots,
            mentors_per_s=round(report.mentors / seconds, 1) if seconds else None,
        )
        _say(
            f"reconcile {label} {slugs[org_id]}: {seconds:.1f} s, {report.mentors:,} mentors, "
            f"{report.definitions} definitions, {len(report.awarded):,} awarded"
        )
        rows.append(row)
    return total, rows


def _reconcile(run: Run, settings: Settings, db: Database, data: dataset.Dataset) -> None:
    slugs = {org.id: slug for slug, org in data.orgs.items()}
    org_ids = all_org_ids(db)
    scope = "every organisation"
    if run.args.scale_reconcile == "big":
        org_ids, scope = [data.big.id], f"the big organisation ({dataset.BIG_ORG}) only"
    for label, title in (("first", "reconcile first run"), ("steady", "reconcile steady state")):
        seconds, rows = _reconcile_pass(run, settings, db, org_ids, slugs, label)
        mentors = sum(r["mentors"] for r in rows)
        awarded = sum(r["awarded"] for r in rows)
        failed = [r["org"] for r in rows if "error" in r]
        notes = [f"{scope}; {awarded:,} awarded"]
        if failed:
            notes.append(
                f"FAILED under the job's {settings.db_statement_timeout_ms} ms statement timeout: "
                f"{', '.join(failed)} (finished with {RETRY_STATEMENT_TIMEOUT_MS // 1000} s; time includes the failed attempt)"
            )
        if label == "steady" and awarded:
            notes.append("the steady-state run awarded something the first run missed")
        longest = max(r["seconds"] + r.get("failed_after_s", 0) for r in rows)
        if LAMBDA_TIMEOUT_S and longest > LAMBDA_TIMEOUT_S:
            notes.append(
                f"an organisation took {longest:.0f} s, over the {LAMBDA_TIMEOUT_S} s Lambda timeout"
            )
        run.add(
            Figure(
                f"reconcile_{label}",
                f"{title}, {mentors:,} mentors",
                {
                    "seconds": round(seconds, 1),
                    "mentors_per_s": round(mentors / seconds, 1),
                    "awarded": awarded,
                },
                note="; ".join(notes),
                extra={"organisations": rows},
            )
        )


def _settle(run: Run, settings: Settings, control: Database) -> None:
    """What the reconcile left for the drain (dependants of quiet awards, sql/022), drained untimed: the
    every-minute drain would have done it long before the burst."""
    before = control.query_one(PENDING_SQL) or {}
    (result,), seconds = _in_processes(_drain_worker, 1, settings)
    run.meta["settled_before_drain"] = {
        "pending_rows": int(before.get("pending") or 0),
        "mentors": result["mentors"],
        "seconds": round(seconds, 1),
        "awarded": result["awarded"],
    }
    _say(f"settled what the reconcile queued: {result['mentors']:,} mentors in {seconds:.1f} s")


def _drain(run: Run, settings: Settings, control: Database, workers: int) -> None:
    began = time.perf_counter()
    row = control.query_one(QUEUE_ALL_SQL) or {}
    queue_s = time.perf_counter() - began
    queued = int(row.get("queued") or 0)
    _say(f"queued {queued:,} mentors in {queue_s:.1f} s; draining with {workers} worker(s)")
    results, seconds = _in_processes(_drain_worker, workers, settings)
    after = control.query_one(PENDING_SQL) or {}
    mentors = sum(r["mentors"] for r in results)
    invocations = [s for r in results for s in r["invocations"]]
    retried = sum(r["retried"] for r in results)
    parked = sum(r["parked"] for r in results)
    notes = [
        f"{len(invocations)} invocations of batch {PRODUCTION_JOB.batch_size} x {PRODUCTION_JOB.max_batches}, "
        f"longest {max(invocations):.1f} s"
    ]
    if retried or parked:
        notes.append(f"{retried} retried, {parked} parked")
    if int(after.get("pending") or 0):
        notes.append(f"{after['pending']} rows still pending afterwards")
    if LAMBDA_TIMEOUT_S and max(invocations) > LAMBDA_TIMEOUT_S:
        notes.append(f"an invocation exceeded the {LAMBDA_TIMEOUT_S} s Lambda timeout")
    run.add(
        Figure(
            f"drain_{workers}_worker{'s' if workers > 1 else ''}",
            f"drain {queued:,} queued mentors, {workers} worker{'s' if workers > 1 else ''}",
            {
                "seconds": round(seconds, 1),
                "mentors_per_s": round(mentors / seconds, 1),
                "mentors": mentors,
                "awarded": sum(r["awarded"] for r in results),
            },
            note="; ".join(notes),
            extra={
                "queued": queued,
                "queue_s": round(queue_s, 2),
                "claimed_rows": sum(r["claimed_rows"] for r in results),
                "retried": retried,
                "parked": parked,
                "pending_after": int(after.get("pending") or 0),
                "per_worker": [
                    {
                        "mentors": r["mentors"],
                        "seconds": round(r["seconds"], 1),
                        "invocations": len(r["invocations"]),
                    }
                    for r in results
                ],
                "invocation_s_max": round(max(invocations), 2),
                "batch_size": PRODUCTION_JOB.batch_size,
                "max_batches": PRODUCTION_JOB.max_batches,
            },
        )
    )


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _stats(run: Run, settings: Settings, data: dataset.Dataset, readers: int) -> None:
    mentors = [(org.id, mentor) for org in data.orgs.values() for mentor in org.mentors]
    seconds, warmup = run.args.scale_seconds, WARMUP_S
    _say(f"stats: {readers} reader(s), {warmup:.0f} s warm-up, {seconds:.0f} s measured")
    results, _ = _in_processes(_stats_reader, readers, settings, mentors, warmup, seconds)
    times = sorted(t for r in results for t in r["times_ms"])
    reads_per_s = sum(len(r["times_ms"]) / r["seconds"] for r in results)
    # The readers' own CPU in cores (handler, driver, JSON); the rest went to the server and anything else.
    cpu_share = sum(r["cpu_s"] / r["seconds"] for r in results)
    run.add(
        Figure(
            f"stats_{readers}_reader{'s' if readers > 1 else ''}",
            f"get_stats, {readers} concurrent reader{'s' if readers > 1 else ''}, random of {len(mentors):,} mentors",
            {
                "p50_ms": round(_percentile(times, 0.50), 2),
                "p95_ms": round(_percentile(times, 0.95), 2),
                "p99_ms": round(_percentile(times, 0.99), 2),
                "reads_per_s": round(reads_per_s, 1),
            },
            note=f"{len(times):,} reads; readers' own CPU {cpu_share:.2f} cores of {os.cpu_count()}",
            extra={
                "reads": len(times),
                "seconds": seconds,
                "warmup_s": warmup,
                "max_ms": round(times[-1], 2),
            },
        )
    )


# --- entry point -----------------------------------------------------------------------------


def _machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kb = int(meminfo.readline().split()[1])
        memory = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs{memory}"


def _metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int | float) else f"{k} {v}" for k, v in metrics.items())


def table(figures: list[Figure]) -> str:
    lines = [f"{'figure':<62} {'value':<58} note", "-" * 150]
    lines += [f"{f.title:<62} {_metrics_text(f.metrics):<58} {f.note}" for f in figures]
    return "\n".join(lines)


def main(args: argparse.Namespace, git_commit: str | None) -> int:
    total = args.scale_mentors or MENTORS
    per_org = math.ceil(total / 3)
    sizes = dataset.Sizes(mentors=per_org, activities=args.scale_activities or ACTIVITIES)
    args.scale_seconds = args.scale_seconds or SECONDS
    readers = args.scale_readers or READERS
    full = per_org * 3 >= MENTORS and sizes.activities == ACTIVITIES
    out = args.scale_out or (BENCH_DIR if full else BENCH_DIR / "out") / "scale_results.json"
    started, started_at, load_start = time.perf_counter(), datetime.now(UTC), os.getloadavg()[0]
    with scratch_database() as target:
        _say(f"database: {target.server}, scratch database created")
        settings = use_database(target.url)  # get_stats: the layer's defaults, as its function has
        job = settings
        if JOB_STATEMENT_TIMEOUT_MS:
            job = settings.model_copy(update={"db_statement_timeout_ms": JOB_STATEMENT_TIMEOUT_MS})
        raw = raw_connection(target.url)
        run = Run(
            args,
            out,
            {
                "started_at": started_at.isoformat(timespec="seconds"),
                "complete": False,
                "git_commit": git_commit,
                "database": target.server,
                "server_version": str(raw.run("SHOW server_version")[0][0]),
                "python": platform.python_version(),
                "machine": _machine(),
                "load_average_start": round(load_start, 2),
                "statement_timeout_ms": {
                    "jobs": job.db_statement_timeout_ms,
                    "get_stats": settings.db_statement_timeout_ms,
                },
                "job_lambda_timeout_s": LAMBDA_TIMEOUT_S,
                "sizes": {
                    "mentors_asked": total,
                    "mentors_per_org": per_org,
                    "mean_activities_per_mentor": sizes.activities,
                    "years": sizes.years,
                    "definitions_big_org": sizes.definitions,
                    "probes": list(sizes.probes),
                },
                "drain": {
                    "batch_size": PRODUCTION_JOB.batch_size,
                    "max_batches": PRODUCTION_JOB.max_batches,
                    "workers": [1, DRAIN_WORKERS],
                },
                "stats": {"readers": [1, readers], "seconds": args.scale_seconds, "warmup_s": WARMUP_S},
            },
        )
        try:
            data = _load(run, raw, sizes)
            db = _container_database(job)
            _reconcile(run, job, db, data)
            # The container connection is closed before any fork (the children open their own).
            db_module.set_database(None)
            raw.run("ANALYZE")  # what autovacuum does after the reconcile's inserts, untimed
            control = new_database(job)
            _settle(run, job, control)
            _drain(run, job, control, 1)
            _drain(run, job, control, DRAIN_WORKERS)
            _stats(run, settings, data, 1)
            _stats(run, settings, data, readers)
            control.close()
        finally:
            db_module.set_database(None)
            raw.close()
            runtime = time.perf_counter() - started
            run.meta.update(
                runtime_s=round(runtime, 1),
                load_average_end=round(os.getloadavg()[0], 2),
                complete=len(run.figures) == FIGURES,
            )
            run.save()
    print(table(run.figures))
    print(f"\n{len(run.figures)} figures; runtime {runtime:.0f} s; wrote {out}")
    return 0
