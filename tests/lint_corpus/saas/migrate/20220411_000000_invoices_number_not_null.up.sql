-- Step 2: VALIDATE scans under SHARE UPDATE EXCLUSIVE (reads and writes go on); SET NOT NULL then finds the valid
-- check and skips its own scan (PostgreSQL 12 and later); the check is redundant after that.
ALTER TABLE public.invoices VALIDATE CONSTRAINT invoices_number_null;
ALTER TABLE public.invoices ALTER COLUMN number SET NOT NULL;
ALTER TABLE public.invoices DROP CONSTRAINT invoices_number_null;
