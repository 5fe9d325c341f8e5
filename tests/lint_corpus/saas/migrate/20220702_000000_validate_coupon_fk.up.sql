-- sqlmig: no-transaction
-- The NOT VALID constraint of the previous migration, validated after that migration committed.
ALTER TABLE public.invoices VALIDATE CONSTRAINT fk_invoices_coupon;
