-- Honorarium payouts (SPEC 8.4): one payout per newly earned payable milestone level, created in the
-- award's own transaction; a small state machine (pending -> approved -> paid, pending|approved ->
-- cancelled) with an audit row per transition; the per-org tax-free limit; the payout events through
-- the existing event outbox.

-- Per-organisation settings. A missing row means the defaults; honorar_tax_free_limit_nok() below is
-- the one place the default lives.
CREATE TABLE org_settings (
    org_id                      uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    honorar_tax_free_limit_nok  int NOT NULL CHECK (honorar_tax_free_limit_nok BETWEEN 0 AND 100000000),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    updated_by                  uuid NULL
);

-- 10,000 NOK per income year and organisation: the tax-free limit for volunteer honoraria.
CREATE FUNCTION honorar_tax_free_limit_nok(p_org_id uuid) RETURNS int
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN COALESCE((SELECT s.honorar_tax_free_limit_nok FROM org_settings AS s WHERE s.org_id = p_org_id),
                    10000);

CREATE TABLE honorar_payouts (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               uuid NOT NULL,
    peer_mentor_id       uuid NOT NULL,
    earned_badge_id      uuid NOT NULL REFERENCES earned_badges (id),
    badge_definition_id  uuid NOT NULL,
    level                int NOT NULL CHECK (level >= 1),
    threshold            int NOT NULL CHECK (threshold >= 1),
    amount_nok           int NOT NULL CHECK (amount_nok >= 0),
    earned_at            date NOT NULL,
    income_year          int GENERATED ALWAYS AS (extract(year FROM earned_at)::int) STORED,
    status               text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'approved', 'paid', 'cancelled')),
    backfill             boolean NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    approved_by          uuid NULL,
    approved_at          timestamptz NULL,
    paid_by              uuid NULL,
    paid_at              timestamptz NULL,
    paid_reference       text NULL CHECK (paid_reference IS NULL OR length(paid_reference) BETWEEN 1 AND 200),
    cancelled_by         uuid NULL,
    cancelled_at         timestamptz NULL,
    cancel_reason        text NULL CHECK (cancel_reason IS NULL OR length(cancel_reason) BETWEEN 1 AND 1000),
    -- One payout per earned badge, ever: a retried or concurrent award cannot pay twice.
    CONSTRAINT honorar_payouts_earned_badge_key UNIQUE (earned_badge_id),
    -- The timestamps say which transitions happened; the status must agree with them.
    CONSTRAINT honorar_payouts_state CHECK (
        CASE status
            WHEN 'pending' THEN approved_at IS NULL AND paid_at IS NULL AND cancelled_at IS NULL
            WHEN 'approved' THEN approved_at IS NOT NULL AND paid_at IS NULL AND cancelled_at IS NULL
            WHEN 'paid' THEN approved_at IS NOT NULL AND paid_at IS NOT NULL AND paid_reference IS NOT NULL
                             AND cancelled_at IS NULL
            ELSE cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL AND paid_at IS NULL
        END
    )
);
-- Listing and export: an org's payouts newest first (keyset on earned_at, id).
CREATE INDEX honorar_payouts_org_idx ON honorar_payouts (org_id, earned_at DESC, id DESC);
CREATE INDEX honorar_payouts_mentor_idx ON honorar_payouts (org_id, peer_mentor_id, earned_at DESC, id DESC);
-- year_to_date_nok: the mentor's approved and paid payouts in one org and income year.
CREATE INDEX honorar_payouts_year_to_date_idx ON honorar_payouts (org_id, peer_mentor_id, income_year)
    INCLUDE (amount_nok) WHERE status IN ('approved', 'paid');

-- Payout events share the event outbox with the award events: the row's earned_badge_id is the
-- payout's badge, so the unique (earned_badge_id, detail_type) key also makes each payout event
-- happen once, and the existing publisher sends them unchanged.
ALTER TABLE event_outbox DROP CONSTRAINT event_outbox_detail_type_check;
ALTER TABLE event_outbox ADD CONSTRAINT event_outbox_detail_type_check
    CHECK (detail_type IN ('BadgeAwarded', 'HonorarMilestoneReached', 'HonorarPayoutApproved',
                           'HonorarPayoutPaid'));

-- Serialises everything that changes one mentor's approved/paid sum for one org and income year,
-- so year_to_date_nok read after the change includes every earlier committed one. Own seed: apart
-- from the award locks and the migration runner's.
CREATE FUNCTION honorar_year_lock_key(p_org_id uuid, p_peer_mentor_id uuid, p_income_year int)
    RETURNS bigint
    LANGUAGE sql
    IMMUTABLE STRICT PARALLEL SAFE
    RETURN hashtextextended(p_org_id::text || '/' || p_peer_mentor_id::text || '/' || p_income_year::text,
                            8151020);

CREATE FUNCTION honorar_year_to_date_nok(p_org_id uuid, p_peer_mentor_id uuid, p_income_year int)
    RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT COALESCE(sum(y.amount_nok), 0) FROM honorar_payouts AS y
             WHERE y.org_id = p_org_id AND y.peer_mentor_id = p_peer_mentor_id
               AND y.income_year = p_income_year AND y.status IN ('approved', 'paid'));

-- The payout as the API shows it: the row plus the mentor's year to date and the limit flag.
CREATE FUNCTION honorar_payout_json(p honorar_payouts) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT to_jsonb(p) || jsonb_build_object('year_to_date_nok', ytd,
                                                     'exceeds_tax_free_limit', ytd > honorar_tax_free_limit_nok(p.org_id))
              FROM (SELECT honorar_year_to_date_nok(p.org_id, p.peer_mentor_id, p.income_year) AS ytd) AS s);

-- One transition of one payout, in the caller's transaction. p_action: 'approve', 'pay', 'cancel'.
-- outcome: 'changed' (the row moved; audited, events queued), 'repeated' (it already was in the
-- target state: returned unchanged), 'not_found', or 'conflict' (not allowed from its status).
-- Takes the mentor+org+year lock before the row lock, always in that order (the revoke trigger too).
CREATE FUNCTION transition_honorar_payout(
    p_org_id uuid,
    p_payout_id uuid,
    p_action text,
    p_actor uuid,
    p_reference text,
    p_reason text,
    p_correlation_id text,
    OUT outcome text,
    OUT payout jsonb
)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    target_status text := CASE p_action WHEN 'approve' THEN 'approved' WHEN 'pay' THEN 'paid'
                                        WHEN 'cancel' THEN 'cancelled' END;
    allowed_from text[] := CASE p_action WHEN 'approve' THEN ARRAY['pending'] WHEN 'pay' THEN ARRAY['approved']
                                         WHEN 'cancel' THEN ARRAY['pending', 'approved'] END;
    row_before honorar_payouts;
    row_after honorar_payouts;
    event_type text;
BEGIN
    IF target_status IS NULL THEN
        RAISE EXCEPTION 'unknown payout action %', p_action USING ERRCODE = '22023';
    END IF;
    SELECT * INTO row_before FROM honorar_payouts WHERE id = p_payout_id AND org_id = p_org_id;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(honorar_year_lock_key(p_org_id, row_before.peer_mentor_id,
                                                        row_before.income_year));
    -- A fresh snapshot after the lock: a transition committed meanwhile is seen.
    SELECT * INTO STRICT row_before FROM honorar_payouts WHERE id = p_payout_id FOR UPDATE;

    IF row_before.status = target_status THEN
        -- Paying again under another reference is not a repeat: the first payment stands.
        IF p_action = 'pay' AND row_before.paid_reference IS DISTINCT FROM p_reference THEN
            outcome := 'conflict';
        ELSE
            outcome := 'repeated';
        END IF;
        payout := honorar_payout_json(row_before);
        RETURN;
    END IF;
    IF NOT row_before.status = ANY (allowed_from) THEN
        outcome := 'conflict';
        payout := honorar_payout_json(row_before);
        RETURN;
    END IF;

    UPDATE honorar_payouts SET
        status = target_status,
        approved_by = CASE WHEN p_action = 'approve' THEN p_actor ELSE approved_by END,
        approved_at = CASE WHEN p_action = 'approve' THEN now() ELSE approved_at END,
        paid_by = CASE WHEN p_action = 'pay' THEN p_actor ELSE paid_by END,
        paid_at = CASE WHEN p_action = 'pay' THEN now() ELSE paid_at END,
        paid_reference = CASE WHEN p_action = 'pay' THEN p_reference ELSE paid_reference END,
        cancelled_by = CASE WHEN p_action = 'cancel' THEN p_actor ELSE cancelled_by END,
        cancelled_at = CASE WHEN p_action = 'cancel' THEN now() ELSE cancelled_at END,
        cancel_reason = CASE WHEN p_action = 'cancel' THEN p_reason ELSE cancel_reason END
     WHERE id = p_payout_id
    RETURNING * INTO row_after;
    payout := honorar_payout_json(row_after);

    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    VALUES (p_org_id, p_actor, CASE WHEN p_actor IS NULL THEN 'system' ELSE 'user' END,
            'payout.' || target_status, 'honorar_payout', p_payout_id, honorar_payout_json(row_before),
            payout, p_correlation_id);

    event_type := CASE target_status WHEN 'approved' THEN 'HonorarPayoutApproved'
                                     WHEN 'paid' THEN 'HonorarPayoutPaid' END;
    IF event_type IS NOT NULL THEN
        INSERT INTO event_outbox (earned_badge_id, detail_type, detail)
        VALUES (row_after.earned_badge_id, event_type, payout || jsonb_build_object('idempotency_key', row_after.id))
        ON CONFLICT (earned_badge_id, detail_type) DO NOTHING;
    END IF;
    outcome := 'changed';
END;
$$;

-- Revoking a badge cancels its pending or approved payout; a paid one stays paid. A trigger, so every
-- revoke path (the API, another client's UPDATE) gets it in the same transaction.
CREATE FUNCTION cancel_payout_of_revoked_badge() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    found_payout honorar_payouts;
BEGIN
    SELECT * INTO found_payout FROM honorar_payouts WHERE earned_badge_id = NEW.id;
    IF FOUND AND found_payout.status IN ('pending', 'approved') THEN
        PERFORM transition_honorar_payout(found_payout.org_id, found_payout.id, 'cancel', NEW.revoked_by, NULL,
                                          'badge revoked', NULL);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER earned_badges_revoked_cancels_payout
    AFTER UPDATE OF revoked_at ON earned_badges
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION cancel_payout_of_revoked_badge();

-- award_earned_badge (sql/003, plan setting from sql/007) again, now also creating the payout of a
-- payable milestone level: in the same transaction as the badge, only for a badge inserted here,
-- and guarded by the payout's unique key. The amount and threshold come from the criteria the badge
-- was earned under (its snapshot); a payable milestone without amounts_nok pays 0 NOK until an
-- admin sets amounts. A backfilled crossing gives a payout flagged backfill that still needs approval.
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

-- CREATE OR REPLACE resets the function's settings: keep 007's per-call planning.
ALTER FUNCTION award_earned_badge(uuid, uuid, uuid, integer, date, text, uuid, integer, jsonb, text, boolean,
                                  boolean, text)
    SET plan_cache_mode = force_custom_plan;

GRANT SELECT, INSERT, UPDATE ON org_settings TO peer_badges_app;
-- Payouts are never deleted: cancelled rows stay, for the books.
GRANT SELECT, INSERT, UPDATE ON honorar_payouts TO peer_badges_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO peer_badges_app;
