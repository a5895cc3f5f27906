//! Configuration, from the environment (or the matching command-line flags).
//! The README's configuration table lists the same variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `postgres://…` or `sqlite://PATH`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://portal-admin.db",
        global = true
    )]
    pub database_url: String,

    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub listen_addr: SocketAddr,

    /// Origin used in emailed links; default `http://LISTEN_ADDR`. Never taken from request headers.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// lettre SMTP URL (`smtp://host:port`, `smtps://user:pass@host`). Unset: mail goes to MAIL_DIR.
    #[arg(long, env = "SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    #[arg(long, env = "MAIL_DIR", default_value = "mail", global = true)]
    pub mail_dir: PathBuf,

    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "portal-admin <no-reply@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// Delivery attempts per mail before the outbox gives it up (retries back off from 5 s,
    /// doubling, to 10 minutes apart: the default covers about two hours of SMTP outage).
    #[arg(long, env = "MAIL_MAX_ATTEMPTS", default_value_t = 20, global = true)]
    pub mail_max_attempts: i32,

    /// How often `serve` seals new audit events into the hash chain.
    #[arg(
        long,
        env = "AUDIT_SEAL_INTERVAL_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub audit_seal_interval_seconds: u64,

    #[arg(
        long,
        env = "PORTAL_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,

    /// 32 bytes, base64: encrypts TOTP secrets at rest. Required in production; in development a
    /// key is generated and kept beside the SQLite file (or in the working directory).
    #[arg(
        long,
        env = "TOTP_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true
    )]
    pub totp_encryption_key: Option<String>,

    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10, global = true)]
    pub database_pool_size: usize,

    /// How long a request waits for a database connection before answering UNAVAILABLE.
    #[arg(
        long,
        env = "DATABASE_TIMEOUT_SECONDS",
        default_value_t = 5,
        global = true
    )]
    pub database_timeout_seconds: u64,

    /// PostgreSQL statement timeout.
    #[arg(
        long,
        env = "DATABASE_STATEMENT_TIMEOUT_SECONDS",
        default_value_t = 15,
        global = true
    )]
    pub database_statement_timeout_seconds: u64,

    #[arg(
        long,
        env = "SESSION_IDLE_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub session_idle_minutes: i64,

    #[arg(
        long,
        env = "SESSION_ABSOLUTE_HOURS",
        default_value_t = 12,
        global = true
    )]
    pub session_absolute_hours: i64,

    #[arg(
        long,
        env = "INVITATION_TTL_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub invitation_ttl_hours: i64,

    #[arg(
        long,
        env = "PASSWORD_RESET_TTL_MINUTES",
        default_value_t = 60,
        global = true
    )]
    pub password_reset_ttl_minutes: i64,

    /// How long the confirmation link of an email change works (mailed to the new address).
    #[arg(
        long,
        env = "EMAIL_CHANGE_TTL_HOURS",
        default_value_t = 24,
        global = true
    )]
    pub email_change_ttl_hours: i64,

    /// Hard limit of one impersonation; never extended.
    #[arg(
        long,
        env = "IMPERSONATION_MINUTES",
        default_value_t = 60,
        global = true
    )]
    pub impersonation_minutes: i64,

    /// Failed sign-ins allowed per account, and per client IP, within the throttle window.
    #[arg(long, env = "SIGN_IN_MAX_FAILURES", default_value_t = 5, global = true)]
    pub sign_in_max_failures: i32,

    #[arg(
        long,
        env = "SIGN_IN_IP_MAX_FAILURES",
        default_value_t = 50,
        global = true
    )]
    pub sign_in_ip_max_failures: i32,

    #[arg(
        long,
        env = "SIGN_IN_WINDOW_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub sign_in_window_minutes: i64,

    /// Past the free attempts, an account (or client) waits this long before its next attempt,
    /// doubling with every further failure (no hard lock: OWASP).
    #[arg(
        long,
        env = "SIGN_IN_BACKOFF_BASE_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub sign_in_backoff_base_seconds: i64,

    /// The longest wait between attempts of a backed-off account or client.
    #[arg(
        long,
        env = "SIGN_IN_BACKOFF_MAX_SECONDS",
        default_value_t = 900,
        global = true
    )]
    pub sign_in_backoff_max_seconds: i64,

    /// Proxies (CIDRs, comma-separated, e.g. `10.0.0.0/8,::1/128`) whose `X-Forwarded-For` names
    /// the client. A request from any other peer is counted against its TCP peer address, and
    /// its `X-Forwarded-For` is ignored. Default: none.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<crate::http::client_ip::Cidr>,

    /// Password reset requests per email address per hour (then RATE_LIMITED).
    #[arg(
        long,
        env = "PASSWORD_RESET_MAX_PER_EMAIL",
        default_value_t = 3,
        global = true
    )]
    pub password_reset_max_per_email: i32,

    /// Password reset requests per client per hour (then RATE_LIMITED).
    #[arg(
        long,
        env = "PASSWORD_RESET_MAX_PER_CLIENT",
        default_value_t = 20,
        global = true
    )]
    pub password_reset_max_per_client: i32,

    /// Threads computing password hashes (argon2id: a core and 19 MiB each). Default: one fewer
    /// than the cores, at least one, so requests always keep a core.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", global = true)]
    pub password_hash_concurrency: Option<usize>,

    /// Hashes (sign-ins, password changes) that may wait for a hashing thread; past that they
    /// answer RATE_LIMITED at once.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 32, global = true)]
    pub password_hash_queue: usize,

    /// Whole-request deadline of `/graphql` (body, execution, response): past it the client gets
    /// UNAVAILABLE and the request's transaction is rolled back.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub request_timeout_seconds: u64,

    /// A GraphQL response larger than this answers BAD_USER_INPUT instead (ask for less).
    #[arg(
        long,
        env = "MAX_RESPONSE_BYTES",
        default_value_t = 4 * 1024 * 1024,
        global = true
    )]
    pub max_response_bytes: usize,

    /// A connection must send a request's headers within this time (also the keep-alive idle
    /// limit): slow clients cannot hold connections open.
    #[arg(
        long,
        env = "HTTP_HEADER_TIMEOUT_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub http_header_timeout_seconds: u64,

    /// Open client connections served at once; further ones wait in the listen backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 512, global = true)]
    pub max_connections: usize,

    /// Bearer token that `/metrics` requires (`Authorization: Bearer …`).
    #[arg(long, env = "METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Serves `/metrics` on this address only (not on LISTEN_ADDR), e.g. `127.0.0.1:9100`.
    #[arg(long, env = "METRICS_LISTEN_ADDR", global = true)]
    pub metrics_listen_addr: Option<SocketAddr>,
}

impl Config {
    /// Configuration from defaults and the environment only, as `portal-admin` with no flags sees it.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        <Only as clap::Parser>::try_parse_from(["portal-admin"]).map(|only| only.config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Hashing threads: `PASSWORD_HASH_CONCURRENCY`, or from the cores.
    pub fn password_hash_threads(&self) -> usize {
        self.password_hash_concurrency
            .unwrap_or_else(crate::domain::hash_pool::HashPool::default_threads)
            .max(1)
    }

    pub fn public_url(&self) -> String {
        let url = match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", self.listen_addr),
        };
        url.trim_end_matches('/').to_owned()
    }
}
