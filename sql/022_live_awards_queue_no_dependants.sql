-- An award made by a live evaluation queues no second evaluation of its holder (issue 19: the award
-- path measured 2.7x a bare insert against a 2x target, and 0.8x of it was this queueing).
--
-- The evaluation that awards a badge has already assessed the badges requiring it, in the same pass,
-- counting the new level as held (peer_badges.evaluation.evaluate: prerequisites first). Queueing the
-- holder again only made the next drain find nothing. Every other award still queues its holder's
-- dependants: manual awards (the API), and quiet ones (reconcile and definition backfills award
-- set-based, one definition at a time, and an evaluation's quiet awards cannot be told from theirs).
-- Revocations queue as before (earned_badges_revoked).
CREATE OR REPLACE FUNCTION earned_badges_awarded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credential_status_entries (earned_badge_id, org_id)
    SELECT id, org_id FROM new_rows ORDER BY awarded_at, id
    ON CONFLICT (earned_badge_id) DO NOTHING;
    -- Most organisations require no badge anywhere: one index probe, and nothing more to do.
    IF EXISTS (SELECT 1 FROM new_rows AS n WHERE n.source <> 'evaluation')
       AND EXISTS (SELECT 1 FROM badge_definitions AS d
                    WHERE d.org_id IN (SELECT n.org_id FROM new_rows AS n WHERE n.source <> 'evaluation')
                      AND d.required_badge_keys <> '[]'::jsonb) THEN
        PERFORM queue_prerequisite_holders(ARRAY(SELECT n.id FROM new_rows AS n WHERE n.source <> 'evaluation'));
    END IF;
    RETURN NULL;
END;
$$;
