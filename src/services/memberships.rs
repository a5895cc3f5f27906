//! Company memberships (with a role in the company) and team memberships, and which users a
//! viewer may see through them.

use scoped_futures::ScopedFutureExt;

use super::access;
use crate::app::AppState;
use crate::db::models::memberships::{self, CompanyMembership, TeamMembership};
use crate::db::models::{User, users};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CompanyId, CompanyMembershipId, Role, TeamId, UserId};
use crate::error::{AppError, AppResult};

pub async fn add_company_member(
    app: &AppState,
    auth: &Authentication,
    company_id: CompanyId,
    user_id: UserId,
    role: Role,
) -> AppResult<CompanyMembership> {
    let viewer = &auth.viewer;
    access::require_company_manager(viewer, company_id, "Company")?;
    // The user's platform role decides what a supervisor may do; read in the transaction so a
    // concurrent role change cannot slip between the check and the insert.
    let viewer = viewer.clone();
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let user = visible_user(tx.conn()?, &viewer, user_id).await?;
                access::require_membership_manager(
                    &viewer,
                    company_id,
                    (user.id, user.role),
                    &[role],
                )?;
                memberships::add_company_member(tx, user_id, company_id, role).await
            }
            .scope_boxed()
        })
        .await
}

/// The user if the viewer may see them (admins: anyone; others: themselves and whoever shares a
/// company with them), else NOT_FOUND exactly as for an id that does not exist, so a supervisor
/// learns nothing about users of other companies.
async fn visible_user(
    conn: &mut crate::db::DbConn,
    viewer: &Viewer,
    user_id: UserId,
) -> AppResult<User> {
    let user = users::get(conn, user_id).await?;
    if viewer.is_admin() || user.id == viewer.user_id {
        return Ok(user);
    }
    let sharing = memberships::members_among(conn, &[user_id], &viewer.company_ids).await?;
    if sharing.contains(&user_id) {
        Ok(user)
    } else {
        Err(AppError::not_found("User"))
    }
}

pub async fn update_company_member(
    app: &AppState,
    auth: &Authentication,
    id: CompanyMembershipId,
    role: Role,
    expected_version: Option<i32>,
) -> AppResult<CompanyMembership> {
    let viewer = &auth.viewer;
    let viewer = viewer.clone();
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let before = memberships::lock(tx, id).await?;
                let user = users::get(tx.conn()?, before.user_id).await?;
                access::require_membership_manager(
                    &viewer,
                    before.company_id,
                    (user.id, user.role),
                    &[before.role, role],
                )?;
                memberships::change_company_role(tx, &before, role, expected_version).await
            }
            .scope_boxed()
        })
        .await
}

/// Removes the membership and the user's memberships of the company's teams.
pub async fn remove_company_member(
    app: &AppState,
    auth: &Authentication,
    id: CompanyMembershipId,
) -> AppResult<()> {
    let viewer = &auth.viewer;
    let viewer = viewer.clone();
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let membership = memberships::lock(tx, id).await?;
                let user = users::get(tx.conn()?, membership.user_id).await?;
                access::require_membership_manager(
                    &viewer,
                    membership.company_id,
                    (user.id, user.role),
                    &[membership.role],
                )?;
                memberships::remove_company_member(tx, &membership).await
            }
            .scope_boxed()
        })
        .await
}

pub async fn add_team_member(
    app: &AppState,
    auth: &Authentication,
    team_id: TeamId,
    user_id: UserId,
) -> AppResult<TeamMembership> {
    let viewer = &auth.viewer;
    let team = super::teams::get(app, viewer, team_id).await?;
    access::require_company_manager(viewer, team.company_id, "Team")?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move { memberships::add_team_member(tx, user_id, team_id).await }.scope_boxed()
        })
        .await
}

pub async fn remove_team_member(
    app: &AppState,
    auth: &Authentication,
    team_id: TeamId,
    user_id: UserId,
) -> AppResult<()> {
    let viewer = &auth.viewer;
    let team = super::teams::get(app, viewer, team_id).await?;
    access::require_company_manager(viewer, team.company_id, "Team")?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                memberships::remove_team_member(tx, &team, user_id).await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
}

/// A company's memberships, one page after the keyset cursor, and how many there are.
pub async fn company_page(
    app: &AppState,
    viewer: &Viewer,
    company_id: CompanyId,
    after: Option<CompanyMembershipId>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<CompanyMembership>, i64)> {
    access::require_company_visible(viewer, company_id, "Company")?;
    let mut conn = app.db.conn().await?;
    let rows = memberships::company_page(&mut conn, company_id, after, limit).await?;
    let total = if with_total {
        memberships::company_count(&mut conn, company_id).await?
    } else {
        0
    };
    Ok((rows, total))
}

/// Of `ids`, the users the viewer may see: admins see everyone; others themselves and the
/// users who share a company with them.
pub async fn visible_users(
    app: &AppState,
    viewer: &Viewer,
    ids: &[UserId],
) -> AppResult<Vec<User>> {
    let mut conn = app.db.conn().await?;
    let rows = users::find_many(&mut conn, ids).await?;
    if viewer.is_admin() {
        return Ok(rows);
    }
    let sharing = memberships::members_among(&mut conn, ids, &viewer.company_ids).await?;
    Ok(rows
        .into_iter()
        .filter(|user| user.id == viewer.user_id || sharing.contains(&user.id))
        .collect())
}
