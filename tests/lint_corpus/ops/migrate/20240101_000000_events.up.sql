CREATE TABLE public.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_occurred_at_idx ON public.events (occurred_at);
