CREATE TABLE public.invoice_line_items (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES public.invoices (id) ON DELETE CASCADE,
    description varchar(255) NOT NULL,
    quantity integer NOT NULL DEFAULT 1,
    unit_amount_cents integer NOT NULL,
    created_at timestamp(6) NOT NULL,
    updated_at timestamp(6) NOT NULL
);
CREATE INDEX index_invoice_line_items_on_invoice_id ON public.invoice_line_items (invoice_id);

-- A new column without a default is NULL in every row, so PostgreSQL marks the foreign key valid without
-- checking a single row.
ALTER TABLE public.invoices ADD COLUMN subscription_id bigint REFERENCES public.subscriptions (id);

-- Fails on the first deploy to a database with invoices in it.
-- expect: SQM403
ALTER TABLE public.invoices ADD COLUMN currency char(3) NOT NULL;
