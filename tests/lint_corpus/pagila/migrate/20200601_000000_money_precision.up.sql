-- Larger prices: numeric(4,2) to unbounded numeric and numeric(5,2) to numeric(7,2) keep every stored value as it
-- is, so PostgreSQL does not rewrite film.
ALTER TABLE public.film ALTER COLUMN rental_rate TYPE numeric;
ALTER TABLE public.film ALTER COLUMN replacement_cost TYPE numeric(7,2);
