//! Audit rows: written only through `WriteTx::audit`, never updated or deleted (the database
//! refuses both, see the migrations' triggers).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{audit_changes, audit_event_refs, audit_events};
use super::{DbConn, dispatch};
use crate::domain::audit::{AuditActor, AuditEntry};
use crate::domain::{AuditAction, AuditEventId, AuditRecordType, UserId};
use crate::error::AppResult;

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditEvent<'a> {
    occurred_at: NaiveDateTime,
    action: AuditAction,
    record_type: AuditRecordType,
    record_id: i64,
    actor_id: Option<UserId>,
    impersonator_id: Option<UserId>,
    request_id: Option<&'a str>,
    client_ip: Option<&'a str>,
    reason: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_changes)]
#[diesel(treat_none_as_default_value = false)]
struct NewAuditChange<'a> {
    event_id: AuditEventId,
    record_type: AuditRecordType,
    field: &'a str,
    before_value: Option<String>,
    after_value: Option<String>,
    redacted: bool,
    occurred_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = audit_event_refs)]
struct NewAuditRef {
    event_id: AuditEventId,
    record_type: AuditRecordType,
    record_id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub occurred_at: NaiveDateTime,
    pub action: AuditAction,
    pub record_type: AuditRecordType,
    pub record_id: i64,
    pub actor_id: Option<UserId>,
    pub impersonator_id: Option<UserId>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_changes)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditChange {
    pub event_id: AuditEventId,
    pub field: String,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
    pub redacted: bool,
}

/// Inserts rows in one multi-row INSERT on PostgreSQL; SQLite's async wrapper has no batch
/// insert for rows with nullable columns, so there it is one INSERT per row (same transaction).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConn::Postgres(c) => {
                if !$rows.is_empty() {
                    diesel::insert_into($table)
                        .values(&$rows)
                        .execute(&mut **c)
                        .await?;
                }
            }
            DbConn::Sqlite(c) => {
                for row in &$rows {
                    diesel::insert_into($table)
                        .values(row)
                        .execute(&mut **c)
                        .await?;
                }
            }
        }
    };
}

pub(super) async fn insert_event(
    conn: &mut DbConn,
    actor: &AuditActor,
    now: NaiveDateTime,
    entry: &AuditEntry,
) -> AppResult<AuditEventId> {
    let event = NewAuditEvent {
        occurred_at: now,
        action: entry.action,
        record_type: entry.record.record_type,
        record_id: entry.record.record_id,
        actor_id: actor.actor_id,
        impersonator_id: actor.impersonator_id,
        request_id: actor.request_id.as_deref(),
        client_ip: actor.client_ip.as_deref(),
        reason: entry.reason.as_deref(),
    };
    let event_id: AuditEventId = dispatch!(conn, |c| {
        diesel::insert_into(audit_events::table)
            .values(&event)
            .returning(audit_events::id)
            .get_result(c)
            .await
    })?;

    let changes: Vec<NewAuditChange<'_>> = entry
        .changes
        .iter()
        .map(|change| NewAuditChange {
            event_id,
            record_type: entry.record.record_type,
            field: change.field,
            before_value: change.before.stored(),
            after_value: change.after.stored(),
            redacted: change.before.is_secret() || change.after.is_secret(),
            occurred_at: now,
        })
        .collect();
    insert_all!(conn, audit_changes::table, changes);

    let mut refs = vec![NewAuditRef {
        event_id,
        record_type: entry.record.record_type,
        record_id: entry.record.record_id,
    }];
    for other in &entry.also_on {
        if !refs
            .iter()
            .any(|r| r.record_type == other.record_type && r.record_id == other.record_id)
        {
            refs.push(NewAuditRef {
                event_id,
                record_type: other.record_type,
                record_id: other.record_id,
            });
        }
    }
    insert_all!(conn, audit_event_refs::table, refs);
    Ok(event_id)
}

/// How many audit events exist (tests check that a refused mutation wrote none).
pub async fn count_events(conn: &mut DbConn) -> AppResult<i64> {
    let count = dispatch!(conn, |c| audit_events::table.count().get_result(c).await)?;
    Ok(count)
}

/// The changes of the given events, in write order.
pub async fn changes_of(
    conn: &mut DbConn,
    event_ids: &[AuditEventId],
) -> AppResult<Vec<AuditChange>> {
    let rows = dispatch!(conn, |c| {
        audit_changes::table
            .filter(audit_changes::event_id.eq_any(event_ids))
            .order(audit_changes::id.asc())
            .select(AuditChange::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// A record's History: events about it or showing on it, newest first, `limit` of them before
/// the keyset cursor `before` (an event id).
pub async fn history(
    conn: &mut DbConn,
    record_type: AuditRecordType,
    record_id: i64,
    before: Option<AuditEventId>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let before = before.unwrap_or(AuditEventId(i64::MAX));
    let rows = dispatch!(conn, |c| {
        audit_event_refs::table
            .inner_join(audit_events::table)
            .filter(audit_event_refs::record_type.eq(record_type))
            .filter(audit_event_refs::record_id.eq(record_id))
            .filter(audit_event_refs::event_id.lt(before))
            .order(audit_event_refs::event_id.desc())
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}
