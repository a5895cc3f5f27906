DROP INDEX sessions_open_impersonations_idx;
ALTER TABLE sessions DROP COLUMN impersonation_ended_at;
