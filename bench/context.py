"""What every scenario gets: the data set, the connections and where results go."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pg8000.native

from bench.dataset import Dataset
from bench.results import Result
from peer_badges.db import Database
from peer_badges.settings import Settings


class BenchError(RuntimeError):
    """A scenario could not measure what it claims to (e.g. the handler did not answer 200)."""


@dataclass(frozen=True)
class Options:
    quick: bool = False
    threads: int = 8
    ingest_rows: int = 10_000
    ingest_mentors: int = 200
    cold_runs: int = 9


@dataclass
class Bench:
    options: Options
    data: Dataset
    settings: Settings
    url: str
    db: Database  # the container's one connection: the handlers' and their baselines' (same connection)
    writer: Database  # another client of the database (the app writing activities)
    raw: pg8000.native.Connection  # no statement timeout: DDL, COPY, scratch tables
    results: list[Result] = field(default_factory=list)
    series: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)  # chart data

    def n(self, full: int, quick: int) -> int:
        return quick if self.options.quick else full

    def add(self, result: Result) -> Result:
        self.results.append(result)
        return result

    def plot(self, line: str, activities: int, median: float, p95: float) -> None:
        self.series.setdefault(line, {})[activities] = {"median_ms": median, "p95_ms": p95}


# --- the real get_stats handler ------------------------------------------------------------


def stats_event(org_id: UUID, mentor_id: UUID) -> dict[str, Any]:
    """GET .../stats as the mentor themself, as API Gateway passes it after the JWT authorizer."""
    from tests.helpers import api_event

    return api_event("GET", f"/orgs/{org_id}/mentors/{mentor_id}/stats", sub=mentor_id)


def call_stats_handler(event: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One invocation of get_stats.handler.lambda_handler: (milliseconds, parsed body). Only the
    handler call is timed; copying the event and parsing the reply are not."""
    from get_stats.handler import lambda_handler
    from tests.helpers import LambdaContext

    fresh, context = copy.deepcopy(event), LambdaContext(function_name="get_stats")
    started = time.perf_counter()
    reply = lambda_handler(fresh, context)
    elapsed = (time.perf_counter() - started) * 1000
    if reply["statusCode"] != 200:
        raise BenchError(f"get_stats answered {reply['statusCode']}: {reply.get('body')}")
    return elapsed, json.loads(reply["body"])
