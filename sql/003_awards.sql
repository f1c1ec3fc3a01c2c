-- Awards: one earned badge per (mentor, definition, level), ever, with its audit entry and events.

-- The advisory-lock key every award path takes before writing earned_badges, so concurrent awards
-- of one key queue behind each other instead of racing. It is a 64-bit hash: two different keys
-- that collide only wait for each other for one short transaction, which is harmless; the unique
-- constraint, not the lock, is what guarantees one row per key. The seed keeps this key space
-- apart from other advisory locks (e.g. the migration runner's).
CREATE FUNCTION earned_badge_lock_key(peer_mentor_id uuid, badge_definition_id uuid, level int)
    RETURNS bigint
    LANGUAGE sql
    IMMUTABLE STRICT PARALLEL SAFE
    RETURN hashtextextended(peer_mentor_id::text || '/' || badge_definition_id::text || '/' || level::text,
                            7045312);

-- The award transaction's body, run inside the caller's transaction (the evaluator batches several
-- awards and its outbox bookkeeping in one). One round trip; plans are cached by PL/pgSQL.
--
-- Under the lock, each statement of this VOLATILE function takes a fresh snapshot (READ COMMITTED),
-- so a row committed by the previous lock holder is visible and returned unchanged: a retry gets
-- the same badge, and a revoked badge is returned as it is, never awarded again. ON CONFLICT covers
-- writers that do not take the lock. Only a row inserted here gets an audit entry and events:
-- BadgeAwarded always, HonorarMilestoneReached too for a payable milestone level. The event detail
-- is the earned badge plus backfill, payable and idempotency_key (the earned badge id).
CREATE FUNCTION award_earned_badge(
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
BEGIN
    PERFORM pg_advisory_xact_lock(earned_badge_lock_key(p_peer_mentor_id, p_badge_definition_id, p_level));

    SELECT * INTO badge FROM earned_badges AS e
     WHERE e.peer_mentor_id = p_peer_mentor_id AND e.badge_definition_id = p_badge_definition_id
       AND e.level = p_level;
    IF FOUND THEN
        created := false;
        RETURN;
    END IF;

    INSERT INTO earned_badges (org_id, peer_mentor_id, badge_definition_id, level, earned_at, awarded_by,
                               source, definition_revision, criteria_snapshot, note)
    VALUES (p_org_id, p_peer_mentor_id, p_badge_definition_id, p_level, p_earned_at, p_awarded_by,
            p_source, p_definition_revision, p_criteria_snapshot, p_note)
    ON CONFLICT (peer_mentor_id, badge_definition_id, level) DO NOTHING
    RETURNING * INTO badge;
    IF NOT FOUND THEN
        SELECT * INTO STRICT badge FROM earned_badges AS e
         WHERE e.peer_mentor_id = p_peer_mentor_id AND e.badge_definition_id = p_badge_definition_id
           AND e.level = p_level;
        created := false;
        RETURN;
    END IF;

    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    VALUES (badge.org_id, badge.awarded_by, CASE WHEN badge.awarded_by IS NULL THEN 'system' ELSE 'user' END,
            'badge.awarded', 'earned_badge', badge.id, NULL, to_jsonb(badge), p_correlation_id);

    INSERT INTO event_outbox (earned_badge_id, detail_type, detail)
    SELECT badge.id, detail_type,
           to_jsonb(badge) || jsonb_build_object('backfill', p_backfill, 'payable', p_payable,
                                                 'idempotency_key', badge.id)
      FROM unnest(CASE WHEN p_payable THEN ARRAY['BadgeAwarded', 'HonorarMilestoneReached']
                       ELSE ARRAY['BadgeAwarded'] END) AS detail_type;
    created := true;
END;
$$;
