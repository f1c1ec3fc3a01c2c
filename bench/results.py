"""One measured scenario: ours, its baseline from the same run, the ratio and the target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bench.timing import Sample

# ratio_max: ours/baseline must be at most `value`; ratio_band: within `value`x either way;
# absolute_max: our median must be at most `value` ms; p95_max: our 95th percentile must be.
TargetKind = Literal["ratio_max", "ratio_band", "absolute_max", "p95_max"]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: float

    def text(self) -> str:
        if self.kind == "ratio_max":
            return f"<= {self.value:.3g}x"
        if self.kind == "ratio_band":
            return f"within {self.value:g}x"
        if self.kind == "p95_max":
            return f"p95 <= {self.value:g} ms"
        return f"<= {self.value:g} ms"

    def met(self, median: float, ratio: float | None, p95: float | None = None) -> bool:
        if self.kind == "absolute_max":
            return median <= self.value
        if self.kind == "p95_max":
            assert p95 is not None
            return p95 <= self.value
        assert ratio is not None
        if self.kind == "ratio_band":
            return 1 / self.value <= ratio <= self.value
        return ratio <= self.value


@dataclass
class Result:
    id: str
    title: str
    median: float  # ms
    p95: float  # ms
    baseline_title: str | None = None
    baseline_median: float | None = None
    baseline_p95: float | None = None
    target: Target | None = None
    note: str = ""
    n: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_median is None or self.baseline_median <= 0:
            return None
        return self.median / self.baseline_median

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.median, self.ratio, self.p95)

    @classmethod
    def of(
        cls,
        id: str,
        title: str,
        ours: Sample,
        baseline_title: str | None = None,
        baseline: Sample | None = None,
        target: Target | None = None,
        note: str = "",
        **extra: Any,
    ) -> Result:
        return cls(
            id=id,
            title=title,
            median=ours.median,
            p95=ours.p95,
            baseline_title=baseline_title,
            baseline_median=baseline.median if baseline else None,
            baseline_p95=baseline.p95 if baseline else None,
            target=target,
            note=note,
            n=ours.n,
            extra=extra,
        )

    def as_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "id": self.id,
            "title": self.title,
            "median_ms": rounded(self.median),
            "p95_ms": rounded(self.p95),
            "n": self.n,
            "baseline": None
            if self.baseline_title is None
            else {
                "title": self.baseline_title,
                "median_ms": rounded(self.baseline_median),
                "p95_ms": rounded(self.baseline_p95),
            },
            "ratio": rounded(self.ratio),
            "target": None if self.target is None else self.target.text(),
            "pass": self.passed,
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }
