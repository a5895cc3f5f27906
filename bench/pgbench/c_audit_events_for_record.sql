-- c: the newest 20 events of company 14 with their changes, one join.
SELECT e.id, e.occurred_at, e.action, e.record_type, e.record_id, e.actor_id, e.impersonator_id,
       ch.field, ch.before_value, ch.after_value
  FROM (SELECT id, occurred_at, action, record_type, record_id, actor_id, impersonator_id
          FROM audit_events WHERE record_type = 'COMPANY' AND record_id = 14
         ORDER BY occurred_at DESC, id DESC LIMIT 20) e
  LEFT JOIN audit_changes ch ON ch.event_id = e.id
 ORDER BY e.occurred_at DESC, e.id DESC, ch.id;
