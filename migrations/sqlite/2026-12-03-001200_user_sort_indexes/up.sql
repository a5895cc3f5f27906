-- The users list's sort orders (issue 14): each is read from an index in order, keyset-paged
-- (src/db/models/users.rs `page`). Name uses users_lower_name_id_idx and email the unique
-- users_email_lower_key; these two serve created and last sign-in (never signed in: the
-- IS NULL range of the same index).
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
CREATE INDEX users_last_sign_in_at_id_idx ON users (last_sign_in_at, id);
