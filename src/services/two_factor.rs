//! Two-factor authentication: enrolment (after re-authentication), recovery codes, and
//! checking a code at sign-in.

use scoped_futures::ScopedFutureExt;

use super::reauth::{self, Proof};
use super::throttle::{self, ThrottleKeys};
use crate::app::AppState;
use crate::db::models::{User, UserChanges, recovery_codes, users};
use crate::domain::audit::{AuditEntry, RecordRef};
use crate::domain::secrets::Redacted;
use crate::domain::totp;
use crate::domain::viewer::{Authentication, RequestMeta, Viewer};
use crate::domain::{AuditAction, AuditRecordType};
use crate::error::{AppError, AppResult};
use crate::mail::{self, MailMessage};

pub struct Enrollment {
    pub secret: Redacted<String>,
    pub otpauth_uri: Redacted<String>,
}

/// The time step `code` matches for the user's active secret, if any.
pub fn matching_step(app: &AppState, user: &User, code: &str) -> AppResult<Option<i64>> {
    let Some(stored) = &user.totp_secret_encrypted else {
        return Ok(None);
    };
    let secret = app.totp_key.decrypt(user.id, stored)?;
    Ok(step_for(app, secret.expose(), code))
}

fn step_for(app: &AppState, secret: &[u8], code: &str) -> Option<i64> {
    let now = u64::try_from(app.clock.now_utc().timestamp()).unwrap_or(0);
    totp::matching_step(secret, code, now).and_then(|step| i64::try_from(step).ok())
}

async fn current_user(app: &AppState, viewer: &Viewer) -> AppResult<User> {
    viewer.forbid_while_impersonating()?;
    let mut conn = app.db.conn().await?;
    users::get(&mut conn, viewer.user_id).await
}

/// A wrong code counts as a failed sign-in attempt of the account (codes are only 6 digits).
async fn wrong_code(app: &AppState, meta: &RequestMeta, user: &User) -> AppError {
    match throttle::record_failure(app, &ThrottleKeys::new(&user.email, meta)).await {
        Ok(()) => AppError::bad_input("code", "The code is not correct."),
        Err(err) => err,
    }
}

/// Starts enrolment, after the password is entered again: a new secret, kept pending until a
/// code from it is confirmed. Only the re-authenticated caller sees the secret, so confirming
/// (a code from it) proves the same person; a stolen session alone cannot put 2FA on an account.
pub async fn start_enrollment(
    app: &AppState,
    auth: &Authentication,
    current_password: &str,
) -> AppResult<Enrollment> {
    let viewer = &auth.viewer;
    let user = current_user(app, viewer).await?;
    if user.two_factor_enabled() {
        return Err(AppError::conflict(
            "Two-factor authentication is already on. Regenerate recovery codes instead, or ask an admin to turn it off.",
        ));
    }
    // Password only: there is no authenticator yet to take a code from.
    let _password_checked = reauth::verify(
        app,
        &auth.meta,
        &user,
        Proof::password("currentPassword", Some(current_password)),
    )
    .await?;
    let secret = totp::generate_secret();
    let pending = app.totp_key.encrypt(user.id, secret.expose())?;
    let user_id = user.id;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let changes = UserChanges {
                    totp_pending_secret_encrypted: Some(Some(pending)),
                    ..Default::default()
                };
                users::update(tx, user_id, &changes, None).await
            }
            .scope_boxed()
        })
        .await?;
    Ok(Enrollment {
        secret: Redacted::new(totp::secret_base32(secret.expose())),
        otpauth_uri: Redacted::new(totp::otpauth_uri(secret.expose(), &user.email)?),
    })
}

/// Turns 2FA on with a code from the pending secret; returns the recovery codes, the only
/// time they are shown.
pub async fn confirm_enrollment(
    app: &AppState,
    auth: &Authentication,
    code: &str,
) -> AppResult<Vec<Redacted<String>>> {
    let viewer = &auth.viewer;
    let user = current_user(app, viewer).await?;
    throttle::check(app, &ThrottleKeys::new(&user.email, &auth.meta)).await?;
    if user.two_factor_enabled() {
        return Err(AppError::conflict(
            "Two-factor authentication is already on.",
        ));
    }
    let Some(pending) = user.totp_pending_secret_encrypted.clone() else {
        return Err(AppError::bad_input(
            "code",
            "Start two-factor enrolment first.",
        ));
    };
    let secret = app.totp_key.decrypt(user.id, &pending)?;
    let Some(step) = step_for(app, secret.expose(), code) else {
        return Err(wrong_code(app, &auth.meta, &user).await);
    };
    let codes = totp::generate_recovery_codes(&app.totp_key.recovery_code_key(), user.id);
    let hashes: Vec<String> = codes.iter().map(|(_, hash)| hash.clone()).collect();
    let user_id = user.id;
    let notice = MailMessage::TwoFactorEnabled {
        to: user.email.clone(),
        name: user.name.clone(),
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let now = tx.now();
                let changes = UserChanges {
                    totp_secret_encrypted: Some(Some(pending)),
                    totp_pending_secret_encrypted: Some(None),
                    two_factor_enabled_at: Some(Some(now)),
                    totp_last_used_step: Some(Some(step)),
                    ..Default::default()
                };
                users::update_with(tx, user_id, &changes, None, |entry| AuditEntry {
                    action: AuditAction::TwoFactorEnabled,
                    ..entry
                })
                .await?;
                recovery_codes::replace(tx.conn()?, user_id, &hashes, now).await?;
                mail::enqueue(tx, app, notice).await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(codes.into_iter().map(|(code, _)| code).collect())
}

/// A new set of recovery codes (the old set stops working), confirmed with a current code.
pub async fn regenerate_recovery_codes(
    app: &AppState,
    auth: &Authentication,
    code: &str,
) -> AppResult<Vec<Redacted<String>>> {
    let viewer = &auth.viewer;
    let user = current_user(app, viewer).await?;
    throttle::check(app, &ThrottleKeys::new(&user.email, &auth.meta)).await?;
    if !user.two_factor_enabled() {
        return Err(AppError::bad_input(
            "code",
            "Two-factor authentication is not on.",
        ));
    }
    let Some(step) = matching_step(app, &user, code)? else {
        return Err(wrong_code(app, &auth.meta, &user).await);
    };
    let codes = totp::generate_recovery_codes(&app.totp_key.recovery_code_key(), user.id);
    let hashes: Vec<String> = codes.iter().map(|(_, hash)| hash.clone()).collect();
    let user_id = user.id;
    let result = app
        .db
        .write(auth.audit_actor(), |tx| {
            async move {
                if !users::claim_totp_step(tx.conn()?, user_id, step).await? {
                    return Err(AppError::bad_input(
                        "code",
                        "This code was already used. Wait for the next one.",
                    ));
                }
                let now = tx.now();
                recovery_codes::replace(tx.conn()?, user_id, &hashes, now).await?;
                tx.audit(AuditEntry::new(
                    AuditAction::RecoveryCodesRegenerated,
                    RecordRef::new(AuditRecordType::User, user_id),
                ))
                .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await;
    result?;
    Ok(codes.into_iter().map(|(code, _)| code).collect())
}

/// Rewrites recovery codes stored by the first version (a bare SHA-256) into the keyed form,
/// without their plaintext (the keyed hash wraps that digest): run by `serve` before it listens,
/// so no unkeyed hash outlives the upgrade and every code keeps working. Idempotent, and safe
/// when several instances start at once. Returns how many rows it rewrote.
pub async fn upgrade_legacy_recovery_codes(app: &AppState) -> AppResult<usize> {
    const BATCH: i64 = 500;
    let key = app.totp_key.recovery_code_key();
    let mut conn = app.db.conn().await?;
    let (mut after, mut upgraded) = (0, 0);
    loop {
        let batch = recovery_codes::batch_after(&mut conn, after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for row in batch
            .iter()
            .filter(|row| totp::is_legacy_recovery_hash(&row.code_hash))
        {
            let keyed = key.upgrade_legacy(row.user_id, &row.code_hash);
            if recovery_codes::rehash(&mut conn, row.id, &row.code_hash, &keyed).await? {
                upgraded += 1;
            }
        }
    }
    if upgraded > 0 {
        tracing::info!(upgraded, "recovery codes rehashed under the server key");
    }
    Ok(upgraded)
}
