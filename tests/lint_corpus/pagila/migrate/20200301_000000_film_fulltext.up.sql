-- Full-text search over titles and descriptions. A STORED generated column is computed for every existing row:
-- film is rewritten under an ACCESS EXCLUSIVE lock.
-- expect: SQM411
ALTER TABLE public.film ADD COLUMN fulltext tsvector
    GENERATED ALWAYS AS (to_tsvector('english'::regconfig, title || ' ' || coalesce(description, ''))) STORED;

-- expect: SQM401
CREATE INDEX film_fulltext_idx ON public.film USING gist (fulltext);
