//! Single-use, expiring tokens stored hashed: invitations, password resets and email-change
//! confirmations share one shape, so one macro writes the queries for every table.

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

/// The queries of one token table. `$extra` names columns only that table has, given to
/// `insert` between the token hash and the timestamps.
macro_rules! token_table {
    ($module:ident, $table:ident $(, $extra:ident: $extra_ty:ty)*) => {
        pub mod $module {
            use chrono::NaiveDateTime;
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;

            use super::TokenRow;
            use crate::db::schema::$table;
            use crate::db::{DbConn, dispatch};
            use crate::domain::UserId;
            use crate::error::AppResult;

            /// Stores a new token (by its hash) for the user.
            pub async fn insert(
                conn: &mut DbConn,
                user_id: UserId,
                token_hash: &str,
                $($extra: $extra_ty,)*
                now: NaiveDateTime,
                expires_at: NaiveDateTime,
            ) -> AppResult<()> {
                dispatch!(conn, |c| {
                    diesel::insert_into($table::table)
                        .values((
                            $table::user_id.eq(user_id),
                            $table::token_hash.eq(token_hash),
                            $($table::$extra.eq($extra),)*
                            $table::created_at.eq(now),
                            $table::expires_at.eq(expires_at),
                        ))
                        .execute(c)
                        .await
                })?;
                Ok(())
            }

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

            /// How many of the user's tokens are live (unused, not voided, not expired) at `now`.
            pub async fn count_live(
                conn: &mut DbConn,
                user_id: UserId,
                now: NaiveDateTime,
            ) -> AppResult<i64> {
                let count = dispatch!(conn, |c| {
                    $table::table
                        .filter($table::user_id.eq(user_id))
                        .filter($table::used_at.is_null())
                        .filter($table::voided_at.is_null())
                        .filter($table::expires_at.gt(now))
                        .count()
                        .get_result(c)
                        .await
                })?;
                Ok(count)
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

token_table!(invitations, invitations, invited_by: Option<UserId>);
token_table!(password_resets, password_reset_tokens);
token_table!(email_changes, email_change_tokens, new_email: &str, requested_by: Option<UserId>);

/// What only email-change tokens carry: the address waiting for confirmation.
pub mod email_change_details {
    use chrono::NaiveDateTime;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    use crate::db::schema::email_change_tokens as t;
    use crate::db::{DbConn, dispatch};
    use crate::domain::UserId;
    use crate::error::AppResult;

    /// The new address of token `id`.
    pub async fn new_email(conn: &mut DbConn, id: i64) -> AppResult<String> {
        let email = dispatch!(conn, |c| {
            t::table
                .find(id)
                .select(t::new_email)
                .first::<String>(c)
                .await
        })?;
        Ok(email)
    }

    /// The address each of `user_ids` is waiting to confirm (a live link), if any.
    pub async fn pending_of(
        conn: &mut DbConn,
        user_ids: &[UserId],
        now: NaiveDateTime,
    ) -> AppResult<Vec<(UserId, String)>> {
        let rows = dispatch!(conn, |c| {
            t::table
                .filter(t::user_id.eq_any(user_ids))
                .filter(t::used_at.is_null())
                .filter(t::voided_at.is_null())
                .filter(t::expires_at.gt(now))
                .order(t::id.asc())
                .select((t::user_id, t::new_email))
                .load::<(UserId, String)>(c)
                .await
        })?;
        Ok(rows)
    }
}
