-- Larger amounts: numeric(5,2) to numeric(9,2) and numeric(4,2) to unbounded numeric keep every stored value as
-- it is, so PostgreSQL rewrites neither table (nor the partitions of payment).
ALTER TABLE public.payment ALTER COLUMN amount TYPE numeric(9,2);
ALTER TABLE public.film ALTER COLUMN rental_rate TYPE numeric;
ALTER TABLE public.film ALTER COLUMN replacement_cost TYPE numeric(7,2);
