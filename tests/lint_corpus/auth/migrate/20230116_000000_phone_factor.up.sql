-- SMS as a second factor.
ALTER TYPE auth.factor_type ADD VALUE 'phone';
-- expect: SQM409
ALTER TABLE auth.mfa_factors ADD COLUMN IF NOT EXISTS phone text UNIQUE DEFAULT NULL;
ALTER TABLE auth.mfa_challenges ADD COLUMN IF NOT EXISTS otp_code text NULL;
-- The new enum value, used before the transaction that added it commits: fails with 55P04.
-- expect: SQM401, SQM416
CREATE UNIQUE INDEX IF NOT EXISTS unique_phone_factor_per_user ON auth.mfa_factors (user_id, phone)
    WHERE factor_type = 'phone';
