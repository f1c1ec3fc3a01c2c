-- The snapshot's streak recompute after new week rows is written once: the bulk path's F3
-- (apply_activity_deltas, sql/008) and the one-activity path's backdated-week case
-- (apply_activity_delta, sql/027) carried the same UPDATE; both now call recompute_streaks.

-- Streaks of mentors given the earliest week in which each got a new week row (first_new), from their
-- buckets from week `first_new - 7 * longest` on. Weeks before first_new are old, so the old weeks of
-- a run through first_new are at most the old longest streak: every run holding a new week is read
-- whole, the latest run too (it ends at or after first_new), and a run cut at the lower bound is old
-- and no longer than the old longest. Adding only lengthens or joins runs, so the new longest is the
-- greater of the old one and the longest run read. Only for additions (the general path rebuilds).
CREATE FUNCTION recompute_streaks(p_org_ids uuid[], p_mentor_ids uuid[], p_first_new date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mentor_stats AS s
    SET (last_active_week, latest_run_weeks, longest_streak_weeks) = (
        SELECT max(r.start_week + 7 * (r.weeks - 1)), (array_agg(r.weeks ORDER BY r.start_week DESC))[1],
               greatest(s.longest_streak_weeks, max(r.weeks))
        FROM week_runs(ARRAY(
            SELECT DISTINCT w.week_start FROM mentor_week_activity AS w
            WHERE w.org_id = s.org_id AND w.peer_mentor_id = s.peer_mentor_id
              AND w.week_start >= nw.first_new - 7 * s.longest_streak_weeks)) AS r)
    FROM unnest(p_org_ids, p_mentor_ids, p_first_new) AS nw(org_id, peer_mentor_id, first_new)
    WHERE s.org_id = nw.org_id AND s.peer_mentor_id = nw.peer_mentor_id;
END;
$$;

CREATE OR REPLACE FUNCTION apply_activity_deltas(p_deltas activity_delta[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

        -- F3. Streaks of the mentors with an inserted week row (recompute_streaks).
        IF new_week_mentors IS NOT NULL THEN
            PERFORM recompute_streaks(new_week_orgs, new_week_mentors, new_week_firsts);
        END IF;
        RETURN;
    END IF;

    PERFORM apply_activity_deltas_general(p_deltas);
END;
$$;

CREATE OR REPLACE FUNCTION apply_activity_delta(d activity_delta) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    week          date := iso_week_start(d.activity_date);
    latest_week   date;
    opened_week   boolean;
BEGIN
    -- Lock (create) the snapshot row first, as apply_activity_deltas does: it guards the buckets.
    -- The streak: last_active_week is the latest week with a counted activity and latest_run_weeks
    -- the run ending there, so a week after it is new; the week right after extends the run, a
    -- later one starts a run of 1. A week at or before it leaves the streak here (see below).
    INSERT INTO mentor_stats AS s
        (org_id, peer_mentor_id, total_count, by_type, total_minutes, minutes_by_type,
         first_activity_date, last_activity_date, last_active_week, latest_run_weeks, longest_streak_weeks)
    VALUES (d.org_id, d.peer_mentor_id, d.n, jsonb_build_object(d.activity_type, d.n), d.minutes,
            CASE WHEN d.minutes <> 0 THEN jsonb_build_object(d.activity_type, d.minutes) ELSE '{}' END,
            d.activity_date, d.activity_date, week, 1, 1)
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE
    SET total_count = s.total_count + d.n,
        by_type = jsonb_set(s.by_type, ARRAY[d.activity_type],
                            to_jsonb(coalesce((s.by_type ->> d.activity_type)::int, 0) + d.n)),
        total_minutes = s.total_minutes + d.minutes,
        minutes_by_type = CASE WHEN d.minutes = 0 THEN s.minutes_by_type
                               ELSE jsonb_set(s.minutes_by_type, ARRAY[d.activity_type],
                                              to_jsonb(coalesce((s.minutes_by_type ->> d.activity_type)::bigint, 0)
                                                       + d.minutes)) END,
        first_activity_date = least(s.first_activity_date, d.activity_date),
        last_activity_date = greatest(s.last_activity_date, d.activity_date),
        last_active_week = greatest(s.last_active_week, week),
        latest_run_weeks = CASE WHEN s.last_active_week IS NULL OR week > s.last_active_week + 7 THEN 1
                                WHEN week = s.last_active_week + 7 THEN s.latest_run_weeks + 1
                                ELSE s.latest_run_weeks END,
        longest_streak_weeks = greatest(s.longest_streak_weeks,
                                        CASE WHEN s.last_active_week IS NULL OR week > s.last_active_week + 7 THEN 1
                                             WHEN week = s.last_active_week + 7 THEN s.latest_run_weeks + 1
                                             ELSE 0 END),
        updated_at = now()
    RETURNING s.last_active_week INTO latest_week;

    -- Buckets and the outbox in one statement (the snapshot row's lock serialises this mentor's
    -- writers). xmax = 0 marks a freshly inserted week row.
    WITH week_row AS (
        INSERT INTO mentor_week_activity AS w (org_id, peer_mentor_id, week_start, activity_type, n, minutes)
        VALUES (d.org_id, d.peer_mentor_id, week, d.activity_type, d.n, d.minutes)
        ON CONFLICT (org_id, peer_mentor_id, week_start, activity_type) DO UPDATE
        SET n = w.n + EXCLUDED.n, minutes = w.minutes + EXCLUDED.minutes
        RETURNING w.xmax = 0 AS inserted
    ), year_row AS (
        INSERT INTO mentor_year_activity AS y (org_id, peer_mentor_id, year, activity_type, n, minutes)
        VALUES (d.org_id, d.peer_mentor_id, extract(year FROM d.activity_date)::int, d.activity_type, d.n, d.minutes)
        ON CONFLICT (org_id, peer_mentor_id, year, activity_type) DO UPDATE
        SET n = y.n + EXCLUDED.n, minutes = y.minutes + EXCLUDED.minutes
    ), queued AS (
        INSERT INTO evaluation_outbox AS o (org_id, peer_mentor_id, reason, backfill)
        VALUES (d.org_id, d.peer_mentor_id, 'activity', false)
        ON CONFLICT (org_id, peer_mentor_id, backfill) WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL
        DO UPDATE SET last_queued_at = now()
    )
    SELECT r.inserted INTO opened_week FROM week_row AS r;

    -- A row for an earlier week than the latest: if no other type had that week, it may join or
    -- lengthen runs.
    IF opened_week AND week < latest_week THEN
        PERFORM recompute_streaks(ARRAY[d.org_id], ARRAY[d.peer_mentor_id], ARRAY[week]);
    END IF;
END;
$$;
