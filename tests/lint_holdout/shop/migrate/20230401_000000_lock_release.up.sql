-- expect: SQM009
DO $$
BEGIN
    PERFORM pg_advisory_unlock_all();
END
$$;
-- expect: SQM009
DISCARD ALL;
SELECT pg_advisory_xact_lock(hashtext('shop.products'));
