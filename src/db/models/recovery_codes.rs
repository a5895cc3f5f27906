use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::recovery_codes;
use crate::db::{DbConn, dispatch};
use crate::domain::UserId;
use crate::error::AppResult;

/// Replaces the user's recovery codes with a new set (the old set stops working).
pub async fn replace(
    conn: &mut DbConn,
    user_id: UserId,
    hashes: &[String],
    now: NaiveDateTime,
) -> AppResult<()> {
    delete_all(conn, user_id).await?;
    for hash in hashes {
        dispatch!(conn, |c| {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::code_hash.eq(hash),
                    recovery_codes::created_at.eq(now),
                ))
                .execute(c)
                .await
        })?;
    }
    Ok(())
}

pub async fn delete_all(conn: &mut DbConn, user_id: UserId) -> AppResult<usize> {
    let count = dispatch!(conn, |c| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(c)
            .await
    })?;
    Ok(count)
}

/// Uses a code: true when it was an unused code of this user, and it is now used. One atomic
/// conditional update, so two requests with the same code cannot both succeed.
pub async fn use_code(
    conn: &mut DbConn,
    user_id: UserId,
    code_hash: &str,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let count = dispatch!(conn, |c| {
        diesel::update(recovery_codes::table)
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(code_hash))
            .filter(recovery_codes::used_at.is_null())
            .set(recovery_codes::used_at.eq(now))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}

pub async fn count_unused(conn: &mut DbConn, user_id: UserId) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// A stored recovery code, for the one-time upgrade of unkeyed hashes.
pub struct StoredCode {
    pub id: i64,
    pub user_id: UserId,
    pub code_hash: String,
}

/// Up to `limit` codes with an id above `after`, in id order (keyset batches).
pub async fn batch_after(conn: &mut DbConn, after: i64, limit: i64) -> AppResult<Vec<StoredCode>> {
    let rows = dispatch!(conn, |c| {
        recovery_codes::table
            .filter(recovery_codes::id.gt(after))
            .order(recovery_codes::id.asc())
            .limit(limit)
            .select((
                recovery_codes::id,
                recovery_codes::user_id,
                recovery_codes::code_hash,
            ))
            .load::<(i64, UserId, String)>(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, user_id, code_hash)| StoredCode {
            id,
            user_id,
            code_hash,
        })
        .collect())
}

/// Replaces one code's hash if it still is `old` (idempotent when instances race on it).
pub async fn rehash(conn: &mut DbConn, id: i64, old: &str, new: &str) -> AppResult<bool> {
    let count = dispatch!(conn, |c| {
        diesel::update(recovery_codes::table.find(id))
            .filter(recovery_codes::code_hash.eq(old))
            .set(recovery_codes::code_hash.eq(new))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}
