-- "What a user would build instead": a mentor's stats computed on read from the raw activities, in one
-- SQL function. A comparison baseline for the on_read scenario, created in the scratch bench database
-- only; it is not product schema and no migration creates it.
--
-- Written to be a fair competitor, not a straw man:
-- - one statement, one round trip, planned once per session (plpgsql caches the plan of RETURN QUERY,
--   as it does for mentor_stats_read_one);
-- - it reads the mentor's rows through the index the product has for exactly this,
--   activities_mentor_date_type_idx (peer_mentor_id, activity_date, activity_type), once: every figure
--   comes from that one scan (a CTE referenced several times is materialised once);
-- - the streaks are gaps-and-islands with a window function over the distinct ISO weeks (week start
--   minus row_number() weeks is constant along a run of consecutive weeks), not a loop;
-- - it answers what GET /stats shows, with the same meaning: counted activities (approved, not deleted)
--   dated up to today in the organisation's time zone; total and per-type counts and minutes, first and
--   last date; current streak = the latest run of consecutive active ISO weeks if it ends this week or
--   last week, else 0; longest streak; the mentor's training completions.
-- It leaves out what the product's read also does (streak pauses, payouts, the caller's access), all of
-- which would only cost it more.
CREATE FUNCTION bench_stats_on_read(p_org_id uuid, p_mentor_id uuid, p_today date, p_now timestamptz)
RETURNS TABLE (
    today                 date,
    total_count           int,
    by_type               jsonb,
    total_minutes         bigint,
    minutes_by_type       jsonb,
    first_activity_date   date,
    last_activity_date    date,
    current_streak_weeks  int,
    longest_streak_weeks  int,
    training              json
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH c AS (
        SELECT o.id AS org_id, t.today,
               date_trunc('week', t.today::timestamp)::date AS this_week
        FROM organizations AS o
        CROSS JOIN LATERAL (SELECT coalesce(p_today, (p_now AT TIME ZONE o.timezone)::date) AS today) AS t
        WHERE o.id = p_org_id
    ), a AS (  -- the one index scan, aggregated at once to one row per (type, ISO week)
        SELECT x.activity_type, date_trunc('week', x.activity_date::timestamp)::date AS week,
               count(*)::int AS n, coalesce(sum(x.duration_minutes), 0)::bigint AS minutes,
               min(x.activity_date) AS first_date, max(x.activity_date) AS last_date
        FROM activities AS x, c
        WHERE x.peer_mentor_id = p_mentor_id AND x.org_id = c.org_id AND x.activity_date <= c.today
          AND x.status = 'approved' AND x.deleted_at IS NULL
        GROUP BY 1, 2
    ), per_type AS (
        SELECT a.activity_type, sum(a.n)::int AS n, sum(a.minutes)::bigint AS minutes,
               min(a.first_date) AS first_date, max(a.last_date) AS last_date
        FROM a
        GROUP BY a.activity_type
    ), weeks AS (  -- gaps and islands: consecutive weeks share week - (row_number) weeks
        SELECT w.week, w.week - 7 * (row_number() OVER (ORDER BY w.week))::int AS island
        FROM (SELECT DISTINCT a.week FROM a) AS w
    ), runs AS (
        SELECT max(w.week) AS last_week, count(*)::int AS weeks
        FROM weeks AS w
        GROUP BY w.island
    )
    SELECT c.today,
           coalesce((SELECT sum(p.n) FROM per_type AS p), 0)::int,
           coalesce((SELECT jsonb_object_agg(p.activity_type, p.n) FROM per_type AS p), '{}'::jsonb),
           coalesce((SELECT sum(p.minutes) FROM per_type AS p), 0)::bigint,
           coalesce((SELECT jsonb_object_agg(p.activity_type, p.minutes) FROM per_type AS p WHERE p.minutes > 0),
                    '{}'::jsonb),
           (SELECT min(p.first_date) FROM per_type AS p),
           (SELECT max(p.last_date) FROM per_type AS p),
           coalesce((SELECT r.weeks FROM runs AS r
                      WHERE r.last_week >= c.this_week - 7
                      ORDER BY r.last_week DESC LIMIT 1), 0),
           coalesce((SELECT max(r.weeks) FROM runs AS r), 0),
           (SELECT json_agg(json_build_object('training_code', t.training_code, 'completed_at', t.completed_at,
                                              'expires_at', t.expires_at)
                            ORDER BY t.completed_at, t.training_code, t.id)
            FROM training_completions AS t
            WHERE t.org_id = c.org_id AND t.peer_mentor_id = p_mentor_id)
    FROM c;
END;
$$;
