-- One meaning per rule (docs/criteria.md). Two rules that every statement about activities and streaks
-- used to restate are now written once, and everything that restated them is redefined on top:
--   counted activity: activity_counts(activities) / the counted_activities view (approved, not deleted);
--   streak runs: week_runs(weeks), gaps and islands over a set of ISO weeks.
-- Then the set-based "who qualifies, and since when" query of each criteria family (count_crossings,
-- streak_crossings, training_crossings), which reconcile, definition backfills and preview share; the
-- definition backfill queue; and a drift check that also compares the week and year buckets.

-- Minutes (SPEC 8.2, measure "minutes"): the snapshot keeps minutes per type as it keeps counts per
-- type, and the year buckets keep minutes as the week buckets do.
ALTER TABLE mentor_stats
    ADD COLUMN minutes_by_type jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(minutes_by_type) = 'object');
ALTER TABLE mentor_year_activity ADD COLUMN minutes bigint NOT NULL DEFAULT 0 CHECK (minutes >= 0);

-- The one definition of an activity that counts. Inlined by the planner into plain column filters
-- (also on the triggers' transition tables, whose rows have the activities row type).
CREATE FUNCTION activity_counts(a activities) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN a.status = 'approved' AND a.deleted_at IS NULL;

CREATE VIEW counted_activities AS
SELECT * FROM activities AS a WHERE activity_counts(a);

-- Runs of consecutive ISO weeks in a set of distinct Mondays (gaps and islands): each run's first
-- week and length, oldest first. The one streak computation: the triggers, the stats reads, the
-- per-mentor facts, the reference and the set-based streak query all call it.
CREATE FUNCTION week_runs(p_weeks date[]) RETURNS TABLE (start_week date, weeks int)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT min(g.week), count(*)::int
    FROM (SELECT w.week, w.week - 7 * (row_number() OVER (ORDER BY w.week))::int AS island
          FROM unnest(p_weeks) AS w(week)) AS g
    GROUP BY g.island
    ORDER BY 1
$$;

-- Queue mentors for evaluation (the outbox the drain reads): every writer of evaluation_outbox goes
-- through here, so how rows are written (sql/018: coalesced) is decided in one place. Pairs are
-- deduplicated and written in (org, mentor) order, as the writers lock mentors. Returns how many.
CREATE FUNCTION queue_evaluations(p_org_ids uuid[], p_mentor_ids uuid[], p_reason text, p_backfill boolean)
RETURNS int
LANGUAGE sql
AS $$
    WITH queued AS (
        INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason, backfill)
        SELECT DISTINCT k.org_id, k.peer_mentor_id, p_reason, p_backfill
          FROM unnest(p_org_ids, p_mentor_ids) AS k(org_id, peer_mentor_id)
         ORDER BY 1, 2
        RETURNING 1
    )
    SELECT count(*)::int FROM queued
$$;

-- The weeks up to p_until_week with at least p_min_per_week counted activities of p_types (NULL:
-- every type), from the week buckets, as runs.
CREATE OR REPLACE FUNCTION mentor_week_runs(
    p_org_id uuid, p_peer_mentor_id uuid, p_until_week date, p_types text[], p_min_per_week int
) RETURNS TABLE (start_week date, weeks int)
LANGUAGE sql STABLE
AS $$
    SELECT r.start_week, r.weeks
    FROM week_runs(ARRAY(
        SELECT w.week_start FROM mentor_week_activity AS w
        WHERE w.org_id = p_org_id AND w.peer_mentor_id = p_peer_mentor_id AND w.week_start <= p_until_week
          AND (p_types IS NULL OR w.activity_type = ANY (p_types))
        GROUP BY w.week_start
        HAVING sum(w.n) >= p_min_per_week)) AS r
$$;

CREATE OR REPLACE FUNCTION activities_stats_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    deltas activity_delta[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(c.org_id, c.peer_mentor_id, c.activity_type, c.activity_date, c.n, c.minutes)::activity_delta)
        INTO deltas
        FROM (SELECT r.org_id, r.peer_mentor_id, r.activity_type, r.activity_date,
                     count(*)::int AS n, sum(coalesce(r.duration_minutes, 0))::bigint AS minutes
              FROM new_rows AS r
              WHERE activity_counts(r)
              GROUP BY 1, 2, 3, 4) AS c;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ROW(c.org_id, c.peer_mentor_id, c.activity_type, c.activity_date, c.n, c.minutes)::activity_delta)
        INTO deltas
        FROM (SELECT r.org_id, r.peer_mentor_id, r.activity_type, r.activity_date,
                     -count(*)::int AS n, -sum(coalesce(r.duration_minutes, 0))::bigint AS minutes
              FROM old_rows AS r
              WHERE activity_counts(r)
              GROUP BY 1, 2, 3, 4) AS c;
    ELSE
        SELECT array_agg(ROW(c.org_id, c.peer_mentor_id, c.activity_type, c.activity_date, c.n, c.minutes)::activity_delta)
        INTO deltas
        FROM (SELECT r.org_id, r.peer_mentor_id, r.activity_type, r.activity_date,
                     sum(r.n)::int AS n, sum(r.minutes)::bigint AS minutes
              FROM (SELECT o.org_id, o.peer_mentor_id, o.activity_type, o.activity_date,
                           -1 AS n, -coalesce(o.duration_minutes, 0) AS minutes
                    FROM old_rows AS o WHERE activity_counts(o)
                    UNION ALL
                    SELECT w.org_id, w.peer_mentor_id, w.activity_type, w.activity_date,
                           1, coalesce(w.duration_minutes, 0)
                    FROM new_rows AS w WHERE activity_counts(w)) AS r
              GROUP BY 1, 2, 3, 4
              HAVING sum(r.n) <> 0 OR sum(r.minutes) <> 0) AS c;
    END IF;
    PERFORM apply_activity_deltas(deltas);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION apply_activity_deltas_general(p_deltas activity_delta[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_deltas IS NULL OR cardinality(p_deltas) = 0 THEN
        RETURN;
    END IF;

    -- 1. Create or lock each mentor's snapshot row in a fixed order (the lock guards the buckets too).
    INSERT INTO mentor_stats AS s (org_id, peer_mentor_id)
    SELECT DISTINCT d.org_id, d.peer_mentor_id FROM unnest(p_deltas) AS d
    ORDER BY 1, 2
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE SET updated_at = now();

    -- 2. Week and year buckets: existing ones are updated, missing ones inserted. Not ON CONFLICT: the
    --    CHECKs are tested on the proposed row first, and a negative delta is never a valid new row.
    --    The mentor locks above make the two steps race-free.
    WITH delta AS (
        SELECT d.org_id, d.peer_mentor_id, iso_week_start(d.activity_date) AS week_start, d.activity_type,
               sum(d.n)::int AS n, sum(d.minutes)::bigint AS minutes
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3, 4
        HAVING sum(d.n) <> 0 OR sum(d.minutes) <> 0
    ), updated AS (
        UPDATE mentor_week_activity AS w
        SET n = w.n + delta.n, minutes = w.minutes + delta.minutes
        FROM delta
        WHERE w.org_id = delta.org_id AND w.peer_mentor_id = delta.peer_mentor_id
          AND w.week_start = delta.week_start AND w.activity_type = delta.activity_type
        RETURNING w.org_id, w.peer_mentor_id, w.week_start, w.activity_type
    )
    INSERT INTO mentor_week_activity (org_id, peer_mentor_id, week_start, activity_type, n, minutes)
    SELECT delta.* FROM delta
    WHERE NOT EXISTS (SELECT 1 FROM updated AS u
                      WHERE u.org_id = delta.org_id AND u.peer_mentor_id = delta.peer_mentor_id
                        AND u.week_start = delta.week_start AND u.activity_type = delta.activity_type);

    DELETE FROM mentor_week_activity AS w
    USING (SELECT DISTINCT d.org_id, d.peer_mentor_id, iso_week_start(d.activity_date) AS week_start, d.activity_type
           FROM unnest(p_deltas) AS d) AS t
    WHERE w.org_id = t.org_id AND w.peer_mentor_id = t.peer_mentor_id
      AND w.week_start = t.week_start AND w.activity_type = t.activity_type AND w.n = 0;

    WITH delta AS (
        SELECT d.org_id, d.peer_mentor_id, extract(year FROM d.activity_date)::int AS year, d.activity_type,
               sum(d.n)::int AS n, sum(d.minutes)::bigint AS minutes
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3, 4
        HAVING sum(d.n) <> 0 OR sum(d.minutes) <> 0
    ), updated AS (
        UPDATE mentor_year_activity AS y
        SET n = y.n + delta.n, minutes = y.minutes + delta.minutes
        FROM delta
        WHERE y.org_id = delta.org_id AND y.peer_mentor_id = delta.peer_mentor_id
          AND y.year = delta.year AND y.activity_type = delta.activity_type
        RETURNING y.org_id, y.peer_mentor_id, y.year, y.activity_type
    )
    INSERT INTO mentor_year_activity (org_id, peer_mentor_id, year, activity_type, n, minutes)
    SELECT delta.* FROM delta
    WHERE NOT EXISTS (SELECT 1 FROM updated AS u
                      WHERE u.org_id = delta.org_id AND u.peer_mentor_id = delta.peer_mentor_id
                        AND u.year = delta.year AND u.activity_type = delta.activity_type);

    DELETE FROM mentor_year_activity AS y
    USING (SELECT DISTINCT d.org_id, d.peer_mentor_id, extract(year FROM d.activity_date)::int AS year, d.activity_type
           FROM unnest(p_deltas) AS d) AS t
    WHERE y.org_id = t.org_id AND y.peer_mentor_id = t.peer_mentor_id
      AND y.year = t.year AND y.activity_type = t.activity_type AND y.n = 0;

    -- 3. Totals and per-type counts.
    UPDATE mentor_stats AS s
    SET total_count = s.total_count + a.dn,
        total_minutes = s.total_minutes + a.dm,
        by_type = add_type_counts(s.by_type, a.types),
        minutes_by_type = add_type_counts(s.minutes_by_type, a.type_minutes),
        updated_at = now()
    FROM (
        SELECT t.org_id, t.peer_mentor_id, sum(t.dn) AS dn, sum(t.dm) AS dm,
               jsonb_object_agg(t.activity_type, t.dn) FILTER (WHERE t.dn <> 0) AS types,
               jsonb_object_agg(t.activity_type, t.dm) FILTER (WHERE t.dm <> 0) AS type_minutes
        FROM (SELECT d.org_id, d.peer_mentor_id, d.activity_type, sum(d.n) AS dn, sum(d.minutes) AS dm
              FROM unnest(p_deltas) AS d GROUP BY 1, 2, 3) AS t
        GROUP BY 1, 2
    ) AS a
    WHERE s.org_id = a.org_id AND s.peer_mentor_id = a.peer_mentor_id;

    -- 4. First and last activity dates. Adding only moves them outwards; removing rows on the current
    --    first or last date may empty that date, and then the date is looked up again, bounded to the
    --    first/last active week (an index range scan over at most seven days).
    UPDATE mentor_stats AS s
    SET first_activity_date = CASE
            WHEN s.total_count = 0 THEN NULL
            WHEN c.removed_first THEN (
                SELECT min(a.activity_date) FROM counted_activities AS a
                WHERE a.peer_mentor_id = s.peer_mentor_id AND a.org_id = s.org_id
                  AND a.activity_date BETWEEN c.first_week AND c.first_week + 6)
            ELSE least(s.first_activity_date, c.added_min) END,
        last_activity_date = CASE
            WHEN s.total_count = 0 THEN NULL
            WHEN c.removed_last THEN (
                SELECT max(a.activity_date) FROM counted_activities AS a
                WHERE a.peer_mentor_id = s.peer_mentor_id AND a.org_id = s.org_id
                  AND a.activity_date BETWEEN c.last_week AND c.last_week + 6)
            ELSE greatest(s.last_activity_date, c.added_max) END
    FROM (
        SELECT dd.org_id, dd.peer_mentor_id,
               min(dd.activity_date) FILTER (WHERE dd.dn > 0) AS added_min,
               max(dd.activity_date) FILTER (WHERE dd.dn > 0) AS added_max,
               bool_or(dd.dn < 0 AND dd.activity_date = ms.first_activity_date) AS removed_first,
               bool_or(dd.dn < 0 AND dd.activity_date = ms.last_activity_date) AS removed_last,
               (SELECT min(w.week_start) FROM mentor_week_activity AS w
                WHERE w.org_id = dd.org_id AND w.peer_mentor_id = dd.peer_mentor_id) AS first_week,
               (SELECT max(w.week_start) FROM mentor_week_activity AS w
                WHERE w.org_id = dd.org_id AND w.peer_mentor_id = dd.peer_mentor_id) AS last_week
        FROM (SELECT d.org_id, d.peer_mentor_id, d.activity_date, sum(d.n) AS dn
              FROM unnest(p_deltas) AS d GROUP BY 1, 2, 3) AS dd
        JOIN mentor_stats AS ms ON ms.org_id = dd.org_id AND ms.peer_mentor_id = dd.peer_mentor_id
        GROUP BY dd.org_id, dd.peer_mentor_id
    ) AS c
    WHERE s.org_id = c.org_id AND s.peer_mentor_id = c.peer_mentor_id;

    -- 5. Streaks. A week's state flips when its total goes from 0 to >0 or back. When the only flip
    --    is a new week after the latest active one, the latest run grows by one or restarts at one;
    --    any other flip recomputes that mentor's runs from the week buckets (gaps and islands).
    WITH week_delta AS (
        SELECT d.org_id, d.peer_mentor_id, iso_week_start(d.activity_date) AS week_start, sum(d.n) AS dn
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3
        HAVING sum(d.n) <> 0
    ), flips AS (
        SELECT wd.org_id, wd.peer_mentor_id, wd.week_start, now_n.n > 0 AS active
        FROM week_delta AS wd
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(w.n), 0) AS n FROM mentor_week_activity AS w
            WHERE w.org_id = wd.org_id AND w.peer_mentor_id = wd.peer_mentor_id AND w.week_start = wd.week_start
        ) AS now_n
        WHERE (now_n.n > 0) <> (now_n.n - wd.dn > 0)
    ), plan AS (
        SELECT f.org_id, f.peer_mentor_id, max(f.week_start) AS week_start,
               count(*) = 1 AND bool_and(f.active)
                   AND (max(ms.last_active_week) IS NULL OR max(f.week_start) > max(ms.last_active_week)) AS extends
        FROM flips AS f
        JOIN mentor_stats AS ms ON ms.org_id = f.org_id AND ms.peer_mentor_id = f.peer_mentor_id
        GROUP BY f.org_id, f.peer_mentor_id
    ), recomputed AS (
        SELECT p.org_id, p.peer_mentor_id, max(r.weeks) AS longest,
               max(r.start_week + 7 * (r.weeks - 1)) AS last_week,
               (array_agg(r.weeks ORDER BY r.start_week DESC))[1] AS latest
        FROM plan AS p
        CROSS JOIN LATERAL week_runs(ARRAY(
            SELECT DISTINCT mw.week_start FROM mentor_week_activity AS mw
            WHERE mw.org_id = p.org_id AND mw.peer_mentor_id = p.peer_mentor_id)) AS r
        WHERE NOT p.extends
        GROUP BY p.org_id, p.peer_mentor_id
    ), updated AS (
        SELECT p.org_id, p.peer_mentor_id,
               CASE WHEN p.extends THEN p.week_start ELSE r.last_week END AS last_active_week,
               CASE WHEN NOT p.extends THEN coalesce(r.latest, 0)
                    WHEN p.week_start = ms.last_active_week + 7 THEN ms.latest_run_weeks + 1
                    ELSE 1 END AS latest_run_weeks,
               CASE WHEN p.extends THEN ms.longest_streak_weeks ELSE coalesce(r.longest, 0) END AS longest
        FROM plan AS p
        JOIN mentor_stats AS ms ON ms.org_id = p.org_id AND ms.peer_mentor_id = p.peer_mentor_id
        LEFT JOIN recomputed AS r ON r.org_id = p.org_id AND r.peer_mentor_id = p.peer_mentor_id
    )
    UPDATE mentor_stats AS s
    SET last_active_week = u.last_active_week,
        latest_run_weeks = u.latest_run_weeks,
        longest_streak_weeks = greatest(u.longest, u.latest_run_weeks)
    FROM updated AS u
    WHERE s.org_id = u.org_id AND s.peer_mentor_id = u.peer_mentor_id;

    -- 6. Queue every touched mentor for evaluation (same transaction: committed together or not at all).
    PERFORM queue_evaluations(array_agg(d.org_id), array_agg(d.peer_mentor_id), 'activity', false)
    FROM unnest(p_deltas) AS d;
END;
$$;

CREATE OR REPLACE FUNCTION apply_activity_deltas(p_deltas activity_delta[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- Per mentor with an inserted week bucket row: the earliest such week (from F2 to F3).
    new_week_orgs     uuid[];
    new_week_mentors  uuid[];
    new_week_firsts   date[];
    queued            int;
BEGIN
    IF p_deltas IS NULL OR cardinality(p_deltas) = 0 THEN
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM unnest(p_deltas) AS d WHERE NOT (d.n > 0 AND d.minutes >= 0)) THEN
        -- F1. Lock (create) the snapshot rows in a fixed order, add totals, types and dates, and queue
        --     the mentors for evaluation (same transaction: committed together or not at all).
        WITH locked AS (
            INSERT INTO mentor_stats AS s
                (org_id, peer_mentor_id, total_count, by_type, total_minutes, minutes_by_type,
                 first_activity_date, last_activity_date)
            SELECT t.org_id, t.peer_mentor_id, sum(t.n)::int, jsonb_object_agg(t.activity_type, t.n),
                   sum(t.minutes)::bigint,
                   coalesce(jsonb_object_agg(t.activity_type, t.minutes) FILTER (WHERE t.minutes <> 0), '{}'),
                   min(t.first_date), max(t.last_date)
            FROM (SELECT d.org_id, d.peer_mentor_id, d.activity_type, sum(d.n) AS n, sum(d.minutes) AS minutes,
                         min(d.activity_date) AS first_date, max(d.activity_date) AS last_date
                  FROM unnest(p_deltas) AS d
                  GROUP BY 1, 2, 3) AS t
            GROUP BY 1, 2
            ORDER BY 1, 2
            ON CONFLICT (org_id, peer_mentor_id) DO UPDATE
            SET total_count = s.total_count + EXCLUDED.total_count,
                -- Counts only grow here, so no type drops out: merged inline (add_type_counts is a
                -- function call per row).
                by_type = s.by_type || (SELECT jsonb_object_agg(e.key, coalesce((s.by_type ->> e.key)::int, 0)
                                                                       + e.value::int)
                                        FROM jsonb_each_text(EXCLUDED.by_type) AS e),
                total_minutes = s.total_minutes + EXCLUDED.total_minutes,
                minutes_by_type = s.minutes_by_type || coalesce(
                    (SELECT jsonb_object_agg(e.key, coalesce((s.minutes_by_type ->> e.key)::bigint, 0)
                                                    + e.value::bigint)
                       FROM jsonb_each_text(EXCLUDED.minutes_by_type) AS e), '{}'),
                first_activity_date = least(s.first_activity_date, EXCLUDED.first_activity_date),
                last_activity_date = greatest(s.last_activity_date, EXCLUDED.last_activity_date),
                updated_at = now()
            RETURNING s.org_id, s.peer_mentor_id
        )
        SELECT queue_evaluations(array_agg(l.org_id), array_agg(l.peer_mentor_id), 'activity', false)
        INTO STRICT queued
        FROM locked AS l;

        -- F2. Week buckets: existing rows are updated, the others inserted (plain inserts, no
        --     speculative insertion). Per mentor, the earliest week in which a row was inserted: a week
        --     can only have become active there (a week that already had a row was active).
        WITH delta AS (
            SELECT d.org_id, d.peer_mentor_id, iso_week_start(d.activity_date) AS week_start, d.activity_type,
                   sum(d.n)::int AS n, sum(d.minutes)::bigint AS minutes
            FROM unnest(p_deltas) AS d
            GROUP BY 1, 2, 3, 4
        ), updated AS (
            UPDATE mentor_week_activity AS w
            SET n = w.n + delta.n, minutes = w.minutes + delta.minutes
            FROM delta
            WHERE w.org_id = delta.org_id AND w.peer_mentor_id = delta.peer_mentor_id
              AND w.week_start = delta.week_start AND w.activity_type = delta.activity_type
            RETURNING w.org_id, w.peer_mentor_id, w.week_start, w.activity_type
        ), inserted AS (
            INSERT INTO mentor_week_activity (org_id, peer_mentor_id, week_start, activity_type, n, minutes)
            SELECT delta.* FROM delta
            WHERE NOT EXISTS (SELECT 1 FROM updated AS u
                              WHERE u.org_id = delta.org_id AND u.peer_mentor_id = delta.peer_mentor_id
                                AND u.week_start = delta.week_start AND u.activity_type = delta.activity_type)
            RETURNING org_id, peer_mentor_id, week_start
        )
        SELECT array_agg(f.org_id), array_agg(f.peer_mentor_id), array_agg(f.first_new)
        INTO new_week_orgs, new_week_mentors, new_week_firsts
        FROM (SELECT i.org_id, i.peer_mentor_id, min(i.week_start) AS first_new
              FROM inserted AS i GROUP BY 1, 2) AS f;

        -- Year buckets: a positive delta is always a valid new row, so ON CONFLICT can add it.
        INSERT INTO mentor_year_activity AS y (org_id, peer_mentor_id, year, activity_type, n, minutes)
        SELECT d.org_id, d.peer_mentor_id, extract(year FROM d.activity_date)::int, d.activity_type, sum(d.n)::int,
               sum(d.minutes)::bigint
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (org_id, peer_mentor_id, year, activity_type) DO UPDATE
        SET n = y.n + EXCLUDED.n, minutes = y.minutes + EXCLUDED.minutes;

        -- F3. Streaks of the mentors with an inserted week row, from their buckets from week `first_new
        --     - 7 * longest` on. Weeks before first_new are old, so the old weeks of a run through
        --     first_new are at most the old longest streak: every run holding a new week is read whole,
        --     the latest run too (it ends at or after first_new), and a run cut at the lower bound is
        --     old and no longer than the old longest. Adding only lengthens or joins runs, so the new
        --     longest is the greater of the old one and the longest run read.
        IF new_week_mentors IS NOT NULL THEN
            UPDATE mentor_stats AS s
            SET (last_active_week, latest_run_weeks, longest_streak_weeks) = (
                SELECT max(r.start_week + 7 * (r.weeks - 1)), (array_agg(r.weeks ORDER BY r.start_week DESC))[1],
                       greatest(s.longest_streak_weeks, max(r.weeks))
                FROM week_runs(ARRAY(
                    SELECT DISTINCT w.week_start FROM mentor_week_activity AS w
                    WHERE w.org_id = s.org_id AND w.peer_mentor_id = s.peer_mentor_id
                      AND w.week_start >= nw.first_new - 7 * s.longest_streak_weeks)) AS r)
            FROM unnest(new_week_orgs, new_week_mentors, new_week_firsts) AS nw(org_id, peer_mentor_id, first_new)
            WHERE s.org_id = nw.org_id AND s.peer_mentor_id = nw.peer_mentor_id;
        END IF;
        RETURN;
    END IF;

    PERFORM apply_activity_deltas_general(p_deltas);
END;
$$;

CREATE OR REPLACE FUNCTION mentor_stats_read(p_org_id uuid, p_mentor_ids uuid[], p_today date, p_now timestamptz)
RETURNS TABLE (
    timezone              text,
    today                 date,
    peer_mentor_id        uuid,
    is_member             boolean,
    has_snapshot          boolean,
    total_count           int,
    by_type               jsonb,
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
    default_runs          json    -- week runs up to this week, when the snapshot has future weeks
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
           s.total_count, s.by_type, s.total_minutes, s.first_activity_date, s.last_activity_date,
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
           CASE WHEN s.last_active_week > c.this_week THEN (
               SELECT json_agg(json_build_object('start_week', r.start_week, 'weeks', r.weeks) ORDER BY r.start_week)
               FROM mentor_week_runs(c.org_id, m.id, c.this_week, NULL, 1) AS r
           ) END
    FROM c
    CROSS JOIN unnest(p_mentor_ids) AS m(id)
    -- One primary-key probe per mentor, whatever the generic plan guesses about the array's size
    -- (LIMIT keeps the planner from flattening this into a join over the whole table).
    LEFT JOIN LATERAL (SELECT * FROM mentor_stats AS ms
                       WHERE ms.org_id = c.org_id AND ms.peer_mentor_id = m.id LIMIT 1) AS s ON true
    ORDER BY m.id;
END;
$$;

CREATE OR REPLACE FUNCTION mentor_facts_read(
    p_org_id uuid, p_mentor_id uuid, p_today date,
    p_need_year boolean, p_windows jsonb, p_crossings jsonb, p_streaks jsonb
) RETURNS TABLE (year_counts json, window_counts json, crossing_dates json, streak_runs json)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    this_week date := iso_week_start(p_today);
    snapshot_last_week date;
    snapshot_longest int;
BEGIN
    SELECT s.last_active_week, s.longest_streak_weeks INTO snapshot_last_week, snapshot_longest
    FROM mentor_stats AS s WHERE s.org_id = p_org_id AND s.peer_mentor_id = p_mentor_id;

    RETURN QUERY SELECT
        CASE WHEN p_need_year THEN (
            SELECT json_object_agg(y.activity_type, y.n) FROM mentor_year_activity AS y
            WHERE y.org_id = p_org_id AND y.peer_mentor_id = p_mentor_id
              AND y.year = extract(year FROM p_today)::int
        ) END,
        (SELECT json_object_agg(r.key, (
             SELECT count(*) FROM counted_activities AS a
             WHERE a.peer_mentor_id = p_mentor_id AND a.activity_date BETWEEN r.since AND p_today
               AND a.org_id = p_org_id
               AND (r.types IS NULL OR a.activity_type = ANY (r.types))))
         FROM jsonb_to_recordset(p_windows) AS r(key text, since date, types text[])),
        (SELECT json_object_agg(r.key, (
             SELECT json_agg(x.activity_date ORDER BY x.activity_date)
             FROM (SELECT a.activity_date FROM counted_activities AS a
                   WHERE a.peer_mentor_id = p_mentor_id
                     AND a.activity_date >= coalesce(r.since, '-infinity'::date) AND a.activity_date <= p_today
                     AND a.org_id = p_org_id
                     AND (r.types IS NULL OR a.activity_type = ANY (r.types))
                   ORDER BY a.activity_date
                   LIMIT r.max_n) AS x))
         FROM jsonb_to_recordset(p_crossings) AS r(key text, since date, types text[], max_n int)),
        (SELECT json_object_agg(r.key, (
             SELECT coalesce(json_agg(json_build_object('start_week', w.start_week, 'weeks', w.weeks)
                                      ORDER BY w.start_week), '[]'::json)
             FROM mentor_week_runs(p_org_id, p_mentor_id, this_week, r.types, r.min_per_week) AS w))
         FROM jsonb_to_recordset(p_streaks) AS r(key text, types text[], min_per_week int, targets int[])
         WHERE NOT (r.types IS NULL AND r.min_per_week = 1
                    AND coalesce(snapshot_last_week <= this_week, true)
                    AND NOT EXISTS (SELECT 1 FROM unnest(r.targets) AS n
                                    WHERE n <= coalesce(snapshot_longest, 0))));
END;
$$;

DROP FUNCTION reference_mentor_stats(uuid, uuid);
CREATE FUNCTION reference_mentor_stats(p_org_id uuid, p_peer_mentor_id uuid DEFAULT NULL)
RETURNS TABLE (
    org_id                uuid,
    peer_mentor_id        uuid,
    total_count           int,
    by_type               jsonb,
    total_minutes         bigint,
    minutes_by_type       jsonb,
    first_activity_date   date,
    last_activity_date    date,
    last_active_week      date,
    latest_run_weeks      int,
    longest_streak_weeks  int
)
LANGUAGE sql STABLE
AS $$
    WITH counted AS (
        SELECT a.org_id, a.peer_mentor_id, a.activity_type, a.activity_date, a.duration_minutes
        FROM counted_activities AS a
        WHERE a.org_id = p_org_id
          AND (p_peer_mentor_id IS NULL OR a.peer_mentor_id = p_peer_mentor_id)
    ), totals AS (
        SELECT c.org_id, c.peer_mentor_id, count(*)::int AS total_count,
               coalesce(sum(c.duration_minutes), 0)::bigint AS total_minutes,
               min(c.activity_date) AS first_activity_date, max(c.activity_date) AS last_activity_date
        FROM counted AS c GROUP BY 1, 2
    ), types AS (
        SELECT t.org_id, t.peer_mentor_id, jsonb_object_agg(t.activity_type, t.n) AS by_type,
               coalesce(jsonb_object_agg(t.activity_type, t.minutes) FILTER (WHERE t.minutes <> 0), '{}')
                   AS minutes_by_type
        FROM (SELECT c.org_id, c.peer_mentor_id, c.activity_type, count(*)::int AS n,
                     coalesce(sum(c.duration_minutes), 0)::bigint AS minutes
              FROM counted AS c GROUP BY 1, 2, 3) AS t
        GROUP BY 1, 2
    ), runs AS (
        SELECT m.org_id, m.peer_mentor_id, r.weeks, r.start_week + 7 * (r.weeks - 1) AS last_week,
               rank() OVER (PARTITION BY m.org_id, m.peer_mentor_id ORDER BY r.start_week DESC) AS recency
        FROM (SELECT c.org_id, c.peer_mentor_id, array_agg(DISTINCT iso_week_start(c.activity_date)) AS weeks
              FROM counted AS c GROUP BY 1, 2) AS m
        CROSS JOIN LATERAL week_runs(m.weeks) AS r
    ), streaks AS (
        SELECT r.org_id, r.peer_mentor_id, max(r.last_week) AS last_active_week,
               max(r.weeks) FILTER (WHERE r.recency = 1) AS latest_run_weeks,
               max(r.weeks) AS longest_streak_weeks
        FROM runs AS r GROUP BY 1, 2
    )
    SELECT t.org_id, t.peer_mentor_id, t.total_count, ty.by_type, t.total_minutes, ty.minutes_by_type,
           t.first_activity_date, t.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks
    FROM totals AS t
    JOIN types AS ty USING (org_id, peer_mentor_id)
    JOIN streaks AS s USING (org_id, peer_mentor_id)
$$;

CREATE OR REPLACE FUNCTION rebuild_mentor_stats(p_org_id uuid, p_peer_mentor_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mentor_stats AS s (org_id, peer_mentor_id) VALUES (p_org_id, p_peer_mentor_id)
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE SET updated_at = now();

    DELETE FROM mentor_week_activity WHERE org_id = p_org_id AND peer_mentor_id = p_peer_mentor_id;
    INSERT INTO mentor_week_activity (org_id, peer_mentor_id, week_start, activity_type, n, minutes)
    SELECT a.org_id, a.peer_mentor_id, iso_week_start(a.activity_date), a.activity_type,
           count(*), coalesce(sum(a.duration_minutes), 0)
    FROM counted_activities AS a
    WHERE a.org_id = p_org_id AND a.peer_mentor_id = p_peer_mentor_id
    GROUP BY 1, 2, 3, 4;

    DELETE FROM mentor_year_activity WHERE org_id = p_org_id AND peer_mentor_id = p_peer_mentor_id;
    INSERT INTO mentor_year_activity (org_id, peer_mentor_id, year, activity_type, n, minutes)
    SELECT a.org_id, a.peer_mentor_id, extract(year FROM a.activity_date)::int, a.activity_type, count(*),
           coalesce(sum(a.duration_minutes), 0)
    FROM counted_activities AS a
    WHERE a.org_id = p_org_id AND a.peer_mentor_id = p_peer_mentor_id
    GROUP BY 1, 2, 3, 4;

    UPDATE mentor_stats AS s
    SET total_count = coalesce(r.total_count, 0),
        by_type = coalesce(r.by_type, '{}'::jsonb),
        total_minutes = coalesce(r.total_minutes, 0),
        minutes_by_type = coalesce(r.minutes_by_type, '{}'::jsonb),
        first_activity_date = r.first_activity_date,
        last_activity_date = r.last_activity_date,
        last_active_week = r.last_active_week,
        latest_run_weeks = coalesce(r.latest_run_weeks, 0),
        longest_streak_weeks = coalesce(r.longest_streak_weeks, 0),
        updated_at = now()
    FROM (SELECT p_org_id AS org_id, p_peer_mentor_id AS peer_mentor_id) AS k
    LEFT JOIN reference_mentor_stats(p_org_id, p_peer_mentor_id) AS r USING (org_id, peer_mentor_id)
    WHERE s.org_id = k.org_id AND s.peer_mentor_id = k.peer_mentor_id;
END;
$$;

-- Mentors of an org whose snapshot or week/year buckets disagree with the raw activities (the reconcile
-- job's repair list): a bucket corrupted on its own is found too, not only a wrong snapshot.
CREATE OR REPLACE FUNCTION mentor_stats_drift(p_org_id uuid) RETURNS TABLE (peer_mentor_id uuid)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(s.peer_mentor_id, r.peer_mentor_id)
    FROM (SELECT * FROM mentor_stats WHERE org_id = p_org_id) AS s
    FULL JOIN reference_mentor_stats(p_org_id) AS r ON r.peer_mentor_id = s.peer_mentor_id
    WHERE (s.total_count, s.by_type, s.total_minutes, s.minutes_by_type, s.first_activity_date, s.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks)
          IS DISTINCT FROM
          (coalesce(r.total_count, 0), coalesce(r.by_type, '{}'::jsonb), coalesce(r.total_minutes, 0),
           coalesce(r.minutes_by_type, '{}'::jsonb),
           r.first_activity_date, r.last_activity_date,
           r.last_active_week, coalesce(r.latest_run_weeks, 0), coalesce(r.longest_streak_weeks, 0))
    UNION
    SELECT coalesce(b.peer_mentor_id, r.peer_mentor_id)
    FROM (SELECT * FROM mentor_week_activity WHERE org_id = p_org_id) AS b
    FULL JOIN (SELECT a.peer_mentor_id, iso_week_start(a.activity_date) AS week_start, a.activity_type,
                      count(*)::int AS n, coalesce(sum(a.duration_minutes), 0)::bigint AS minutes
               FROM counted_activities AS a WHERE a.org_id = p_org_id
               GROUP BY 1, 2, 3) AS r
      ON r.peer_mentor_id = b.peer_mentor_id AND r.week_start = b.week_start AND r.activity_type = b.activity_type
    WHERE (b.n, b.minutes) IS DISTINCT FROM (r.n, r.minutes)
    UNION
    SELECT coalesce(y.peer_mentor_id, r.peer_mentor_id)
    FROM (SELECT * FROM mentor_year_activity WHERE org_id = p_org_id) AS y
    FULL JOIN (SELECT a.peer_mentor_id, extract(year FROM a.activity_date)::int AS year, a.activity_type,
                      count(*)::int AS n, coalesce(sum(a.duration_minutes), 0)::bigint AS minutes
               FROM counted_activities AS a WHERE a.org_id = p_org_id
               GROUP BY 1, 2, 3) AS r
      ON r.peer_mentor_id = y.peer_mentor_id AND r.year = y.year AND r.activity_type = y.activity_type
    WHERE (y.n, y.minutes) IS DISTINCT FROM (r.n, r.minutes)
$$;

-- "Who qualifies, and since when": for each criteria family, every (mentor, level) met as of p_today
-- with the date it was met (earned_at), over every mentor of the org (p_mentors NULL) or the ones
-- named. Reconcile and definition backfills award from it, preview counts it; the per-mentor event
-- path answers the same question from bounded facts, and tests/integration/test_criteria_paths.py
-- holds the two together. Each is one SELECT, so the planner inlines it with the caller's values.

-- threshold, tier, milestone: level L is met on the date on which the running measure of counted
-- activities of p_types dated p_since..p_today, in (date, created_at, id) order, first reaches target(L):
-- the count (the target-th activity), or with p_measure 'minutes' the sum of duration_minutes (null: 0).
CREATE FUNCTION count_crossings(
    p_org_id uuid, p_mentors uuid[], p_types text[], p_since date, p_today date, p_targets int[],
    p_measure text DEFAULT 'count'
) RETURNS TABLE (peer_mentor_id uuid, level int, earned_at date)
LANGUAGE sql STABLE
AS $$
    SELECT q.peer_mentor_id, t.level::int, min(q.activity_date)
    FROM (SELECT a.peer_mentor_id, a.activity_date,
                 CASE WHEN p_measure = 'minutes'
                      THEN sum(coalesce(a.duration_minutes, 0)) OVER w
                      ELSE row_number() OVER w END AS running
          FROM counted_activities AS a
          WHERE a.org_id = p_org_id
            AND (p_types IS NULL OR a.activity_type = ANY (p_types))
            AND a.activity_date >= coalesce(p_since, '-infinity'::date) AND a.activity_date <= p_today
            AND (p_mentors IS NULL OR a.peer_mentor_id = ANY (p_mentors))
          WINDOW w AS (PARTITION BY a.peer_mentor_id ORDER BY a.activity_date, a.created_at, a.id)) AS q
    JOIN unnest(p_targets) WITH ORDINALITY AS t(target, level) ON q.running >= t.target
    GROUP BY q.peer_mentor_id, t.level
$$;

-- streak: met on the Monday of the week in which a run of weeks (up to this one) with at least
-- p_min_per_week counted activities of p_types first reached p_weeks.
CREATE FUNCTION streak_crossings(
    p_org_id uuid, p_mentors uuid[], p_types text[], p_min_per_week int, p_today date, p_weeks int
) RETURNS TABLE (peer_mentor_id uuid, level int, earned_at date)
LANGUAGE sql STABLE
AS $$
    SELECT m.peer_mentor_id, 1, min(r.start_week + 7 * (p_weeks - 1))
    FROM (SELECT w.peer_mentor_id, array_agg(w.week_start) AS weeks
          FROM (SELECT b.peer_mentor_id, b.week_start FROM mentor_week_activity AS b
                WHERE b.org_id = p_org_id AND b.week_start <= iso_week_start(p_today)
                  AND (p_types IS NULL OR b.activity_type = ANY (p_types))
                  AND (p_mentors IS NULL OR b.peer_mentor_id = ANY (p_mentors))
                GROUP BY 1, 2
                HAVING sum(b.n) >= p_min_per_week) AS w
          GROUP BY w.peer_mentor_id) AS m
    CROSS JOIN LATERAL week_runs(m.weeks) AS r
    WHERE r.weeks >= p_weeks
    GROUP BY m.peer_mentor_id
$$;

-- training_completion: per required code, the org-local date of the first completion that counts
-- today (done by today; with p_only_valid, not expired by today); 'all' is met on the latest of those
-- dates once every code has one, 'any' on the earliest.
CREATE FUNCTION training_crossings(
    p_org_id uuid, p_mentors uuid[], p_codes text[], p_require text, p_only_valid boolean, p_today date
) RETURNS TABLE (peer_mentor_id uuid, level int, earned_at date)
LANGUAGE sql STABLE
AS $$
    SELECT h.peer_mentor_id, 1, CASE WHEN p_require = 'all' THEN max(h.done) ELSE min(h.done) END
    FROM (SELECT t.peer_mentor_id, t.training_code, min((t.completed_at AT TIME ZONE o.timezone)::date) AS done
          FROM training_completions AS t
          JOIN organizations AS o ON o.id = t.org_id
          WHERE t.org_id = p_org_id AND t.training_code = ANY (p_codes)
            AND (t.completed_at AT TIME ZONE o.timezone)::date <= p_today
            AND (NOT p_only_valid OR t.expires_at IS NULL
                 OR (t.expires_at AT TIME ZONE o.timezone)::date > p_today)
            AND (p_mentors IS NULL OR t.peer_mentor_id = ANY (p_mentors))
          GROUP BY 1, 2) AS h
    GROUP BY h.peer_mentor_id
    HAVING p_require = 'any' OR count(*) = cardinality(p_codes)
$$;

-- Live or quiet (SPEC 8.1). backfill_from is when a definition last started a backfill: created, its
-- criteria changed, unarchived or re-activated (a rename does not move it). An award for a mentor with
-- a pending write-caused outbox row from that moment on is live; anything else a backfill finds is quiet.
ALTER TABLE badge_definitions ADD COLUMN backfill_from timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION badge_definitions_backfill_from() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.criteria IS DISTINCT FROM OLD.criteria
       OR (OLD.archived_at IS NOT NULL AND NEW.archived_at IS NULL)
       OR (NOT OLD.active AND NEW.active) THEN
        NEW.backfill_from := now();
    ELSE
        NEW.backfill_from := OLD.backfill_from;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER badge_definitions_backfill_from
    BEFORE UPDATE ON badge_definitions
    FOR EACH ROW EXECUTE FUNCTION badge_definitions_backfill_from();

-- Backfills to run, one row per definition that started one; the drain runs each set-based
-- (peer_badges.backfill) and quietly awards what the definition's query finds. Claimed, retried and
-- parked like the outboxes (peer_badges.outbox).
CREATE TABLE definition_backfills (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id               uuid NOT NULL,
    badge_definition_id  uuid NOT NULL,
    reason               text NOT NULL,
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'parked')),
    attempts             int NOT NULL DEFAULT 0,
    available_at         timestamptz NOT NULL DEFAULT now(),
    last_error           text NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    processed_at         timestamptz NULL,
    parked_at            timestamptz NULL
);
CREATE INDEX definition_backfills_pending_idx ON definition_backfills (available_at, id) WHERE status = 'pending';

CREATE FUNCTION badge_definitions_queue_backfill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.active AND NEW.archived_at IS NULL AND NEW.criteria ->> 'type' <> 'manual'
       AND (TG_OP = 'INSERT' OR NEW.backfill_from IS DISTINCT FROM OLD.backfill_from) THEN
        INSERT INTO definition_backfills (org_id, badge_definition_id, reason)
        VALUES (NEW.org_id, NEW.id, CASE WHEN TG_OP = 'INSERT' THEN 'definition_created'
                                         ELSE 'definition_changed' END);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER badge_definitions_queue_backfill
    AFTER INSERT OR UPDATE ON badge_definitions
    FOR EACH ROW EXECUTE FUNCTION badge_definitions_queue_backfill();

-- A mentor's pending write-caused rows, for the live-or-quiet check (one index probe).
CREATE INDEX evaluation_outbox_pending_mentor_idx ON evaluation_outbox (peer_mentor_id, created_at)
    WHERE status = 'pending' AND NOT backfill;

-- Snapshots and year buckets written before this migration get their minutes (and are checked whole).
SELECT rebuild_mentor_stats(m.org_id, m.peer_mentor_id)
FROM (SELECT DISTINCT org_id, peer_mentor_id FROM mentor_stats ORDER BY 1, 2) AS m;

-- The handlers read the view and run the backfill queue (functions: see 005's GRANT EXECUTE).
GRANT SELECT ON counted_activities TO peer_badges_app;
GRANT SELECT, INSERT, UPDATE ON definition_backfills TO peer_badges_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO peer_badges_app;
