//! The mail outbox: mail is inserted in the transaction of the change that causes it, and a
//! background worker (`crate::mail::worker`) delivers it later.
//!
//! Delivery is at-least-once with a lease: a worker claims due rows by setting `locked_until`,
//! sends, then marks each row sent at once. Another worker (or instance) skips rows whose lease
//! has not expired, so a mail is sent twice only if a worker dies between the SMTP server
//! accepting it and the row being marked, or a send outlives its lease; the worker keeps every
//! send well inside the lease. A crashed worker's claims become due again when the lease expires.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::mail_outbox;
use crate::db::{DbConn, dispatch};
use crate::domain::OutboxMailId;
use crate::error::AppResult;

/// First retry delay; it doubles with every failed attempt up to [`MAX_RETRY_DELAY_SECONDS`].
pub const FIRST_RETRY_DELAY_SECONDS: i64 = 5;
pub const MAX_RETRY_DELAY_SECONDS: i64 = 600;
/// `last_error` is a hint for operators, not a log: keep it short.
const MAX_ERROR_CHARS: usize = 500;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = mail_outbox)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct OutboxMail {
    pub id: OutboxMailId,
    /// Which email this is (`invitation`, `password_reset`, …): logged instead of the body.
    pub template: String,
    pub to_address: String,
    pub subject: String,
    /// Emptied once the mail is sent or given up: bodies carry live links (tokens).
    pub body_text: String,
    pub body_html: String,
    pub created_at: NaiveDateTime,
    /// Delivery attempts made, the successful one included.
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    /// A worker's claim; the row is free again after this time.
    pub locked_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    /// Set when the worker gave up after the configured number of attempts.
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl OutboxMail {
    pub fn is_pending(&self) -> bool {
        self.sent_at.is_none() && self.failed_at.is_none()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewOutboxMail {
    pub template: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
}

/// What [`record_failure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Tried again at this time.
    RetryAt(NaiveDateTime),
    /// Attempts exhausted (or the mail can never be sent): `failed_at` is set.
    GaveUp,
}

/// The wait after `attempts` failed attempts: 5 s, 10 s, 20 s, … capped at 10 minutes.
pub fn retry_delay(attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let seconds = FIRST_RETRY_DELAY_SECONDS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_DELAY_SECONDS);
    Duration::seconds(seconds)
}

/// Rows a worker may claim at `$now`: not finished, due, and not under someone else's lease.
macro_rules! claimable {
    ($now:expr) => {
        mail_outbox::sent_at
            .is_null()
            .and(mail_outbox::failed_at.is_null())
            .and(mail_outbox::next_attempt_at.le($now))
            .and(
                mail_outbox::locked_until
                    .is_null()
                    .or(mail_outbox::locked_until.le($now)),
            )
    };
}

/// Inserts a mail. Use it with the connection of the transaction whose commit should send it
/// (`WriteTx::conn`), as `crate::mail::enqueue` does.
pub async fn insert(conn: &mut DbConn, mail: &NewOutboxMail) -> AppResult<OutboxMail> {
    let row = dispatch!(conn, |c| {
        diesel::insert_into(mail_outbox::table)
            .values(mail)
            .returning(OutboxMail::as_returning())
            .get_result(c)
            .await
    })?;
    Ok(row)
}

pub async fn find(conn: &mut DbConn, id: OutboxMailId) -> AppResult<Option<OutboxMail>> {
    let row = dispatch!(conn, |c| {
        mail_outbox::table
            .find(id)
            .select(OutboxMail::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// The newest mails first, for operators and tests.
pub async fn recent(conn: &mut DbConn, limit: i64) -> AppResult<Vec<OutboxMail>> {
    let rows = dispatch!(conn, |c| {
        mail_outbox::table
            .order(mail_outbox::id.desc())
            .limit(limit)
            .select(OutboxMail::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Every mail ever enqueued (tests check that a refused mutation enqueued none).
pub async fn count_all(conn: &mut DbConn) -> AppResult<i64> {
    let count = dispatch!(conn, |c| mail_outbox::table.count().get_result(c).await)?;
    Ok(count)
}

/// Mails neither sent nor given up.
pub async fn count_pending(conn: &mut DbConn) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        mail_outbox::table
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::failed_at.is_null())
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// Claims up to `limit` due mails for one worker until `lease_until`, oldest first.
///
/// PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` and the lease UPDATE in one short
/// transaction, so instances polling at once take disjoint rows without waiting on each other.
/// SQLite has a single writer: the UPDATE re-checks that each row is still claimable, which
/// makes that one statement the claim.
pub async fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<OutboxMail>> {
    use diesel_async::AsyncConnection;

    let mut rows = match conn {
        DbConn::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            c.transaction(
                async move |c| -> Result<Vec<OutboxMail>, diesel::result::Error> {
                    let ids: Vec<OutboxMailId> = mail_outbox::table
                        .filter(claimable!(now))
                        .order((mail_outbox::next_attempt_at, mail_outbox::id))
                        .limit(limit)
                        .select(mail_outbox::id)
                        .for_update()
                        .skip_locked()
                        .load(c)
                        .await?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)))
                        .set(mail_outbox::locked_until.eq(lease_until))
                        .returning(OutboxMail::as_returning())
                        .load(c)
                        .await
                },
            )
            .await?
        }
        DbConn::Sqlite(c) => {
            let ids: Vec<OutboxMailId> = mail_outbox::table
                .filter(claimable!(now))
                .order((mail_outbox::next_attempt_at, mail_outbox::id))
                .limit(limit)
                .select(mail_outbox::id)
                .load(&mut **c)
                .await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(
                mail_outbox::table
                    .filter(mail_outbox::id.eq_any(&ids))
                    .filter(claimable!(now)),
            )
            .set(mail_outbox::locked_until.eq(lease_until))
            .returning(OutboxMail::as_returning())
            .load(&mut **c)
            .await?
        }
    };
    rows.sort_by_key(|row| (row.next_attempt_at, row.id));
    Ok(rows)
}

/// Marks a mail sent, right after the SMTP server accepted it, and drops its bodies (they hold
/// live links). Returns false when the row was already finished (its lease had run out and
/// another worker sent it too): the caller logs that.
pub async fn mark_sent(conn: &mut DbConn, id: OutboxMailId, now: NaiveDateTime) -> AppResult<bool> {
    let updated = dispatch!(conn, |c| {
        diesel::update(
            mail_outbox::table
                .find(id)
                .filter(mail_outbox::sent_at.is_null()),
        )
        .set((
            mail_outbox::sent_at.eq(now),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::locked_until.eq(None::<NaiveDateTime>),
            mail_outbox::body_text.eq(""),
            mail_outbox::body_html.eq(""),
        ))
        .execute(c)
        .await
    })?;
    Ok(updated > 0)
}

/// Records a failed attempt on a claimed mail and releases the claim: the mail is due again
/// after [`retry_delay`], or is given up (`failed_at`) once `max_attempts` attempts failed or
/// when `permanent` (it can never be sent, e.g. an unparsable address).
///
/// `error` is stored for operators: pass a description without secrets (no bodies, tokens or
/// credentials).
pub async fn record_failure(
    conn: &mut DbConn,
    mail: &OutboxMail,
    now: NaiveDateTime,
    error: &str,
    max_attempts: i32,
    permanent: bool,
) -> AppResult<FailureOutcome> {
    let attempts = mail.attempts.saturating_add(1);
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let outcome = if permanent || attempts >= max_attempts.max(1) {
        FailureOutcome::GaveUp
    } else {
        FailureOutcome::RetryAt(now + retry_delay(attempts))
    };
    let target = mail_outbox::table
        .find(mail.id)
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null());
    let common = (
        mail_outbox::attempts.eq(attempts),
        mail_outbox::locked_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(Some(error)),
    );
    match outcome {
        FailureOutcome::RetryAt(at) => {
            dispatch!(conn, |c| {
                diesel::update(target)
                    .set((common.clone(), mail_outbox::next_attempt_at.eq(at)))
                    .execute(c)
                    .await
            })?;
        }
        FailureOutcome::GaveUp => {
            dispatch!(conn, |c| {
                diesel::update(target)
                    .set((
                        common.clone(),
                        mail_outbox::failed_at.eq(Some(now)),
                        mail_outbox::body_text.eq(""),
                        mail_outbox::body_html.eq(""),
                    ))
                    .execute(c)
                    .await
            })?;
        }
    }
    Ok(outcome)
}

/// Extends this worker's claim on `ids` from `held_until` (the lease it set, which identifies its
/// claim: another worker's claim carries its own) to `lease_until`, for the rows not finished
/// yet. Returns how many rows are still held; fewer than asked means a lease was lost.
pub async fn renew(
    conn: &mut DbConn,
    ids: &[OutboxMailId],
    held_until: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> AppResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let renewed = dispatch!(conn, |c| {
        diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq_any(ids))
                .filter(mail_outbox::sent_at.is_null())
                .filter(mail_outbox::failed_at.is_null())
                .filter(mail_outbox::locked_until.eq(held_until)),
        )
        .set(mail_outbox::locked_until.eq(lease_until))
        .execute(c)
        .await
    })?;
    Ok(renewed)
}

/// Gives claims back without counting an attempt (a worker stopping with mails it did not try).
pub async fn release(conn: &mut DbConn, ids: &[OutboxMailId]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    dispatch!(conn, |c| {
        diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq_any(ids))
                .filter(mail_outbox::sent_at.is_null()),
        )
        .set(mail_outbox::locked_until.eq(None::<NaiveDateTime>))
        .execute(c)
        .await
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let seconds: Vec<i64> = (1..=10).map(|a| retry_delay(a).num_seconds()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(retry_delay(0).num_seconds(), 5);
        assert_eq!(retry_delay(i32::MAX).num_seconds(), 600);
    }
}

/// The outbox at a glance, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxStats {
    /// Mails neither sent nor given up.
    pub pending: i64,
    /// How long the oldest due mail has waited past its `next_attempt_at` (0: none due).
    pub oldest_due_age_seconds: f64,
    /// Mails given up.
    pub failed: i64,
}

pub async fn stats(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<OutboxStats> {
    let pending = count_pending(conn).await?;
    let oldest_due: Option<NaiveDateTime> = dispatch!(conn, |c| {
        mail_outbox::table
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::failed_at.is_null())
            .filter(mail_outbox::next_attempt_at.le(now))
            .select(diesel::dsl::min(mail_outbox::next_attempt_at))
            .get_result(c)
            .await
    })?;
    let failed: i64 = dispatch!(conn, |c| {
        mail_outbox::table
            .filter(mail_outbox::failed_at.is_not_null())
            .count()
            .get_result(c)
            .await
    })?;
    Ok(OutboxStats {
        pending,
        oldest_due_age_seconds: oldest_due.map_or(0.0, |due| {
            (now - due).num_milliseconds().max(0) as f64 / 1000.0
        }),
        failed,
    })
}
