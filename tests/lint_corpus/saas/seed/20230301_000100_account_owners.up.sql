-- Fills accounts.owner_id after the migration committed; no DDL lock is held here.
UPDATE public.accounts a
SET owner_id = u.first_user
FROM (SELECT account_id, min(id) AS first_user FROM public.users GROUP BY account_id) u
WHERE u.account_id = a.id AND a.owner_id IS NULL;
