//! Reading the audit trail in tests: a record's History with each event's field changes.

use portal_admin::db::audit::{self, AuditChange, AuditEvent};
use portal_admin::domain::{AuditAction, AuditRecordType};

use super::TestApp;

pub struct Event {
    pub event: AuditEvent,
    pub changes: Vec<AuditChange>,
}

impl Event {
    pub fn action(&self) -> AuditAction {
        self.event.action
    }

    /// `(before, after)` of `field`, panicking when the event did not change it.
    pub fn change(&self, field: &str) -> (Option<&str>, Option<&str>) {
        let change = self
            .changes
            .iter()
            .find(|c| c.field == field)
            .unwrap_or_else(|| panic!("no change to `{field}` in {:?}", self.changes));
        (
            change.before_value.as_deref(),
            change.after_value.as_deref(),
        )
    }

    pub fn fields(&self) -> Vec<&str> {
        self.changes.iter().map(|c| c.field.as_str()).collect()
    }
}

/// The History of a record (events about it or shown on it), newest first.
pub async fn history(app: &TestApp, record_type: AuditRecordType, record_id: i64) -> Vec<Event> {
    let mut conn = app.app.db.conn().await.expect("conn");
    let events = audit::history(&mut conn, record_type, record_id, None, 500)
        .await
        .expect("history");
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let changes = audit::changes_of(&mut conn, &[event.id])
            .await
            .expect("changes");
        out.push(Event { event, changes });
    }
    out
}

/// The newest event of a record's History.
pub async fn latest(app: &TestApp, record_type: AuditRecordType, record_id: i64) -> Event {
    history(app, record_type, record_id)
        .await
        .into_iter()
        .next()
        .expect("an audit event")
}

/// Writes one event through the audited write path, as `actor` (for impersonated events while
/// becomeUser is built elsewhere, and for events at chosen times).
pub async fn write_event(
    app: &TestApp,
    actor: portal_admin::domain::audit::AuditActor,
    entry: portal_admin::domain::audit::AuditEntry,
) -> portal_admin::domain::AuditEventId {
    use scoped_futures::ScopedFutureExt;
    app.app
        .db
        .write(actor, |tx| {
            async move { tx.audit(entry).await }.scope_boxed()
        })
        .await
        .expect("event written")
}

/// The actor of an admin acting as `user` (what an impersonated request writes).
pub fn impersonated(
    user: portal_admin::domain::UserId,
    admin: portal_admin::domain::UserId,
) -> portal_admin::domain::audit::AuditActor {
    portal_admin::domain::audit::AuditActor {
        actor_id: Some(user),
        impersonator_id: Some(admin),
        request_id: Some("req-impersonated".into()),
        client_ip: None,
    }
}

/// The fields the tests read of an `AuditEvent`.
pub const EVENT_FIELDS: &str = "id occurredAt action recordType recordId viaImpersonation reason requestId actor { id name } impersonator { id name } changes { field before after redacted }";
