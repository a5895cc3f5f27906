-- Email changes wait for the new address to confirm (issue 12, checklist item 13): one row per
-- confirmation link mailed, stored hashed like the reset tokens; the change applies when the link
-- is used. A newer request, a password reset or a discard voids the older links.
CREATE TABLE email_change_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL,
    new_email TEXT NOT NULL,
    -- Who asked: the user, or the admin who changed the address for them.
    requested_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    voided_at TIMESTAMP
);
CREATE UNIQUE INDEX email_change_tokens_token_hash_key ON email_change_tokens (token_hash);
CREATE INDEX email_change_tokens_user_idx ON email_change_tokens (user_id);
