CREATE TYPE public.subscription_status AS ENUM ('trialing', 'active', 'past_due', 'canceled');

CREATE TABLE public.subscriptions (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES public.accounts (id),
    status public.subscription_status NOT NULL DEFAULT 'trialing',
    pause_collection jsonb,
    current_period_end timestamp(6),
    created_at timestamp(6) NOT NULL,
    updated_at timestamp(6) NOT NULL
);
CREATE INDEX index_subscriptions_on_account_id ON public.subscriptions (account_id);

CREATE TABLE public.invoices (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES public.accounts (id),
    number varchar(32),
    status varchar(32) NOT NULL DEFAULT 'draft',
    amount_cents integer NOT NULL DEFAULT 0,
    created_at timestamp(6) NOT NULL,
    updated_at timestamp(6) NOT NULL
);
CREATE INDEX index_invoices_on_account_id ON public.invoices (account_id);
