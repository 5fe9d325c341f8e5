CREATE TABLE public.plans (
    id bigserial PRIMARY KEY,
    code varchar(32) NOT NULL UNIQUE,
    monthly_cents integer NOT NULL
);
INSERT INTO public.plans (id, code, monthly_cents) VALUES (1, 'free', 0);

-- The default gives every existing subscription a plan_id, and every one of them is checked against plans
-- while subscriptions is locked.
-- expect: SQM414
ALTER TABLE public.subscriptions ADD COLUMN plan_id bigint NOT NULL DEFAULT 1 REFERENCES public.plans (id);
