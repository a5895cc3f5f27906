//! Organizations: queries, mutations and the `Organization` type.

use super::audit::AuditEvent;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::companies::Company;
use super::connection::{Page, PageRequest, page};
use super::context::ContextExt;
use super::types::{parse_id, to_id, utc};
use crate::db::models;
use crate::db::models::companies::CompanyFilter;
use crate::domain::{CompanyId, OrganizationId, OrganizationStatus};
use crate::services::{companies, organizations};

pub struct Organization(pub models::Organization);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn billing_email(&self) -> Option<&str> {
        self.0.billing_email.as_deref()
    }

    async fn status(&self) -> OrganizationStatus {
        self.0.status
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        utc(self.0.updated_at)
    }

    /// Increases with every audited change; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The organization's companies that the viewer may see.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Company>> {
        let viewer = ctx.request().viewer().await?;
        let request = PageRequest::new(ctx, first, after)?;
        let filter = CompanyFilter {
            organization_id: Some(self.0.id),
            search: None,
        };
        let after = request.after_id()?.map(CompanyId);
        let (rows, total) = companies::page(
            ctx.app(),
            viewer,
            filter,
            after,
            request.fetch_limit(),
            request.with_total,
        )
        .await?;
        Ok(page(&request, rows, total, |c| c.id.to_string(), Company))
    }

    /// Changes to this organization, newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::Organization, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    pub billing_email: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub id: ID,
    pub name: Option<String>,
    /// null (or blank) clears it.
    pub billing_email: MaybeUndefined<String>,
    pub status: Option<OrganizationStatus>,
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// Organizations the viewer may see (admins: all; others: those of their companies).
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Organization>> {
        let viewer = ctx.request().viewer().await?;
        let request = PageRequest::new(ctx, first, after)?;
        let after = request.after_id()?.map(OrganizationId);
        let (rows, total) = organizations::page(
            ctx.app(),
            viewer,
            after,
            request.fetch_limit(),
            request.with_total,
        )
        .await?;
        Ok(page(
            &request,
            rows,
            total,
            |o| o.id.to_string(),
            Organization,
        ))
    }

    /// NOT_FOUND when the viewer may not see it.
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Organization>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(Organization(
            organizations::get(ctx.app(), viewer, id).await?,
        )))
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Admins only.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let auth = ctx.request().auth().await?;
        let input = organizations::CreateOrganization {
            name: input.name,
            billing_email: input.billing_email,
        };
        let created = organizations::create(ctx.app(), auth, input).await?;
        Ok(Organization(created))
    }

    /// Admins only. CONFLICT when `expectedVersion` is stale.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> Result<Organization> {
        let auth = ctx.request().auth().await?;
        let input = organizations::UpdateOrganization {
            id: parse_id("id", &input.id)?,
            name: input.name,
            billing_email: input.billing_email.into(),
            status: input.status,
            expected_version: input.expected_version,
        };
        let updated = organizations::update(ctx.app(), auth, input).await?;
        Ok(Organization(updated))
    }
}
