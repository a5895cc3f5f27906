//! Inbound numbers: queries, mutations and the `InboundNumber` type.

use super::audit::AuditEvent;
use super::connection::Page;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::companies::Company;
use super::context::ContextExt;
use super::loaders::load_required;
use super::types::{parse_id, to_id, utc};
use crate::db::models;
use crate::services::inbound_numbers;

pub struct InboundNumber(pub models::InboundNumber);

#[Object]
impl InboundNumber {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// E.164, e.g. +4930123456.
    async fn number(&self) -> &str {
        &self.0.number
    }

    async fn label(&self) -> &str {
        &self.0.label
    }

    async fn active(&self) -> bool {
        self.0.active
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        Ok(Company(
            load_required(ctx, self.0.company_id, "Company").await?,
        ))
    }

    async fn deactivated_at(&self) -> Option<DateTime<Utc>> {
        self.0.deactivated_at.map(utc)
    }

    /// Increases with every audited change; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Changes to this number, newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::InboundNumber, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

#[derive(InputObject)]
pub struct CreateInboundNumberInput {
    pub company_id: ID,
    /// E.164; spaces and dashes are removed.
    pub number: String,
    pub label: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateInboundNumberInput {
    pub id: ID,
    pub label: Option<String>,
    pub number: Option<String>,
    pub expected_version: Option<i32>,
}

#[derive(InputObject)]
pub struct DeactivateInboundNumberInput {
    pub id: ID,
}

#[derive(Default)]
pub struct InboundNumberQuery;

#[Object]
impl InboundNumberQuery {
    /// NOT_FOUND when the viewer may not see it.
    async fn inbound_number(&self, ctx: &Context<'_>, id: ID) -> Result<Option<InboundNumber>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(InboundNumber(
            inbound_numbers::get(ctx.app(), viewer, id).await?,
        )))
    }
}

#[derive(Default)]
pub struct InboundNumberMutation;

#[Object]
impl InboundNumberMutation {
    /// Admins only. CONFLICT when the number is already active anywhere.
    async fn create_inbound_number(
        &self,
        ctx: &Context<'_>,
        input: CreateInboundNumberInput,
    ) -> Result<InboundNumber> {
        let auth = ctx.request().auth().await?;
        let company_id = parse_id("companyId", &input.company_id)?;
        let number = inbound_numbers::create(
            ctx.app(),
            auth,
            company_id,
            &input.number,
            input.label.as_deref(),
        )
        .await?;
        Ok(InboundNumber(number))
    }

    /// Admins only. CONFLICT when `expectedVersion` is stale or the new number is taken.
    async fn update_inbound_number(
        &self,
        ctx: &Context<'_>,
        input: UpdateInboundNumberInput,
    ) -> Result<InboundNumber> {
        let auth = ctx.request().auth().await?;
        let input = inbound_numbers::UpdateInboundNumber {
            id: parse_id("id", &input.id)?,
            number: input.number,
            label: input.label,
            expected_version: input.expected_version,
        };
        Ok(InboundNumber(
            inbound_numbers::update(ctx.app(), auth, input).await?,
        ))
    }

    /// Admins only. The number may then be added again.
    async fn deactivate_inbound_number(
        &self,
        ctx: &Context<'_>,
        input: DeactivateInboundNumberInput,
    ) -> Result<InboundNumber> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("id", &input.id)?;
        Ok(InboundNumber(
            inbound_numbers::deactivate(ctx.app(), auth, id).await?,
        ))
    }
}
