-- Membership decides who earns (SPEC 8.5): someone who is no longer a peer mentor of an organisation
-- earns nothing new there (the evaluator and the set-based queries check org_members), and a mentor
-- who rejoins with history in the organisation is evaluated again, quietly (nothing they did just now
-- caused the award). A newcomer without history has nothing to evaluate.
CREATE FUNCTION org_members_queue_evaluation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queue_evaluations(array_agg(n.org_id), array_agg(n.user_id), 'membership', true)
      FROM new_rows AS n
     WHERE n.role = 'peer_mentor'
       AND EXISTS (SELECT 1 FROM mentor_stats AS s
                    WHERE s.org_id = n.org_id AND s.peer_mentor_id = n.user_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER org_members_queue_evaluation
    AFTER INSERT ON org_members REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_members_queue_evaluation();

GRANT EXECUTE ON FUNCTION org_members_queue_evaluation() TO peer_badges_app;
