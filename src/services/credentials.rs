//! The one password check: sign-in and every `currentPassword` (profile email change, 2FA
//! enrolment, re-authentication, password change) go through [`verify_password`].
//!
//! In order, before any argon2 work:
//! 1. the request's one password check is taken ([`PasswordCheckBudget`]): a second field of the
//!    same request asking for one (aliases) is refused with RATE_LIMITED;
//! 2. an attempt is reserved on the client's and the account's counters (`throttle`), one
//!    conditional statement each: of N parallel guesses at most the limit are hashed;
//!    a client the account has signed in from before counts on a bucket of its own;
//! 3. the hash is checked; a wrong password writes SIGN_IN_FAILED on the account with no actor
//!    (the person typing is not known to be the owner) and answers INVALID_CREDENTIALS.
//!
//! The reservation stays counted until the caller reports success ([`Verified::succeeded`]), so
//! a right password followed by a wrong second factor still counts as a failed attempt.
//!
//! [`PasswordCheckBudget`]: crate::domain::viewer::PasswordCheckBudget

use chrono::Duration;
use scoped_futures::ScopedFutureExt;

use super::throttle::{self, ThrottleKeys};
use crate::app::AppState;
use crate::db::models::{User, sessions};
use crate::domain::audit::{AuditEntry, RecordRef};
use crate::domain::password::is_current_hash;
use crate::domain::viewer::{RequestMeta, anonymous_actor};
use crate::domain::{AuditAction, AuditRecordType};
use crate::error::{AppError, AppResult};

/// A client the account signed in from within this many days is a known client.
const KNOWN_CLIENT_DAYS: i64 = 90;

/// A password that checked out, with what the check was made against.
#[must_use = "report success (or let the reservation count as a failure)"]
pub struct Verified {
    keys: ThrottleKeys,
    /// The user's credentials version when the password was checked: a session may be issued
    /// only while it is still current.
    pub credentials_version: i32,
    /// The stored hash that matched.
    pub checked_hash: String,
    /// The stored hash uses old parameters: upgrade it (sign-in does, in its transaction).
    pub outdated_hash: bool,
}

impl Verified {
    /// The whole attempt succeeded: the account's counter starts afresh and the client's
    /// reservation is given back.
    pub async fn succeeded(self, app: &AppState) -> AppResult<()> {
        throttle::record_success(app, &self.keys).await
    }
}

/// What is being checked, for the audit row of a wrong password.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    SignIn,
    /// `currentPassword` of the named operation.
    CurrentPassword(&'static str),
}

impl Purpose {
    fn reason(self) -> String {
        match self {
            Purpose::SignIn => "wrong password or inactive account".to_owned(),
            Purpose::CurrentPassword(operation) => {
                format!("wrong current password ({operation})")
            }
        }
    }
}

/// Whether the client of `meta` is one `user` has signed in from before.
async fn known_client(app: &AppState, meta: &RequestMeta, user: Option<&User>) -> AppResult<bool> {
    let (Some(user), Some(ip)) = (user, meta.client_ip.as_deref()) else {
        return Ok(false);
    };
    let since = app.clock.now() - Duration::days(KNOWN_CLIENT_DAYS);
    let mut conn = app.db.conn().await?;
    sessions::signed_in_from(&mut conn, user.id, ip, since).await
}

/// Checks `password` for the account `email` (`user`: the account when it exists). See the
/// module documentation for the steps. An unknown account costs the same hashing and answers
/// the same error as a wrong password.
pub async fn verify_password(
    app: &AppState,
    meta: &RequestMeta,
    email: &str,
    user: Option<&User>,
    password: &str,
    purpose: Purpose,
) -> AppResult<Verified> {
    if !meta.password_checks.take() {
        // Refused before anything is counted or hashed.
        return Err(AppError::RateLimited {
            retry_after_seconds: 1,
        });
    }
    let keys = if known_client(app, meta, user).await? {
        ThrottleKeys::for_known_client(email, meta)
    } else {
        ThrottleKeys::new(email, meta)
    };
    throttle::reserve_attempt(app, &keys).await?;
    let stored = user.and_then(|u| u.password_hash.as_deref());
    if app.passwords.verify(password, stored).await? {
        let checked_hash = stored.unwrap_or_default().to_owned();
        return Ok(Verified {
            keys,
            credentials_version: user.map_or(0, |u| u.credentials_version),
            outdated_hash: !is_current_hash(&checked_hash),
            checked_hash,
        });
    }
    if let Some(user) = user {
        record_failed_attempt(app, meta, user, purpose.reason()).await?;
    }
    Err(AppError::InvalidCredentials)
}

/// SIGN_IN_FAILED on `user` with no actor (whoever typed it is not known to be the owner).
pub async fn record_failed_attempt(
    app: &AppState,
    meta: &RequestMeta,
    user: &User,
    why: String,
) -> AppResult<()> {
    let entry = AuditEntry::new(
        AuditAction::SignInFailed,
        RecordRef::new(AuditRecordType::User, user.id),
    )
    .with_reason(Some(why));
    app.db
        .write(anonymous_actor(meta, None), |tx| {
            async move {
                tx.audit(entry).await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
}

/// An account's sign-in back-off, for admins: `None` for other viewers and when nothing is
/// counted.
pub async fn sign_in_throttle(
    app: &AppState,
    viewer: &crate::domain::viewer::Viewer,
    user: &User,
) -> AppResult<Option<throttle::AccountThrottle>> {
    if !viewer.is_admin() {
        return Ok(None);
    }
    throttle::account_state(app, &user.email).await
}

/// Clears an account's sign-in counters (the shared one and its known clients'), admins only;
/// audited as SIGN_IN_THROTTLE_CLEARED when there was something to clear. The clients' own
/// counters stay: a guessing client is not let off by clearing one account.
pub async fn clear_sign_in_throttle(
    app: &AppState,
    auth: &crate::domain::viewer::Authentication,
    id: crate::domain::UserId,
) -> AppResult<User> {
    auth.viewer.require_admin()?;
    let user = super::users::get(app, &auth.viewer, id).await?;
    let email = user.email.clone();
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let removed = throttle::clear_account(tx.conn()?, &email).await?;
                if removed > 0 {
                    tx.audit(
                        AuditEntry::new(
                            AuditAction::SignInThrottleCleared,
                            RecordRef::new(AuditRecordType::User, id),
                        )
                        .with_reason(Some(format!("{removed} sign-in counter(s) cleared"))),
                    )
                    .await?;
                }
                Ok(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(user)
}
