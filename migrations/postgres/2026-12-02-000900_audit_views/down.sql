DROP VIEW audit_log;
DROP VIEW audit_log_events;
