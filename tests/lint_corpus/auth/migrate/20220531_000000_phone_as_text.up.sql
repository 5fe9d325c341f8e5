-- E.164 numbers with extensions do not fit in 15 characters. varchar to text is binary compatible: no rewrite,
-- and the unique index on phone is kept as it is.
ALTER TABLE auth.users ALTER COLUMN phone TYPE text;
ALTER TABLE auth.users ALTER COLUMN phone_change TYPE text;
-- varchar(255) to varchar(320) (the longest e-mail address) only widens the limit.
ALTER TABLE auth.users ALTER COLUMN email TYPE varchar(320);
