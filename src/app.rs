//! The shared state every request and background task works with.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Database;
use crate::db::DatabaseUrl;
use crate::domain::password::PasswordHasher;
use crate::domain::totp::TotpKey;
use crate::http::metrics::Metrics;
use crate::mail::Mailer;

pub struct AppState {
    pub config: Config,
    pub db: Database,
    pub clock: Clock,
    pub passwords: PasswordHasher,
    pub totp_key: TotpKey,
    pub metrics: Metrics,
    /// Where the mail worker sends the outbox (SMTP or `.eml` files).
    pub mailer: Mailer,
}

pub type App = Arc<AppState>;

impl AppState {
    /// Builds the state for `config`: opens the pool (lazily; the database may still be down) and
    /// checks the mail settings. The mail worker is started separately ([`crate::mail::spawn_worker`]).
    pub fn new(config: Config, clock: Clock) -> anyhow::Result<App> {
        let db = Database::connect(&config, clock.clone())?;
        Self::with_database(config, db, clock)
    }

    /// The state over a database already opened (the CLI's [`Database::open`]).
    pub fn with_database(config: Config, db: Database, clock: Clock) -> anyhow::Result<App> {
        let passwords =
            PasswordHasher::new(config.password_hash_threads(), config.password_hash_queue)?;
        let totp_key = load_totp_key(&config)?;
        let mailer = Mailer::from_config(&config)?;
        Ok(Arc::new(AppState {
            config,
            db,
            clock,
            passwords,
            totp_key,
            metrics: Metrics::new()?,
            mailer,
        }))
    }
}

/// `TOTP_ENCRYPTION_KEY`, required in production. In development a key is generated once and
/// kept beside the SQLite file (or in the working directory for PostgreSQL), so 2FA survives
/// restarts without setup.
fn load_totp_key(config: &Config) -> anyhow::Result<TotpKey> {
    if let Some(encoded) = &config.totp_encryption_key {
        return TotpKey::from_base64(encoded.expose());
    }
    if config.is_production() {
        anyhow::bail!("TOTP_ENCRYPTION_KEY is required in production (32 random bytes, base64)");
    }
    let path = match &config.database_url {
        DatabaseUrl::Sqlite(path) if path != ":memory:" && !path.starts_with("file:") => {
            std::path::PathBuf::from(format!("{path}.totp-key"))
        }
        _ => std::path::PathBuf::from("portal-admin.totp-key"),
    };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return TotpKey::from_base64(&existing);
    }
    let key = TotpKey::generate();
    write_private(&path, &key.to_base64())?;
    tracing::warn!(path = %path.display(), "generated a development TOTP encryption key");
    Ok(key)
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
