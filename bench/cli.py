"""`python -m bench [options]`: load the data set, run the scenarios, print and save the results."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# The handlers' 200s log nothing at INFO; this keeps the reconcile job's summary line off the table.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="No application metrics to publish")
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

from bench import dataset, report, scratch  # noqa: E402
from bench.context import Bench, Options  # noqa: E402
from bench.scenarios import (  # noqa: E402
    awards,
    cold_start,
    evaluate,
    freshness,
    ingest,
    on_read,
    outbox,
    reconcile,
    server_read,
    stats,
    trigger,
)
from bench.server import new_database, raw_connection, scratch_database, use_database  # noqa: E402
from peer_badges import db as db_module  # noqa: E402

# Reconcile first: it awards what the loaded history earned, so the evaluation scenario starts from
# the steady state a live system is in. Ingest's single-row inserts commit; they use their own mentor.
SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "reconcile": reconcile.run,
    "stats": stats.run,
    "on_read": on_read.run,
    "server_read": server_read.run,
    "cold_start": cold_start.run,
    "evaluate": evaluate.run,
    "awards": awards.run,
    "ingest": ingest.run,
    "freshness": freshness.run,
    "trigger": trigger.run,
    "outbox": outbox.run,
}

QUICK = {"mentors": 150, "activities": 20, "definitions": 23, "probes": "50,500,5000", "ingest_rows": 2000}


def _probes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("give positive activity counts, e.g. 50,500,5000")
    return sizes


def parse(argv: list[str] | None) -> argparse.Namespace:
    defaults = dataset.Sizes()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, few iterations (~30 s smoke run)")
    parser.add_argument("--mentors", type=int, help=f"peer mentors per organisation ({defaults.mentors})")
    parser.add_argument("--activities", type=int, help=f"mean activities per mentor ({defaults.activities})")
    parser.add_argument("--years", type=int, help=f"years of history ({defaults.years})")
    parser.add_argument(
        "--definitions", type=int, help=f"badge definitions in the big org ({defaults.definitions})"
    )
    parser.add_argument(
        "--probes",
        type=_probes,
        help="activities of the probe mentors (" + ",".join(map(str, defaults.probes)) + ")",
    )
    parser.add_argument("--threads", type=int, default=8, help="contended award threads (8)")
    parser.add_argument("--ingest-rows", type=int, help="rows per bulk ingest (10000)")
    parser.add_argument("--ingest-mentors", type=int, default=200, help="mentors a bulk ingest touches (200)")
    parser.add_argument("--cold-runs", type=int, default=9, help="measured cold starts (9)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, help="results file (bench/results.json; --quick: bench/out/)")
    parser.add_argument(
        "--chart", type=Path, help="chart file (bench/latency_vs_activities.png; --quick: bench/out/)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    scale = parser.add_argument_group("scale run", "a separate run at production size (bench/scale.py)")
    scale.add_argument(
        "--scale",
        action="store_true",
        help="instead of the scenarios: load, reconcile, drain and stats at 100,000 mentors (~30-40 min)",
    )
    scale.add_argument("--scale-mentors", type=int, help="peer mentors in all three organisations (100000)")
    scale.add_argument("--scale-activities", type=int, help="mean activities per mentor (50)")
    scale.add_argument("--scale-seconds", type=float, help="measured seconds of each stats run (20)")
    scale.add_argument("--scale-readers", type=int, help="concurrent stats readers (8)")
    scale.add_argument(
        "--scale-reconcile",
        choices=["all", "big"],
        default="all",
        help="reconcile every organisation (all) or only the big one (big)",
    )
    scale.add_argument(
        "--scale-out", type=Path, help="results file (bench/scale_results.json; other sizes: bench/out/)"
    )
    args = parser.parse_args(argv)
    scale_options = ("scale_mentors", "scale_activities", "scale_seconds", "scale_readers", "scale_out")
    if not args.scale and (
        any(getattr(args, name) is not None for name in scale_options) or args.scale_reconcile != "all"
    ):
        parser.error("the --scale-* options need --scale")
    for name in ("scale_mentors", "scale_activities", "scale_readers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.only:
        unknown = set(args.only.split(",")) - set(SCENARIOS)
        if unknown:
            parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    return args


def _sizes(args: argparse.Namespace) -> dataset.Sizes:
    defaults = dataset.Sizes()
    quick = QUICK if args.quick else {}

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(args, name)
        return value if value is not None else quick.get(name, fallback)

    probes = pick("probes", defaults.probes)
    return dataset.Sizes(
        mentors=pick("mentors", defaults.mentors),
        activities=pick("activities", defaults.activities),
        years=pick("years", defaults.years),
        definitions=pick("definitions", defaults.definitions),
        probes=_probes(probes) if isinstance(probes, str) else probes,
    )


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.scale:
        from bench import scale

        return scale.main(args, _git_commit())
    sizes = _sizes(args)
    options = Options(
        quick=args.quick,
        threads=args.threads,
        ingest_rows=args.ingest_rows or (QUICK["ingest_rows"] if args.quick else 10_000),
        ingest_mentors=args.ingest_mentors,
        cold_runs=args.cold_runs,
    )
    out_dir = BENCH_DIR / "out" if args.quick else BENCH_DIR
    results_path = args.out or out_dir / "results.json"
    chart_path = args.chart or out_dir / "latency_vs_activities.png"
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    started, started_at, load_start = time.perf_counter(), datetime.now(UTC), os.getloadavg()[0]
    with scratch_database() as target:
        _say(f"database: {target.server}, scratch database created")
        settings = use_database(target.url)
        raw = raw_connection(target.url)
        _say(
            f"loading {sizes.mentors:,} mentors x ~{sizes.activities} activities x 3 orgs, probes {sizes.probes}"
        )
        data = dataset.load(raw, sizes)
        scratch.create(raw)
        _say(f"loaded {data.activities:,} activities, {data.trainings:,} trainings in {data.load_s:.1f} s")
        db, writer = new_database(settings), new_database(settings)
        db_module.set_database(db)  # the handlers' container connection
        bench = Bench(
            options=options, data=data, settings=settings, url=target.url, db=db, writer=writer, raw=raw
        )
        try:
            for name in chosen:
                began = time.perf_counter()
                _say(f"{name} ...")
                SCENARIOS[name](bench)
                _say(f"{name} done in {time.perf_counter() - began:.1f} s")
        finally:
            db_module.set_database(None)
            writer.close()
            raw.close()
    runtime = time.perf_counter() - started
    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "runtime_s": round(runtime, 1),
        "quick": args.quick,
        "git_commit": _git_commit(),
        "database": target.server,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        # Shared machines: other work running alongside inflates tails and cold starts; ratios less so.
        "load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "sizes": {
            "mentors_per_org": sizes.mentors,
            "mean_activities_per_mentor": sizes.activities,
            "years": sizes.years,
            "definitions_big_org": sizes.definitions,
            "probes": list(sizes.probes),
            "activities_loaded": data.activities,
            "trainings_loaded": data.trainings,
            "load_s": round(data.load_s, 1),
        },
        "options": {
            "threads": options.threads,
            "ingest_rows": options.ingest_rows,
            "ingest_mentors": options.ingest_mentors,
            "cold_runs": options.cold_runs,
        },
        "ratio": "ours / baseline, medians (for throughput rows: time per operation)",
    }
    report.write_json(results_path, meta, bench.results, bench.series)
    subtitle = (
        f"{target.server}, {os.cpu_count()} CPUs; {data.activities:,} activities, "
        f"{sizes.definitions} definitions; {started_at:%Y-%m-%d}"
    )
    if bench.series:
        report.chart(chart_path, bench.series, subtitle)
    print(report.table(bench.results))
    failed = [r.title for r in bench.results if r.passed is False]
    print(f"\n{len(bench.results)} results, {len(failed)} missed targets; runtime {runtime:.0f} s")
    print(f"wrote {_relative(results_path)}" + (f" and {_relative(chart_path)}" if bench.series else ""))
    return 1 if failed and args.strict else 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
