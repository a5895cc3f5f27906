//! Sign-in throttling: failures counted per account and per client IP within a window. Past
//! the limit a request is refused with RATE_LIMITED before any password is hashed.

use chrono::Duration;

use crate::app::AppState;
use crate::db::models::throttles;
use crate::domain::viewer::RequestMeta;
use crate::error::{AppError, AppResult};

/// The counters one attempt touches.
pub struct ThrottleKeys {
    account: String,
    ip: Option<String>,
}

impl ThrottleKeys {
    pub fn new(email: &str, meta: &RequestMeta) -> Self {
        Self {
            account: format!("account:{}", email.trim().to_lowercase()),
            ip: meta.client_ip.as_ref().map(|ip| format!("ip:{ip}")),
        }
    }

    fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone())
            .chain(self.ip.clone())
            .collect()
    }
}

fn window(app: &AppState) -> Duration {
    Duration::minutes(app.config.sign_in_window_minutes)
}

/// RATE_LIMITED while either counter is at its limit within the current window.
pub async fn check(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let rows = throttles::find_many(&mut conn, &keys.all()).await?;
    let blocked_until = rows
        .iter()
        .filter(|row| {
            let limit = if row.key == keys.account {
                app.config.sign_in_max_failures
            } else {
                app.config.sign_in_ip_max_failures
            };
            row.failures >= limit && row.window_started_at + window(app) > now
        })
        .map(|row| row.window_started_at + window(app))
        .max();
    match blocked_until {
        Some(until) => Err(AppError::RateLimited {
            retry_after_seconds: (until - now).num_seconds().max(1),
        }),
        None => Ok(()),
    }
}

pub async fn record_failure(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let now = app.clock.now();
    let window_start = now - window(app);
    let mut conn = app.db.conn().await?;
    for key in keys.all() {
        throttles::record_failure(&mut conn, &key, now, window_start).await?;
    }
    Ok(())
}

/// A successful sign-in resets the account's counter (not the IP's: one good password must not
/// reopen a client that is guessing at many accounts).
pub async fn record_success(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    throttles::clear(&mut conn, &keys.account).await
}
