-- Sign-in limits that hold under concurrency (issue 12). Every password check reserves an attempt
-- on its counters with one conditional UPDATE before any hashing; past the free attempts an
-- account backs off exponentially (`blocked_until`) instead of being locked.
ALTER TABLE sign_in_throttles ADD COLUMN blocked_until TIMESTAMP;

-- Bumped by every credential change (password reset or change, 2FA turned off, discard): a
-- sign-in writes its session only while the version it checked the password against is current.
ALTER TABLE users ADD COLUMN credentials_version INTEGER NOT NULL DEFAULT 0;

-- `requestPasswordReset` only records the request; the mail worker looks the address up and
-- mails the link, so known and unknown addresses cost the request the same.
CREATE TABLE password_reset_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    request_id TEXT,
    client_ip TEXT,
    created_at TIMESTAMP NOT NULL,
    processed_at TIMESTAMP
);
CREATE INDEX password_reset_requests_pending_idx ON password_reset_requests (id)
    WHERE processed_at IS NULL;
