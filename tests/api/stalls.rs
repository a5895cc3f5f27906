//! Bounded requests under a stalled database: SQLite locked by another connection, PostgreSQL
//! frozen behind a proxy, a row lock held mid-transaction. Every answer arrives within the
//! request deadline (UNAVAILABLE), `/readyz` fails while writes cannot happen, nothing half-done
//! is left behind, and the service recovers once the stall ends.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::builders::{UserBuilder, organization};
use crate::common::proxy::StallingProxy;
use crate::common::{Backend, TestApp, TestDatabase, test_config};

/// The deadline the tests run with.
const DEADLINE_SECONDS: u64 = 2;
/// What an answer may take past the deadline (scheduling on a busy 2-core machine).
const SLACK: Duration = Duration::from_secs(3);

const CREATE_ORG: &str =
    "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }";

async fn counts(app: &TestApp) -> (i64, i64) {
    let mut conn = app.app.db.conn().await.expect("conn");
    let events = portal_admin::db::audit::count_events(&mut conn)
        .await
        .expect("events");
    let organizations = portal_admin::db::models::organizations::count(
        &mut conn,
        portal_admin::db::models::CompanyScope::All,
    )
    .await
    .expect("organizations");
    (organizations, events)
}

/// `n` parallel `createOrganization` requests; each must answer UNAVAILABLE within the deadline.
async fn burst_answers_unavailable(app: &TestApp, token: &str, n: usize) {
    let started = Instant::now();
    let answers = futures::future::join_all((0..n).map(|i| {
        app.gql(
            Some(token),
            CREATE_ORG,
            json!({ "input": { "name": format!("Stalled {i}") } }),
        )
    }))
    .await;
    let elapsed = started.elapsed();
    for answer in &answers {
        assert_eq!(answer.error_code(), "UNAVAILABLE", "{}", answer.body);
    }
    assert!(
        elapsed < Duration::from_secs(DEADLINE_SECONDS) + SLACK,
        "{n} stalled requests answered after {elapsed:?}"
    );
}

async fn ready_status(app: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let status = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16();
    (status, started.elapsed())
}

/// Waits (bounded: recovery within 10 s of the stall's end) for `/readyz` to answer 200 again.
async fn wait_until_ready(app: &TestApp) {
    let started = Instant::now();
    let until = started + Duration::from_secs(10);
    while Instant::now() < until {
        if ready_status(app).await.0 == 200 {
            eprintln!("ready again after {:?}", started.elapsed());
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not ready again within 10 s");
}

fn stalled_config(url: &str) -> portal_admin::config::Config {
    let mut config = test_config(url);
    config.request_timeout_seconds = DEADLINE_SECONDS;
    config
}

/// SQLite with another connection holding the write lock (`BEGIN IMMEDIATE`), as another
/// process or a backup tool would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_connection() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    let app =
        TestApp::spawn_with_config(Backend::Sqlite, stalled_config(database.url()), true).await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    // Sessions are touched on use: do it now, so the reads below need no write.
    app.gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    let before = counts(&app).await;

    let path = database.url().trim_start_matches("sqlite://").to_owned();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::SqliteConnection::establish(&path).expect("second connection");
        conn.batch_execute("BEGIN IMMEDIATE").expect("write lock");
        locked_tx.send(()).expect("signal");
        let _ = release_rx.recv();
        conn.batch_execute("ROLLBACK").expect("release");
    });
    locked_rx.recv().expect("locked");

    burst_answers_unavailable(&app, &token, 50).await;
    let (status, took) = ready_status(&app).await;
    assert_eq!(status, 503, "not ready while writes cannot happen");
    assert!(
        took < portal_admin::http::READINESS_TIMEOUT + SLACK,
        "{took:?}"
    );
    // Reads still work under the lock (WAL).
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    viewer.data();

    // A second instance on the same file, whose deadline outlasts SQLite's busy timeout: the
    // lock wait ends in SQLITE_BUSY, which is UNAVAILABLE too.
    let mut patient_config = test_config(database.url());
    patient_config.request_timeout_seconds = 30;
    let patient = TestApp::spawn_with_config(Backend::Sqlite, patient_config, false).await;
    let started = Instant::now();
    let busy = patient
        .gql(
            Some(&token),
            CREATE_ORG,
            json!({ "input": { "name": "Busy" } }),
        )
        .await;
    assert_eq!(busy.error_code(), "UNAVAILABLE", "{}", busy.body);
    assert!(
        busy.error_message().contains("temporarily unavailable"),
        "the busy database, not the deadline: {}",
        busy.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(patient);

    release_tx.send(()).expect("release");
    locker.join().expect("locker");
    wait_until_ready(&app).await;
    assert_eq!(
        counts(&app).await,
        before,
        "nothing of the stalled requests was written"
    );
    let created = app
        .gql(
            Some(&token),
            CREATE_ORG,
            json!({ "input": { "name": "After the lock" } }),
        )
        .await;
    created.data();
    drop(app);
    drop(database);
}

/// The PostgreSQL server behind `TEST_DATABASE_URL`, for the proxy.
fn postgres_upstream() -> Option<std::net::SocketAddr> {
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    let parsed = url::Url::parse(&url).expect("TEST_DATABASE_URL is a URL");
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()?
        .next()
}

fn through(url: &str, proxy: std::net::SocketAddr) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    parsed.set_ip_host(proxy.ip()).expect("host");
    parsed.set_port(Some(proxy.port())).expect("port");
    parsed.to_string()
}

/// PostgreSQL frozen (a proxy that stops forwarding, never the shared server paused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_behind_a_proxy() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let proxy = StallingProxy::start(postgres_upstream().expect("upstream")).await;
    let app = TestApp::spawn_with_config(
        Backend::Postgres,
        stalled_config(&through(database.url(), proxy.addr)),
        true,
    )
    .await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let before = counts(&app).await;

    proxy.freeze();
    burst_answers_unavailable(&app, &token, 50).await;
    let started = Instant::now();
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(viewer.error_code(), "UNAVAILABLE", "{}", viewer.body);
    assert!(
        started.elapsed() < Duration::from_secs(DEADLINE_SECONDS) + SLACK,
        "{:?}",
        started.elapsed()
    );
    let (status, took) = ready_status(&app).await;
    assert_eq!(status, 503);
    assert!(
        took < portal_admin::http::READINESS_TIMEOUT + SLACK,
        "{took:?}"
    );

    proxy.thaw();
    wait_until_ready(&app).await;
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    viewer.data();
    assert_eq!(
        counts(&app).await,
        before,
        "the stalled mutations changed nothing"
    );
    app.gql(
        Some(&token),
        CREATE_ORG,
        json!({ "input": { "name": "After the freeze" } }),
    )
    .await
    .data();
    drop(app);
    drop(proxy);
    drop(database);
}

/// The configuration as shipped for everything that bounds a wait (pool size, pool wait,
/// connect and check bound, request deadline), on `url`.
fn default_bounds_config(url: &str) -> portal_admin::config::Config {
    let defaults = portal_admin::config::Config::from_env().expect("default config");
    assert_eq!(defaults.database_pool_wait_seconds, 3, "pool wait default");
    assert_eq!(
        defaults.database_timeout_seconds, 5,
        "connect bound default"
    );
    assert_eq!(
        defaults.request_timeout_seconds, 5,
        "request deadline default"
    );
    let mut config = test_config(url);
    config.database_pool_size = defaults.database_pool_size;
    config.database_pool_wait_seconds = defaults.database_pool_wait_seconds;
    config.database_timeout_seconds = defaults.database_timeout_seconds;
    config.request_timeout_seconds = defaults.request_timeout_seconds;
    config
}

/// With the default configuration (no shortened deadline), PostgreSQL frozen behind the proxy
/// answers UNAVAILABLE within 5 s (plus slack), for reads, writes and a burst beyond the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_answers_within_five_seconds_by_default() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let proxy = StallingProxy::start(postgres_upstream().expect("upstream")).await;
    let app = TestApp::spawn_with_config(
        Backend::Postgres,
        default_bounds_config(&through(database.url(), proxy.addr)),
        true,
    )
    .await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let bound = Duration::from_secs(5) + SLACK;

    proxy.freeze();
    let started = Instant::now();
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    let took = started.elapsed();
    eprintln!("frozen PostgreSQL, default configuration: read answered in {took:?}");
    assert_eq!(viewer.error_code(), "UNAVAILABLE", "{}", viewer.body);
    assert!(took < bound, "{took:?}");

    let started = Instant::now();
    let answers = futures::future::join_all((0..20).map(|i| {
        app.gql(
            Some(&token),
            CREATE_ORG,
            json!({ "input": { "name": format!("Frozen {i}") } }),
        )
    }))
    .await;
    let took = started.elapsed();
    eprintln!("frozen PostgreSQL, default configuration: 20 writes answered in {took:?}");
    for answer in &answers {
        assert_eq!(answer.error_code(), "UNAVAILABLE", "{}", answer.body);
    }
    assert!(took < bound, "{took:?}");

    proxy.thaw();
    wait_until_ready(&app).await;
    app.gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await
        .data();
    drop(app);
    drop(proxy);
    drop(database);
}

/// Drops every packet sent to `port` on loopback (a network black hole: nothing answers, not
/// even a reset) until dropped. `None` where iptables cannot be used (not root, no iptables).
struct Blackhole {
    port: u16,
}

impl Blackhole {
    fn rule(action: &str, port: u16) -> bool {
        std::process::Command::new("iptables")
            .args([
                "-w",
                action,
                "INPUT",
                "-p",
                "tcp",
                "-d",
                "127.0.0.1",
                "--dport",
                &port.to_string(),
                "-j",
                "DROP",
            ])
            .status()
            .is_ok_and(|status| status.success())
    }

    fn start(port: u16) -> Option<Blackhole> {
        Self::rule("-I", port).then_some(Blackhole { port })
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        Self::rule("-D", self.port);
    }
}

/// A pooled PostgreSQL connection whose server vanishes from the network (packets dropped, not
/// refused) is cut by the TCP user timeout, the default 5 s: the statement on it fails
/// (UNAVAILABLE) instead of hanging until the kernel gives up (about 15 minutes). Outside any
/// request deadline, as the mail worker and the audit sealer use the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_blackholed_pooled_connection_is_cut_in_five_seconds() {
    use diesel_async::SimpleAsyncConnection;
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let proxy = StallingProxy::start(postgres_upstream().expect("upstream")).await;
    let app = TestApp::spawn_with_config(
        Backend::Postgres,
        default_bounds_config(&through(database.url(), proxy.addr)),
        true,
    )
    .await;
    let mut conn = app.app.db.conn().await.expect("conn");
    let portal_admin::db::DbConn::Postgres(pg) = &mut conn else {
        panic!("a PostgreSQL connection");
    };
    pg.batch_execute("SELECT 1")
        .await
        .expect("before the black hole");
    let Some(blackhole) = Blackhole::start(proxy.addr.port()) else {
        eprintln!("skipped: iptables unavailable (needs root)");
        return;
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(60), pg.batch_execute("SELECT 1"))
        .await
        .expect("the statement ended within 60 s");
    let took = started.elapsed();
    drop(blackhole);
    eprintln!("blackholed pooled connection cut after {took:?}");
    let err = outcome.expect_err("the statement failed");
    assert!(
        matches!(
            portal_admin::error::AppError::from(err),
            portal_admin::error::AppError::Unavailable
        ),
        "UNAVAILABLE"
    );
    assert!(
        took >= Duration::from_secs(4),
        "cut by the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(5) + SLACK, "{took:?}");
    drop(conn);
    drop(app);
    drop(proxy);
    drop(database);
}

/// The backend pid of the connection the pool hands out now.
async fn backend_pid(app: &TestApp) -> i32 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = app.app.db.conn().await.expect("conn");
    let portal_admin::db::DbConn::Postgres(pg) = &mut conn else {
        panic!("a PostgreSQL connection");
    };
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut **pg)
        .await
        .expect("pid")
        .pid
}

/// A pooled connection older than DATABASE_MAX_LIFETIME_SECONDS is replaced at its next
/// checkout (one connection in the pool, a lifetime of 1 s): the backend pid changes once it
/// has aged, not before, and requests keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_past_its_max_lifetime_is_replaced() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    assert_eq!(
        portal_admin::config::Config::from_env()
            .expect("defaults")
            .database_max_lifetime_seconds,
        1800
    );
    let mut config = test_config(database.url());
    config.database_pool_size = 1;
    config.database_max_lifetime_seconds = 1;
    let app = TestApp::spawn_with_config(Backend::Postgres, config, true).await;
    let first = backend_pid(&app).await;
    assert_eq!(backend_pid(&app).await, first, "reused within its lifetime");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = backend_pid(&app).await;
    assert_ne!(second, first, "replaced past its lifetime");
    assert_eq!(backend_pid(&app).await, second, "the new one is reused");
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    app.gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await
        .data();
    drop(app);
    drop(database);
}

/// A pooled connection whose server refuses writes as a read-only transaction (SQLSTATE
/// 25006: after a failover the old primary, still reachable, is a standby) is discarded, not
/// reused: the refused write answers UNAVAILABLE, and the next one runs on a new connection
/// and succeeds. The pooled connection is made read-only as the standby would be
/// (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`); one connection in the pool, so
/// without the discard every later write would get the read-only one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_connection_is_discarded() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let mut config = test_config(database.url());
    config.database_pool_size = 1;
    let mut app = TestApp::spawn_with_config(Backend::Postgres, config, true).await;
    // The mail worker writes too: on the read-only connection its own refusal would discard it
    // between the checks below.
    app.stop_mail_worker().await;
    let standby = backend_pid(&app).await;
    app.app
        .db
        .execute_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .await
        .expect("read-only session");
    assert_eq!(
        backend_pid(&app).await,
        standby,
        "still the same connection"
    );

    let write = "CREATE TEMPORARY TABLE failover_probe (i integer)";
    let refused = app.app.db.execute_sql(write).await;
    assert!(
        matches!(refused, Err(portal_admin::error::AppError::Unavailable)),
        "a read-only refusal is UNAVAILABLE"
    );
    let replacement = backend_pid(&app).await;
    assert_ne!(
        replacement, standby,
        "the read-only connection was discarded"
    );
    app.app
        .db
        .execute_sql(write)
        .await
        .expect("written on a new connection");
    drop(app);
    drop(database);
}

/// A transaction stopped by the deadline while it waits on a row lock is rolled back: once the
/// lock is gone, the row is as it was, no audit event was written, and the row can be changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadline_inside_a_transaction_rolls_it_back() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let app =
        TestApp::spawn_with_config(Backend::Postgres, stalled_config(database.url()), true).await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let org = organization(&app, "Locked Ltd").await;
    let before = counts(&app).await;

    let mut holder = AsyncPgConnection::establish(database.url())
        .await
        .expect("second connection");
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM organizations WHERE id = {} FOR UPDATE",
            org.id
        ))
        .await
        .expect("row lock");

    let update =
        "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { name } }";
    let started = Instant::now();
    let stalled = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": org.id.to_string(), "name": "Renamed" } }),
        )
        .await;
    assert_eq!(stalled.error_code(), "UNAVAILABLE", "{}", stalled.body);
    assert!(
        started.elapsed() < Duration::from_secs(DEADLINE_SECONDS) + SLACK,
        "{:?}",
        started.elapsed()
    );

    holder.batch_execute("ROLLBACK").await.expect("release");
    // The dropped transaction's UPDATE runs once the lock is free, then its rollback.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let open: i64 = {
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Open {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            )
            .get_result::<Open>(&mut holder)
            .await
            .expect("activity")
            .n
        };
        if open == 0 {
            break;
        }
        assert!(Instant::now() < until, "a transaction stayed open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read = app
        .gql(
            Some(&token),
            "query($id: ID!) { organization(id: $id) { name version } }",
            json!({ "id": org.id.to_string() }),
        )
        .await;
    assert_eq!(read.data()["organization"]["name"], "Locked Ltd");
    assert_eq!(
        counts(&app).await,
        before,
        "no audit event of the stopped change"
    );
    let renamed = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": org.id.to_string(), "name": "Renamed" } }),
        )
        .await;
    assert_eq!(renamed.data()["updateOrganization"]["name"], "Renamed");
    drop(app);
    drop(database);
}

/// Slow clients (headers never finished) are cut off after the header timeout, and with the
/// connection cap reached a normal request still gets through once they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    let mut config = test_config(database.url());
    config.http_header_timeout_seconds = 1;
    config.max_connections = 20;
    let app = TestApp::spawn_with_config(Backend::Sqlite, config, true).await;

    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut socket = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        socket
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: portal.test\r\n")
            .await
            .expect("partial headers");
        slow.push(socket);
    }
    let started = Instant::now();
    let health = app
        .http
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a normal request gets through");
    assert_eq!(health.status(), 200);
    // Every slow socket is closed by the server (EOF or reset), none is left waiting.
    for socket in &mut slow {
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .expect("the server closed the slow connection");
        if let Ok(n) = read {
            // hyper may answer 408 before closing; anything but a served request.
            let text = String::from_utf8_lossy(&buffer[..n]);
            assert!(n == 0 || !text.contains(" 200 "), "{text}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(app);
    drop(database);
}

/// A connection lost in the middle of a transaction (the backend terminated, as in a restart or
/// failover) answers UNAVAILABLE, changes nothing, and the next request works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_lost_mid_transaction_answers_unavailable() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let app =
        TestApp::spawn_with_config(Backend::Postgres, test_config(database.url()), true).await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let org = organization(&app, "Terminated Ltd").await;
    let before = counts(&app).await;

    let mut holder = AsyncPgConnection::establish(database.url())
        .await
        .expect("second connection");
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM organizations WHERE id = {} FOR UPDATE",
            org.id
        ))
        .await
        .expect("row lock");
    let update =
        "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { name } }";
    let request = app.gql(
        Some(&token),
        update,
        json!({ "input": { "id": org.id.to_string(), "name": "Renamed" } }),
    );
    let terminate = async {
        let mut admin = AsyncPgConnection::establish(database.url())
            .await
            .expect("third connection");
        // The app's backend waiting on the row lock, inside its transaction.
        let until = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            let waiting: Vec<Pid> = diesel::sql_query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            .load(&mut admin)
            .await
            .expect("activity");
            if let Some(waiting) = <[Pid]>::first(&waiting) {
                break waiting.pid;
            }
            assert!(
                Instant::now() < until,
                "the update never waited on the lock"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        admin
            .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .expect("terminate");
    };
    let (answer, ()) = tokio::join!(request, terminate);
    assert_eq!(answer.error_code(), "UNAVAILABLE", "{}", answer.body);
    holder.batch_execute("ROLLBACK").await.expect("release");

    assert_eq!(counts(&app).await, before, "nothing written");
    let read = app
        .gql(
            Some(&token),
            "query($id: ID!) { organization(id: $id) { name } }",
            json!({ "id": org.id.to_string() }),
        )
        .await;
    assert_eq!(read.data()["organization"]["name"], "Terminated Ltd");
    let renamed = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": org.id.to_string(), "name": "Renamed" } }),
        )
        .await;
    assert_eq!(renamed.data()["updateOrganization"]["name"], "Renamed");
    drop(app);
    drop(database);
}

/// A client that sends its headers and then trickles the body (or stops) gets UNAVAILABLE at
/// the request deadline: reading the body is inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_end_at_the_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    let app =
        TestApp::spawn_with_config(Backend::Sqlite, stalled_config(database.url()), true).await;
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let started = Instant::now();
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: portal.test\r\ncontent-type: application/json\r\n\
              accept: application/graphql-response+json\r\ncontent-length: 1000\r\n\r\n{\"query\"",
        )
        .await
        .expect("headers and a few bytes");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("UNAVAILABLE") {
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
            .await
            .expect("answered before 10 s")
            .expect("read");
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":\"UNAVAILABLE\""), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(DEADLINE_SECONDS) + SLACK,
        "{:?}",
        started.elapsed()
    );
    drop(app);
    drop(database);
}
