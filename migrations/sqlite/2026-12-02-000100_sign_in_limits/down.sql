DROP TABLE password_reset_requests;
ALTER TABLE users DROP COLUMN credentials_version;
ALTER TABLE sign_in_throttles DROP COLUMN blocked_until;
