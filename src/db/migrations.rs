//! Embedded migrations, one set per dialect, run at start-up and by `portal-admin migrate`.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DatabaseUrl;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any constant: migrating instances of the service take turns on this advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x706f_7274_616c;

/// Every SQLite connection gets these: WAL so readers never block the writer, foreign keys
/// enforced, and a busy timeout instead of failing at once when another process writes.
pub(super) fn apply_sqlite_pragmas(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA busy_timeout = 5000",
    ] {
        diesel::sql_query(pragma).execute(conn)?;
    }
    Ok(())
}

/// Creates the folder a SQLite file is to live in.
pub(super) fn prepare_sqlite_path(path: &str) -> anyhow::Result<()> {
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// Applies pending migrations to the database `database_url` names; returns the versions applied.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    migrate(&DatabaseUrl::parse(database_url)?).await
}

/// Applies pending migrations; returns the versions applied.
pub async fn migrate(database_url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    let applied = match database_url.clone() {
        DatabaseUrl::Postgres(url) => {
            let mut conn = AsyncPgConnection::establish(url.expose()).await?;
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .await?;
            let (mut conn, applied) = tokio::task::spawn_blocking(move || {
                let mut harness = AsyncMigrationHarness::new(conn);
                let applied = harness
                    .run_pending_migrations(POSTGRES)
                    .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
                (harness.into_inner(), applied)
            })
            .await?;
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .await?;
            applied?
        }
        DatabaseUrl::Sqlite(path) => {
            prepare_sqlite_path(&path)?;
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
                let mut conn = SqliteConnection::establish(&path)?;
                apply_sqlite_pragmas(&mut conn)?;
                let versions = conn
                    .run_pending_migrations(SQLITE)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
                Ok(versions.iter().map(ToString::to_string).collect())
            })
            .await??
        }
    };
    Ok(applied)
}
