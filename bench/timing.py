"""Timing: warm-up, then many iterations; compared operations alternate so drift hits all alike."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True)
class Sample:
    """Durations of one measured operation, in milliseconds."""

    times_ms: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.times_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        return {"median_ms": round(self.median, 4), "p95_ms": round(self.p95, 4), "n": self.n}


K = TypeVar("K")

# One timed call. A callable returning a float reports its own duration in ms (when it must exclude
# setup done in the same call, e.g. an insert before the evaluation); otherwise the call is timed.
Operation = Callable[[], Any]


def _once(operation: Operation) -> float:
    started = time.perf_counter()
    reported = operation()
    elapsed = (time.perf_counter() - started) * 1000
    return float(reported) if isinstance(reported, float) else elapsed


def measure(operation: Operation, *, warmup: int, iterations: int) -> Sample:
    for _ in range(warmup):
        operation()
    gc.collect()
    return Sample(tuple(_once(operation) for _ in range(iterations)))


def interleaved(operations: dict[K, Operation], *, warmup: int, iterations: int) -> dict[K, Sample]:
    """All warmed up, then measured round-robin (a, b, c, a, b, c, ...), so a change in machine load
    during the run shifts every operation alike instead of biasing whichever ran at that moment."""
    for _ in range(warmup):
        for operation in operations.values():
            operation()
    gc.collect()
    times: dict[K, list[float]] = {key: [] for key in operations}
    for _ in range(iterations):
        for key, operation in operations.items():
            times[key].append(_once(operation))
    return {key: Sample(tuple(values)) for key, values in times.items()}


def compare(ours: Operation, baseline: Operation, *, warmup: int, iterations: int) -> tuple[Sample, Sample]:
    """Ours and the baseline, interleaved."""
    samples = interleaved({"ours": ours, "baseline": baseline}, warmup=warmup, iterations=iterations)
    return samples["ours"], samples["baseline"]


class Stopwatch:
    """Times a region inside an operation: `with watch: ...`, then `watch.ms`."""

    def __init__(self) -> None:
        self.ms = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.ms = (time.perf_counter() - self._started) * 1000
