//! Getting in: the first admin (command line), accepting an invitation, password resets and
//! changes.

use scoped_futures::ScopedFutureExt;

use super::credentials::{self, Purpose};
use super::sessions::{IssuedSession, SessionSpec, issue_session};
use super::throttle::{self, Limit, Policy};
use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::{NewUser, User, UserChanges, reset_requests, sessions, tokens, users};
use crate::domain::audit::{AuditActor, AuditEntry, RecordRef};
use crate::domain::password::validate_new_password;
use crate::domain::secrets::hash_token;
use crate::domain::viewer::{Authentication, RequestMeta, anonymous_actor};
use crate::domain::{
    AuditAction, AuditRecordType, ImpersonationEndCause, Role, SessionId, UserStatus,
};
use crate::error::{AppError, AppResult};
use crate::mail::{self, MailMessage};

/// Validates and normalises an email address (trimmed; case kept for display, compared
/// case-insensitively).
/// An address the mailer will send to: lettre's parser (what the outbox later hands to SMTP)
/// plus RFC 5321's limits (local part at most 64 octets, the whole at most 254), and a domain
/// with a dot (no mail to bare hosts). Anything else answers BAD_USER_INPUT now, so an
/// invitation is never accepted and then silently given up.
pub fn validate_email(field: &'static str, email: &str) -> AppResult<String> {
    let email = email.trim();
    let invalid = || AppError::bad_input(field, "Enter a valid email address.");
    if email.len() > 254 || email.chars().any(char::is_control) {
        return Err(invalid());
    }
    let address: lettre::Address = email.parse().map_err(|_| invalid())?;
    let domain = address.domain();
    let valid = address.user().len() <= 64
        && !address.user().contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if valid {
        Ok(email.to_owned())
    } else {
        Err(invalid())
    }
}

/// A person's or a record's name: one line (no control character at all, so no CR/LF can reach
/// a mail header or body line), at most 200 characters.
pub fn validate_name(field: &'static str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::bad_input(field, "The name cannot be empty."));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            "The name cannot contain line breaks or control characters.",
        ));
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

/// Records a reset request and answers at once, the same whether or not the account exists:
/// the request does the same work either way (the limiter's statements and one INSERT); the
/// mail worker looks the address up later ([`process_password_reset_requests`]) and mails a link
/// to an active account. Throttled per address and per client (RATE_LIMITED past either, for
/// unknown addresses alike).
pub async fn request_password_reset(
    app: &AppState,
    meta: &RequestMeta,
    email: &str,
) -> AppResult<()> {
    let email = email.trim();
    if email.is_empty() || email.len() > 320 {
        return Ok(());
    }
    let window = chrono::Duration::hours(1);
    let limits: Vec<Limit> = meta
        .client_ip
        .iter()
        .map(|ip| Limit {
            key: format!("reset-ip:{ip}"),
            policy: Policy::Window {
                limit: app.config.password_reset_max_per_client,
                window,
            },
        })
        .chain(std::iter::once(Limit {
            key: format!("reset:{}", email.to_lowercase()),
            policy: Policy::Window {
                limit: app.config.password_reset_max_per_email,
                window,
            },
        }))
        .collect();
    throttle::reserve_all(app, &limits).await?;
    let mut conn = app.db.conn().await?;
    reset_requests::insert(
        &mut conn,
        email,
        &meta.request_id,
        meta.client_ip.as_deref(),
        app.clock.now(),
    )
    .await?;
    app.db.outbox_wakeup().notify_one();
    Ok(())
}

/// The mail worker's half of [`request_password_reset`]: for each pending request, in one
/// transaction, marks it processed and, when the address is an active account's, issues the
/// reset link (audit event and mail). Safe with several workers: a request is claimed once.
/// Returns how many requests were processed.
pub async fn process_password_reset_requests(app: &AppState, limit: i64) -> AppResult<usize> {
    let pending = {
        let mut conn = app.db.conn().await?;
        reset_requests::pending(&mut conn, limit).await?
    };
    let mut processed = 0;
    for request in pending {
        let meta = RequestMeta {
            request_id: request.request_id.clone().unwrap_or_default(),
            client_ip: request.client_ip.clone(),
            ..RequestMeta::default()
        };
        let claimed = app
            .db
            .write(anonymous_actor(&meta, None), |tx| {
                let request = &request;
                async move {
                    let now = tx.now();
                    if !reset_requests::claim(tx.conn()?, request.id, now).await? {
                        return Ok(false);
                    }
                    let user = users::find_by_email(tx.conn()?, &request.email).await?;
                    if let Some(user) = user.filter(|u| u.status() == UserStatus::Active) {
                        super::users::issue_password_reset(tx, app, &user).await?;
                    }
                    Ok(true)
                }
                .scope_boxed()
            })
            .await?;
        if claimed {
            processed += 1;
        }
    }
    Ok(processed)
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
    credentials::verify_password(
        app,
        &auth.meta,
        &user.email,
        Some(&user),
        current,
        Purpose::CurrentPassword("changePassword"),
    )
    .await?
    .succeeded(app)
    .await?;
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
    users::bump_credentials_version(tx, user.id).await?;
    let ended = sessions::revoke_all_for_user(tx.conn()?, user.id, keep, now).await?;
    super::impersonation::record_ends(tx, &ended, super::sessions::idle_limit(app), |_| {
        ImpersonationEndCause::SessionRevoked
    })
    .await?;
    tokens::password_resets::void_all(tx.conn()?, user.id, now).await?;
    // An email change someone else started with the old password dies with it.
    tokens::email_changes::void_all(tx.conn()?, user.id, now).await?;
    mail::enqueue(
        tx,
        app,
        MailMessage::PasswordChanged {
            to: user.email.clone(),
            name: user.name.clone(),
        },
    )
    .await?;
    Ok(())
}
