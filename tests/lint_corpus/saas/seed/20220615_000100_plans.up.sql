INSERT INTO public.plans (id, code, monthly_cents)
VALUES (2, 'team', 4900), (3, 'business', 19900)
ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, monthly_cents = EXCLUDED.monthly_cents;
SELECT setval('public.plans_id_seq', (SELECT max(id) FROM public.plans));
