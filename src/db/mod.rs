//! The data layer: the only module that knows diesel and the two backends.
//!
//! One portable [`schema`] serves PostgreSQL (`AsyncPgConnection`) and SQLite
//! (`SyncConnectionWrapper<SqliteConnection>`), each behind a deadpool pool. A [`DbConn`] is an
//! enum of the two pooled connections; [`dispatch!`] runs the same diesel query against whichever
//! it holds, so query code is written once and compiled for both. (This is the shape an async
//! `MultiConnection` would take; if diesel-async grows one, `DbConn` becomes that type and the
//! query functions stay as they are.)
//!
//! Writes to audited tables happen only inside [`Database::write`], which opens the transaction
//! together with the audit actor: the functions that change audited records take a [`WriteTx`],
//! and write their audit rows through it before the transaction commits.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager};
use futures::FutureExt;
use futures::future::BoxFuture;
use scoped_futures::ScopedBoxFuture;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::AuditEventId;
use crate::domain::audit::{AuditActor, AuditEntry};
use crate::error::{AppError, AppResult};

pub mod audit;
pub mod explain;
pub mod health;
mod migrations;
pub mod models;
mod request;
pub mod schema;
mod types;

pub use migrations::{migrate, run_migrations};
pub use request::{in_current_request, release_request_connection, request_scope};

type SqliteConn = SyncConnectionWrapper<diesel::SqliteConnection>;

/// Runs `$body` with `$c` bound to the concrete connection (`&mut AsyncPgConnection` or
/// `&mut SyncConnectionWrapper<SqliteConnection>`). The body is compiled once per backend.
macro_rules! dispatch {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres(pooled) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **pooled;
                $body
            }
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut ::diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
                    ::diesel::SqliteConnection,
                > = &mut **pooled;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub use crate::config::DatabaseUrl;

impl DatabaseUrl {
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Clone)]
enum Pools {
    Postgres(deadpool::managed::Pool<PgManager>),
    Sqlite(deadpool::managed::Pool<SqliteManager>),
}

/// How long a pooled PostgreSQL connection is trusted without a check (HikariCP's
/// `aliveBypassWindow`): one used this recently goes out as it is; one idle longer is verified
/// with a `SELECT 1` first, and replaced when that fails (after a restart or failover, every
/// pooled connection is dead without knowing it).
pub const PG_ALIVE_BYPASS_WINDOW: Duration = Duration::from_millis(500);

/// diesel-async's PostgreSQL manager, with a recycle that costs a statement only after
/// [`PG_ALIVE_BYPASS_WINDOW`] of idleness (diesel-async's `Verified` runs `SELECT 1` on every
/// checkout, which was a third of a simple request's statements).
pub struct PgManager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    window: Duration,
    /// A connection older than this is discarded at checkout (`DATABASE_MAX_LIFETIME_SECONDS`).
    max_lifetime: Duration,
    /// Liveness checks run (each is one `SELECT 1`), counted apart from requests' statements.
    checks: Arc<std::sync::atomic::AtomicU64>,
}

impl deadpool::managed::Manager for PgManager {
    type Type = AsyncPgConnection;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, Self::Error> {
        deadpool::managed::Manager::create(&self.inner).await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        if std::thread::panicking() || conn.is_broken() {
            return Err(deadpool::managed::RecycleError::Message(
                "broken connection".into(),
            ));
        }
        if metrics.age() >= self.max_lifetime {
            return Err(deadpool::managed::RecycleError::Message(
                "connection past its max lifetime".into(),
            ));
        }
        if pg_refused_as_read_only(conn) {
            tracing::warn!("discarding a connection to a read-only server (failover?)");
            return Err(deadpool::managed::RecycleError::Message(
                "connection to a read-only server".into(),
            ));
        }
        if metrics.last_used() >= self.window {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            conn.ping(&RecyclingMethod::Verified)
                .await
                .map_err(diesel_async::pooled_connection::PoolError::QueryError)?;
        }
        Ok(())
    }
}

/// A pooled connection that, inside a [`request_scope`], goes back to its request instead of
/// the pool when dropped (see [`request`]).
pub struct Pooled<M: deadpool::managed::Manager + 'static> {
    /// `None` only while being dropped.
    object: Option<deadpool::managed::Object<M>>,
    home: Option<Arc<request::RequestSlot>>,
    /// Whether the connection may serve the request's next use (outside any transaction).
    reusable: fn(&mut M::Type) -> bool,
}

impl<M: deadpool::managed::Manager + 'static> Pooled<M> {
    fn new(object: deadpool::managed::Object<M>, reusable: fn(&mut M::Type) -> bool) -> Self {
        Self {
            object: Some(object),
            home: request::current(),
            reusable,
        }
    }
}

impl<M: deadpool::managed::Manager + 'static> std::ops::Deref for Pooled<M> {
    type Target = M::Type;

    fn deref(&self) -> &M::Type {
        match &self.object {
            Some(object) => object,
            None => unreachable!("a pooled connection is used only before it is dropped"),
        }
    }
}

impl<M: deadpool::managed::Manager + 'static> std::ops::DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Type {
        match &mut self.object {
            Some(object) => object,
            None => unreachable!("a pooled connection is used only before it is dropped"),
        }
    }
}

impl<M: deadpool::managed::Manager + 'static> Drop for Pooled<M> {
    fn drop(&mut self) {
        if let (Some(mut object), Some(home)) = (self.object.take(), self.home.take())
            && (self.reusable)(&mut object)
        {
            home.put(Box::new(object));
        }
    }
}

fn pg_reusable(conn: &mut AsyncPgConnection) -> bool {
    type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;
    !conn.is_broken()
        && !pg_refused_as_read_only(conn)
        && matches!(
            Tm::transaction_manager_status_mut(conn).transaction_depth(),
            Ok(None)
        )
}

/// A SQLite connection is checked on its own thread by the pool's recycle; within a request it
/// comes back only after its transactions have ended (`WriteTx` commits or rolls back first).
fn sqlite_reusable(_: &mut SqliteConn) -> bool {
    true
}

/// diesel-async's manager for SQLite, with a recycle check that cannot panic.
///
/// A SQLite connection runs each statement on a blocking thread that shares the connection. When
/// a request is dropped mid-statement (its deadline passed, the client went away), the connection
/// goes back to the pool while that thread still holds it, and diesel-async's own check
/// (`is_broken`) panics on a shared connection. This check waits its turn on the connection
/// instead, then discards it if a transaction was left open (closing it rolls that back).
pub struct SqliteManager(AsyncDieselConnectionManager<SqliteConn>);

impl deadpool::managed::Manager for SqliteManager {
    type Type = SqliteConn;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<SqliteConn, Self::Error> {
        deadpool::managed::Manager::create(&self.0).await
    }

    async fn recycle(
        &self,
        conn: &mut SqliteConn,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        let idle = conn
            .spawn_blocking(|inner| {
                let status =
                    <diesel::connection::AnsiTransactionManager as diesel::connection::TransactionManager<
                        diesel::SqliteConnection,
                    >>::transaction_manager_status_mut(inner);
                Ok(matches!(status.transaction_depth(), Ok(None)))
            })
            .await
            .map_err(diesel_async::pooled_connection::PoolError::QueryError)?;
        if idle {
            Ok(())
        } else {
            Err(deadpool::managed::RecycleError::Message(
                "connection returned inside a transaction".into(),
            ))
        }
    }
}

/// Counts the SQL statements every pooled connection runs (for `/metrics`, and for tests that
/// pin how many statements a request costs).
#[derive(Clone, Default)]
struct StatementCounter(Arc<std::sync::atomic::AtomicU64>);

impl diesel::connection::Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A PostgreSQL connection's instrumentation: counts its statements, and remembers whether the
/// server refused one as a read-only transaction (SQLSTATE 25006: after a failover the old
/// primary, still reachable, is now a standby). Such a connection is discarded, not reused.
struct PgInstrumentation {
    counter: StatementCounter,
    refused_as_read_only: bool,
}

impl diesel::connection::Instrumentation for PgInstrumentation {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent;
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.counter
                    .0
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery {
                error: Some(DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _)),
                ..
            } => self.refused_as_read_only = true,
            _ => {}
        }
    }
}

/// Whether the server refused a statement of `conn` as read-only (see [`PgInstrumentation`]).
/// diesel-async panics when the instrumentation is shared with a statement still in flight;
/// such a connection is not trusted either.
fn pg_refused_as_read_only(conn: &mut AsyncPgConnection) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        conn.instrumentation()
            .downcast_ref::<PgInstrumentation>()
            .is_some_and(|instrumentation| instrumentation.refused_as_read_only)
    }))
    .unwrap_or(true)
}

/// Pool checkouts, for `/metrics`: how many, how many failed, and the time spent waiting.
#[derive(Default)]
struct CheckoutCounters {
    checkouts: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
    wait_nanos: std::sync::atomic::AtomicU64,
}

/// Pool checkout totals since start (see [`Database::checkouts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Checkouts {
    pub total: u64,
    pub failed: u64,
    pub wait_seconds: f64,
}

/// The pooled database handle the whole service shares.
#[derive(Clone)]
pub struct Database {
    statements: StatementCounter,
    checkouts: Arc<CheckoutCounters>,
    liveness_checks: Arc<std::sync::atomic::AtomicU64>,
    pools: Pools,
    clock: Clock,
    /// SQLite allows one writer; write transactions queue here instead of failing with
    /// SQLITE_BUSY when a deferred transaction cannot upgrade its lock.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// Wakes this instance's mail worker when a transaction that enqueued mail commits.
    outbox_wakeup: Arc<tokio::sync::Notify>,
}

/// A pooled connection of either backend.
// Not boxed: a DbConn lives on the stack for one request; boxing would allocate per checkout.
#[allow(clippy::large_enum_variant)]
pub enum DbConn {
    Postgres(Pooled<PgManager>),
    Sqlite(Pooled<SqliteManager>),
}

/// Pool usage, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

struct Timeouts {
    connect: Duration,
    statement: Duration,
}

fn sqlite_setup(
    path: &str,
    counter: StatementCounter,
) -> BoxFuture<'static, diesel::ConnectionResult<SqliteConn>> {
    let path = path.to_owned();
    async move {
        tokio::task::spawn_blocking(move || {
            use diesel::Connection;
            let mut conn = diesel::SqliteConnection::establish(&path)?;
            migrations::apply_sqlite_pragmas(&mut conn)
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            diesel::Connection::set_instrumentation(&mut conn, counter);
            Ok(SyncConnectionWrapper::new(conn))
        })
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?
    }
    .boxed()
}

/// The driver's configuration of a new PostgreSQL connection: `url` plus bounded socket waits.
/// Unless the URL sets them itself: the connect timeout, a TCP user timeout (data left
/// unacknowledged that long cuts the connection: a blackholed server fails the statement
/// instead of hanging for the kernel's retransmission limit, about 15 minutes), and keepalives
/// probing an idle connection after that long (every second, three times).
fn pg_config(url: &str, bound: Duration) -> diesel::ConnectionResult<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = url.parse().map_err(|err| {
        diesel::ConnectionError::InvalidConnectionUrl(format!("DATABASE_URL: {err}"))
    })?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(bound);
    }
    if pg.get_tcp_user_timeout().is_none() {
        pg.tcp_user_timeout(bound);
    }
    if !url.contains("keepalives") {
        pg.keepalives(true)
            .keepalives_idle(bound)
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(3);
    }
    Ok(pg)
}

async fn pg_establish(
    url: &str,
    timeouts: &Timeouts,
) -> diesel::ConnectionResult<AsyncPgConnection> {
    let pg = pg_config(url, timeouts.connect)?;
    let connect = async {
        let (client, connection) = pg
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|err| diesel::ConnectionError::BadConnection(err.to_string()))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    };
    let mut conn = tokio::time::timeout(timeouts.connect, connect)
        .await
        .map_err(|_| diesel::ConnectionError::BadConnection("connect timed out".into()))??;
    let statement_ms = timeouts.statement.as_millis();
    conn.batch_execute(&format!(
        "SET statement_timeout = {statement_ms}; SET lock_timeout = {statement_ms}; \
         SET idle_in_transaction_session_timeout = {}; SET TIME ZONE 'UTC'",
        statement_ms * 4
    ))
    .await
    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    Ok(conn)
}

impl Database {
    /// What every command that uses the database does: applies pending migrations, then opens
    /// the pool ([`Database::connect`]). The one place the binary opens its database. Also
    /// returns the versions the migrations applied.
    pub async fn open(config: &Config, clock: Clock) -> anyhow::Result<(Self, Vec<String>)> {
        let applied = migrate(&config.database_url).await?;
        Ok((Self::connect(config, clock)?, applied))
    }

    /// Opens the pool for `config.database_url`. Connections are made lazily, so this succeeds
    /// while the database is down; requests then answer UNAVAILABLE until it is back.
    pub fn connect(config: &Config, clock: Clock) -> anyhow::Result<Self> {
        let url = config.database_url.clone();
        let wait = Duration::from_secs(config.database_pool_wait_seconds.max(1));
        let bound = Duration::from_secs(config.database_timeout_seconds.max(1));
        let timeouts = Arc::new(Timeouts {
            connect: bound,
            statement: Duration::from_secs(config.database_statement_timeout_seconds.max(1)),
        });
        let runtime = deadpool::Runtime::Tokio1;
        let statements = StatementCounter::default();
        let liveness_checks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pools = match url {
            DatabaseUrl::Postgres(url) => {
                // Recycling verifies a connection idle longer than the alive-bypass window (see
                // `PgManager`), not every checkout.
                let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
                let counter = statements.clone();
                manager_config.custom_setup = Box::new(move |url| {
                    let timeouts = timeouts.clone();
                    let url = url.to_owned();
                    let counter = counter.clone();
                    async move {
                        let mut conn = pg_establish(&url, &timeouts).await?;
                        conn.set_instrumentation(PgInstrumentation {
                            counter,
                            refused_as_read_only: false,
                        });
                        Ok(conn)
                    }
                    .boxed()
                });
                manager_config.recycling_method = RecyclingMethod::Fast;
                let manager = PgManager {
                    inner: AsyncDieselConnectionManager::new_with_config(
                        url.expose(),
                        manager_config,
                    ),
                    window: PG_ALIVE_BYPASS_WINDOW,
                    max_lifetime: Duration::from_secs(config.database_max_lifetime_seconds.max(1)),
                    checks: liveness_checks.clone(),
                };
                Pools::Postgres(
                    deadpool::managed::Pool::builder(manager)
                        .max_size(config.database_pool_size)
                        .wait_timeout(Some(wait))
                        .create_timeout(Some(bound))
                        .recycle_timeout(Some(bound))
                        .runtime(runtime)
                        .build()?,
                )
            }
            DatabaseUrl::Sqlite(path) => {
                migrations::prepare_sqlite_path(&path)?;
                let mut manager_config = ManagerConfig::<SqliteConn>::default();
                let counter = statements.clone();
                manager_config.custom_setup =
                    Box::new(move |path| sqlite_setup(path, counter.clone()));
                let manager = SqliteManager(AsyncDieselConnectionManager::new_with_config(
                    path,
                    manager_config,
                ));
                Pools::Sqlite(
                    deadpool::managed::Pool::builder(manager)
                        .max_size(config.database_pool_size)
                        .wait_timeout(Some(wait))
                        .create_timeout(Some(bound))
                        .recycle_timeout(Some(bound))
                        .runtime(runtime)
                        .build()?,
                )
            }
        };
        Ok(Self {
            statements,
            checkouts: Arc::default(),
            liveness_checks,
            pools,
            clock,
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
            outbox_wakeup: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Notified after a write transaction that enqueued mail commits (see
    /// [`WriteTx::wake_outbox_on_commit`]); the mail worker waits on it between polls.
    pub fn outbox_wakeup(&self) -> &Arc<tokio::sync::Notify> {
        &self.outbox_wakeup
    }

    /// A connection from the pool, for reads and for single-statement writes to tables that are
    /// not audited. Fails with UNAVAILABLE after the pool wait timeout.
    pub async fn conn(&self) -> AppResult<DbConn> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(conn) = self.request_conn() {
            return Ok(conn);
        }
        let started = std::time::Instant::now();
        let conn = match &self.pools {
            Pools::Postgres(pool) => pool
                .get()
                .await
                .map(|object| DbConn::Postgres(Pooled::new(object, pg_reusable))),
            Pools::Sqlite(pool) => pool
                .get()
                .await
                .map(|object| DbConn::Sqlite(Pooled::new(object, sqlite_reusable))),
        };
        let counters = &self.checkouts;
        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counters.wait_nanos.fetch_add(waited, Relaxed);
        counters.checkouts.fetch_add(1, Relaxed);
        if conn.is_err() {
            counters.failures.fetch_add(1, Relaxed);
        }
        conn.map_err(pool_error)
    }

    /// The idle connection of the current request, if it holds one of this pool's.
    fn request_conn(&self) -> Option<DbConn> {
        let slot = request::current()?;
        let held = slot.take()?;
        // A connection of another pool (a second `Database` in one request) fails the downcast
        // and, dropped, goes back to its own pool.
        match &self.pools {
            Pools::Postgres(_) => held
                .downcast::<deadpool::managed::Object<PgManager>>()
                .ok()
                .map(|object| DbConn::Postgres(Pooled::new(*object, pg_reusable))),
            Pools::Sqlite(_) => held
                .downcast::<deadpool::managed::Object<SqliteManager>>()
                .ok()
                .map(|object| DbConn::Sqlite(Pooled::new(*object, sqlite_reusable))),
        }
    }

    /// Pool checkouts since start, with the time they waited.
    pub fn checkouts(&self) -> Checkouts {
        use std::sync::atomic::Ordering::Relaxed;
        Checkouts {
            total: self.checkouts.checkouts.load(Relaxed),
            failed: self.checkouts.failures.load(Relaxed),
            wait_seconds: self.checkouts.wait_nanos.load(Relaxed) as f64 / 1e9,
        }
    }

    /// Liveness checks (`SELECT 1`) the pool ran on PostgreSQL connections idle longer than
    /// [`PG_ALIVE_BYPASS_WINDOW`]; included in [`Database::statements_executed`].
    pub fn liveness_checks(&self) -> u64 {
        self.liveness_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// SQL statements run so far by this pool's connections.
    pub fn statements_executed(&self) -> u64 {
        self.statements.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn pool_status(&self) -> PoolStatus {
        let status = match &self.pools {
            Pools::Postgres(pool) => pool.status(),
            Pools::Sqlite(pool) => pool.status(),
        };
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Answers whether the database takes a query now.
    pub async fn ping(&self) -> AppResult<()> {
        let mut conn = self.conn().await?;
        dispatch!(&mut conn, |c| c.batch_execute("SELECT 1").await)?;
        Ok(())
    }

    /// Answers whether the database can take a write within `timeout` (for `/readyz`): a
    /// write transaction that takes the write lock (SQLite: this instance's writer slot, then
    /// `BEGIN IMMEDIATE`; PostgreSQL: a transaction id, refused on a read-only standby) and
    /// rolls back. A locked SQLite file or a frozen server fails it in `timeout`.
    pub async fn ping_write(&self, timeout: Duration) -> AppResult<()> {
        let probe = async {
            let writer = match self.backend() {
                Backend::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
                Backend::Postgres => None,
            };
            let mut conn = self.conn().await?;
            begin_write(&mut conn).await?;
            if let DbConn::Postgres(c) = &mut conn {
                c.batch_execute("SELECT pg_current_xact_id()").await?;
            }
            finish_uncancelled(conn, false, writer).await
        };
        tokio::time::timeout(timeout, probe)
            .await
            .map_err(|_| AppError::Unavailable)?
    }

    /// Runs raw SQL statements outside any audit context. For operators' maintenance and for
    /// tests that tamper with the database behind the application's back; never for requests.
    pub async fn execute_sql(&self, sql: &str) -> AppResult<()> {
        let mut conn = self.conn().await?;
        dispatch!(&mut conn, |c| c.batch_execute(sql).await)?;
        Ok(())
    }

    pub fn close(&self) {
        match &self.pools {
            Pools::Postgres(pool) => pool.close(),
            Pools::Sqlite(pool) => pool.close(),
        }
    }

    /// Runs `work` in one transaction with audit context `actor`. The transaction commits when
    /// `work` returns `Ok` and rolls back (changing nothing) when it returns `Err` or is dropped.
    ///
    /// This is the only way to obtain a [`WriteTx`], and the functions that change audited tables
    /// require one: a change without its audit rows cannot be written by accident.
    ///
    /// `work` returns `async move { … }.scope_boxed()` (`scoped_futures::ScopedFutureExt`), which
    /// lets the future borrow both the transaction and the caller's data.
    pub async fn write<'a, T, F>(&self, actor: AuditActor, work: F) -> AppResult<T>
    where
        T: Send + 'a,
        F: for<'t> FnOnce(&'t mut WriteTx) -> ScopedBoxFuture<'a, 't, AppResult<T>> + Send + 'a,
    {
        let writer = match self.backend() {
            Backend::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let mut conn = self.conn().await?;
        begin_write(&mut conn).await?;
        let mut tx = WriteTx {
            conn: Some(conn),
            _writer: writer,
            actor,
            now: self.clock.now(),
            wake_outbox: false,
        };
        let outcome = work(&mut tx).await;
        let writer = tx._writer.take();
        let Some(conn) = tx.conn.take() else {
            return Err(AppError::internal(anyhow::anyhow!(
                "transaction connection lost"
            )));
        };
        match outcome {
            Ok(value) => {
                finish_uncancelled(conn, true, writer).await?;
                if tx.wake_outbox {
                    self.outbox_wakeup.notify_one();
                }
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = finish_uncancelled(conn, false, writer).await {
                    tracing::warn!(error = ?rollback, "rollback failed");
                }
                Err(err)
            }
        }
    }
}

/// Commits or rolls back on a task of its own, so that a request dropped now (its deadline
/// passed, the client went away) never leaves a commit half done, and SQLite's writer slot is
/// released only once the transaction has ended.
async fn finish_uncancelled(
    mut conn: DbConn,
    commit: bool,
    writer: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> AppResult<()> {
    tokio::spawn(async move {
        let finished = finish(&mut conn, commit).await;
        drop(conn);
        drop(writer);
        finished
    })
    .await?
}

async fn begin_write(conn: &mut DbConn) -> AppResult<()> {
    match conn {
        DbConn::Postgres(c) => {
            <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(&mut **c)
                .await?
        }
        // BEGIN IMMEDIATE takes SQLite's write lock up front, so a transaction never fails
        // half-way when upgrading from a read lock.
        DbConn::Sqlite(c) => {
            c.spawn_blocking(|inner| {
                diesel::connection::AnsiTransactionManager::begin_transaction_sql(
                    inner,
                    "BEGIN IMMEDIATE",
                )
            })
            .await?
        }
    }
    Ok(())
}

async fn finish(conn: &mut DbConn, commit: bool) -> AppResult<()> {
    match conn {
        DbConn::Postgres(c) => {
            type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;
            if commit {
                Tm::commit_transaction(&mut **c).await?
            } else {
                Tm::rollback_transaction(&mut **c).await?
            }
        }
        // On the connection's own thread, in turn after a statement a dropped request may have
        // left running there (the wrapper's transaction manager would panic on a shared
        // connection).
        DbConn::Sqlite(c) => {
            c.spawn_blocking(move |inner| {
                use diesel::connection::{AnsiTransactionManager, TransactionManager};
                if commit {
                    AnsiTransactionManager::commit_transaction(inner)
                } else {
                    AnsiTransactionManager::rollback_transaction(inner)
                }
            })
            .await?
        }
    }
    Ok(())
}

/// An open write transaction with its audit context. See [`Database::write`].
pub struct WriteTx {
    conn: Option<DbConn>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    actor: AuditActor,
    now: NaiveDateTime,
    wake_outbox: bool,
}

impl WriteTx {
    /// The connection, for reads and for writes to tables that are not audited (sessions,
    /// tokens, the outbox) that must commit with this change.
    pub fn conn(&mut self) -> AppResult<&mut DbConn> {
        self.conn
            .as_mut()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("transaction already finished")))
    }

    pub fn actor(&self) -> &AuditActor {
        &self.actor
    }

    /// The transaction's timestamp: every row it writes carries the same time.
    pub fn now(&self) -> NaiveDateTime {
        self.now
    }

    /// Asks for the mail worker to be woken once this transaction commits (mail enqueued in it
    /// then goes out at once instead of at the next poll).
    pub fn wake_outbox_on_commit(&mut self) {
        self.wake_outbox = true;
    }

    /// Writes one audit event with its field changes, in this transaction.
    ///
    /// On PostgreSQL the transaction takes its transaction id before its first event id (in
    /// the same statement): the sealer relies on every holder of an uncommitted event id
    /// showing in snapshots (see `audit::seal`).
    pub async fn audit(&mut self, entry: AuditEntry) -> AppResult<AuditEventId> {
        let actor = self.actor.clone();
        self.audit_as(actor, entry).await
    }

    /// Writes one audit event as `actor` rather than the transaction's own, in this
    /// transaction: an impersonation ended by someone else's change (a discard, a demotion) or
    /// by the expiry sweep is recorded as the impersonating admin's, like its start.
    pub async fn audit_as(
        &mut self,
        actor: AuditActor,
        entry: AuditEntry,
    ) -> AppResult<AuditEventId> {
        let now = self.now;
        audit::insert_event(self.conn()?, &actor, now, &entry).await
    }
}

impl Drop for WriteTx {
    /// A request dropped mid-transaction (the client went away) must not return a connection
    /// with an open transaction, nor release SQLite's writer slot before the rollback.
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let writer = self._writer.take();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = finish(&mut conn, false).await;
                    drop(writer);
                });
            }
        }
    }
}

fn pool_error(err: PoolError) -> AppError {
    tracing::warn!(error = %err, "database connection unavailable");
    AppError::Unavailable
}

/// Maps database errors onto the service's error policy (see `crate::error`).
impl From<DieselError> for AppError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::NotFound => AppError::not_found("Record"),
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => {
                    let constraint = info.constraint_name().unwrap_or(info.message());
                    AppError::conflict(unique_violation_message(constraint))
                }
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    tracing::warn!(error = %err, "database connection lost");
                    AppError::Unavailable
                }
                _ if is_unavailable(info.message()) => {
                    tracing::warn!(error = %err, "database unavailable, busy or out of space");
                    AppError::Unavailable
                }
                _ => AppError::internal(err),
            },
            // A connection lost at COMMIT: the rollback that follows fails too.
            DieselError::RollbackErrorOnCommit {
                rollback_error,
                commit_error,
            } if [&**rollback_error, &**commit_error]
                .iter()
                .any(|e| matches!(AppError::from(clone_kind(e)), AppError::Unavailable)) =>
            {
                tracing::warn!(error = %err, "database connection lost at commit");
                AppError::Unavailable
            }
            DieselError::BrokenTransactionManager => AppError::Unavailable,
            _ => AppError::internal(err),
        }
    }
}

/// Enough of `err` to classify it again (diesel errors are not `Clone`).
fn clone_kind(err: &DieselError) -> DieselError {
    match err {
        DieselError::DatabaseError(kind, info) => {
            DieselError::DatabaseError(*kind, Box::new(info.message().to_owned()))
        }
        DieselError::BrokenTransactionManager => DieselError::BrokenTransactionManager,
        _ => DieselError::NotInTransaction,
    }
}

/// Driver and server messages that mean "not now" rather than a bug: the connection lost or
/// never made, the server shutting down or starting, a timeout, a lock held elsewhere (SQLite
/// busy), no space left, a read-only database (a standby after failover, a read-only file).
fn is_unavailable(message: &str) -> bool {
    const MARKERS: &[&str] = &[
        "connection",
        "communicating with the server",
        "broken pipe",
        "reset by peer",
        "server closed",
        "shutting down",
        "starting up",
        "in recovery",
        "statement timeout",
        "lock timeout",
        "canceling statement",
        "database is locked",
        "database table is locked",
        "database or disk is full",
        "disk i/o error",
        "no space left on device",
        "could not extend file",
        "unable to open database file",
        "readonly database",
        "read-only transaction",
        "deadlock detected",
    ];
    let message = message.to_ascii_lowercase();
    MARKERS.iter().any(|marker| message.contains(marker))
}

fn unique_violation_message(constraint: &str) -> &'static str {
    if constraint.contains("users_email") || constraint.contains("users.email") {
        "A user with this email already exists."
    } else if constraint.contains("inbound_numbers") {
        "This number is already active on another record."
    } else if constraint.contains("company_memberships") {
        "This user is already a member of the company."
    } else if constraint.contains("team_memberships") {
        "This user is already a member of the team."
    } else if constraint.contains("teams") {
        "The company already has a team with this name."
    } else {
        "This conflicts with an existing record."
    }
}

impl From<diesel::ConnectionError> for AppError {
    fn from(err: diesel::ConnectionError) -> Self {
        tracing::warn!(error = %err, "database connection failed");
        AppError::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    /// What the drivers say when the database cannot serve now is UNAVAILABLE, never INTERNAL.
    #[test]
    fn outages_map_to_unavailable() {
        for message in [
            // SQLite: busy, locked, out of space, I/O.
            "database is locked",
            "database table is locked",
            "database or disk is full",
            "disk I/O error",
            "attempt to write a readonly database",
            // PostgreSQL and its driver: restarts, lost connections, timeouts, full disks.
            "terminating connection due to administrator command",
            "the database system is shutting down",
            "the database system is starting up",
            "error communicating with the server: Broken pipe (os error 32)",
            "error communicating with the server: Connection reset by peer (os error 104)",
            "canceling statement due to statement timeout",
            "canceling statement due to lock timeout",
            "could not extend file \"base/16384/16385\": No space left on device",
            "cannot execute INSERT in a read-only transaction",
        ] {
            let mapped = AppError::from(database_error(DatabaseErrorKind::Unknown, message));
            assert!(matches!(mapped, AppError::Unavailable), "{message}");
        }
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            assert!(matches!(
                AppError::from(database_error(kind, "gone")),
                AppError::Unavailable
            ));
        }
        // A connection lost at COMMIT: the rollback fails too.
        let at_commit = DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(database_error(
                DatabaseErrorKind::ClosedConnection,
                "connection closed",
            )),
            commit_error: Box::new(database_error(
                DatabaseErrorKind::Unknown,
                "server closed the connection unexpectedly",
            )),
        };
        assert!(matches!(AppError::from(at_commit), AppError::Unavailable));
    }

    /// A bug stays INTERNAL.
    #[test]
    fn bugs_stay_internal() {
        for err in [
            database_error(
                DatabaseErrorKind::Unknown,
                "syntax error at or near \"SELEC\"",
            ),
            database_error(
                DatabaseErrorKind::ForeignKeyViolation,
                "violates foreign key",
            ),
            DieselError::NotInTransaction,
        ] {
            assert!(matches!(AppError::from(err), AppError::Internal(_)));
        }
    }
}
