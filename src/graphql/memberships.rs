//! Company and team memberships: the types and the mutations that add, change and remove them.

use super::audit::AuditEvent;
use super::connection::Page;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::companies::Company;
use super::context::ContextExt;
use super::loaders::load_required;
use super::teams::Team;
use super::types::{User, parse_id, to_id, utc};
use crate::db::models;
use crate::domain::Role;
use crate::services::memberships;

/// A user's membership of a company, with their role there.
pub struct CompanyMembership(pub models::CompanyMembership);

#[Object]
impl CompanyMembership {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(load_required(ctx, self.0.user_id, "User").await?))
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        if let Some(company) = ctx.request().prefetched_company(self.0.company_id) {
            return Ok(Company(company));
        }
        Ok(Company(
            load_required(ctx, self.0.company_id, "Company").await?,
        ))
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// Increases with every audited change; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Changes to this membership (who, which company, role), newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::CompanyMembership, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

pub struct TeamMembership(pub models::TeamMembership);

#[Object]
impl TeamMembership {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(load_required(ctx, self.0.user_id, "User").await?))
    }

    async fn team(&self, ctx: &Context<'_>) -> Result<Team> {
        Ok(Team(load_required(ctx, self.0.team_id, "Team").await?))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// Changes to this team membership, newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::TeamMembership, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

#[derive(InputObject)]
pub struct AddCompanyMemberInput {
    pub company_id: ID,
    pub user_id: ID,
    /// SUPERVISOR or CUSTOMER, not above the user's platform role.
    pub role: Role,
}

#[derive(InputObject)]
pub struct UpdateCompanyMemberInput {
    pub id: ID,
    pub role: Role,
    pub expected_version: Option<i32>,
}

#[derive(InputObject)]
pub struct RemoveCompanyMemberInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct AddTeamMemberInput {
    pub team_id: ID,
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct RemoveTeamMemberInput {
    pub team_id: ID,
    pub user_id: ID,
}

#[derive(Default)]
pub struct MembershipMutation;

#[Object]
impl MembershipMutation {
    /// Admins any; the company's supervisors CUSTOMER memberships of others.
    async fn add_company_member(
        &self,
        ctx: &Context<'_>,
        input: AddCompanyMemberInput,
    ) -> Result<CompanyMembership> {
        let auth = ctx.request().auth().await?;
        let company_id = parse_id("companyId", &input.company_id)?;
        let user_id = parse_id("userId", &input.user_id)?;
        let membership =
            memberships::add_company_member(ctx.app(), auth, company_id, user_id, input.role)
                .await?;
        Ok(CompanyMembership(membership))
    }

    /// Changes the role. CONFLICT when `expectedVersion` is stale.
    async fn update_company_member(
        &self,
        ctx: &Context<'_>,
        input: UpdateCompanyMemberInput,
    ) -> Result<CompanyMembership> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("id", &input.id)?;
        let membership = memberships::update_company_member(
            ctx.app(),
            auth,
            id,
            input.role,
            input.expected_version,
        )
        .await?;
        Ok(CompanyMembership(membership))
    }

    /// Removes the membership and the user's memberships of the company's teams.
    async fn remove_company_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveCompanyMemberInput,
    ) -> Result<bool> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("id", &input.id)?;
        memberships::remove_company_member(ctx.app(), auth, id).await?;
        Ok(true)
    }

    /// The user must be a member of the team's company.
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        input: AddTeamMemberInput,
    ) -> Result<TeamMembership> {
        let auth = ctx.request().auth().await?;
        let team_id = parse_id("teamId", &input.team_id)?;
        let user_id = parse_id("userId", &input.user_id)?;
        let membership = memberships::add_team_member(ctx.app(), auth, team_id, user_id).await?;
        Ok(TeamMembership(membership))
    }

    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveTeamMemberInput,
    ) -> Result<bool> {
        let auth = ctx.request().auth().await?;
        let team_id = parse_id("teamId", &input.team_id)?;
        let user_id = parse_id("userId", &input.user_id)?;
        memberships::remove_team_member(ctx.app(), auth, team_id, user_id).await?;
        Ok(true)
    }
}
