-- The columns exist only for the code this rollback removes.
ALTER TABLE auth.users
    DROP COLUMN IF EXISTS phone_change_sent_at,
    DROP COLUMN IF EXISTS phone_change_token,
    DROP COLUMN IF EXISTS phone_change,
    DROP COLUMN IF EXISTS phone_confirmed_at,
    DROP COLUMN IF EXISTS phone;
