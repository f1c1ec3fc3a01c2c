-- What makes an award live (SPEC 8.1), written once: a write-caused evaluation of the mentor is
-- pending (claimed by a drain or still waiting). The drain asks it for one mentor
-- (mentor_evaluation._LIVE_SQL); set-based backfills ask it for every candidate and leave those
-- mentors to the drain (badge_queries._MISSING_SQL). Each compares last_queued_at with the
-- definition's backfill_from. A plain view: the planner inlines it into both.
CREATE VIEW live_evaluations AS
SELECT o.org_id, o.peer_mentor_id, o.last_queued_at
  FROM evaluation_outbox AS o
 WHERE o.status = 'pending' AND NOT o.backfill;

GRANT SELECT ON live_evaluations TO peer_badges_app;
