-- One pause per organisation, mentor (or the whole organisation: NULLS NOT DISTINCT) and period: a
-- retried POST finds the pause it already made instead of adding a twin (peer_badges.pauses answers
-- it with the existing row), and two admins entering the same summer break get one row.
CREATE UNIQUE INDEX streak_pauses_one_per_period
    ON streak_pauses (org_id, peer_mentor_id, starts_on, ends_on) NULLS NOT DISTINCT;
