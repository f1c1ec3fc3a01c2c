-- The database invokes evaluate_badges itself, once per transaction that queues mentors, and the
-- outbox housekeeping: future-dated activities re-queued on their date, done rows purged.
--
-- In AWS the invocation goes through RDS's `aws_lambda` extension (asynchronous 'Event' invoke).
-- Where that extension is not available (a laptop, CI, self-hosted PostgreSQL) a stand-in
-- `aws_lambda.invoke` with the same signature sends the invocation as a NOTIFY on the channel
-- `aws_lambda_invoke`; `make run` listens there and hands it to the local Lambda runtime. Either
-- way the trigger SQL below is the same.
--
-- Which function to invoke lives in lambda_invocation_target: the deploy's custom resource writes
-- it (configure_lambda_invocation), `make run` writes the local one. No row, or enabled = false:
-- no invocation, and the schedule drains as before.

-- ------------------------------------------------------------------ aws_lambda, real or stand-in

CREATE TABLE lambda_invocation_target (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    function_name  text NOT NULL CHECK (length(function_name) BETWEEN 1 AND 256),
    region         text NULL CHECK (region IS NULL OR region ~ '^[a-z0-9-]{1,32}$'),
    enabled        boolean NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Installs the real extension where the server offers it (replacing a stand-in from an earlier
-- run), otherwise the stand-in. Returns which one is in place. Run by this migration and again
-- on every deploy, so a server that gains the extension later switches over by itself.
CREATE FUNCTION install_lambda_invoke() RETURNS text
LANGUAGE plpgsql AS $install$
DECLARE
    stand_in_marker constant text := 'peer_badges stand-in for the aws_lambda extension';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'aws_lambda') THEN
        RETURN 'aws_lambda extension';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'aws_lambda') THEN
        BEGIN
            IF obj_description('aws_lambda'::regnamespace, 'pg_namespace') = stand_in_marker THEN
                DROP SCHEMA aws_lambda CASCADE;
            END IF;
        EXCEPTION WHEN invalid_schema_name THEN
            NULL;  -- no schema yet
        END;
        BEGIN
            CREATE EXTENSION aws_lambda CASCADE;
            RETURN 'aws_lambda extension';
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'aws_lambda is available but this role may not create it (needs rds_superuser); '
                          'using the NOTIFY stand-in, so only the schedule drains the outbox';
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'aws_lambda') THEN
        CREATE SCHEMA aws_lambda;
        EXECUTE format('COMMENT ON SCHEMA aws_lambda IS %L', stand_in_marker);
    END IF;
    -- RDS's text-ARN form: aws_lambda.invoke(function_name, payload, region, invocation_type, ...).
    CREATE OR REPLACE FUNCTION aws_lambda.invoke(
        IN function_name text,
        IN payload json,
        IN region text DEFAULT NULL,
        IN invocation_type text DEFAULT 'RequestResponse',
        IN log_type text DEFAULT 'None',
        IN context json DEFAULT NULL,
        IN qualifier varchar(128) DEFAULT NULL,
        OUT status_code int,
        OUT payload json,
        OUT executed_version text,
        OUT log_result text)
    -- SQL, not PL/pgSQL: the IN and OUT `payload` share a name, as in RDS, which PL/pgSQL refuses.
    -- Every call is treated as asynchronous; the notification is delivered when the transaction commits.
    LANGUAGE sql VOLATILE AS $standin$
        SELECT 202, NULL::json, NULL::text, NULL::text
          FROM (SELECT pg_notify('aws_lambda_invoke', json_build_object(
                    'function_name', $1, 'region', $3, 'invocation_type', $4, 'qualifier', $7,
                    'payload', $2)::text)) AS sent
    $standin$;
    RETURN 'stand-in (NOTIFY aws_lambda_invoke)';
END;
$install$;

SELECT install_lambda_invoke();

-- Deploy-time configuration (the custom resource, as the schema owner); returns install_lambda_invoke().
CREATE FUNCTION configure_lambda_invocation(p_function_name text, p_region text, p_enabled boolean)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lambda_invocation_target (function_name, region, enabled)
    VALUES (p_function_name, p_region, p_enabled)
    ON CONFLICT (singleton) DO UPDATE
        SET function_name = excluded.function_name, region = excluded.region,
            enabled = excluded.enabled, updated_at = now();
    RETURN install_lambda_invoke();
END;
$$;

-- ------------------------------------------------------------------ once per transaction

-- True for the first pending, due outbox row a transaction writes, false afterwards (a
-- transaction-local flag). The trigger below asks this in its WHEN, which constraint triggers
-- evaluate at once, so exactly one invocation is queued per transaction. A savepoint rolled back
-- takes its queued invocation and the flag with it. A drain's own claim (available_at moved into
-- the future) and done/parked updates never qualify, so a drain does not invoke itself.
CREATE FUNCTION evaluation_invocation_first_in_transaction(p_status text, p_available_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_status <> 'pending' OR p_available_at > now() THEN
        RETURN false;
    END IF;
    IF current_setting('peer_badges.evaluation_invocation_queued', true) = 'on' THEN
        RETURN false;
    END IF;
    PERFORM set_config('peer_badges.evaluation_invocation_queued', 'on', true);
    RETURN true;
END;
$$;

-- Runs at commit (a deferred constraint trigger), so the drain it starts usually finds the rows
-- committed; if it runs first it finds nothing and the next invocation or the schedule drains
-- them. Asynchronous, and every error is swallowed: the writer's commit never fails because of it.
-- SECURITY DEFINER: the app's writers need no rights on aws_lambda or the target table.
CREATE FUNCTION evaluation_outbox_invoke() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    target record;
BEGIN
    SELECT function_name, region INTO target FROM public.lambda_invocation_target WHERE enabled;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM aws_lambda.invoke(
        target.function_name,
        json_build_object('action', 'drain', 'source', 'db-nudge'),
        target.region,
        'Event');
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'evaluate_badges invocation failed (harmless: the schedule drains anyway): %', SQLERRM;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER evaluation_outbox_invoke
    AFTER INSERT OR UPDATE ON evaluation_outbox
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (evaluation_invocation_first_in_transaction(NEW.status, NEW.available_at))
    EXECUTE FUNCTION evaluation_outbox_invoke();

-- ------------------------------------------------------------------ future-dated activities

-- A mentor to evaluate again on `due_on` (the org's local date), because an activity dated in the
-- future counts only from its date. Written by the activity triggers below, taken by the hourly
-- housekeeping job (peer_badges.housekeeping.enqueue_due_evaluations).
CREATE TABLE scheduled_evaluations (
    org_id          uuid NOT NULL,
    peer_mentor_id  uuid NOT NULL,
    due_on          date NOT NULL,
    PRIMARY KEY (org_id, peer_mentor_id, due_on)
);
CREATE INDEX scheduled_evaluations_due_idx ON scheduled_evaluations (due_on);

CREATE FUNCTION activities_schedule_future_dates() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO public.scheduled_evaluations (org_id, peer_mentor_id, due_on)
    SELECT DISTINCT n.org_id, n.peer_mentor_id, n.activity_date
      FROM new_rows n
      JOIN public.organizations o ON o.id = n.org_id
     -- The first test is cheap and rules out nearly every row: no zone is a day ahead of UTC + 1.
     WHERE n.activity_date > (now() AT TIME ZONE 'UTC')::date - 1
       AND n.activity_date > (now() AT TIME ZONE o.timezone)::date
       AND n.status = 'approved' AND n.deleted_at IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER activities_schedule_future_dates_insert
    AFTER INSERT ON activities REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activities_schedule_future_dates();
CREATE TRIGGER activities_schedule_future_dates_update
    AFTER UPDATE ON activities REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activities_schedule_future_dates();

-- ------------------------------------------------------------------ purging done outbox rows

-- The application role may delete only finished rows older than the retention, in bounded batches
-- (oldest ids first, where finished rows collect), and nothing else: it has no DELETE on the tables.
CREATE FUNCTION purge_finished_outbox_rows(p_retention interval, p_limit int)
RETURNS TABLE (evaluation_rows int, event_rows int)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_retention < interval '1 hour' OR p_limit NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'retention must be at least an hour and the batch 1..100000 rows'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH doomed AS (
        SELECT id FROM public.evaluation_outbox
         WHERE status = 'done' AND processed_at < now() - p_retention
         ORDER BY id LIMIT p_limit
    )
    DELETE FROM public.evaluation_outbox o USING doomed WHERE o.id = doomed.id;
    GET DIAGNOSTICS evaluation_rows = ROW_COUNT;
    WITH doomed AS (
        SELECT id FROM public.event_outbox
         WHERE published_at < now() - p_retention
         ORDER BY id LIMIT p_limit
    )
    DELETE FROM public.event_outbox o USING doomed WHERE o.id = doomed.id;
    GET DIAGNOSTICS event_rows = ROW_COUNT;
    RETURN NEXT;
END;
$$;

-- ------------------------------------------------------------------ privileges

REVOKE EXECUTE ON FUNCTION install_lambda_invoke(), configure_lambda_invocation(text, text, boolean),
    purge_finished_outbox_rows(interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_finished_outbox_rows(interval, int) TO peer_badges_app;
GRANT EXECUTE ON FUNCTION evaluation_invocation_first_in_transaction(text, timestamptz),
    evaluation_outbox_invoke(), activities_schedule_future_dates() TO peer_badges_app;
GRANT SELECT, DELETE ON scheduled_evaluations TO peer_badges_app;
