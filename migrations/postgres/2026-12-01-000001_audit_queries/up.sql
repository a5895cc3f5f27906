-- The audit log's queries and tamper evidence (issue 6).
--
-- `auditEvents` lists newest first by (occurred_at, id); every filter has an index that yields
-- rows in that order, so a page reads about `first` index entries whatever the table's size.
-- They replace the (x, id) indexes of the init migration, which served no query.
DROP INDEX audit_events_actor_idx;
DROP INDEX audit_events_impersonator_idx;
DROP INDEX audit_events_action_idx;
CREATE INDEX audit_events_actor_time_idx ON audit_events (actor_id, occurred_at, id);
CREATE INDEX audit_events_impersonator_time_idx ON audit_events (impersonator_id, occurred_at, id)
    WHERE impersonator_id IS NOT NULL;
-- viaImpersonation: true without a particular admin.
CREATE INDEX audit_events_impersonated_time_idx ON audit_events (occurred_at, id)
    WHERE impersonator_id IS NOT NULL;
CREATE INDEX audit_events_action_time_idx ON audit_events (action, occurred_at, id);
CREATE INDEX audit_events_type_time_idx ON audit_events (record_type, occurred_at, id);
CREATE INDEX audit_events_record_time_idx ON audit_events (record_type, record_id, occurred_at, id);

-- One row per sealed event: its SHA-256 digest and the seal (batch) it belongs to, so
-- `audit verify` can name the first event that was altered, deleted or inserted.
CREATE TABLE audit_event_digests (
    event_id BIGINT PRIMARY KEY,
    seal_id BIGINT NOT NULL REFERENCES audit_seals (id),
    digest TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_seals_last_event_key ON audit_seals (last_event_id);

CREATE TRIGGER audit_event_digests_append_only BEFORE UPDATE OR DELETE ON audit_event_digests
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER audit_event_digests_no_truncate BEFORE TRUNCATE ON audit_event_digests
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();
