-- award_earned_badge without a per-call planning setting (issue 19: an award measured 2x a bare
-- insert, and re-planning every statement of the function on every call was 0.2-0.35 ms of it at the
-- server, with pgbench).
--
-- sql/007 set plan_cache_mode = force_custom_plan because a generic plan made while earned_badges was
-- nearly empty kept looking up the key by a sequential scan long after the table grew. Nothing here
-- depends on such a plan any more: the award is INSERT … ON CONFLICT DO NOTHING first (the unique
-- index decides; an existing key conflicts without inserting), and the rare lookup of the existing row
-- is planned per call (EXECUTE). The INSERTs that follow scan nothing. The function's SET clause
-- itself (a GUC level saved and restored per call) is gone with it.
--
-- The award's status position (sql/023) stays out of its audit row and events: the event detail is
-- the earned badge as the API shows it (SPEC), plus backfill and payable.
CREATE OR REPLACE FUNCTION award_earned_badge(
    p_org_id uuid,
    p_peer_mentor_id uuid,
    p_badge_definition_id uuid,
    p_level int,
    p_earned_at date,
    p_source text,
    p_awarded_by uuid,
    p_definition_revision int,
    p_criteria_snapshot jsonb,
    p_note text,
    p_backfill boolean,
    p_payable boolean,
    p_correlation_id text,
    OUT created boolean,
    OUT badge earned_badges
)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    new_payout honorar_payouts;
BEGIN
    PERFORM pg_advisory_xact_lock(earned_badge_lock_key(p_peer_mentor_id, p_badge_definition_id, p_level));

    -- The unique key decides, through its index, whatever the plan cache holds: a new key inserts, an
    -- existing one conflicts without inserting anything.
    INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, awarded_by,
                               source, definition_revision, criteria_snapshot, note)
    VALUES (p_org_id, p_peer_mentor_id, p_badge_definition_id, p_level, p_earned_at, p_awarded_by,
            p_source, p_definition_revision, p_criteria_snapshot, p_note)
    ON CONFLICT (peer_mentor_id, badge_definition_id, level) DO NOTHING
    RETURNING * INTO badge;
    IF NOT FOUND THEN
        -- Planned on each call (EXECUTE), so it is an index probe however the table grew.
        EXECUTE 'SELECT * FROM earned_badges AS e
                  WHERE e.peer_mentor_id = $1 AND e.badge_definition_id = $2 AND e.level = $3'
           INTO STRICT badge USING p_peer_mentor_id, p_badge_definition_id, p_level;
        created := false;
        RETURN;
    END IF;

    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    VALUES (badge.org_id, badge.awarded_by, CASE WHEN badge.awarded_by IS NULL THEN 'system' ELSE 'user' END,
            'badge.awarded', 'earned_badge', badge.id, NULL, to_jsonb(badge) - ARRAY['status_position', 'list_id', 'status_index'], p_correlation_id);

    INSERT INTO event_outbox (earned_badge_id, detail_type, detail)
    SELECT badge.id, detail_type,
           (to_jsonb(badge) - ARRAY['status_position', 'list_id', 'status_index']) || jsonb_build_object('backfill', p_backfill, 'payable', p_payable,
                                                 'idempotency_key', badge.id)
      FROM unnest(CASE WHEN p_payable THEN ARRAY['BadgeAwarded', 'HonorarMilestoneReached']
                       ELSE ARRAY['BadgeAwarded'] END) AS detail_type;

    IF p_payable THEN
        INSERT INTO honorar_payouts (org_id, peer_mentor_id, earned_badge_id, badge_definition_id, level,
                                     threshold, amount_nok, earned_at, backfill)
        VALUES (badge.org_id, badge.peer_mentor_id, badge.id, badge.badge_definition_id, badge.level,
                (p_criteria_snapshot -> 'thresholds' ->> (badge.level - 1))::int,
                COALESCE((p_criteria_snapshot -> 'amounts_nok' ->> (badge.level - 1))::int, 0),
                badge.earned_at, p_backfill)
        ON CONFLICT (earned_badge_id) DO NOTHING
        RETURNING * INTO new_payout;
        IF FOUND THEN
            INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                                   correlation_id)
            VALUES (badge.org_id, badge.awarded_by,
                    CASE WHEN badge.awarded_by IS NULL THEN 'system' ELSE 'user' END,
                    'payout.created', 'honorar_payout', new_payout.id, NULL, to_jsonb(new_payout),
                    p_correlation_id);
        END IF;
    END IF;
    created := true;
END;
$$;
