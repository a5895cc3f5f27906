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
//! - Every end, whatever its cause ([`ImpersonationEndCause`]), writes exactly one
//!   IMPERSONATION_STOPPED like the start (the admin as actor, on both Histories, the reason)
//!   with its `cause` and `endedAt`: in the transaction of the change that ended it
//!   ([`record_ends`], given the sessions it revoked), or, for an end by time that no request
//!   saw, by the background sweep ([`record_timed_out`]). The session's
//!   `impersonation_ended_at`, set by a conditional UPDATE, makes it once across racing writers.

use chrono::{Duration, NaiveDateTime};
use scoped_futures::ScopedFutureExt;

use super::sessions::{self, IssuedSession, SessionSpec, issue_session, viewer_of};
use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::{Session, sessions as session_rows, users};
use crate::domain::audit::{AuditActor, AuditEntry, AuditValue, FieldChange, RecordRef};
use crate::domain::records::support_reason;
use crate::domain::viewer::{Authentication, Impersonation, Viewer};
use crate::domain::{
    AuditAction, AuditRecordType, ImpersonationEndCause, Role, UserId, UserStatus,
};
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

/// IMPERSONATION_STOPPED on the user's History (and the admin's), with the reason, the cause and
/// when it ended.
fn stopped_entry(
    target: UserId,
    admin_id: UserId,
    reason: Option<String>,
    cause: ImpersonationEndCause,
    ended_at: NaiveDateTime,
) -> AuditEntry {
    AuditEntry::new(
        AuditAction::ImpersonationStopped,
        RecordRef::new(AuditRecordType::User, target),
    )
    .with_reason(reason)
    .also_on([RecordRef::new(AuditRecordType::User, admin_id)])
    .with_changes(vec![
        FieldChange::new("cause", AuditValue::Null, AuditValue::text(cause)),
        FieldChange::new("endedAt", AuditValue::Null, AuditValue::time(ended_at)),
    ])
}

/// When and why an impersonation ended by time, if it has by `now`: its hard limit, or the idle
/// limit of its session or of the admin session behind it, whichever came first.
fn timed_out(
    session: &Session,
    parent: Option<&Session>,
    idle: Duration,
    now: NaiveDateTime,
) -> Option<(ImpersonationEndCause, NaiveDateTime)> {
    let mut ends = vec![
        (ImpersonationEndCause::Expired, session.expires_at),
        (ImpersonationEndCause::Idle, session.last_seen_at + idle),
    ];
    if let Some(parent) = parent {
        ends.push((ImpersonationEndCause::Expired, parent.expires_at));
        ends.push((ImpersonationEndCause::Idle, parent.last_seen_at + idle));
    }
    ends.into_iter()
        .min_by_key(|(_, at)| *at)
        .filter(|(_, at)| *at <= now)
}

/// Records the end of one impersonation session, unless it is recorded already (then nothing is
/// written and the answer is false). The event is the admin's, like the start, carrying the
/// request that ended it (none for the sweep); the client address only when the admin made it.
async fn record_end(
    tx: &mut WriteTx,
    session: &Session,
    cause: ImpersonationEndCause,
    ended_at: NaiveDateTime,
) -> AppResult<bool> {
    let Some(admin_id) = session.impersonator_id else {
        return Ok(false);
    };
    if !session_rows::claim_impersonation_end(tx.conn()?, session.id, ended_at).await? {
        return Ok(false);
    }
    let by_admin = tx.actor().actor_id == Some(admin_id);
    let actor = AuditActor {
        actor_id: Some(admin_id),
        impersonator_id: None,
        request_id: tx.actor().request_id.clone(),
        client_ip: by_admin.then(|| tx.actor().client_ip.clone()).flatten(),
    };
    let entry = stopped_entry(
        session.user_id,
        admin_id,
        session.impersonation_reason.clone(),
        cause,
        ended_at,
    );
    tx.audit_as(actor, entry).await?;
    Ok(true)
}

/// Records, in the caller's transaction, the end of every impersonation among `revoked` (the
/// sessions a change just revoked; plain sessions are skipped) with the cause `cause_of` gives.
/// One that had already ended by time (expired or idle, the sweep not there yet) is recorded
/// with that cause and time instead. Returns how many ends were recorded.
pub async fn record_ends(
    tx: &mut WriteTx,
    revoked: &[Session],
    idle: Duration,
    cause_of: impl Fn(&Session) -> ImpersonationEndCause,
) -> AppResult<usize> {
    let now = tx.now();
    let mut recorded = 0;
    for session in revoked.iter().filter(|s| s.impersonator_id.is_some()) {
        let parent = match session.parent_session_id {
            Some(id) => session_rows::find(tx.conn()?, id).await?,
            None => None,
        };
        let (cause, ended_at) = timed_out(session, parent.as_ref(), idle, now)
            .unwrap_or_else(|| (cause_of(session), now));
        if record_end(tx, session, cause, ended_at).await? {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// How often each instance sweeps: the event's `endedAt` is the true end either way; this is
/// how late the trail may learn of it.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How many open impersonations one sweep looks at (live ones are few: one per admin session).
const SWEEP_BATCH: i64 = 500;

/// The background sweep: records the end of every impersonation that ended by time (expired or
/// idle) with no request to see it. Safe to run on any number of instances at once: each end is
/// recorded once. Returns how many ends this run recorded.
pub async fn record_timed_out(app: &AppState) -> AppResult<usize> {
    let idle = sessions::idle_limit(app);
    // A read first: most runs find nothing due and open no write transaction.
    let now = app.clock.now();
    let mut conn = app.db.conn().await?;
    let open = session_rows::open_impersonations(&mut conn, SWEEP_BATCH).await?;
    let mut due = false;
    for session in &open {
        let parent = match session.parent_session_id {
            Some(id) => session_rows::find(&mut conn, id).await?,
            None => None,
        };
        if session.revoked_at.is_some() || timed_out(session, parent.as_ref(), idle, now).is_some()
        {
            due = true;
            break;
        }
    }
    drop(conn);
    if !due {
        return Ok(0);
    }
    app.db
        .write(AuditActor::system(), |tx| {
            async move {
                let now = tx.now();
                let open = session_rows::open_impersonations(tx.conn()?, SWEEP_BATCH).await?;
                let mut recorded = 0;
                for session in &open {
                    let parent = match session.parent_session_id {
                        Some(id) => session_rows::find(tx.conn()?, id).await?,
                        None => None,
                    };
                    let end = match timed_out(session, parent.as_ref(), idle, now) {
                        Some(end) => Some(end),
                        // Revoked without its end recorded: not by this version (every revoke
                        // records it), so from before it or by hand.
                        None => session
                            .revoked_at
                            .map(|at| (ImpersonationEndCause::SessionRevoked, at)),
                    };
                    if let Some((cause, ended_at)) = end
                        && record_end(tx, session, cause, ended_at).await?
                    {
                        recorded += 1;
                    }
                }
                Ok(recorded)
            }
            .scope_boxed()
        })
        .await
}

/// Runs [`record_timed_out`] every `interval` until `stop` resolves.
pub fn spawn_sweeper(
    app: crate::app::App,
    interval: std::time::Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            match record_timed_out(&app).await {
                Ok(0) => {}
                Ok(recorded) => tracing::info!(recorded, "ended impersonations recorded"),
                Err(err) => tracing::warn!(error = ?err, "impersonation sweep failed"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    })
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
    let idle = sessions::idle_limit(app);
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
                let replaced =
                    session_rows::revoke_children(tx.conn()?, admin_session_id, now).await?;
                record_ends(tx, &replaced, idle, |_| ImpersonationEndCause::Replaced).await?;
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
                let mut ended = session_rows::revoke(tx.conn()?, session_id, now).await?;
                if ended.is_empty() {
                    return Err(AppError::Unauthenticated);
                }
                ended.extend(session_rows::revoke(tx.conn()?, parent.id, now).await?);
                record_ends(tx, &ended, idle, |_| ImpersonationEndCause::Stopped).await?;
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
