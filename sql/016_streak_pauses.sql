-- Streak pauses (SPEC 8.3): an organisation-wide break (peer_mentor_id NULL, e.g. a summer break) or
-- one mentor's leave. A week (ISO, Monday start) is paused for a mentor when any of its days lies in
-- a pause that applies to them; a paused week without enough activity neither breaks nor extends a
-- streak (week_runs, below and in sql/008), a paused week with enough activity counts as usual.
CREATE TABLE streak_pauses (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    peer_mentor_id  uuid NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL,
    reason          text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    created_by      uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT streak_pauses_order CHECK (ends_on >= starts_on),
    -- At most 26 weeks, counting both ends.
    CONSTRAINT streak_pauses_length CHECK (ends_on - starts_on < 26 * 7)
);
-- One pause per organisation, mentor (or the whole organisation: NULLS NOT DISTINCT) and period: a
-- retried POST finds the pause it already made instead of adding a twin (peer_badges.pauses answers
-- it with the existing row), and two admins entering the same summer break get one row. It also
-- serves the lookups by organisation and mentor.
CREATE UNIQUE INDEX streak_pauses_one_per_period
    ON streak_pauses (org_id, peer_mentor_id, starts_on, ends_on) NULLS NOT DISTINCT;

-- The Mondays up to p_until_week of the weeks paused for one mentor (their own pauses and the
-- organisation's), oldest first.
CREATE FUNCTION paused_weeks(p_org_id uuid, p_peer_mentor_id uuid, p_until_week date) RETURNS date[]
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(array_agg(DISTINCT w::date ORDER BY w::date), '{}')
    FROM streak_pauses AS p
    CROSS JOIN LATERAL generate_series(iso_week_start(p.starts_on),
                                       least(iso_week_start(p.ends_on), p_until_week), interval '7 days') AS w
    WHERE p.org_id = p_org_id AND (p.peer_mentor_id IS NULL OR p.peer_mentor_id = p_peer_mentor_id)
      AND iso_week_start(p.starts_on) <= p_until_week
$$;

GRANT SELECT, INSERT, DELETE ON streak_pauses TO peer_badges_app;
GRANT EXECUTE ON FUNCTION paused_weeks(uuid, uuid, date) TO peer_badges_app;
