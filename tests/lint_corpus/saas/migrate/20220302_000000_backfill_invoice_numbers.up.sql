-- A data migration on its own: no schema change holds a lock while it runs.
UPDATE public.invoices SET number = 'INV-' || lpad(id::text, 8, '0') WHERE number IS NULL;
