-- OPT-IN, RDS/Aurora PostgreSQL only: nudge evaluate_badges as soon as mentors are queued.
--
-- Apply with:  python -m peer_badges.migrations --dir sql/optional
-- after setting, as the schema owner (see docs/deploy.md for the IAM role the DB instance needs):
--   ALTER DATABASE <db> SET peer_badges.evaluate_function_arn = 'arn:aws:lambda:<region>:<acct>:function:<name>';
--   ALTER DATABASE <db> SET peer_badges.aws_region = '<region>';
--
-- The nudge is only a latency optimisation. The invoke is asynchronous ('Event') and runs before
-- the writing transaction commits, so a drain may find nothing yet; the every-minute schedule and
-- the daily reconcile still pick everything up. A failed nudge never fails the activity write.

CREATE EXTENSION IF NOT EXISTS aws_lambda CASCADE;

CREATE OR REPLACE FUNCTION evaluation_outbox_nudge() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    function_arn text := current_setting('peer_badges.evaluate_function_arn', true);
    region       text := current_setting('peer_badges.aws_region', true);
BEGIN
    IF function_arn IS NULL OR function_arn = '' THEN
        RETURN NULL;
    END IF;
    PERFORM aws_lambda.invoke(
        aws_commons.create_lambda_function_arn(function_arn, region),
        json_build_object('action', 'drain', 'source', 'db-nudge'),
        'Event'
    );
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'evaluate_badges nudge failed (harmless, the schedule drains anyway): %', SQLERRM;
    RETURN NULL;
END;
$$;

-- Once per statement, not per row: a bulk import nudges once.
CREATE TRIGGER evaluation_outbox_nudge
    AFTER INSERT ON evaluation_outbox
    FOR EACH STATEMENT
    EXECUTE FUNCTION evaluation_outbox_nudge();
