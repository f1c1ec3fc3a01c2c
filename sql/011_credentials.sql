-- Open Badges credentials (SPEC 8.6): every earned badge gets a fixed place in a revocation status
-- list (W3C Bitstring Status List) when it is awarded, by whatever path, so a credential issued for
-- it later always names the same bit. The bit itself is not stored: it is set exactly when the
-- earned badge's revoked_at is, so revoking (an UPDATE of earned_badges) needs no second write and
-- cannot drift from it.

-- Positions come from one sequence: no row lock is shared between concurrent awards (the evaluator
-- holds its award transaction open for a batch), and a position is never reused, even after a
-- rollback. Position p is bit p % 131072 of list p / 131072. Lists are served per organisation and
-- hold only that organisation's bits; the others' positions in the same list read as 0.
CREATE SEQUENCE credential_status_position_seq AS bigint MINVALUE 0 START WITH 0;

CREATE TABLE credential_status_entries (
    earned_badge_id  uuid PRIMARY KEY REFERENCES earned_badges (id) ON DELETE CASCADE,
    org_id           uuid NOT NULL,
    position         bigint NOT NULL UNIQUE DEFAULT nextval('credential_status_position_seq'),
    -- 131072 bits (16 KB) is the minimum list length the Bitstring Status List spec allows, chosen
    -- for herd privacy: fetching a list does not reveal which credential is being checked.
    list_id          int GENERATED ALWAYS AS ((position / 131072)::int) STORED,
    status_index     int GENERATED ALWAYS AS ((position % 131072)::int) STORED
);
ALTER SEQUENCE credential_status_position_seq OWNED BY credential_status_entries.position;

CREATE INDEX credential_status_entries_list ON credential_status_entries (org_id, list_id);

-- Statement level with a transition table: one INSERT … SELECT however many badges a reconcile or
-- backfill statement awarded.
CREATE FUNCTION credential_status_assign() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credential_status_entries (earned_badge_id, org_id)
    SELECT id, org_id FROM awarded ORDER BY awarded_at, id
    ON CONFLICT (earned_badge_id) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER earned_badges_credential_status
    AFTER INSERT ON earned_badges
    REFERENCING NEW TABLE AS awarded
    FOR EACH STATEMENT EXECUTE FUNCTION credential_status_assign();

-- Badges earned before this migration, in award order.
INSERT INTO credential_status_entries (earned_badge_id, org_id)
SELECT id, org_id FROM earned_badges ORDER BY awarded_at, id
ON CONFLICT (earned_badge_id) DO NOTHING;

-- The trigger runs as the awarding handler's role.
GRANT SELECT, INSERT ON credential_status_entries TO peer_badges_app;
GRANT USAGE ON SEQUENCE credential_status_position_seq TO peer_badges_app;
