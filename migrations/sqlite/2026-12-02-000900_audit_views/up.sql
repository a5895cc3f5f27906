-- The engineers' way into the audit trail (see README "Querying the audit trail"): read-only
-- views with names joined in. Filters on them reach the same indexes as `auditEvents`
-- (the planner inlines the views). Labels are the records' current names (NULL once deleted).
CREATE VIEW audit_log_events AS
SELECT
    e.id AS event_id,
    e.occurred_at,
    e.action,
    e.record_type,
    e.record_id,
    CASE e.record_type
        WHEN 'USER' THEN (SELECT u.name FROM users u WHERE u.id = e.record_id)
        WHEN 'ORGANIZATION' THEN (SELECT o.name FROM organizations o WHERE o.id = e.record_id)
        WHEN 'COMPANY' THEN (SELECT c.name FROM companies c WHERE c.id = e.record_id)
        WHEN 'TEAM' THEN (SELECT t.name FROM teams t WHERE t.id = e.record_id)
        WHEN 'INBOUND_NUMBER' THEN (SELECT n.number FROM inbound_numbers n WHERE n.id = e.record_id)
        WHEN 'CALL_RECORDING' THEN (SELECT r.caller_number FROM call_recordings r WHERE r.id = e.record_id)
        WHEN 'PLAYBOOK' THEN (
            SELECT v.title FROM playbooks p
            JOIN playbook_versions v ON v.playbook_id = p.id AND v.version = p.current_version
            WHERE p.id = e.record_id)
        WHEN 'COMPANY_MEMBERSHIP' THEN (
            SELECT u.name || ' in ' || c.name FROM company_memberships m
            JOIN users u ON u.id = m.user_id JOIN companies c ON c.id = m.company_id
            WHERE m.id = e.record_id)
        WHEN 'TEAM_MEMBERSHIP' THEN (
            SELECT u.name || ' in ' || t.name FROM team_memberships m
            JOIN users u ON u.id = m.user_id JOIN teams t ON t.id = m.team_id
            WHERE m.id = e.record_id)
    END AS record_label,
    e.actor_id,
    actor.name AS actor_name,
    e.impersonator_id,
    impersonator.name AS impersonator_name,
    (e.impersonator_id IS NOT NULL) AS via_impersonation,
    e.reason,
    e.request_id
FROM audit_events e
LEFT JOIN users actor ON actor.id = e.actor_id
LEFT JOIN users impersonator ON impersonator.id = e.impersonator_id;

-- One row per field change; "before"/"after" are NULL for redacted (secret) fields.
-- record_type and occurred_at come from audit_changes (the event's own values, copied there) so
-- that a filter on (record_type, field, occurred_at) reaches audit_changes_type_field_time_idx,
-- the index `auditEvents(field: …)` uses.
CREATE VIEW audit_log AS
SELECT
    ev.event_id,
    ch.occurred_at,
    ev.action,
    ch.record_type,
    ev.record_id,
    ev.record_label,
    ch.field,
    ch.before_value AS "before",
    ch.after_value AS "after",
    ch.redacted,
    ev.actor_id,
    ev.actor_name,
    ev.impersonator_id,
    ev.impersonator_name,
    ev.via_impersonation,
    ev.reason,
    ev.request_id
FROM audit_changes ch
JOIN audit_log_events ev ON ev.event_id = ch.event_id;
