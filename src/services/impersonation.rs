//! Impersonation: an admin becomes a user for support, sees exactly what they see, and comes back.
//!
//! - Only an admin in their own session may become a user: never themselves, another admin, a
//!   deactivated or never-activated user, and never from an impersonation (no chains). A reason
//!   is required.
//! - The impersonation is a session of the user hanging off the admin's session
//!   (`parent_session_id`). It dies with that session (sign-out, the admin discarded or demoted),
//!   when the user is discarded or becomes an admin, at stop, and at its hard limit
//!   (`IMPERSONATION_MINUTES`, never past the admin session's end), which activity never extends.
//!   `sessions::authenticate` checks all of it on every request.
//! - While it lasts every permission check runs as the user (the viewer *is* the user), and
//!   every change is audited as the user's, marked with the admin (`Viewer::audit_actor`).
//! - Starting and stopping are the admin's own acts: audited with the admin as actor, unmarked,
//!   with the reason, on the user's History (and on the admin's).

use chrono::Duration;
use scoped_futures::ScopedFutureExt;

use super::sessions::{self, IssuedSession, SessionSpec, issue_session, viewer_of};
use crate::app::AppState;
use crate::db::models::{sessions as session_rows, users};
use crate::domain::audit::{AuditEntry, RecordRef};
use crate::domain::records::support_reason;
use crate::domain::viewer::{Authentication, Impersonation, Viewer};
use crate::domain::{AuditAction, AuditRecordType, Role, UserId, UserStatus};
use crate::error::{AppError, AppResult};

/// A new session and the view it opens.
pub struct Switched {
    pub issued: IssuedSession,
    pub viewer: Viewer,
}

fn entry(action: AuditAction, target: UserId, impersonation: &Impersonation) -> AuditEntry {
    AuditEntry::new(action, RecordRef::new(AuditRecordType::User, target))
        .with_reason(Some(impersonation.reason.clone()))
        .also_on([RecordRef::new(
            AuditRecordType::User,
            impersonation.admin_id,
        )])
}

/// IMPERSONATION_STOPPED on the user's History (and the admin's), with the reason.
pub fn stopped_entry(target: UserId, impersonation: &Impersonation) -> AuditEntry {
    entry(AuditAction::ImpersonationStopped, target, impersonation)
}

/// Starts impersonating `target_id`; returns the impersonation's token and the user's view.
///
/// Starting again from the same admin session ends the earlier impersonation: one at a time, so
/// the trail never has two open at once behind one admin session.
pub async fn become_user(
    app: &AppState,
    auth: &Authentication,
    target_id: UserId,
    reason: &str,
) -> AppResult<Switched> {
    let viewer = &auth.viewer;
    // No chains: from an impersonation, the answer is FORBIDDEN_WHILE_IMPERSONATING.
    viewer.require_admin()?;
    let reason = support_reason("reason", reason)?;
    if target_id == viewer.user_id {
        return Err(AppError::forbidden("You cannot impersonate yourself."));
    }
    let admin_id = viewer.user_id;
    let admin_session_id = viewer.session_id;
    let limit = Duration::minutes(app.config.impersonation_minutes);
    let admin_session_ends = viewer.session_expires_at;
    let user_agent = auth.meta.user_agent.clone();
    app.db
        .write(auth.own_actor(), |tx| {
            async move {
                // Both rows held until commit: a concurrent demotion, discard or promotion
                // either happens before (and refuses this) or after (and revokes it).
                let admin = users::lock(tx, admin_id).await?;
                if admin.role != Role::Admin || admin.status() != UserStatus::Active {
                    return Err(AppError::forbidden("Only admins can become another user."));
                }
                let target = users::lock(tx, target_id).await?;
                if target.role == Role::Admin {
                    return Err(AppError::forbidden("Admins cannot be impersonated."));
                }
                match target.status() {
                    UserStatus::Active => {}
                    UserStatus::Invited => {
                        return Err(AppError::conflict(
                            "The user has not accepted the invitation yet.",
                        ));
                    }
                    UserStatus::Discarded => {
                        return Err(AppError::conflict("The user is deactivated."));
                    }
                }
                let now = tx.now();
                session_rows::revoke_children(tx.conn()?, admin_session_id, now).await?;
                let expires_at = (now + limit).min(admin_session_ends);
                let spec = SessionSpec {
                    user_id: target.id,
                    expires_at,
                    impersonator_id: Some(admin_id),
                    parent_session_id: Some(admin_session_id),
                    impersonation_reason: Some(reason.clone()),
                    client_ip: None,
                    user_agent,
                };
                let issued = issue_session(tx, &spec).await?;
                let impersonation = Impersonation {
                    admin_id,
                    admin_session_id,
                    reason,
                    started_at: now,
                    expires_at,
                };
                tx.audit(entry(
                    AuditAction::ImpersonationStarted,
                    target.id,
                    &impersonation,
                ))
                .await?;
                let viewer = viewer_of(
                    tx.conn()?,
                    &target,
                    issued.session_id,
                    expires_at,
                    Some(impersonation),
                )
                .await?;
                Ok(Switched { issued, viewer })
            }
            .scope_boxed()
        })
        .await
}

/// Ends the impersonation the request comes with and returns the admin to their own view with a
/// fresh admin session.
///
/// The new session replaces the admin's session the impersonation hung off, which is revoked:
/// the client gave that token up when it became the user, so a copy left behind (another tab,
/// a log, a browser extension) must not outlive the switch, and each become/stop round leaves
/// exactly one live admin session instead of piling them up. The replacement keeps the old
/// session's absolute expiry: stopping never lengthens the admin's day.
///
/// Without an impersonation (a user signed in on their own, or an admin in their own session)
/// the answer is CONFLICT and nothing changes: there is nobody to return to.
pub async fn stop(app: &AppState, auth: &Authentication) -> AppResult<Switched> {
    let viewer = &auth.viewer;
    let Some(impersonation) = viewer.impersonation.clone() else {
        return Err(AppError::conflict("You are not impersonating anyone."));
    };
    let session_id = viewer.session_id;
    let target = viewer.user_id;
    let idle = sessions::idle_limit(app);
    app.db
        .write(auth.own_actor(), |tx| {
            async move {
                let now = tx.now();
                let admin = users::lock(tx, impersonation.admin_id).await?;
                let parent = session_rows::find(tx.conn()?, impersonation.admin_session_id)
                    .await?
                    .filter(|p| p.is_live(now, idle));
                let Some(parent) = parent else {
                    return Err(AppError::Unauthenticated);
                };
                if admin.role != Role::Admin || admin.status() != UserStatus::Active {
                    return Err(AppError::Unauthenticated);
                }
                // A concurrent stop (or sign-out) got here first: this one gains nothing.
                if session_rows::revoke(tx.conn()?, session_id, now).await? == 0 {
                    return Err(AppError::Unauthenticated);
                }
                session_rows::revoke(tx.conn()?, parent.id, now).await?;
                let spec = SessionSpec {
                    user_id: admin.id,
                    expires_at: parent.expires_at,
                    impersonator_id: None,
                    parent_session_id: None,
                    impersonation_reason: None,
                    client_ip: None,
                    user_agent: parent.user_agent.clone(),
                };
                let issued = issue_session(tx, &spec).await?;
                tx.audit(stopped_entry(target, &impersonation)).await?;
                let viewer = viewer_of(
                    tx.conn()?,
                    &admin,
                    issued.session_id,
                    parent.expires_at,
                    None,
                )
                .await?;
                Ok(Switched { issued, viewer })
            }
            .scope_boxed()
        })
        .await
}
