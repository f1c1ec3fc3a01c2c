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
-- Live when the award was (a backfill's award queues a quiet evaluation).
CREATE FUNCTION earned_badges_queue_dependents() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queue_evaluations(array_agg(c.org_id), array_agg(c.peer_mentor_id), 'prerequisite', c.backfill)
      FROM (SELECT DISTINCT n.org_id, n.peer_mentor_id, n.source = 'backfill' AS backfill
              FROM changed AS n
              JOIN badge_definitions AS prerequisite ON prerequisite.id = n.badge_definition_id
             WHERE EXISTS (SELECT 1 FROM badge_definitions AS d
                            WHERE d.org_id = n.org_id
                              AND jsonb_path_exists(d.criteria,
                                    '$.** ? (@.type == "requires_badge" && @.badge_key == $key)',
                                    jsonb_build_object('key', prerequisite.key)))) AS c
     GROUP BY c.backfill;
    RETURN NULL;
END;
$$;

CREATE TRIGGER earned_badges_queue_dependents_insert
    AFTER INSERT ON earned_badges REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION earned_badges_queue_dependents();
CREATE TRIGGER earned_badges_queue_dependents_revoke
    AFTER UPDATE ON earned_badges REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION earned_badges_queue_dependents();

GRANT EXECUTE ON FUNCTION requires_badge_crossings(uuid, uuid[], text, int), earned_badges_queue_dependents()
    TO peer_badges_app;
