-- The report is filled for the first time now that the rentals are loaded.
-- expect: SQM421 -- REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view until it is rebuilt
REFRESH MATERIALIZED VIEW public.rental_by_category;
