-- Streak pauses in every streak (SPEC 8.3): a paused week without enough activity neither breaks nor
-- extends a run; a paused week with enough activity counts as usual. week_runs (the one gaps-and-islands
-- function, sql/008) learns paused weeks; everything that finds runs passes the mentor's paused weeks
-- (paused_weeks, sql/016): the per-mentor facts, the stats read and the set-based streak query. The
-- trigger-kept snapshot knows no pauses: a mentor with paused weeks is read from the week buckets.

DROP FUNCTION week_runs(date[]);

-- Runs of consecutive ISO weeks: p_weeks are the qualifying Mondays, p_paused the paused ones. A run is
-- a stretch of consecutive weeks each qualifying or paused, with at least one qualifying week; its
-- length counts the qualifying weeks only. start_week: its first qualifying week; end_week: its last
-- week, paused ones included (a streak is alive while end_week is this week or last week);
-- qualifying: its qualifying weeks in order (NULL when nothing is paused: they are then consecutive
-- from start_week, and callers read start_week + 7 * (n - 1)). Without pauses (the triggers) the plan
-- is the plain gaps-and-islands query.
CREATE FUNCTION week_runs(p_weeks date[], p_paused date[] DEFAULT '{}')
RETURNS TABLE (start_week date, weeks int, end_week date, qualifying date[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT min(g.week), count(*)::int, max(g.week), NULL::date[]
      FROM (SELECT w.week, w.week - 7 * (row_number() OVER (ORDER BY w.week))::int AS island
              FROM unnest(p_weeks) AS w(week)) AS g
     WHERE coalesce(cardinality(p_paused), 0) = 0
     GROUP BY g.island
    UNION ALL
    SELECT min(g.week) FILTER (WHERE g.counts), (count(*) FILTER (WHERE g.counts))::int, max(g.week),
           array_agg(g.week ORDER BY g.week) FILTER (WHERE g.counts)
      FROM (SELECT w.week, w.counts, w.week - 7 * (row_number() OVER (ORDER BY w.week))::int AS island
              FROM (SELECT u.week, bool_or(u.counts) AS counts
                      FROM (SELECT q AS week, true AS counts FROM unnest(p_weeks) AS q
                            UNION ALL
                            SELECT p, false FROM unnest(p_paused) AS p) AS u
                     GROUP BY u.week) AS w) AS g
     WHERE coalesce(cardinality(p_paused), 0) > 0
     GROUP BY g.island
    HAVING bool_or(g.counts)
    ORDER BY 1
$$;

DROP FUNCTION mentor_week_runs(uuid, uuid, date, text[], int);

-- The weeks up to p_until_week with at least p_min_per_week counted activities of p_types (NULL: every
-- type), from the week buckets, as runs through the mentor's paused weeks.
CREATE FUNCTION mentor_week_runs(
    p_org_id uuid, p_peer_mentor_id uuid, p_until_week date, p_types text[], p_min_per_week int
) RETURNS TABLE (start_week date, weeks int, end_week date, qualifying date[])
LANGUAGE sql STABLE
AS $$
    SELECT r.start_week, r.weeks, r.end_week, r.qualifying
    FROM week_runs(ARRAY(
        SELECT w.week_start FROM mentor_week_activity AS w
        WHERE w.org_id = p_org_id AND w.peer_mentor_id = p_peer_mentor_id AND w.week_start <= p_until_week
          AND (p_types IS NULL OR w.activity_type = ANY (p_types))
        GROUP BY w.week_start
        HAVING sum(w.n) >= p_min_per_week), paused_weeks(p_org_id, p_peer_mentor_id, p_until_week)) AS r
$$;

-- streak: met on the Monday of the week in which a run first reached p_weeks qualifying weeks.
CREATE OR REPLACE FUNCTION streak_crossings(
    p_org_id uuid, p_mentors uuid[], p_types text[], p_min_per_week int, p_today date, p_weeks int
) RETURNS TABLE (peer_mentor_id uuid, level int, earned_at date)
LANGUAGE sql STABLE
AS $$
    SELECT m.peer_mentor_id, 1, min(coalesce(r.qualifying[p_weeks], r.start_week + 7 * (p_weeks - 1)))
    FROM (SELECT w.peer_mentor_id, array_agg(w.week_start) AS weeks
          FROM (SELECT b.peer_mentor_id, b.week_start FROM mentor_week_activity AS b
                WHERE b.org_id = p_org_id AND b.week_start <= iso_week_start(p_today)
                  AND (p_types IS NULL OR b.activity_type = ANY (p_types))
                  AND (p_mentors IS NULL OR b.peer_mentor_id = ANY (p_mentors))
                GROUP BY 1, 2
                HAVING sum(b.n) >= p_min_per_week) AS w
          GROUP BY w.peer_mentor_id) AS m
    CROSS JOIN LATERAL week_runs(m.weeks, paused_weeks(p_org_id, m.peer_mentor_id, iso_week_start(p_today))) AS r
    WHERE r.weeks >= p_weeks
    GROUP BY m.peer_mentor_id
$$;

DROP FUNCTION mentor_stats_read(uuid, uuid[], date, timestamptz);

CREATE FUNCTION mentor_stats_read(p_org_id uuid, p_mentor_ids uuid[], p_today date, p_now timestamptz)
RETURNS TABLE (
    timezone              text,
    today                 date,
    peer_mentor_id        uuid,
    is_member             boolean,
    has_snapshot          boolean,
    total_count           int,
    by_type               jsonb,
    minutes_by_type       jsonb,
    total_minutes         bigint,
    first_activity_date   date,
    last_activity_date    date,
    last_active_week      date,
    latest_run_weeks      int,
    longest_streak_weeks  int,
    updated_at            timestamptz,
    training              json,   -- [{training_code, completed_at, expires_at}]
    future                json,   -- counted rows after today: [{activity_type, activity_date, n, minutes}]
    last_counted_date     date,   -- the last activity date up to today, when there are future rows
    default_runs          json,   -- week runs up to this week, when the snapshot has future weeks or
                                  -- the mentor has paused weeks (the snapshot knows neither)
    paused_this_week      boolean -- this ISO week lies in a pause that applies to the mentor
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH c AS (
        SELECT o.id AS org_id, o.timezone, t.today, iso_week_start(t.today) AS this_week
        FROM organizations AS o
        CROSS JOIN LATERAL (SELECT coalesce(p_today, (p_now AT TIME ZONE o.timezone)::date) AS today) AS t
        WHERE o.id = p_org_id
    )
    SELECT c.timezone, c.today, m.id,
           EXISTS (SELECT 1 FROM org_members AS om WHERE om.org_id = c.org_id AND om.user_id = m.id),
           s.peer_mentor_id IS NOT NULL,
           s.total_count, s.by_type, s.minutes_by_type, s.total_minutes, s.first_activity_date, s.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks, s.updated_at,
           (SELECT json_agg(json_build_object('training_code', t.training_code, 'completed_at', t.completed_at,
                                              'expires_at', t.expires_at)
                            ORDER BY t.completed_at, t.training_code, t.id)
            FROM training_completions AS t
            WHERE t.org_id = c.org_id AND t.peer_mentor_id = m.id),
           CASE WHEN s.last_activity_date > c.today THEN (
               SELECT json_agg(json_build_object('activity_type', f.activity_type, 'activity_date', f.activity_date,
                                                 'n', f.n, 'minutes', f.minutes))
               FROM (SELECT a.activity_type, a.activity_date, count(*) AS n,
                            coalesce(sum(a.duration_minutes), 0) AS minutes
                     FROM counted_activities AS a
                     WHERE a.peer_mentor_id = m.id AND a.activity_date > c.today
                       AND a.org_id = c.org_id
                     GROUP BY 1, 2) AS f
           ) END,
           CASE WHEN s.last_activity_date > c.today THEN (
               SELECT max(a.activity_date) FROM counted_activities AS a
               WHERE a.peer_mentor_id = m.id AND a.activity_date <= c.today
                 AND a.org_id = c.org_id
           ) END,
           CASE WHEN s.last_active_week > c.this_week
                     OR EXISTS (SELECT 1 FROM streak_pauses AS p
                                 WHERE p.org_id = c.org_id AND (p.peer_mentor_id IS NULL OR p.peer_mentor_id = m.id)
                                   AND p.starts_on <= c.this_week + 6) THEN (
               SELECT coalesce(json_agg(json_build_object('start_week', r.start_week, 'weeks', r.weeks,
                                                          'end_week', r.end_week, 'qualifying', r.qualifying)
                                        ORDER BY r.start_week), '[]'::json)
               FROM mentor_week_runs(c.org_id, m.id, c.this_week, NULL, 1) AS r
           ) END,
           EXISTS (SELECT 1 FROM streak_pauses AS p
                    WHERE p.org_id = c.org_id AND (p.peer_mentor_id IS NULL OR p.peer_mentor_id = m.id)
                      AND p.starts_on <= c.this_week + 6 AND p.ends_on >= c.this_week)
    FROM c
    CROSS JOIN unnest(p_mentor_ids) AS m(id)
    -- One primary-key probe per mentor, whatever the generic plan guesses about the array's size
    -- (LIMIT keeps the planner from flattening this into a join over the whole table).
    LEFT JOIN LATERAL (SELECT * FROM mentor_stats AS ms
                       WHERE ms.org_id = c.org_id AND ms.peer_mentor_id = m.id LIMIT 1) AS s ON true
    ORDER BY m.id;
END;
$$;

DROP FUNCTION mentor_facts_read(uuid, uuid, date, boolean, jsonb, jsonb, jsonb);

-- mentor_facts_read, now also in minutes (measure "minutes", SPEC 8.2): year_minutes per type; a window
-- {measure: "minutes"} sums duration_minutes; a crossing {measure: "minutes", targets} answers
-- {target: the date the running sum first reached it} (all-time ones only for targets the snapshot's
-- minutes reach, so a mentor short of every pending target costs no scan).
CREATE FUNCTION mentor_facts_read(
    p_org_id uuid, p_mentor_id uuid, p_today date,
    p_need_year boolean, p_windows jsonb, p_crossings jsonb, p_streaks jsonb
) RETURNS TABLE (year_counts json, year_minutes json, window_counts json, crossing_dates json, streak_runs json)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    this_week date := iso_week_start(p_today);
    snapshot_last_week date;
    snapshot_longest int;
    snapshot_minutes jsonb;
BEGIN
    SELECT s.last_active_week, s.longest_streak_weeks, s.minutes_by_type
      INTO snapshot_last_week, snapshot_longest, snapshot_minutes
    FROM mentor_stats AS s WHERE s.org_id = p_org_id AND s.peer_mentor_id = p_mentor_id;

    RETURN QUERY SELECT
        CASE WHEN p_need_year THEN (
            SELECT json_object_agg(y.activity_type, y.n) FROM mentor_year_activity AS y
            WHERE y.org_id = p_org_id AND y.peer_mentor_id = p_mentor_id
              AND y.year = extract(year FROM p_today)::int
        ) END,
        CASE WHEN p_need_year THEN (
            SELECT json_object_agg(y.activity_type, y.minutes) FROM mentor_year_activity AS y
            WHERE y.org_id = p_org_id AND y.peer_mentor_id = p_mentor_id
              AND y.year = extract(year FROM p_today)::int
        ) END,
        (SELECT json_object_agg(r.key, (
             SELECT CASE WHEN r.measure = 'minutes' THEN coalesce(sum(a.duration_minutes), 0) ELSE count(*) END
             FROM counted_activities AS a
             WHERE a.peer_mentor_id = p_mentor_id AND a.activity_date BETWEEN r.since AND p_today
               AND a.org_id = p_org_id
               AND (r.types IS NULL OR a.activity_type = ANY (r.types))))
         FROM jsonb_to_recordset(p_windows) AS r(key text, since date, types text[], measure text)),
        (SELECT json_object_agg(r.key, CASE WHEN r.measure = 'minutes' THEN (
             SELECT json_object_agg(t.target, d.day)
             FROM unnest(r.targets) AS t(target)
             CROSS JOIN LATERAL (
                 SELECT min(q.activity_date) AS day
                 FROM (SELECT a.activity_date,
                              sum(coalesce(a.duration_minutes, 0)) OVER (ORDER BY a.activity_date, a.created_at, a.id)
                                  AS running
                       FROM counted_activities AS a
                       WHERE a.peer_mentor_id = p_mentor_id
                         AND a.activity_date >= coalesce(r.since, '-infinity'::date) AND a.activity_date <= p_today
                         AND a.org_id = p_org_id
                         AND (r.types IS NULL OR a.activity_type = ANY (r.types))) AS q
                 WHERE q.running >= t.target) AS d
             WHERE d.day IS NOT NULL
               -- all time: only targets the snapshot's minutes reach (the scan runs once, for the award)
               AND (r.since IS NOT NULL OR t.target <= (
                    SELECT coalesce(sum(m.value::bigint), 0) FROM jsonb_each_text(snapshot_minutes) AS m
                    WHERE r.types IS NULL OR m.key = ANY (r.types)))
         ) ELSE (
             SELECT json_agg(x.activity_date ORDER BY x.activity_date)
             FROM (SELECT a.activity_date FROM counted_activities AS a
                   WHERE a.peer_mentor_id = p_mentor_id
                     AND a.activity_date >= coalesce(r.since, '-infinity'::date) AND a.activity_date <= p_today
                     AND a.org_id = p_org_id
                     AND (r.types IS NULL OR a.activity_type = ANY (r.types))
                   ORDER BY a.activity_date
                   LIMIT r.max_n) AS x) END)
         FROM jsonb_to_recordset(p_crossings) AS r(key text, since date, types text[], max_n int, measure text,
                                                    targets int[])),
        (SELECT json_object_agg(r.key, (
             SELECT coalesce(json_agg(json_build_object('start_week', w.start_week, 'weeks', w.weeks,
                                                        'end_week', w.end_week, 'qualifying', w.qualifying)
                                      ORDER BY w.start_week), '[]'::json)
             FROM mentor_week_runs(p_org_id, p_mentor_id, this_week, r.types, r.min_per_week) AS w))
         FROM jsonb_to_recordset(p_streaks) AS r(key text, types text[], min_per_week int, targets int[])
         WHERE NOT (r.types IS NULL AND r.min_per_week = 1
                    AND coalesce(snapshot_last_week <= this_week, true)
                    AND cardinality(paused_weeks(p_org_id, p_mentor_id, this_week)) = 0
                    AND NOT EXISTS (SELECT 1 FROM unnest(r.targets) AS n
                                    WHERE n <= coalesce(snapshot_longest, 0))));
END;
$$;

-- The functions recreated here, for the handlers (not ALL FUNCTIONS: 012 and 015 keep some back).
GRANT EXECUTE ON FUNCTION week_runs(date[], date[]), mentor_week_runs(uuid, uuid, date, text[], int),
    streak_crossings(uuid, uuid[], text[], int, date, int), mentor_stats_read(uuid, uuid[], date, timestamptz),
    mentor_facts_read(uuid, uuid, date, boolean, jsonb, jsonb, jsonb) TO peer_badges_app;
