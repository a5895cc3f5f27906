//! Changing an account's email address: the new address proves it is reachable, and owned,
//! before anything changes (issue 12, checklist item 13).
//!
//! - `updateUser` with a new `email` for an active account does not change it. It mails a
//!   single-use link to the new address (`PUBLIC_URL/confirm-email?token=…`, valid
//!   `EMAIL_CHANGE_TTL_HOURS`, voiding earlier links) and audits EMAIL_CHANGE_REQUESTED with the
//!   `pendingEmail`. One's own address needs the current password ([`super::reauth`]); an admin
//!   changing someone else's needs no password of theirs, and the request is audited as the
//!   admin's. The same link either way: an admin's typo must not hand the account's password
//!   resets to a stranger's mailbox.
//! - `confirmEmailChange(token)` applies it: the email changes (EMAIL_CHANGED, `email` before ->
//!   after), outstanding reset and email-change links are voided (they were mailed to an address
//!   the account no longer answers to), and the old address gets a notice. Sessions stay: the
//!   password and 2FA are unchanged, and the change was proven by both the account (password or
//!   admin) and the new mailbox.
//! - An invited user has not proven any address yet: an admin's correction applies at once and
//!   the invitation is sent again to the new address (accepting it is the proof).

use chrono::Duration;
use scoped_futures::ScopedFutureExt;

use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::tokens::{self, email_change_details};
use crate::db::models::{User, UserChanges, users};
use crate::domain::audit::{AuditEntry, AuditValue, FieldChange, RecordRef};
use crate::domain::secrets::{hash_token, issue_token};
use crate::domain::viewer::{RequestMeta, Viewer, anonymous_actor};
use crate::domain::{AuditAction, AuditRecordType, UserId, UserStatus};
use crate::error::{AppError, AppResult};
use crate::mail::{self, MailMessage};

/// The refusal when the new address belongs to another account (after re-authentication, so it
/// is no anonymous oracle of who has an account).
fn taken() -> AppError {
    AppError::conflict("This email address is already used by another account.")
}

/// Refuses an address another account uses (case-insensitively).
pub async fn ensure_available(app: &AppState, user_id: UserId, email: &str) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    match users::find_by_email(&mut conn, email).await? {
        Some(other) if other.id != user_id => Err(taken()),
        _ => Ok(()),
    }
}

/// Writes a confirmation link for `new_email` (voiding the user's earlier ones), audits the
/// request and mails the link to the new address, in the caller's transaction.
pub async fn request(
    tx: &mut WriteTx,
    app: &AppState,
    user: &User,
    new_email: &str,
    requested_by: UserId,
) -> AppResult<()> {
    let now = tx.now();
    let expires_at = now + Duration::hours(app.config.email_change_ttl_hours);
    let token = issue_token();
    tokens::email_changes::void_all(tx.conn()?, user.id, now).await?;
    tokens::email_changes::insert(
        tx.conn()?,
        user.id,
        &token.hash,
        new_email,
        Some(requested_by),
        now,
        expires_at,
    )
    .await?;
    tx.audit(
        AuditEntry::new(
            AuditAction::EmailChangeRequested,
            RecordRef::new(AuditRecordType::User, user.id),
        )
        .with_changes(vec![FieldChange::new(
            "pendingEmail",
            AuditValue::Null,
            AuditValue::text(new_email),
        )]),
    )
    .await?;
    mail::enqueue(
        tx,
        app,
        MailMessage::EmailChangeConfirmation {
            to: new_email.to_owned(),
            name: user.name.clone(),
            link: mail::email_change_link(&app.config, token.plaintext.expose()),
            expires_at,
            by_admin: requested_by != user.id,
        },
    )
    .await?;
    Ok(())
}

/// Applies the email change a confirmation link stands for. INVALID_TOKEN for an unknown, used,
/// voided or expired link (or an account no longer active); CONFLICT when another account took
/// the address meanwhile. Either way nothing changes.
pub async fn confirm(app: &AppState, meta: &RequestMeta, token: &str) -> AppResult<()> {
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let link = tokens::email_changes::find_live(&mut conn, &hash_token(token), now)
        .await?
        .ok_or(AppError::InvalidToken)?;
    drop(conn);
    let user_id = link.user_id;
    app.db
        .write(anonymous_actor(meta, Some(user_id)), |tx| {
            async move {
                let user = users::lock(tx, user_id).await?;
                let now = tx.now();
                if user.status() != UserStatus::Active
                    || !tokens::email_changes::consume(tx.conn()?, link.id, now).await?
                {
                    return Err(AppError::InvalidToken);
                }
                let new_email = email_change_details::new_email(tx.conn()?, link.id).await?;
                if let Some(other) = users::find_by_email(tx.conn()?, &new_email).await?
                    && other.id != user_id
                {
                    return Err(taken());
                }
                let changes = UserChanges {
                    email: Some(new_email.clone()),
                    ..Default::default()
                };
                users::update_with(tx, user_id, &changes, None, |entry| AuditEntry {
                    action: AuditAction::EmailChanged,
                    ..entry
                })
                .await?;
                tokens::email_changes::void_all(tx.conn()?, user_id, now).await?;
                tokens::password_resets::void_all(tx.conn()?, user_id, now).await?;
                mail::enqueue(
                    tx,
                    app,
                    MailMessage::EmailChanged {
                        to: user.email.clone(),
                        name: user.name.clone(),
                        new_email,
                    },
                )
                .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
}

/// The address each of `user_ids` waits to confirm, for the viewer: their own, or anyone's for
/// an admin (others see none: it is not a contact address yet).
pub async fn pending_emails(
    app: &AppState,
    viewer: &Viewer,
    user_ids: &[UserId],
) -> AppResult<Vec<(UserId, String)>> {
    let visible: Vec<UserId> = user_ids
        .iter()
        .copied()
        .filter(|id| viewer.is_admin() || *id == viewer.user_id)
        .collect();
    if visible.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = app.db.conn().await?;
    email_change_details::pending_of(&mut conn, &visible, app.clock.now()).await
}
