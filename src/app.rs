//! The shared state every request and background task works with.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Database;
use crate::domain::password::PasswordHasher;
use crate::http::metrics::Metrics;
use crate::mail::Mailer;

pub struct AppState {
    pub config: Config,
    pub db: Database,
    pub clock: Clock,
    pub passwords: PasswordHasher,
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
        let passwords = PasswordHasher::new(config.password_hash_concurrency)?;
        let mailer = Mailer::from_config(&config)?;
        Ok(Arc::new(AppState {
            config,
            db,
            clock,
            passwords,
            metrics: Metrics::new()?,
            mailer,
        }))
    }
}
