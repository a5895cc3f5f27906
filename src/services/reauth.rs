//! Re-authentication ("step-up") for the operations that change how an account is protected:
//! starting 2FA enrolment, an admin turning off someone's 2FA, changing an email address. A
//! stolen session alone is not enough for them: the person at the keyboard proves again that
//! they are the account's owner, with the password or a fresh code from the authenticator app.
//!
//! Every password check here goes through [`check_password`], that is through
//! `credentials::verify_password`, the one check sign-in uses too: the same limiter, one check
//! per request, a SIGN_IN_FAILED row for each wrong password.

use super::credentials::{self, Purpose};
use super::throttle::{self, ThrottleKeys};
use super::two_factor;
use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::{User, users};
use crate::domain::viewer::RequestMeta;
use crate::error::{AppError, AppResult};

/// What the client offered as proof. Both absent is a BAD_USER_INPUT naming `password_field`.
pub struct Proof<'a> {
    pub password: Option<&'a str>,
    pub totp_code: Option<&'a str>,
    /// The input field the error names when no proof was given.
    pub password_field: &'static str,
}

impl<'a> Proof<'a> {
    pub fn password(field: &'static str, password: Option<&'a str>) -> Self {
        Self {
            password,
            totp_code: None,
            password_field: field,
        }
    }
}

/// A proof that checked out. A TOTP code is accepted once: its time step is claimed by
/// [`Reauthenticated::claim`] in the transaction of the change it authorises, so a replayed
/// (or concurrently submitted) code changes nothing.
#[must_use = "a TOTP proof must be claimed in the write transaction"]
pub struct Reauthenticated {
    user_id: crate::domain::UserId,
    totp_step: Option<i64>,
}

impl Reauthenticated {
    /// Claims the TOTP step (when the proof was a code); INVALID_CREDENTIALS when another request
    /// used that code first, which rolls the caller's transaction back.
    pub async fn claim(&self, tx: &mut WriteTx) -> AppResult<()> {
        if let Some(step) = self.totp_step
            && !users::claim_totp_step(tx.conn()?, self.user_id, step).await?
        {
            return Err(AppError::InvalidCredentials);
        }
        Ok(())
    }
}

/// Checks `proof` for `user` (the person at the keyboard). A password is checked when given;
/// otherwise a TOTP code, for users with 2FA on. A wrong one counts against the account's
/// sign-in limit and answers INVALID_CREDENTIALS.
pub async fn verify(
    app: &AppState,
    meta: &RequestMeta,
    user: &User,
    proof: Proof<'_>,
) -> AppResult<Reauthenticated> {
    let password = proof.password.filter(|p| !p.is_empty());
    let code = proof.totp_code.map(str::trim).filter(|c| !c.is_empty());
    match (password, code) {
        (Some(password), _) => {
            check_password(app, meta, user, password).await?;
            Ok(Reauthenticated {
                user_id: user.id,
                totp_step: None,
            })
        }
        (None, Some(code)) => {
            let keys = ThrottleKeys::new(&user.email, meta);
            throttle::check(app, &keys).await?;
            match two_factor::matching_step(app, user, code)? {
                Some(step) => Ok(Reauthenticated {
                    user_id: user.id,
                    totp_step: Some(step),
                }),
                None => {
                    throttle::record_failure(app, &keys).await?;
                    Err(AppError::InvalidCredentials)
                }
            }
        }
        (None, None) => Err(AppError::bad_input(
            proof.password_field,
            if user.two_factor_enabled() {
                "Confirm it is you: enter your password or a code from your authenticator app."
            } else {
                "Confirm it is you: enter your password."
            },
        )),
    }
}

/// Whether `password` is `user`'s current password, through the sign-in limiter
/// (`credentials::verify_password`): refused with RATE_LIMITED while the account backs off or
/// when the request already checked a password; a wrong one counts and is audited.
pub async fn check_password(
    app: &AppState,
    meta: &RequestMeta,
    user: &User,
    password: &str,
) -> AppResult<()> {
    let verified = credentials::verify_password(
        app,
        meta,
        &user.email,
        Some(user),
        password,
        Purpose::CurrentPassword("re-authentication"),
    )
    .await?;
    verified.succeeded(app).await
}
