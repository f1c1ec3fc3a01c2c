-- One activity written through the app costs a third of what it did in the triggers (issue 19:
-- an activity INSERT + COMMIT within 1.5x of the same statement without triggers).
--
-- Profiled at the server (perf on the backend during pgbench, single-row inserts), a third of the
-- time went to planning: queue_evaluations was a LANGUAGE sql function, whose body PostgreSQL
-- parses and plans on every call, and apply_activity_deltas' statements take arrays, for which the
-- plan cache keeps choosing custom plans (a generic plan's row estimate for unnest is higher), so
-- its five statements were planned again on every write. Most of the rest was executor set-up of
-- CTEs and aggregates for a delta of one row, and a second statement trigger (future dates) with
-- its own SECURITY DEFINER call.
--
-- Now:
--   * queue_evaluations is plpgsql: its statement's plan is kept per session.
--   * A statement whose counted rows make one (mentor, type, date) delta with n > 0 -- one activity
--     written or approved, the app's write -- takes apply_activity_delta: scalar parameters (so
--     its plans are cached and generic), the snapshot's streak moved in the same upsert when the
--     week is at or after the latest active week (a new week there extends the latest run or starts
--     one; no bucket scan), the week and year buckets and the outbox in one statement, and the
--     streak recomputed from the buckets only when the activity opened a week before the latest.
--     Every other delta set keeps apply_activity_deltas.
--   * The future-dates schedule is written by the same trigger, through schedule_future_dates
--     (SECURITY DEFINER: the writer of activities has no rights on scheduled_evaluations), and only
--     when a counted activity appears on a date after yesterday in UTC; the separate statement
--     triggers are dropped.
--   * evaluation_outbox_pending_mentor_idx no longer holds last_queued_at, so a write that joins a
--     waiting evaluation (UPDATE SET last_queued_at) can be a HOT update instead of a new index
--     entry in all four indexes. A mentor has at most two pending rows per kind; the live test
--     (live_evaluations) filters last_queued_at on those.

CREATE OR REPLACE FUNCTION queue_evaluations(p_org_ids uuid[], p_mentor_ids uuid[], p_reason text,
                                             p_backfill boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    queued int;
BEGIN
    INSERT INTO evaluation_outbox AS o (org_id, peer_mentor_id, reason, backfill)
    SELECT DISTINCT k.org_id, k.peer_mentor_id, p_reason, p_backfill
      FROM unnest(p_org_ids, p_mentor_ids) AS k(org_id, peer_mentor_id)
     ORDER BY 1, 2
    ON CONFLICT (org_id, peer_mentor_id, backfill) WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL
    DO UPDATE SET last_queued_at = now();
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END;
$$;

DROP INDEX evaluation_outbox_pending_mentor_idx;
CREATE INDEX evaluation_outbox_pending_mentor_idx ON evaluation_outbox (peer_mentor_id)
    WHERE status = 'pending' AND NOT backfill;

-- Evaluate the mentor again on the org-local date of a counted activity dated in the future
-- (housekeeping.enqueue_due_evaluations takes them). Only deltas that add counted activities.
CREATE FUNCTION schedule_future_dates(p_deltas activity_delta[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO public.scheduled_evaluations (org_id, peer_mentor_id, due_on)
    SELECT DISTINCT d.org_id, d.peer_mentor_id, d.activity_date
      FROM unnest(p_deltas) AS d
      JOIN public.organizations o ON o.id = d.org_id
     WHERE d.n > 0 AND d.activity_date > (now() AT TIME ZONE o.timezone)::date
    ON CONFLICT DO NOTHING;
END;
$$;
REVOKE EXECUTE ON FUNCTION schedule_future_dates(activity_delta[]) FROM PUBLIC;

-- One delta that adds counted activities (n > 0, minutes >= 0) for one mentor, type and date.
CREATE FUNCTION apply_activity_delta(d activity_delta) RETURNS void
LANGUAGE plpgsql AS $$
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
    -- lengthen runs. Recompute as apply_activity_deltas' F3 does, from `week - 7 * longest` on.
    IF opened_week AND week < latest_week THEN
        UPDATE mentor_stats AS s
        SET (last_active_week, latest_run_weeks, longest_streak_weeks) = (
            SELECT max(r.start_week + 7 * (r.weeks - 1)), (array_agg(r.weeks ORDER BY r.start_week DESC))[1],
                   greatest(s.longest_streak_weeks, max(r.weeks))
            FROM week_runs(ARRAY(
                SELECT DISTINCT w.week_start FROM mentor_week_activity AS w
                WHERE w.org_id = s.org_id AND w.peer_mentor_id = s.peer_mentor_id
                  AND w.week_start >= week - 7 * s.longest_streak_weeks)) AS r)
        WHERE s.org_id = d.org_id AND s.peer_mentor_id = d.peer_mentor_id;
    END IF;
END;
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
    IF deltas IS NULL THEN
        RETURN NULL;
    END IF;
    -- The first test is cheap and rules out nearly every write: no zone is a day ahead of UTC + 1.
    IF EXISTS (SELECT 1 FROM unnest(deltas) AS d
                WHERE d.n > 0 AND d.activity_date > (now() AT TIME ZONE 'UTC')::date - 1) THEN
        PERFORM schedule_future_dates(deltas);
    END IF;
    IF cardinality(deltas) = 1 AND deltas[1].n > 0 AND deltas[1].minutes >= 0 THEN
        PERFORM apply_activity_delta(deltas[1]);
    ELSE
        PERFORM apply_activity_deltas(deltas);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER activities_schedule_future_dates_insert ON activities;
DROP TRIGGER activities_schedule_future_dates_update ON activities;
DROP FUNCTION activities_schedule_future_dates();
