-- e: the newest 20 events that changed a billing field, with all their changes: one index scan
-- per (record type, field) that `billing*` names, merged, as the product plans it.
SELECT e.id, e.occurred_at, e.action, e.record_type, e.record_id, ch.field, ch.before_value, ch.after_value
  FROM (SELECT DISTINCT occurred_at, event_id FROM (
          (SELECT occurred_at, event_id FROM audit_changes WHERE record_type = 'COMPANY' AND field = 'billingRateCents'
            ORDER BY occurred_at DESC, event_id DESC LIMIT 20)
          UNION ALL
          (SELECT occurred_at, event_id FROM audit_changes WHERE record_type = 'COMPANY' AND field = 'billingEmail'
            ORDER BY occurred_at DESC, event_id DESC LIMIT 20)
          UNION ALL
          (SELECT occurred_at, event_id FROM audit_changes WHERE record_type = 'COMPANY' AND field = 'billingPlan'
            ORDER BY occurred_at DESC, event_id DESC LIMIT 20)
          UNION ALL
          (SELECT occurred_at, event_id FROM audit_changes WHERE record_type = 'ORGANIZATION' AND field = 'billingEmail'
            ORDER BY occurred_at DESC, event_id DESC LIMIT 20)) per_field
         ORDER BY occurred_at DESC, event_id DESC LIMIT 20) page
  JOIN audit_events e ON e.id = page.event_id
  JOIN audit_changes ch ON ch.event_id = e.id
 ORDER BY e.occurred_at DESC, e.id DESC, ch.id;
