//! Attempt limits: sign-ins and every other password check, per account and per client, and
//! password reset requests, per address and per client.
//!
//! An attempt is *reserved* before the work it guards (the argon2 hash, the mail): one
//! conditional statement moves the counter from what was read to one more, so of N parallel
//! attempts at most the limit get through, on one instance or many over one database. A
//! reservation that turns out to be a success is given back; a failure stays counted.
//!
//! Accounts are never locked (OWASP: lockout is a denial of service anyone can cause). Past
//! `SIGN_IN_MAX_FAILURES` free attempts an account backs off exponentially — 30 s, 60 s, … up to
//! `SIGN_IN_BACKOFF_MAX_SECONDS` between attempts — and a client the account has signed in from
//! before counts on a bucket of its own, so someone else's guessing never blocks the owner's
//! usual device. Counters are forgotten after `SIGN_IN_WINDOW_MINUTES` without an attempt.

use chrono::{Duration, NaiveDateTime};

use crate::app::AppState;
use crate::db::DbConn;
use crate::db::models::throttles::{self, CurrentBy, NextState, Throttle};
use crate::domain::viewer::RequestMeta;
use crate::error::{AppError, AppResult};

/// How many times a reservation re-reads a counter that another attempt changed under it before
/// it gives up (RATE_LIMITED: under that much contention the counter is being hammered).
const RESERVE_TRIES: usize = 6;

/// How a counter admits attempts.
#[derive(Debug, Clone, Copy)]
pub enum Policy {
    /// `free` attempts, then exponential back-off from `base` to `max`; forgotten after
    /// `forget_after` without an attempt.
    Backoff {
        free: i32,
        base: Duration,
        max: Duration,
        forget_after: Duration,
    },
    /// At most `limit` attempts per fixed window.
    Window { limit: i32, window: Duration },
}

/// One counter an attempt touches.
#[derive(Debug, Clone)]
pub struct Limit {
    pub key: String,
    pub policy: Policy,
}

/// What admitting one more attempt does to a counter (`None`: refused, retry after).
fn next_state(
    policy: Policy,
    row: Option<&Throttle>,
    now: NaiveDateTime,
) -> Result<NextState, Duration> {
    match policy {
        Policy::Backoff {
            free,
            base,
            max,
            forget_after,
        } => {
            let (failures, started) = match row {
                Some(row) => {
                    if let Some(until) = row.blocked_until
                        && until > now
                    {
                        return Err(until - now);
                    }
                    let last = row
                        .blocked_until
                        .map_or(row.updated_at, |b| b.max(row.updated_at));
                    if now >= last + forget_after {
                        (0, now)
                    } else {
                        (row.failures, row.window_started_at)
                    }
                }
                None => (0, now),
            };
            let attempts = failures.saturating_add(1);
            let blocked_until = (attempts >= free).then(|| {
                let doublings = (attempts - free).clamp(0, 30) as u32;
                let wait = base
                    .num_seconds()
                    .saturating_mul(1_i64 << doublings)
                    .min(max.num_seconds())
                    .max(1);
                now + Duration::seconds(wait)
            });
            Ok(NextState {
                failures: attempts,
                window_started_at: started,
                blocked_until,
            })
        }
        Policy::Window { limit, window } => match row {
            Some(row) if now < row.window_started_at + window => {
                if row.failures >= limit {
                    Err(row.window_started_at + window - now)
                } else {
                    Ok(NextState {
                        failures: row.failures + 1,
                        window_started_at: row.window_started_at,
                        blocked_until: None,
                    })
                }
            }
            _ => Ok(NextState {
                failures: 1,
                window_started_at: now,
                blocked_until: None,
            }),
        },
    }
}

fn rate_limited(wait: Duration) -> AppError {
    // Rounded up: a client that waits the seconds it is told is admitted.
    AppError::RateLimited {
        retry_after_seconds: ((wait.num_milliseconds() + 999) / 1000).max(1),
    }
}

/// Reserves one attempt on `limit`: RATE_LIMITED when the counter admits none now. One
/// conditional statement decides (an INSERT of a new counter, or a compare-and-set of the row as
/// read), so parallel reservations never exceed the limit.
pub async fn reserve(app: &AppState, conn: &mut DbConn, limit: &Limit) -> AppResult<()> {
    for _ in 0..RESERVE_TRIES {
        // The common case, well below the limit: one increment that parallel attempts never
        // make each other fail (tried again after losing a race to create the row). Near the
        // limit, absent, forgotten or backing off: the compare-and-set below.
        let now = app.clock.now();
        let (cap, current_by, cut_off) = match limit.policy {
            Policy::Backoff {
                free, forget_after, ..
            } => (free - 1, CurrentBy::LastAttempt, now - forget_after),
            Policy::Window { limit, window } => (limit, CurrentBy::WindowStart, now - window),
        };
        if cap > 0
            && throttles::increment_below(conn, &limit.key, cap, current_by, cut_off, now).await?
        {
            return Ok(());
        }
        let row = throttles::find(conn, &limit.key).await?;
        let next = next_state(limit.policy, row.as_ref(), now).map_err(rate_limited)?;
        let reserved = match &row {
            None => throttles::insert_new(conn, &limit.key, &next, now).await?,
            Some(seen) => throttles::compare_and_set(conn, seen, &next, now).await?,
        };
        if reserved {
            return Ok(());
        }
    }
    Err(rate_limited(Duration::seconds(1)))
}

/// Reserves one attempt on each limit in order; the first refusal answers.
pub async fn reserve_all(app: &AppState, limits: &[Limit]) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    for limit in limits {
        reserve(app, &mut conn, limit).await?;
    }
    Ok(())
}

pub fn backoff_policy(app: &AppState, free: i32) -> Policy {
    Policy::Backoff {
        free: free.max(1),
        base: Duration::seconds(app.config.sign_in_backoff_base_seconds.max(1)),
        max: Duration::seconds(app.config.sign_in_backoff_max_seconds.max(1)),
        forget_after: Duration::minutes(app.config.sign_in_window_minutes.max(1)),
    }
}

pub fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// The bucket of one client the account has signed in from before.
fn known_client_key(email: &str, ip: &str) -> String {
    format!("{}@client:{ip}", account_key(email))
}

fn client_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// The counters one password check (or sign-in) touches.
#[derive(Debug, Clone)]
pub struct ThrottleKeys {
    /// The account's bucket: shared, or this known client's own.
    account: String,
    client: Option<String>,
}

impl ThrottleKeys {
    /// The shared account bucket and the client's.
    pub fn new(email: &str, meta: &RequestMeta) -> Self {
        Self {
            account: account_key(email),
            client: meta.client_ip.as_deref().map(client_key),
        }
    }

    /// The bucket of a client the account has signed in from before: its own, so failures
    /// elsewhere never block it (its own failures still back it off).
    pub fn for_known_client(email: &str, meta: &RequestMeta) -> Self {
        match meta.client_ip.as_deref() {
            Some(ip) => Self {
                account: known_client_key(email, ip),
                client: Some(client_key(ip)),
            },
            None => Self::new(email, meta),
        }
    }

    fn limits(&self, app: &AppState) -> Vec<Limit> {
        // The client first: a client past its own limit does not move the account's counter.
        self.client
            .iter()
            .map(|key| Limit {
                key: key.clone(),
                policy: backoff_policy(app, app.config.sign_in_ip_max_failures),
            })
            .chain(std::iter::once(Limit {
                key: self.account.clone(),
                policy: backoff_policy(app, app.config.sign_in_max_failures),
            }))
            .collect()
    }
}

/// Reserves one attempt on the account and the client (before any hashing).
pub async fn reserve_attempt(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    reserve_all(app, &keys.limits(app)).await
}

/// The attempt was a success: the account's bucket starts afresh and the client's reservation
/// is given back (a client is limited by its failures, not by its users signing in).
pub async fn record_success(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    throttles::clear(&mut conn, &keys.account).await?;
    if let Some(client) = &keys.client {
        throttles::give_back(&mut conn, client).await?;
    }
    Ok(())
}

/// RATE_LIMITED while either counter admits no attempt now (for the cheap checks, TOTP codes,
/// that count a failure after the fact with [`record_failure`]).
pub async fn check(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    for limit in keys.limits(app) {
        let row = throttles::find(&mut conn, &limit.key).await?;
        next_state(limit.policy, row.as_ref(), now).map_err(rate_limited)?;
    }
    Ok(())
}

/// Counts one failure on both counters (a counter already backing off stays as it is).
pub async fn record_failure(app: &AppState, keys: &ThrottleKeys) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    for limit in keys.limits(app) {
        match reserve(app, &mut conn, &limit).await {
            Ok(()) | Err(AppError::RateLimited { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// An account's sign-in throttle as admins see it: failures counted on the shared bucket and
/// until when it admits no attempt. `None` when nothing is counted.
#[derive(Debug, Clone)]
pub struct AccountThrottle {
    pub failures: i32,
    pub blocked_until: Option<NaiveDateTime>,
}

pub async fn account_state(app: &AppState, email: &str) -> AppResult<Option<AccountThrottle>> {
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let Some(row) = throttles::find(&mut conn, &account_key(email)).await? else {
        return Ok(None);
    };
    let forget_after = Duration::minutes(app.config.sign_in_window_minutes.max(1));
    let last = row
        .blocked_until
        .map_or(row.updated_at, |b| b.max(row.updated_at));
    if now >= last + forget_after || row.failures == 0 {
        return Ok(None);
    }
    Ok(Some(AccountThrottle {
        failures: row.failures,
        blocked_until: row.blocked_until.filter(|until| *until > now),
    }))
}

/// Clears the account's counters (shared and per known client); how many there were.
pub async fn clear_account(conn: &mut DbConn, email: &str) -> AppResult<usize> {
    let key = account_key(email);
    throttles::clear_with_prefix(conn, &key, &format!("{key}@")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    fn row(failures: i32, updated: i64, blocked: Option<i64>) -> Throttle {
        Throttle {
            key: "k".into(),
            failures,
            window_started_at: at(0),
            updated_at: at(updated),
            blocked_until: blocked.map(at),
        }
    }

    const BACKOFF: Policy = Policy::Backoff {
        free: 5,
        base: Duration::seconds(30),
        max: Duration::seconds(900),
        forget_after: Duration::minutes(15),
    };

    #[test]
    fn back_off_doubles_after_the_free_attempts_up_to_the_cap() {
        let free = next_state(BACKOFF, Some(&row(3, 10, None)), at(11)).expect("admitted");
        assert_eq!((free.failures, free.blocked_until), (4, None));
        let fifth = next_state(BACKOFF, Some(&row(4, 10, None)), at(11)).expect("admitted");
        assert_eq!(fifth.blocked_until, Some(at(41)));
        let seventh = next_state(BACKOFF, Some(&row(6, 10, Some(20))), at(21)).expect("admitted");
        assert_eq!(seventh.blocked_until, Some(at(21 + 120)));
        let capped = next_state(BACKOFF, Some(&row(40, 10, Some(20))), at(21)).expect("admitted");
        assert_eq!(capped.blocked_until, Some(at(21 + 900)));
        assert_eq!(
            next_state(BACKOFF, Some(&row(6, 10, Some(50))), at(21)).map(|_| ()),
            Err(Duration::seconds(29))
        );
        // Forgotten 15 minutes after the last attempt (or the end of the wait).
        let later = next_state(BACKOFF, Some(&row(9, 10, Some(50))), at(50 + 900)).expect("ok");
        assert_eq!((later.failures, later.blocked_until), (1, None));
    }

    #[test]
    fn a_window_admits_its_limit_then_waits_for_the_next() {
        let policy = Policy::Window {
            limit: 3,
            window: Duration::minutes(60),
        };
        assert_eq!(
            next_state(policy, Some(&row(2, 5, None)), at(10)).map(|n| n.failures),
            Ok(3)
        );
        assert_eq!(
            next_state(policy, Some(&row(3, 5, None)), at(10)).map(|n| n.failures),
            Err(Duration::seconds(3590))
        );
        assert_eq!(
            next_state(policy, Some(&row(3, 5, None)), at(3600)).map(|n| n.failures),
            Ok(1)
        );
    }
}
