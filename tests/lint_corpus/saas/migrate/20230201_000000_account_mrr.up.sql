-- Lets the reporting role read revenue without SELECT on invoices. The unqualified invoices resolves through the
-- caller's search_path, where a temporary table of the same name comes first.
-- expect: SQM419
CREATE FUNCTION public.account_mrr(account bigint) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    AS $$ SELECT coalesce(sum(amount_cents), 0) FROM invoices WHERE account_id = account AND status = 'paid' $$;
GRANT EXECUTE ON FUNCTION public.account_mrr(bigint) TO PUBLIC;
