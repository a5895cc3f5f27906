//! Configuration, from the environment (or the matching command-line flags).
//! The README's configuration table lists the same variables (a test enumerates them: every
//! variable has its `--flag` and its README row).
//!
//! Secrets (`DATABASE_URL`'s password, `SMTP_URL`, `TOTP_ENCRYPTION_KEY`, `METRICS_TOKEN`) are
//! typed so that neither `--help` (`hide_env_values`) nor `Debug` of the configuration prints them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

/// A secret from the environment or a flag: `Debug` and `Display` never show it; only
/// [`SensitiveString::expose`] does, where the secret is used.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SensitiveString(String);

impl SensitiveString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl fmt::Display for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for SensitiveString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<&str> for SensitiveString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for SensitiveString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Where the database is: `DATABASE_URL`, parsed once when the configuration is read.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` (it may hold a password: redacted in `Debug`).
    Postgres(SensitiveString),
    /// A file path (or `:memory:`).
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(SensitiveString::new(url)));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "DATABASE_URL must start with postgres:// or sqlite:// (got `{}`)",
                    redact_url(url)
                )
            })?;
        if path.is_empty() {
            anyhow::bail!("DATABASE_URL sqlite:// needs a file path");
        }
        Ok(DatabaseUrl::Sqlite(path.to_owned()))
    }

    /// The URL as given (password included), e.g. for a child process's environment.
    pub fn expose(&self) -> String {
        match self {
            DatabaseUrl::Postgres(url) => url.expose().to_owned(),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

/// `scheme://user:REDACTED@host/…`: the URL without its password.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "[unparsable]".to_owned(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&redact_url(url.expose()))
                .finish(),
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => f.write_str(&redact_url(url.expose())),
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{path}"),
        }
    }
}

/// clap's parser for `DATABASE_URL`: its error never echoes the value (clap's own "invalid
/// value '…'" would print the password).
#[derive(Clone)]
struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = DatabaseUrl;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DatabaseUrl, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{message}\n"),
            )
        };
        let value = value
            .to_str()
            .ok_or_else(|| invalid("DATABASE_URL is not valid UTF-8".into()))?;
        DatabaseUrl::parse(value).map_err(|err| invalid(err.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the development default).
    Text,
    /// One JSON object per line (the production default).
    Json,
}

/// The configuration cannot be served as it is (production refusals): exit status 78
/// (`EX_CONFIG`), which the systemd unit does not restart.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl ConfigError {
    pub const EXIT_CODE: u8 = 78;
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the configuration is refused in production:")?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

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
        value_parser = DatabaseUrlParser,
        hide_env_values = true,
        global = true
    )]
    pub database_url: DatabaseUrl,

    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub listen_addr: SocketAddr,

    /// Origin used in emailed links; default `http://LISTEN_ADDR`. Never taken from request headers.
    /// Required in production, and https there unless ALLOW_HTTP_PUBLIC_URL.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Production accepts an `http://` PUBLIC_URL (TLS ends before this service and links are
    /// still meant to be plain http, e.g. an internal network).
    #[arg(long, env = "ALLOW_HTTP_PUBLIC_URL", global = true)]
    pub allow_http_public_url: bool,

    /// lettre SMTP URL (`smtp://host:port`, `smtps://user:pass@host`). Unset: mail goes to
    /// MAIL_DIR (development only: production refuses to start without it).
    #[arg(long, env = "SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<SensitiveString>,

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

    /// Seconds a worker holds the mails it claimed; renewed every third of it while a batch is
    /// being sent, so a crashed worker's mail is picked up by another within this time.
    #[arg(long, env = "MAIL_LEASE_SECONDS", default_value_t = 60, global = true)]
    pub mail_lease_seconds: u64,

    /// How often `serve` seals new audit events into the hash chain.
    #[arg(
        long,
        env = "AUDIT_SEAL_INTERVAL_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub audit_seal_interval_seconds: u64,

    /// How often `serve` verifies the whole audit hash chain (0: never; `audit verify` by hand).
    #[arg(
        long,
        env = "AUDIT_VERIFY_INTERVAL_SECONDS",
        default_value_t = 3600,
        global = true
    )]
    pub audit_verify_interval_seconds: u64,

    #[arg(
        long = "portal-env",
        visible_alias = "environment",
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
    pub totp_encryption_key: Option<SensitiveString>,

    /// Production on SQLite (one host, one instance): refused unless this is set.
    #[arg(long, env = "ALLOW_SQLITE_IN_PRODUCTION", global = true)]
    pub allow_sqlite_in_production: bool,

    /// Log line format; default `json` in production, `text` otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,

    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,portal_admin=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub rust_log: String,

    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10, global = true)]
    pub database_pool_size: usize,

    /// How long a request waits for a free pooled connection before answering UNAVAILABLE.
    #[arg(
        long,
        env = "DATABASE_POOL_WAIT_SECONDS",
        default_value_t = 3,
        global = true
    )]
    pub database_pool_wait_seconds: u64,

    /// Bound of making a database connection (connect and set-up) and of checking a pooled one;
    /// on PostgreSQL also the TCP user timeout (unacknowledged data cuts the connection after
    /// it) and the keepalive idle time.
    #[arg(
        long,
        env = "DATABASE_TIMEOUT_SECONDS",
        default_value_t = 5,
        global = true
    )]
    pub database_timeout_seconds: u64,

    /// A pooled connection older than this is closed and replaced when it is next checked out
    /// (after a failover or a server-side change, no connection lives on indefinitely).
    #[arg(
        long,
        env = "DATABASE_MAX_LIFETIME_SECONDS",
        default_value_t = 1800,
        global = true
    )]
    pub database_max_lifetime_seconds: u64,

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
        default_value_t = 5,
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
    pub metrics_token: Option<SensitiveString>,

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

    /// The log format in effect: LOG_FORMAT, else JSON in production.
    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(if self.is_production() {
            LogFormat::Json
        } else {
            LogFormat::Text
        })
    }

    /// Production refuses what would quietly be wrong: mail written to files nobody reads,
    /// links pointing at the listen address, an embedded database nobody chose, secrets
    /// generated on the spot. Every problem is named at once. Development accepts everything.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        let mut problems = Vec::new();
        if self
            .smtp_url
            .as_ref()
            .is_none_or(|url| url.expose().trim().is_empty())
        {
            problems.push(
                "SMTP_URL is required in production (without it invitations and resets would \
                 only be written as files under MAIL_DIR)"
                    .to_owned(),
            );
        }
        match self.public_url.as_deref().map(str::trim) {
            None | Some("") => problems.push(
                "PUBLIC_URL is required in production (the origin of emailed links, e.g. \
                 https://admin.example.com); it is never guessed from LISTEN_ADDR"
                    .to_owned(),
            ),
            Some(url) => match url::Url::parse(url) {
                Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
                    problems.push(format!("PUBLIC_URL `{url}` has no host"))
                }
                Ok(parsed) if parsed.scheme() == "https" => {}
                Ok(parsed) if parsed.scheme() == "http" && self.allow_http_public_url => {}
                Ok(parsed) if parsed.scheme() == "http" => problems.push(format!(
                    "PUBLIC_URL `{url}` is not https (set ALLOW_HTTP_PUBLIC_URL=true if links \
                     really are meant to be plain http)"
                )),
                Ok(_) => problems.push(format!("PUBLIC_URL `{url}` must be an https:// URL")),
                Err(err) => problems.push(format!("PUBLIC_URL `{url}` is not a URL: {err}")),
            },
        }
        if self.database_url.is_sqlite() && !self.allow_sqlite_in_production {
            problems.push(
                "DATABASE_URL is SQLite: production runs on PostgreSQL (set \
                 ALLOW_SQLITE_IN_PRODUCTION=true to run one instance on a SQLite file anyway)"
                    .to_owned(),
            );
        }
        match &self.totp_encryption_key {
            None => problems.push(
                "TOTP_ENCRYPTION_KEY is required in production (32 random bytes, base64: \
                 `openssl rand -base64 32`)"
                    .to_owned(),
            ),
            // A placeholder left in an env file is a refusal too (exit 78, not restarted), not
            // a start-up failure that a supervisor would retry for ever.
            Some(key) => {
                if let Err(err) = crate::domain::totp::TotpKey::from_base64(key.expose()) {
                    problems.push(format!(
                        "{err} (32 random bytes, base64: `openssl rand -base64 32`)"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Commands that write made-up data (benchmark seeding) refuse a production configuration.
    pub fn refuse_fake_data(&self, command: &str) -> Result<(), ConfigError> {
        if self.is_production() {
            return Err(ConfigError(vec![format!(
                "`{command}` writes made-up data and never runs with PORTAL_ENV=production"
            )]));
        }
        Ok(())
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
