-- Written like the no-transaction files, but without their directive: this file runs in a transaction, where
-- CREATE INDEX CONCURRENTLY fails at once.
-- expect: SQM402
CREATE INDEX CONCURRENTLY IF NOT EXISTS index_invoices_on_status ON public.invoices (status);
