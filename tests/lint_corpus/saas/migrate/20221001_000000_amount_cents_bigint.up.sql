-- Enterprise invoices overflow integer. integer to bigint rewrites invoices and its indexes.
-- expect: SQM404
ALTER TABLE public.invoices ALTER COLUMN amount_cents TYPE bigint;
-- These only relax a length limit: no rewrite.
ALTER TABLE public.invoices ALTER COLUMN status TYPE varchar(64);
ALTER TABLE public.invoice_line_items ALTER COLUMN description TYPE text;
