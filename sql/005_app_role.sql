-- Least privilege for the handlers: a NOLOGIN group role with exactly what the four functions use.
--
-- Migrations keep running as the schema owner (DDL, functions, triggers). The Lambda functions
-- connect as a LOGIN user that is a member of this role, created by the operator once per cluster:
--
--     CREATE ROLE peer_badges_lambda LOGIN PASSWORD '...' IN ROLE peer_badges_app;
--
-- (the password goes into the Secrets Manager secret the functions read; see docs/security.md).
-- That user can read and write rows the handlers need and nothing else: no DDL (no CREATE on the
-- schema, and only the owner may ALTER, DROP or TRUNCATE), no UPDATE or DELETE of the audit log,
-- no writes to the foundation tables other clients own, no access to schema_migrations.
--
-- A later migration that adds a table the handlers use grants on it in the same file;
-- tests/integration/test_security_controls.py fails until it does.

-- Roles are cluster-wide: every database on the cluster runs this, possibly at the same time.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'peer_badges_app') THEN
        CREATE ROLE peer_badges_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION
    -- Created by a concurrent migration of another database between our check and CREATE.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO peer_badges_app;

-- Foundation tables, written by the organisations' own app: the handlers only read them.
GRANT SELECT ON organizations, org_members, coordinator_assignments, activities, training_completions
    TO peer_badges_app;

-- Badge definitions (config_crud; DELETE through safe_delete_badge_definition, which runs as the caller)
-- and the per-org version row their triggers keep.
GRANT SELECT, INSERT, UPDATE, DELETE ON badge_definitions TO peer_badges_app;
GRANT SELECT, INSERT, UPDATE ON org_definition_versions TO peer_badges_app;

-- Awards are never deleted (revocation is an UPDATE that keeps the row); outboxes are marked, not deleted.
GRANT SELECT, INSERT, UPDATE ON earned_badges, evaluation_outbox, event_outbox TO peer_badges_app;

-- The audit log is append-only for the application.
GRANT SELECT, INSERT ON audit_log TO peer_badges_app;

-- The stats snapshot: read by get_stats and the evaluator, rebuilt by reconcile (rebuild_mentor_stats).
GRANT SELECT, INSERT, UPDATE ON mentor_stats TO peer_badges_app;
GRANT SELECT, INSERT, DELETE ON mentor_week_activity, mentor_year_activity TO peer_badges_app;

-- award_earned_badge, safe_delete_badge_definition, rebuild_mentor_stats, mentor_stats_drift and
-- their helpers. Explicit, so the handlers keep working where an operator revoked PUBLIC's EXECUTE.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO peer_badges_app;
