CREATE TABLE public.accounts (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    plan varchar(32) NOT NULL DEFAULT 'free',
    created_at timestamp(6) NOT NULL,
    updated_at timestamp(6) NOT NULL
);
CREATE UNIQUE INDEX index_accounts_on_name ON public.accounts (name);

CREATE TABLE public.users (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES public.accounts (id),
    email varchar(255) NOT NULL,
    legacy_password_digest varchar(255),
    created_at timestamp(6) NOT NULL,
    updated_at timestamp(6) NOT NULL
);
CREATE INDEX index_users_on_account_id ON public.users (account_id);
