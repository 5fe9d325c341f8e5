-- Step 1 of making invoices.number NOT NULL without a long lock: a NOT VALID check, no scan.
ALTER TABLE public.invoices ADD CONSTRAINT invoices_number_null CHECK (number IS NOT NULL) NOT VALID;
