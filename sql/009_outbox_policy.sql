-- One outbox policy for both queues (peer_badges.outbox): the event outbox gets the evaluation
-- outbox's bookkeeping, so events can park too instead of retrying forever, and both record when a
-- row parked. `status` is the single source of truth for what a worker may claim; `published_at`
-- stays the time an event was accepted, and the constraint keeps the two from disagreeing.

ALTER TABLE event_outbox
    ADD COLUMN status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'parked')),
    ADD COLUMN parked_at timestamptz NULL;

UPDATE event_outbox SET status = 'done' WHERE published_at IS NOT NULL;

ALTER TABLE event_outbox
    ADD CONSTRAINT event_outbox_done_is_published CHECK ((status = 'done') = (published_at IS NOT NULL)),
    ADD CONSTRAINT event_outbox_parked_since CHECK ((status = 'parked') = (parked_at IS NOT NULL));

DROP INDEX event_outbox_unpublished_idx;
CREATE INDEX event_outbox_pending_idx ON event_outbox (available_at, id) WHERE status = 'pending';
CREATE INDEX event_outbox_parked_idx ON event_outbox (id) WHERE status = 'parked';

-- Parked evaluation rows used processed_at for the time they parked; it now means "done" only.
ALTER TABLE evaluation_outbox ADD COLUMN parked_at timestamptz NULL;
UPDATE evaluation_outbox SET parked_at = processed_at, processed_at = NULL WHERE status = 'parked';
ALTER TABLE evaluation_outbox
    ADD CONSTRAINT evaluation_outbox_parked_since CHECK ((status = 'parked') = (parked_at IS NOT NULL));
