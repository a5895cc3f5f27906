//! Getting in: the first admin (command line), accepting an invitation, password resets and
//! changes.

use scoped_futures::ScopedFutureExt;

use super::sessions::{IssuedSession, SessionSpec, issue_session};
use super::throttle::{self, ThrottleKeys};
use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::{NewUser, User, UserChanges, sessions, tokens, users};
use crate::domain::audit::{AuditActor, AuditEntry, RecordRef};
use crate::domain::password::validate_new_password;
use crate::domain::secrets::hash_token;
use crate::domain::viewer::{Authentication, RequestMeta, anonymous_actor};
use crate::domain::{AuditAction, AuditRecordType, Role, SessionId, UserStatus};
use crate::error::{AppError, AppResult};
use crate::mail::{self, MailMessage};

/// Validates and normalises an email address (trimmed; case kept for display, compared
/// case-insensitively).
pub fn validate_email(field: &'static str, email: &str) -> AppResult<String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(AppError::bad_input(field, "Enter a valid email address."))
    }
}

pub fn validate_name(field: &'static str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::bad_input(field, "The name cannot be empty."));
    }
    if name.chars().count() > 200 {
        return Err(AppError::bad_input(
            field,
            "The name is too long (200 characters at most).",
        ));
    }
    Ok(name.to_owned())
}

/// Creates an active admin with a password (`portal-admin create-admin`). Audited as a system
/// action.
pub async fn create_admin(
    app: &AppState,
    email: &str,
    name: &str,
    password: &str,
) -> AppResult<User> {
    let email = validate_email("email", email)?;
    let name = validate_name("name", name)?;
    validate_new_password("password", password)?;
    let password_hash = app.passwords.hash(password).await?;
    let now = app.clock.now();
    let new_user = NewUser {
        name,
        email,
        role: Role::Admin,
        password_hash: Some(password_hash),
        invitation_sent_at: None,
        activated_at: Some(now),
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(AuditActor::system(), |tx| {
            async move { users::create(tx, new_user).await }.scope_boxed()
        })
        .await
}

/// Accepts an invitation: sets the password (and the name, if given), activates the account and
/// signs the user in. Role and memberships come from the invitation alone.
pub async fn accept_invitation(
    app: &AppState,
    meta: &RequestMeta,
    token: &str,
    password: &str,
    name: Option<&str>,
) -> AppResult<IssuedSession> {
    validate_new_password("password", password)?;
    let name = name.map(|n| validate_name("name", n)).transpose()?;
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let invitation = tokens::invitations::find_live(&mut conn, &hash_token(token), now)
        .await?
        .ok_or(AppError::InvalidToken)?;
    drop(conn);
    let password_hash = app.passwords.hash(password).await?;
    let user_id = invitation.user_id;
    let spec = SessionSpec::sign_in(app, user_id).from_client(meta);
    app.db
        .write(anonymous_actor(meta, Some(user_id)), |tx| {
            async move {
                let user = users::lock(tx, user_id).await?;
                let now = tx.now();
                // A used, voided or expired token, or an account no longer waiting for it.
                if user.status() != UserStatus::Invited
                    || !tokens::invitations::consume(tx.conn()?, invitation.id, now).await?
                {
                    return Err(AppError::InvalidToken);
                }
                let changes = UserChanges {
                    name,
                    password_hash: Some(Some(password_hash)),
                    activated_at: Some(Some(now)),
                    ..Default::default()
                };
                users::update_with(tx, user_id, &changes, None, |entry| AuditEntry {
                    action: AuditAction::InvitationAccepted,
                    ..entry
                })
                .await?;
                users::record_sign_in(tx, user_id, now).await?;
                let issued = issue_session(tx, &spec).await?;
                tx.audit(AuditEntry::new(
                    AuditAction::SignIn,
                    RecordRef::new(AuditRecordType::User, user_id),
                ))
                .await?;
                Ok(issued)
            }
            .scope_boxed()
        })
        .await
}

/// Always answers the same, whether or not the account exists; for an active account, mails a
/// reset link.
pub async fn request_password_reset(
    app: &AppState,
    meta: &RequestMeta,
    email: &str,
) -> AppResult<()> {
    let email = email.trim();
    if email.is_empty() || email.len() > 320 {
        return Ok(());
    }
    let mut conn = app.db.conn().await?;
    let user = users::find_by_email(&mut conn, email).await?;
    drop(conn);
    let Some(user) = user.filter(|u| u.status() == UserStatus::Active) else {
        return Ok(());
    };
    app.db
        .write(anonymous_actor(meta, None), |tx| {
            async move { super::users::issue_password_reset(tx, app, &user).await }.scope_boxed()
        })
        .await
}

/// Sets a new password with a reset link: single use, ends every session of the user, keeps 2FA,
/// and mails a notice.
pub async fn reset_password(
    app: &AppState,
    meta: &RequestMeta,
    token: &str,
    password: &str,
) -> AppResult<()> {
    validate_new_password("password", password)?;
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let reset = tokens::password_resets::find_live(&mut conn, &hash_token(token), now)
        .await?
        .ok_or(AppError::InvalidToken)?;
    drop(conn);
    let password_hash = app.passwords.hash(password).await?;
    let user_id = reset.user_id;
    app.db
        .write(anonymous_actor(meta, Some(user_id)), |tx| {
            async move {
                let user = users::lock(tx, user_id).await?;
                let now = tx.now();
                if user.status() != UserStatus::Active
                    || !tokens::password_resets::consume(tx.conn()?, reset.id, now).await?
                {
                    return Err(AppError::InvalidToken);
                }
                set_password(
                    tx,
                    app,
                    &user,
                    password_hash,
                    AuditAction::PasswordReset,
                    None,
                )
                .await
            }
            .scope_boxed()
        })
        .await
}

/// Changes the signed-in user's password, given the current one. Other sessions end.
pub async fn change_password(
    app: &AppState,
    auth: &Authentication,
    current: &str,
    new: &str,
) -> AppResult<()> {
    let viewer = &auth.viewer;
    viewer.forbid_while_impersonating()?;
    // Before the current password is hashed: a refused new one costs no argon2.
    validate_new_password("newPassword", new)?;
    let mut conn = app.db.conn().await?;
    let user = users::get(&mut conn, viewer.user_id).await?;
    drop(conn);
    let keys = ThrottleKeys::new(&user.email, &auth.meta);
    throttle::check(app, &keys).await?;
    if !app
        .passwords
        .verify(current, user.password_hash.as_deref())
        .await?
    {
        throttle::record_failure(app, &keys).await?;
        return Err(AppError::InvalidCredentials);
    }
    let password_hash = app.passwords.hash(new).await?;
    let keep = viewer.session_id;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                set_password(
                    tx,
                    app,
                    &user,
                    password_hash,
                    AuditAction::PasswordChanged,
                    Some(keep),
                )
                .await
            }
            .scope_boxed()
        })
        .await
}

/// The password change shared by reset and change: new hash, audit event, sessions ended (but
/// `keep`), outstanding reset links voided, and a notice by email.
async fn set_password(
    tx: &mut WriteTx,
    app: &AppState,
    user: &User,
    password_hash: String,
    action: AuditAction,
    keep: Option<SessionId>,
) -> AppResult<()> {
    let now = tx.now();
    let changes = UserChanges {
        password_hash: Some(Some(password_hash)),
        ..Default::default()
    };
    users::update_with(tx, user.id, &changes, None, |entry| AuditEntry {
        action,
        ..entry
    })
    .await?;
    sessions::revoke_all_for_user(tx.conn()?, user.id, keep, now).await?;
    tokens::password_resets::void_all(tx.conn()?, user.id, now).await?;
    // An email change someone else started with the old password dies with it.
    tokens::email_changes::void_all(tx.conn()?, user.id, now).await?;
    mail::enqueue(
        tx,
        &app.config,
        MailMessage::PasswordChanged {
            to: user.email.clone(),
            name: user.name.clone(),
        },
    )
    .await?;
    Ok(())
}
