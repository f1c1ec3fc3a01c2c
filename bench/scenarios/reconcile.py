"""Reconcile of the big organisation: `peer_badges.reconcile.reconcile_org`, first and steady-state run.

The first run finds and awards (quietly) every level met in the loaded history: nothing has been
evaluated yet. The steady-state run finds nothing new; it is what the daily schedule costs. Both run
through the container's Database, with the layer's own statement timeout. The baseline is one
set-based pass over the organisation's counted activities (count per mentor): the least a
whole-organisation reconcile must read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.context import Bench, BenchError
from bench.results import Result
from bench.timing import Sample, measure
from peer_badges.reconcile import ReconcileReport, reconcile_org

SCAN_SQL = """
SELECT peer_mentor_id, count(*) AS n FROM activities
 WHERE org_id = :org_id AND status = 'approved' AND deleted_at IS NULL
 GROUP BY peer_mentor_id
"""


def run(bench: Bench) -> None:
    org = bench.data.big
    reports: list[ReconcileReport] = []

    def reconcile() -> None:
        reports.append(reconcile_org(bench.db, org.id, now=datetime.now(UTC)))

    def scan() -> None:
        bench.db.query(SCAN_SQL, org_id=org.id)

    first = measure(reconcile, warmup=0, iterations=1)
    scan_sample = measure(scan, warmup=1, iterations=bench.n(5, 2))
    steady = measure(reconcile, warmup=0, iterations=bench.n(3, 1))
    first_report, steady_reports = reports[0], reports[1:]
    if any(report.awarded for report in steady_reports):
        raise BenchError("the steady-state reconcile awarded something the first run missed")
    mentors = first_report.mentors
    for id, title, sample, report in (
        ("reconcile_first", "reconcile first run", first, first_report),
        ("reconcile_steady", "reconcile steady state", steady, steady_reports[-1]),
    ):
        bench.add(
            Result.of(
                id,
                f"{title}, {mentors:,} mentors",
                sample,
                "one GROUP BY pass over the org's activities",
                scan_sample,
                note=f"{_rate(mentors, sample):,.0f} mentors/s; {report.definitions} definitions, "
                f"{len(report.awarded):,} awarded",
                mentors_per_s=round(_rate(mentors, sample), 1),
                definitions=report.definitions,
                candidates=report.candidates,
                awarded=len(report.awarded),
                repaired_snapshots=report.repaired_snapshots,
            )
        )


def _rate(mentors: int, sample: Sample) -> float:
    return mentors / (sample.median / 1000)
