"""`python -m bench.erasure`: POST /orgs/{org_id}/mentors/{mentor_id}/erasure for a mentor with 5,000
activities, 50 badges and 20 payouts.

One organisation; each measured mentor gets `--activities` activities (through the stats triggers),
`--badges` earned badges (one per manual definition, each with an audit row and events in the outbox,
as awards leave them) and `--payouts` payouts on the first of those badges. Other mentors add
`--background` badges to the org, so the erasure's scans of the org's audit log and outbox have
something to skip. Before each timed call the mentor leaves and the app deletes their activities (not
timed: that is the app's work). Timed: the award_badge handler end to end, one fresh mentor per
iteration (an erasure cannot be repeated). Prints a table; nothing is written to the repository.
"""

from localdev.lambda_runtime import install_lambda_paths

install_lambda_paths()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from award_badge.handler import lambda_handler  # noqa: E402
from bench.server import new_database, raw_connection, scratch_database, use_database  # noqa: E402
from bench.timing import Sample  # noqa: E402
from peer_badges import db as db_module  # noqa: E402
from tests.helpers import LambdaContext, api_event  # noqa: E402

DEFINITIONS_SQL = """
INSERT INTO badge_definitions (org_id, key, name, criteria)
SELECT :org, 'manual-' || i, 'Manual ' || i, '{"type": "manual", "schema_version": 1}'
  FROM generate_series(1, :n) AS i
"""

# Awards as the award function leaves them: the badge, its audit row and its event.
AWARDS_SQL = """
SELECT count(*) FROM badge_definitions AS d,
       unnest(CAST(:mentors AS uuid[])) AS m,
       LATERAL award_earned_badge(d.org_id, m, d.id, 1, DATE '2026-03-02', 'manual', :admin, d.revision,
                                  d.criteria, 'A note about this mentor', false, false, NULL) AS a
 WHERE d.org_id = :org AND d.key = ANY(CAST(:keys AS text[]))
"""

PAYOUTS_SQL = """
INSERT INTO honorar_payouts (org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level, threshold,
                             amount_nok, earned_at, backfill, status, approved_by, approved_at, paid_by, paid_at,
                             paid_reference)
SELECT e.org_id, e.peer_mentor_id, e.id, e.badge_definition_id, 1, 3, 2500, e.earned_at, false, 'paid',
       :admin, now(), :admin, now(), 'BANK-' || e.id
  FROM earned_badges AS e
 WHERE e.org_id = :org AND e.peer_mentor_id = :mentor
 ORDER BY e.id
 LIMIT :n
"""

ACTIVITIES_SQL = """
INSERT INTO activities (org_id, peer_mentor_id, activity_type, activity_date, duration_minutes)
SELECT :org, :mentor, (ARRAY['assignment', 'visit', 'call'])[1 + i % 3], DATE '2020-01-01' + (i % 2400), 45
  FROM generate_series(1, :n) AS i
"""


def seed(url: str, args: argparse.Namespace) -> dict[str, object]:
    org, admin = uuid.uuid4(), uuid.uuid4()
    mentors = [uuid.uuid4() for _ in range(args.iterations)]
    background = [uuid.uuid4() for _ in range(args.background // args.badges + 1)]
    keys = [f"manual-{i}" for i in range(1, args.badges + 1)]
    conn = raw_connection(url)
    try:
        conn.run(
            "INSERT INTO organizations (id, slug, name) VALUES (:org, 'bench-erasure', 'Bench')", org=org
        )
        conn.run("INSERT INTO org_members VALUES (:org, :admin, 'org_admin')", org=org, admin=admin)
        conn.run(DEFINITIONS_SQL, org=org, n=args.badges)
        everyone = [str(m) for m in mentors + background]
        conn.run(AWARDS_SQL, org=org, admin=admin, mentors=everyone, keys=keys)
        for mentor in mentors:
            conn.run(ACTIVITIES_SQL, org=org, mentor=mentor, n=args.activities)
            conn.run(PAYOUTS_SQL, org=org, mentor=mentor, admin=admin, n=args.payouts)
        conn.run("ANALYZE")
    finally:
        conn.close()
    return {"org": org, "admin": admin, "mentors": mentors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=5_000)
    parser.add_argument("--badges", type=int, default=50)
    parser.add_argument("--payouts", type=int, default=20)
    parser.add_argument("--background", type=int, default=5_000, help="other mentors' badges in the org")
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    with scratch_database() as target:
        settings = use_database(target.url)
        db_module.set_database(new_database(settings))
        world = seed(target.url, args)
        times, report = [], {}
        for mentor in world["mentors"]:  # type: ignore[attr-defined]
            conn = raw_connection(target.url)
            try:  # the app's part: the membership is gone, then the activities
                conn.run(
                    "DELETE FROM activities WHERE org_id = :o AND peer_mentor_id = :m",
                    o=world["org"],
                    m=mentor,
                )
            finally:
                conn.close()
            event = api_event(
                "POST",
                f"/orgs/{world['org']}/mentors/{mentor}/erasure",
                sub=world["admin"],  # type: ignore[arg-type]
                body={"reason": "bench"},
            )
            started = time.perf_counter()
            reply = lambda_handler(event, LambdaContext(function_name="award_badge"))
            times.append((time.perf_counter() - started) * 1000)
            if reply["statusCode"] != 200:
                raise SystemExit(f"erasure answered {reply['statusCode']}: {reply.get('body', '')[:300]}")
            report = json.loads(reply["body"])
        sample = Sample(tuple(times))
        print(f"database: {target.server}")
        print(
            f"mentor: {args.activities} activities, {args.badges} badges, {args.payouts} payouts; "
            f"org background: {args.background} badges"
        )
        print(
            f"erasure (handler end to end), n={sample.n}: median {sample.median:.1f} ms, max {max(times):.1f} ms"
        )
        print(f"last report: deleted={report['deleted']} pseudonymised={report['pseudonymised']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
