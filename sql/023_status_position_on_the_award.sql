-- A badge's credential status position (sql/011) moves onto the award row itself (issue 19: the award
-- path is held to 2x a bare insert). An award inserted a second row (credential_status_entries: a
-- heap row, three index entries and a foreign-key check against the award) in its statement trigger;
-- now the position is a column default from the same sequence, and the status list is read through one
-- index on the award table. Positions already given out are kept: issued credentials name them.

ALTER TABLE earned_badges ADD COLUMN status_position bigint;

UPDATE earned_badges AS e
   SET status_position = s.position
  FROM credential_status_entries AS s
 WHERE s.earned_badge_id = e.id;

-- (None is expected: every award got its entry in the award's own statement.)
UPDATE earned_badges AS e
   SET status_position = nextval('credential_status_position_seq')
 WHERE e.status_position IS NULL;

-- The sequence belongs to the old table's column; keep it when that table goes.
ALTER SEQUENCE credential_status_position_seq OWNED BY NONE;
DROP TABLE credential_status_entries;

ALTER TABLE earned_badges
    ALTER COLUMN status_position SET DEFAULT nextval('credential_status_position_seq'),
    ALTER COLUMN status_position SET NOT NULL,
    -- 131072 bits (16 KB) per list: the minimum length the Bitstring Status List spec allows.
    ADD COLUMN list_id int GENERATED ALWAYS AS ((status_position / 131072)::int) STORED,
    ADD COLUMN status_index int GENERATED ALWAYS AS ((status_position % 131072)::int) STORED;
ALTER SEQUENCE credential_status_position_seq OWNED BY earned_badges.status_position;

CREATE INDEX earned_badges_status_list_idx ON earned_badges (org_id, list_id);

-- The award trigger keeps only the dependants' evaluation (sql/022).
CREATE OR REPLACE FUNCTION earned_badges_awarded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Most organisations require no badge anywhere: one index probe, and nothing more to do.
    IF EXISTS (SELECT 1 FROM new_rows AS n WHERE n.source <> 'evaluation')
       AND EXISTS (SELECT 1 FROM badge_definitions AS d
                    WHERE d.org_id IN (SELECT n.org_id FROM new_rows AS n WHERE n.source <> 'evaluation')
                      AND d.required_badge_keys <> '[]'::jsonb) THEN
        PERFORM queue_prerequisite_holders(ARRAY(SELECT n.id FROM new_rows AS n WHERE n.source <> 'evaluation'));
    END IF;
    RETURN NULL;
END;
$$;
