-- Phone sign-in.
-- expect: SQM409
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS phone varchar(15) NULL UNIQUE DEFAULT NULL;
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS phone_confirmed_at timestamptz NULL DEFAULT NULL;
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS phone_change varchar(15) NULL DEFAULT '';
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS phone_change_token varchar(255) NULL DEFAULT '';
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS phone_change_sent_at timestamptz NULL DEFAULT NULL;
