-- w, lean: one transaction with one UPDATE that bumps the version, and the audit event, its change
-- and its ref (three INSERTs), as issue 11 point 3 describes the goal.
\set id random(1, 500)
\set v random(1000, 1000000)
BEGIN;
UPDATE companies SET billing_rate_cents = :v, version = version + 1, updated_at = localtimestamp
 WHERE id = :id RETURNING billing_rate_cents, version;
INSERT INTO audit_events (occurred_at, action, record_type, record_id, actor_id, request_id, client_ip, txid)
  VALUES (localtimestamp, 'UPDATE', 'COMPANY', :id, {{admin_id}}, 'pgbench', '127.0.0.1', pg_current_xact_id()::text::bigint) RETURNING id;
INSERT INTO audit_changes (event_id, record_type, field, before_value, after_value, redacted, occurred_at)
  VALUES (currval(pg_get_serial_sequence('audit_events', 'id')), 'COMPANY', 'billingRateCents', '1000', :v, false, localtimestamp);
INSERT INTO audit_event_refs (event_id, record_type, record_id)
  VALUES (currval(pg_get_serial_sequence('audit_events', 'id')), 'COMPANY', :id);
COMMIT;
