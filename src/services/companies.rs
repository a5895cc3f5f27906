//! Companies: the tenants of the portal. Admins create and change them; members see theirs.

use scoped_futures::ScopedFutureExt;

use super::access;
use super::organizations::billing_email;
use crate::app::AppState;
use crate::db::models::companies::{self, CompanyFilter};
use crate::db::models::{Company, CompanyChanges, NewCompany, organizations};
use crate::domain::records::{self, NAME_MAX, required_text};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CompanyId, CompanyStatus, OrganizationId};
use crate::error::AppResult;

/// What a new company is billed when the admin does not say.
pub const DEFAULT_BILLING_PLAN: &str = "STANDARD";
pub const DEFAULT_TIMEZONE: &str = "UTC";

pub struct CreateCompany {
    pub organization_id: OrganizationId,
    pub name: String,
    pub billing_email: Option<String>,
    pub billing_rate_cents: Option<i32>,
    pub billing_plan: Option<String>,
    pub timezone: Option<String>,
}

pub struct UpdateCompany {
    pub id: CompanyId,
    pub name: Option<String>,
    pub organization_id: Option<OrganizationId>,
    /// `Some(None)` (or a blank address) clears it.
    pub billing_email: Option<Option<String>>,
    pub billing_rate_cents: Option<i32>,
    pub billing_plan: Option<String>,
    pub timezone: Option<String>,
    pub status: Option<CompanyStatus>,
    pub expected_version: Option<i32>,
}

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    input: CreateCompany,
) -> AppResult<Company> {
    let viewer = &auth.viewer;
    viewer.require_admin()?;
    let now = app.clock.now();
    let new_row = NewCompany {
        organization_id: input.organization_id,
        name: required_text("name", &input.name, NAME_MAX)?,
        billing_email: billing_email(input.billing_email.as_deref())?,
        billing_rate_cents: records::billing_rate_cents(
            "billingRateCents",
            input.billing_rate_cents.unwrap_or(0),
        )?,
        billing_plan: records::billing_plan(
            "billingPlan",
            input
                .billing_plan
                .as_deref()
                .unwrap_or(DEFAULT_BILLING_PLAN),
        )?,
        timezone: records::timezone(
            "timezone",
            input.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE),
        )?,
        status: CompanyStatus::Active,
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                organizations::get(tx.conn()?, new_row.organization_id).await?;
                companies::create(tx, new_row).await
            }
            .scope_boxed()
        })
        .await
}

pub async fn update(
    app: &AppState,
    auth: &Authentication,
    input: UpdateCompany,
) -> AppResult<Company> {
    let viewer = &auth.viewer;
    access::require_admin_for_company(viewer, input.id, "Company")?;
    let changes = CompanyChanges {
        organization_id: input.organization_id,
        name: input
            .name
            .map(|name| required_text("name", &name, NAME_MAX))
            .transpose()?,
        billing_email: input
            .billing_email
            .map(|email| billing_email(email.as_deref()))
            .transpose()?,
        billing_rate_cents: input
            .billing_rate_cents
            .map(|cents| records::billing_rate_cents("billingRateCents", cents))
            .transpose()?,
        billing_plan: input
            .billing_plan
            .map(|plan| records::billing_plan("billingPlan", &plan))
            .transpose()?,
        timezone: input
            .timezone
            .map(|zone| records::timezone("timezone", &zone))
            .transpose()?,
        status: input.status,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                if let Some(organization_id) = changes.organization_id {
                    organizations::get(tx.conn()?, organization_id).await?;
                }
                companies::update(tx, input.id, &changes, input.expected_version).await
            }
            .scope_boxed()
        })
        .await
}

/// A company the viewer may see, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: CompanyId) -> AppResult<Company> {
    access::require_company_visible(viewer, id, "Company")?;
    let mut conn = app.db.conn().await?;
    companies::get(&mut conn, id).await
}

/// Of `ids`, the companies the viewer may see.
pub async fn visible_by_ids(
    app: &AppState,
    viewer: &Viewer,
    ids: &[CompanyId],
) -> AppResult<Vec<Company>> {
    let mut conn = app.db.conn().await?;
    let rows = companies::find_many(&mut conn, ids).await?;
    Ok(access::only_visible(viewer, rows))
}

/// One page of the companies the viewer may see that match `filter`, and (`with_total`) how many
/// match; 0 when not asked.
pub async fn page(
    app: &AppState,
    viewer: &Viewer,
    filter: CompanyFilter<'_>,
    after: Option<CompanyId>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<Company>, i64)> {
    let scope = access::company_scope(viewer);
    let mut conn = app.db.conn().await?;
    let rows = companies::page(&mut conn, scope, filter, after, limit).await?;
    let total = if with_total {
        companies::count(&mut conn, scope, filter).await?
    } else {
        0
    };
    Ok((rows, total))
}
