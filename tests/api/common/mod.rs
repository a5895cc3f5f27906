//! The shared test harness: a real server on a random port over a fresh database.
//!
//! Every scenario runs on SQLite (a new file) and on PostgreSQL (a new database on the server
//! named by `TEST_DATABASE_URL`). Without `TEST_DATABASE_URL` the PostgreSQL half is skipped with a
//! notice, unless `REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns that into a failure.

#![allow(dead_code)]

pub mod audit_trail;
pub mod builders;

use std::net::SocketAddr;

use portal_admin::app::{App, AppState};
use portal_admin::clock::Clock;
use portal_admin::config::Config;
use portal_admin::http::BoundServer;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Generates, for each scenario `fn name(app: TestApp)`, a module `name` with a `sqlite` and a
/// `postgres` test.
#[macro_export]
macro_rules! on_both_backends {
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

fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

async fn postgres_admin(url: &str, sql: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TEST_DATABASE_URL: {e}"));
    conn.batch_execute(sql).await.expect("admin statement");
}

pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::from_env().expect("default config");
    config.database_url = database_url.to_owned();
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config.smtp_url = None;
    config.public_url = Some("http://portal.test".into());
    config.database_pool_size = 5;
    config.database_timeout_seconds = 3;
    config
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub app: App,
    pub backend: Backend,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    // Last: the database outlives the server using it.
    database: Option<TestDatabase>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let database = TestDatabase::create(backend).await.expect("test database");
        Self::start(backend, Some(database), None).await
    }

    pub async fn spawn_postgres() -> Option<TestApp> {
        let database = TestDatabase::create(Backend::Postgres).await?;
        Some(Self::start(Backend::Postgres, Some(database), None).await)
    }

    /// A server over `config` exactly (no migrations run when `migrate` is false).
    pub async fn spawn_with_config(backend: Backend, config: Config, migrate: bool) -> TestApp {
        if migrate {
            portal_admin::db::run_migrations(&config.database_url)
                .await
                .expect("migrations");
        }
        Self::start(backend, None, Some(config)).await
    }

    async fn start(
        backend: Backend,
        database: Option<TestDatabase>,
        config: Option<Config>,
    ) -> TestApp {
        let config = match (&database, config) {
            (_, Some(config)) => config,
            (Some(db), None) => {
                portal_admin::db::run_migrations(db.url())
                    .await
                    .expect("migrations");
                test_config(db.url())
            }
            (None, None) => unreachable!("a test app needs a database or a config"),
        };
        let app: App = AppState::new(config, Clock::system()).expect("app state");
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
            shutdown: Some(tx),
            server: Some(handle),
            database,
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
