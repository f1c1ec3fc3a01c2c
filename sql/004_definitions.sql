-- Badge definition support: a per-org version counter for cheap cache checks, and a delete that
-- refuses atomically when anything was earned.

-- One row per organisation; `version` moves on every committed change to its badge definitions,
-- from this bundle or any other client, so a container's cached copy can be checked with one
-- primary-key lookup instead of re-reading the definitions.
CREATE TABLE org_definition_versions (
    org_id   uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    version  bigint NOT NULL DEFAULT 1 CHECK (version >= 1)
);

CREATE FUNCTION org_definition_versions_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Statement level with transition tables: one upsert per statement and org, none when the
    -- statement touched no rows. Orgs are locked in id order so multi-org statements cannot deadlock.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO org_definition_versions AS v (org_id)
        SELECT DISTINCT org_id FROM changed_new ORDER BY org_id
        ON CONFLICT (org_id) DO UPDATE SET version = v.version + 1;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO org_definition_versions AS v (org_id)
        SELECT org_id FROM (SELECT org_id FROM changed_new UNION SELECT org_id FROM changed_old) AS orgs
        ORDER BY org_id
        ON CONFLICT (org_id) DO UPDATE SET version = v.version + 1;
    ELSE
        -- A deleted org's definitions cascade away with it; only surviving orgs get a row.
        INSERT INTO org_definition_versions AS v (org_id)
        SELECT DISTINCT o.org_id FROM changed_old AS o
        WHERE EXISTS (SELECT 1 FROM organizations WHERE id = o.org_id)
        ORDER BY o.org_id
        ON CONFLICT (org_id) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END;
$$;

-- PostgreSQL allows transition tables only on single-event triggers, hence three of them.
CREATE TRIGGER badge_definitions_version_insert
    AFTER INSERT ON badge_definitions
    REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION org_definition_versions_bump();

CREATE TRIGGER badge_definitions_version_update
    AFTER UPDATE ON badge_definitions
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION org_definition_versions_bump();

CREATE TRIGGER badge_definitions_version_delete
    AFTER DELETE ON badge_definitions
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION org_definition_versions_bump();

-- Orgs that already have definitions start with a version, so readers never see "no row" for them.
INSERT INTO org_definition_versions (org_id)
SELECT DISTINCT org_id FROM badge_definitions
ON CONFLICT (org_id) DO NOTHING;

-- Delete a definition unless any badge was ever earned under it (revoked ones count: their rows
-- stay). Returns 'deleted', 'not_found' or 'has_earned_badges' with the number of earned rows.
-- The definition row is locked first: an award inserting an earned badge takes a key-share lock
-- on it through the foreign key, so either that award commits before our check sees it, or it
-- waits for us and then fails its foreign-key check. Nothing can slip in between.
CREATE FUNCTION safe_delete_badge_definition(p_org_id uuid, p_definition_id uuid)
RETURNS TABLE (outcome text, earned_count bigint)
LANGUAGE plpgsql AS $$
DECLARE
    earned bigint;
BEGIN
    PERFORM 1 FROM badge_definitions
    WHERE org_id = p_org_id AND id = p_definition_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, 0::bigint;
        RETURN;
    END IF;

    SELECT count(*) INTO earned FROM earned_badges
    WHERE badge_definition_id = p_definition_id AND org_id = p_org_id;
    IF earned > 0 THEN
        RETURN QUERY SELECT 'has_earned_badges'::text, earned;
        RETURN;
    END IF;

    DELETE FROM badge_definitions WHERE org_id = p_org_id AND id = p_definition_id;
    RETURN QUERY SELECT 'deleted'::text, 0::bigint;
END;
$$;
