-- A text alternative for a badge's icon (SPEC 8.7): what a screen reader says instead of the image.
-- At most 200 characters, trimmed, not blank, and present whenever an icon is. The layer checks the
-- same and explains it; this is the guard for every other client that writes the table.

ALTER TABLE badge_definitions ADD COLUMN icon_alt text NULL;

-- Definitions that already have an icon get their badge's name as its text alternative (what the
-- icon stands for), so the rule below holds for every row. This moves their revision, as any change does.
UPDATE badge_definitions
   SET icon_alt = left(btrim(name), 200)
 WHERE icon IS NOT NULL AND icon_alt IS NULL;

ALTER TABLE badge_definitions ADD CONSTRAINT badge_definitions_icon_alt_check CHECK (
    (icon IS NULL OR icon_alt IS NOT NULL)
    AND (icon_alt IS NULL OR (char_length(icon_alt) BETWEEN 1 AND 200 AND icon_alt = btrim(icon_alt)))
);
