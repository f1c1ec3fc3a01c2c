-- Prerequisites (SPEC 8.2, requires_badge): who holds an unrevoked badge of an organisation's definition
-- with a key, at a level or higher, since when; and re-evaluating its holders when that changes.

CREATE FUNCTION requires_badge_crossings(p_org_id uuid, p_mentors uuid[], p_key text, p_level int)
RETURNS TABLE (peer_mentor_id uuid, level int, earned_at date)
LANGUAGE sql STABLE
AS $$
    SELECT e.peer_mentor_id, 1, min(e.earned_at)
      FROM earned_badges AS e
      JOIN badge_definitions AS d ON d.id = e.badge_definition_id
     WHERE d.org_id = p_org_id AND d.key = p_key AND e.org_id = p_org_id
       AND e.level >= p_level AND e.revoked_at IS NULL
       AND (p_mentors IS NULL OR e.peer_mentor_id = ANY (p_mentors))
     GROUP BY e.peer_mentor_id
$$;

-- A badge awarded or revoked that another definition of the organisation requires: its holder is
-- evaluated again (a new award may complete the dependent badge; a revoke never takes one away).
-- Live when the award was (a backfill's award queues a quiet evaluation). Only awards and revocations
-- count: other updates (an erasure's pseudonyms, notes) queue nothing.
-- The keys a definition requires (members included), kept with it, so an award finds its dependants
-- by an indexed lookup instead of reading every definition's criteria.
ALTER TABLE badge_definitions ADD COLUMN required_badge_keys jsonb
    GENERATED ALWAYS AS (jsonb_path_query_array(criteria, 'strict $.**.badge_key')) STORED;
CREATE INDEX badge_definitions_requiring_idx ON badge_definitions (org_id)
    WHERE required_badge_keys <> '[]'::jsonb;

-- In plpgsql so that the statement's plan is cached per connection (it runs after every award).
CREATE FUNCTION queue_prerequisite_holders(p_badge_ids uuid[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM queue_evaluations(array_agg(c.org_id), array_agg(c.peer_mentor_id), 'prerequisite', c.backfill)
      FROM (SELECT DISTINCT e.org_id, e.peer_mentor_id, e.source = 'backfill' AS backfill
              FROM earned_badges AS e
              JOIN badge_definitions AS prerequisite ON prerequisite.id = e.badge_definition_id
             WHERE e.id = ANY (p_badge_ids)
               AND EXISTS (SELECT 1 FROM badge_definitions AS d
                            WHERE d.org_id = e.org_id AND d.required_badge_keys <> '[]'::jsonb
                              AND d.required_badge_keys ? prerequisite.key)) AS c
     GROUP BY c.backfill;
END;
$$;

-- One trigger after an award statement does both things an award implies besides the row itself: its
-- credential status position (sql/011) and its dependants' evaluation (one trigger call per award
-- statement, not two: the award path is measured against a bare insert).
CREATE FUNCTION earned_badges_awarded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credential_status_entries (earned_badge_id, org_id)
    SELECT id, org_id FROM new_rows ORDER BY awarded_at, id
    ON CONFLICT (earned_badge_id) DO NOTHING;
    -- Most organisations require no badge anywhere: one index probe, and nothing more to do.
    IF EXISTS (SELECT 1 FROM badge_definitions AS d
                WHERE d.org_id IN (SELECT n.org_id FROM new_rows AS n) AND d.required_badge_keys <> '[]'::jsonb) THEN
        PERFORM queue_prerequisite_holders(ARRAY(SELECT n.id FROM new_rows AS n));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER earned_badges_credential_status ON earned_badges;
DROP FUNCTION credential_status_assign();

CREATE FUNCTION earned_badges_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queue_prerequisite_holders(ARRAY(
        SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
         WHERE o.peer_mentor_id = n.peer_mentor_id AND o.revoked_at IS DISTINCT FROM n.revoked_at));
    RETURN NULL;
END;
$$;

CREATE TRIGGER earned_badges_awarded
    AFTER INSERT ON earned_badges REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION earned_badges_awarded();
CREATE TRIGGER earned_badges_queue_dependents_revoke
    AFTER UPDATE ON earned_badges REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION earned_badges_revoked();

GRANT EXECUTE ON FUNCTION requires_badge_crossings(uuid, uuid[], text, int), queue_prerequisite_holders(uuid[]),
    earned_badges_awarded(), earned_badges_revoked() TO peer_badges_app;
