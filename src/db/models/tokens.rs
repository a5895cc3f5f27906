//! Single-use, expiring tokens stored hashed: invitations and password resets share one shape,
//! so one macro writes the queries for both tables.

use chrono::NaiveDateTime;

use crate::domain::UserId;

/// A live token found by its hash.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: UserId,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

macro_rules! token_table {
    ($module:ident, $table:ident) => {
        pub mod $module {
            use chrono::NaiveDateTime;
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;

            use super::TokenRow;
            use crate::db::schema::$table;
            use crate::db::{DbConn, dispatch};
            use crate::domain::UserId;
            use crate::error::AppResult;

            /// Voids the user's unused tokens (a newer token, or the account changed).
            pub async fn void_all(
                conn: &mut DbConn,
                user_id: UserId,
                now: NaiveDateTime,
            ) -> AppResult<usize> {
                let count = dispatch!(conn, |c| {
                    diesel::update($table::table)
                        .filter($table::user_id.eq(user_id))
                        .filter($table::used_at.is_null())
                        .filter($table::voided_at.is_null())
                        .set($table::voided_at.eq(now))
                        .execute(c)
                        .await
                })?;
                Ok(count)
            }

            /// The token with this hash if it is unused, not voided and not expired at `now`.
            pub async fn find_live(
                conn: &mut DbConn,
                token_hash: &str,
                now: NaiveDateTime,
            ) -> AppResult<Option<TokenRow>> {
                let row = dispatch!(conn, |c| {
                    $table::table
                        .filter($table::token_hash.eq(token_hash))
                        .filter($table::used_at.is_null())
                        .filter($table::voided_at.is_null())
                        .filter($table::expires_at.gt(now))
                        .select((
                            $table::id,
                            $table::user_id,
                            $table::created_at,
                            $table::expires_at,
                        ))
                        .first::<(i64, UserId, NaiveDateTime, NaiveDateTime)>(c)
                        .await
                        .optional()
                })?;
                Ok(row.map(|(id, user_id, created_at, expires_at)| TokenRow {
                    id,
                    user_id,
                    created_at,
                    expires_at,
                }))
            }

            /// Marks the token used; false when another request used (or voided) it first.
            pub async fn consume(
                conn: &mut DbConn,
                id: i64,
                now: NaiveDateTime,
            ) -> AppResult<bool> {
                let count = dispatch!(conn, |c| {
                    diesel::update($table::table.find(id))
                        .filter($table::used_at.is_null())
                        .filter($table::voided_at.is_null())
                        .filter($table::expires_at.gt(now))
                        .set($table::used_at.eq(now))
                        .execute(c)
                        .await
                })?;
                Ok(count == 1)
            }
        }
    };
}

token_table!(invitations, invitations);
token_table!(password_resets, password_reset_tokens);

/// Inserts a new invitation token.
pub async fn insert_invitation(
    conn: &mut crate::db::DbConn,
    user_id: UserId,
    token_hash: &str,
    invited_by: Option<UserId>,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> crate::error::AppResult<()> {
    use crate::db::schema::invitations::dsl as t;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    crate::db::dispatch!(conn, |c| {
        diesel::insert_into(t::invitations)
            .values((
                t::user_id.eq(user_id),
                t::token_hash.eq(token_hash),
                t::invited_by.eq(invited_by),
                t::created_at.eq(now),
                t::expires_at.eq(expires_at),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Inserts a new password-reset token.
pub async fn insert_password_reset(
    conn: &mut crate::db::DbConn,
    user_id: UserId,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> crate::error::AppResult<()> {
    use crate::db::schema::password_reset_tokens::dsl as t;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    crate::db::dispatch!(conn, |c| {
        diesel::insert_into(t::password_reset_tokens)
            .values((
                t::user_id.eq(user_id),
                t::token_hash.eq(token_hash),
                t::created_at.eq(now),
                t::expires_at.eq(expires_at),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}
