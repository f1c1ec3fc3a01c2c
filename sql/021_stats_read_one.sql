-- A mentor's stats read in one cached plan (issue 19, "performance to the floor").
--
-- Measured with pgbench at the server (PostgreSQL 15, unnamed extended-protocol statements, as the
-- handlers send them), mentor_stats_read of one mentor took about 0.46 ms where the primary-key lookup
-- of the same row took 0.10 ms. Where it went:
-- - the function's `SET plan_cache_mode` clause: a GUC nest level saved and restored on every call;
--   without it the array parameter (of unknown size to a generic plan) made plpgsql re-plan the whole
--   statement on every call (about 1 ms). One mentor by a scalar id has the same plan whatever the id,
--   so the plan cache settles on the generic plan by itself and nothing needs setting;
-- - two probes of streak_pauses (does anything pause this mentor's weeks up to this week, and is this
--   week paused), now one scan answering both;
-- - a sort of the one row by id, and a second round trip for the mentor's payouts (get_stats), now a
--   column of the same read: mentors see their payouts in their stats, and coordinators and admins
--   (who may read those payouts, SPEC 8.4) now see them in the overview too.
-- - the statement around it (the caller's access and the definitions version as sub-selects): the
--   handlers send unnamed statements (named ones would pin RDS Proxy connections), so the server
--   planned it on every call; now it is one call of mentor_stats_for_caller, whose plan is cached.
-- mentor_stats_read (many mentors: the overview's pages, facts) is this function per mentor, in id
-- order, so the meaning of a stats row is written once.

DROP FUNCTION mentor_stats_read(uuid, uuid[], date, timestamptz);

-- One stats row, as both reads return it.
CREATE TYPE mentor_stats_row AS (
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
    paused_this_week      boolean, -- this ISO week lies in a pause that applies to the mentor
    payouts               json    -- the mentor's honorarium payouts (PayoutSummary), oldest first
);

CREATE FUNCTION mentor_stats_read_one(p_org_id uuid, p_mentor_id uuid, p_today date, p_now timestamptz)
RETURNS SETOF mentor_stats_row
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH c AS (
        SELECT o.id AS org_id, o.timezone, t.today, iso_week_start(t.today) AS this_week
        FROM organizations AS o
        CROSS JOIN LATERAL (SELECT coalesce(p_today, (p_now AT TIME ZONE o.timezone)::date) AS today) AS t
        WHERE o.id = p_org_id
    )
    SELECT c.timezone, c.today, p_mentor_id,
           EXISTS (SELECT 1 FROM org_members AS om WHERE om.org_id = c.org_id AND om.user_id = p_mentor_id),
           s.peer_mentor_id IS NOT NULL,
           s.total_count, s.by_type, s.minutes_by_type, s.total_minutes, s.first_activity_date, s.last_activity_date,
           s.last_active_week, s.latest_run_weeks, s.longest_streak_weeks, s.updated_at,
           (SELECT json_agg(json_build_object('training_code', t.training_code, 'completed_at', t.completed_at,
                                              'expires_at', t.expires_at)
                            ORDER BY t.completed_at, t.training_code, t.id)
            FROM training_completions AS t
            WHERE t.org_id = c.org_id AND t.peer_mentor_id = p_mentor_id),
           CASE WHEN s.last_activity_date > c.today THEN (
               SELECT json_agg(json_build_object('activity_type', f.activity_type, 'activity_date', f.activity_date,
                                                 'n', f.n, 'minutes', f.minutes))
               FROM (SELECT a.activity_type, a.activity_date, count(*) AS n,
                            coalesce(sum(a.duration_minutes), 0) AS minutes
                     FROM counted_activities AS a
                     WHERE a.peer_mentor_id = p_mentor_id AND a.activity_date > c.today
                       AND a.org_id = c.org_id
                     GROUP BY 1, 2) AS f
           ) END,
           CASE WHEN s.last_activity_date > c.today THEN (
               SELECT max(a.activity_date) FROM counted_activities AS a
               WHERE a.peer_mentor_id = p_mentor_id AND a.activity_date <= c.today
                 AND a.org_id = c.org_id
           ) END,
           CASE WHEN s.last_active_week > c.this_week OR coalesce(p.any_pause, false) THEN (
               SELECT coalesce(json_agg(json_build_object('start_week', r.start_week, 'weeks', r.weeks,
                                                          'end_week', r.end_week, 'qualifying', r.qualifying)
                                        ORDER BY r.start_week), '[]'::json)
               FROM mentor_week_runs(c.org_id, p_mentor_id, c.this_week, NULL, 1) AS r
           ) END,
           coalesce(p.this_week, false),
           (SELECT json_agg(json_build_object('id', h.id, 'badge_definition_id', h.badge_definition_id,
                                              'level', h.level, 'threshold', h.threshold,
                                              'amount_nok', h.amount_nok, 'earned_at', h.earned_at,
                                              'income_year', h.income_year, 'status', h.status,
                                              'approved_at', h.approved_at, 'paid_at', h.paid_at)
                            ORDER BY h.earned_at, h.level, h.id)
            FROM honorar_payouts AS h
            WHERE h.org_id = c.org_id AND h.peer_mentor_id = p_mentor_id)
    FROM c
    LEFT JOIN mentor_stats AS s ON s.org_id = c.org_id AND s.peer_mentor_id = p_mentor_id
    -- Pauses that reach into this week or earlier: any of them (the snapshot cannot tell the streak),
    -- and whether one covers this week. One scan of the mentor's and the org's pauses.
    LEFT JOIN LATERAL (SELECT true AS any_pause, bool_or(sp.ends_on >= c.this_week) AS this_week
                         FROM streak_pauses AS sp
                        WHERE sp.org_id = c.org_id
                          AND (sp.peer_mentor_id IS NULL OR sp.peer_mentor_id = p_mentor_id)
                          AND sp.starts_on <= c.this_week + 6
                       HAVING count(*) > 0) AS p ON true;
END;
$$;

-- Many mentors (the overview's pages; the facts read): the one-mentor read for each, in id order.
CREATE FUNCTION mentor_stats_read(p_org_id uuid, p_mentor_ids uuid[], p_today date, p_now timestamptz)
RETURNS SETOF mentor_stats_row
LANGUAGE sql STABLE
AS $$
    SELECT r.*
      FROM unnest(p_mentor_ids) AS m(id)
     CROSS JOIN LATERAL mentor_stats_read_one(p_org_id, m.id, p_today, p_now) AS r
     ORDER BY m.id
$$;

GRANT EXECUTE ON FUNCTION mentor_stats_read_one(uuid, uuid, date, timestamptz),
    mentor_stats_read(uuid, uuid[], date, timestamptz) TO peer_badges_app;

-- The caller's roles in the organisation and whether they coordinate the mentor (peer_badges.auth
-- reads it for every route; get_stats reads it with the stats).
CREATE FUNCTION caller_access(p_org_id uuid, p_user_id uuid, p_mentor_id uuid)
RETURNS TABLE (roles text[], assigned boolean)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT array_agg(m.role ORDER BY m.role) FROM org_members AS m
                      WHERE m.org_id = p_org_id AND m.user_id = p_user_id), '{}'::text[]),
           EXISTS (SELECT 1 FROM coordinator_assignments AS ca
                    WHERE ca.org_id = p_org_id AND ca.coordinator_id = p_user_id
                      AND ca.peer_mentor_id = p_mentor_id)
$$;

-- GET …/stats in one call with one cached plan: the caller's access, the definitions version (for the
-- cache check) and the mentor's stats row as one JSON object (NULL when the org is unknown; one column
-- instead of 22 halves the client's decoding). The handler authorises with the access before it uses
-- anything else.
CREATE FUNCTION mentor_stats_for_caller(
    p_org_id uuid, p_caller uuid, p_mentor_id uuid, p_today date, p_now timestamptz
) RETURNS TABLE (roles text[], assigned boolean, definitions_version bigint, stats json)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    -- the definitions version as definitions_cache.VERSION_COLUMN reads it (0 before the first); a
    -- SQL function holding it would cost more than the lookup (it is not inlined, so re-planned per call)
    SELECT a.roles, a.assigned, coalesce((SELECT v.version FROM org_definition_versions AS v WHERE v.org_id = p_org_id), 0),
           (SELECT to_json(r) FROM mentor_stats_read_one(p_org_id, p_mentor_id, p_today, p_now) AS r)
      FROM caller_access(p_org_id, p_caller, p_mentor_id) AS a;
END;
$$;

GRANT EXECUTE ON FUNCTION caller_access(uuid, uuid, uuid),
    mentor_stats_for_caller(uuid, uuid, uuid, date, timestamptz) TO peer_badges_app;
