//! User administration: browsing, creating (with the invitation), editing, deactivating.
//!
//! Who may do what (see also `access`):
//! - Admins: everything, on everyone but their own role.
//! - Supervisors: see the users who share a company with them; invite SUPERVISOR and CUSTOMER
//!   users into their own companies (never above their own role); add to their companies only
//!   users who already share one with them; resend those users' invitations. Nothing else on other users.
//! - Customers: see themselves and the people of their companies, read-only.
//! - Anyone signed in: change their own name; their own email with their current password and
//!   a confirmation from the new address (`email_change`).

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use scoped_futures::ScopedFutureExt;

use super::{access, email_change, impersonation, reauth};
use crate::app::AppState;
use crate::db::WriteTx;
use crate::db::models::users::{UserKey, UserOrder, UserQuery};
use crate::db::models::{
    Company, CompanyMembership, NewUser, Team, TeamMembership, User, UserChanges, memberships,
    recovery_codes, sessions, teams, tokens, users,
};
use crate::domain::audit::{AuditEntry, RecordRef};
use crate::domain::records::support_reason;
use crate::domain::secrets::issue_token;
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{
    AuditAction, AuditRecordType, CompanyId, ImpersonationEndCause, Role, TeamId, UserId,
    UserStatus,
};
use crate::error::{AppError, AppResult};
use crate::mail::{self, MailMessage};
use crate::services::accounts::{validate_email, validate_name};

pub struct UserFilter {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub company_id: Option<CompanyId>,
    pub team_id: Option<TeamId>,
    pub search: Option<String>,
    pub never_signed_in: Option<bool>,
    pub no_sign_in_since: Option<NaiveDateTime>,
}

/// A page of the users the viewer may see, in `order` after `after`, and how many match in
/// all.
pub async fn list(
    app: &AppState,
    viewer: &Viewer,
    filter: UserFilter,
    order: UserOrder,
    after: Option<UserKey>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<User>, i64)> {
    if let Some(company_id) = filter.company_id {
        access::require_company_visible(viewer, company_id, "Company")?;
    }
    let mut conn = app.db.conn().await?;
    if let Some(team_id) = filter.team_id {
        let team = teams::find(&mut conn, team_id).await?;
        match team {
            Some(team) if access::can_see_company(viewer, team.company_id) => {}
            _ => return Err(AppError::not_found("Team")),
        }
    }
    let query = UserQuery {
        visible_to: (!viewer.is_admin()).then_some((viewer.user_id, viewer.company_ids.as_slice())),
        role: filter.role,
        status: filter.status,
        company_id: filter.company_id,
        team_id: filter.team_id,
        search: filter.search.map(|s| s.chars().take(200).collect()),
        never_signed_in: filter.never_signed_in,
        no_sign_in_since: filter.no_sign_in_since,
    };
    let rows = users::page(&mut conn, &query, order, after, limit).await?;
    let total = if with_total {
        users::count(&mut conn, &query).await?
    } else {
        0
    };
    Ok((rows, total))
}

/// The user if the viewer may see them, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: UserId) -> AppResult<User> {
    let mut conn = app.db.conn().await?;
    let user = users::find(&mut conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("User"))?;
    if viewer.is_admin() || user.id == viewer.user_id {
        return Ok(user);
    }
    let sharing = memberships::members_among(&mut conn, &[id], &viewer.company_ids).await?;
    if sharing.contains(&id) {
        Ok(user)
    } else {
        Err(AppError::not_found("User"))
    }
}

/// The company and team memberships of many users at once, as the viewer may see them.
pub async fn memberships_of(
    app: &AppState,
    viewer: &Viewer,
    user_ids: &[UserId],
) -> AppResult<(Vec<CompanyMembership>, Vec<TeamMembership>)> {
    let mut conn = app.db.conn().await?;
    let companies = memberships::company_memberships_of_users(&mut conn, user_ids).await?;
    let teams = memberships::team_memberships_of_users(&mut conn, user_ids).await?;
    let companies = companies
        .into_iter()
        .filter(|m| access::can_see_company(viewer, m.company_id))
        .collect();
    Ok((companies, teams))
}

/// What the users list shows per row, beyond the user itself.
#[derive(Debug, Clone, Default)]
pub struct UserDetails {
    pub memberships: Vec<CompanyMembership>,
    pub companies: Vec<Company>,
    /// `None` when the page did not ask for teams (they were not read).
    pub teams: Option<Vec<Team>>,
}

/// The companies, memberships and (`with_teams`) teams of a page of users, in a fixed number of
/// queries, as the viewer may see them; every id of `user_ids` has an entry.
pub async fn page_details(
    app: &AppState,
    viewer: &Viewer,
    user_ids: &[UserId],
    with_teams: bool,
) -> AppResult<HashMap<UserId, UserDetails>> {
    let (company_memberships, team_memberships) = {
        let mut conn = app.db.conn().await?;
        let companies = memberships::company_memberships_of_users(&mut conn, user_ids).await?;
        let teams = if with_teams {
            memberships::team_memberships_of_users(&mut conn, user_ids).await?
        } else {
            Vec::new()
        };
        let companies: Vec<CompanyMembership> = companies
            .into_iter()
            .filter(|m| access::can_see_company(viewer, m.company_id))
            .collect();
        (companies, teams)
    };
    let mut company_ids: Vec<CompanyId> =
        company_memberships.iter().map(|m| m.company_id).collect();
    company_ids.sort();
    company_ids.dedup();
    let mut team_ids: Vec<TeamId> = team_memberships.iter().map(|m| m.team_id).collect();
    team_ids.sort();
    team_ids.dedup();
    let companies = super::companies::visible_by_ids(app, viewer, &company_ids).await?;
    let teams = if with_teams {
        super::teams::visible_by_ids(app, viewer, &team_ids).await?
    } else {
        Vec::new()
    };

    let mut details: HashMap<UserId, UserDetails> = user_ids
        .iter()
        .map(|id| {
            let details = UserDetails {
                teams: with_teams.then(Vec::new),
                ..UserDetails::default()
            };
            (*id, details)
        })
        .collect();
    for membership in company_memberships {
        if let Some(entry) = details.get_mut(&membership.user_id) {
            if let Some(company) = companies.iter().find(|c| c.id == membership.company_id) {
                entry.companies.push(company.clone());
            }
            entry.memberships.push(membership);
        }
    }
    for membership in team_memberships {
        if let (Some(entry), Some(team)) = (
            details.get_mut(&membership.user_id),
            teams.iter().find(|t| t.id == membership.team_id),
        ) {
            entry.teams.get_or_insert_with(Vec::new).push(team.clone());
        }
    }
    Ok(details)
}

pub struct NewMembership {
    pub company_id: CompanyId,
    pub role: Role,
}

pub struct CreateUser {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub memberships: Vec<NewMembership>,
    pub team_ids: Vec<TeamId>,
}

/// Creates an invited user with their memberships and teams, and sends the invitation: one
/// transaction, so the user, the memberships, the audit events and the email exist together.
pub async fn create(app: &AppState, auth: &Authentication, input: CreateUser) -> AppResult<User> {
    let viewer = &auth.viewer;
    let name = validate_name("name", &input.name)?;
    let email = validate_email("email", &input.email)?;
    // Creating an admin is an admin-only operation whoever asks: while impersonating it answers
    // FORBIDDEN_WHILE_IMPERSONATING, before the supervisor rules below could answer FORBIDDEN.
    if input.role == Role::Admin {
        viewer.require_admin()?;
    }
    match viewer.role {
        Role::Admin => viewer.require_admin()?,
        // Into their own companies, never above their own role: SUPERVISOR or CUSTOMER users
        // with SUPERVISOR or CUSTOMER memberships (ADMIN was refused above).
        Role::Supervisor => {
            if input.memberships.is_empty() {
                return Err(AppError::bad_input(
                    "memberships",
                    "Invite the user into at least one of your companies.",
                ));
            }
            for membership in &input.memberships {
                access::require_company_manager(viewer, membership.company_id, "Company")?;
                if membership.role == Role::Admin {
                    return Err(AppError::forbidden(
                        "Supervisors cannot invite above their own role.",
                    ));
                }
            }
        }
        Role::Customer => return Err(AppError::forbidden("Customers cannot invite users.")),
    }
    for membership in &input.memberships {
        access::require_company_visible(viewer, membership.company_id, "Company")?;
    }
    let mut seen = Vec::new();
    for membership in &input.memberships {
        if seen.contains(&membership.company_id) {
            return Err(AppError::bad_input(
                "memberships",
                "A company is listed twice.",
            ));
        }
        seen.push(membership.company_id);
    }

    let now = app.clock.now();
    let inviter = inviter_name(app, viewer).await?;
    let new_user = NewUser {
        name: name.clone(),
        email: email.clone(),
        role: input.role,
        password_hash: None,
        invitation_sent_at: Some(now),
        activated_at: None,
        created_at: now,
        updated_at: now,
    };
    let invited_by = viewer.user_id;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let user = users::create(tx, new_user).await?;
                for membership in &input.memberships {
                    memberships::add_company_member(
                        tx,
                        user.id,
                        membership.company_id,
                        membership.role,
                    )
                    .await?;
                }
                for team_id in &input.team_ids {
                    let team = teams::find(tx.conn()?, *team_id).await?;
                    if !team.is_some_and(|t| seen.contains(&t.company_id)) {
                        return Err(AppError::bad_input(
                            "teamIds",
                            "A team must belong to one of the user's companies.",
                        ));
                    }
                    memberships::add_team_member(tx, user.id, *team_id).await?;
                }
                send_invitation(tx, app, &user, invited_by, inviter).await?;
                Ok(user)
            }
            .scope_boxed()
        })
        .await
}

pub struct UpdateUser {
    pub id: UserId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub expected_version: Option<i32>,
    pub current_password: Option<String>,
}

/// What an `email` in an update does (see `email_change`).
enum EmailUpdate {
    Unchanged,
    /// The same address in another case: nothing to prove.
    Recase(String),
    /// An active account: a confirmation link to the new address; the email stays until used.
    Confirm(String),
    /// An invited account: the address changes now and the invitation goes to it.
    Reinvite(String),
}

/// Edits name, email and role. Others' users: admins only; role: admins only, never one's own;
/// one's own email: with the current password, and never while impersonating. A new email of an
/// active account applies once the new address confirms it (`email_change`).
pub async fn update(app: &AppState, auth: &Authentication, input: UpdateUser) -> AppResult<User> {
    let viewer = &auth.viewer;
    if input.id != viewer.user_id {
        // Editing others is admin-only: refused while impersonating before anything is looked up.
        viewer.forbid_while_impersonating()?;
    }
    let target = get(app, viewer, input.id).await?;
    let own = target.id == viewer.user_id;
    let name = input
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    let email = input
        .email
        .as_deref()
        .map(|e| validate_email("email", e))
        .transpose()?;
    let role_changes = input.role.is_some_and(|r| r != target.role);
    let email_update = match email {
        Some(email) if email == target.email => EmailUpdate::Unchanged,
        Some(email) if email.to_lowercase() == target.email.to_lowercase() => {
            EmailUpdate::Recase(email)
        }
        Some(email) => match target.status() {
            UserStatus::Active => EmailUpdate::Confirm(email),
            UserStatus::Invited => EmailUpdate::Reinvite(email),
            UserStatus::Discarded => {
                return Err(AppError::conflict(
                    "The user is deactivated: restore them before changing their email.",
                ));
            }
        },
        None => EmailUpdate::Unchanged,
    };

    if own {
        if role_changes {
            return Err(AppError::forbidden("Nobody can change their own role."));
        }
        if !matches!(email_update, EmailUpdate::Unchanged) {
            viewer.forbid_while_impersonating()?;
            let _password_checked = reauth::verify(
                app,
                &auth.meta,
                &target,
                reauth::Proof::password("currentPassword", input.current_password.as_deref()),
            )
            .await?;
        }
    } else {
        viewer.require_admin()?;
    }
    if let EmailUpdate::Confirm(email) | EmailUpdate::Reinvite(email) = &email_update {
        email_change::ensure_available(app, target.id, email).await?;
    }

    let changes = UserChanges {
        name,
        email: match &email_update {
            EmailUpdate::Recase(email) | EmailUpdate::Reinvite(email) => Some(email.clone()),
            EmailUpdate::Unchanged | EmailUpdate::Confirm(_) => None,
        },
        role: input.role,
        ..Default::default()
    };
    let id = target.id;
    let was_admin = target.role == Role::Admin;
    let requested_by = viewer.impersonator_id().unwrap_or(viewer.user_id);
    let inviter = match email_update {
        EmailUpdate::Reinvite(_) => inviter_name(app, viewer).await?,
        _ => None,
    };
    let idle = super::sessions::idle_limit(app);
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let updated = if changes.name.is_none()
                    && changes.email.is_none()
                    && changes.role.is_none()
                {
                    // Only an email to confirm: no column changes now (diesel refuses an empty
                    // changeset), but the version the client read still has to be current.
                    let current = users::lock(tx, id).await?;
                    if input.expected_version.is_some_and(|v| v != current.version) {
                        return Err(AppError::conflict(
                            "This user was changed by someone else. Reload and try again.",
                        ));
                    }
                    current
                } else {
                    users::update(tx, id, &changes, input.expected_version).await?
                };
                let now = tx.now();
                // Impersonation never involves two admins: a demoted admin's impersonations
                // end, and so do impersonations of a user who becomes an admin.
                if was_admin && updated.role != Role::Admin {
                    let ended = sessions::revoke_impersonations_by(tx.conn()?, id, now).await?;
                    impersonation::record_ends(tx, &ended, idle, |_| {
                        ImpersonationEndCause::AdminDemoted
                    })
                    .await?;
                }
                if !was_admin && updated.role == Role::Admin {
                    let ended = sessions::revoke_impersonations_of(tx.conn()?, id, now).await?;
                    impersonation::record_ends(tx, &ended, idle, |_| {
                        ImpersonationEndCause::UserPromoted
                    })
                    .await?;
                }
                match &email_update {
                    EmailUpdate::Unchanged | EmailUpdate::Recase(_) => {}
                    EmailUpdate::Confirm(email) => {
                        email_change::request(tx, app, &updated, email, requested_by).await?;
                    }
                    EmailUpdate::Reinvite(_) => {
                        // The old link went to the old address: it stops working.
                        tokens::password_resets::void_all(tx.conn()?, id, now).await?;
                        invite_again(tx, app, &updated, requested_by, inviter).await?;
                        return users::get(tx.conn()?, id).await;
                    }
                }
                Ok(updated)
            }
            .scope_boxed()
        })
        .await
}

/// The name the invitation mail gives as the inviter: the person at the keyboard (the admin,
/// when an admin invites while impersonating).
async fn inviter_name(app: &AppState, viewer: &Viewer) -> AppResult<Option<String>> {
    let mut conn = app.db.conn().await?;
    let inviter_id = viewer.impersonator_id().unwrap_or(viewer.user_id);
    Ok(users::find(&mut conn, inviter_id).await?.map(|u| u.name))
}

/// Writes a new invitation for an invited user; the old link stops working.
async fn invite_again(
    tx: &mut WriteTx,
    app: &AppState,
    user: &User,
    invited_by: UserId,
    inviter_name: Option<String>,
) -> AppResult<()> {
    let changes = UserChanges {
        invitation_sent_at: Some(Some(tx.now())),
        ..Default::default()
    };
    users::update(tx, user.id, &changes, None).await?;
    send_invitation(tx, app, user, invited_by, inviter_name).await
}

/// Voids the user's earlier invitation links, writes a new one, audits it and enqueues the mail.
async fn send_invitation(
    tx: &mut WriteTx,
    app: &AppState,
    user: &User,
    invited_by: UserId,
    inviter_name: Option<String>,
) -> AppResult<()> {
    let now = tx.now();
    let expires_at = now + Duration::hours(app.config.invitation_ttl_hours);
    let token = issue_token();
    tokens::invitations::void_all(tx.conn()?, user.id, now).await?;
    tokens::invitations::insert(
        tx.conn()?,
        user.id,
        &token.hash,
        Some(invited_by),
        now,
        expires_at,
    )
    .await?;
    tx.audit(AuditEntry::new(
        AuditAction::InvitationSent,
        RecordRef::new(AuditRecordType::User, user.id),
    ))
    .await?;
    mail::enqueue(
        tx,
        app,
        MailMessage::Invitation {
            to: user.email.clone(),
            name: user.name.clone(),
            inviter_name,
            link: mail::invitation_link(&app.config, token.plaintext.expose()),
            expires_at,
        },
    )
    .await?;
    Ok(())
}

/// Sends a fresh invitation (admins; supervisors for users of their companies).
pub async fn resend_invitation(
    app: &AppState,
    auth: &Authentication,
    id: UserId,
) -> AppResult<User> {
    let viewer = &auth.viewer;
    let user = get(app, viewer, id).await?;
    if !viewer.is_admin() {
        let mut conn = app.db.conn().await?;
        let theirs = memberships::company_ids_of(&mut conn, id).await?;
        if viewer.role != Role::Supervisor
            || !theirs.iter().any(|c| access::is_supervisor_of(viewer, *c))
        {
            return Err(AppError::forbidden(
                "Only admins and the user's supervisors can do this.",
            ));
        }
    }
    if user.status() != UserStatus::Invited {
        return Err(AppError::conflict(
            "This user has already accepted the invitation (or is deactivated).",
        ));
    }
    let inviter = inviter_name(app, viewer).await?;
    let invited_by = viewer.user_id;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let user = users::lock(tx, id).await?;
                if user.status() != UserStatus::Invited {
                    return Err(AppError::conflict(
                        "This user has already accepted the invitation.",
                    ));
                }
                invite_again(tx, app, &user, invited_by, inviter).await?;
                users::get(tx.conn()?, id).await
            }
            .scope_boxed()
        })
        .await
}

/// Writes a reset token for an active user and mails the link (the newest link voids older ones).
pub async fn issue_password_reset(tx: &mut WriteTx, app: &AppState, user: &User) -> AppResult<()> {
    let now = tx.now();
    let expires_at = now + Duration::minutes(app.config.password_reset_ttl_minutes);
    let token = issue_token();
    tokens::password_resets::void_all(tx.conn()?, user.id, now).await?;
    tokens::password_resets::insert(tx.conn()?, user.id, &token.hash, now, expires_at).await?;
    tx.audit(AuditEntry::new(
        AuditAction::PasswordResetRequested,
        RecordRef::new(AuditRecordType::User, user.id),
    ))
    .await?;
    mail::enqueue(
        tx,
        app,
        MailMessage::PasswordReset {
            to: user.email.clone(),
            name: user.name.clone(),
            link: mail::reset_link(&app.config, token.plaintext.expose()),
            expires_at,
        },
    )
    .await?;
    Ok(())
}

/// An admin triggers a password reset email for an active user.
pub async fn send_password_reset(
    app: &AppState,
    auth: &Authentication,
    id: UserId,
) -> AppResult<bool> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    let user = get(app, viewer, id).await?;
    match user.status() {
        UserStatus::Active => {}
        UserStatus::Invited => {
            return Err(AppError::bad_input(
                "userId",
                "The user has not accepted the invitation yet: resend it instead.",
            ));
        }
        UserStatus::Discarded => return Err(AppError::conflict("The user is deactivated.")),
    }
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                issue_password_reset(tx, app, &user).await?;
                Ok(true)
            }
            .scope_boxed()
        })
        .await
}

/// Turns off a locked-out user's 2FA (admins only, with a reason, after the admin re-authenticates
/// with their own password or TOTP code): clears the secret and the recovery codes, ends the
/// user's sessions, and tells the user by email. Refused while impersonating.
pub async fn disable_two_factor(
    app: &AppState,
    auth: &Authentication,
    id: UserId,
    reason: &str,
    proof: reauth::Proof<'_>,
) -> AppResult<User> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    let reason = support_reason("reason", reason)?;
    if id == viewer.user_id {
        return Err(AppError::forbidden(
            "Ask another admin to turn off your two-factor authentication.",
        ));
    }
    let user = get(app, viewer, id).await?;
    if !user.two_factor_enabled() && user.totp_pending_secret_encrypted.is_none() {
        return Err(AppError::conflict(
            "Two-factor authentication is already off for this user.",
        ));
    }
    let admin = {
        let mut conn = app.db.conn().await?;
        users::get(&mut conn, viewer.user_id).await?
    };
    let reauthenticated = reauth::verify(app, &auth.meta, &admin, proof).await?;
    let idle = super::sessions::idle_limit(app);
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                reauthenticated.claim(tx).await?;
                let now = tx.now();
                let changes = UserChanges {
                    totp_secret_encrypted: Some(None),
                    totp_pending_secret_encrypted: Some(None),
                    two_factor_enabled_at: Some(None),
                    totp_last_used_step: Some(None),
                    ..Default::default()
                };
                let reason_for_audit = Some(reason.clone());
                let updated = users::update_with(tx, id, &changes, None, move |entry| AuditEntry {
                    action: AuditAction::TwoFactorDisabled,
                    reason: reason_for_audit,
                    ..entry
                })
                .await?;
                recovery_codes::delete_all(tx.conn()?, id).await?;
                users::bump_credentials_version(tx, id).await?;
                let ended = sessions::revoke_all_for_user(tx.conn()?, id, None, now).await?;
                impersonation::record_ends(tx, &ended, idle, |_| {
                    ImpersonationEndCause::SessionRevoked
                })
                .await?;
                mail::enqueue(
                    tx,
                    app,
                    MailMessage::TwoFactorDisabled {
                        to: updated.email.clone(),
                        name: updated.name.clone(),
                        reason,
                    },
                )
                .await?;
                Ok(updated)
            }
            .scope_boxed()
        })
        .await
}

/// Deactivates a user at once: sessions (theirs, and impersonations of or by them) revoked,
/// pending invitations and reset links voided; record and memberships kept. Idempotent.
pub async fn discard(app: &AppState, auth: &Authentication, id: UserId) -> AppResult<User> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    if id == viewer.user_id {
        return Err(AppError::forbidden("You cannot deactivate yourself."));
    }
    get(app, viewer, id).await?;
    let idle = super::sessions::idle_limit(app);
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let user = users::lock(tx, id).await?;
                if user.discarded_at.is_some() {
                    return Ok(user);
                }
                let now = tx.now();
                let changes = UserChanges {
                    discarded_at: Some(Some(now)),
                    ..Default::default()
                };
                let updated = users::update_with(tx, id, &changes, None, |entry| AuditEntry {
                    action: AuditAction::Discard,
                    ..entry
                })
                .await?;
                users::bump_credentials_version(tx, id).await?;
                let ended = sessions::revoke_all_for_user(tx.conn()?, id, None, now).await?;
                impersonation::record_ends(tx, &ended, idle, |session| {
                    if session.user_id == id {
                        ImpersonationEndCause::UserDiscarded
                    } else {
                        ImpersonationEndCause::AdminDiscarded
                    }
                })
                .await?;
                tokens::invitations::void_all(tx.conn()?, id, now).await?;
                tokens::password_resets::void_all(tx.conn()?, id, now).await?;
                tokens::email_changes::void_all(tx.conn()?, id, now).await?;
                Ok(updated)
            }
            .scope_boxed()
        })
        .await
}

/// Restores a discarded user's access (they sign in again). Idempotent.
pub async fn undiscard(app: &AppState, auth: &Authentication, id: UserId) -> AppResult<User> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    get(app, viewer, id).await?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let changes = UserChanges {
                    discarded_at: Some(None),
                    ..Default::default()
                };
                users::update_with(tx, id, &changes, None, |entry| AuditEntry {
                    action: AuditAction::Undiscard,
                    ..entry
                })
                .await
            }
            .scope_boxed()
        })
        .await
}
