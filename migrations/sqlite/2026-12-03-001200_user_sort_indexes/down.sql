DROP INDEX users_last_sign_in_at_id_idx;
DROP INDEX users_created_at_id_idx;
