//! Companies: queries, mutations and the `Company` type with its nested lists.

use super::audit::AuditEvent;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::call_recordings::{CallRecording, recordings_page};
use super::connection::{Page, PageRequest, page};
use super::context::ContextExt;
use super::inbound_numbers::InboundNumber;
use super::loaders::load_required;
use super::memberships::CompanyMembership;
use super::organizations::Organization;
use super::playbooks::Playbook;
use super::teams::Team;
use super::types::{parse_id, to_id, utc};
use crate::db::models;
use crate::db::models::companies::CompanyFilter;
use crate::domain::{CompanyId, CompanyMembershipId, CompanyStatus};
use crate::services::{companies, inbound_numbers, memberships, playbooks, teams};

pub struct Company(pub models::Company);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization> {
        let organization = load_required(ctx, self.0.organization_id, "Organization").await?;
        Ok(Organization(organization))
    }

    async fn billing_email(&self) -> Option<&str> {
        self.0.billing_email.as_deref()
    }

    async fn billing_rate_cents(&self) -> i64 {
        self.0.billing_rate_cents
    }

    async fn billing_plan(&self) -> &str {
        &self.0.billing_plan
    }

    /// IANA time zone name.
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }

    async fn status(&self) -> CompanyStatus {
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

    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        let viewer = ctx.request().viewer().await?;
        let rows = teams::of_company(ctx.app(), viewer, self.0.id).await?;
        Ok(rows.into_iter().map(Team).collect())
    }

    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<CompanyMembership>> {
        let viewer = ctx.request().viewer().await?;
        let request = PageRequest::new(ctx, first, after)?;
        let after = request.after_id()?.map(CompanyMembershipId);
        let (rows, total) = memberships::company_page(
            ctx.app(),
            viewer,
            self.0.id,
            after,
            request.fetch_limit(),
            request.with_total,
        )
        .await?;
        Ok(page(
            &request,
            rows,
            total,
            |m| m.id.to_string(),
            CompanyMembership,
        ))
    }

    /// Active numbers; with `includeInactive`, deactivated ones too.
    async fn inbound_numbers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(false)")] include_inactive: Option<bool>,
    ) -> Result<Vec<InboundNumber>> {
        let viewer = ctx.request().viewer().await?;
        let include_inactive = include_inactive.unwrap_or(false);
        let rows =
            inbound_numbers::of_company(ctx.app(), viewer, self.0.id, include_inactive).await?;
        Ok(rows.into_iter().map(InboundNumber).collect())
    }

    /// Newest first by start time.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn call_recordings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<CallRecording>> {
        recordings_page(ctx, self.0.id, first, after).await
    }

    async fn playbooks(&self, ctx: &Context<'_>) -> Result<Vec<Playbook>> {
        let viewer = ctx.request().viewer().await?;
        let rows = playbooks::of_company(ctx.app(), viewer, self.0.id).await?;
        Ok(rows.into_iter().map(Playbook).collect())
    }

    /// Changes to this company, with its membership changes (who was added or removed, role changes), newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::Company, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

#[derive(InputObject)]
pub struct CreateCompanyInput {
    pub organization_id: ID,
    pub name: String,
    pub billing_email: Option<String>,
    /// Default 0.
    pub billing_rate_cents: Option<i32>,
    /// Default STANDARD.
    pub billing_plan: Option<String>,
    /// IANA time zone; default UTC.
    pub timezone: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateCompanyInput {
    pub id: ID,
    pub name: Option<String>,
    pub organization_id: Option<ID>,
    /// null (or blank) clears it.
    pub billing_email: MaybeUndefined<String>,
    pub billing_rate_cents: Option<i32>,
    pub billing_plan: Option<String>,
    pub timezone: Option<String>,
    pub status: Option<CompanyStatus>,
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct CompanyQuery;

#[Object]
impl CompanyQuery {
    /// Companies the viewer may see; `search` matches a part of the name, any case.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Page<Company>> {
        let viewer = ctx.request().viewer().await?;
        let request = PageRequest::new(ctx, first, after)?;
        let filter = CompanyFilter {
            organization_id: None,
            search: search.as_deref().map(str::trim).filter(|s| !s.is_empty()),
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

    /// NOT_FOUND when the viewer may not see it.
    async fn company(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Company>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(Company(companies::get(ctx.app(), viewer, id).await?)))
    }
}

#[derive(Default)]
pub struct CompanyMutation;

#[Object]
impl CompanyMutation {
    /// Admins only.
    async fn create_company(
        &self,
        ctx: &Context<'_>,
        input: CreateCompanyInput,
    ) -> Result<Company> {
        let auth = ctx.request().auth().await?;
        let input = companies::CreateCompany {
            organization_id: parse_id("organizationId", &input.organization_id)?,
            name: input.name,
            billing_email: input.billing_email,
            billing_rate_cents: input.billing_rate_cents,
            billing_plan: input.billing_plan,
            timezone: input.timezone,
        };
        Ok(Company(companies::create(ctx.app(), auth, input).await?))
    }

    /// Admins only. CONFLICT when `expectedVersion` is stale.
    async fn update_company(
        &self,
        ctx: &Context<'_>,
        input: UpdateCompanyInput,
    ) -> Result<Company> {
        let auth = ctx.request().auth().await?;
        let input = companies::UpdateCompany {
            id: parse_id("id", &input.id)?,
            name: input.name,
            organization_id: input
                .organization_id
                .map(|id| parse_id("organizationId", &id))
                .transpose()?,
            billing_email: input.billing_email.into(),
            billing_rate_cents: input.billing_rate_cents,
            billing_plan: input.billing_plan,
            timezone: input.timezone,
            status: input.status,
            expected_version: input.expected_version,
        };
        Ok(Company(companies::update(ctx.app(), auth, input).await?))
    }
}
