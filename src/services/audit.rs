//! Reading the audit trail: a record's History, the admins' audit log, the chain head.
//!
//! - History (`history(first, after)` on every audited record) is visible to whoever may see
//!   the record: resolvers offer it only on records already loaded for the viewer. Newest first
//!   by event id (keyset cursor: the id). It holds the record's own events and those written to
//!   show on it (a company's membership changes; a user's memberships and security events).
//!   Non-admins do not see events that also show on a company outside theirs, so a user's
//!   History does not reveal their memberships elsewhere.
//! - The audit log (`auditEvents(filter, first, after)`) is for admins only: FORBIDDEN for
//!   others, FORBIDDEN_WHILE_IMPERSONATING while impersonating (the log shows every company).
//!   Newest first by (occurredAt, id), each filter served by an index (see `db::audit`).
//! - The chain head (`auditChainHead`) is admin-only too; see `db::audit::seal`.

use chrono::NaiveDateTime;

use crate::app::AppState;
use crate::db::audit::seal::{self, Seal};
use crate::db::audit::{self, AuditChange, AuditEvent, EventFilter, EventKey, PageEvent};
use crate::domain::audit::{FieldPattern, RecordRef};
use crate::domain::viewer::Viewer;
use crate::domain::{AuditAction, AuditEventId, AuditRecordType, UserId};
use crate::error::{AppError, AppResult};

/// A person named in an event (actor or impersonator): id and name only, whoever reads it.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub name: String,
}

/// An event as the API shows it.
#[derive(Debug, Clone)]
pub struct EventView {
    pub event: AuditEvent,
    pub changes: Vec<AuditChange>,
    pub actor: Option<Person>,
    pub impersonator: Option<Person>,
}

/// What a client may filter `auditEvents` by (ids already parsed).
#[derive(Debug, Clone, Default)]
pub struct AuditEventQuery {
    pub record_type: Option<AuditRecordType>,
    pub record_id: Option<i64>,
    pub actor_id: Option<UserId>,
    pub impersonator_id: Option<UserId>,
    pub via_impersonation: Option<bool>,
    pub field: Option<String>,
    pub action: Option<AuditAction>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// Checks a client's filter and turns it into the database's. A field pattern names fields of
/// [`crate::domain::audit::AUDITED_FIELDS`]; one that names none of any type is a typo
/// (BAD_USER_INPUT), one that names none of the chosen record type matches nothing.
pub fn event_filter(query: AuditEventQuery) -> AppResult<EventFilter> {
    if query.record_id.is_some() && query.record_type.is_none() {
        return Err(AppError::bad_input(
            "recordId",
            "Give `recordType` with `recordId`: ids are per record type.",
        ));
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(AppError::bad_input("to", "`to` must be after `from`."));
    }
    let fields = match query.field.as_deref() {
        None => None,
        Some(raw) => {
            let pattern = FieldPattern::parse(raw);
            if matches!(&pattern, FieldPattern::Exact(f) | FieldPattern::Prefix(f) if f.is_empty())
            {
                return Err(AppError::bad_input(
                    "field",
                    "Name a field (`billingRateCents`) or a prefix (`billing*`).",
                ));
            }
            if pattern.expand(None).is_empty() {
                return Err(AppError::bad_input(
                    "field",
                    format!("No audited field matches `{}`.", raw.trim()),
                ));
            }
            Some(pattern.expand(query.record_type))
        }
    };
    Ok(EventFilter {
        record_type: query.record_type,
        record_id: query.record_id,
        actor_id: query.actor_id,
        impersonator_id: query.impersonator_id,
        via_impersonation: query.via_impersonation,
        fields,
        action: query.action,
        from: query.from,
        to: query.to,
    })
}

/// A page of a record's History (the caller has loaded `record` for `viewer`, so may see it).
/// `with_total`: also count the whole History.
pub async fn history(
    app: &AppState,
    viewer: &Viewer,
    record: RecordRef,
    before: Option<AuditEventId>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<EventView>, i64)> {
    let scope = super::access::company_scope(viewer);
    let mut conn = app.db.conn().await?;
    let events = audit::history_page(
        &mut conn,
        scope,
        record.record_type,
        record.record_id,
        before,
        limit,
    )
    .await?;
    let total = if with_total {
        audit::history_count(&mut conn, scope, record.record_type, record.record_id).await?
    } else {
        0
    };
    Ok((views(events), total))
}

/// A page of the audit log. Admins only.
pub async fn events(
    app: &AppState,
    viewer: &Viewer,
    filter: &EventFilter,
    after: Option<EventKey>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<EventView>, i64)> {
    viewer.require_admin()?;
    let mut conn = app.db.conn().await?;
    let events = audit::events_page(&mut conn, filter, after, limit).await?;
    log_read(viewer, "auditEvents", &format!("{filter:?}"), events.len());
    let total = if with_total {
        audit::events_count(&mut conn, filter).await?
    } else {
        0
    };
    Ok((views(events), total))
}

/// The newest seal: what an admin records elsewhere to detect a rewritten chain. Admins only.
pub async fn chain_head(app: &AppState, viewer: &Viewer) -> AppResult<Option<Seal>> {
    viewer.require_admin()?;
    let mut conn = app.db.conn().await?;
    let head = seal::head(&mut conn).await?;
    log_read(viewer, "auditChainHead", "", usize::from(head.is_some()));
    Ok(head)
}

/// Reads of the audit log are logged (checklist item 36: "log reads of the log"), as one
/// structured `info` line under target `portal_admin::audit_read`, in the request's span (so
/// with its request id): who read, what, with which filter, how many events. In the log, not the
/// trail, like authorization refusals: a read changes nothing, and the console pages through
/// the log constantly. `portal-admin audit export` logs the same way.
pub fn log_read(viewer: &Viewer, what: &str, filter: &str, events: usize) {
    tracing::info!(
        target: "portal_admin::audit_read",
        viewer_id = %viewer.user_id,
        impersonator_id = viewer.impersonator_id().map(|id| id.to_string()),
        what,
        filter,
        events,
        "audit log read"
    );
}

/// A read of the log from the command line (`audit export`, `audit query`), logged like
/// [`log_read`] with the operating-system user instead of a viewer.
pub fn log_cli_read(what: &str, filter: &str, events: u64) {
    tracing::info!(
        target: "portal_admin::audit_read",
        os_user = std::env::var("USER").ok(),
        what,
        filter,
        events,
        "audit log read"
    );
}

/// The page's events as the API shows them (changes and names came with the page).
fn views(events: Vec<PageEvent>) -> Vec<EventView> {
    events
        .into_iter()
        .map(|page| {
            let person = |id: Option<UserId>, name: Option<String>| {
                id.map(|id| Person {
                    id,
                    name: name.unwrap_or_default(),
                })
            };
            EventView {
                actor: person(page.event.actor_id, page.actor_name),
                impersonator: person(page.event.impersonator_id, page.impersonator_name),
                changes: page.changes,
                event: page.event,
            }
        })
        .collect()
}
