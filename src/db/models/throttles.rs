//! Failed sign-in counters, in the database so the limit holds across server instances.

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
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
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

/// Counts one failure against `key`, starting a new window when the last one began before
/// `window_start`. One statement, atomic on both backends, so concurrent failures all count.
pub async fn record_failure(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    window_start: NaiveDateTime,
) -> AppResult<()> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    use sign_in_throttles::dsl as t;
    let expired = t::window_started_at.lt(window_start);
    dispatch!(conn, |c| {
        diesel::insert_into(t::sign_in_throttles)
            .values((
                t::key.eq(key),
                t::failures.eq(1),
                t::window_started_at.eq(now),
                t::updated_at.eq(now),
            ))
            .on_conflict(t::key)
            .do_update()
            .set((
                t::failures.eq(case_when::<_, _, diesel::sql_types::Integer>(expired, 1)
                    .otherwise(t::failures + 1)),
                t::window_started_at.eq(case_when(expired, excluded(t::window_started_at))
                    .otherwise(t::window_started_at)),
                t::updated_at.eq(excluded(t::updated_at)),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

pub async fn clear(conn: &mut DbConn, key: &str) -> AppResult<()> {
    dispatch!(conn, |c| {
        diesel::delete(sign_in_throttles::table.filter(sign_in_throttles::key.eq(key)))
            .execute(c)
            .await
    })?;
    Ok(())
}
