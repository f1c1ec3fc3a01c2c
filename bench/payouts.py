"""`python -m bench.payouts`: GET /orgs/{org_id}/payouts and the CSV export over 10,000 payouts.

One organisation with `--mentors` mentors and `--payouts` payouts in every status over three income
years (earned badges and payouts inserted in bulk: this measures reading, not awarding). Timed: the
award_badge handler end to end (routing, authorisation, SQL, models, JSON or CSV), as the admin:
the first page (50), a page deep in the keyset order, a filtered page (one year and status), a
coordinator's page (their mentors only), walking every page of 200, and the export of every payout
and of one year. Prints a table; nothing is written to the repository.
"""

from localdev.lambda_runtime import install_lambda_paths

install_lambda_paths()

import argparse  # noqa: E402
import json  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from award_badge.handler import lambda_handler  # noqa: E402
from bench.server import new_database, raw_connection, scratch_database, use_database  # noqa: E402
from bench.timing import Sample, measure  # noqa: E402
from peer_badges import db as db_module  # noqa: E402
from tests.helpers import LambdaContext, api_event  # noqa: E402

SEED_SQL = """
WITH org AS (
    INSERT INTO organizations (id, slug, name) VALUES (:org, 'bench-payouts', 'Bench') RETURNING id
), definition AS (
    INSERT INTO badge_definitions (id, org_id, key, name, criteria)
    SELECT :definition, id, 'honorar', 'Honorar',
           jsonb_build_object('type', 'milestone', 'schema_version', 1, 'thresholds', jsonb_build_array(3, 15, 30, 60, 100),
                              'payable', true, 'amounts_nok', jsonb_build_array(2500, 8000, 1000, 1500, 2000))
      FROM org
    RETURNING id
)
SELECT id FROM definition
"""

BADGES_SQL = """
INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, source,
                           definition_revision, criteria_snapshot)
SELECT :org, (CAST(:mentors AS uuid[]))[1 + (n - 1) % :mentor_count],
       :definition, 1 + (n - 1) / :mentor_count, DATE '2024-01-01' + (n * 37) % 1095, 'evaluation', 1, '{}'
  FROM generate_series(1, :payouts) AS n
"""

PAYOUTS_SQL = """
INSERT INTO honorar_payouts (org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level, threshold,
                             amount_nok, earned_at, backfill, status, approved_by, approved_at, paid_by, paid_at,
                             paid_reference, cancelled_by, cancelled_at, cancel_reason)
SELECT e.org_id, e.peer_mentor_id, e.id, e.badge_definition_id, e.level, (ARRAY[3, 15, 30, 60, 100])[e.level],
       (ARRAY[2500, 8000, 1000, 1500, 2000])[e.level], e.earned_at, s.k = 4, status,
       CASE WHEN status IN ('approved', 'paid') THEN CAST(:admin AS uuid) END,
       CASE WHEN status IN ('approved', 'paid') THEN now() END,
       CASE WHEN status = 'paid' THEN CAST(:admin AS uuid) END, CASE WHEN status = 'paid' THEN now() END,
       CASE WHEN status = 'paid' THEN 'BANK-' || e.id END,
       CASE WHEN status = 'cancelled' THEN CAST(:admin AS uuid) END, CASE WHEN status = 'cancelled' THEN now() END,
       CASE WHEN status = 'cancelled' THEN 'Registrert to ganger, "feil" oppdrag' END
  FROM earned_badges AS e,
       LATERAL (SELECT abs(hashtext(e.id::text)) % 5 AS k) AS s,
       LATERAL (SELECT (ARRAY['pending', 'approved', 'paid', 'cancelled', 'pending'])[s.k + 1] AS status) AS t
 WHERE e.org_id = :org
"""


def seed(url: str, mentors: int, payouts: int) -> dict[str, Any]:
    org, definition, admin, coordinator = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mentor_ids = [str(uuid.uuid4()) for _ in range(mentors)]
    conn = raw_connection(url)
    try:
        conn.run("BEGIN")
        conn.run(SEED_SQL, org=org, definition=definition)
        conn.run(
            """INSERT INTO org_members (org_id, user_id, role)
               SELECT :org, m, 'peer_mentor' FROM unnest(CAST(:mentors AS uuid[])) AS m
               UNION ALL VALUES (CAST(:org AS uuid), CAST(:admin AS uuid), 'org_admin'),
                                (CAST(:org AS uuid), CAST(:coordinator AS uuid), 'coordinator')""",
            org=org,
            mentors=mentor_ids,
            admin=admin,
            coordinator=coordinator,
        )
        conn.run(
            """INSERT INTO coordinator_assignments (org_id, coordinator_id, peer_mentor_id)
               SELECT :org, :coordinator, m FROM unnest(CAST(:mentors AS uuid[])) AS m""",
            org=org,
            coordinator=coordinator,
            mentors=mentor_ids[: mentors // 10],
        )
        params = {"org": org, "definition": definition, "mentors": mentor_ids, "mentor_count": mentors}
        conn.run(BADGES_SQL, payouts=payouts, **params)
        conn.run(PAYOUTS_SQL, org=org, admin=admin)
        conn.run("COMMIT")
        conn.run("ANALYZE honorar_payouts")
        count = conn.run("SELECT count(*) FROM honorar_payouts WHERE org_id = :org", org=org)[0][0]
    finally:
        conn.close()
    if count != payouts:
        raise SystemExit(f"seeded {count} payouts, expected {payouts}")
    return {"org": org, "admin": admin, "coordinator": coordinator}


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    reply = lambda_handler(json.loads(json.dumps(event)), LambdaContext(function_name="award_badge"))
    if reply["statusCode"] != 200:
        raise SystemExit(f"award_badge answered {reply['statusCode']}: {reply.get('body', '')[:300]}")
    return reply  # type: ignore[no-any-return]


def get(path: str, sub: uuid.UUID, query: dict[str, str] | None = None) -> dict[str, Any]:
    return invoke(api_event("GET", path, sub=sub, query=query))


def walk_all(path: str, sub: uuid.UUID) -> int:
    seen, cursor = 0, None
    while True:
        query = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = json.loads(get(path, sub, query)["body"])
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payouts", type=int, default=10_000)
    parser.add_argument("--mentors", type=int, default=2_000)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    with scratch_database() as target:
        settings = use_database(target.url)
        db_module.set_database(new_database(settings))
        ids = seed(target.url, args.mentors, args.payouts)
        org, admin, coordinator = ids["org"], ids["admin"], ids["coordinator"]
        base = f"/orgs/{org}/payouts"
        first = json.loads(get(base, admin)["body"])
        deep_cursor = None
        for _ in range(20):  # 20 pages of 50 in: a cursor 1,000 rows deep
            deep_cursor = json.loads(
                get(base, admin, {"cursor": deep_cursor or first["next_cursor"]})["body"]
            )["next_cursor"]
        export = get(f"{base}/export", admin)["body"]
        walked = walk_all(base, admin)
        if walked != args.payouts:
            raise SystemExit(f"walking the pages saw {walked} payouts, expected {args.payouts}")
        operations = {
            "GET payouts, first page (50)": lambda: get(base, admin),
            "GET payouts, page 21 (keyset cursor)": lambda: get(base, admin, {"cursor": str(deep_cursor)}),
            "GET payouts, year=2025&status=approved": lambda: get(
                base, admin, {"year": "2025", "status": "approved"}
            ),
            "GET payouts as a coordinator (10% of mentors)": lambda: get(base, coordinator),
            "GET payouts, limit=200": lambda: get(base, admin, {"limit": "200"}),
            f"GET every page of 200 ({args.payouts} payouts)": lambda: walk_all(base, admin),
            f"GET payouts/export ({args.payouts} rows)": lambda: get(f"{base}/export", admin),
            "GET payouts/export?year=2025": lambda: get(f"{base}/export", admin, {"year": "2025"}),
        }
        print(
            f"{target.server}; {args.payouts} payouts, {args.mentors} mentors; export {len(export.encode()) / 1e6:.2f} MB"
        )
        print(f"{'operation':<50} {'median ms':>10} {'p95 ms':>10} {'n':>4}")
        for name, operation in operations.items():
            iterations = (
                max(3, args.iterations // 4)
                if "every page" in name or "export (" in name
                else args.iterations
            )
            sample: Sample = measure(operation, warmup=2, iterations=iterations)
            print(f"{name:<50} {sample.median:>10.1f} {sample.p95:>10.1f} {sample.n:>4}")
        db_module.set_database(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
