//! The audited write path of a versioned table, written once.
//!
//! [`audited_table!`] generates, in a model module, the queries every versioned audited record
//! shares (the pattern of `users.rs`): `find`, `get`, `find_many`, `create` (insert plus CREATE
//! event), `lock` (SELECT … FOR UPDATE on PostgreSQL), `apply` (the optimistic version check,
//! one UPDATE that also bumps the version, the diff and one UPDATE event; nothing for a no-op) and
//! `update` (`lock` then `apply`). The table needs `id`, `version` and `updated_at` columns;
//! the row type must implement `Audited` and have `id` and `version` fields.

/// `audited_table!(table, Row, IdType, NewRow, RowChanges, "Name", audited [col, …],
/// not_audited { col: "reason", … })`; the name is what NOT_FOUND and CONFLICT messages call the
/// record. Every column of `table` in `schema.rs` must be classified: `audited` (it shows in
/// `Audited::audit_fields`) or `not_audited` with the reason. Naming a column schema.rs lacks
/// does not compile; a column neither list names fails the generated
/// `audited_columns::every_column_is_audited_or_listed_with_a_reason` unit test.
macro_rules! audited_table {
    ($table:ident, $row:ty, $id:ty, $new:ty, $changes:ty, $what:literal,
     audited [$($a:ident),* $(,)?],
     not_audited { $($n:ident : $reason:literal),* $(,)? }) => {
        #[cfg(test)]
        mod audited_columns {
            #[test]
            fn every_column_is_audited_or_listed_with_a_reason() {
                use ::diesel::prelude::*;
                use $crate::db::schema::$table;
                let audited: &[&str] = &[$({
                    let _ = $table::$a;
                    stringify!($a)
                }),*];
                let not_audited: &[(&str, &str)] = &[$({
                    let _ = $table::$n;
                    (stringify!($n), $reason)
                }),*];
                let sql = ::diesel::debug_query::<::diesel::pg::Pg, _>(
                    &$table::table.select($table::all_columns),
                )
                .to_string();
                $crate::db::models::audited::check_classification(
                    stringify!($table),
                    &sql,
                    audited,
                    not_audited,
                );
            }
        }

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
            apply_with(tx, before, changes, expected_version, |entry| entry).await
        }

        /// Like [`apply`], letting the caller shape the audit event (action, reason).
        pub async fn apply_with(
            tx: &mut $crate::db::WriteTx,
            before: &$row,
            changes: &$changes,
            expected_version: Option<i32>,
            shape: impl FnOnce($crate::domain::audit::AuditEntry) -> $crate::domain::audit::AuditEntry
                + Send,
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
            // One UPDATE sets the fields and bumps the version on the locked row. A form that
            // changes nothing (known only once the row is back) gets its version and
            // `updated_at` put back: the rare case pays the second statement, and the record
            // ends exactly as it was, with no event.
            let after = $crate::db::dispatch!(tx.conn()?, |c| {
                ::diesel::update($table::table.find(id))
                    .set((
                        changes,
                        $table::version.eq(before.version + 1),
                        $table::updated_at.eq(now),
                    ))
                    .returning(<$row>::as_returning())
                    .get_result(c)
                    .await
            })?;
            let Some(entry) = $crate::domain::audit::update_entry(before, &after) else {
                let unchanged = $crate::db::dispatch!(tx.conn()?, |c| {
                    ::diesel::update($table::table.find(id))
                        .set((
                            $table::version.eq(before.version),
                            $table::updated_at.eq(before.updated_at),
                        ))
                        .returning(<$row>::as_returning())
                        .get_result(c)
                        .await
                })?;
                return Ok(unchanged);
            };
            tx.audit(shape(entry)).await?;
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

        /// `lock` then `apply_with`.
        pub async fn update_with(
            tx: &mut $crate::db::WriteTx,
            id: $id,
            changes: &$changes,
            expected_version: Option<i32>,
            shape: impl FnOnce($crate::domain::audit::AuditEntry) -> $crate::domain::audit::AuditEntry
                + Send,
        ) -> $crate::error::AppResult<$row> {
            let before = lock(tx, id).await?;
            apply_with(tx, &before, changes, expected_version, shape).await
        }
    };
}
pub(crate) use audited_table;

/// The column names of a `SELECT "t"."a", "t"."b" FROM "t"` as diesel prints it.
#[cfg(test)]
pub(crate) fn columns_of(sql: &str) -> Vec<String> {
    let list = sql
        .split_once("SELECT ")
        .and_then(|(_, rest)| rest.split_once(" FROM "))
        .map(|(list, _)| list)
        .unwrap_or_default();
    list.split(", ")
        .filter_map(|c| {
            c.rsplit_once('.')
                .map(|(_, name)| name.trim_matches('"').to_owned())
        })
        .collect()
}

/// Fails, naming them, on columns of `table` (from schema.rs, in `sql`) that neither list
/// classifies, on names listed twice, and on a `not_audited` entry with no reason.
#[cfg(test)]
pub(crate) fn check_classification(
    table: &str,
    sql: &str,
    audited: &[&str],
    not_audited: &[(&str, &str)],
) {
    let columns = columns_of(sql);
    assert!(!columns.is_empty(), "{table}: no columns read from {sql}");
    let classified: Vec<&str> = audited
        .iter()
        .copied()
        .chain(not_audited.iter().map(|(name, _)| *name))
        .collect();
    let unclassified: Vec<&String> = columns
        .iter()
        .filter(|c| !classified.contains(&c.as_str()))
        .collect();
    assert!(
        unclassified.is_empty(),
        "{table}: column(s) {unclassified:?} are neither audited nor listed as not audited \
         with a reason: add each to `audited [..]` (and to `Audited::audit_fields`) or to \
         `not_audited {{ column: \"why\" }}` in its `audited_table!`"
    );
    let mut seen = std::collections::HashSet::new();
    for name in &classified {
        assert!(
            seen.insert(*name),
            "{table}: column `{name}` is classified twice"
        );
    }
    for (name, reason) in not_audited {
        assert!(
            !reason.trim().is_empty(),
            "{table}: `{name}` needs a reason"
        );
    }
}

/// Every diesel write (`diesel::insert_into`/`update`/`delete`, by `t::table` or a dsl alias)
/// outside this file, by file and table, with why it may bypass the generated audited path.
/// Raw SQL writes (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t` of a table in `schema.rs`) are
/// scanned too. The scan below fails on a write not listed here, so a new write to an audited
/// table needs a reviewed entry.
#[cfg(test)]
const WRITES_OUTSIDE_THE_AUDITED_PATH: &[(&str, &str, &str)] = &[
    (
        "src/db/audit.rs",
        "audit_events",
        "the audit trail itself (append-only triggers)",
    ),
    (
        "src/db/audit.rs",
        "$table",
        "insert_all!: the audit trail's own change and ref rows (append-only triggers)",
    ),
    (
        "src/db/audit.rs",
        "audit_changes",
        "the audit trail itself: the audited write's change rows (append-only triggers)",
    ),
    (
        "src/db/audit.rs",
        "audit_event_refs",
        "the audit trail itself: the audited write's ref rows (append-only triggers)",
    ),
    (
        "src/db/audit/seed.rs",
        "audit_events",
        "seed-audit: fake events for benchmarks, refused in production",
    ),
    (
        "src/db/audit/seed.rs",
        "audit_changes",
        "seed-audit: fake events for benchmarks, refused in production",
    ),
    (
        "src/db/audit/seed.rs",
        "audit_event_refs",
        "seed-audit: fake events for benchmarks, refused in production",
    ),
    (
        "src/db/audit/seal.rs",
        "audit_seals",
        "the seal chain over the audit trail",
    ),
    (
        "src/db/models/memberships.rs",
        "company_memberships",
        "removal writes its DELETE event through WriteTx::audit",
    ),
    (
        "src/db/models/memberships.rs",
        "team_memberships",
        "unversioned link; add and remove write their events through WriteTx::audit",
    ),
    (
        "src/db/models/outbox.rs",
        "mail_outbox",
        "not audited: mail delivery bookkeeping",
    ),
    (
        "src/db/models/outbox.rs",
        "target",
        "not audited: renewing the worker's own lease on mail_outbox rows",
    ),
    (
        "src/db/models/playbooks.rs",
        "playbooks",
        "versioned by playbook_versions; writes its events through WriteTx::audit",
    ),
    (
        "src/db/models/playbooks.rs",
        "playbook_versions",
        "append-only versions; events through WriteTx::audit",
    ),
    (
        "src/db/models/recovery_codes.rs",
        "recovery_codes",
        "not audited: credentials (the 2FA events record their use)",
    ),
    (
        "src/db/models/reset_requests.rs",
        "password_reset_requests",
        "not audited: queued reset requests, resolved by the mail worker (the reset itself is audited)",
    ),
    (
        "src/db/models/sessions.rs",
        "sessions",
        "not audited: sign-in sessions",
    ),
    (
        "src/db/models/throttles.rs",
        "sign_in_throttles",
        "not audited: limiter state",
    ),
    (
        "src/db/models/tokens.rs",
        "$table",
        "single_use_tokens!: invitation, reset and email-change token tables (credentials; callers audit their use)",
    ),
    (
        "src/db/models/users.rs",
        "users",
        "sign-in bookkeeping, the TOTP step, credentials_version: not_audited columns only; upgrade_password_hash rewrites the hash of the same password under today's parameters, the one write of an audited column here: not a password change, so no field change, and the SIGN_IN event of the same transaction carries the reason `sessions::PASSWORD_REHASHED`",
    ),
];

#[cfg(test)]
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file, table) of each `insert_into(t::table` / `update(t::table` / `delete(t::table` in `src/`,
/// and of each raw SQL write to a `schema.rs` table.
#[cfg(test)]
fn diesel_writes() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let tables = schema_tables();
    let mut writes = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let name = file
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        for call in ["diesel::insert_into(", "diesel::update(", "diesel::delete("] {
            for (at, _) in text.match_indices(call) {
                let rest = text[at + call.len()..].trim_start();
                let path: String = rest
                    .chars()
                    .take_while(|c| {
                        c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '$'
                    })
                    .collect();
                // `t::table`, `schema::t::table`, or a dsl alias `alias::t`: the table is the
                // last segment that is not `table`.
                let path = path.strip_suffix("::table").unwrap_or(&path);
                let table = path.rsplit("::").next().unwrap_or(path).to_owned();
                writes.push((name.clone(), table));
            }
        }
        for (table, _) in raw_sql_writes(&text) {
            if tables.contains(&table) {
                writes.push((name.clone(), table));
            }
        }
    }
    writes.sort();
    writes.dedup();
    writes
}

/// The tables `src/db/schema.rs` declares.
#[cfg(test)]
fn schema_tables() -> Vec<String> {
    let schema = include_str!("../schema.rs");
    schema
        .match_indices("diesel::table! {")
        .filter_map(|(at, found)| {
            let rest = schema[at + found.len()..].trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// `(table, statement)` of each `INSERT INTO t`, `UPDATE t` and `DELETE FROM t` in `text`
/// (SQL is written in upper case here; what follows must be an identifier).
#[cfg(test)]
fn raw_sql_writes(text: &str) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for statement in ["INSERT INTO ", "UPDATE ", "DELETE FROM "] {
        for (at, _) in text.match_indices(statement) {
            let rest = text[at + statement.len()..].trim_start_matches([' ', '"', '\\']);
            let table: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !table.is_empty() {
                found.push((table, statement.trim_end()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_write_outside_the_audited_path_is_unreviewed() {
        let writes = super::diesel_writes();
        assert!(
            writes.iter().any(|(f, _)| f == "src/db/models/audited.rs"),
            "the scan found no write in audited.rs itself: it reads nothing ({writes:?})"
        );
        let unlisted: Vec<_> = writes
            .iter()
            .filter(|(file, table)| {
                file != "src/db/models/audited.rs"
                    && !super::WRITES_OUTSIDE_THE_AUDITED_PATH
                        .iter()
                        .any(|(f, t, _)| f == file && t == table)
            })
            .collect();
        assert!(
            unlisted.is_empty(),
            "diesel writes outside the audited path that WRITES_OUTSIDE_THE_AUDITED_PATH does not \
             list (write audited tables through audited_table!'s create/apply, or list the write \
             with its reason): {unlisted:?}"
        );
        let stale: Vec<_> = super::WRITES_OUTSIDE_THE_AUDITED_PATH
            .iter()
            .filter(|(f, t, _)| !writes.iter().any(|(file, table)| file == f && table == t))
            .collect();
        assert!(
            stale.is_empty(),
            "listed writes that no longer exist: {stale:?}"
        );
    }

    #[test]
    fn raw_sql_writes_are_seen() {
        let found = super::raw_sql_writes(
            "sql_query(\"UPDATE companies SET name = 'x'\"); \"INSERT INTO \\\"users\\\" (id)\"; DELETE FROM teams",
        );
        let tables: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(tables, ["users", "companies", "teams"]);
        assert!(super::schema_tables().iter().any(|t| t == "companies"));
        assert!(super::schema_tables().len() >= 10);
    }

    #[test]
    fn reads_the_columns_diesel_prints() {
        assert_eq!(
            super::columns_of(r#"SELECT "t"."id", "t"."name" FROM "t" -- binds: []"#),
            vec!["id", "name"]
        );
    }

    #[test]
    #[should_panic(expected = "[\"name\"] are neither audited")]
    fn an_unclassified_column_fails() {
        super::check_classification(
            "t",
            r#"SELECT "t"."id", "t"."name" FROM "t""#,
            &[],
            &[("id", "the key")],
        );
    }
}
