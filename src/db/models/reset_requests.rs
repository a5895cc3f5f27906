//! Password reset requests waiting for the mail worker: `requestPasswordReset` only records the
//! address asked for; the worker looks it up and, for an active account, issues the link.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::password_reset_requests;
use crate::db::{DbConn, dispatch};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = password_reset_requests)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ResetRequest {
    pub id: i64,
    pub email: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: NaiveDateTime,
    pub processed_at: Option<NaiveDateTime>,
}

pub async fn insert(
    conn: &mut DbConn,
    email: &str,
    request_id: &str,
    client_ip: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<()> {
    use password_reset_requests::dsl as r;
    dispatch!(conn, |c| {
        diesel::insert_into(r::password_reset_requests)
            .values((
                r::email.eq(email),
                r::request_id.eq(request_id),
                r::client_ip.eq(client_ip),
                r::created_at.eq(now),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Up to `limit` requests not yet processed, oldest first.
pub async fn pending(conn: &mut DbConn, limit: i64) -> AppResult<Vec<ResetRequest>> {
    use password_reset_requests::dsl as r;
    let rows = dispatch!(conn, |c| {
        r::password_reset_requests
            .filter(r::processed_at.is_null())
            .order(r::id)
            .limit(limit)
            .select(ResetRequest::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Marks a request processed; false when another worker did first.
pub async fn claim(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> AppResult<bool> {
    use password_reset_requests::dsl as r;
    let count = dispatch!(conn, |c| {
        diesel::update(r::password_reset_requests.find(id))
            .filter(r::processed_at.is_null())
            .set(r::processed_at.eq(now))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}
