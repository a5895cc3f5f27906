//! Sessions: signing in and out, and turning a bearer token into a [`Viewer`].

use chrono::{Duration, NaiveDateTime};
use scoped_futures::ScopedFutureExt;

/// The reason on a SIGN_IN event whose transaction also replaced the password's hash by one
/// made with today's argon2 parameters (the password itself did not change).
pub const PASSWORD_REHASHED: &str = "password hash upgraded to the current argon2 parameters";

use super::credentials::{self, Purpose};
use super::two_factor;
use crate::app::AppState;
use crate::db::models::{NewSession, User, memberships, recovery_codes, sessions, users};
use crate::db::{DbConn, WriteTx};
use crate::domain::audit::{AuditEntry, RecordRef};
use crate::domain::password::MAX_PASSWORD_BYTES;
use crate::domain::secrets::{Redacted, hash_token, issue_token};
use crate::domain::viewer::{Authentication, Impersonation, RequestMeta, Viewer, anonymous_actor};
use crate::domain::{
    AuditAction, AuditRecordType, ImpersonationEndCause, Role, SessionId, UserId, UserStatus,
};
use crate::error::{AppError, AppResult};

/// Activity is written back at most this often (the idle limit is counted in minutes).
const TOUCH_EVERY: Duration = Duration::seconds(60);

pub struct SignInInput {
    pub email: String,
    pub password: Redacted<String>,
    pub totp_code: Option<Redacted<String>>,
    pub recovery_code: Option<Redacted<String>>,
}

/// A session handed to its owner: the plaintext token exists only here.
pub struct IssuedSession {
    pub session_id: SessionId,
    pub token: Redacted<String>,
    pub expires_at: NaiveDateTime,
    pub user: User,
}

pub(crate) fn idle_limit(app: &AppState) -> Duration {
    Duration::minutes(app.config.session_idle_minutes)
}

/// The second factor a sign-in offers, checked before the session is written.
enum SecondFactor {
    None,
    /// A TOTP code valid for this time step; accepted only if the step is newer than the last.
    TotpStep(i64),
    RecoveryCode(String),
}

/// Checks email and password (and, for accounts with 2FA, the second factor) and opens a
/// session. The attempt is reserved on the account's and the client's counters before any
/// hashing (`credentials::verify_password`); the session is written only while the credentials
/// the password was checked against are still current, in the same transaction.
pub async fn sign_in(
    app: &AppState,
    meta: &RequestMeta,
    input: SignInInput,
) -> AppResult<IssuedSession> {
    let email = input.email.trim();
    if email.is_empty() || email.len() > 320 || input.password.expose().len() > MAX_PASSWORD_BYTES {
        return Err(AppError::InvalidCredentials);
    }

    let mut conn = app.db.conn().await?;
    let user = users::find_by_email(&mut conn, email).await?;
    drop(conn);
    let verified = credentials::verify_password(
        app,
        meta,
        email,
        user.as_ref(),
        input.password.expose(),
        Purpose::SignIn,
    )
    .await?;
    let user = match user {
        Some(user) if user.status() == UserStatus::Active => user,
        // The right password of an inactive account: counted (the reservation stays) and
        // answered like a wrong one.
        other => {
            return Err(failed_sign_in(
                app,
                meta,
                other.as_ref(),
                "wrong password or inactive account",
            )
            .await);
        }
    };

    let second_factor = match (
        user.two_factor_enabled(),
        &input.totp_code,
        &input.recovery_code,
    ) {
        (false, _, _) => SecondFactor::None,
        (true, Some(code), _) => match two_factor::matching_step(app, &user, code.expose())? {
            Some(step) => SecondFactor::TotpStep(step),
            None => {
                return Err(failed_sign_in(app, meta, Some(&user), "wrong two-factor code").await);
            }
        },
        (true, None, Some(code)) => SecondFactor::RecoveryCode(
            app.totp_key
                .recovery_code_key()
                .hash(user.id, code.expose()),
        ),
        // The password was right: the reservation is kept until the second factor comes.
        (true, None, None) => return Err(AppError::TwoFactorRequired),
    };

    // A hash with old parameters is replaced (same password, today's parameters) with the
    // sign-in, computed before the transaction opens.
    let upgraded_hash = if verified.outdated_hash {
        Some(app.passwords.hash(input.password.expose()).await?)
    } else {
        None
    };
    let checked_hash = verified.checked_hash.clone();
    let checked_version = verified.credentials_version;
    let user_id = user.id;
    let spec = SessionSpec::sign_in(app, user_id).from_client(meta);
    let issued = app
        .db
        .write(anonymous_actor(meta, Some(user_id)), |tx| {
            async move {
                let now = tx.now();
                // First, so the user's row is held from here to the commit: a credential change
                // either committed before (refused here) or waits and then revokes this session.
                if !users::record_sign_in_if_current(tx, user_id, now, checked_version).await? {
                    return Err(AppError::InvalidCredentials);
                }
                match second_factor {
                    SecondFactor::None => {}
                    SecondFactor::TotpStep(step) => {
                        if !users::claim_totp_step(tx.conn()?, user_id, step).await? {
                            return Err(AppError::InvalidCredentials);
                        }
                    }
                    SecondFactor::RecoveryCode(hash) => {
                        if !recovery_codes::use_code(tx.conn()?, user_id, &hash, now).await? {
                            return Err(AppError::InvalidCredentials);
                        }
                        tx.audit(AuditEntry::new(
                            AuditAction::RecoveryCodeUsed,
                            RecordRef::new(AuditRecordType::User, user_id),
                        ))
                        .await?;
                    }
                }
                // The same password under today's parameters: not a password change, so no
                // field change; the SIGN_IN event of this transaction says it happened.
                let rehashed = match &upgraded_hash {
                    Some(new_hash) => {
                        users::upgrade_password_hash(tx, user_id, &checked_hash, new_hash).await?
                    }
                    None => false,
                };
                let issued = issue_session(tx, &spec).await?;
                tx.audit(
                    AuditEntry::new(
                        AuditAction::SignIn,
                        RecordRef::new(AuditRecordType::User, user_id),
                    )
                    .with_reason(rehashed.then(|| PASSWORD_REHASHED.to_owned())),
                )
                .await?;
                Ok(issued)
            }
            .scope_boxed()
        })
        .await;
    match issued {
        Ok(issued) => {
            verified.succeeded(app).await?;
            Ok(issued)
        }
        Err(AppError::InvalidCredentials) => Err(failed_sign_in(
            app,
            meta,
            Some(&user),
            "two-factor code already used, or the password changed meanwhile",
        )
        .await),
        Err(other) => Err(other),
    }
}

/// Writes SIGN_IN_FAILED on a known account (the attempt is already counted: its reservation
/// stays); returns the error the client gets (the same whatever went wrong, so it tells nothing
/// about the account).
async fn failed_sign_in(
    app: &AppState,
    meta: &RequestMeta,
    user: Option<&User>,
    why: &str,
) -> AppError {
    let recorded = match user {
        Some(user) => credentials::record_failed_attempt(app, meta, user, why.to_owned()).await,
        None => Ok(()),
    };
    match recorded {
        Ok(()) => AppError::InvalidCredentials,
        Err(err) => err,
    }
}

/// What a new session is: whose, until when, and (for impersonation) the admin behind it.
pub struct SessionSpec {
    pub user_id: UserId,
    pub expires_at: NaiveDateTime,
    pub impersonator_id: Option<UserId>,
    pub parent_session_id: Option<SessionId>,
    pub impersonation_reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionSpec {
    /// A plain session for `user_id`, with the configured absolute lifetime.
    pub fn sign_in(app: &AppState, user_id: UserId) -> Self {
        Self {
            user_id,
            expires_at: app.clock.now() + Duration::hours(app.config.session_absolute_hours),
            impersonator_id: None,
            parent_session_id: None,
            impersonation_reason: None,
            client_ip: None,
            user_agent: None,
        }
    }

    /// Records the client the session was opened from (its device, on the sessions list).
    pub fn from_client(mut self, meta: &RequestMeta) -> Self {
        self.client_ip = meta.client_ip.clone();
        self.user_agent = meta.user_agent.clone();
        self
    }
}

/// Writes a session in the caller's transaction and returns its token (the only time the
/// plaintext exists) with the user as committed.
pub async fn issue_session(tx: &mut WriteTx, spec: &SessionSpec) -> AppResult<IssuedSession> {
    let token = issue_token();
    let now = tx.now();
    let actor = tx.actor().clone();
    let new_session = NewSession {
        token_hash: token.hash.clone(),
        user_id: spec.user_id,
        created_at: now,
        last_seen_at: now,
        expires_at: spec.expires_at,
        impersonator_id: spec.impersonator_id,
        parent_session_id: spec.parent_session_id,
        impersonation_reason: spec.impersonation_reason.clone(),
        client_ip: spec.client_ip.clone().or(actor.client_ip),
        user_agent: spec.user_agent.clone(),
    };
    let session = sessions::insert(tx.conn()?, &new_session).await?;
    let user = users::get(tx.conn()?, spec.user_id).await?;
    Ok(IssuedSession {
        session_id: session.id,
        token: token.plaintext,
        expires_at: spec.expires_at,
        user,
    })
}

/// Ends the session the request came with (and any impersonation hanging off it).
///
/// Signing out while impersonating ends the admin's session too (the person at the keyboard
/// asked to leave): the admin's own act, so audited as the admin's (SIGN_OUT on the admin,
/// IMPERSONATION_STOPPED with cause SIGNED_OUT on the user, unmarked). An admin signing out of
/// the session an impersonation hangs off ends it the same way.
pub async fn sign_out(app: &AppState, auth: &Authentication) -> AppResult<()> {
    let viewer = &auth.viewer;
    let session_id = viewer.session_id;
    let impersonation = viewer.impersonation.clone();
    let idle = idle_limit(app);
    let record = RecordRef::new(
        AuditRecordType::User,
        viewer.impersonator_id().unwrap_or(viewer.user_id),
    );
    app.db
        .write(auth.own_actor(), |tx| {
            async move {
                let now = tx.now();
                // From an impersonation, or from the admin session one hangs off.
                let mut ended = sessions::revoke(tx.conn()?, session_id, now).await?;
                if let Some(impersonation) = impersonation {
                    ended.extend(
                        sessions::revoke(tx.conn()?, impersonation.admin_session_id, now).await?,
                    );
                }
                super::impersonation::record_ends(tx, &ended, idle, |_| {
                    ImpersonationEndCause::SignedOut
                })
                .await?;
                tx.audit(AuditEntry::new(AuditAction::SignOut, record))
                    .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
}

/// Resolves a bearer token to the viewer, or UNAUTHENTICATED when the token is unknown, revoked,
/// expired or idle, when its user is discarded, or when an impersonation's admin side no longer
/// holds (admin signed out, discarded or demoted) or its user has become an admin.
///
/// Returns the viewer's own user row too (read in the same statement), so that a request
/// asking for it (`viewer { user }`) costs no second read.
pub async fn authenticate(app: &AppState, token: &str) -> AppResult<(Viewer, User)> {
    let now = app.clock.now();
    let idle = idle_limit(app);
    let mut conn = app.db.conn().await?;
    // Session, user and company ids in one read; the touch only when due.
    let (session, user, company_ids) =
        sessions::find_with_user_by_token_hash(&mut conn, &hash_token(token))
            .await?
            .filter(|(s, u, _)| s.is_live(now, idle) && u.status() == UserStatus::Active)
            .ok_or(AppError::Unauthenticated)?;

    let mut to_touch = vec![session.id];
    let impersonation = match (session.impersonator_id, session.parent_session_id) {
        (None, None) => None,
        // Never an admin through another admin's eyes (revoked on promotion; checked here too).
        (Some(_), Some(_)) if user.role == Role::Admin => return Err(AppError::Unauthenticated),
        (Some(admin_id), Some(parent_id)) => {
            let (parent, _admin) = sessions::find_with_user(&mut conn, parent_id)
                .await?
                .filter(|(p, admin)| {
                    p.is_live(now, idle)
                        && p.user_id == admin_id
                        && admin.role == Role::Admin
                        && admin.status() == UserStatus::Active
                })
                .ok_or(AppError::Unauthenticated)?;
            if now - parent.last_seen_at >= TOUCH_EVERY {
                to_touch.push(parent.id);
            }
            Some(Impersonation {
                admin_id,
                admin_session_id: parent.id,
                reason: session.impersonation_reason.clone().unwrap_or_default(),
                started_at: session.created_at,
                expires_at: session.expires_at,
            })
        }
        _ => return Err(AppError::Unauthenticated),
    };

    if now - session.last_seen_at >= TOUCH_EVERY || to_touch.len() > 1 {
        sessions::touch(&mut conn, &to_touch, now).await?;
    }
    let viewer = Viewer {
        user_id: user.id,
        role: user.role,
        session_id: session.id,
        session_expires_at: session.expires_at,
        company_ids,
        impersonation,
    };
    Ok((viewer, user))
}

/// The viewer of a session of `user` (its memberships read now).
pub async fn viewer_of(
    conn: &mut DbConn,
    user: &User,
    session_id: SessionId,
    session_expires_at: NaiveDateTime,
    impersonation: Option<Impersonation>,
) -> AppResult<Viewer> {
    let company_ids = memberships::company_ids_of(conn, user.id).await?;
    Ok(Viewer {
        user_id: user.id,
        role: user.role,
        session_id,
        session_expires_at,
        company_ids,
        impersonation,
    })
}

/// How many live sessions a user's sessions list shows at most (most recently used first).
pub const SESSIONS_LISTED: i64 = 200;

/// Who may see and end a user's sessions: admins anyone's, everyone their own; never while
/// impersonating (sessions are account security). Others get FORBIDDEN when they can see the
/// user, NOT_FOUND when they cannot.
async fn require_session_manager(
    app: &AppState,
    auth: &Authentication,
    user_id: UserId,
) -> AppResult<User> {
    let viewer = &auth.viewer;
    viewer.forbid_while_impersonating()?;
    let user = super::users::get(app, viewer, user_id).await?;
    if viewer.is_admin() || viewer.user_id == user_id {
        Ok(user)
    } else {
        Err(AppError::forbidden(
            "Only admins can see or end another user's sessions.",
        ))
    }
}

/// The live sessions of a user, most recently used first (at most [`SESSIONS_LISTED`]).
pub async fn list_for_user(
    app: &AppState,
    auth: &Authentication,
    user_id: UserId,
) -> AppResult<Vec<sessions::Session>> {
    require_session_manager(app, auth, user_id).await?;
    let mut conn = app.db.conn().await?;
    sessions::live_of_user(
        &mut conn,
        user_id,
        app.clock.now(),
        idle_limit(app),
        SESSIONS_LISTED,
    )
    .await
}

/// What a session is called in the audit trail: its id, device and address.
fn describe(session: &sessions::Session) -> String {
    let device = session.user_agent.as_deref().unwrap_or("unknown device");
    let address = session.client_ip.as_deref().unwrap_or("unknown address");
    let kind = if session.impersonator_id.is_some() {
        "impersonation session"
    } else {
        "session"
    };
    format!("{kind} {} ({device}, {address})", session.id)
}

/// Ends one session (and an impersonation running from it). True when it ended now, false when
/// it had already ended (nothing written). SESSION_SIGNED_OUT on the session's user.
pub async fn sign_out_session(
    app: &AppState,
    auth: &Authentication,
    id: SessionId,
) -> AppResult<bool> {
    auth.viewer.forbid_while_impersonating()?;
    let mut conn = app.db.conn().await?;
    let session = sessions::find(&mut conn, id).await?;
    drop(conn);
    let session = session.ok_or_else(|| AppError::not_found("Session"))?;
    // A session of a user the viewer may not see does not exist for them (NOT_FOUND).
    require_session_manager(app, auth, session.user_id)
        .await
        .map_err(|err| match err {
            AppError::NotFound(_) => AppError::not_found("Session"),
            other => other,
        })?;
    if !session.is_live(app.clock.now(), idle_limit(app)) {
        return Ok(false);
    }
    let entry = AuditEntry::new(
        AuditAction::SessionSignedOut,
        RecordRef::new(AuditRecordType::User, session.user_id),
    )
    .with_reason(Some(describe(&session)));
    let idle = idle_limit(app);
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let now = tx.now();
                let ended = sessions::revoke(tx.conn()?, id, now).await?;
                if ended.is_empty() {
                    return Ok(false);
                }
                tx.audit(entry).await?;
                super::impersonation::record_ends(tx, &ended, idle, |_| {
                    ImpersonationEndCause::SessionRevoked
                })
                .await?;
                Ok(true)
            }
            .scope_boxed()
        })
        .await
}

/// Ends every session of a user, every impersonation of them and every impersonation they run;
/// on one's own account the session making the request stays. Returns how many ended;
/// SIGNED_OUT_EVERYWHERE on the user, even when none did (the act is recorded).
pub async fn sign_out_everywhere(
    app: &AppState,
    auth: &Authentication,
    user_id: UserId,
) -> AppResult<usize> {
    require_session_manager(app, auth, user_id).await?;
    let keep = (auth.viewer.user_id == user_id).then_some(auth.viewer.session_id);
    let idle = idle_limit(app);
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let now = tx.now();
                let revoked = sessions::revoke_all_for_user(tx.conn()?, user_id, keep, now).await?;
                let ended = revoked.len();
                let reason = match (ended, keep.is_some()) {
                    (1, true) => "1 session ended; this one kept".to_owned(),
                    (n, true) => format!("{n} sessions ended; this one kept"),
                    (1, false) => "1 session ended".to_owned(),
                    (n, false) => format!("{n} sessions ended"),
                };
                tx.audit(
                    AuditEntry::new(
                        AuditAction::SignedOutEverywhere,
                        RecordRef::new(AuditRecordType::User, user_id),
                    )
                    .with_reason(Some(reason)),
                )
                .await?;
                super::impersonation::record_ends(tx, &revoked, idle, |_| {
                    ImpersonationEndCause::SessionRevoked
                })
                .await?;
                Ok(ended)
            }
            .scope_boxed()
        })
        .await
}
