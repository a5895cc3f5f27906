//! Teams: queries, mutations and the `Team` type.

use super::audit::AuditEvent;
use super::connection::Page;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, Object, Result};

use super::companies::Company;
use super::context::ContextExt;
use super::loaders::load_required;
use super::types::{User, parse_id, to_id};
use crate::db::models;
use crate::services::teams;

pub struct Team(pub models::Team);

#[Object]
impl Team {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        Ok(Company(
            load_required(ctx, self.0.company_id, "Company").await?,
        ))
    }

    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let viewer = ctx.request().viewer().await?;
        let rows = teams::members(ctx.app(), viewer, &self.0).await?;
        Ok(rows.into_iter().map(User).collect())
    }

    /// Increases with every audited change; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Changes to this team, newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::Team, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

#[derive(InputObject)]
pub struct CreateTeamInput {
    pub company_id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct UpdateTeamInput {
    pub id: ID,
    pub name: String,
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// NOT_FOUND when the viewer may not see it.
    async fn team(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Team>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(Team(teams::get(ctx.app(), viewer, id).await?)))
    }
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Admins and the company's supervisors.
    async fn create_team(&self, ctx: &Context<'_>, input: CreateTeamInput) -> Result<Team> {
        let auth = ctx.request().auth().await?;
        let company_id = parse_id("companyId", &input.company_id)?;
        let team = teams::create(ctx.app(), auth, company_id, &input.name).await?;
        Ok(Team(team))
    }

    /// Admins and the company's supervisors. CONFLICT when `expectedVersion` is stale.
    async fn update_team(&self, ctx: &Context<'_>, input: UpdateTeamInput) -> Result<Team> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("id", &input.id)?;
        let team = teams::rename(ctx.app(), auth, id, &input.name, input.expected_version).await?;
        Ok(Team(team))
    }
}
