//! The audited write path of a versioned table, written once.
//!
//! [`audited_table!`] generates, in a model module, the queries every versioned audited record
//! shares (the pattern of `users.rs`): `find`, `get`, `find_many`, `create` (insert plus CREATE
//! event), `lock` (SELECT … FOR UPDATE on PostgreSQL), `apply` (the optimistic version check,
//! the UPDATE, the diff, the version bump and one UPDATE event; nothing for a no-op) and
//! `update` (`lock` then `apply`). The table needs `id`, `version` and `updated_at` columns;
//! the row type must implement `Audited` and have `id` and `version` fields.

/// `audited_table!(table, Row, IdType, NewRow, RowChanges, "Name")`; the name is what
/// NOT_FOUND and CONFLICT messages call the record.
macro_rules! audited_table {
    ($table:ident, $row:ty, $id:ty, $new:ty, $changes:ty, $what:literal) => {
        pub async fn find(
            conn: &mut $crate::db::DbConn,
            id: $id,
        ) -> $crate::error::AppResult<Option<$row>> {
            use ::diesel::prelude::*;
            use ::diesel_async::RunQueryDsl;
            let row = $crate::db::dispatch!(conn, |c| {
                $crate::db::schema::$table::table
                    .find(id)
                    .select(<$row>::as_select())
                    .first(c)
                    .await
                    .optional()
            })?;
            Ok(row)
        }

        /// The record, or NOT_FOUND.
        pub async fn get(conn: &mut $crate::db::DbConn, id: $id) -> $crate::error::AppResult<$row> {
            find(conn, id)
                .await?
                .ok_or_else(|| $crate::error::AppError::not_found($what))
        }

        pub async fn find_many(
            conn: &mut $crate::db::DbConn,
            ids: &[$id],
        ) -> $crate::error::AppResult<Vec<$row>> {
            use ::diesel::prelude::*;
            use ::diesel_async::RunQueryDsl;
            use $crate::db::schema::$table;
            let rows = $crate::db::dispatch!(conn, |c| {
                $table::table
                    .filter($table::id.eq_any(ids))
                    .select(<$row>::as_select())
                    .load(c)
                    .await
            })?;
            Ok(rows)
        }

        /// Inserts the record and its CREATE audit event.
        pub async fn create(
            tx: &mut $crate::db::WriteTx,
            new_row: $new,
        ) -> $crate::error::AppResult<$row> {
            use ::diesel::prelude::*;
            use ::diesel_async::RunQueryDsl;
            let row = $crate::db::dispatch!(tx.conn()?, |c| {
                ::diesel::insert_into($crate::db::schema::$table::table)
                    .values(&new_row)
                    .returning(<$row>::as_returning())
                    .get_result(c)
                    .await
            })?;
            tx.audit($crate::domain::audit::create_entry(&row)).await?;
            Ok(row)
        }

        /// Reads the record and holds it against concurrent writers until the transaction ends
        /// (SQLite write transactions start with BEGIN IMMEDIATE: the whole database is held).
        pub async fn lock(tx: &mut $crate::db::WriteTx, id: $id) -> $crate::error::AppResult<$row> {
            use ::diesel::prelude::*;
            use ::diesel_async::RunQueryDsl;
            use $crate::db::schema::$table;
            let row = match tx.conn()? {
                $crate::db::DbConn::Postgres(c) => {
                    $table::table
                        .find(id)
                        .select(<$row>::as_select())
                        .for_update()
                        .first(&mut **c)
                        .await
                }
                $crate::db::DbConn::Sqlite(c) => {
                    $table::table
                        .find(id)
                        .select(<$row>::as_select())
                        .first(&mut **c)
                        .await
                }
            }
            .optional()?;
            row.ok_or_else(|| $crate::error::AppError::not_found($what))
        }

        /// Applies `changes` to the locked record `before`: one UPDATE audit event with the
        /// fields that changed, and a version bump; when nothing changed, the record as it was
        /// and no event. With `expected_version`, CONFLICT when someone changed it since the
        /// client read it.
        pub async fn apply(
            tx: &mut $crate::db::WriteTx,
            before: &$row,
            changes: &$changes,
            expected_version: Option<i32>,
        ) -> $crate::error::AppResult<$row> {
            use ::diesel::prelude::*;
            use ::diesel_async::RunQueryDsl;
            use $crate::db::schema::$table;
            if let Some(expected) = expected_version
                && expected != before.version
            {
                return Err($crate::error::AppError::conflict(concat!(
                    "This ",
                    $what,
                    " was changed by someone else. Reload and try again."
                )));
            }
            let id = before.id;
            let now = tx.now();
            // `version` is re-set to its locked value so that a form with no fields is still a
            // valid UPDATE (diesel refuses an empty SET); it is bumped below only on a change.
            let after = $crate::db::dispatch!(tx.conn()?, |c| {
                ::diesel::update($table::table.find(id))
                    .set((changes, $table::version.eq(before.version)))
                    .returning(<$row>::as_returning())
                    .get_result(c)
                    .await
            })?;
            let Some(entry) = $crate::domain::audit::update_entry(before, &after) else {
                return Ok(after);
            };
            let after = $crate::db::dispatch!(tx.conn()?, |c| {
                ::diesel::update($table::table.find(id))
                    .set((
                        $table::version.eq(before.version + 1),
                        $table::updated_at.eq(now),
                    ))
                    .returning(<$row>::as_returning())
                    .get_result(c)
                    .await
            })?;
            tx.audit(entry).await?;
            Ok(after)
        }

        /// `lock` then `apply`.
        pub async fn update(
            tx: &mut $crate::db::WriteTx,
            id: $id,
            changes: &$changes,
            expected_version: Option<i32>,
        ) -> $crate::error::AppResult<$row> {
            let before = lock(tx, id).await?;
            apply(tx, &before, changes, expected_version).await
        }
    };
}
pub(crate) use audited_table;
