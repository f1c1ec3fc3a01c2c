-- award_earned_badge's key lookup must stay an index probe however the table grew since the
-- connection first ran it. With the default plan cache a connection that awarded while
-- earned_badges was nearly empty (the first reconcile of a new org) can keep a generic plan chosen
-- for a one-page table long after the table holds thousands of rows. Planning per call costs
-- microseconds; a stale plan cost milliseconds per award (measured by bench: reconcile then awards).
ALTER FUNCTION award_earned_badge(uuid, uuid, uuid, integer, date, text, uuid, integer, jsonb, text, boolean,
                                  boolean, text)
    SET plan_cache_mode = force_custom_plan;
