//! Playbooks: a company's call guidance. Admins and the company's supervisors write them; every
//! save is a new immutable version, and an old version can be restored as a new one.

use scoped_futures::ScopedFutureExt;

use super::access;
use crate::app::AppState;
use crate::db::models::companies;
use crate::db::models::playbooks::{self, CurrentPlaybook, PlaybookVersion};
use crate::domain::records::{PLAYBOOK_BODY_MAX, PLAYBOOK_TITLE_MAX, capped_text, required_text};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CompanyId, PlaybookId};
use crate::error::{AppError, AppResult};

pub struct UpdatePlaybook {
    pub id: PlaybookId,
    pub title: Option<String>,
    pub body: Option<String>,
    /// The `currentVersion` the client edited.
    pub expected_version: Option<i32>,
}

fn title(value: &str) -> AppResult<String> {
    required_text("title", value, PLAYBOOK_TITLE_MAX)
}

fn body(value: &str) -> AppResult<String> {
    capped_text("body", value, PLAYBOOK_BODY_MAX)
}

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    company_id: CompanyId,
    title_text: &str,
    body_text: &str,
) -> AppResult<CurrentPlaybook> {
    let viewer = &auth.viewer;
    access::require_company_manager(viewer, company_id, "Company")?;
    let title = title(title_text)?;
    let body = body(body_text)?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                companies::get(tx.conn()?, company_id).await?;
                playbooks::create(tx, company_id, &title, &body).await
            }
            .scope_boxed()
        })
        .await
}

/// Saves a new version with the given title and/or body (the rest kept from the current
/// version). Identical content saves nothing.
pub async fn update(
    app: &AppState,
    auth: &Authentication,
    input: UpdatePlaybook,
) -> AppResult<CurrentPlaybook> {
    let viewer = &auth.viewer;
    let existing = get(app, viewer, input.id).await?;
    access::require_company_manager(viewer, existing.playbook.company_id, "Playbook")?;
    let new_title = input.title.as_deref().map(title).transpose()?;
    let new_body = input.body.as_deref().map(body).transpose()?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let before = playbooks::lock(tx, input.id).await?;
                playbooks::save(
                    tx,
                    &before,
                    new_title.as_deref(),
                    new_body.as_deref(),
                    None,
                    input.expected_version,
                )
                .await
            }
            .scope_boxed()
        })
        .await
}

/// Copies version `number` into a new current version (`restoredFromVersion`).
pub async fn restore(
    app: &AppState,
    auth: &Authentication,
    id: PlaybookId,
    number: i32,
) -> AppResult<CurrentPlaybook> {
    let viewer = &auth.viewer;
    let existing = get(app, viewer, id).await?;
    access::require_company_manager(viewer, existing.playbook.company_id, "Playbook")?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let before = playbooks::lock(tx, id).await?;
                let old = playbooks::version(tx.conn()?, id, number)
                    .await?
                    .ok_or_else(|| {
                        AppError::bad_input("version", "This playbook has no such version.")
                    })?;
                playbooks::save(
                    tx,
                    &before,
                    Some(&old.title),
                    Some(&old.body),
                    Some(number),
                    None,
                )
                .await
            }
            .scope_boxed()
        })
        .await
}

/// A playbook the viewer may see, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: PlaybookId) -> AppResult<CurrentPlaybook> {
    let mut conn = app.db.conn().await?;
    access::visible(viewer, playbooks::get(&mut conn, id).await?, "Playbook")
}

pub async fn of_company(
    app: &AppState,
    viewer: &Viewer,
    company_id: CompanyId,
) -> AppResult<Vec<CurrentPlaybook>> {
    access::require_company_visible(viewer, company_id, "Company")?;
    let mut conn = app.db.conn().await?;
    playbooks::of_company(&mut conn, company_id).await
}

/// Every version of a playbook the viewer may see, newest first.
pub async fn versions(
    app: &AppState,
    viewer: &Viewer,
    playbook: &CurrentPlaybook,
) -> AppResult<Vec<PlaybookVersion>> {
    access::require_company_visible(viewer, playbook.playbook.company_id, "Playbook")?;
    let mut conn = app.db.conn().await?;
    playbooks::versions(&mut conn, playbook.playbook.id).await
}

pub async fn version(
    app: &AppState,
    viewer: &Viewer,
    playbook: &CurrentPlaybook,
    number: i32,
) -> AppResult<Option<PlaybookVersion>> {
    access::require_company_visible(viewer, playbook.playbook.company_id, "Playbook")?;
    let mut conn = app.db.conn().await?;
    playbooks::version(&mut conn, playbook.playbook.id, number).await
}
