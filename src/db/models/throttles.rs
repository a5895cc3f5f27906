//! Attempt counters (sign-in, password checks, reset requests), in the database so the limits
//! hold across server instances. An attempt is reserved with one conditional statement before the
//! work it guards (a compare-and-set on the counter's row), so parallel attempts can never pass
//! the limit between a read and a write.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::sign_in_throttles;
use crate::db::{DbConn, dispatch};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sign_in_throttles)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Throttle {
    pub key: String,
    /// Attempts counted (reserved and not given back by a success).
    pub failures: i32,
    /// When the current series of attempts began.
    pub window_started_at: NaiveDateTime,
    /// The last attempt.
    pub updated_at: NaiveDateTime,
    /// No attempt is admitted before this time (exponential back-off).
    pub blocked_until: Option<NaiveDateTime>,
}

/// A counter's new state, written only if the row is still as it was read.
#[derive(Debug, Clone)]
pub struct NextState {
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    pub blocked_until: Option<NaiveDateTime>,
}

pub async fn find(conn: &mut DbConn, key: &str) -> AppResult<Option<Throttle>> {
    let row = dispatch!(conn, |c| {
        sign_in_throttles::table
            .find(key)
            .select(Throttle::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

pub async fn find_many(conn: &mut DbConn, keys: &[String]) -> AppResult<Vec<Throttle>> {
    let rows = dispatch!(conn, |c| {
        sign_in_throttles::table
            .filter(sign_in_throttles::key.eq_any(keys))
            .select(Throttle::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Creates the counter at `next` unless it exists; true when this call created it.
pub async fn insert_new(
    conn: &mut DbConn,
    key: &str,
    next: &NextState,
    now: NaiveDateTime,
) -> AppResult<bool> {
    use sign_in_throttles::dsl as t;
    let inserted = dispatch!(conn, |c| {
        diesel::insert_into(t::sign_in_throttles)
            .values((
                t::key.eq(key),
                t::failures.eq(next.failures),
                t::window_started_at.eq(next.window_started_at),
                t::updated_at.eq(now),
                t::blocked_until.eq(next.blocked_until),
            ))
            .on_conflict(t::key)
            .do_nothing()
            .execute(c)
            .await
    })?;
    Ok(inserted == 1)
}

/// Moves the counter from `seen` to `next` in one conditional UPDATE: true when no other attempt
/// changed the row since it was read (then this attempt holds its place), false otherwise.
pub async fn compare_and_set(
    conn: &mut DbConn,
    seen: &Throttle,
    next: &NextState,
    now: NaiveDateTime,
) -> AppResult<bool> {
    use sign_in_throttles::dsl as t;
    let updated = dispatch!(conn, |c| {
        diesel::update(t::sign_in_throttles.find(&seen.key))
            .filter(t::failures.eq(seen.failures))
            .filter(t::window_started_at.eq(seen.window_started_at))
            .filter(t::updated_at.eq(seen.updated_at))
            .set((
                t::failures.eq(next.failures),
                t::window_started_at.eq(next.window_started_at),
                t::updated_at.eq(now),
                t::blocked_until.eq(next.blocked_until),
            ))
            .execute(c)
            .await
    })?;
    Ok(updated == 1)
}

pub async fn clear(conn: &mut DbConn, key: &str) -> AppResult<()> {
    dispatch!(conn, |c| {
        diesel::delete(sign_in_throttles::table.filter(sign_in_throttles::key.eq(key)))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Removes `key` and every counter whose key starts with `prefix`; how many went.
pub async fn clear_with_prefix(conn: &mut DbConn, key: &str, prefix: &str) -> AppResult<usize> {
    let mut pattern = String::new();
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    let removed = dispatch!(conn, |c| {
        diesel::delete(
            sign_in_throttles::table.filter(
                sign_in_throttles::key
                    .eq(key)
                    .or(sign_in_throttles::key.like(pattern.clone()).escape('\\')),
            ),
        )
        .execute(c)
        .await
    })?;
    Ok(removed)
}

/// Gives one reservation back (a success), in one statement.
pub async fn give_back(conn: &mut DbConn, key: &str) -> AppResult<()> {
    use sign_in_throttles::dsl as t;
    dispatch!(conn, |c| {
        diesel::update(t::sign_in_throttles.find(key))
            .filter(t::failures.gt(0))
            .set(t::failures.eq(t::failures - 1))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Which column says a counter is still current for [`increment_below`].
#[derive(Debug, Clone, Copy)]
pub enum CurrentBy {
    /// The last attempt is at or after the cut-off (back-off counters).
    LastAttempt,
    /// The window started at or after the cut-off (fixed windows).
    WindowStart,
}

/// One more attempt on a current counter that is below `cap` and not backing off, in one
/// statement: true when it counted. Parallel callers all succeed up to the cap (PostgreSQL
/// re-checks the condition on the locked row; SQLite runs writes one at a time), so the common
/// case needs no retry.
pub async fn increment_below(
    conn: &mut DbConn,
    key: &str,
    cap: i32,
    current_by: CurrentBy,
    cut_off: NaiveDateTime,
    now: NaiveDateTime,
) -> AppResult<bool> {
    use sign_in_throttles::dsl as t;
    let not_blocked = t::blocked_until.is_null().or(t::blocked_until.le(now));
    let updated = match current_by {
        CurrentBy::LastAttempt => dispatch!(conn, |c| {
            diesel::update(t::sign_in_throttles.find(key))
                .filter(t::failures.lt(cap))
                .filter(t::updated_at.ge(cut_off))
                .filter(not_blocked)
                .set((t::failures.eq(t::failures + 1), t::updated_at.eq(now)))
                .execute(c)
                .await
        })?,
        CurrentBy::WindowStart => dispatch!(conn, |c| {
            diesel::update(t::sign_in_throttles.find(key))
                .filter(t::failures.lt(cap))
                .filter(t::window_started_at.ge(cut_off))
                .filter(not_blocked)
                .set((t::failures.eq(t::failures + 1), t::updated_at.eq(now)))
                .execute(c)
                .await
        })?,
    };
    Ok(updated == 1)
}
