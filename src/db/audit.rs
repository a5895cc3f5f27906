//! Audit rows: written only through `WriteTx::audit`, never updated or deleted (the database
//! refuses both, see the migrations' triggers).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::CompanyScope;
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
    pub id: i64,
    pub event_id: AuditEventId,
    pub record_type: AuditRecordType,
    pub field: String,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
    pub redacted: bool,
    pub occurred_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_event_refs)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditRef {
    pub event_id: AuditEventId,
    pub record_type: AuditRecordType,
    pub record_id: i64,
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
        .inspect(|change| {
            debug_assert!(
                crate::domain::audit::fields_of(entry.record.record_type).contains(&change.field),
                "audit field {}.{} is not in AUDITED_FIELDS",
                entry.record.record_type,
                change.field
            )
        })
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
/// the keyset cursor `before` (an event id). Served by the primary key of `audit_event_refs`
/// (record_type, record_id, event_id), read backwards.
pub async fn history(
    conn: &mut DbConn,
    record_type: AuditRecordType,
    record_id: i64,
    before: Option<AuditEventId>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    history_page(
        conn,
        CompanyScope::All,
        record_type,
        record_id,
        before,
        limit,
    )
    .await
}

/// The History visibility rule, written once for [`history_page`] and [`history_count`]: the
/// refs of record (`$record_type`, `$record_id`) over `$from`; with `CompanyScope::Only`, minus
/// events that also show on a company outside those (a user's History then does not reveal
/// their memberships elsewhere). Binds the filtered query to `$q` and the connection to `$c`
/// inside each backend's arm and evaluates `$finish`.
macro_rules! visible_history {
    ($conn:expr, $scope:expr, $from:expr, $record_type:expr, $record_id:expr, |$q:ident, $c:ident| $finish:expr) => {{
        let other = diesel::alias!(audit_event_refs as other_refs);
        match $scope {
            CompanyScope::All => dispatch!($conn, |$c| {
                let $q = $from
                    .filter(audit_event_refs::record_type.eq($record_type))
                    .filter(audit_event_refs::record_id.eq($record_id));
                $finish
            }),
            CompanyScope::Only(companies) => dispatch!($conn, |$c| {
                let $q = $from
                    .left_join(
                        other.on(other
                            .field(audit_event_refs::event_id)
                            .eq(audit_event_refs::event_id)
                            .and(
                                other
                                    .field(audit_event_refs::record_type)
                                    .eq(AuditRecordType::Company),
                            )
                            .and(other.field(audit_event_refs::record_id).ne_all(companies))),
                    )
                    .filter(other.field(audit_event_refs::event_id).is_null())
                    .filter(audit_event_refs::record_type.eq($record_type))
                    .filter(audit_event_refs::record_id.eq($record_id));
                $finish
            }),
        }
    }};
}

/// The events of a History as `scope` may see it (see [`visible_history`]), newest first.
pub async fn history_page(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    record_type: AuditRecordType,
    record_id: i64,
    before: Option<AuditEventId>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let before = before.unwrap_or(AuditEventId(i64::MAX));
    let rows = visible_history!(
        conn,
        scope,
        audit_event_refs::table.inner_join(audit_events::table),
        record_type,
        record_id,
        |q, c| {
            q.filter(audit_event_refs::event_id.lt(before))
                .order(audit_event_refs::event_id.desc())
                .limit(limit)
                .select(AuditEvent::as_select())
                .load(c)
                .await
        }
    )?;
    Ok(rows)
}

/// How many events a History shows to `scope` (the same rule as [`history_page`]).
pub async fn history_count(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    record_type: AuditRecordType,
    record_id: i64,
) -> AppResult<i64> {
    let count = visible_history!(
        conn,
        scope,
        audit_event_refs::table,
        record_type,
        record_id,
        |q, c| q.count().get_result(c).await
    )?;
    Ok(count)
}

/// What `auditEvents` filters by; `None` parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub record_type: Option<AuditRecordType>,
    pub record_id: Option<i64>,
    pub actor_id: Option<UserId>,
    pub impersonator_id: Option<UserId>,
    pub via_impersonation: Option<bool>,
    /// Events with a change to one of these `(record type, field)` pairs; an empty list
    /// matches nothing.
    pub fields: Option<Vec<(AuditRecordType, &'static str)>>,
    pub action: Option<AuditAction>,
    /// Inclusive.
    pub from: Option<NaiveDateTime>,
    /// Exclusive.
    pub to: Option<NaiveDateTime>,
}

/// The keyset position in `auditEvents`' order (newest first by `occurred_at`, then `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    pub occurred_at: NaiveDateTime,
    pub id: AuditEventId,
}

impl AuditEvent {
    pub fn key(&self) -> EventKey {
        EventKey {
            occurred_at: self.occurred_at,
            id: self.id,
        }
    }
}

/// Applies the event-column filters of an [`EventFilter`] to a boxed query over
/// `audit_events` (alone or joined).
macro_rules! filter_events {
    ($query:expr, $filter:expr) => {{
        let filter: &EventFilter = $filter;
        let mut query = $query;
        if let Some(record_type) = filter.record_type {
            query = query.filter(audit_events::record_type.eq(record_type));
        }
        if let Some(record_id) = filter.record_id {
            query = query.filter(audit_events::record_id.eq(record_id));
        }
        if let Some(actor_id) = filter.actor_id {
            query = query.filter(audit_events::actor_id.eq(actor_id));
        }
        if let Some(impersonator_id) = filter.impersonator_id {
            query = query.filter(audit_events::impersonator_id.eq(impersonator_id));
        }
        match filter.via_impersonation {
            Some(true) => query = query.filter(audit_events::impersonator_id.is_not_null()),
            Some(false) => query = query.filter(audit_events::impersonator_id.is_null()),
            None => {}
        }
        if let Some(action) = filter.action {
            query = query.filter(audit_events::action.eq(action));
        }
        query
    }};
}

/// The time range and keyset conditions on `$at`/`$id` (the ordering columns). The keyset is
/// written `at <= t AND (at < t OR id < i)` so the first half bounds the index range.
macro_rules! filter_window {
    ($query:expr, $filter:expr, $after:expr, $at:expr, $id:expr) => {{
        let mut query = $query;
        if let Some(from) = $filter.from {
            query = query.filter($at.ge(from));
        }
        if let Some(to) = $filter.to {
            query = query.filter($at.lt(to));
        }
        if let Some(after) = $after {
            let after: EventKey = after;
            query = query.filter(
                $at.le(after.occurred_at)
                    .and($at.lt(after.occurred_at).or($id.lt(after.id))),
            );
        }
        query
    }};
}

/// One page of `auditEvents`: up to `limit` events after `after`, newest first.
///
/// Without a field filter this is one query on `audit_events`, which the planner serves from
/// the `(filter column, occurred_at, id)` index of a filter (or `(occurred_at, id)`), read
/// backwards and stopped after `limit` rows. With a field filter it is one such query per
/// `(record type, field)` pair on `audit_changes (record_type, field, occurred_at, event_id)`,
/// joined to its event for the other filters, each stopped after `limit` rows; the pages are
/// merged here. Either way a page costs about `limit` index entries per pair, whatever the size
/// of the table.
pub async fn events_page(
    conn: &mut DbConn,
    filter: &EventFilter,
    after: Option<EventKey>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let Some(pairs) = &filter.fields else {
        let rows = dispatch!(conn, |c| {
            let query = filter_events!(audit_events::table.into_boxed(), filter);
            filter_window!(
                query,
                filter,
                after,
                audit_events::occurred_at,
                audit_events::id
            )
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(c)
            .await
        })?;
        return Ok(rows);
    };
    let mut keys: Vec<(NaiveDateTime, AuditEventId)> = Vec::new();
    for (record_type, field) in pairs {
        let found: Vec<(NaiveDateTime, AuditEventId)> = dispatch!(conn, |c| {
            let query = audit_changes::table
                .inner_join(audit_events::table)
                .filter(audit_changes::record_type.eq(*record_type))
                .filter(audit_changes::field.eq(*field))
                .into_boxed();
            let query = filter_events!(query, filter);
            filter_window!(
                query,
                filter,
                after,
                audit_changes::occurred_at,
                audit_changes::event_id
            )
            .order((
                audit_changes::occurred_at.desc(),
                audit_changes::event_id.desc(),
            ))
            .limit(limit)
            .select((audit_changes::occurred_at, audit_changes::event_id))
            .load(c)
            .await
        })?;
        keys.extend(found);
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.dedup();
    keys.truncate(usize::try_from(limit).unwrap_or(0));
    let ids: Vec<AuditEventId> = keys.iter().map(|(_, id)| *id).collect();
    let mut events = events_by_ids(conn, &ids).await?;
    events.sort_unstable_by_key(|e| std::cmp::Reverse(e.key()));
    Ok(events)
}

/// How many events match `filter` (reads every match: asked for only when a client selects
/// `totalCount`).
pub async fn events_count(conn: &mut DbConn, filter: &EventFilter) -> AppResult<i64> {
    let Some(pairs) = &filter.fields else {
        let count = dispatch!(conn, |c| {
            let query = filter_events!(audit_events::table.into_boxed(), filter);
            filter_window!(
                query,
                filter,
                None::<EventKey>,
                audit_events::occurred_at,
                audit_events::id
            )
            .count()
            .get_result::<i64>(c)
            .await
        })?;
        return Ok(count);
    };
    // A change's record type is its event's, so events of different types never overlap.
    let mut total = 0;
    for record_type in AuditRecordType::ALL {
        let fields: Vec<&str> = pairs
            .iter()
            .filter(|(t, _)| t == record_type)
            .map(|(_, f)| *f)
            .collect();
        if fields.is_empty() {
            continue;
        }
        let count: i64 = dispatch!(conn, |c| {
            let query = audit_changes::table
                .inner_join(audit_events::table)
                .filter(audit_changes::record_type.eq(*record_type))
                .filter(audit_changes::field.eq_any(&fields))
                .into_boxed();
            let query = filter_events!(query, filter);
            filter_window!(
                query,
                filter,
                None::<EventKey>,
                audit_changes::occurred_at,
                audit_changes::event_id
            )
            .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "COUNT(DISTINCT audit_changes.event_id)",
            ))
            .get_result(c)
            .await
        })?;
        total += count;
    }
    Ok(total)
}

pub async fn events_by_ids(conn: &mut DbConn, ids: &[AuditEventId]) -> AppResult<Vec<AuditEvent>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = dispatch!(conn, |c| {
        audit_events::table
            .filter(audit_events::id.eq_any(ids))
            .select(AuditEvent::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// The records each of the given events shows on, ordered.
pub async fn refs_of(conn: &mut DbConn, event_ids: &[AuditEventId]) -> AppResult<Vec<AuditRef>> {
    let mut rows = dispatch!(conn, |c| {
        audit_event_refs::table
            .filter(audit_event_refs::event_id.eq_any(event_ids))
            .select(AuditRef::as_select())
            .load(c)
            .await
    })?;
    rows.sort_by(|a, b| {
        (a.event_id, a.record_type.as_str(), a.record_id).cmp(&(
            b.event_id,
            b.record_type.as_str(),
            b.record_id,
        ))
    });
    Ok(rows)
}

/// Up to `limit` events with `id > after`, in id order (the sealer's and verifier's walk).
pub async fn events_after_id(
    conn: &mut DbConn,
    after: AuditEventId,
    up_to: AuditEventId,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let rows = dispatch!(conn, |c| {
        audit_events::table
            .filter(audit_events::id.gt(after))
            .filter(audit_events::id.le(up_to))
            .order(audit_events::id.asc())
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Up to `limit` events in `[since, until)` after the keyset `after`, oldest first (export).
pub async fn events_in_window(
    conn: &mut DbConn,
    since: NaiveDateTime,
    until: Option<NaiveDateTime>,
    after: Option<EventKey>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let rows = dispatch!(conn, |c| {
        let mut query = audit_events::table
            .filter(audit_events::occurred_at.ge(since))
            .into_boxed();
        if let Some(until) = until {
            query = query.filter(audit_events::occurred_at.lt(until));
        }
        if let Some(after) = after {
            query = query.filter(
                audit_events::occurred_at.ge(after.occurred_at).and(
                    audit_events::occurred_at
                        .gt(after.occurred_at)
                        .or(audit_events::id.gt(after.id)),
                ),
            );
        }
        query
            .order((audit_events::occurred_at.asc(), audit_events::id.asc()))
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

// Last: the sealer uses this module's macros.
pub mod seal;
pub mod seed;
