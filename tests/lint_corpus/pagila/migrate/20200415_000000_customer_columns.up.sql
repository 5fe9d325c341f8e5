-- Longer e-mail addresses: widening a varchar rewrites nothing.
ALTER TABLE public.customer ALTER COLUMN email TYPE varchar(254);
-- The legacy integer flag becomes a boolean: a real conversion, every row is rewritten.
-- expect: SQM404
ALTER TABLE public.customer ALTER COLUMN active TYPE boolean USING active::boolean;
ALTER TABLE public.customer ALTER COLUMN active SET DEFAULT true;
