//! Teams within a company. Admins and the company's supervisors create and rename them.

use scoped_futures::ScopedFutureExt;

use super::access;
use crate::app::AppState;
use crate::db::models::{NewTeam, Team, TeamChanges, User, companies, teams};
use crate::domain::records::{NAME_MAX, required_text};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CompanyId, TeamId};
use crate::error::AppResult;

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    company_id: CompanyId,
    name: &str,
) -> AppResult<Team> {
    let viewer = &auth.viewer;
    access::require_company_manager(viewer, company_id, "Company")?;
    let name = required_text("name", name, NAME_MAX)?;
    let now = app.clock.now();
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                companies::get(tx.conn()?, company_id).await?;
                let new_row = NewTeam {
                    company_id,
                    name,
                    created_at: now,
                    updated_at: now,
                };
                teams::create(tx, new_row).await
            }
            .scope_boxed()
        })
        .await
}

pub async fn rename(
    app: &AppState,
    auth: &Authentication,
    id: TeamId,
    name: &str,
    expected_version: Option<i32>,
) -> AppResult<Team> {
    let viewer = &auth.viewer;
    let team = get(app, viewer, id).await?;
    access::require_company_manager(viewer, team.company_id, "Team")?;
    let changes = TeamChanges {
        name: Some(required_text("name", name, NAME_MAX)?),
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move { teams::update(tx, id, &changes, expected_version).await }.scope_boxed()
        })
        .await
}

/// A team the viewer may see, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: TeamId) -> AppResult<Team> {
    let mut conn = app.db.conn().await?;
    access::visible(viewer, teams::get(&mut conn, id).await?, "Team")
}

/// Of `ids`, the teams the viewer may see.
pub async fn visible_by_ids(
    app: &AppState,
    viewer: &Viewer,
    ids: &[TeamId],
) -> AppResult<Vec<Team>> {
    let mut conn = app.db.conn().await?;
    Ok(access::only_visible(
        viewer,
        teams::find_many(&mut conn, ids).await?,
    ))
}

/// A company's teams.
pub async fn of_company(
    app: &AppState,
    viewer: &Viewer,
    company_id: CompanyId,
) -> AppResult<Vec<Team>> {
    access::require_company_visible(viewer, company_id, "Company")?;
    let mut conn = app.db.conn().await?;
    teams::of_company(&mut conn, company_id).await
}

/// A team's members (all members of the team's company, so visible with the team).
pub async fn members(app: &AppState, viewer: &Viewer, team: &Team) -> AppResult<Vec<User>> {
    access::require_company_visible(viewer, team.company_id, "Team")?;
    let mut conn = app.db.conn().await?;
    teams::members(&mut conn, team.id).await
}
