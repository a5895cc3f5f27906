-- e: the newest 20 events that changed a billing field (any record type), with all their changes.
SELECT e.id, e.occurred_at, e.action, e.record_type, e.record_id, ch.field, ch.before_value, ch.after_value
  FROM (SELECT id, occurred_at, action, record_type, record_id FROM audit_events ev
         WHERE EXISTS (SELECT 1 FROM audit_changes c WHERE c.event_id = ev.id AND c.field LIKE 'billing%')
         ORDER BY occurred_at DESC, id DESC LIMIT 20) e
  JOIN audit_changes ch ON ch.event_id = e.id
 ORDER BY e.occurred_at DESC, e.id DESC, ch.id;
