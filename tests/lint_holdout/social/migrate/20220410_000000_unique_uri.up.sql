-- sqlmig: no-transaction
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS index_statuses_on_uri ON public.statuses USING btree (uri);
ALTER TABLE public.statuses ADD CONSTRAINT statuses_uri_key UNIQUE USING INDEX index_statuses_on_uri;
