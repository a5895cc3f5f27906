//! The shared test harness: a real server on a random port over a fresh database.
//!
//! Every scenario runs on SQLite (a new file) and on PostgreSQL (a new database on the server
//! named by `TEST_DATABASE_URL`). Without `TEST_DATABASE_URL` the PostgreSQL half is skipped with a
//! notice, unless `REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns that into a failure.

#![allow(dead_code)]

pub mod audit_trail;
pub mod builders;
pub mod footprint;
pub mod proxy;
pub mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portal_admin::app::{App, AppState};
use portal_admin::clock::Clock;
use portal_admin::config::Config;
use portal_admin::http::BoundServer;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use self::smtp::{ReceivedMail, TestSmtpServer};

/// Generates, for each scenario `fn name(app: TestApp)`, a module `name` with a `sqlite` and a
/// `postgres` test. `on_both_backends!(with_smtp: name, …)` gives each app its own SMTP test
/// server (`app.smtp`), with `SMTP_URL` pointing at it.
#[macro_export]
macro_rules! on_both_backends {
    (with_smtp: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::TestApp::spawn_with_smtp($crate::common::Backend::Sqlite).await;
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::TestApp::spawn_postgres_with_smtp().await else { return };
                super::$name(app).await;
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await;
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::TestApp::spawn_postgres().await else { return };
                super::$name(app).await;
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database made for one test and removed after it.
pub enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("portal-admin.db").display());
                Some(TestDatabase::Sqlite { _dir: dir, url })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
                    if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                        panic!("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
                    }
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL half skipped");
                    return None;
                };
                let name = format!("portal_admin_test_{}", uuid::Uuid::new_v4().simple());
                postgres_admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
                let url = replace_database(&admin_url, &name);
                Some(TestDatabase::Postgres {
                    admin_url,
                    name,
                    url,
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
        {
            let admin_url = admin_url.clone();
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Drop runs inside the test's runtime; a runtime of its own on a plain thread
            // does the async work.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(postgres_admin(&admin_url, &sql));
                }
            })
            .join();
        }
    }
}

pub fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

pub async fn postgres_admin(url: &str, sql: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TEST_DATABASE_URL: {e}"));
    conn.batch_execute(sql).await.expect("admin statement");
}

pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::from_env().expect("default config");
    config.database_url =
        portal_admin::config::DatabaseUrl::parse(database_url).expect("a test database URL");
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config.smtp_url = None;
    // Never the working directory: `TestApp` gives each app a directory of its own.
    config.mail_dir = std::env::temp_dir().join("portal-admin-test-mail");
    config.public_url = Some("http://portal.test".into());
    config.database_pool_size = 5;
    config.database_timeout_seconds = 3;
    config.totp_encryption_key = Some(
        portal_admin::domain::totp::TotpKey::generate()
            .to_base64()
            .into(),
    );
    config
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub app: App,
    pub backend: Backend,
    pub http: reqwest::Client,
    /// The SMTP server this app sends to (`spawn_with_smtp`); `None`: mail goes to `mail_dir`.
    pub smtp: Option<TestSmtpServer>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    mail_worker: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
    _mail_dir: tempfile::TempDir,
    // Last: the database outlives the server using it.
    database: Option<TestDatabase>,
}

impl TestApp {
    /// An app without SMTP: its mail worker writes `.eml` files into its own `mail_dir()`.
    pub async fn spawn(backend: Backend) -> TestApp {
        let database = TestDatabase::create(backend).await.expect("test database");
        Self::start(backend, Some(database), None, None).await
    }

    pub async fn spawn_postgres() -> Option<TestApp> {
        let database = TestDatabase::create(Backend::Postgres).await?;
        Some(Self::start(Backend::Postgres, Some(database), None, None).await)
    }

    /// An app whose mail goes over SMTP to a fresh `TestSmtpServer` (`app.smtp`).
    pub async fn spawn_with_smtp(backend: Backend) -> TestApp {
        let database = TestDatabase::create(backend).await.expect("test database");
        let smtp = TestSmtpServer::start().await;
        Self::start(backend, Some(database), None, Some(smtp)).await
    }

    pub async fn spawn_postgres_with_smtp() -> Option<TestApp> {
        let database = TestDatabase::create(Backend::Postgres).await?;
        let smtp = TestSmtpServer::start().await;
        Some(Self::start(Backend::Postgres, Some(database), None, Some(smtp)).await)
    }

    /// An app without SMTP over a fresh database, with `adjust` applied to the test
    /// configuration; `None` when that backend is not available (PostgreSQL unset).
    pub async fn spawn_adjusted(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let database = TestDatabase::create(backend).await?;
        portal_admin::db::run_migrations(database.url())
            .await
            .expect("migrations");
        let mut config = test_config(database.url());
        adjust(&mut config);
        Some(Self::start(backend, Some(database), Some(config), None).await)
    }

    /// A server over `config` exactly (no migrations run when `migrate` is false).
    pub async fn spawn_with_config(backend: Backend, config: Config, migrate: bool) -> TestApp {
        if migrate {
            portal_admin::db::migrate(&config.database_url)
                .await
                .expect("migrations");
        }
        Self::start(backend, None, Some(config), None).await
    }

    async fn start(
        backend: Backend,
        database: Option<TestDatabase>,
        config: Option<Config>,
        smtp: Option<TestSmtpServer>,
    ) -> TestApp {
        let mail_dir = tempfile::tempdir().expect("mail temp dir");
        let config = match (&database, config) {
            (_, Some(config)) => config,
            (Some(db), None) => {
                portal_admin::db::run_migrations(db.url())
                    .await
                    .expect("migrations");
                let mut config = test_config(db.url());
                // A folder the file transport has to create.
                config.mail_dir = mail_dir.path().join("mail");
                config.smtp_url = smtp.as_ref().map(|smtp| smtp.url().into());
                config
            }
            (None, None) => unreachable!("a test app needs a database or a config"),
        };
        let app: App = AppState::new(config, Clock::system()).expect("app state");
        let (stop_worker, worker_stopped) = oneshot::channel::<()>();
        let worker = portal_admin::mail::spawn_worker(app.clone(), async {
            let _ = worker_stopped.await;
        });
        let server = BoundServer::bind(app.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = server.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = server
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            addr,
            app,
            backend,
            http: reqwest::Client::new(),
            smtp,
            shutdown: Some(tx),
            server: Some(handle),
            mail_worker: Some((stop_worker, worker)),
            _mail_dir: mail_dir,
            database,
        }
    }

    /// Stops this app's mail worker (it finishes the mail in hand first), for tests that
    /// drive delivery themselves.
    pub async fn stop_mail_worker(&mut self) {
        if let Some((stop, handle)) = self.mail_worker.take() {
            let _ = stop.send(());
            handle.await.expect("mail worker ends cleanly");
        }
    }

    /// Where mail goes when the app has no SMTP server.
    pub fn mail_dir(&self) -> &Path {
        &self.app.config.mail_dir
    }

    /// Waits for mail matching `predicate`, from the SMTP server when the app has one, else
    /// from the `.eml` files in `mail_dir()`; returns every match.
    pub async fn wait_for_mail(
        &self,
        predicate: impl Fn(&ReceivedMail) -> bool,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        match &self.smtp {
            Some(smtp) => smtp.wait_for_mail(predicate, timeout).await,
            None => {
                let dir: PathBuf = self.mail_dir().to_owned();
                smtp::wait_for(
                    || smtp::read_eml_dir(&dir),
                    predicate,
                    timeout,
                    "in MAIL_DIR",
                )
                .await
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn clock(&self) -> &Clock {
        &self.app.clock
    }

    /// POSTs a GraphQL operation; returns the parsed response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.expect("JSON body");
        Gql {
            status,
            body,
            request_id,
        }
    }

    /// Signs in and returns the session token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let response = self
            .gql(
                None,
                "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        response.data()["signIn"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-in failed: {}", response.body))
            .to_owned()
    }

    /// The current TOTP code for a base32 secret, at the app's clock.
    pub fn totp_code(&self, secret_base32: &str) -> String {
        let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
            .to_bytes()
            .expect("base32 secret");
        let now = u64::try_from(self.clock().now_utc().timestamp()).expect("after 1970");
        portal_admin::domain::totp::code_at(&secret, now).expect("code")
    }

    /// Turns 2FA on for the session's user; returns the base32 secret and the recovery codes.
    /// Moves the clock one step on, so the next code is a fresh one.
    pub async fn enable_two_factor(&self, token: &str) -> (String, Vec<String>) {
        let started = self
            .gql(
                Some(token),
                "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret otpauthUri } }",
                json!({ "p": builders::PASSWORD }),
            )
            .await;
        let secret = started.data()["startTwoFactorEnrollment"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let confirmed = self
            .gql(
                Some(token),
                "mutation($code: String!) { confirmTwoFactorEnrollment(code: $code) { codes } }",
                json!({ "code": self.totp_code(&secret) }),
            )
            .await;
        let codes = confirmed.data()["confirmTwoFactorEnrollment"]["codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_owned())
            .collect();
        self.clock().advance(chrono::Duration::seconds(30));
        (secret, codes)
    }

    /// Raw SQL against the test database, behind the application's back.
    pub async fn sql(&self, sql: &str) -> Result<(), String> {
        self.app
            .db
            .execute_sql(sql)
            .await
            .map_err(|e| format!("{:?}", e))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.mail_worker.take() {
            let _ = stop.send(());
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
        self.app.db.close();
    }
}

/// A GraphQL response.
pub struct Gql {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
}

impl Gql {
    /// `data`, after asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none_or(|e| e.is_null()),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of the first error, asserting there is one.
    pub fn error_code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got: {}", self.body))
    }

    /// The `extensions.field` of the first error (BAD_USER_INPUT names the input field).
    pub fn error_field(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["field"].as_str()
    }

    pub fn error_message(&self) -> &str {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
    }
}
