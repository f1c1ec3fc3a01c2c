-- The future-dated activities trigger (sql/012) said what a counted activity is in its own words;
-- it uses activity_counts (sql/008) like every other path, so the rule is written once.
CREATE OR REPLACE FUNCTION activities_schedule_future_dates() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO public.scheduled_evaluations (org_id, peer_mentor_id, due_on)
    SELECT DISTINCT n.org_id, n.peer_mentor_id, n.activity_date
      FROM new_rows n
      JOIN public.organizations o ON o.id = n.org_id
     -- The first test is cheap and rules out nearly every row: no zone is a day ahead of UTC + 1.
     WHERE n.activity_date > (now() AT TIME ZONE 'UTC')::date - 1
       AND n.activity_date > (now() AT TIME ZONE o.timezone)::date
       AND public.activity_counts(n)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
