//! `portal-admin audit grant-reader ROLE` (PostgreSQL): lets an existing role read the audit
//! views `audit_log` and `audit_log_events`, and nothing else of this database, so an engineer's
//! ad-hoc session can answer "who changed that rate" without being able to touch users, sessions
//! or the audit tables themselves.
//!
//! A view reads its tables with its owner's rights, so SELECT on the two views is all a reader
//! needs. The grant revokes whatever else the role was granted directly on this schema's tables
//! and sequences, then checks, relation by relation, what the role can still reach (through
//! PUBLIC or a role it is a member of) and refuses, naming the relations, rather than leave a
//! reader that is not one. Superusers, the owner itself and members of the owner are refused
//! before anything changes.

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    TransactionManager,
};

use crate::db::{Database, DbConn};
use crate::error::{AppError, AppResult};

/// The views a reader may SELECT.
pub const READER_VIEWS: [&str; 2] = ["audit_log", "audit_log_events"];

#[derive(Debug, QueryableByName)]
struct RoleFacts {
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    is_owner: bool,
    #[diesel(sql_type = Bool)]
    member_of_owner: bool,
    #[diesel(sql_type = Text)]
    role_ident: String,
    #[diesel(sql_type = Text)]
    database_ident: String,
    #[diesel(sql_type = Text)]
    schema_ident: String,
}

#[derive(Debug, QueryableByName)]
struct Relation {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Makes `role` a reader of the audit views; returns what it can read afterwards (the views).
pub async fn grant_reader(db: &Database, role: &str) -> AppResult<Vec<String>> {
    let mut conn = db.conn().await?;
    let DbConn::Postgres(pooled) = &mut conn else {
        return Err(AppError::bad_input(
            "role",
            "SQLite has no roles: give engineers a read-only copy of the file \
             (`sqlite3 -readonly`) or `portal-admin audit query`.",
        ));
    };
    let c: &mut AsyncPgConnection = pooled;
    // One transaction: a refusal after the grants leaves the role as it was.
    AnsiTransactionManager::begin_transaction(c).await?;
    let granted = grant(c, role).await;
    match &granted {
        Ok(_) => AnsiTransactionManager::commit_transaction(c).await?,
        Err(_) => AnsiTransactionManager::rollback_transaction(c).await?,
    }
    granted
}

async fn grant(c: &mut AsyncPgConnection, role: &str) -> AppResult<Vec<String>> {
    let facts: Option<RoleFacts> = diesel::sql_query(
        "SELECT r.rolsuper AS superuser,
                r.rolname = current_user AS is_owner,
                pg_has_role(r.oid, current_user, 'USAGE') AS member_of_owner,
                quote_ident(r.rolname) AS role_ident,
                quote_ident(current_database()) AS database_ident,
                quote_ident(current_schema()) AS schema_ident
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind::<Text, _>(role)
    .get_result(c)
    .await
    .map(Some)
    .or_else(|err| match err {
        diesel::result::Error::NotFound => Ok(None),
        other => Err(other),
    })?;
    let Some(facts) = facts else {
        return Err(AppError::bad_input(
            "role",
            format!(
                "There is no role `{role}`. Create it first, e.g. \
                 CREATE ROLE \"{role}\" LOGIN PASSWORD '…'."
            ),
        ));
    };
    if facts.superuser || facts.is_owner || facts.member_of_owner {
        return Err(AppError::bad_input(
            "role",
            format!(
                "`{role}` is a superuser, the database owner or a member of it: it can read and \
                 write everything, so it cannot be made a reader only. Create a role of its own."
            ),
        ));
    }
    let (r, database, schema) = (
        &facts.role_ident,
        &facts.database_ident,
        &facts.schema_ident,
    );
    let views = READER_VIEWS.join(", ");
    c.batch_execute(&format!(
        "GRANT CONNECT ON DATABASE {database} TO {r};
         GRANT USAGE ON SCHEMA {schema} TO {r};
         REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {r};
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {r};
         REVOKE CREATE ON SCHEMA {schema} FROM {r};
         GRANT SELECT ON {views} TO {r};"
    ))
    .await?;
    // What the role reaches now, directly, through PUBLIC or through its memberships.
    let reachable: Vec<Relation> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_class c
         WHERE c.relnamespace = current_schema()::text::regnamespace
           AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')
           AND (has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                OR (c.relkind = 'S' AND has_sequence_privilege($1, c.oid, 'USAGE, SELECT, UPDATE')))
         ORDER BY 1",
    )
    .bind::<Text, _>(role)
    .load(c)
    .await?;
    let names: Vec<String> = reachable.into_iter().map(|r| r.name).collect();
    let beyond: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| !READER_VIEWS.contains(name))
        .collect();
    if !beyond.is_empty() {
        return Err(AppError::conflict(format!(
            "`{role}` still reaches {} through PUBLIC or a role it is a member of; revoke those \
             grants (or use a role of its own) and run this again. Nothing was changed.",
            beyond.join(", ")
        )));
    }
    Ok(names)
}
