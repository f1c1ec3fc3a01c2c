-- Personal data (SPEC 8.5): what this bundle stores about a person, an export of all of it, and an
-- erasure that deletes what is only about them and pseudonymises what the organisation must keep.
--
-- Which columns name a person is decided by name, from the catalog (personal_data_columns below), so
-- a table added later is seen without anyone remembering this file. Every table with such a column is
-- registered in personal_data_tables with what erasure does to it; tests/integration/test_personal_data.py
-- fails while one is not. Export and erasure read the registry and the catalog, so a registered
-- table is exported and erased with no further code (streak_pauses is registered before it exists).

-- ------------------------------------------------------------------ which columns name a person

-- subject: the person the row is about; actor: the person who did something (awarded, approved, ...).
-- entity_id is a subject column because an audit row may be about a person.
CREATE FUNCTION personal_data_columns()
    RETURNS TABLE (table_name text, column_name text, holds text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public
AS $$
    SELECT c.relname::text, a.attname::text,
           CASE WHEN a.attname IN ('peer_mentor_id', 'user_id', 'mentor_id', 'entity_id') THEN 'subject'
                ELSE 'actor' END
      FROM pg_class AS c
      JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = 'public'
      JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p')
       AND a.atttypid = 'uuid'::regtype
       AND (a.attname IN ('peer_mentor_id', 'user_id', 'mentor_id', 'entity_id', 'actor_id', 'coordinator_id')
            OR a.attname LIKE '%\_by')
     ORDER BY 1, 2
$$;

CREATE TABLE personal_data_tables (
    table_name  text PRIMARY KEY,
    -- app: the organisations' app writes it and erases it; bundle: this bundle's, exported and erased here.
    owner       text NOT NULL CHECK (owner IN ('app', 'bundle')),
    -- delete: rows about the person are deleted; pseudonymise: kept with a pseudonym, free text cleared.
    -- Either way the person's id as an actor (awarded_by, actor_id, ...) is replaced by the pseudonym.
    on_erasure  text NOT NULL CHECK (on_erasure IN ('none', 'delete', 'pseudonymise')),
    purpose     text NOT NULL CHECK (length(purpose) > 0),
    retention   text NOT NULL CHECK (length(retention) > 0),
    CHECK ((owner = 'app') = (on_erasure = 'none'))
);

INSERT INTO personal_data_tables (table_name, owner, on_erasure, purpose, retention) VALUES
    ('org_members', 'app', 'none', 'Membership and role in the organisation (read for authorisation).',
     'Kept by the app; erasure requires the membership removed first.'),
    ('coordinator_assignments', 'app', 'none', 'Which coordinator follows which mentor (read for authorisation).',
     'Kept by the app.'),
    ('activities', 'app', 'none', 'Registered activities: the source of every statistic and badge.',
     'Kept by the app; erasure requires them erased first.'),
    ('training_completions', 'app', 'none', 'Completed trainings: the source of training badges.',
     'Kept by the app; erasure requires them erased first.'),
    ('mentor_stats', 'bundle', 'delete', 'Statistics snapshot (counts, streaks), so reads never scan activities.',
     'As long as the mentor has activities; rebuilt from them.'),
    ('mentor_week_activity', 'bundle', 'delete', 'Activities per ISO week and type, for streaks.',
     'As long as the mentor has activities; rebuilt from them.'),
    ('mentor_year_activity', 'bundle', 'delete', 'Activities per calendar year and type, for yearly badges.',
     'As long as the mentor has activities; rebuilt from them.'),
    ('evaluation_outbox', 'bundle', 'delete', 'Queue of mentors to evaluate after a change.',
     'Finished rows are purged by the hourly housekeeping after the outbox retention.'),
    ('scheduled_evaluations', 'bundle', 'delete', 'Evaluations due on the date of a future-dated activity.',
     'Until that date.'),
    ('event_outbox', 'bundle', 'delete', 'Events to publish (badge awarded, payout approved or paid).',
     'Published rows are purged by the hourly housekeeping after the outbox retention.'),
    ('streak_pauses', 'bundle', 'delete', 'Weeks in which a streak neither breaks nor grows.',
     'Until an admin deletes the pause.'),
    ('earned_badges', 'bundle', 'pseudonymise', 'Badges earned or awarded, with who awarded or revoked them.',
     'For good: awards are never deleted (honoraria may be paid); pseudonymised on erasure.'),
    ('honorar_payouts', 'bundle', 'pseudonymise', 'Honorarium payouts and who approved, paid or cancelled them.',
     'For good, for the books; pseudonymised on erasure (amounts and dates stay).'),
    ('audit_log', 'bundle', 'pseudonymise', 'Who awarded, revoked, approved or changed what, and when.',
     'For good; pseudonymised on erasure.'),
    ('badge_definitions', 'bundle', 'pseudonymise', 'Badge definitions, with who created or last changed them.',
     'Until deleted; the person as author is pseudonymised on erasure.'),
    ('org_settings', 'bundle', 'pseudonymise', 'Organisation settings, with who last changed them.',
     'Until changed; the person as author is pseudonymised on erasure.');

-- Free-text fields an admin or coordinator typed about a person: cleared in rows about them.
CREATE FUNCTION personal_data_free_text_keys() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY['note', 'revoke_reason', 'cancel_reason', 'paid_reference', 'reason'];

CREATE FUNCTION personal_data_clear_text(p jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN p IS NULL OR jsonb_typeof(p) <> 'object' THEN p
                ELSE p || COALESCE((SELECT jsonb_object_agg(k, '[erased]')
                                      FROM unnest(personal_data_free_text_keys()) AS k
                                     WHERE jsonb_typeof(p -> k) = 'string'), '{}') END;

-- ------------------------------------------------------------------ the rows naming a person

-- A WHERE clause over alias t of one table, for EXECUTE ... USING org ($1), person ($2). `kind`:
-- 'subject' (rows about the person: a subject column, or a JSON column's peer_mentor_id), 'actor'
-- (rows where they acted: an actor column, or their id anywhere in a JSON column) or 'any'. Tables
-- without org_id (event_outbox) belong to the org their JSON names.
CREATE FUNCTION personal_data_predicate(p_table text, p_kind text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, public
AS $$
DECLARE
    org_clause text;
    person_clause text;
BEGIN
    SELECT CASE WHEN bool_or(a.attname = 'org_id') THEN 't.org_id = $1'
                ELSE 'strpos(to_jsonb(t)::text, $1::text) > 0' END,
           string_agg(CASE
                          WHEN a.atttypid = 'jsonb'::regtype AND p_kind = 'subject'
                              THEN format('t.%I ->> ''peer_mentor_id'' = $2::text', a.attname)
                          WHEN a.atttypid = 'jsonb'::regtype
                              THEN format('strpos(t.%I::text, $2::text) > 0', a.attname)
                          WHEN pc.holds IS NOT NULL AND (p_kind = 'any' OR pc.holds = p_kind)
                              THEN format('t.%I = $2', a.attname)
                      END, ' OR ')
      INTO org_clause, person_clause
      FROM pg_attribute AS a
      LEFT JOIN personal_data_columns() AS pc ON pc.table_name = p_table AND pc.column_name = a.attname
     WHERE a.attrelid = to_regclass(format('public.%I', p_table)) AND a.attnum > 0 AND NOT a.attisdropped;
    IF org_clause IS NULL THEN
        RAISE EXCEPTION 'no table %', p_table USING ERRCODE = '42P01';
    END IF;
    -- The erasure's own announcement names the person until it is published; it is not data to erase.
    IF p_table = 'event_outbox' THEN
        org_clause := org_clause || ' AND t.detail_type <> ''MentorErased''';
    END IF;
    RETURN format('%s AND (%s)', org_clause, COALESCE(person_clause, 'false'));
END;
$$;

-- The registered tables of this bundle that exist now (streak_pauses arrives with its own migration).
CREATE FUNCTION personal_data_bundle_tables()
    RETURNS SETOF personal_data_tables
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public
AS $$
    SELECT * FROM public.personal_data_tables
     WHERE owner = 'bundle' AND to_regclass(format('public.%I', table_name)) IS NOT NULL
     ORDER BY table_name
$$;

-- ------------------------------------------------------------------ export

-- Every row of every registered table of this bundle that names the person in the org, as the
-- row's JSON, with why it is kept and for how long. The app's tables are listed, not read.
CREATE FUNCTION personal_data_export(p_org_id uuid, p_person_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
DECLARE
    entry personal_data_tables;
    found_rows jsonb;
    tables jsonb := '{}';
BEGIN
    FOR entry IN SELECT * FROM personal_data_bundle_tables() LOOP
        EXECUTE format('SELECT COALESCE(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), ''[]'') FROM public.%I AS t WHERE %s',
                       entry.table_name, personal_data_predicate(entry.table_name, 'any'))
           INTO found_rows USING p_org_id, p_person_id;
        tables := tables || jsonb_build_object(entry.table_name, jsonb_build_object(
            'purpose', entry.purpose, 'retention', entry.retention, 'on_erasure', entry.on_erasure,
            'rows', found_rows));
    END LOOP;
    RETURN jsonb_build_object(
        'tables', tables,
        'app_tables', (SELECT jsonb_object_agg(table_name, purpose) FROM personal_data_tables WHERE owner = 'app'));
END;
$$;

-- ------------------------------------------------------------------ erasure

-- Events may now be about something other than an earned badge: MentorErased has no badge. The
-- outbox's key (what a publisher claims right after its commit) is the badge for badge and payout
-- events, as before, and the event's own idempotency key otherwise.
ALTER TABLE event_outbox ALTER COLUMN earned_badge_id DROP NOT NULL;
ALTER TABLE event_outbox
    ADD COLUMN event_key uuid GENERATED ALWAYS AS
        (COALESCE(earned_badge_id, CAST(detail ->> 'idempotency_key' AS uuid))) STORED NOT NULL;
CREATE INDEX event_outbox_event_key_idx ON event_outbox (event_key);
ALTER TABLE event_outbox DROP CONSTRAINT event_outbox_detail_type_check;
ALTER TABLE event_outbox ADD CONSTRAINT event_outbox_detail_type_check
    CHECK (detail_type IN ('BadgeAwarded', 'HonorarMilestoneReached', 'HonorarPayoutApproved',
                           'HonorarPayoutPaid', 'MentorErased'));
ALTER TABLE event_outbox ADD CONSTRAINT event_outbox_badge_events_have_a_badge
    CHECK ((earned_badge_id IS NULL) = (detail_type = 'MentorErased'));

-- Once MentorErased is published, its row no longer names the person (only org and idempotency key).
CREATE FUNCTION event_outbox_forget_erased_person() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.detail := NEW.detail - 'peer_mentor_id';
    RETURN NEW;
END;
$$;

CREATE TRIGGER event_outbox_forget_erased_person
    BEFORE UPDATE OF status ON event_outbox
    FOR EACH ROW
    WHEN (NEW.detail_type = 'MentorErased' AND NEW.status = 'done')
    EXECUTE FUNCTION event_outbox_forget_erased_person();

-- SET clauses replacing $2 (the person) by $3 (the pseudonym) in every person column and JSON column;
-- with p_clear_text also the free text (text columns and JSON keys) replaced by '[erased]'.
CREATE FUNCTION personal_data_pseudonym_assignments(p_table text, p_clear_text boolean) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public
AS $$
    SELECT string_agg(
               CASE WHEN a.atttypid = 'jsonb'::regtype AND p_clear_text
                    THEN format('%1$I = CAST(replace(CAST(personal_data_clear_text(%1$I) AS text), $2::text, $3::text) AS jsonb)',
                                a.attname)
                    WHEN a.atttypid = 'jsonb'::regtype
                    THEN format('%1$I = CAST(replace(CAST(%1$I AS text), $2::text, $3::text) AS jsonb)', a.attname)
                    WHEN a.atttypid = 'text'::regtype
                    THEN format('%1$I = CASE WHEN %1$I IS NULL THEN NULL ELSE ''[erased]'' END', a.attname)
                    ELSE format('%1$I = CASE WHEN %1$I = $2 THEN $3 ELSE %1$I END', a.attname) END,
               ', ' ORDER BY a.attnum)
      FROM pg_attribute AS a
     WHERE a.attrelid = to_regclass(format('public.%I', p_table)) AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = ''
       AND (a.atttypid = 'jsonb'::regtype
            OR (p_clear_text AND a.atttypid = 'text'::regtype AND a.attname = ANY (personal_data_free_text_keys()))
            OR a.attname IN (SELECT pc.column_name FROM personal_data_columns() AS pc WHERE pc.table_name = p_table))
$$;

-- A condition over alias t: the row holds free text that erasure clears.
CREATE FUNCTION personal_data_free_text_present(p_table text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public
AS $$
    SELECT COALESCE(string_agg(
               CASE WHEN a.atttypid = 'jsonb'::regtype
                    THEN format('personal_data_clear_text(t.%1$I) IS DISTINCT FROM t.%1$I', a.attname)
                    ELSE format('t.%I IS NOT NULL', a.attname) END, ' OR '), 'false')
      FROM pg_attribute AS a
     WHERE a.attrelid = to_regclass(format('public.%I', p_table)) AND a.attnum > 0 AND NOT a.attisdropped
       AND (a.atttypid = 'jsonb'::regtype
            OR (a.atttypid = 'text'::regtype AND a.attname = ANY (personal_data_free_text_keys())))
$$;

-- Erase one person from one organisation, in the caller's transaction. outcome:
--   'member'   still a member of the org (any role): nothing done;
--   'app_data' the app still has their activities or training completions, which would rebuild the
--              snapshot: nothing done, counts says how many;
--   'unknown'  nothing here names them (never did, or already erased): nothing done;
--   'erased'   done; counts per table: deleted, pseudonymised (rows about them, kept under a new random
--              pseudonym that is stored nowhere else), actor_pseudonymised (rows where they acted),
--              free_text_cleared; the erasure is audited without their id and MentorErased is queued.
-- SECURITY DEFINER: the application role may not UPDATE the audit log or DELETE from the snapshot;
-- this function, which only ever rewrites one person's rows, is its one way to.
CREATE FUNCTION erase_personal_data(
    p_org_id uuid,
    p_person_id uuid,
    p_actor_id uuid,
    p_reason text,
    p_correlation_id text,
    OUT outcome text,
    OUT counts jsonb,
    OUT event_key uuid
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    entry personal_data_tables;
    pseudonym uuid := gen_random_uuid();
    n bigint;
    total bigint := 0;
    deleted jsonb := '{}';
    pseudonymised jsonb := '{}';
    actor_pseudonymised jsonb := '{}';
    cleared jsonb := '{}';
BEGIN
    IF p_reason IS NULL OR length(btrim(p_reason)) = 0 THEN
        RAISE EXCEPTION 'an erasure needs a reason' USING ERRCODE = '22023';
    END IF;
    -- Two erasures of one person queue; the second then finds nothing.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_org_id::text || '/' || p_person_id::text, 4411017));

    IF EXISTS (SELECT 1 FROM org_members WHERE org_id = p_org_id AND user_id = p_person_id) THEN
        outcome := 'member';
        RETURN;
    END IF;
    counts := jsonb_build_object(
        'activities', (SELECT count(*) FROM activities WHERE org_id = p_org_id AND peer_mentor_id = p_person_id),
        'training_completions', (SELECT count(*) FROM training_completions
                                  WHERE org_id = p_org_id AND peer_mentor_id = p_person_id));
    IF (counts ->> 'activities')::int > 0 OR (counts ->> 'training_completions')::int > 0 THEN
        outcome := 'app_data';
        RETURN;
    END IF;

    FOR entry IN SELECT * FROM personal_data_bundle_tables() LOOP
        IF entry.on_erasure = 'delete' THEN
            EXECUTE format('DELETE FROM public.%I AS t WHERE %s', entry.table_name,
                           personal_data_predicate(entry.table_name, 'subject'))
                USING p_org_id, p_person_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            deleted := deleted || jsonb_build_object(entry.table_name, n);
            total := total + n;
        ELSE
            -- Rows about them: free text cleared and their id replaced, wherever it appears in the row.
            EXECUTE format('SELECT count(*) FROM public.%I AS t WHERE %s AND (%s)', entry.table_name,
                           personal_data_predicate(entry.table_name, 'subject'),
                           personal_data_free_text_present(entry.table_name))
                INTO n USING p_org_id, p_person_id;
            cleared := cleared || jsonb_build_object(entry.table_name, n);
            EXECUTE format('UPDATE public.%I AS t SET %s WHERE %s', entry.table_name,
                           personal_data_pseudonym_assignments(entry.table_name, true),
                           personal_data_predicate(entry.table_name, 'subject'))
                USING p_org_id, p_person_id, pseudonym;
            GET DIAGNOSTICS n = ROW_COUNT;
            pseudonymised := pseudonymised || jsonb_build_object(entry.table_name, n);
            total := total + n;
        END IF;
    END LOOP;

    -- Where they acted (in any table, deleted rows aside): the same pseudonym, so the org's records
    -- still show that one person did these things.
    FOR entry IN SELECT * FROM personal_data_bundle_tables() LOOP
        EXECUTE format('UPDATE public.%I AS t SET %s WHERE %s', entry.table_name,
                       personal_data_pseudonym_assignments(entry.table_name, false),
                       personal_data_predicate(entry.table_name, 'actor'))
            USING p_org_id, p_person_id, pseudonym;
        GET DIAGNOSTICS n = ROW_COUNT;
        actor_pseudonymised := actor_pseudonymised || jsonb_build_object(entry.table_name, n);
        total := total + n;
    END LOOP;

    counts := jsonb_build_object('deleted', deleted, 'pseudonymised', pseudonymised,
                                 'actor_pseudonymised', actor_pseudonymised, 'free_text_cleared', cleared);
    IF total = 0 THEN
        outcome := 'unknown';
        counts := NULL;
        RETURN;
    END IF;

    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    VALUES (p_org_id, p_actor_id, CASE WHEN p_actor_id IS NULL THEN 'system' ELSE 'user' END,
            'person.erased', 'person', NULL, NULL,
            jsonb_build_object('reason', btrim(p_reason), 'counts', counts), p_correlation_id);

    INSERT INTO event_outbox (earned_badge_id, detail_type, detail)
    VALUES (NULL, 'MentorErased', jsonb_build_object('org_id', p_org_id, 'peer_mentor_id', p_person_id,
                                                     'idempotency_key', gen_random_uuid()))
    RETURNING event_outbox.event_key INTO erase_personal_data.event_key;
    outcome := 'erased';
END;
$$;

-- Only the two entry points are the application's; the registry is read through them.
REVOKE ALL ON FUNCTION erase_personal_data(uuid, uuid, uuid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION personal_data_export(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_personal_data(uuid, uuid, uuid, text, text), personal_data_export(uuid, uuid)
    TO peer_badges_app;
