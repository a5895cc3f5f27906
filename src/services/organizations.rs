//! Organizations: the billing parents of companies. Admins create and change them; supervisors
//! and customers see those of their companies.

use scoped_futures::ScopedFutureExt;

use super::access;
use super::accounts::validate_email;
use crate::app::AppState;
use crate::db::models::{NewOrganization, Organization, OrganizationChanges, organizations};
use crate::domain::records::{NAME_MAX, blank_as_none, required_text};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{OrganizationId, OrganizationStatus};
use crate::error::{AppError, AppResult};

pub struct CreateOrganization {
    pub name: String,
    pub billing_email: Option<String>,
}

pub struct UpdateOrganization {
    pub id: OrganizationId,
    pub name: Option<String>,
    /// `Some(None)` (or a blank address) clears it.
    pub billing_email: Option<Option<String>>,
    pub status: Option<OrganizationStatus>,
    pub expected_version: Option<i32>,
}

/// A billing email: blank means none, anything else must be an address.
pub fn billing_email(value: Option<&str>) -> AppResult<Option<String>> {
    blank_as_none(value)
        .map(|email| validate_email("billingEmail", email))
        .transpose()
}

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    input: CreateOrganization,
) -> AppResult<Organization> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    let name = required_text("name", &input.name, NAME_MAX)?;
    let billing_email = billing_email(input.billing_email.as_deref())?;
    let now = app.clock.now();
    let new_row = NewOrganization {
        name,
        billing_email,
        status: OrganizationStatus::Active,
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move { organizations::create(tx, new_row).await }.scope_boxed()
        })
        .await
}

pub async fn update(
    app: &AppState,
    auth: &Authentication,
    input: UpdateOrganization,
) -> AppResult<Organization> {
    let viewer = &auth.viewer;
    // Invisible first (NOT_FOUND), then the admin rule.
    get(app, viewer, input.id).await?;
    viewer.require_admin()?;
    let changes = OrganizationChanges {
        name: input
            .name
            .map(|name| required_text("name", &name, NAME_MAX))
            .transpose()?,
        billing_email: input
            .billing_email
            .map(|email| billing_email(email.as_deref()))
            .transpose()?,
        status: input.status,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                organizations::update(tx, input.id, &changes, input.expected_version).await
            }
            .scope_boxed()
        })
        .await
}

/// An organization the viewer may see (one with a company of theirs), else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: OrganizationId) -> AppResult<Organization> {
    visible_by_ids(app, viewer, &[id])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("Organization"))
}

/// Of `ids`, the organizations the viewer may see.
pub async fn visible_by_ids(
    app: &AppState,
    viewer: &Viewer,
    ids: &[OrganizationId],
) -> AppResult<Vec<Organization>> {
    let mut conn = app.db.conn().await?;
    let rows = organizations::find_many(&mut conn, ids).await?;
    if viewer.is_admin() {
        return Ok(rows);
    }
    let mine = crate::db::models::companies::find_many(&mut conn, &viewer.company_ids).await?;
    Ok(rows
        .into_iter()
        .filter(|org| mine.iter().any(|c| c.organization_id == org.id))
        .collect())
}

/// One page of the organizations the viewer may see, and how many there are in all.
pub async fn page(
    app: &AppState,
    viewer: &Viewer,
    after: Option<OrganizationId>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<Organization>, i64)> {
    let scope = access::company_scope(viewer);
    let mut conn = app.db.conn().await?;
    let rows = organizations::page(&mut conn, scope, after, limit).await?;
    let total = if with_total {
        organizations::count(&mut conn, scope).await?
    } else {
        0
    };
    Ok((rows, total))
}
