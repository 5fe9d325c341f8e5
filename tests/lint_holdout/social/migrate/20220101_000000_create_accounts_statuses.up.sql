CREATE TABLE public.accounts (
    id bigint PRIMARY KEY,
    username character varying DEFAULT ''::character varying NOT NULL,
    domain character varying,
    display_name character varying DEFAULT ''::character varying NOT NULL,
    note text DEFAULT ''::text NOT NULL,
    suspended boolean DEFAULT false NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE UNIQUE INDEX index_accounts_on_username_and_domain_lower ON public.accounts (lower((username)::text), COALESCE(lower((domain)::text), ''::text));

CREATE TABLE public.statuses (
    id bigint PRIMARY KEY,
    uri character varying,
    text text DEFAULT ''::text NOT NULL,
    account_id bigint NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    in_reply_to_id bigint,
    reblog_of_id bigint,
    visibility integer DEFAULT 0 NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE INDEX index_statuses_20190820 ON public.statuses (account_id, id DESC, visibility, updated_at);
