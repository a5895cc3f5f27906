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

/// An event as a page shows it: the event, its changes in write order, and the names of its
/// actor and impersonator, all read in the page's own statement (correlated subqueries, see
/// [`PageColumns`]).
#[derive(Debug, Clone)]
pub struct PageEvent {
    pub event: AuditEvent,
    pub changes: Vec<AuditChange>,
    pub actor_name: Option<String>,
    pub impersonator_name: Option<String>,
}

/// The columns a page reads besides the event's own: its changes as one JSON array of
/// `[id, field, before, after, redacted]` (PostgreSQL `json_agg`, SQLite `json_group_array`;
/// served by `audit_changes_event_idx`) and the two names (primary key lookups).
struct PageColumns {
    changes: &'static str,
}

impl PageColumns {
    const ACTOR_NAME: &'static str =
        "(SELECT u.name FROM users u WHERE u.id = audit_events.actor_id)";
    const IMPERSONATOR_NAME: &'static str =
        "(SELECT u.name FROM users u WHERE u.id = audit_events.impersonator_id)";

    fn of(conn: &DbConn) -> Self {
        let changes = match conn {
            DbConn::Postgres(_) => {
                "(SELECT json_agg(json_build_array(c.id, c.field, c.before_value, c.after_value, \
                 c.redacted))::text FROM audit_changes c WHERE c.event_id = audit_events.id)"
            }
            DbConn::Sqlite(_) => {
                "(SELECT json_group_array(json_array(c.id, c.field, c.before_value, c.after_value, \
                 c.redacted)) FROM audit_changes c WHERE c.event_id = audit_events.id)"
            }
        };
        Self { changes }
    }
}

/// What a page's statement returns per event, before the changes' JSON is read.
type PageRow = (AuditEvent, Option<String>, Option<String>, Option<String>);

/// The select clause of a page: the event and [`PageColumns`].
macro_rules! page_select {
    ($columns:expr) => {
        (
            AuditEvent::as_select(),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
                $columns.changes,
            ),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
                PageColumns::ACTOR_NAME,
            ),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
                PageColumns::IMPERSONATOR_NAME,
            ),
        )
    };
}

fn page_events(rows: Vec<PageRow>) -> AppResult<Vec<PageEvent>> {
    rows.into_iter()
        .map(|(event, changes, actor_name, impersonator_name)| {
            let changes = match changes {
                Some(json) => changes_from_json(&event, &json)?,
                None => Vec::new(),
            };
            Ok(PageEvent {
                event,
                changes,
                actor_name,
                impersonator_name,
            })
        })
        .collect()
}

/// `[id, field, before, after, redacted]`, one element of a page's changes column.
type ChangeJson = (
    i64,
    String,
    Option<String>,
    Option<String>,
    serde_json::Value,
);

/// Reads the `[id, field, before, after, redacted]` rows of [`PageColumns`] (SQLite gives
/// `redacted` as 0/1), sorted by id: the order they were written.
fn changes_from_json(event: &AuditEvent, json: &str) -> AppResult<Vec<AuditChange>> {
    let malformed = || {
        crate::error::AppError::internal(anyhow::anyhow!(
            "audit event {}: unreadable changes {json}",
            event.id
        ))
    };
    let rows: Vec<ChangeJson> = serde_json::from_str(json).map_err(|_| malformed())?;
    let mut changes = rows
        .into_iter()
        .map(|(id, field, before_value, after_value, redacted)| {
            let redacted = match redacted {
                serde_json::Value::Bool(b) => b,
                serde_json::Value::Number(n) => n.as_i64() == Some(1),
                _ => return Err(malformed()),
            };
            Ok(AuditChange {
                id,
                event_id: event.id,
                record_type: event.record_type,
                field,
                before_value,
                after_value,
                redacted,
                occurred_at: event.occurred_at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    changes.sort_unstable_by_key(|c| c.id);
    Ok(changes)
}

/// `SELECT * FROM (q1) AS p0 UNION ALL SELECT * FROM (q2) AS p1 …`: one statement for several
/// queries of the same shape, each keeping its own ORDER BY and LIMIT (valid on both backends,
/// which `union_all` of boxed queries cannot be built into for a number known only at run time).
struct UnionAll<Q>(Vec<Q>);

impl<Q> diesel::query_builder::QueryId for UnionAll<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for UnionAll<Q> {
    type SqlType = Q::SqlType;
}

impl<DB, Q> diesel::query_builder::QueryFragment<DB> for UnionAll<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        for (n, query) in self.0.iter().enumerate() {
            if n > 0 {
                out.push_sql(" UNION ALL ");
            }
            out.push_sql("SELECT * FROM (");
            query.walk_ast(out.reborrow())?;
            out.push_sql(&format!(") AS p{n}"));
        }
        Ok(())
    }
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

/// PostgreSQL writes an event, its changes and its refs in one statement (one round trip).
///
/// The event row is produced by a `SELECT … WHERE pg_current_xact_id() IS NOT NULL`: that
/// one-time filter runs before the row's `id` default (`nextval`) is evaluated, so the
/// transaction holds its transaction id before it holds an event id, whatever it wrote
/// before; the sealer's horizon relies on that (see `audit::seal`). The changes keep their
/// write order (`WITH ORDINALITY`), so their ids follow it as with single-row inserts.
const PG_INSERT_EVENT: &str = "\
WITH event AS (
    INSERT INTO audit_events
        (occurred_at, action, record_type, record_id, actor_id, impersonator_id, request_id,
         client_ip, reason)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
    WHERE pg_current_xact_id() IS NOT NULL
    RETURNING id
), changes AS (
    INSERT INTO audit_changes
        (event_id, record_type, field, before_value, after_value, redacted, occurred_at)
    SELECT event.id, $3, c.field, c.before_value, c.after_value, c.redacted, $1
    FROM event,
         unnest($10::text[], $11::text[], $12::text[], $13::bool[])
             WITH ORDINALITY AS c (field, before_value, after_value, redacted, n)
    ORDER BY c.n
), refs AS (
    INSERT INTO audit_event_refs (event_id, record_type, record_id)
    SELECT event.id, r.record_type, r.record_id
    FROM event, unnest($14::text[], $15::bigint[]) AS r (record_type, record_id)
)
SELECT id FROM event";

#[derive(QueryableByName)]
struct InsertedEvent {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: AuditEventId,
}

/// Writes one event with its changes and the records it shows on; the caller's transaction
/// makes it atomic with the change it records. PostgreSQL: one statement
/// ([`PG_INSERT_EVENT`]); SQLite: the event, then its changes and its refs as one multi-row
/// INSERT each (calls on the connection's own thread, no network in between).
pub(super) async fn insert_event(
    conn: &mut DbConn,
    actor: &AuditActor,
    now: NaiveDateTime,
    entry: &AuditEntry,
) -> AppResult<AuditEventId> {
    let changes: Vec<ChangeValues<'_>> = entry
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
        .map(|change| ChangeValues {
            field: change.field,
            before_value: change.before.stored(),
            after_value: change.after.stored(),
            redacted: change.before.is_secret() || change.after.is_secret(),
        })
        .collect();
    let mut refs = vec![(entry.record.record_type, entry.record.record_id)];
    for other in &entry.also_on {
        let other = (other.record_type, other.record_id);
        if !refs.contains(&other) {
            refs.push(other);
        }
    }

    match conn {
        DbConn::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
            let inserted: InsertedEvent = diesel::sql_query(PG_INSERT_EVENT)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(entry.action)
                .bind::<Text, _>(entry.record.record_type)
                .bind::<BigInt, _>(entry.record.record_id)
                .bind::<Nullable<BigInt>, _>(actor.actor_id)
                .bind::<Nullable<BigInt>, _>(actor.impersonator_id)
                .bind::<Nullable<Text>, _>(actor.request_id.as_deref())
                .bind::<Nullable<Text>, _>(actor.client_ip.as_deref())
                .bind::<Nullable<Text>, _>(entry.reason.as_deref())
                .bind::<Array<Text>, _>(changes.iter().map(|c| c.field).collect::<Vec<_>>())
                .bind::<Array<Nullable<Text>>, _>(
                    changes
                        .iter()
                        .map(|c| c.before_value.clone())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<Text>>, _>(
                    changes
                        .iter()
                        .map(|c| c.after_value.clone())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Bool>, _>(changes.iter().map(|c| c.redacted).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(refs.iter().map(|r| r.0).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(refs.iter().map(|r| r.1).collect::<Vec<_>>())
                .get_result(&mut **c)
                .await?;
            Ok(inserted.id)
        }
        DbConn::Sqlite(c) => {
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
            let event_id: AuditEventId = diesel::insert_into(audit_events::table)
                .values(&event)
                .returning(audit_events::id)
                .get_result(&mut **c)
                .await?;
            use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
            if !changes.is_empty() {
                let mut insert = diesel::sql_query(
                    "INSERT INTO audit_changes (event_id, record_type, field, before_value, \
                     after_value, redacted, occurred_at) VALUES ",
                )
                .into_boxed::<diesel::sqlite::Sqlite>();
                for (n, change) in changes.into_iter().enumerate() {
                    insert = insert
                        .sql(if n == 0 { "(" } else { ", (" })
                        .sql("?, ?, ?, ?, ?, ?, ?)")
                        .bind::<BigInt, _>(event_id.0)
                        .bind::<Text, _>(entry.record.record_type)
                        .bind::<Text, _>(change.field)
                        .bind::<Nullable<Text>, _>(change.before_value)
                        .bind::<Nullable<Text>, _>(change.after_value)
                        .bind::<Bool, _>(change.redacted)
                        .bind::<Timestamp, _>(now);
                }
                insert.execute(&mut **c).await?;
            }
            let mut insert = diesel::sql_query(
                "INSERT INTO audit_event_refs (event_id, record_type, record_id) VALUES ",
            )
            .into_boxed::<diesel::sqlite::Sqlite>();
            for (n, (record_type, record_id)) in refs.into_iter().enumerate() {
                insert = insert
                    .sql(if n == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" })
                    .bind::<BigInt, _>(event_id.0)
                    .bind::<Text, _>(record_type)
                    .bind::<BigInt, _>(record_id);
            }
            insert.execute(&mut **c).await?;
            Ok(event_id)
        }
    }
}

/// One field change of an event, as stored.
struct ChangeValues<'a> {
    field: &'a str,
    before_value: Option<String>,
    after_value: Option<String>,
    redacted: bool,
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
    let page = history_page(
        conn,
        CompanyScope::All,
        record_type,
        record_id,
        before,
        limit,
    )
    .await?;
    Ok(page.into_iter().map(|e| e.event).collect())
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

/// The events of a History as `scope` may see it (see [`visible_history`]), newest first, with
/// their changes and people (one statement).
pub async fn history_page(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    record_type: AuditRecordType,
    record_id: i64,
    before: Option<AuditEventId>,
    limit: i64,
) -> AppResult<Vec<PageEvent>> {
    let before = before.unwrap_or(AuditEventId(i64::MAX));
    let columns = PageColumns::of(conn);
    let rows: Vec<PageRow> = visible_history!(
        conn,
        scope,
        audit_event_refs::table.inner_join(audit_events::table),
        record_type,
        record_id,
        |q, c| {
            q.filter(audit_event_refs::event_id.lt(before))
                .order(audit_event_refs::event_id.desc())
                .limit(limit)
                .select(page_select!(columns))
                .load(c)
                .await
        }
    )?;
    page_events(rows)
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

/// One page of `auditEvents`: up to `limit` events after `after`, newest first, with their
/// changes and people.
///
/// Without a field filter this is one statement on `audit_events`, which the planner serves
/// from the `(filter column, occurred_at, id)` index of a filter (or `(occurred_at, id)`), read
/// backwards and stopped after `limit` rows. With a field filter, the keys come from one
/// statement ([`UnionAll`]) of one query per `(record type, field)` pair on `audit_changes
/// (record_type, field, occurred_at, event_id)`, joined to its event for the other filters,
/// each stopped after `limit` rows; they are merged here and the page's events read in a
/// second statement. Either way a page costs about `limit` index entries per pair, whatever
/// the size of the table.
pub async fn events_page(
    conn: &mut DbConn,
    filter: &EventFilter,
    after: Option<EventKey>,
    limit: i64,
) -> AppResult<Vec<PageEvent>> {
    let columns = PageColumns::of(conn);
    let Some(pairs) = &filter.fields else {
        let rows: Vec<PageRow> = dispatch!(conn, |c| {
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
            .select(page_select!(columns))
            .load(c)
            .await
        })?;
        return page_events(rows);
    };
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<(NaiveDateTime, AuditEventId)> = dispatch!(conn, |c| {
        let queries: Vec<_> = pairs
            .iter()
            .map(|(record_type, field)| {
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
            })
            .collect();
        UnionAll(queries).load(c).await
    })?;
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.dedup();
    keys.truncate(usize::try_from(limit).unwrap_or(0));
    let ids: Vec<AuditEventId> = keys.iter().map(|(_, id)| *id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<PageRow> = dispatch!(conn, |c| {
        audit_events::table
            .filter(audit_events::id.eq_any(&ids))
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .select(page_select!(columns))
            .load(c)
            .await
    })?;
    page_events(rows)
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

diesel::table! {
    /// The migration-made view of events with names joined in (read-only; see
    /// `migrations/*/2026-12-02-000900_audit_views`). Only the columns read here.
    audit_log_events (event_id) {
        event_id -> BigInt,
        record_label -> Nullable<Text>,
    }
}

/// The current names of the records `events` are about, by event (the view's `record_label`:
/// none once a record is deleted). One statement.
pub async fn record_labels(
    conn: &mut DbConn,
    events: &[AuditEventId],
) -> AppResult<std::collections::HashMap<AuditEventId, String>> {
    if events.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(AuditEventId, Option<String>)> = dispatch!(conn, |c| {
        audit_log_events::table
            .filter(audit_log_events::event_id.eq_any(events))
            .select((audit_log_events::event_id, audit_log_events::record_label))
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, label)| label.map(|label| (id, label)))
        .collect())
}

// Last: the sealer uses this module's macros.
pub mod reader;
pub mod seal;
pub mod seed;
