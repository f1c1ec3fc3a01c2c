-- Per-mentor statistics kept current by triggers, in the same transaction as the activity write,
-- so that reading stats never scans raw activities (SPEC sections 2 and 4).
--
-- Only approved, non-deleted activities count. Everything below is derived from `activities`:
--   mentor_week_activity  per (mentor, ISO week, type): count and minutes  -> streaks, weekly filters
--   mentor_year_activity  per (mentor, calendar year, type): count         -> calendar-year windows
--   mentor_stats          per mentor: totals, per-type counts, dates, streak summary
-- Training completions are few per mentor and indexed by (org_id, peer_mentor_id, training_code), so they
-- are read directly; their changes only touch mentor_stats.updated_at and the outbox (reason 'training').
--
-- The triggers are statement-level with transition tables, so a bulk write is aggregated once per
-- statement. Every writer locks the affected mentors' mentor_stats rows first, in (org_id, peer_mentor_id)
-- order, and only then touches their buckets: concurrent writers serialise per mentor and cannot deadlock
-- on the derived tables.

-- The Monday of the ISO week of a date. Plain date arithmetic: an activity_date has no time zone, so
-- the week needs none (the org's time zone only decides which week is "this week", at read time).
CREATE FUNCTION iso_week_start(d date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN d - (extract(isodow FROM d)::int - 1);

CREATE TABLE mentor_stats (
    org_id                uuid NOT NULL,
    peer_mentor_id        uuid NOT NULL,
    total_count           int NOT NULL DEFAULT 0 CHECK (total_count >= 0),
    by_type               jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(by_type) = 'object'),
    total_minutes         bigint NOT NULL DEFAULT 0 CHECK (total_minutes >= 0),
    first_activity_date   date NULL,
    last_activity_date    date NULL,
    -- Monday of the latest ISO week with at least one counted activity.
    last_active_week      date NULL CHECK (last_active_week IS NULL OR extract(isodow FROM last_active_week) = 1),
    -- Length of the run of consecutive active weeks ending at last_active_week. Whether that run is still
    -- "current" depends on today's date in the org's time zone, so it is decided at read time.
    latest_run_weeks      int NOT NULL DEFAULT 0 CHECK (latest_run_weeks >= 0),
    longest_streak_weeks  int NOT NULL DEFAULT 0 CHECK (longest_streak_weeks >= latest_run_weeks),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, peer_mentor_id)
);

CREATE TABLE mentor_week_activity (
    org_id          uuid NOT NULL,
    peer_mentor_id  uuid NOT NULL,
    week_start      date NOT NULL CHECK (extract(isodow FROM week_start) = 1),
    activity_type   text NOT NULL,
    n               int NOT NULL CHECK (n >= 0),  -- rows reaching 0 are deleted in the same statement
    minutes         bigint NOT NULL CHECK (minutes >= 0),
    PRIMARY KEY (org_id, peer_mentor_id, week_start, activity_type)
);

CREATE TABLE mentor_year_activity (
    org_id          uuid NOT NULL,
    peer_mentor_id  uuid NOT NULL,
    year            int NOT NULL,
    activity_type   text NOT NULL,
    n               int NOT NULL CHECK (n >= 0),
    PRIMARY KEY (org_id, peer_mentor_id, year, activity_type)
);

-- One net change of the counted activities: n rows (negative = removed) of one type on one date.
CREATE TYPE activity_delta AS (
    org_id          uuid,
    peer_mentor_id  uuid,
    activity_type   text,
    activity_date   date,
    n               int,
    minutes         bigint
);

-- Per-type counts merged with a delta; types that reach 0 disappear.
CREATE FUNCTION add_type_counts(counts jsonb, delta jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb)
    FROM (
        SELECT k, sum(v) AS v
        FROM (
            SELECT key AS k, value::int AS v FROM jsonb_each_text(coalesce(counts, '{}'::jsonb))
            UNION ALL
            SELECT key, value::int FROM jsonb_each_text(coalesce(delta, '{}'::jsonb))
        ) AS parts
        GROUP BY k
    ) AS merged
    WHERE v <> 0
);

-- Applies net changes to the snapshot and buckets of every mentor they touch and queues each such
-- mentor for evaluation. Callers pass deltas with no zero rows (n = 0 and minutes = 0).
CREATE FUNCTION apply_activity_deltas(p_deltas activity_delta[]) RETURNS void
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
               sum(d.n)::int AS n
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3, 4
        HAVING sum(d.n) <> 0
    ), updated AS (
        UPDATE mentor_year_activity AS y
        SET n = y.n + delta.n
        FROM delta
        WHERE y.org_id = delta.org_id AND y.peer_mentor_id = delta.peer_mentor_id
          AND y.year = delta.year AND y.activity_type = delta.activity_type
        RETURNING y.org_id, y.peer_mentor_id, y.year, y.activity_type
    )
    INSERT INTO mentor_year_activity (org_id, peer_mentor_id, year, activity_type, n)
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
        updated_at = now()
    FROM (
        SELECT t.org_id, t.peer_mentor_id, sum(t.dn) AS dn, sum(t.dm) AS dm,
               jsonb_object_agg(t.activity_type, t.dn) FILTER (WHERE t.dn <> 0) AS types
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
                SELECT min(a.activity_date) FROM activities AS a
                WHERE a.peer_mentor_id = s.peer_mentor_id AND a.org_id = s.org_id
                  AND a.status = 'approved' AND a.deleted_at IS NULL
                  AND a.activity_date BETWEEN c.first_week AND c.first_week + 6)
            ELSE least(s.first_activity_date, c.added_min) END,
        last_activity_date = CASE
            WHEN s.total_count = 0 THEN NULL
            WHEN c.removed_last THEN (
                SELECT max(a.activity_date) FROM activities AS a
                WHERE a.peer_mentor_id = s.peer_mentor_id AND a.org_id = s.org_id
                  AND a.status = 'approved' AND a.deleted_at IS NULL
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
    ), islands AS (
        SELECT w.org_id, w.peer_mentor_id, w.week_start,
               w.week_start - 7 * row_number() OVER (
                   PARTITION BY w.org_id, w.peer_mentor_id ORDER BY w.week_start)::int AS island
        FROM (SELECT DISTINCT mw.org_id, mw.peer_mentor_id, mw.week_start
              FROM mentor_week_activity AS mw
              JOIN plan AS p ON p.org_id = mw.org_id AND p.peer_mentor_id = mw.peer_mentor_id AND NOT p.extends
        ) AS w
    ), runs AS (
        SELECT i.org_id, i.peer_mentor_id, count(*)::int AS weeks, max(i.week_start) AS last_week
        FROM islands AS i
        GROUP BY i.org_id, i.peer_mentor_id, i.island
    ), recomputed AS (
        SELECT r.org_id, r.peer_mentor_id, max(r.weeks) AS longest, max(r.last_week) AS last_week,
               (array_agg(r.weeks ORDER BY r.last_week DESC))[1] AS latest
        FROM runs AS r
        GROUP BY r.org_id, r.peer_mentor_id
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
    INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)
    SELECT DISTINCT d.org_id, d.peer_mentor_id, 'activity' FROM unnest(p_deltas) AS d
    ORDER BY 1, 2;
END;
$$;

-- Net change of counted rows in one statement. Old rows count -1, new rows +1, so an update that
-- changes nothing that counts (or only a pending/rejected row) nets out to no delta at all.
CREATE FUNCTION activities_stats_trigger() RETURNS trigger
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
              WHERE r.status = 'approved' AND r.deleted_at IS NULL
              GROUP BY 1, 2, 3, 4) AS c;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ROW(c.org_id, c.peer_mentor_id, c.activity_type, c.activity_date, c.n, c.minutes)::activity_delta)
        INTO deltas
        FROM (SELECT r.org_id, r.peer_mentor_id, r.activity_type, r.activity_date,
                     -count(*)::int AS n, -sum(coalesce(r.duration_minutes, 0))::bigint AS minutes
              FROM old_rows AS r
              WHERE r.status = 'approved' AND r.deleted_at IS NULL
              GROUP BY 1, 2, 3, 4) AS c;
    ELSE
        SELECT array_agg(ROW(c.org_id, c.peer_mentor_id, c.activity_type, c.activity_date, c.n, c.minutes)::activity_delta)
        INTO deltas
        FROM (SELECT r.org_id, r.peer_mentor_id, r.activity_type, r.activity_date,
                     sum(r.n)::int AS n, sum(r.minutes)::bigint AS minutes
              FROM (SELECT o.org_id, o.peer_mentor_id, o.activity_type, o.activity_date,
                           -1 AS n, -coalesce(o.duration_minutes, 0) AS minutes
                    FROM old_rows AS o WHERE o.status = 'approved' AND o.deleted_at IS NULL
                    UNION ALL
                    SELECT w.org_id, w.peer_mentor_id, w.activity_type, w.activity_date,
                           1, coalesce(w.duration_minutes, 0)
                    FROM new_rows AS w WHERE w.status = 'approved' AND w.deleted_at IS NULL) AS r
              GROUP BY 1, 2, 3, 4
              HAVING sum(r.n) <> 0 OR sum(r.minutes) <> 0) AS c;
    END IF;
    PERFORM apply_activity_deltas(deltas);
    RETURN NULL;
END;
$$;

-- Transition tables allow one event per trigger, hence three triggers on one function.
CREATE TRIGGER activities_stats_insert
    AFTER INSERT ON activities REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activities_stats_trigger();
CREATE TRIGGER activities_stats_update
    AFTER UPDATE ON activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activities_stats_trigger();
CREATE TRIGGER activities_stats_delete
    AFTER DELETE ON activities REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activities_stats_trigger();

-- TRUNCATE fires no row-level or delete triggers; the derived tables follow it so they never
-- describe activities that no longer exist.
CREATE FUNCTION activities_stats_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mentor_week_activity;
    DELETE FROM mentor_year_activity;
    DELETE FROM mentor_stats;
    RETURN NULL;
END;
$$;

CREATE TRIGGER activities_stats_truncate
    AFTER TRUNCATE ON activities
    FOR EACH STATEMENT EXECUTE FUNCTION activities_stats_truncate();

-- Training completions: mark the mentors' snapshot as changed (its updated_at feeds the stats ETag) and
-- queue them for evaluation (reason 'training'). The completions themselves are read directly: a
-- mentor has a handful, found through training_completions_mentor_idx.
CREATE TYPE mentor_key AS (org_id uuid, peer_mentor_id uuid);

CREATE FUNCTION training_completions_changed(p_mentors mentor_key[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_mentors IS NULL OR cardinality(p_mentors) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO mentor_stats AS s (org_id, peer_mentor_id)
    SELECT DISTINCT m.org_id, m.peer_mentor_id FROM unnest(p_mentors) AS m
    ORDER BY 1, 2
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE SET updated_at = now();

    INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)
    SELECT DISTINCT m.org_id, m.peer_mentor_id, 'training' FROM unnest(p_mentors) AS m
    ORDER BY 1, 2;
END;
$$;

CREATE FUNCTION training_completions_outbox_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mentors mentor_key[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT ROW(r.org_id, r.peer_mentor_id)::mentor_key)
        INTO mentors FROM new_rows AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT ROW(r.org_id, r.peer_mentor_id)::mentor_key)
        INTO mentors FROM old_rows AS r;
    ELSE
        -- Only rows that really changed; an UPDATE that rewrites the same values signals nothing.
        SELECT array_agg(DISTINCT ROW(changed.org_id, changed.peer_mentor_id)::mentor_key)
        INTO mentors
        FROM ((SELECT * FROM new_rows EXCEPT SELECT * FROM old_rows)
              UNION ALL
              (SELECT * FROM old_rows EXCEPT SELECT * FROM new_rows)) AS changed;
    END IF;
    PERFORM training_completions_changed(mentors);
    RETURN NULL;
END;
$$;

CREATE TRIGGER training_completions_outbox_insert
    AFTER INSERT ON training_completions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION training_completions_outbox_trigger();
CREATE TRIGGER training_completions_outbox_update
    AFTER UPDATE ON training_completions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION training_completions_outbox_trigger();
CREATE TRIGGER training_completions_outbox_delete
    AFTER DELETE ON training_completions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION training_completions_outbox_trigger();

-- Runs of consecutive ISO weeks, up to p_until_week, in which a mentor has at least p_min_per_week
-- counted activities of p_types (NULL: every type), from the week buckets only: O(active weeks).
-- Used for streak criteria with a type filter or a weekly minimum, and for streak milestones.
CREATE FUNCTION mentor_week_runs(
    p_org_id uuid, p_peer_mentor_id uuid, p_until_week date, p_types text[], p_min_per_week int
) RETURNS TABLE (start_week date, weeks int)
LANGUAGE sql STABLE
AS $$
    SELECT min(g.week_start), count(*)::int
    FROM (
        SELECT w.week_start,
               w.week_start - 7 * (row_number() OVER (ORDER BY w.week_start))::int AS island
        FROM mentor_week_activity AS w
        WHERE w.org_id = p_org_id AND w.peer_mentor_id = p_peer_mentor_id AND w.week_start <= p_until_week
          AND (p_types IS NULL OR w.activity_type = ANY (p_types))
        GROUP BY w.week_start
        HAVING sum(w.n) >= p_min_per_week
    ) AS g
    GROUP BY g.island
    ORDER BY 1
$$;

-- The read side (peer_badges.stats). In plpgsql so that each connection plans these statements once
-- and reuses the plan: the generic plan is forced because the custom plans plpgsql would otherwise
-- try first cost several times the execution (every lookup here is by key, so one plan fits all).
-- STABLE so that both run in the calling statement's snapshot.
--
-- mentor_stats_read: the stats rows of the given mentors as of today (p_today, or p_now's date in the
-- org's time zone), from the snapshot, the mentor's training completions and org membership. Activity
-- rows are read only when the snapshot says some are dated after today (they do not count yet), and
-- then only those. No row at all when the org does not exist.
CREATE FUNCTION mentor_stats_read(p_org_id uuid, p_mentor_ids uuid[], p_today date, p_now timestamptz)
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
                     FROM activities AS a
                     WHERE a.peer_mentor_id = m.id AND a.activity_date > c.today
                       AND a.org_id = c.org_id AND a.status = 'approved' AND a.deleted_at IS NULL
                     GROUP BY 1, 2) AS f
           ) END,
           CASE WHEN s.last_activity_date > c.today THEN (
               SELECT max(a.activity_date) FROM activities AS a
               WHERE a.peer_mentor_id = m.id AND a.activity_date <= c.today
                 AND a.org_id = c.org_id AND a.status = 'approved' AND a.deleted_at IS NULL
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

-- mentor_facts_read: the evaluator's counts and streaks for one mentor as of p_today (see
-- peer_badges.evaluation.FactRequests), each from the cheapest exact source:
--   p_windows   [{key, since, types}]: rolling windows, an index range scan over the window only;
--   p_crossings [{key, since, types, max_n}]: the first max_n qualifying dates in date order (only the
--               date of the Nth matters, so index order suffices; cost bounded by the threshold);
--   p_streaks   [{key, types, min_per_week, targets}]: week runs from the buckets. The plain streak
--               (every type, one a week) is left to the snapshot (no key in streak_runs) unless it has
--               future weeks or a target it reached must be dated.
--   year_counts (when p_need_year): this calendar year's per-type counts from mentor_year_activity.
CREATE FUNCTION mentor_facts_read(
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
             SELECT count(*) FROM activities AS a
             WHERE a.peer_mentor_id = p_mentor_id AND a.activity_date BETWEEN r.since AND p_today
               AND a.org_id = p_org_id AND a.status = 'approved' AND a.deleted_at IS NULL
               AND (r.types IS NULL OR a.activity_type = ANY (r.types))))
         FROM jsonb_to_recordset(p_windows) AS r(key text, since date, types text[])),
        (SELECT json_object_agg(r.key, (
             SELECT json_agg(x.activity_date ORDER BY x.activity_date)
             FROM (SELECT a.activity_date FROM activities AS a
                   WHERE a.peer_mentor_id = p_mentor_id
                     AND a.activity_date >= coalesce(r.since, '-infinity'::date) AND a.activity_date <= p_today
                     AND a.org_id = p_org_id AND a.status = 'approved' AND a.deleted_at IS NULL
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

-- Reference computation straight from raw activities (window functions, no derived tables), for the
-- reconcile job and the tests. p_peer_mentor_id NULL means every mentor of the org with counted activity.
-- Same columns as mentor_stats, minus updated_at.
CREATE FUNCTION reference_mentor_stats(p_org_id uuid, p_peer_mentor_id uuid DEFAULT NULL)
RETURNS TABLE (
    org_id                uuid,
    peer_mentor_id        uuid,
    total_count           int,
    by_type               jsonb,
    total_minutes         bigint,
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
        FROM activities AS a
        WHERE a.org_id = p_org_id
          AND (p_peer_mentor_id IS NULL OR a.peer_mentor_id = p_peer_mentor_id)
          AND a.status = 'approved' AND a.deleted_at IS NULL
    ), totals AS (
        SELECT c.org_id, c.peer_mentor_id, count(*)::int AS total_count,
               coalesce(sum(c.duration_minutes), 0)::bigint AS total_minutes,
               min(c.activity_date) AS first_activity_date, max(c.activity_date) AS last_activity_date
        FROM counted AS c GROUP BY 1, 2
    ), types AS (
        SELECT t.org_id, t.peer_mentor_id, jsonb_object_agg(t.activity_type, t.n) AS by_type
        FROM (SELECT c.org_id, c.peer_mentor_id, c.activity_type, count(*)::int AS n
              FROM counted AS c GROUP BY 1, 2, 3) AS t
        GROUP BY 1, 2
    ), weeks AS (
        SELECT DISTINCT c.org_id, c.peer_mentor_id,
               date_trunc('week', c.activity_date::timestamp)::date AS week_start
        FROM counted AS c
    ), islands AS (
        SELECT w.org_id, w.peer_mentor_id, w.week_start,
               w.week_start - 7 * (dense_rank() OVER (
                   PARTITION BY w.org_id, w.peer_mentor_id ORDER BY w.week_start))::int AS island
        FROM weeks AS w
    ), runs AS (
        SELECT i.org_id, i.peer_mentor_id, count(*)::int AS weeks, max(i.week_start) AS last_week,
               rank() OVER (PARTITION BY i.org_id, i.peer_mentor_id ORDER BY max(i.week_start) DESC) AS recency
        FROM islands AS i GROUP BY i.org_id, i.peer_mentor_id, i.island
    ), streaks AS (
        SELECT r.org_id, r.peer_mentor_id, max(r.last_week) AS last_active_week,
               max(r.weeks) FILTER (WHERE r.recency = 1) AS latest_run_weeks,
               max(r.weeks) AS longest_streak_weeks
        FROM runs AS r GROUP BY 1, 2
    )
    SELECT t.org_id, t.peer_mentor_id, t.total_count, ty.by_type, t.total_minutes,
           t.first_activity_date, t.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks
    FROM totals AS t
    JOIN types AS ty USING (org_id, peer_mentor_id)
    JOIN streaks AS s USING (org_id, peer_mentor_id)
$$;

-- Rebuild one mentor's snapshot and buckets from raw activities (reconcile, repair after bulk
-- loads with triggers disabled). Takes the same mentor_stats row lock as the triggers.
CREATE FUNCTION rebuild_mentor_stats(p_org_id uuid, p_peer_mentor_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mentor_stats AS s (org_id, peer_mentor_id) VALUES (p_org_id, p_peer_mentor_id)
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE SET updated_at = now();

    DELETE FROM mentor_week_activity WHERE org_id = p_org_id AND peer_mentor_id = p_peer_mentor_id;
    INSERT INTO mentor_week_activity (org_id, peer_mentor_id, week_start, activity_type, n, minutes)
    SELECT a.org_id, a.peer_mentor_id, iso_week_start(a.activity_date), a.activity_type,
           count(*), coalesce(sum(a.duration_minutes), 0)
    FROM activities AS a
    WHERE a.org_id = p_org_id AND a.peer_mentor_id = p_peer_mentor_id
      AND a.status = 'approved' AND a.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;

    DELETE FROM mentor_year_activity WHERE org_id = p_org_id AND peer_mentor_id = p_peer_mentor_id;
    INSERT INTO mentor_year_activity (org_id, peer_mentor_id, year, activity_type, n)
    SELECT a.org_id, a.peer_mentor_id, extract(year FROM a.activity_date)::int, a.activity_type, count(*)
    FROM activities AS a
    WHERE a.org_id = p_org_id AND a.peer_mentor_id = p_peer_mentor_id
      AND a.status = 'approved' AND a.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;

    UPDATE mentor_stats AS s
    SET total_count = coalesce(r.total_count, 0),
        by_type = coalesce(r.by_type, '{}'::jsonb),
        total_minutes = coalesce(r.total_minutes, 0),
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

-- Mentors of an org whose snapshot disagrees with the reference (the reconcile job's to-do list).
CREATE FUNCTION mentor_stats_drift(p_org_id uuid) RETURNS TABLE (peer_mentor_id uuid)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(s.peer_mentor_id, r.peer_mentor_id)
    FROM (SELECT * FROM mentor_stats WHERE org_id = p_org_id) AS s
    FULL JOIN reference_mentor_stats(p_org_id) AS r ON r.peer_mentor_id = s.peer_mentor_id
    WHERE (s.total_count, s.by_type, s.total_minutes, s.first_activity_date, s.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks)
          IS DISTINCT FROM
          (coalesce(r.total_count, 0), coalesce(r.by_type, '{}'::jsonb), coalesce(r.total_minutes, 0),
           r.first_activity_date, r.last_activity_date,
           r.last_active_week, coalesce(r.latest_run_weeks, 0), coalesce(r.longest_streak_weeks, 0))
$$;

-- Activities written before this migration: build the derived tables once (no outbox rows; the
-- evaluator's reconcile covers existing data).
SELECT rebuild_mentor_stats(m.org_id, m.peer_mentor_id)
FROM (SELECT DISTINCT org_id, peer_mentor_id FROM activities
      WHERE status = 'approved' AND deleted_at IS NULL ORDER BY 1, 2) AS m;
