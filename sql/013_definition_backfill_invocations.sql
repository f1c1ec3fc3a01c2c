-- A definition that starts a backfill (sql/008_criteria_queries.sql queues it in definition_backfills)
-- wakes the drain the same way a queued mentor does (sql/012): one invocation at the commit of the
-- transaction, shared with any evaluation_outbox rows the same transaction queued.
CREATE CONSTRAINT TRIGGER definition_backfills_invoke
    AFTER INSERT OR UPDATE ON definition_backfills
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (evaluation_invocation_first_in_transaction(NEW.status, NEW.available_at))
    EXECUTE FUNCTION evaluation_outbox_invoke();
