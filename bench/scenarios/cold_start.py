"""Cold start: a fresh Python process imports the get_stats handler and answers its first request.

Each run is a new interpreter (bench/cold_child.py) timed from before the handler import to the
first response, connection set-up included, as a Lambda init plus first invocation. The baseline
is the least any cold start must do: import the driver, connect, one primary-key lookup.

Bytecode: the children use a private pycache (PYTHONPYCACHEPREFIX) that a discarded warm-up run
fills, so the main figure is a deployment package with compiled bytecode. A second figure uses a
copy of that cache without the first-party entries (layer and function code): a package shipped
without __pycache__, where Python compiles the layer on every cold start. Nothing writes bytecode
during the measured runs, and the three kinds of run alternate.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.context import Bench, BenchError, stats_event
from bench.results import Result, Target
from bench.timing import Sample
from localdev.lambda_runtime import REPO_ROOT, lambda_paths, template_environment
from peer_badges.db import params_from_url

CHILD = Path(__file__).resolve().parents[1] / "cold_child.py"
FIRST_PARTY = ("layers", "functions")


def _child(mode: str, payload: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(CHILD), mode, json.dumps(payload, default=str)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"cold-start child ({mode}) failed: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _environment(bench: Bench, pycache: Path, write_bytecode: bool) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(template_environment())
    env.update(
        DATABASE_URL=bench.url,
        # get_stats' code directory and the layer, as Lambda puts them on the path.
        PYTHONPATH=os.pathsep.join(str(p) for p in lambda_paths() if p.name in ("common", "get_stats")),
        PYTHONPYCACHEPREFIX=str(pycache),
    )
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _forget_first_party_bytecode(pycache: Path) -> None:
    # The prefix mirrors absolute source paths: <prefix>/<repo>/layers/..., <prefix>/<repo>/functions/...
    mirrored = pycache / REPO_ROOT.resolve().relative_to(REPO_ROOT.resolve().anchor)
    for part in FIRST_PARTY:
        shutil.rmtree(mirrored / part, ignore_errors=True)


def run(bench: Bench) -> None:
    org = bench.data.big
    mentor = bench.data.probes[max(bench.data.probes)]
    event = stats_event(org.id, mentor)
    params = params_from_url(bench.url)
    lookup = {
        "user": params.user,
        "password": params.password,
        "database": params.database,
        "host": params.host,
        "port": params.port,
        "unix_sock": params.unix_sock,
        "org_id": str(org.id),
        "mentor_id": str(mentor),
    }
    runs = bench.options.cold_runs if not bench.options.quick else 3
    compiled = Path(tempfile.mkdtemp(prefix="peer-badges-bench-pycache-"))
    third_party_only = compiled.with_name(compiled.name + "-3rd-party")
    try:
        # Warm-up: fills the bytecode cache and the OS page cache; not measured.
        _child("handler", event, _environment(bench, compiled, write_bytecode=True))
        _child("baseline", lookup, _environment(bench, compiled, write_bytecode=True))
        shutil.copytree(compiled, third_party_only)
        _forget_first_party_bytecode(third_party_only)
        # Nothing is written from here on; the three kinds of run alternate so load drift hits all alike.
        with_bytecode = _environment(bench, compiled, write_bytecode=False)
        without_bytecode = _environment(bench, third_party_only, write_bytecode=False)
        handler, baseline, no_bytecode = [], [], []
        for _ in range(runs):
            handler.append(_child("handler", event, with_bytecode))
            baseline.append(_child("baseline", lookup, with_bytecode))
            no_bytecode.append(_child("handler", event, without_bytecode))
    finally:
        shutil.rmtree(compiled, ignore_errors=True)
        shutil.rmtree(third_party_only, ignore_errors=True)

    def sample(items: list[dict[str, float]]) -> Sample:
        return Sample(tuple(item["total_ms"] for item in items))

    def import_ms(items: list[dict[str, float]]) -> float:
        return round(statistics.median(item["import_ms"] for item in items), 1)

    bench.add(
        Result.of(
            "cold_start",
            "cold start: import to first response",
            sample(handler),
            "fresh process: import pg8000, connect, PK lookup",
            sample(baseline),
            Target("absolute_max", 200),
            note=f"import {import_ms(handler)} ms of it; bytecode cached",
            import_median_ms=import_ms(handler),
        )
    )
    bench.add(
        Result.of(
            "cold_start_no_bytecode",
            "cold start, layer without bytecode",
            sample(no_bytecode),
            "fresh process: import pg8000, connect, PK lookup",
            sample(baseline),
            note=f"first-party code compiled each start; import {import_ms(no_bytecode)} ms",
            import_median_ms=import_ms(no_bytecode),
        )
    )
