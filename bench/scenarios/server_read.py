"""The stats read measured at the server with pgbench: no Python driver, no network stack to speak of.

For the smallest and largest probe mentors, three custom pgbench scripts (ids as literals):
the bare primary-key lookup of mentor_stats, mentor_stats_read_one, and the whole GET /stats
statement (mentor_stats_for_caller, the mentor reading their own stats). For the 500 and 5,000
probes also the on-read competitor (bench/on_read.sql, see on_read.py) beside mentor_stats_read_one:
the same comparison as on_read.py without the Python driver, whose fixed cost per call (the same for
both) hides how much database time each takes. Each runs as
`pgbench -n -M extended -T <s> -f script` (unnamed extended-protocol statements, as the handlers send
them), one client, alternating the scripts over a few rounds so load changes hit them all. Medians
and p95 come from pgbench's per-transaction log; pgbench's own "latency average" is in `extra`.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from bench.context import Bench, BenchError
from bench.results import Result, Target
from bench.scenarios import on_read
from bench.timing import Sample
from peer_badges.stats import _STATS_WITH_ACCESS


def stats_statement(org: UUID, mentor: UUID) -> str:
    """The GET /stats statement exactly as the handler sends it (peer_badges.stats), the mentor as the
    caller, its parameters as literals; today is left to the server's clock (now()), as in production."""
    values = {
        "org_id": f"'{org}'",
        "user_id": f"'{mentor}'",
        "mentor_id": f"'{mentor}'",
        "today": "NULL",
        "now": "now()",
    }

    def literal(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise BenchError(f"the stats statement has a parameter the bench does not know: {match.group(0)}")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(literal, _STATS_WITH_ACCESS).strip() + ";\n"


SCRIPTS = {
    "pk": "SELECT * FROM mentor_stats WHERE org_id = '{org}' AND peer_mentor_id = '{mentor}';\n",
    "read_one": "SELECT * FROM mentor_stats_read_one('{org}', '{mentor}'::uuid, NULL, now());\n",
}
ON_READ_SCRIPT = "SELECT * FROM bench_stats_on_read('{org}', '{mentor}'::uuid, NULL, now());\n"
_PLACEHOLDER = re.compile(r"(?<![:\w]):([a-z_]+)")
_AVERAGE = re.compile(r"latency average = ([0-9.]+) ms")


def find_pgbench() -> Path | None:
    """pgbench next to the embedded server's binaries (pgserver's pginstall/bin), else on PATH."""
    try:
        import pgserver

        shipped = Path(pgserver.__file__).resolve().parent / "pginstall" / "bin" / "pgbench"
        if os.access(shipped, os.X_OK):
            return shipped
    except ImportError:
        pass
    found = shutil.which("pgbench")
    return Path(found) if found else None


def libpq_env(url: str) -> dict[str, str]:
    """The scratch database as libpq environment variables (no password on the command line)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    env = dict(os.environ)
    env["PGHOST"] = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    env["PGPORT"] = str(parsed.port or 5432)
    env["PGUSER"] = unquote(parsed.username or "postgres")
    env["PGDATABASE"] = (parsed.path or "/postgres").lstrip("/") or "postgres"
    env["PGSSLMODE"] = query.get("sslmode", ["disable"])[0]
    if parsed.password:
        env["PGPASSWORD"] = unquote(parsed.password)
    env["PGAPPNAME"] = "peer-badges-bench"
    return env


def _pgbench(
    pgbench: Path, env: dict[str, str], script: Path, seconds: int, logs: Path, tag: str
) -> tuple[float, list[float], int]:
    """One pgbench run: (latency average ms, per-transaction latencies ms, transactions)."""
    prefix = logs / tag
    done = subprocess.run(
        [
            str(pgbench),
            "-n",
            "-M",
            "extended",
            "-c",
            "1",
            "-T",
            str(seconds),
            "-f",
            str(script),
            "-l",
            "--log-prefix",
            str(prefix),
        ],
        env=env,
        cwd=logs,
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    average = _AVERAGE.search(done.stdout)
    if done.returncode != 0 or average is None:
        raise BenchError(f"pgbench {script.name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    latencies: list[float] = []
    for log in logs.glob(f"{tag}.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                latencies.append(int(fields[2]) / 1000)  # microseconds
        log.unlink()
    if not latencies:
        raise BenchError(f"pgbench {script.name} wrote no transaction log")
    return float(average.group(1)), latencies, len(latencies)


def run(bench: Bench) -> None:
    pgbench = find_pgbench()
    if pgbench is None:
        bench.add(
            Result(
                id="server_read",
                title="stats read at the server (pgbench)",
                median=0.0,
                p95=0.0,
                note="not measured: no pgbench next to pgserver's binaries or on PATH",
            )
        )
        return
    sizes = sorted(bench.data.probes)
    chosen = sorted({sizes[0], sizes[-1]})
    versus = sorted(size for size in on_read.TARGETS if size in bench.data.probes)
    org = bench.data.big.id
    on_read.install(bench)
    env = libpq_env(bench.url)
    # Full run: 3 rounds x 6 scripts x 3 s = 54 s; --quick: 1 round x 1 s.
    rounds, seconds = (1, 1) if bench.options.quick else (3, 3)
    averages: dict[tuple[str, int], list[float]] = {}
    latencies: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        work = Path(tmp)
        scripts: dict[tuple[str, int], Path] = {}
        for size in chosen:
            mentor: UUID = bench.data.probes[size]
            texts = {name: text.format(org=org, mentor=mentor) for name, text in SCRIPTS.items()}
            texts["statement"] = stats_statement(org, mentor)
            for name, text in texts.items():
                path = work / f"{name}_{size}.sql"
                path.write_text(text)
                scripts[name, size] = path
        for size in versus:
            mentor = bench.data.probes[size]
            for name, text in (("read_one", SCRIPTS["read_one"]), ("on_read", ON_READ_SCRIPT)):
                path = work / f"{name}_{size}.sql"
                path.write_text(text.format(org=org, mentor=mentor))
                scripts[name, size] = path
        for round_no in range(rounds):
            for key, path in scripts.items():
                average, times, _ = _pgbench(pgbench, env, path, seconds, work, f"{path.stem}_{round_no}")
                averages.setdefault(key, []).append(average)
                latencies.setdefault(key, []).extend(times)

    def sample(key: tuple[str, int]) -> Sample:
        return Sample(tuple(latencies[key]))

    def extra(key: tuple[str, int]) -> dict[str, object]:
        return {
            "latency_average_ms": round(statistics.mean(averages[key]), 4),
            "latency_average_ms_per_round": [round(a, 4) for a in averages[key]],
        }

    note = f"pgbench -n -M extended, 1 client, {rounds} x {seconds} s per script"
    for size in chosen:
        pk = sample(("pk", size))
        pk_average = round(statistics.mean(averages["pk", size]), 4)
        bench.add(
            Result.of(
                f"server_read_{size}",
                f"server: mentor_stats_read_one, {size:,} activities",
                sample(("read_one", size)),
                "PK lookup of mentor_stats (pgbench)",
                pk,
                Target("ratio_max", 3),
                note=note,
                **extra(("read_one", size)),
                pk_latency_average_ms=pk_average,
                pgbench=str(pgbench),
            )
        )
        bench.add(
            Result.of(
                f"server_stats_statement_{size}",
                f"server: GET /stats statement, {size:,} activities",
                sample(("statement", size)),
                "PK lookup of mentor_stats (pgbench)",
                pk,
                Target("ratio_max", 3),
                note="mentor_stats_for_caller, caller = the mentor; " + note,
                **extra(("statement", size)),
                pk_latency_average_ms=pk_average,
                pgbench=str(pgbench),
            )
        )
    for size in versus:
        speedup = on_read.TARGETS[size]
        bench.add(
            Result.of(
                f"on_read_server_{size}",
                f"server: stats read vs on-read SQL, {size:,} activities",
                sample(("read_one", size)),
                "one SQL function computing the stats from activities (pgbench)",
                sample(("on_read", size)),
                Target("ratio_max", 1 / speedup),
                note=f"ours >= {speedup}x faster; " + note,
                **extra(("read_one", size)),
                on_read_latency_average_ms=round(statistics.mean(averages["on_read", size]), 4),
            )
        )
