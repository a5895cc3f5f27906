REVOKE UPDATE (id) ON audit_events, audit_seals FROM CURRENT_USER;
GRANT UPDATE, DELETE, TRUNCATE ON audit_events, audit_changes, audit_event_refs, audit_seals,
    audit_event_digests TO CURRENT_USER;
DROP TABLE email_change_tokens;
