-- At most one waiting evaluation per mentor and kind (live or backfill): a hot mentor's writes no
-- longer pile up rows (a load test wrote 160,000 pending rows for 8 mentors in three minutes).
--
-- "Waiting" is a row nobody has claimed or tried yet (attempts = 0, no error). A write that finds one
-- joins it and notes the time (last_queued_at): the row is locked until the writer commits, so a
-- drain skips it until then (FOR UPDATE SKIP LOCKED) and, once it claims it, sees the write. A row a
-- drain has claimed (attempts moved to 1) is no longer waiting, so a write made while it is being
-- evaluated queues a new row: nothing written after an evaluation read its facts is lost. Writers of
-- one mentor already wait for each other on the mentor's stats row, so joining adds no new waiting.
LOCK TABLE evaluation_outbox IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE evaluation_outbox ADD COLUMN last_queued_at timestamptz NULL;
UPDATE evaluation_outbox SET last_queued_at = created_at WHERE status = 'pending';
ALTER TABLE evaluation_outbox ALTER COLUMN last_queued_at SET DEFAULT now();

-- Rows already waiting twice or more collapse into their oldest (the others are done: coalesced).
WITH extra AS (
    SELECT id, max(last_queued_at) OVER (PARTITION BY org_id, peer_mentor_id, backfill) AS latest,
           row_number() OVER (PARTITION BY org_id, peer_mentor_id, backfill ORDER BY id) AS position
      FROM evaluation_outbox
     WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL
), kept AS (
    UPDATE evaluation_outbox AS o SET last_queued_at = e.latest
      FROM extra AS e WHERE o.id = e.id AND e.position = 1
)
UPDATE evaluation_outbox AS o
   SET status = 'done', processed_at = now(), last_error = 'coalesced into an older waiting row'
  FROM extra AS e
 WHERE o.id = e.id AND e.position > 1;

CREATE UNIQUE INDEX evaluation_outbox_waiting_key ON evaluation_outbox (org_id, peer_mentor_id, backfill)
    WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL;

CREATE OR REPLACE FUNCTION queue_evaluations(
    p_org_ids uuid[], p_mentor_ids uuid[], p_reason text, p_backfill boolean
) RETURNS int
LANGUAGE sql
AS $$
    WITH queued AS (
        INSERT INTO evaluation_outbox AS o (org_id, peer_mentor_id, reason, backfill)
        SELECT DISTINCT k.org_id, k.peer_mentor_id, p_reason, p_backfill
          FROM unnest(p_org_ids, p_mentor_ids) AS k(org_id, peer_mentor_id)
         ORDER BY 1, 2
        ON CONFLICT (org_id, peer_mentor_id, backfill) WHERE status = 'pending' AND attempts = 0 AND last_error IS NULL
        DO UPDATE SET last_queued_at = now()
        RETURNING 1
    )
    SELECT count(*)::int FROM queued
$$;

-- Training completions queue through the same function.
CREATE OR REPLACE FUNCTION training_completions_changed(p_mentors mentor_key[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_mentors IS NULL OR cardinality(p_mentors) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO mentor_stats AS s (org_id, peer_mentor_id)
    SELECT DISTINCT m.org_id, m.peer_mentor_id FROM unnest(p_mentors) AS m
    ORDER BY 1, 2
    ON CONFLICT (org_id, peer_mentor_id) DO UPDATE SET updated_at = now();

    PERFORM queue_evaluations(array_agg(m.org_id), array_agg(m.peer_mentor_id), 'training', false)
    FROM unnest(p_mentors) AS m;
END;
$$;

-- A mentor's pending write-caused rows, by when they were last queued (the live-or-quiet check).
DROP INDEX evaluation_outbox_pending_mentor_idx;
CREATE INDEX evaluation_outbox_pending_mentor_idx ON evaluation_outbox (peer_mentor_id, last_queued_at)
    WHERE status = 'pending' AND NOT backfill;
