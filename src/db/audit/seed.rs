//! `portal-admin seed-audit --events N`: fills a database with N realistic audit events for
//! benchmarks, set-based (PostgreSQL `generate_series`, SQLite a recursive CTE), a million rows
//! per statement, with their changes and refs. Mix: 40% company events (half of them to
//! billing fields), 20% users (sign-ins and profile edits), 10% company memberships (also on
//! the company's History), the rest organizations, teams, numbers, recordings, playbooks; 2%
//! via impersonation; evenly spread over `days` up to now, ids in time order.

use chrono::NaiveDateTime;
use diesel_async::SimpleAsyncConnection;

use crate::db::{Database, DbConn, dispatch};
use crate::error::AppResult;

/// Rows per statement.
const CHUNK: u64 = 1_000_000;

/// Companies, users … the seeded events are spread over.
pub const SEED_COMPANIES: u64 = 5_000;
pub const SEED_USERS: u64 = 20_000;

/// Seeds `events` events between `start` and `end`; calls `progress` after each chunk.
pub async fn seed(
    db: &Database,
    events: u64,
    start: NaiveDateTime,
    end: NaiveDateTime,
    mut progress: impl FnMut(u64),
) -> AppResult<()> {
    let span_micros = (end - start).num_microseconds().unwrap_or(0).max(1);
    let step = (span_micros / events.max(1) as i64).max(1);
    let mut done = 0u64;
    while done < events {
        let count = CHUNK.min(events - done);
        let mut conn = db.conn().await?;
        let sql = chunk_sql(&conn, done, count, start, step);
        dispatch!(&mut conn, |c| c.batch_execute(&sql).await)?;
        done += count;
        progress(done);
    }
    if let DbConn::Postgres(c) = &mut db.conn().await? {
        c.batch_execute("ANALYZE audit_events; ANALYZE audit_changes; ANALYZE audit_event_refs")
            .await?;
    }
    Ok(())
}

/// One chunk: events `offset+1 ..= offset+count` (of the whole run), then the changes and refs
/// of every event above the previous maximum id. Only integers are interpolated.
fn chunk_sql(conn: &DbConn, offset: u64, count: u64, start: NaiveDateTime, step: i64) -> String {
    let start_micros = start.and_utc().timestamp_micros();
    let (series, time, start_tx, end_tx) = match conn {
        DbConn::Postgres(_) => (
            format!(
                "SELECT g FROM generate_series({}::bigint, {}::bigint) AS g",
                offset + 1,
                offset + count
            ),
            format!(
                "to_timestamp(({start_micros} + g * {step})::double precision / 1000000)::timestamp"
            ),
            "BEGIN; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0;",
            "COMMIT;",
        ),
        DbConn::Sqlite(_) => (
            format!(
                "WITH RECURSIVE s(g) AS (SELECT {} UNION ALL SELECT g + 1 FROM s WHERE g < {}) SELECT g FROM s",
                offset + 1,
                offset + count
            ),
            format!(
                "strftime('%Y-%m-%d %H:%M:%f', ({start_micros} + g * {step}) / 1000000.0, 'unixepoch')"
            ),
            "BEGIN IMMEDIATE;",
            "COMMIT;",
        ),
    };
    let companies = SEED_COMPANIES;
    let users = SEED_USERS;
    // g % 20 picks the record type; the other digits of g pick record, action and fields.
    format!(
        "{start_tx}
CREATE TEMP TABLE IF NOT EXISTS seed_mark (last_id BIGINT);
DELETE FROM seed_mark;
INSERT INTO seed_mark SELECT COALESCE(MAX(id), 0) FROM audit_events;
INSERT INTO audit_events (occurred_at, action, record_type, record_id, actor_id, impersonator_id, request_id, reason)
SELECT {time},
    CASE WHEN g % 997 = 0 THEN 'CREATE'
         WHEN g % 20 IN (8, 9) THEN 'SIGN_IN'
         ELSE 'UPDATE' END,
    CASE WHEN g % 20 < 8 THEN 'COMPANY'
         WHEN g % 20 < 12 THEN 'USER'
         WHEN g % 20 < 14 THEN 'COMPANY_MEMBERSHIP'
         WHEN g % 20 = 14 THEN 'ORGANIZATION'
         WHEN g % 20 = 15 THEN 'TEAM'
         WHEN g % 20 < 18 THEN 'INBOUND_NUMBER'
         WHEN g % 20 = 18 THEN 'CALL_RECORDING'
         ELSE 'PLAYBOOK' END,
    CASE WHEN g % 20 < 8 THEN (g * 7919) % {companies} + 1
         WHEN g % 20 < 12 THEN (g * 104729) % {users} + 1
         ELSE (g * 15485863) % 100000 + 1 END,
    (g * 31) % 500 + 1,
    CASE WHEN g % 50 = 0 THEN g % 5 + 1 END,
    'seed-' || g,
    NULL
FROM ({series}) AS series;
INSERT INTO audit_changes (event_id, record_type, field, before_value, after_value, redacted, occurred_at)
SELECT e.id, e.record_type,
    CASE e.record_type
        WHEN 'COMPANY' THEN CASE (e.id / 20) % 6 WHEN 0 THEN 'billingRateCents' WHEN 1 THEN 'billingEmail'
            WHEN 2 THEN 'billingPlan' WHEN 3 THEN 'name' WHEN 4 THEN 'timezone' ELSE 'status' END
        WHEN 'USER' THEN CASE (e.id / 20) % 3 WHEN 0 THEN 'name' WHEN 1 THEN 'email' ELSE 'role' END
        WHEN 'COMPANY_MEMBERSHIP' THEN 'role'
        WHEN 'ORGANIZATION' THEN CASE (e.id / 20) % 2 WHEN 0 THEN 'name' ELSE 'billingEmail' END
        WHEN 'TEAM' THEN 'name'
        WHEN 'INBOUND_NUMBER' THEN CASE (e.id / 20) % 2 WHEN 0 THEN 'label' ELSE 'active' END
        WHEN 'CALL_RECORDING' THEN CASE (e.id / 20) % 2 WHEN 0 THEN 'notes' ELSE 'flagged' END
        ELSE 'currentVersion' END,
    'old-' || (e.id % 1000), 'new-' || (e.id % 1000), FALSE, e.occurred_at
FROM audit_events e
WHERE e.id > (SELECT last_id FROM seed_mark) AND e.action <> 'SIGN_IN';
INSERT INTO audit_event_refs (event_id, record_type, record_id)
SELECT e.id, e.record_type, e.record_id FROM audit_events e WHERE e.id > (SELECT last_id FROM seed_mark);
INSERT INTO audit_event_refs (event_id, record_type, record_id)
SELECT e.id, 'COMPANY', e.record_id % {companies} + 1 FROM audit_events e
WHERE e.id > (SELECT last_id FROM seed_mark) AND e.record_type = 'COMPANY_MEMBERSHIP';
{end_tx}"
    )
}
