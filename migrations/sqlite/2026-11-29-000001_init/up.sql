-- portal-admin: the whole data model, SQLite dialect.
-- The PostgreSQL twin lives in migrations/postgres; both map onto the one src/db/schema.rs.
-- Timestamps are UTC without zone (`timestamp`), identical in both backends.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'SUPERVISOR', 'CUSTOMER')),
    password_hash TEXT,
    totp_secret_encrypted TEXT,
    totp_pending_secret_encrypted TEXT,
    two_factor_enabled_at TIMESTAMP,
    totp_last_used_step BIGINT,
    failed_sign_in_count INTEGER NOT NULL DEFAULT 0,
    last_failed_sign_in_at TIMESTAMP,
    last_sign_in_at TIMESTAMP,
    invitation_sent_at TIMESTAMP,
    activated_at TIMESTAMP,
    discarded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_role_idx ON users (role);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    billing_email TEXT,
    status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE companies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id BIGINT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    billing_email TEXT,
    billing_rate_cents BIGINT NOT NULL DEFAULT 0 CHECK (billing_rate_cents >= 0),
    billing_plan TEXT NOT NULL DEFAULT 'STANDARD',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ARCHIVED')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX companies_organization_idx ON companies (organization_id);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id),
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX teams_company_name_key ON teams (company_id, lower(name));

CREATE TABLE company_memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    company_id BIGINT NOT NULL REFERENCES companies (id),
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'SUPERVISOR', 'CUSTOMER')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX company_memberships_user_company_key ON company_memberships (user_id, company_id);
CREATE INDEX company_memberships_company_idx ON company_memberships (company_id, user_id);

CREATE TABLE team_memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    team_id BIGINT NOT NULL REFERENCES teams (id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX team_memberships_user_team_key ON team_memberships (user_id, team_id);
CREATE INDEX team_memberships_team_idx ON team_memberships (team_id, user_id);

CREATE TABLE inbound_numbers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id),
    number TEXT NOT NULL CHECK (number GLOB '+[1-9]*' AND length(number) BETWEEN 3 AND 16 AND substr(number, 2) NOT GLOB '*[^0-9]*'),
    label TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT 1,
    deactivated_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
-- A number routes to one company at a time; a deactivated number may be reused.
CREATE UNIQUE INDEX inbound_numbers_active_number_key ON inbound_numbers (number) WHERE active;
CREATE INDEX inbound_numbers_company_idx ON inbound_numbers (company_id);

CREATE TABLE call_recordings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id),
    inbound_number_id BIGINT REFERENCES inbound_numbers (id),
    caller_number TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds >= 0),
    storage_key TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    disposition TEXT,
    flagged BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX call_recordings_company_started_idx ON call_recordings (company_id, started_at DESC, id DESC);

CREATE TABLE playbooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id),
    current_version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX playbooks_company_idx ON playbooks (company_id);

-- Immutable: every save of a playbook is a new row here (append-only, see the triggers below).
CREATE TABLE playbook_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    playbook_id BIGINT NOT NULL REFERENCES playbooks (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    author_id BIGINT REFERENCES users (id),
    impersonator_id BIGINT REFERENCES users (id),
    restored_from_version INTEGER,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX playbook_versions_playbook_version_key ON playbook_versions (playbook_id, version);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    -- Set on an impersonation session: the admin behind it and the admin's own session it hangs off.
    impersonator_id BIGINT REFERENCES users (id),
    parent_session_id BIGINT REFERENCES sessions (id),
    impersonation_reason TEXT,
    client_ip TEXT,
    user_agent TEXT
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_impersonator_idx ON sessions (impersonator_id) WHERE impersonator_id IS NOT NULL;
CREATE INDEX sessions_parent_idx ON sessions (parent_session_id) WHERE parent_session_id IS NOT NULL;

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL,
    invited_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    voided_at TIMESTAMP
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE INDEX invitations_user_idx ON invitations (user_id);

CREATE TABLE password_reset_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    voided_at TIMESTAMP
);
CREATE UNIQUE INDEX password_reset_tokens_token_hash_key ON password_reset_tokens (token_hash);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- Failed sign-in counters per account ("account:<email>") and per client ("ip:<addr>"),
-- kept in the database so the limit holds across server instances.
CREATE TABLE sign_in_throttles (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    template TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;

-- The audit trail: one event per changed record, one row per changed field.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    record_type TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    actor_id BIGINT,
    impersonator_id BIGINT,
    request_id TEXT,
    client_ip TEXT,
    reason TEXT,
    -- The writing transaction id on PostgreSQL; always NULL here (SQLite commits one writer at a time).
    txid BIGINT
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_impersonator_idx ON audit_events (impersonator_id, id) WHERE impersonator_id IS NOT NULL;
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

CREATE TABLE audit_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES audit_events (id),
    record_type TEXT NOT NULL,
    field TEXT NOT NULL,
    before_value TEXT,
    after_value TEXT,
    redacted BOOLEAN NOT NULL DEFAULT 0,
    occurred_at TIMESTAMP NOT NULL
);
-- "every change to field X of type Y in a time range"
CREATE INDEX audit_changes_type_field_time_idx ON audit_changes (record_type, field, occurred_at, event_id);
CREATE INDEX audit_changes_event_idx ON audit_changes (event_id);

-- Which records an event belongs to: its own record, plus the records whose History shows it
-- (a membership change shows on the company and on the user).
CREATE TABLE audit_event_refs (
    event_id BIGINT NOT NULL REFERENCES audit_events (id),
    record_type TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (record_type, record_id, event_id)
);

-- Hash-chained batches of sealed audit events (tamper evidence).
CREATE TABLE audit_seals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_event_id BIGINT NOT NULL,
    last_event_id BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    sealed_at TIMESTAMP NOT NULL
);

-- Append-only: the database itself refuses to rewrite history.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'table audit_events is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'table audit_events is append-only: DELETE refused');
END;
CREATE TRIGGER audit_changes_no_update BEFORE UPDATE ON audit_changes
BEGIN
    SELECT RAISE(ABORT, 'table audit_changes is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_changes_no_delete BEFORE DELETE ON audit_changes
BEGIN
    SELECT RAISE(ABORT, 'table audit_changes is append-only: DELETE refused');
END;
CREATE TRIGGER audit_event_refs_no_update BEFORE UPDATE ON audit_event_refs
BEGIN
    SELECT RAISE(ABORT, 'table audit_event_refs is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_event_refs_no_delete BEFORE DELETE ON audit_event_refs
BEGIN
    SELECT RAISE(ABORT, 'table audit_event_refs is append-only: DELETE refused');
END;
CREATE TRIGGER audit_seals_no_update BEFORE UPDATE ON audit_seals
BEGIN
    SELECT RAISE(ABORT, 'table audit_seals is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals
BEGIN
    SELECT RAISE(ABORT, 'table audit_seals is append-only: DELETE refused');
END;
CREATE TRIGGER playbook_versions_no_update BEFORE UPDATE ON playbook_versions
BEGIN
    SELECT RAISE(ABORT, 'table playbook_versions is append-only: UPDATE refused');
END;
CREATE TRIGGER playbook_versions_no_delete BEFORE DELETE ON playbook_versions
BEGIN
    SELECT RAISE(ABORT, 'table playbook_versions is append-only: DELETE refused');
END;
