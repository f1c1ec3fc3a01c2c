-- A fast path in apply_activity_deltas (002) for statements that only add counted activities: every
-- INSERT into activities, and updates that only approve or undelete rows (bulk ingest). 002 spends most
-- of such a statement's trigger time on work only removals need: searching for buckets that reached
-- zero, looking first/last dates up again, probing every touched week for a change of state, and
-- recomputing the runs of weeks with window functions over all of a mentor's weeks.
--
-- When every delta has n > 0 and minutes >= 0, no bucket reaches zero and no date moves inwards
-- (minutes too, because F1's proposed rows must pass mentor_stats' CHECKs before ON CONFLICT applies):
--   F1. one upsert of mentor_stats takes the mentor locks (the same fixed order as 002) and adds totals,
--       per-type counts and first/last dates (least/greatest), and queues the mentors for evaluation;
--   F2. week buckets are updated or inserted, year buckets upserted (ON CONFLICT: a positive delta is a
--       valid new row), with no zero-bucket DELETEs; the week step reports, per mentor, the earliest
--       week in which it inserted a row (only a week that gained a row can have become active);
--   F3. the streaks of those mentors only, from their week buckets from that week back by the old
--       longest streak (why that suffices is at the statement).
-- Every other statement (removals, moves, lowered minutes, mixed) takes 002's general path: 002's
-- function itself, kept under the name apply_activity_deltas_general.
--
-- Week buckets are updated-then-inserted rather than upserted: ON CONFLICT's speculative insertion
-- measured slower for the typical bulk load (mostly new rows), and the INSERT's RETURNING names exactly
-- the new rows. The mentor locks make the two steps race-free, as in 002.

ALTER FUNCTION apply_activity_deltas(activity_delta[]) RENAME TO apply_activity_deltas_general;

-- The triggers call apply_activity_deltas by name at run time, so they pick up this one.
CREATE FUNCTION apply_activity_deltas(p_deltas activity_delta[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- Per mentor with an inserted week bucket row: the earliest such week (from F2 to F3).
    new_week_orgs     uuid[];
    new_week_mentors  uuid[];
    new_week_firsts   date[];
BEGIN
    IF p_deltas IS NULL OR cardinality(p_deltas) = 0 THEN
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM unnest(p_deltas) AS d WHERE NOT (d.n > 0 AND d.minutes >= 0)) THEN
        -- F1. Lock (create) the snapshot rows in a fixed order, add totals, types and dates, and queue
        --     the mentors for evaluation (same transaction: committed together or not at all).
        WITH locked AS (
            INSERT INTO mentor_stats AS s
                (org_id, peer_mentor_id, total_count, by_type, total_minutes, first_activity_date, last_activity_date)
            SELECT t.org_id, t.peer_mentor_id, sum(t.n)::int, jsonb_object_agg(t.activity_type, t.n),
                   sum(t.minutes)::bigint, min(t.first_date), max(t.last_date)
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
                first_activity_date = least(s.first_activity_date, EXCLUDED.first_activity_date),
                last_activity_date = greatest(s.last_activity_date, EXCLUDED.last_activity_date),
                updated_at = now()
            RETURNING s.org_id, s.peer_mentor_id
        )
        INSERT INTO evaluation_outbox (org_id, peer_mentor_id, reason)
        SELECT l.org_id, l.peer_mentor_id, 'activity' FROM locked AS l
        ORDER BY 1, 2;

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
        INSERT INTO mentor_year_activity AS y (org_id, peer_mentor_id, year, activity_type, n)
        SELECT d.org_id, d.peer_mentor_id, extract(year FROM d.activity_date)::int, d.activity_type, sum(d.n)::int
        FROM unnest(p_deltas) AS d
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (org_id, peer_mentor_id, year, activity_type) DO UPDATE
        SET n = y.n + EXCLUDED.n;

        -- F3. Streaks of the mentors with an inserted week row, from their buckets from week `first_new
        --     - 7 * longest` on. Weeks before first_new are old, so the old weeks of a run through
        --     first_new are at most the old longest streak: every run holding a new week is read whole,
        --     the latest run too (it ends at or after first_new), and a run cut at the lower bound is
        --     old and no longer than the old longest. Adding only lengthens or joins runs, so the new
        --     longest is the greater of the old one and the longest run read.
        IF new_week_mentors IS NOT NULL THEN
            UPDATE mentor_stats AS s
            SET (last_active_week, latest_run_weeks, longest_streak_weeks) = (
                SELECT max(r.last_week), (array_agg(r.weeks ORDER BY r.last_week DESC))[1],
                       greatest(s.longest_streak_weeks, max(r.weeks))
                FROM (SELECT max(i.week_start) AS last_week, count(*)::int AS weeks
                      FROM (SELECT w.week_start,
                                   w.week_start - 7 * (row_number() OVER (ORDER BY w.week_start))::int AS island
                            FROM mentor_week_activity AS w
                            WHERE w.org_id = s.org_id AND w.peer_mentor_id = s.peer_mentor_id
                              AND w.week_start >= nw.first_new - 7 * s.longest_streak_weeks
                            GROUP BY w.week_start) AS i
                      GROUP BY i.island) AS r)
            FROM unnest(new_week_orgs, new_week_mentors, new_week_firsts) AS nw(org_id, peer_mentor_id, first_new)
            WHERE s.org_id = nw.org_id AND s.peer_mentor_id = nw.peer_mentor_id;
        END IF;
        RETURN;
    END IF;

    PERFORM apply_activity_deltas_general(p_deltas);
END;
$$;
