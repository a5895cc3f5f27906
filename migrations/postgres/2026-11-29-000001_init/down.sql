DROP TABLE audit_seals, audit_event_refs, audit_changes, audit_events, mail_outbox, sign_in_throttles,
    recovery_codes, password_reset_tokens, invitations, sessions, playbook_versions, playbooks,
    call_recordings, inbound_numbers, team_memberships, company_memberships, teams, companies,
    organizations, users;
DROP FUNCTION reject_append_only_change();
